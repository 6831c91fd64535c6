"""Checks for the transformer suite: sinusoidal positional encoding, post-norm encoder and decoder
blocks, a causal (decoder-only) language model and the encoder-decoder (notes 000, 004).

Oracles: the encoding's formula evaluated with Python's math module, the explicit block-rotation
matrix, torch's transformer layers and nn.Transformer with copied weights (dropout 0, eval mode,
slow path), exact equality under changed future tokens, logits under added source padding and
changed source tokens, teacher forcing re-scoring the greedy output, a bound on the initial loss
derived from the init scale, and training on a tiny corpus and on sequence reversal (against a
source-blind baseline counted from the training targets).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from harness.checks.attention import _prefix_mask
from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64, holds
from harness.registry import check


PAD, BOS = 0, 1  # the encoder-decoder's example inputs: padding (under the mask) and start token; data 2..V−1


def _role(subject) -> str:
    """What the subject builds: ``lm``, ``seq2seq``, ``encoder_layer`` or ``decoder_layer`` (the
    ``model`` param; make_model's default is the LM)."""
    return subject.params.get("model", "lm")


def _src_vocab(subject) -> int:
    """The encoder-decoder's source vocabulary: ``src_vocab_size``, which defaults to ``vocab_size``."""
    return subject.params.get("src_vocab_size") or subject.size("vocab_size")


def _inputs(subject, case, batch: int, length: int = 8, memory_len: int = 5) -> tuple:
    """Example inputs: LM tokens (B, T); an encoder block's x (B, T, d); a decoder block's target
    (B, T, d) and memory (B, S, d); the encoder-decoder's source tokens (B, S) with PAD after a
    random prefix of at least 2 real tokens (row 0 unpadded), target tokens (B, T) and src_mask (B, S)
    (S = memory_len, T = length)."""
    role = _role(subject)
    if role == "lm":
        return (case.randint(0, subject.size("vocab_size"), (batch, length)),)
    if role == "seq2seq":
        mask = _prefix_mask(case, batch, memory_len, 2)
        src = case.randint(2, _src_vocab(subject), (batch, memory_len)).masked_fill(~mask, PAD)
        return src, case.randint(2, subject.size("vocab_size"), (batch, length)), mask
    d = subject.size("d_model")
    if role == "encoder_layer":
        return (case.randn(batch, length, d),)
    return case.randn(batch, length, d), case.randn(batch, memory_len, d)


CONTRACT = load_contract("transformer", inputs=_inputs)


def _pe_formula(length: int, d: int) -> torch.Tensor:
    """PE(p, j) = sin(p / 10000^(j/d)) for even j, cos(p / 10000^((j−1)/d)) for odd j, entry by entry with
    Python's math module: (length, d) float64."""
    return torch.tensor([[math.sin(p / 10000 ** (j / d)) if j % 2 == 0 else math.cos(p / 10000 ** ((j - 1) / d))
                          for j in range(d)] for p in range(length)], dtype=torch.float64)


@check(requires=("sinusoidal_positional_encoding",))
def sinusoidal_pe_matches_definition(subject, case, length: int = 50) -> Outcome:
    """The sinusoidal encoding is PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d))
    (Vaswani et al. 3.5), here against the formula evaluated entry by entry with Python's math module, at the
    subject's width d = d_model."""
    d = subject.size("d_model")
    pe = subject.fn("sinusoidal_positional_encoding")(length, d, device=case.device, dtype=case.dtype)
    return all_of(exact("PE shape", tuple(pe.shape), (length, d)),
                  case.close("PE vs sin/cos formula", pe, _pe_formula(length, d)))


@check(requires=("sinusoidal_positional_encoding",))
def sinusoidal_pe_shift_is_rotation(subject, case, length: int = 64, offsets: list = (1, 3, 17)) -> Outcome:
    """For every offset k there is a fixed linear map R_k, independent of pos, with PE(pos + k) = R_k PE(pos)
    for all pos: R_k is block-diagonal with 2×2 blocks [[cos kω_i, sin kω_i], [−sin kω_i, cos kω_i]],
    ω_i = 10000^(−2i/d) (built here from the angle-addition formulas, checked at every pos; d = d_model)."""
    d = subject.size("d_model")
    pe = f64(subject.fn("sinusoidal_positional_encoding")(length, d, device=case.device, dtype=case.dtype))
    outs = []
    for k in offsets:
        R = torch.zeros(d, d, dtype=torch.float64)
        for i in range(d // 2):
            a = k * 10000 ** (-2 * i / d)
            R[2 * i, 2 * i], R[2 * i, 2 * i + 1] = math.cos(a), math.sin(a)
            R[2 * i + 1, 2 * i], R[2 * i + 1, 2 * i + 1] = -math.sin(a), math.cos(a)
        outs.append(case.close(f"PE(pos + {k}) vs R_{k} PE(pos), pos = 0..{length - k - 1}", pe[k:], pe[:-k] @ R.T))
    return all_of(outs)


def _torch_layer(kind: str, subject, case) -> nn.Module:
    """torch's block with the subject's sizes and activation (dropout 0, post-norm, eval mode)."""
    cls = nn.TransformerEncoderLayer if kind == "encoder" else nn.TransformerDecoderLayer
    return cls(subject.size("d_model"), subject.size("nhead"), subject.size("dim_feedforward"), dropout=0.0,
               activation=subject.size("activation"), batch_first=True, norm_first=False,
               device=case.device, dtype=case.dtype).eval()


@check()
def transformer_encoder_layer_matches_torch(subject, case, masking: str = "none", batch: int = 3, length: int = 7) -> Outcome:
    """The post-norm encoder block x = LN(x + MHA(x)); x = LN(x + FFN(x)) equals
    torch.nn.TransformerEncoderLayer(batch_first=True, dropout=0, norm_first=False) with the same (copied)
    weights, without a mask, with a key-padding mask and with a causal mask."""
    model = subject.build(case).eval()
    ref = _torch_layer("encoder", subject, case)
    ref.load_state_dict(model.state_dict())
    (x,) = _inputs(subject, case, batch, length)
    if masking == "none":
        ours, theirs = model(x), ref(x)
    elif masking == "padding":
        valid = torch.arange(length, device=case.device) < case.randint(2, length + 1, (batch, 1))
        ours, theirs = model(x, mask=valid.unsqueeze(1)), ref(x, src_key_padding_mask=~valid)  # torch: True = ignore
    elif masking == "causal":
        allowed = torch.ones(length, length, dtype=torch.bool, device=case.device).tril()
        ours, theirs = model(x, mask=allowed), ref(x, src_mask=~allowed)
    else:
        raise ValueError(f"masking must be none, padding or causal, got {masking!r}")
    # grad mode is on and the parameters require grad: torch takes its reference ("slow") path
    return case.close(f"encoder layer vs nn.TransformerEncoderLayer ({masking})", ours, theirs)


@check()
def transformer_decoder_layer_matches_torch(subject, case, batch: int = 3, length: int = 6, memory_len: int = 5) -> Outcome:
    """The post-norm decoder block (causal self-attention, cross-attention over the memory, FFN, each
    followed by residual + LayerNorm) equals torch.nn.TransformerDecoderLayer with copied weights, a causal
    tgt_mask and a memory key-padding mask."""
    model = subject.build(case).eval()
    ref = _torch_layer("decoder", subject, case)
    ref.load_state_dict(model.state_dict())
    tgt, mem = _inputs(subject, case, batch, length, memory_len)
    valid = torch.arange(memory_len, device=case.device) < case.randint(1, memory_len + 1, (batch, 1))
    causal = torch.ones(length, length, dtype=torch.bool, device=case.device).tril()
    theirs = ref(tgt, mem, tgt_mask=~causal, memory_key_padding_mask=~valid)
    return case.close("decoder layer vs nn.TransformerDecoderLayer (causal, memory padding)", model(tgt, mem, memory_mask=valid), theirs)


@check()
def transformer_encoder_permutation_equivariant(subject, case, batch: int = 2, length: int = 7) -> Outcome:
    """An encoder block without positional encoding is permutation-equivariant: f(P x) = P f(x) for
    every permutation P of the positions (attention, FFN and LayerNorm treat positions alike)."""
    model = subject.build(case).eval()
    (x,) = _inputs(subject, case, batch, length)
    perm = torch.randperm(length, generator=case.generator).to(case.device)
    with torch.no_grad():
        return case.close(f"encoder(Px) vs P encoder(x), P = {perm.tolist()}", model(x[:, perm]), model(x)[:, perm])


@check()
def transformer_no_future_leakage(subject, case, batch: int = 3, length: int = 8, memory_len: int = 4) -> Outcome:
    """Causal models do not look ahead: changing the inputs after position t leaves every output at
    positions ≤ t bit-for-bit unchanged (checked for every t), while the output at t + 1 does change.
    For the LM the inputs are tokens; for a decoder block, target vectors (the memory is fixed); for
    the encoder-decoder, target tokens (the padded source and its mask are fixed)."""
    model = subject.build(case).eval()
    role = _role(subject)
    is_tokens = role in ("lm", "seq2seq")
    if role == "seq2seq":
        src, x, src_mask = _inputs(subject, case, batch, length, memory_len)
        run = lambda t: model(src, t, src_mask)  # noqa: E731
    else:
        x, *memory = _inputs(subject, case, batch, length, memory_len)
        run = model if role == "lm" else (lambda t: model(t, *memory))  # noqa: E731
    V = subject.size("vocab_size") if is_tokens else 0
    outs = []
    with torch.no_grad():
        base = run(x)
        for t in range(length - 1):
            changed = x.clone()
            if is_tokens:
                changed[:, t + 1:] = (x[:, t + 1:] + 1 + case.randint(0, V - 1, (batch, length - t - 1))) % V
            else:
                changed[:, t + 1:] = case.randn(batch, length - t - 1, x.shape[-1])
            y = run(changed)
            outs.append(exact(f"outputs at positions ≤ {t} after changing inputs > {t}", f64(y[:, :t + 1]), f64(base[:, :t + 1])))
            outs.append(bound(f"max |change| of the output at position {t + 1}", float((y[:, t + 1] - base[:, t + 1]).abs().max()), 0.0, op=">"))
    return all_of(outs)


@check(requires=("lm_loss",))
def transformer_lm_initial_loss_near_log_vocab(subject, case, batch: int = 8, length: int = 16) -> Outcome:
    """At initialisation the LM's next-token loss is ≈ log V. With the output layer W ~ N(0, σ²), bias 0,
    and post-norm features (‖h‖² ≈ d), each logit is N(0, s²) with s = σ√d, so E[loss] − log V lies in
    [0, s²/2] (Jensen: log E e^z = s²/2); the mean over N = B·T positions fluctuates by ~s/√N. Bound:
    −5s/√N ≤ loss − log V ≤ s²/2 + 5s/√N (and, for σ = 0.02, d = 32, well inside 0.1·log V)."""
    model = subject.build(case)
    V = subject.size("vocab_size")
    (tokens,) = _inputs(subject, case, batch, length + 1)
    with torch.no_grad():
        loss = float(subject.fn("lm_loss")(model(tokens[:, :-1]), tokens[:, 1:]))
    s = subject.size("init_std") * math.sqrt(subject.size("d_model"))
    n = batch * length
    lo, hi = -5 * s / math.sqrt(n), s * s / 2 + 5 * s / math.sqrt(n)
    dev = loss - math.log(V)
    detail = f"loss {loss:.5g}, log V = {math.log(V):.5g}, s = σ√d = {s:.3g}, N = {n}"
    return all_of(bound("initial loss − log V", dev, hi, op="<=", source="s²/2 + 5s/√N", detail=detail),
                  bound("initial loss − log V", dev, lo, op=">=", source="−5s/√N", detail=detail),
                  bound("|initial loss − log V| / log V", abs(dev) / math.log(V), 0.1, op="<"))


@check(requires=("lm_loss",), marks=("slow", "training"))
def transformer_lm_overfits_tiny_corpus(subject, case, sequences: int = 4, length: int = 16, steps: int = 100,
                                        lr: float = 0.003, max_loss: float = 0.1) -> Outcome:
    """The causal LM memorises a tiny corpus: on 4 random sequences of 16 tokens (each next token is
    determined by its prefix), Adam drives the next-token loss from ≈ log V below 0.1 nats within the
    step budget."""
    model = subject.build(case)
    (corpus,) = _inputs(subject, case, sequences, length + 1)
    loss_fn = subject.fn("lm_loss")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    first = None
    for _ in range(steps):
        loss = loss_fn(model(corpus[:, :-1]), corpus[:, 1:])
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = float(loss_fn(model(corpus[:, :-1]), corpus[:, 1:]))
    return bound(f"training loss after {steps} Adam steps", final, max_loss, op="<",
                 detail=f"initial loss {first:.4g}, log V = {math.log(subject.size('vocab_size')):.4g}")


# --- the encoder-decoder -----------------------------------------------------------------------
def _torch_transformer(subject, case) -> nn.Transformer:
    """nn.Transformer with the subject's sizes: N post-norm encoder and decoder layers (dropout 0, eval
    mode) and no final LayerNorm after either stack (``norm=None``: the model of Vaswani et al. has
    none; nn.Transformer's default adds one)."""
    N = subject.size("num_layers")
    encoder = nn.TransformerEncoder(_torch_layer("encoder", subject, case), N, norm=None, enable_nested_tensor=False)
    decoder = nn.TransformerDecoder(_torch_layer("decoder", subject, case), N, norm=None)
    return nn.Transformer(subject.size("d_model"), subject.size("nhead"), custom_encoder=encoder,
                          custom_decoder=decoder, batch_first=True, device=case.device, dtype=case.dtype).eval()


@check()
def transformer_seq2seq_matches_torch(subject, case, batch: int = 3, src_len: int = 7, tgt_len: int = 6) -> Outcome:
    """The encoder-decoder's logits are W_out · nn.Transformer(√d E_src[src] + PE, √d E_tgt[tgt] + PE) + b:
    torch's post-norm stacks (norm_first=False, dropout 0, no final LayerNorm) loaded with the subject's
    ``encoder.*`` / ``decoder.*`` weights, a causal tgt_mask, the source padding as the key-padding mask of
    both the encoder and the cross-attention, the embedding tables and output layer applied from the state
    dict, and PE from the sin/cos formula (Python's math module)."""
    model = subject.build(case).eval()
    ref = _torch_transformer(subject, case)
    sd = model.state_dict()
    ref.load_state_dict({k: v for k, v in sd.items() if k.startswith(("encoder.", "decoder."))})
    src, tgt, valid = _inputs(subject, case, batch, tgt_len, src_len)
    d = subject.size("d_model")

    def embed(table, tokens):
        return table[tokens] * math.sqrt(d) + _pe_formula(tokens.shape[1], d).to(case.device, case.dtype)

    causal = torch.ones(tgt_len, tgt_len, dtype=torch.bool, device=case.device).tril()
    # grad mode is on and the parameters require grad: torch takes its reference ("slow") path
    h = ref(embed(sd["src_embed.weight"], src), embed(sd["tgt_embed.weight"], tgt), tgt_mask=~causal,
            src_key_padding_mask=~valid, memory_key_padding_mask=~valid)  # torch: True = ignore
    theirs = F.linear(h, sd["head.weight"], sd["head.bias"])
    return case.close("encoder-decoder logits vs nn.Transformer with copied weights (causal, source padding)",
                      model(src, tgt, valid), theirs, detail=f"{int(valid.sum())} of {valid.numel()} source tokens real")


@check()
def transformer_seq2seq_source_padding_invariance(subject, case, batch: int = 3, src_len: int = 5, tgt_len: int = 6,
                                                  extra: int = 3) -> Outcome:
    """Padding the source under its mask changes nothing: appending ``extra`` positions of arbitrary token
    ids with src_mask False there leaves the logits of every target position unchanged, and an all-True
    mask is the same as no mask."""
    model = subject.build(case).eval()
    V_src = _src_vocab(subject)
    src = case.randint(2, V_src, (batch, src_len))
    tgt = case.randint(2, subject.size("vocab_size"), (batch, tgt_len))
    padded = torch.cat([src, case.randint(0, V_src, (batch, extra))], dim=1)
    mask = (torch.arange(src_len + extra, device=case.device) < src_len).expand(batch, -1)
    with torch.no_grad():
        y = model(src, tgt)
        y_all = model(src, tgt, torch.ones(batch, src_len, dtype=torch.bool, device=case.device))
        y_pad = model(padded, tgt, mask)
    return all_of(case.close(f"logits with {extra} padded source positions vs without", y_pad, y),
                  case.close("logits with an all-True src_mask vs without a mask", y_all, y))


@check()
def transformer_seq2seq_depends_on_source(subject, case, batch: int = 3, src_len: int = 6, tgt_len: int = 5) -> Outcome:
    """Unlike the decoder-only LM, every target position sees the whole source (cross-attention over the
    encoder's memory, softmax weights > 0 on every real key): changing the token at any one source
    position s (to another real token, all rows) changes the logits of every row at every target step."""
    model = subject.build(case).eval()
    V_src = _src_vocab(subject)
    src = case.randint(2, V_src, (batch, src_len))
    tgt = case.randint(2, subject.size("vocab_size"), (batch, tgt_len))
    outs = []
    with torch.no_grad():
        base = model(src, tgt)
        for s in range(src_len):
            changed = src.clone()
            changed[:, s] = (src[:, s] - 2 + 1) % (V_src - 2) + 2
            moved = (model(changed, tgt) - base).abs().amax(-1)  # (B, T): largest change per row and step
            outs.append(bound(f"min over rows and target steps of max |Δ logits| after changing source position {s}",
                              float(moved.min()), 0.0, op=">"))
    return all_of(outs)


@check()
def transformer_seq2seq_greedy_equals_teacher_forcing(subject, case, batch: int = 16, src_len: int = 7,
                                                      steps: int = 8) -> Outcome:
    """Greedy decoding and teacher forcing are the same decoder: for y = greedy_decode(src, steps, BOS)
    (each y_t the argmax given BOS, y_1..y_{t−1}), the teacher-forced logits on [BOS, y_1..y_{T−1}] (built
    here) have argmax y at every step; greedy_decode returns (B, steps) integer tokens, BOS excluded."""
    model = subject.build(case).eval()
    src, _, mask = _inputs(subject, case, batch, 1, src_len)
    with torch.no_grad():
        y = model.greedy_decode(src, steps, BOS, src_mask=mask)
        tgt_in = torch.cat([torch.full_like(y[:, :1], BOS), y[:, :-1]], dim=1)
        logits = model(src, tgt_in, mask)
    return all_of(
        exact("greedy_decode shape", tuple(y.shape), (batch, steps)),
        holds("greedy_decode returns integer tokens", not y.is_floating_point(), str(y.dtype)),
        exact("argmax of the teacher-forced logits on the greedy output", logits.argmax(-1), y),
    )


@check(marks=("slow", "training"))
def transformer_seq2seq_learns_reverse(subject, case, steps: int = 100, batch: int = 32, length: int = 6,
                                       lr: float = 0.003, margin: float = 0.8, eval_size: int = 256) -> Outcome:
    """The encoder-decoder learns to reverse random token sequences: trained with teacher forcing
    (targets shifted right after BOS) on the cross-entropy and Adam, its greedy-decoding token accuracy on
    fresh sequences exceeds, by ``margin``, the best source-blind predictor (each target position's most
    frequent token among all training targets, counted here; chance is 1/(V − 2)).

    Tuned for the suite's subject: accuracy 0.975–1.0 (baseline 0.06–0.09) at test seeds 0–5 after 100
    steps, about 2 s of CPU in float64."""
    model = subject.build(case)
    V_src, V = _src_vocab(subject), subject.size("vocab_size")
    src_vocab = min(V_src, V)  # reversed source tokens must be target tokens

    def data(n: int):
        src = case.randint(2, src_vocab, (n, length))
        return src, src.flip(1)

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    counts = torch.zeros(length, V, dtype=torch.long, device=case.device)
    for _ in range(steps):
        src, tgt = data(batch)
        counts += F.one_hot(tgt, V).sum(0)
        tgt_in = torch.cat([torch.full_like(tgt[:, :1], BOS), tgt[:, :-1]], dim=1)
        loss = F.cross_entropy(model(src, tgt_in).flatten(0, 1), tgt.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    src, tgt = data(eval_size)
    acc = float((model.greedy_decode(src, length, BOS) == tgt).double().mean())
    blind = float((counts.argmax(-1).expand(eval_size, -1) == tgt).double().mean())
    return bound(f"greedy token accuracy on {eval_size} fresh reversals − source-blind baseline", acc - blind, margin,
                 op=">=", source="margin over each position's most frequent training target",
                 detail=f"accuracy {acc:.3f}, baseline {blind:.3f}, chance {1 / (src_vocab - 2):.3f}; "
                        f"final training loss {float(loss.detach()):.4g} after {steps} Adam steps; length {length}")


@check()
def transformer_lm_matches_torch(subject, case, batch: int = 3, length: int = 9) -> Outcome:
    """The causal LM's logits are W_out · nn.TransformerEncoder(√d E[tokens] + PE, causal mask) + b:
    torch's post-norm encoder stack (norm_first=False, dropout 0, no final LayerNorm) loaded with the
    subject's ``layers.*`` weights and a causal mask, the embedding table (scaled by √d, Vaswani et al.
    3.4) and the output layer applied from the state dict, and PE from the sin/cos formula (Python's
    math module)."""
    model = subject.build(case).eval()
    ref = nn.TransformerEncoder(_torch_layer("encoder", subject, case), subject.size("num_layers"), norm=None,
                                enable_nested_tensor=False)
    sd = model.state_dict()
    ref.load_state_dict({k: v for k, v in sd.items() if k.startswith("layers.")})
    (tokens,) = _inputs(subject, case, batch, length)
    d = subject.size("d_model")
    x = sd["embed.weight"][tokens] * math.sqrt(d) + _pe_formula(length, d).to(case.device, case.dtype)
    causal = torch.ones(length, length, dtype=torch.bool, device=case.device).tril()
    # grad mode is on and the parameters require grad: torch takes its reference ("slow") path
    theirs = F.linear(ref(x, mask=~causal), sd["head.weight"], sd["head.bias"])  # torch: True = ignore
    return case.close("LM logits vs head(nn.TransformerEncoder(√d E[tokens] + PE)) with copied weights (causal)",
                      model(tokens), theirs)


@check(requires=("sinusoidal_positional_encoding",))
def sinusoidal_pe_shape_and_odd_width(subject, case, widths: list = [2, 4, 6, 32], odd: list = [1, 3, 7, 33],  # noqa: B006
                                      length: int = 5) -> Outcome:
    """The encoding pairs sin and cos of one frequency in adjacent columns, so it exists for even d only:
    PE(length, d) has shape (length, d) for every even d, and an odd d is rejected with ValueError (not
    answered with d + 1 columns or a dropped one)."""
    pe = subject.fn("sinusoidal_positional_encoding")
    out = [exact(f"shape of PE({length}, {d})", tuple(pe(length, d, device=case.device, dtype=case.dtype).shape),
                 (length, d)) for d in widths]
    accepted = []
    for d in odd:
        try:
            got = pe(length, d, device=case.device, dtype=case.dtype)
            accepted.append((d, tuple(got.shape)))
        except ValueError:
            pass
    out.append(holds("odd d rejected with ValueError", not accepted,
                     f"accepted (d, shape): {accepted}" if accepted else f"{len(odd)} odd widths rejected"))
    return all_of(out)
