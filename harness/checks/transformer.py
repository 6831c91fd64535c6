"""Checks for the transformer suite: sinusoidal positional encoding, post-norm encoder and decoder
blocks, and a causal (decoder-only) language model (notes 004).

Oracles: the encoding's formula evaluated with Python's math module, the explicit block-rotation
matrix, torch's transformer layers with copied weights (dropout 0, eval mode, slow path), exact
equality under changed future tokens, a bound on the initial loss derived from the init scale,
and training on a tiny corpus.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64
from harness.registry import check


def _role(subject) -> str:
    """What the subject builds: ``lm``, ``encoder_layer`` or ``decoder_layer`` (the ``model`` param;
    make_model's default is the LM)."""
    return subject.params.get("model", "lm")


def _inputs(subject, case, batch: int, length: int = 8, memory_len: int = 5) -> tuple:
    """Example inputs: LM tokens (B, T); an encoder block's x (B, T, d); a decoder block's target
    (B, T, d) and memory (B, S, d)."""
    role = _role(subject)
    if role == "lm":
        return (case.randint(0, subject.size("vocab_size"), (batch, length)),)
    d = subject.size("d_model")
    if role == "encoder_layer":
        return (case.randn(batch, length, d),)
    return case.randn(batch, length, d), case.randn(batch, memory_len, d)


CONTRACT = load_contract("transformer", inputs=_inputs)


@check(requires=("sinusoidal_positional_encoding",))
def sinusoidal_pe_matches_definition(subject, case, length: int = 50) -> Outcome:
    """The sinusoidal encoding is PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d))
    (Vaswani et al. 3.5), here against the formula evaluated entry by entry with Python's math module, at the
    subject's width d = d_model."""
    d = subject.size("d_model")
    pe = subject.fn("sinusoidal_positional_encoding")(length, d, device=case.device, dtype=case.dtype)
    ref = torch.tensor([[math.sin(p / 10000 ** (j / d)) if j % 2 == 0 else math.cos(p / 10000 ** ((j - 1) / d))
                         for j in range(d)] for p in range(length)], dtype=torch.float64)
    return all_of(exact("PE shape", tuple(pe.shape), (length, d)),
                  case.close("PE vs sin/cos formula", pe, ref))


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
    For the LM the inputs are tokens; for a decoder block, target vectors (the memory is fixed)."""
    model = subject.build(case).eval()
    is_lm = _role(subject) == "lm"
    x, *memory = _inputs(subject, case, batch, length, memory_len)
    run = model if is_lm else (lambda t: model(t, *memory))  # noqa: E731
    V = subject.size("vocab_size") if is_lm else 0
    outs = []
    with torch.no_grad():
        base = run(x)
        for t in range(length - 1):
            changed = x.clone()
            if is_lm:
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
