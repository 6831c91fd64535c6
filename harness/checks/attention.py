"""Checks for attention, encoder-decoders with attention, image captioning and the hierarchical
attention network (CATALOGUE.md section C; notes 000, 001, 004).

Protocols (subject families):

* attention (``reference_impls.attention:make_attention``): the model is built with ``kind``
  (additive, dot, general, scaled_dot, local, multi_head) and ``embed_dim``; it is called as
  ``model(query, key, value, mask=None, need_weights=False)`` -> output (B, Tq, E) [, weights
  (B, Tq, Tk) or per head (B, H, Tq, Tk)], with a boolean mask True = may attend. The multi-head
  model's state dict uses nn.MultiheadAttention's names. Functional cores:
  ``scaled_dot_product_attention(q, k, v, mask, causal, need_weights)``, ``additive_score``,
  ``general_score``, ``dot_score``.
* encoder-decoder (``reference_impls.seq2seq:make_model``): ``model.config`` names the sizes; a
  translation model is ``model(src, tgt_in, src_mask=None, need_weights=False)``, a captioner
  ``model(images, tgt_in, need_weights=False)``; with weights they return (logits, trace) where
  ``trace.weights`` (B, T, S), ``trace.context`` (B, T, H), ``trace.memory`` (B, S, H).
  Translation models also have ``generate(src, steps)`` (greedy decoding).
* HAN (``reference_impls.attention:HierarchicalAttentionNetwork``): ``model(docs, mask=None,
  need_weights=False)`` -> logits (B, C) [, trace with word_weights (B, S, W), word_annotations,
  sentence_vectors, sentence_weights (B, S), sentence_annotations, document].

Oracles: torch.nn.functional.scaled_dot_product_attention, nn.MultiheadAttention with copied
weights, autograd Jacobians, explicit per-element recomputation (loops over t and i), softmax
renormalisation identities, the conv arithmetic formula, and held-out accuracy of trained models.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from harness.outcome import Outcome, all_of, bound, exact, holds
from harness.registry import check


def _f64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", torch.float64)


def _heads_last(w: torch.Tensor) -> torch.Tensor:
    """Weights as (B, [H,] Tq, Tk) -> (B·[H]·Tq, Tk) rows."""
    return w.reshape(-1, w.shape[-1])


def _prefix_mask(case, batch: int, length: int, low: int) -> torch.Tensor:
    """(batch, length) boolean, True on a random prefix of length in [low, length]."""
    lengths = case.randint(low, length + 1, (batch,))
    lengths[0] = length
    return torch.arange(length, device=case.device).unsqueeze(0) < lengths.unsqueeze(1)


def _random_mask(case, *shape: int) -> torch.Tensor:
    """A random boolean mask (…, Tq, Tk) with at least one True per row (the row's argmax)."""
    u = case.rand(*shape, dtype=torch.float64)
    m = u > 0.4
    return (m | (u == u.amax(-1, keepdim=True))).to(case.device)


# ---------------------------------------------------------------------------------------------
# attention
# ---------------------------------------------------------------------------------------------
@check()
def attention_weights_sum_to_one(subject, case, batch: int = 3, t_q: int = 5, t_k: int = 7) -> Outcome:
    """Attention weights are a probability distribution over the allowed keys: a_ti ≥ 0 and
    Σ_i a_ti = 1 for every query t (and every head), with or without a key-padding mask."""
    model = subject.build(case)
    E = int(subject.params.get("embed_dim", 16))
    q, k, v = case.randn(batch, t_q, E), case.randn(batch, t_k, E), case.randn(batch, t_k, E)
    mask = _prefix_mask(case, batch, t_k, min(t_k, 3)).unsqueeze(1)  # (B, 1, Tk)
    outs = []
    for name, m in (("no mask", None), ("key-padding mask", mask)):
        with torch.no_grad():
            _, w = model(q, k, v, mask=m, need_weights=True)
        rows = _f64(_heads_last(w))
        outs += [case.close(f"{type(model).__name__}: Σ_i a_ti ({name})", rows.sum(-1), torch.ones(rows.shape[0], dtype=torch.float64)),
                 bound(f"{type(model).__name__}: min a_ti ({name})", float(rows.min()), 0.0, op=">=")]
    return all_of(outs)


@check()
def attention_masked_weights_exactly_zero(subject, case, batch: int = 3, t_q: int = 5, t_k: int = 7) -> Outcome:
    """Masked (query, key) pairs get weight exactly 0 and masked keys do not influence the output:
    replacing padded keys and values (masked for every query) by garbage (×1000) leaves the output
    unchanged; a query with no allowed key gets all-zero weights and a finite output (not NaN)."""
    model = subject.build(case)
    E = int(subject.params.get("embed_dim", 16))
    q, k, v = case.randn(batch, t_q, E), case.randn(batch, t_k, E), case.randn(batch, t_k, E)
    dead = 2  # the last `dead` keys are padding: no query may see them
    key_valid = torch.arange(t_k, device=case.device) < t_k - dead
    # random pairs masked as well; the diagonal (t, t) stays allowed, so every row has a key (local too)
    mask = (_random_mask(case, batch, t_q, t_k) | torch.eye(t_q, t_k, dtype=torch.bool, device=case.device)) & key_valid
    key_dead = ~key_valid.view(1, t_k, 1)
    with torch.no_grad():
        out, w = model(q, k, v, mask=mask, need_weights=True)
        k2 = torch.where(key_dead, 1000 * case.randn(batch, t_k, E), k)
        v2 = torch.where(key_dead, 1000 * case.randn(batch, t_k, E), v)
        out2 = model(q, k2, v2, mask=mask)
        empty = mask.clone()
        empty[:, 0, :] = False  # query 0 sees nothing
        out3, w3 = model(q, k, v, mask=empty, need_weights=True)
    wm = w if w.dim() == 3 else w.transpose(0, 1)  # (B, Tq, Tk) or (H, B, Tq, Tk)
    masked = wm[..., ~mask] if w.dim() == 4 else wm[~mask]
    n = int((~mask).sum())
    w3_row0 = w3[:, 0] if w3.dim() == 3 else w3[:, :, 0]
    return all_of(
        exact(f"weights on the {n} masked (query, key) pairs", _f64(masked), torch.zeros_like(_f64(masked))),
        case.close("output with garbage in keys/values no query may see vs original", out2, out),
        exact("weights of a query with no allowed key", _f64(w3_row0), torch.zeros_like(_f64(w3_row0))),
        holds("output of a query with no allowed key is finite", bool(torch.isfinite(out3).all())),
    )


@check(requires=("scaled_dot_product_attention",))
def sdpa_matches_torch(subject, case, masking: str = "none", batch: int = 2, heads: int = 3, t_q: int = 5,
                       t_k: int = 6, d: int = 8) -> Outcome:
    """softmax(QKᵀ/√d_k + mask) V equals torch.nn.functional.scaled_dot_product_attention (outputs),
    and the weights equal torch's attention applied to V = I (so the output is the weight matrix);
    ``masking`` is none, padding (boolean attn_mask), causal (is_causal) or both."""
    sdpa = subject.fn("scaled_dot_product_attention")
    q, k, v = case.randn(batch, heads, t_q, d), case.randn(batch, heads, t_k, d), case.randn(batch, heads, t_k, d)
    mask = None
    if masking in ("padding", "both"):
        mask = _prefix_mask(case, batch, t_k, 2)[:, None, None, :]  # (B, 1, 1, Tk); key 0 always valid
    causal = masking in ("causal", "both")
    if masking not in ("none", "padding", "causal", "both"):
        raise ValueError(f"masking must be none, padding, causal or both, got {masking!r}")
    out, w = sdpa(q, k, v, mask=mask, causal=causal, need_weights=True)
    Q, K, V = _f64(q), _f64(k), _f64(v)
    M = None if mask is None else mask.cpu()
    if causal and M is not None:  # torch refuses attn_mask together with is_causal: fold it in
        M = M & torch.ones(t_q, t_k, dtype=torch.bool).tril()
        causal_t = False
    else:
        causal_t = causal
    ref = F.scaled_dot_product_attention(Q, K, V, attn_mask=M, is_causal=causal_t)
    eye = torch.eye(t_k, dtype=torch.float64).expand(batch, heads, t_k, t_k)
    ref_w = F.scaled_dot_product_attention(Q, K, eye, attn_mask=M, is_causal=causal_t)
    return all_of(case.close(f"attention output vs torch sdpa ({masking})", out, ref),
                  case.close(f"attention weights vs torch sdpa with V = I ({masking})", w, ref_w))


@check()
def mha_matches_torch(subject, case, masking: str = "none", batch: int = 3, t_q: int = 5, t_k: int = 6) -> Outcome:
    """Multi-head attention equals torch.nn.MultiheadAttention(batch_first=True) with the same
    (copied) weights: outputs and per-head weights (average_attn_weights=False); ``masking`` is
    none (cross-attention), padding (key_padding_mask) or causal (self-attention, attn_mask)."""
    model = subject.build(case)
    E, H = int(subject.params.get("embed_dim", 16)), int(subject.params.get("num_heads", 4))
    torch_mha = nn.MultiheadAttention(E, H, batch_first=True, device=case.device, dtype=case.dtype)
    torch_mha.load_state_dict(model.state_dict())
    torch_mha.eval()
    q = case.randn(batch, t_q, E)
    k, v = case.randn(batch, t_k, E), case.randn(batch, t_k, E)
    ours_kw: dict = {}
    theirs_kw: dict = {}
    if masking == "padding":
        valid = _prefix_mask(case, batch, t_k, 2)
        ours_kw["mask"] = valid.unsqueeze(1)
        theirs_kw["key_padding_mask"] = ~valid  # torch: True = ignore
    elif masking == "causal":
        k = v = q
        allowed = torch.ones(t_q, t_q, dtype=torch.bool, device=case.device).tril()
        ours_kw["mask"] = allowed
        theirs_kw["attn_mask"] = ~allowed  # torch: True = not allowed
    elif masking != "none":
        raise ValueError(f"masking must be none, padding or causal, got {masking!r}")
    with torch.no_grad():
        out, w = model(q, k, v, need_weights=True, **ours_kw)
        ref, ref_w = torch_mha(q, k, v, need_weights=True, average_attn_weights=False, **theirs_kw)
    return all_of(case.close(f"multi-head output vs nn.MultiheadAttention ({masking})", out, ref),
                  case.close(f"per-head weights vs nn.MultiheadAttention ({masking})", w, ref_w))


@check()
def self_attention_permutation_equivariant(subject, case, batch: int = 2, length: int = 7) -> Outcome:
    """Self-attention without positional information is permutation-equivariant:
    Attn(P x) = P Attn(x) for every permutation P of the sequence positions."""
    model = subject.build(case)
    E = int(subject.params.get("embed_dim", 16))
    x = case.randn(batch, length, E)
    perm = torch.randperm(length, generator=case.generator).to(case.device)
    with torch.no_grad():
        y = model(x, x, x)
        yp = model(x[:, perm], x[:, perm], x[:, perm])
    return case.close(f"{type(model).__name__} self-attention(Px) vs P self-attention(x), P = {perm.tolist()}", yp, y[:, perm])


@check()
def causal_attention_no_future_gradient(subject, case, length: int = 6) -> Outcome:
    """With a causal mask, output t does not depend on inputs after t: the autograd Jacobian blocks
    ∂y_t/∂x_s are exactly zero for s > t, and not identically zero for s ≤ t."""
    model = subject.build(case)
    E = int(subject.params.get("embed_dim", 16))
    x = case.randn(1, length, E)
    allowed = torch.ones(length, length, dtype=torch.bool, device=case.device).tril()
    J = torch.autograd.functional.jacobian(lambda z: model(z, z, z, mask=allowed)[0], x)[:, :, 0]  # (T, E, T, E)
    J = _f64(J)
    future = torch.stack([J[t, :, s, :] for t in range(length) for s in range(t + 1, length)])
    past_norms = torch.tensor([float(J[t, :, s, :].abs().sum()) for t in range(length) for s in range(t + 1)])
    return all_of(
        exact(f"∂y_t/∂x_s for s > t ({future.shape[0]} blocks of {E}×{E})", future, torch.zeros_like(future)),
        bound("smallest Σ|∂y_t/∂x_s| over s ≤ t", float(past_norms.min()), 0.0, op=">"),
    )


@check()
def local_attention_window(subject, case, batch: int = 2, length: int = 9, window: int = 2) -> Outcome:
    """Local-m attention gives weight exactly 0 to keys with |i − t| > D and positive weight inside the
    window; inside, its weights are the global weights renormalised over the window,
    a_local(t, i) = a_global(t, i) / Σ_{|j−t|≤D} a_global(t, j) (the same score, window = ∞)."""
    model = subject.build(case, window=window)
    wide = subject.build(case, window=10 * length)  # same seed: same score parameters
    E = int(subject.params.get("embed_dim", 16))
    q, k, v = case.randn(batch, length, E), case.randn(batch, length, E), case.randn(batch, length, E)
    with torch.no_grad():
        _, w = model(q, k, v, need_weights=True)
        _, g = wide(q, k, v, need_weights=True)
    w, g = _f64(w), _f64(g)
    t = torch.arange(length)
    inside = ((t.unsqueeze(0) - t.unsqueeze(1)).abs() <= window).expand_as(w)
    renorm = (g * inside) / (g * inside).sum(-1, keepdim=True)
    return all_of(
        exact(f"weights outside the window |i − t| > {window}", w[~inside], torch.zeros(int((~inside).sum()), dtype=torch.float64)),
        bound("smallest weight inside the window", float(w[inside].min()), 0.0, op=">"),
        case.close("local weights vs global weights renormalised over the window", w, renorm),
    )


@check(requires=("additive_score", "general_score", "dot_score"))
def attention_scores_match_definition(subject, case, batch: int = 2, t_q: int = 3, t_k: int = 4, d_q: int = 5,
                                      d_k: int = 6, hidden: int = 7) -> Outcome:
    """The score functions are their definitions, element by element: Bahdanau
    e_ti = vᵀ tanh(W_q q_t + W_k k_i), Luong general e_ti = q_tᵀ W k_i and dot e_ti = q_tᵀ k_i."""
    q, k = case.randn(batch, t_q, d_q), case.randn(batch, t_k, d_k)
    k_same = case.randn(batch, t_k, d_q)
    W_q, W_k, v, W = case.randn(hidden, d_q), case.randn(hidden, d_k), case.randn(hidden), case.randn(d_q, d_k)
    add = subject.fn("additive_score")(q, k, W_q, W_k, v)
    gen = subject.fn("general_score")(q, k, W)
    dot = subject.fn("dot_score")(q, k_same)
    Q, K, Ks = _f64(q), _f64(k), _f64(k_same)
    Wq, Wk, V, Wg = _f64(W_q), _f64(W_k), _f64(v), _f64(W)
    e_add = torch.empty(batch, t_q, t_k, dtype=torch.float64)
    e_gen, e_dot = torch.empty_like(e_add), torch.empty_like(e_add)
    for b in range(batch):
        for t in range(t_q):
            for i in range(t_k):
                e_add[b, t, i] = torch.dot(V, torch.tanh(Wq @ Q[b, t] + Wk @ K[b, i]))
                e_gen[b, t, i] = torch.dot(Q[b, t], Wg @ K[b, i])
                e_dot[b, t, i] = torch.dot(Q[b, t], Ks[b, i])
    return all_of(case.close("additive score vs vᵀ tanh(W_q q + W_k k)", add, e_add),
                  case.close("general score vs qᵀ W k", gen, e_gen),
                  case.close("dot score vs qᵀ k", dot, e_dot))


# ---------------------------------------------------------------------------------------------
# encoder-decoder with attention; image captioning
# ---------------------------------------------------------------------------------------------
def _is_captioner(model) -> bool:
    return hasattr(model.config, "image_size")


def _s2s_inputs(model, case, batch: int, src_len: int, tgt_len: int):
    """(positional inputs, keyword inputs, source mask or None) for a translation model or a captioner."""
    c = model.config
    tgt_in = case.randint(2, c.vocab_size, (batch, tgt_len))
    if _is_captioner(model):
        return (case.randn(batch, c.in_channels, c.image_size, c.image_size), tgt_in), {}, None
    mask = _prefix_mask(case, batch, src_len, 2)
    src = case.randint(2, c.src_vocab_size, (batch, src_len)).masked_fill(~mask, 0)
    return (src, tgt_in), {"src_mask": mask}, mask


@check()
def seq2seq_context_in_convex_hull(subject, case, batch: int = 4, src_len: int = 7, tgt_len: int = 5) -> Outcome:
    """At every decoder step the context vector is a convex combination of the encoder states:
    a_ti ≥ 0, Σ_i a_ti = 1, a_ti = 0 on padding, and c_t = Σ_i a_ti h_i (recomputed independently),
    so each coordinate of c_t lies between the smallest and largest of the real h_i."""
    model = subject.build(case)
    args, kw, mask = _s2s_inputs(model, case, batch, src_len, tgt_len)
    with torch.no_grad():
        _, trace = model(*args, **kw, need_weights=True)
    a, c, h = _f64(trace.weights), _f64(trace.context), _f64(trace.memory)
    S = h.shape[1]
    valid = torch.ones(batch, S, dtype=torch.bool) if mask is None else mask.cpu()
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
    args, kw, _ = _s2s_inputs(model, case, batch, src_len, tgt_len)
    src, tgt_in = args
    V = model.config.vocab_size
    outs = []
    with torch.no_grad():
        base = model(src, tgt_in, **kw)
        for t in range(tgt_len):
            changed = tgt_in.clone()
            changed[:, t:] = (tgt_in[:, t:] - 2 + 1) % (V - 2) + 2  # a different real token at t and after
            other = model(src, changed, **kw)
            outs.append(exact(f"logits at steps ≤ {t - 1} after changing inputs ≥ {t}", _f64(other[:, :t]), _f64(base[:, :t])))
            outs.append(bound(f"max |change| of logits at step {t}", float((other[:, t] - base[:, t]).abs().max()), 0.0, op=">"))
    return all_of(outs)


@check()
def seq2seq_source_padding_invariance(subject, case, batch: int = 3, src_len: int = 5, tgt_len: int = 4,
                                      extra: int = 3) -> Outcome:
    """Padding the source under its mask changes nothing: appending `extra` padded positions (any
    token ids) leaves the logits and the weights on real tokens unchanged and gives the padding weight 0."""
    model = subject.build(case)
    c = model.config
    src = case.randint(2, c.src_vocab_size, (batch, src_len))
    tgt_in = case.randint(2, c.vocab_size, (batch, tgt_len))
    padded = torch.cat([src, case.randint(0, c.src_vocab_size, (batch, extra))], dim=1)
    mask = torch.arange(src_len + extra, device=case.device).unsqueeze(0) < src_len
    with torch.no_grad():
        y, tr = model(src, tgt_in, need_weights=True)
        yp, trp = model(padded, tgt_in, src_mask=mask.expand(batch, -1), need_weights=True)
    return all_of(
        case.close(f"logits with {extra} padded source positions vs without", yp, y),
        case.close("weights on the real source positions", trp.weights[..., :src_len], tr.weights),
        exact("weights on the padded positions", _f64(trp.weights[..., src_len:]), torch.zeros(batch, tgt_len, extra, dtype=torch.float64)),
    )


@check(marks=("slow", "training"), requires=("teacher_forcing_inputs", "sequence_cross_entropy"))
def seq2seq_learns_toy_task(subject, case, task: str = "reverse", steps: int = 300, batch: int = 32, length: int = 6,
                            lr: float = 0.01, min_accuracy: float = 0.95, eval_size: int = 256) -> Outcome:
    """With teacher forcing and Adam, the attention encoder-decoder learns to copy or reverse random
    token sequences: greedy-decoding token accuracy ≥ 95% on fresh sequences within the step budget."""
    model = subject.build(case)
    c = model.config
    tf, ce = subject.fn("teacher_forcing_inputs"), subject.fn("sequence_cross_entropy")

    def data(n: int):
        src = case.randint(2, c.src_vocab_size, (n, length))
        return src, (src.flip(1) if task == "reverse" else src)

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        src, tgt = data(batch)
        loss = ce(model(src, tf(tgt, c.bos_id)), tgt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    src, tgt = data(eval_size)
    pred = model.generate(src, length)
    acc = float((pred == tgt).double().mean())
    return bound(f"greedy token accuracy on {eval_size} fresh {task} sequences after {steps} steps", acc, min_accuracy,
                 op=">=", detail=f"final training loss {float(loss.detach()):.4g}; length {length}, vocab {c.src_vocab_size}")


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
    c = model.config
    args, _, _ = _s2s_inputs(model, case, batch, 0, tgt_len)
    with torch.no_grad():
        logits, trace = model(*args, need_weights=True)
    side = _conv_arithmetic(model, c.image_size)
    R = side * side
    return all_of(
        exact("logits shape", tuple(logits.shape), (batch, tgt_len, c.vocab_size)),
        exact(f"attention weights shape (R = {side}×{side} regions)", tuple(trace.weights.shape), (batch, tgt_len, R)),
        exact("region memory shape", tuple(trace.memory.shape[:2]), (batch, R)),
        case.close("Σ_r a_tr over regions", trace.weights.sum(-1), torch.ones(batch, tgt_len, dtype=torch.float64)),
    )


# ---------------------------------------------------------------------------------------------
# hierarchical attention network
# ---------------------------------------------------------------------------------------------
def _han_docs(model, case, batch: int, sentences: int, words: int):
    """Random documents with prefix-padded sentences and documents: (docs, mask)."""
    c = model.config
    wl = case.randint(1, words + 1, (batch, sentences))
    sl = case.randint(1, sentences + 1, (batch,))
    sl[0] = sentences
    ar_w = torch.arange(words, device=case.device)
    ar_s = torch.arange(sentences, device=case.device)
    mask = (ar_w < wl.unsqueeze(-1)) & (ar_s < sl.unsqueeze(-1)).unsqueeze(-1)
    docs = case.randint(1, c.vocab_size, (batch, sentences, words)).masked_fill(~mask, c.pad_id)
    return docs, mask


@check()
def han_attention_sums_to_one(subject, case, batch: int = 3, sentences: int = 4, words: int = 6) -> Outcome:
    """Both HAN attention levels are distributions: word weights sum to 1 over each real sentence's
    words and sentence weights sum to 1 over each document's real sentences; padding gets weight 0;
    and s_i = Σ_t α_it h_it, v = Σ_i α_i h_i (recomputed from the annotations)."""
    model = subject.build(case)
    docs, mask = _han_docs(model, case, batch, sentences, words)
    with torch.no_grad():
        _, tr = model(docs, mask, need_weights=True)
    aw, as_ = _f64(tr.word_weights), _f64(tr.sentence_weights)
    m = mask.cpu()
    real_s = m.any(-1)
    return all_of(
        bound("min word weight", float(aw.min()), 0.0, op=">="),
        case.close("Σ_t α_it over each real sentence", aw.sum(-1)[real_s], torch.ones(int(real_s.sum()), dtype=torch.float64)),
        exact("word weights on padding", aw[~m], torch.zeros(int((~m).sum()), dtype=torch.float64)),
        bound("min sentence weight", float(as_.min()), 0.0, op=">="),
        case.close("Σ_i α_i over each document", as_.sum(-1), torch.ones(batch, dtype=torch.float64)),
        exact("sentence weights on padded sentences", as_[~real_s], torch.zeros(int((~real_s).sum()), dtype=torch.float64)),
        case.close("sentence vector vs Σ_t α_it h_it", tr.sentence_vectors[real_s.to(case.device)],
                   torch.einsum("bsw,bswh->bsh", aw, _f64(tr.word_annotations))[real_s]),
        case.close("document vector vs Σ_i α_i h_i", tr.document, torch.einsum("bs,bsh->bh", as_, _f64(tr.sentence_annotations))),
    )


@check()
def han_padding_invariance(subject, case, batch: int = 3, sentences: int = 3, words: int = 5, extra_words: int = 2,
                           extra_sentences: int = 2) -> Outcome:
    """Padding changes nothing: appending masked words to every sentence and masked sentences to every
    document (with arbitrary token ids under the mask) leaves the logits and the attention weights on
    the real words and sentences unchanged."""
    model = subject.build(case)
    docs, mask = _han_docs(model, case, batch, sentences, words)
    B, S, W = docs.shape
    big = case.randint(1, model.config.vocab_size, (B, S + extra_sentences, W + extra_words))
    big_mask = torch.zeros(B, S + extra_sentences, W + extra_words, dtype=torch.bool, device=case.device)
    big[:, :S, :W], big_mask[:, :S, :W] = docs, mask  # arbitrary ids stay under the mask
    with torch.no_grad():
        y, tr = model(docs, mask, need_weights=True)
        yb, trb = model(big, big_mask, need_weights=True)
    return all_of(
        case.close(f"logits with +{extra_words} padded words, +{extra_sentences} padded sentences", yb, y),
        case.close("word weights on the real words", trb.word_weights[:, :S, :W], tr.word_weights),
        case.close("sentence weights on the real sentences", trb.sentence_weights[:, :S], tr.sentence_weights),
        exact("weights on the added padding", _f64(trb.word_weights[:, :, W:]).abs().sum() + _f64(trb.sentence_weights[:, S:]).abs().sum(), 0.0),
    )


@check(marks=("slow", "training"))
def han_learns_keyword_task(subject, case, steps: int = 80, batch: int = 32, sentences: int = 4, words: int = 6,
                            lr: float = 0.01, min_accuracy: float = 0.95, eval_size: int = 512) -> Outcome:
    """HAN learns a toy document task: the class is which of two keywords (ids 2 or 3) is hidden at a
    random word of a random sentence among random filler words and padding; held-out accuracy ≥ 95%
    (chance 50%) within the step budget."""
    model = subject.build(case)

    def data(n: int):
        docs, mask = _han_docs(model, case, n, sentences, words)
        docs = torch.where(mask, (docs % (model.config.vocab_size - 4)) + 4, docs)  # fillers 4..V−1
        y = case.randint(0, 2, (n,))
        real_s = mask.any(-1).sum(-1)
        si = (case.rand(n, dtype=torch.float64) * real_s).long()
        wl = mask.sum(-1)[torch.arange(n, device=case.device), si]
        wi = (case.rand(n, dtype=torch.float64) * wl).long()
        docs[torch.arange(n, device=case.device), si, wi] = 2 + y
        return docs, mask, y

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        docs, mask, y = data(batch)
        loss = F.cross_entropy(model(docs, mask), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    docs, mask, y = data(eval_size)
    with torch.no_grad():
        acc = float((model(docs, mask).argmax(-1) == y).double().mean())
    return bound(f"held-out keyword accuracy after {steps} steps", acc, min_accuracy, op=">=",
                 detail=f"final training loss {float(loss.detach()):.4g}; {eval_size} documents")
