"""Checks for the seq2seq suite: an encoder-decoder with attention (translation), the encoder-decoder
without attention (a fixed-length context vector, the baseline of notes 000), and an image captioner
attending over a CNN's grid of regions (notes 000, 001, 004).

Oracles: the context vector recomputed from the returned weights and memory, the fixed-context
decoder's logits with the encoder outputs replaced by noise and autograd's gradient with respect to
them, teacher forcing re-scoring the greedy output, exact equality of
logits under changed future decoder inputs and under added source padding, the conv arithmetic
formula for the grid size, and held-out accuracy of a trained model.
"""
from __future__ import annotations

import torch
from torch import nn

from harness.checks.attention import _prefix_mask
from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64, holds
from harness.registry import check

PAD, BOS = 0, 1  # the contract's reserved token ids; data tokens are drawn from 2..V−1


def _is_captioner(subject) -> bool:
    """The subject's ``model`` param picks the model (make_model's default is the translation model)."""
    return subject.params.get("model") == "captioning"


def _src_vocab(subject) -> int:
    """The translation model's source vocabulary: ``src_vocab_size``, which defaults to ``vocab_size``."""
    return subject.params.get("src_vocab_size") or subject.size("vocab_size")


def _inputs(subject, case, batch: int, src_len: int = 7, tgt_len: int = 5) -> tuple:
    """Example inputs. Translation: (src (B, S) with padding after a random prefix of at least 2
    real tokens, tgt_in (B, T), src_mask (B, S)); captioner: (images (B, C, s, s), tgt_in (B, T))."""
    tgt_in = case.randint(2, subject.size("vocab_size"), (batch, tgt_len))
    if _is_captioner(subject):
        side = subject.size("image_size")
        return case.randn(batch, subject.size("in_channels"), side, side), tgt_in
    mask = _prefix_mask(case, batch, src_len, 2)
    src = case.randint(2, _src_vocab(subject), (batch, src_len)).masked_fill(~mask, PAD)
    return src, tgt_in, mask


CONTRACT = load_contract("seq2seq", inputs=_inputs)


@check()
def seq2seq_context_in_convex_hull(subject, case, batch: int = 4, src_len: int = 7, tgt_len: int = 5) -> Outcome:
    """At every decoder step the context vector is a convex combination of the encoder states:
    a_ti ≥ 0, Σ_i a_ti = 1, a_ti = 0 on padding, and c_t = Σ_i a_ti h_i (recomputed independently),
    so each coordinate of c_t lies between the smallest and largest of the real h_i."""
    model = subject.build(case)
    x = _inputs(subject, case, batch, src_len, tgt_len)
    with torch.no_grad():
        _, trace = model(*x, need_weights=True)
    a, c, h = f64(trace.weights), f64(trace.context), f64(trace.memory)
    S = h.shape[1]
    valid = x[2].cpu() if len(x) == 3 else torch.ones(batch, S, dtype=torch.bool)
    recomputed = torch.einsum("bts,bsh->bth", a, h)
    big = torch.finfo(torch.float64).max
    hi = h.masked_fill(~valid.unsqueeze(-1), -big).amax(1, keepdim=True)  # (B, 1, H)
    lo = h.masked_fill(~valid.unsqueeze(-1), big).amin(1, keepdim=True)
    slack = float(((c - hi).clamp(min=0) + (lo - c).clamp(min=0)).max())
    pad_w = a.masked_select(~valid.unsqueeze(1).expand_as(a))
    return all_of(
        bound("min a_ti", float(a.min()), 0.0, op=">="),
        case.close("Σ_i a_ti per decoder step", a.sum(-1), torch.ones(batch, a.shape[1], dtype=torch.float64)),
        exact(f"weights on {pad_w.numel()} padded source positions", pad_w, torch.zeros_like(pad_w)),
        case.close("context c_t vs Σ_i a_ti h_i", c, recomputed),
        case.close("distance of c_t outside the coordinate-wise hull of the h_i", slack, 0.0),
    )


@check()
def seq2seq_teacher_forcing_is_causal(subject, case, batch: int = 3, src_len: int = 6, tgt_len: int = 6) -> Outcome:
    """Under teacher forcing the logits at step t depend only on decoder inputs y_0..y_t: changing the
    inputs after t leaves logits 0..t bit-for-bit unchanged (every t), and changing input t changes step t."""
    model = subject.build(case)
    src, tgt_in, *rest = _inputs(subject, case, batch, src_len, tgt_len)
    V = subject.size("vocab_size")
    outs = []
    with torch.no_grad():
        base = model(src, tgt_in, *rest)
        for t in range(tgt_len):
            changed = tgt_in.clone()
            changed[:, t:] = (tgt_in[:, t:] - 2 + 1) % (V - 2) + 2  # a different real token at t and after
            other = model(src, changed, *rest)
            outs.append(exact(f"logits at steps ≤ {t - 1} after changing inputs ≥ {t}", f64(other[:, :t]), f64(base[:, :t])))
            outs.append(bound(f"max |change| of logits at step {t}", float((other[:, t] - base[:, t]).abs().max()), 0.0, op=">"))
    return all_of(outs)


@check()
def seq2seq_source_padding_invariance(subject, case, batch: int = 3, src_len: int = 5, tgt_len: int = 4,
                                      extra: int = 3) -> Outcome:
    """Padding the source under its mask changes nothing: appending `extra` padded positions (any
    token ids) leaves the logits and the weights on real tokens unchanged and gives the padding weight 0."""
    model = subject.build(case)
    V_src = _src_vocab(subject)
    src = case.randint(2, V_src, (batch, src_len))
    tgt_in = case.randint(2, subject.size("vocab_size"), (batch, tgt_len))
    padded = torch.cat([src, case.randint(0, V_src, (batch, extra))], dim=1)
    mask = torch.arange(src_len + extra, device=case.device).unsqueeze(0) < src_len
    with torch.no_grad():
        y, tr = model(src, tgt_in, need_weights=True)
        yp, trp = model(padded, tgt_in, src_mask=mask.expand(batch, -1), need_weights=True)
    return all_of(
        case.close(f"logits with {extra} padded source positions vs without", yp, y),
        case.close("weights on the real source positions", trp.weights[..., :src_len], tr.weights),
        exact("weights on the padded positions", f64(trp.weights[..., src_len:]), torch.zeros(batch, tgt_len, extra, dtype=torch.float64)),
    )


@check(marks=("slow", "training"), requires=("teacher_forcing_inputs", "sequence_cross_entropy"))
def seq2seq_learns_toy_task(subject, case, task: str = "reverse", steps: int = 300, batch: int = 32, length: int = 6,
                            lr: float = 0.01, min_accuracy: float = 0.95, eval_size: int = 256) -> Outcome:
    """With teacher forcing and Adam, the attention encoder-decoder learns to copy or reverse random
    token sequences: greedy-decoding token accuracy ≥ 95% on fresh sequences within the step budget."""
    model = subject.build(case)
    V_src = _src_vocab(subject)
    tf, ce = subject.fn("teacher_forcing_inputs"), subject.fn("sequence_cross_entropy")

    def data(n: int):
        src = case.randint(2, V_src, (n, length))
        return src, (src.flip(1) if task == "reverse" else src)

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        src, tgt = data(batch)
        loss = ce(model(src, tf(tgt, BOS)), tgt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    src, tgt = data(eval_size)
    pred = model.generate(src, length)
    acc = float((pred == tgt).double().mean())
    return bound(f"greedy token accuracy on {eval_size} fresh {task} sequences after {steps} steps", acc, min_accuracy,
                 op=">=", detail=f"final training loss {float(loss.detach()):.4g}; length {length}, vocab {V_src}")


def _conv_arithmetic(model, size: int) -> int:
    """Grid side after the model's Conv2d/MaxPool2d layers in order: O = ⌊(W + 2P − D(K − 1) − 1)/S⌋ + 1."""
    def one(v):
        return v if isinstance(v, int) else v[0]
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
            K, P, D = one(m.kernel_size), one(m.padding), one(m.dilation)
            S = one(m.stride) if m.stride is not None else K
            size = (size + 2 * P - D * (K - 1) - 1) // S + 1
    return size


@check()
def captioning_attends_over_grid(subject, case, batch: int = 3, tgt_len: int = 5) -> Outcome:
    """The captioner attends over the CNN's grid of regions: logits are (B, T, V), weights (B, T, R)
    with R = side² from the conv arithmetic formula applied to its conv and pooling layers, and
    each step's weights over the R regions sum to 1."""
    model = subject.build(case)
    x = _inputs(subject, case, batch, 0, tgt_len)
    with torch.no_grad():
        logits, trace = model(*x, need_weights=True)
    side = _conv_arithmetic(model, subject.size("image_size"))
    R = side * side
    return all_of(
        exact("logits shape", tuple(logits.shape), (batch, tgt_len, subject.size("vocab_size"))),
        exact(f"attention weights shape (R = {side}×{side} regions)", tuple(trace.weights.shape), (batch, tgt_len, R)),
        exact("region memory shape", tuple(trace.memory.shape[:2]), (batch, R)),
        case.close("Σ_r a_tr over regions", trace.weights.sum(-1), torch.ones(batch, tgt_len, dtype=torch.float64)),
    )


@check(requires=("token_accuracy",))
def seq2seq_token_accuracy_definition(subject, case, batch: int = 16, length: int = 9, vocab: int = 6) -> Outcome:
    """token_accuracy(predicted, targets) is the fraction of non-padding target positions where the
    prediction equals the target (sklearn.metrics.accuracy_score over exactly those positions; padding
    is the contract's PAD = 0 after a random prefix of each row): predictions that match only on the
    padding score 0, a prediction equal to the targets scores 1, and with pad_id=None every position
    counts."""
    from sklearn.metrics import accuracy_score

    acc = subject.fn("token_accuracy")
    mask = _prefix_mask(case, batch, length, 1)
    targets = case.randint(2, vocab, (batch, length)).masked_fill(~mask, PAD)
    pred = torch.where(case.rand(batch, length, dtype=torch.float64).to(case.device) < 0.6, targets,
                       case.randint(0, vocab, (batch, length)))
    t, p, m = targets.cpu().numpy(), pred.cpu().numpy(), mask.cpu().numpy()
    only_pad = torch.where(mask, (targets + 1) % vocab, targets)  # right on padding, wrong everywhere else
    return all_of(
        case.close("token_accuracy vs accuracy_score over the non-padding positions", acc(pred, targets),
                   accuracy_score(t[m], p[m]), detail=f"{int(m.sum())} of {m.size} positions are real"),
        case.close("token_accuracy(pad_id=None) vs accuracy_score over every position", acc(pred, targets, pad_id=None),
                   accuracy_score(t.ravel(), p.ravel())),
        case.close("right only on the padding", acc(only_pad, targets), 0.0),
        case.close("prediction = targets", acc(targets.clone(), targets), 1.0),
    )


# --- the encoder-decoder without attention (a fixed-length context vector) ----------------------
def _last_real(mask: torch.Tensor) -> torch.Tensor:
    """Index of each row's last real source token (padding only after the real tokens)."""
    return mask.long().sum(-1) - 1


@check()
def seq2seq_fixed_context_bottleneck(subject, case, batch: int = 4, src_len: int = 7, tgt_len: int = 5) -> Outcome:
    """Without attention the decoder sees the source only through one fixed-length vector, the
    encoder's state at each row's last real token: that state equals the encoder output there, the
    logits equal decode(tgt_in, state), replacing every other encoder output by noise leaves them
    unchanged (and autograd gives them zero gradient), while the gradient with respect to the state
    is non-zero; logits are (B, T, V), the encoder outputs (B, S, H) and the state (1, B, H)."""
    model = subject.build(case)
    src, tgt_in, mask = _inputs(subject, case, batch, src_len, tgt_len)
    V, H = subject.size("vocab_size"), subject.size("hidden")
    with torch.no_grad():
        memory, state = model.encode(src, mask)
        logits = model(src, tgt_in, mask)
        decoded = model.decode(tgt_in, state)
    h = state[0] if isinstance(state, tuple) else state
    last = _last_real(mask)
    rows = torch.arange(batch, device=memory.device)
    at_last = torch.zeros(batch, src_len, 1, dtype=torch.bool, device=memory.device)
    at_last[rows, last] = True
    noise = case.randn(*memory.shape).to(memory.dtype)

    def noisy_encode(src_, src_mask=None, _encode=model.encode):
        mem, st = _encode(src_, src_mask)
        return torch.where(at_last, mem, noise), st

    def leaf_encode(src_, src_mask=None, _encode=model.encode):
        mem, st = _encode(src_, src_mask)
        leaf = mem.detach().requires_grad_(True)
        leaves.append(leaf)
        return leaf, st

    model.encode = noisy_encode
    with torch.no_grad():
        perturbed = model(src, tgt_in, mask)
    leaves: list = []
    model.encode = leaf_encode
    weights = case.randn(batch, tgt_len, V).to(logits.dtype)
    out = (model(src, tgt_in, mask) * weights).sum()
    g_mem = torch.autograd.grad(out, leaves[0], allow_unused=True)[0] if out.requires_grad else None
    g_mem = torch.zeros(memory.shape, dtype=torch.float64) if g_mem is None else f64(g_mem)
    del model.encode
    h_leaf = h.detach().requires_grad_(True)
    st = (h_leaf, state[1].detach()) if isinstance(state, tuple) else h_leaf
    g_state = torch.autograd.grad((model.decode(tgt_in, st) * weights).sum(), h_leaf)[0]
    return all_of(
        exact("logits shape", tuple(logits.shape), (batch, tgt_len, V)),
        exact("encoder outputs shape", tuple(memory.shape), (batch, src_len, H)),
        exact("final (hidden) state shape", tuple(h.shape), (1, batch, H)),
        case.close("final state vs the encoder output at each row's last real token", h[0], memory[rows, last]),
        case.close("logits vs decode(tgt_in, final state)", logits, decoded),
        case.close("logits after every encoder output but the last real one is replaced by noise", perturbed, logits),
        exact("autograd: gradient of the logits w.r.t. the encoder outputs", g_mem, torch.zeros_like(g_mem)),
        bound("autograd: max |gradient of the logits w.r.t. the final state|", float(g_state.abs().max()), 0.0, op=">"),
    )


@check(requires=("teacher_forcing_inputs",))
def seq2seq_greedy_equals_teacher_forcing(subject, case, batch: int = 16, src_len: int = 7, steps: int = 8) -> Outcome:
    """Greedy decoding and teacher forcing are the same decoder: when the targets are the greedy output
    y (each y_t the argmax given y_<t), the teacher-forced logits on [BOS, y_1..y_{T−1}] have argmax y at
    every step; generate returns (B, steps) integer tokens."""
    model = subject.build(case)
    src, _, mask = _inputs(subject, case, batch, src_len, 1)
    model.eval()
    with torch.no_grad():
        y = model.generate(src, steps, src_mask=mask)
        logits = model(src, subject.fn("teacher_forcing_inputs")(y, BOS), mask)
    return all_of(
        exact("generate shape", tuple(y.shape), (batch, steps)),
        holds("generate returns integer tokens", not y.is_floating_point(), str(y.dtype)),
        exact("argmax of the teacher-forced logits on the greedy output", logits.argmax(-1), y),
    )


# --- every model against its definition, with its own parameters ----------------------------------
def _seq2seq_oracle(subject, sd: dict, x: tuple):
    """The model's forward pass written out in float64 from its state dict (names: the contract's
    state_dict). Translation: RNN steps (GRU or LSTM written out) over each row's real source tokens
    from a zero state; the decoder RNN from the encoder's state at the last real token; per step
    e_ti = score(s_t, h_i) over the real source positions, a_t = softmax, c_t = Σ_i a_ti h_i,
    h̃_t = tanh(W_c [c_t; s_t] + b_c), logits = W_o h̃_t + b_o. Captioning: regions from F.conv2d(3×3,
    pad 1) → ReLU → 2×2 max-pool, twice, flattened row-major; h_0 = tanh(W_h ā + b_h), c_0 = tanh(W_c' ā
    + b_c') with ā the mean region; the same attention decoder (LSTM). Fixed context: the decoder RNN
    from the encoder's final state, logits = W_o s_t + b_o. Returns (logits (B, T, V), weights or None)."""
    from harness.checks.attention import _score_oracle
    from harness.checks.han import gru_cell, lstm_cell

    model_kind = subject.params.get("model", "translation")
    lstm = model_kind == "captioning" or subject.params.get("cell", "gru") == "lstm"
    H = subject.size("hidden")
    zero_state = (torch.zeros(H, dtype=torch.float64),) * 2 if lstm else torch.zeros(H, dtype=torch.float64)

    def step(prefix, inp, st):
        return lstm_cell(sd, prefix, inp, st) if lstm else gru_cell(sd, prefix, inp, st)

    def out_h(st):
        return st[0] if lstm else st

    tgt_in = x[1].cpu()
    B, T = tgt_in.shape
    if model_kind == "captioning":
        import torch.nn.functional as F

        g = f64(x[0])
        for i in (0, 3):
            g = F.max_pool2d(F.relu(F.conv2d(g, sd[f"cnn.{i}.weight"], sd[f"cnn.{i}.bias"], padding=1)), 2)
        regions = g.flatten(2).transpose(1, 2)  # (B, R, H)
        mem = [list(regions[b]) for b in range(B)]
        mean = regions.mean(1)
        init = [(torch.tanh(sd["init_h.weight"] @ mean[b] + sd["init_h.bias"]),
                 torch.tanh(sd["init_c.weight"] @ mean[b] + sd["init_c.bias"])) for b in range(B)]
        S = regions.shape[1]
    else:
        src, mask = x[0].cpu(), x[2].cpu()
        S = src.shape[1]
        mem, init = [], []
        for b in range(B):
            st, hs = zero_state, []
            for i in range(int(mask[b].sum())):
                st = step("encoder.", sd["embed.weight"][int(src[b, i])], st)
                hs.append(out_h(st))
            mem.append(hs)
            init.append(st)
    fixed = model_kind == "fixed_context"
    score = None if fixed else _score_oracle(subject.params.get("score", "additive" if model_kind == "captioning" else "general"),
                                             {k[len("decoder.attention."):]: v for k, v in sd.items()
                                              if k.startswith("decoder.attention.")}, H)
    zero = torch.zeros((), dtype=torch.float64)
    logits, weights = [], []
    for b in range(B):
        st = init[b]
        for t in range(T):
            if fixed:
                st = step("decoder.", sd["tgt_embed.weight"][int(tgt_in[b, t])], st)
                logits.append(sd["W_o.weight"] @ out_h(st) + sd["W_o.bias"])
                continue
            st = step("decoder.rnn.", sd["decoder.embed.weight"][int(tgt_in[b, t])], st)
            s = out_h(st)
            e = torch.stack([score(s, h) for h in mem[b]])
            a = torch.exp(e - e.max()) / torch.exp(e - e.max()).sum()
            c = sum(a_ * h for a_, h in zip(a, mem[b]))
            h_tilde = torch.tanh(sd["decoder.W_c.weight"] @ torch.cat([c, s]) + sd["decoder.W_c.bias"])
            logits.append(sd["decoder.W_o.weight"] @ h_tilde + sd["decoder.W_o.bias"])
            weights.append(torch.stack(list(a) + [zero] * (S - len(a))))
    V = subject.size("vocab_size")
    return torch.stack(logits).reshape(B, T, V), (None if fixed else torch.stack(weights).reshape(B, T, S))


@check()
def seq2seq_matches_definition(subject, case, batch: int = 2, src_len: int = 5, tgt_len: int = 4) -> Outcome:
    """Each model is its definition with its own parameters (copied from its state dict, the
    contract's names), recomputed in float64 with the RNN steps written out: the translation model
    (Luong 3.1: encoder over each row's real source tokens, decoder from its final state, softmax of
    the score over the real source positions, c_t = Σ a_ti h_i, h̃_t = tanh(W_c [c_t; s_t]),
    logits = W_o h̃_t), the captioner (Show, Attend and Tell: two 3×3 conv + ReLU + 2×2 max-pool
    stages, regions row-major, h_0 = tanh(W_h ā), c_0 = tanh(W_c ā), the same attention decoder with
    an LSTM) and the fixed-context model (logits = W_o s_t, decoder from the encoder's final state).
    Logits and attention weights agree, and the gradients of L = Σ logits ⊙ R + Σ a ⊙ Q (R, Q fixed,
    random; a term in the attention weights a, as in Show, Attend and Tell's doubly stochastic
    regulariser) with respect to every parameter equal autograd's through the recomputation."""
    model = subject.build(case)
    x = _inputs(subject, case, batch, src_len, tgt_len)
    fixed = subject.params.get("model") == "fixed_context"
    sd = {n: f64(p).requires_grad_(True) for n, p in model.state_dict().items()}
    ref_logits, ref_w = _seq2seq_oracle(subject, sd, x)
    if fixed:
        logits, w = model(*x), None
    else:
        logits, trace = model(*x, need_weights=True)
        w = trace.weights
    outs = [exact("logits shape", tuple(logits.shape), tuple(ref_logits.shape))]
    if w is not None:
        outs.append(exact("attention weights shape", tuple(w.shape), tuple(ref_w.shape)))
    if not all(o.passed for o in outs):
        return all_of(outs)
    outs.append(case.close("logits vs the definition recomputed with the model's parameters", logits.detach(), ref_logits.detach()))
    if w is not None:
        outs.append(case.close("attention weights vs the definition", w.detach(), ref_w.detach()))
    params = dict(model.named_parameters())
    if not logits.requires_grad:
        return all_of(outs + [holds("logits are differentiable (require grad)", False, "logits.requires_grad is False")])
    R = case.randn(*logits.shape)
    loss, ref_loss = (logits * R).sum(), (ref_logits * f64(R)).sum()
    if w is not None:
        Q = case.randn(*w.shape)
        loss, ref_loss = loss + (w * Q).sum(), ref_loss + (ref_w * f64(Q)).sum()
    grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    ref_grads = torch.autograd.grad(ref_loss, [sd[n] for n in params], allow_unused=True)
    for n, g, rg in zip(params, grads, ref_grads):
        if g is None:
            outs.append(holds(f"∂L/∂{n} exists (reached by backprop)", False, "grad is None"))
            continue
        outs.append(case.close(f"∂L/∂{n} vs autograd of the float64 recomputation", g,
                               torch.zeros(g.shape, dtype=torch.float64) if rg is None else rg))
    return all_of(outs)


@check(requires=("conv_grid_size",))
def captioning_grid_size_formula(subject, case, sizes: tuple = (4, 7, 13, 16, 31)) -> Outcome:
    """conv_grid_size(s) is the side of the captioner's region grid for s×s images: the side after
    the documented CNN (torch's Conv2d(3×3, padding 1) → MaxPool2d(2), twice) run on an s×s image,
    for several s (odd ones included), and the captioner built with image_size = s attends over
    exactly conv_grid_size(s)² regions."""
    fn = subject.fn("conv_grid_size")
    outs = []
    for s in sizes:
        cnn = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3, padding=1), nn.MaxPool2d(2))
        with torch.no_grad():
            side = cnn(torch.zeros(1, 1, s, s)).shape[-1]
            model = subject.build(case, image_size=s)
            _, trace = model(case.randn(1, subject.size("in_channels"), s, s), case.randint(2, subject.size("vocab_size"), (1, 2)),
                             need_weights=True)
        outs += [exact(f"conv_grid_size({s}) vs the CNN's output side", fn(s), side),
                 exact(f"regions attended over with image_size = {s}", trace.weights.shape[-1], side * side)]
    return all_of(outs)
