"""Checks for the attention suite: additive, Luong dot/general, scaled dot-product, local-m,
local-p and multi-head attention (notes 000, 001, 004).

The private mask helpers here (:func:`_prefix_mask`) are shared with :mod:`harness.checks.seq2seq`.

Oracles: torch.nn.functional.scaled_dot_product_attention, nn.MultiheadAttention with copied
weights, autograd Jacobians, explicit per-element recomputation (loops over t and i; for local-p,
Luong 3.2 written out per (b, t) in float64 with the module's copied W, W_p, v_p, and autograd
through it for the position's gradient), numpy/math closed forms and softmax renormalisation
identities.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64, holds
from harness.registry import check


def _qkv(subject, case, batch: int, t_q: int = 5, t_k: int = 7) -> tuple:
    """Example inputs: query (B, Tq, E), key and value (B, Tk, E), E = ``embed_dim``."""
    E = subject.size("embed_dim")
    return case.randn(batch, t_q, E), case.randn(batch, t_k, E), case.randn(batch, t_k, E)


CONTRACT = load_contract("attention", inputs=_qkv)


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


@check()
def attention_weights_sum_to_one(subject, case, batch: int = 3, t_q: int = 5, t_k: int = 7) -> Outcome:
    """Attention weights are a probability distribution over the allowed keys: a_ti ≥ 0 and
    Σ_i a_ti = 1 for every query t (and every head), with or without a key-padding mask."""
    model = subject.build(case)
    q, k, v = _qkv(subject, case, batch, t_q, t_k)
    # at least min(Tq, Tk) real keys: query t < Tq always has key t, which every kind allows (local windows too)
    mask = _prefix_mask(case, batch, t_k, min(t_k, t_q)).unsqueeze(1)  # (B, 1, Tk)
    outs = []
    for name, m in (("no mask", None), ("key-padding mask", mask)):
        with torch.no_grad():
            _, w = model(q, k, v, mask=m, need_weights=True)
        rows = f64(_heads_last(w))
        outs += [case.close(f"{type(model).__name__}: Σ_i a_ti ({name})", rows.sum(-1), torch.ones(rows.shape[0], dtype=torch.float64)),
                 bound(f"{type(model).__name__}: min a_ti ({name})", float(rows.min()), 0.0, op=">=")]
    return all_of(outs)


@check()
def attention_masked_weights_exactly_zero(subject, case, batch: int = 3, t_q: int = 5, t_k: int = 7) -> Outcome:
    """Masked (query, key) pairs get weight exactly 0 and masked keys do not influence the output:
    replacing padded keys and values (masked for every query) by garbage (×1000) leaves the output
    unchanged; a query with no allowed key gets all-zero weights and a finite output (not NaN)."""
    model = subject.build(case)
    E = subject.size("embed_dim")
    q, k, v = _qkv(subject, case, batch, t_q, t_k)
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
        exact(f"weights on the {n} masked (query, key) pairs", f64(masked), torch.zeros_like(f64(masked))),
        case.close("output with garbage in keys/values no query may see vs original", out2, out),
        exact("weights of a query with no allowed key", f64(w3_row0), torch.zeros_like(f64(w3_row0))),
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
    Q, K, V = f64(q), f64(k), f64(v)
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
    torch_mha = nn.MultiheadAttention(subject.size("embed_dim"), subject.size("num_heads"), batch_first=True,
                                      device=case.device, dtype=case.dtype)
    torch_mha.load_state_dict(model.state_dict())
    torch_mha.eval()
    q, k, v = _qkv(subject, case, batch, t_q, t_k)
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
    x = case.randn(batch, length, subject.size("embed_dim"))
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
    E = subject.size("embed_dim")
    x = case.randn(1, length, E)
    allowed = torch.ones(length, length, dtype=torch.bool, device=case.device).tril()
    J = torch.autograd.functional.jacobian(lambda z: model(z, z, z, mask=allowed)[0], x)[:, :, 0]  # (T, E, T, E)
    J = f64(J)
    future = torch.stack([J[t, :, s, :] for t in range(length) for s in range(t + 1, length)])
    past_norms = torch.tensor([float(J[t, :, s, :].abs().sum()) for t in range(length) for s in range(t + 1)])
    return all_of(
        exact(f"∂y_t/∂x_s for s > t ({future.shape[0]} blocks of {E}×{E})", future, torch.zeros_like(future)),
        bound("smallest Σ|∂y_t/∂x_s| over s ≤ t", float(past_norms.min()), 0.0, op=">"),
    )


@check()
def local_attention_window(subject, case, batch: int = 2, length: int = 9) -> Outcome:
    """Local-m attention with half-width D (the subject's ``window``) gives weight exactly 0 to keys
    with |i − t| > D and positive weight inside the window; inside, its weights are the global weights
    renormalised over the window, a_local(t, i) = a_global(t, i) / Σ_{|j−t|≤D} a_global(t, j) (the
    same score, window = ∞)."""
    window = subject.size("window")
    model = subject.build(case)
    wide = subject.build(case, window=10 * length)  # same seed: same score parameters
    q, k, v = _qkv(subject, case, batch, length, length)
    with torch.no_grad():
        _, w = model(q, k, v, need_weights=True)
        _, g = wide(q, k, v, need_weights=True)
    w, g = f64(w), f64(g)
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
    e_ti = vᵀ tanh(W_q q_t + W_k k_i), Luong general e_ti = q_tᵀ W k_i and dot e_ti = q_tᵀ k_i.
    (Functional cores: the widths are test data, chosen unequal so a transposed weight fails.)"""
    q, k = case.randn(batch, t_q, d_q), case.randn(batch, t_k, d_k)
    k_same = case.randn(batch, t_k, d_q)
    W_q, W_k, v, W = case.randn(hidden, d_q), case.randn(hidden, d_k), case.randn(hidden), case.randn(d_q, d_k)
    add = subject.fn("additive_score")(q, k, W_q, W_k, v)
    gen = subject.fn("general_score")(q, k, W)
    dot = subject.fn("dot_score")(q, k_same)
    Q, K, Ks = f64(q), f64(k), f64(k_same)
    Wq, Wk, V, Wg = f64(W_q), f64(W_k), f64(v), f64(W)
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


# Notes 000, "Attention Mechanisms": translating "The cat sat on the mat." to "Le chat est assis sur
# le tapis.", the weights over the encoder states h_1..h_5 when the decoder produces "Le".
NOTES_LE_WEIGHTS = (0.7, 0.1, 0.05, 0.05, 0.1)
# ... and the notes' weights for "chat" ("cat"): they sum to 1.8, so no attention produces them.
NOTES_CHAT_WEIGHTS = (0.7, 0.9, 0.05, 0.05, 0.1)


@check(requires=("attend",))
def attention_notes_le_weights(subject, case, weights: list = list(NOTES_LE_WEIGHTS), focus: int = 0,  # noqa: B006
                               shift: float = 3.0, dim: int = 4) -> Outcome:
    """Notes 000's worked example: when the decoder produces "Le" it gives the encoder states h_1..h_5
    of "The cat sat on the mat" the weights [0.7, 0.1, 0.05, 0.05, 0.1], most to h_1 ("The"). These
    are attention weights: non-negative and summing to 1 (math.fsum), and attend reproduces them,
    softmax(log a + c) = a for the scores e_i = log a_i + c (softmax ignores the shift c = 3), with the
    context vector Σ_i a_i h_i (computed here in float64) and its largest weight at h_1.

    ``weights`` and ``focus`` (the attended word's position) select another example: the notes'
    weights for "chat", [0.7, 0.9, 0.05, 0.05, 0.1] with focus 1, sum to 1.8, and this property
    rejects them (tests/test_attention.py)."""
    import math

    a = torch.tensor([float(w) for w in weights], dtype=torch.float64)
    n = len(a)
    H = case.randn(1, n, dim)  # the encoder states h_1..h_n of one sentence
    scores = case.tensor((a.log() + shift)[None, None, :])  # (B=1, Tq=1, Tk=n)
    out, w = subject.fn("attend")(scores, H)
    total = math.fsum(float(x) for x in a)
    return all_of(
        holds("the notes' weights are non-negative", bool((a >= 0).all()), f"weights {list(weights)}"),
        case.close("the notes' weights sum to 1 (math.fsum)", total, 1.0, detail=f"weights {list(weights)}"),
        exact("attend's weights and output shapes", (tuple(w.shape), tuple(out.shape)), ((1, 1, n), (1, 1, dim))),
        case.close(f"attend(log a + {shift:g}, h) weights vs the notes' a", w[0, 0], a),
        case.close("context vector vs Σ_i a_i h_i", out[0, 0], a @ f64(H[0])),
        exact("position of the largest weight", int(torch.argmax(f64(w[0, 0]))), focus,
              detail="the notes: high weight on the word being translated"),
    )


# ---------------------------------------------------------------------------------------------
# Luong local-p attention (predicted aligned position, windowed Gaussian weights)
# ---------------------------------------------------------------------------------------------
def _local_p_oracle(q, k, v, W, W_p, v_p, window: int, mask=None):
    """Luong 3.2 local-p, written out per (b, t) in float64 torch (differentiable in the weights):
    e_i = q_tᵀ W k_i, S = #allowed keys, p = S / (1 + exp(−v_pᵀ tanh(W_p q_t))), window
    {i allowed : |i − p| ≤ D}, a_i = exp(e_i) / Σ_window exp(e_j) · exp(−(i − p)² / (2 (D/2)²)).
    Returns (output (B, Tq, Dv), weights (B, Tq, Tk), p (B, Tq), S (B, Tq))."""
    B, Tq, Tk = q.shape[0], q.shape[1], k.shape[1]
    allowed = torch.ones(B, Tq, Tk, dtype=torch.bool) if mask is None else mask.cpu().expand(B, Tq, Tk)
    sigma = window / 2.0
    outs, rows, ps, Ss = [], [], [], []
    for b in range(B):
        for t in range(Tq):
            S = int(allowed[b, t].sum())
            p = S / (1 + torch.exp(-torch.dot(v_p, torch.tanh(W_p @ q[b, t]))))
            win = [i for i in range(Tk) if allowed[b, t, i] and abs(i - float(p.detach())) <= window]
            a = [torch.zeros((), dtype=torch.float64)] * Tk
            if win:
                e = torch.stack([torch.dot(q[b, t], W @ k[b, i]) for i in win])
                soft = torch.exp(e - e.max()) / torch.exp(e - e.max()).sum()
                for j, i in enumerate(win):
                    a[i] = soft[j] * torch.exp(-(i - p) ** 2 / (2 * sigma**2))
            row = torch.stack(a)
            rows.append(row)
            outs.append(row @ v[b])
            ps.append(p)
            Ss.append(S)
    return (torch.stack(outs).reshape(B, Tq, -1), torch.stack(rows).reshape(B, Tq, Tk),
            torch.stack(ps).reshape(B, Tq), torch.tensor(Ss, dtype=torch.float64).reshape(B, Tq))


def _local_p_mask(case, masking: str, batch: int, t_q: int, t_k: int) -> torch.Tensor | None:
    """none, padding (a key-padding prefix mask (B, 1, Tk), lengths ≥ 2) or causal ((Tq, Tk) tril)."""
    if masking == "none":
        return None
    if masking == "padding":
        return _prefix_mask(case, batch, t_k, 2).unsqueeze(1)
    if masking == "causal":
        return torch.ones(t_q, t_k, dtype=torch.bool, device=case.device).tril()
    raise ValueError(f"masking must be none, padding or causal, got {masking!r}")


@check(requires=("predicted_position",))
def local_p_predicted_position(subject, case, batch: int = 3, t_q: int = 4, dim: int = 5, hidden: int = 6,
                               src_len: int = 7) -> Outcome:
    """Luong's predicted aligned position (local-p, eq. 9) is p_t = S · sigmoid(v_pᵀ tanh(W_p h_t)),
    elementwise (numpy in float64), for a common source length S and for per-sentence lengths
    S_b (a (B, 1) tensor); it lies in [0, S] even where the sigmoid saturates (inputs ×100).
    (Functional core: the widths are test data, chosen unequal so a transposed weight fails.)"""
    import numpy as np

    fn = subject.fn("predicted_position")
    h, W_p, v_p = case.randn(batch, t_q, dim), case.randn(hidden, dim), case.randn(hidden)
    lengths = case.randint(1, src_len + 1, (batch, 1)).to(case.dtype)
    H, Wp, Vp = (f64(x).numpy() for x in (h, W_p, v_p))

    def oracle(S, scale: float = 1.0):
        z = np.tanh(scale * H @ Wp.T) @ (scale * Vp)
        return np.asarray(S) / (1.0 + np.exp(-z))

    p = fn(h, W_p, v_p, src_len)
    p_rows = fn(h, W_p, v_p, lengths)
    p_sat = fn(100 * h, 100 * W_p, 100 * v_p, src_len)
    L = f64(lengths).numpy()
    both = torch.cat([f64(p).flatten(), f64(p_sat).flatten()])
    return all_of(
        exact("shape of p", tuple(p.shape), (batch, t_q)),
        case.close(f"p_t vs S·sigmoid(v_pᵀ tanh(W_p h_t)), S = {src_len}", p, oracle(src_len)),
        case.close("p_t vs S_b·sigmoid(v_pᵀ tanh(W_p h_t)), per-sentence S_b", p_rows, oracle(L)),
        case.close("p_t with saturated sigmoid (inputs ×100)", p_sat, oracle(src_len, 100.0)),
        bound("smallest p_t (with saturated inputs)", float(both.min()), 0.0, op=">="),
        bound(f"largest p_t (with saturated inputs), S = {src_len}", float(both.max()), float(src_len), op="<="),
        bound("largest p_t / S_b with per-sentence S_b", float((f64(p_rows) / f64(lengths)).max()), 1.0, op="<="),
    )


@check(requires=("local_p_weights",))
def local_p_weights_match_definition(subject, case, window: int = 2, masking: str = "none", batch: int = 2,
                                     t_q: int = 6, t_k: int = 9) -> Outcome:
    """Luong local-p weights (eq. 10) are a_ti = softmax_{i ∈ W_t}(e_ti) · exp(−(i − p_t)²/(2σ²)) with
    σ = D/2 on the window W_t = {i allowed : |i − p_t| ≤ D}, and exactly 0 outside it (recomputed
    element by element with math.exp); p_t includes 0, S = Tk, an integer (window edges i = p_t ± D
    included) and a half-integer. They are not normalised: inside the window a_ti / softmax_ti is the
    Gaussian factor, in [e⁻², 1]. ``masking``: none, or random (a query whose window holds no
    allowed key gets zeros)."""
    import math

    fn = subject.fn("local_p_weights")
    scores = 2 * case.randn(batch, t_q, t_k)
    p = case.rand(batch, t_q) * t_k
    p[0, :4] = case.tensor([0.0, float(t_k), 3.0, 4.5])
    mask = None
    if masking == "random":
        mask = _random_mask(case, batch, t_q, t_k)
        mask[0, 1] = False  # query 1 of row 0 sees no key at all
    elif masking != "none":
        raise ValueError(f"masking must be none or random, got {masking!r}")
    a = fn(scores, p, window, mask) if mask is not None else fn(scores, p, window)
    E, P = f64(scores), f64(p)
    M = torch.ones(batch, t_q, t_k, dtype=torch.bool) if mask is None else mask.cpu()
    ref = torch.zeros(batch, t_q, t_k, dtype=torch.float64)
    inside = torch.zeros(batch, t_q, t_k, dtype=torch.bool)
    sigma = window / 2
    for b in range(batch):
        for t in range(t_q):
            pt = float(P[b, t])
            win = [i for i in range(t_k) if M[b, t, i] and abs(i - pt) <= window]
            z = math.fsum(math.exp(float(E[b, t, j])) for j in win)
            for i in win:
                inside[b, t, i] = True
                ref[b, t, i] = math.exp(float(E[b, t, i])) / z * math.exp(-(i - pt) ** 2 / (2 * sigma**2))
    A = f64(a)
    n_out = int((~inside).sum())
    sums = A.sum(-1)
    return all_of(
        exact("shape of the weights", tuple(a.shape), (batch, t_q, t_k)),
        exact(f"weights outside the window |i − p_t| ≤ {window} or masked ({n_out})", A[~inside],
              torch.zeros(n_out, dtype=torch.float64)),
        case.close(f"weights vs softmax over the window × exp(−(i − p_t)²/(2σ²)), σ = {window}/2", a, ref),
        bound("largest Σ_i a_ti (the Gaussian factor is ≤ 1)", float(sums.max()), 1.0 + case.tolerance.atol),
    )


@check()
def local_p_attention_matches_definition(subject, case, masking: str = "none", batch: int = 2, t_q: int = 4,
                                         t_k: int = 9) -> Outcome:
    """Luong local-p attention (sec. 3.2) with the module's own parameters (``W``, ``W_p``, ``v_p``,
    copied from its state dict) is, per query t: general score e_ti = q_tᵀ W k_i, aligned position
    p_t = S·sigmoid(v_pᵀ tanh(W_p q_t)) with S the number of keys t may attend to, weights
    softmax over the window {i allowed : |i − p_t| ≤ D} times exp(−(i − p_t)²/(2σ²)), σ = D/2,
    exactly 0 elsewhere, and output c_t = Σ_i a_ti v_i; recomputed here in float64, one (b, t) at
    a time. ``masking``: none, padding (a key-padding mask: S is each sentence's length) or causal."""
    D = subject.size("window")
    model = subject.build(case)
    q, k, v = _qkv(subject, case, batch, t_q, t_k)
    mask = _local_p_mask(case, masking, batch, t_q, t_k)
    sd = {n: f64(x) for n, x in model.state_dict().items()}
    with torch.no_grad():
        out, w = model(q, k, v, mask=mask, need_weights=True)
    ref_out, ref_w, ref_p, S = _local_p_oracle(f64(q), f64(k), f64(v), sd["W"], sd["W_p"], sd["v_p"], D, mask)
    outside = ref_w == 0
    W64 = f64(w)
    return all_of(
        holds(f"oracle: every p_t in [0, S] (S from {masking} mask)", bool(((ref_p >= 0) & (ref_p <= S)).all())),
        exact(f"weights outside the windows |i − p_t| ≤ {D} ({int(outside.sum())})", W64[outside],
              torch.zeros(int(outside.sum()), dtype=torch.float64)),
        case.close(f"local-p weights vs Luong 3.2 recomputed with the module's W, W_p, v_p ({masking})", w, ref_w),
        case.close(f"local-p output vs Σ_i a_ti v_i ({masking})", out, ref_out),
    )


@check()
def local_p_position_gradient(subject, case, batch: int = 2, t_q: int = 4, t_k: int = 9) -> Outcome:
    """The predicted position is differentiable (the point of local-p over local-m): the gradient
    of L = Σ c ⊙ R (R fixed, random) with respect to W_p, v_p and W equals autograd's gradient of
    Luong 3.2 recomputed here in float64 from copied weights, and the gradients of W_p and v_p are
    not zero (p_t reaches the output through the Gaussian factor)."""
    model = subject.build(case)
    q, k, v = _qkv(subject, case, batch, t_q, t_k)
    R = case.randn(batch, t_q, k.shape[-1])
    D = subject.size("window")
    params = dict(model.named_parameters())
    model.zero_grad()
    (model(q, k, v) * R).sum().backward()
    copies = {n: f64(params[n]).requires_grad_(True) for n in ("W", "W_p", "v_p")}
    ref_out, *_ = _local_p_oracle(f64(q), f64(k), f64(v), copies["W"], copies["W_p"], copies["v_p"], D)
    (ref_out * f64(R)).sum().backward()
    outs = []
    for n in ("W_p", "v_p", "W"):
        g = params[n].grad
        if g is None:
            outs.append(holds(f"∂L/∂{n} exists (the parameter is reached by backprop)", False, "grad is None"))
            continue
        outs.append(case.close(f"∂L/∂{n} vs autograd of the float64 recomputation", g, copies[n].grad))
        if n != "W":
            outs.append(bound(f"Σ|∂L/∂{n}|", float(f64(g).abs().sum()), 0.0, op=">"))
    return all_of(outs)


@check()
def local_p_weights_bounded(subject, case, batch: int = 3, t_q: int = 5, t_k: int = 9) -> Outcome:
    """Local-p weights are softmax-over-a-window weights times a Gaussian factor in [e⁻², 1]
    (σ = D/2, |i − p_t| ≤ D), so they are NOT a distribution: for every query t with an allowed key,
    a_ti ≥ 0, e⁻² ≤ Σ_i a_ti ≤ 1, and the keys with a_ti > 0 lie within 2D + 1 consecutive
    positions; padded keys get weight 0. (What replaces "weights sum to one" for local-p; needs no
    parameter names.)"""
    import math

    D = subject.size("window")
    model = subject.build(case)
    q, k, v = _qkv(subject, case, batch, t_q, t_k)
    mask = _prefix_mask(case, batch, t_k, 2).unsqueeze(1)  # (B, 1, Tk)
    with torch.no_grad():
        _, w = model(q, k, v, mask=mask, need_weights=True)
    W64 = f64(w)
    sums = W64.sum(-1)
    idx = torch.arange(t_k, dtype=torch.float64)
    nz = W64 > 0
    span = torch.where(nz, idx, -1.0).amax(-1) - torch.where(nz, idx, float(t_k)).amin(-1)
    tol = case.tolerance.atol
    padded = ~mask.cpu().expand_as(nz)
    return all_of(
        bound("smallest a_ti", float(W64.min()), 0.0, op=">="),
        bound("largest Σ_i a_ti", float(sums.max()), 1.0 + tol),
        bound("smallest Σ_i a_ti (≥ e⁻², the Gaussian factor at |i − p_t| = D)", float(sums.min()), math.exp(-2) - tol,
              op=">="),
        bound(f"widest span of keys with a_ti > 0 (window 2D = {2 * D})", float(span.max()), float(2 * D)),
        exact("weights on padded keys", W64[padded], torch.zeros(int(padded.sum()), dtype=torch.float64)),
    )


# ---------------------------------------------------------------------------------------------
# every module kind against its definition, with its own parameters; initialisation
# ---------------------------------------------------------------------------------------------
def _score_oracle(kind: str, sd: dict, E: int):
    """e(q_t, k_i) written out for one (query, key) pair in float64 (differentiable in ``sd``)."""
    if kind == "additive":
        return lambda q, k: torch.dot(sd["v"], torch.tanh(sd["W_q.weight"] @ q + sd["W_k.weight"] @ k))
    if kind == "dot":
        return lambda q, k: torch.dot(q, k)
    if kind in ("general", "local"):
        return lambda q, k: torch.dot(q, sd["W"] @ k)
    if kind == "scaled_dot":
        return lambda q, k: torch.dot(q, k) / E ** 0.5
    raise ValueError(f"attention_module_matches_definition: kind must be additive, dot, general, scaled_dot or local, got {kind!r}")


@check()
def attention_module_matches_definition(subject, case, masking: str = "padding", batch: int = 2, t_q: int = 4,
                                        t_k: int = 6) -> Outcome:
    """The attention module of kind additive, dot, general, scaled_dot or local is its definition
    with its own parameters (copied from its state dict: additive ``W_q.weight``, ``W_k.weight``, ``v``;
    general and local ``W``): e_ti = vᵀ tanh(W_q q_t + W_k k_i), q_tᵀ k_i, q_tᵀ W k_i or q_tᵀ k_i / √E;
    a_t = softmax of e_t over the allowed keys (the mask; for local also |i − t| ≤ D), 0 elsewhere;
    c_t = Σ_i a_ti v_i, recomputed in float64 one (b, t) at a time. The gradients of L = Σ c ⊙ R (R
    fixed, random) with respect to the query, key, value and every parameter equal autograd's
    through that recomputation. ``masking``: none or padding (a key-padding prefix mask, ≥ 2 keys)."""
    kind = subject.params.get("kind")
    E = subject.size("embed_dim")
    model = subject.build(case)
    q, k, v = (x.requires_grad_(True) for x in _qkv(subject, case, batch, t_q, t_k))
    mask = _local_p_mask(case, masking, batch, t_q, t_k)
    R = case.randn(batch, t_q, E)
    sd = {n: f64(x).requires_grad_(True) for n, x in model.state_dict().items()}
    score = _score_oracle(kind, sd, E)
    D = subject.size("window") if kind == "local" else None
    Q, K, V = (f64(x).requires_grad_(True) for x in (q, k, v))
    allowed = torch.ones(batch, t_q, t_k, dtype=torch.bool) if mask is None else mask.cpu().expand(batch, t_q, t_k)
    rows = []
    for b in range(batch):
        for t in range(t_q):
            keys = [i for i in range(t_k) if allowed[b, t, i] and (D is None or abs(i - t) <= D)]
            a = [torch.zeros((), dtype=torch.float64)] * t_k
            if keys:
                e = torch.stack([score(Q[b, t], K[b, i]) for i in keys])
                soft = torch.exp(e - e.max()) / torch.exp(e - e.max()).sum()
                for j, i in enumerate(keys):
                    a[i] = soft[j]
            rows.append(torch.stack(a))
    ref_w = torch.stack(rows).reshape(batch, t_q, t_k)
    ref_out = ref_w @ V
    out, w = model(q, k, v, mask=mask, need_weights=True)
    outs = [case.close(f"{kind} weights vs softmax of the score over the allowed keys ({masking})", w.detach(), ref_w.detach()),
            case.close(f"{kind} output vs Σ_i a_ti v_i ({masking})", out.detach(), ref_out.detach())]
    params = dict(model.named_parameters())
    leaves = [q, k, v] + list(params.values())
    if not out.requires_grad:
        return all_of(outs + [holds("the output is differentiable (requires grad)", False, "output.requires_grad is False")])
    grads = torch.autograd.grad((out * R).sum(), leaves, allow_unused=True)
    ref_leaves = [Q, K, V] + [sd[n] for n in params]
    ref_grads = torch.autograd.grad((ref_out * f64(R)).sum(), ref_leaves, allow_unused=True)
    for name, g, rg in zip(["query", "key", "value"] + list(params), grads, ref_grads):
        if g is None:
            outs.append(holds(f"∂L/∂{name} exists (reached by backprop)", False, "grad is None"))
            continue
        outs.append(case.close(f"∂L/∂{name} vs autograd of the float64 recomputation",
                               g, torch.zeros_like(f64(g)) if rg is None else rg))
    return all_of(outs)


# Parameters initialised as nn.Linear's default bound: U(−1/√n, 1/√n), n the fan-in (contract: state_dict).
INIT_FAN_IN = {"additive": {"v": "hidden"}, "general": {"W": "embed_dim"}, "local": {"W": "embed_dim"},
               "local_p": {"W": "embed_dim", "W_p": "embed_dim", "v_p": "hidden"}}


@check()
def attention_init_uniform_bounds(subject, case, embed_dim: int = 64, hidden: int = 256, fill: float = 0.9) -> Outcome:
    """The score parameters the module creates itself start uniform in [−1/√n, 1/√n], n the fan-in
    (nn.Linear's default bound): additive v with n = A (``hidden``), general and local W with
    n = E, local_p W and W_p with n = E and v_p with n = A. Built with E = 64, A = 256: every entry
    lies within ±1/√n and the entries fill the interval, the smallest below −0.9/√n and the largest
    above 0.9/√n (a true U(−b, b) sample of n ≥ 256 misses either with probability < 1e−5)."""
    import math

    kind = subject.params.get("kind")
    if kind not in INIT_FAN_IN:
        raise ValueError(f"attention_init_uniform_bounds: kind must be one of {sorted(INIT_FAN_IN)}, got {kind!r}")
    model = subject.build(case, embed_dim=embed_dim, hidden=hidden)
    sd = model.state_dict()
    fan = {"embed_dim": embed_dim, "hidden": hidden}
    outs = []
    for name, which in INIT_FAN_IN[kind].items():
        x = f64(sd[name]) if name in sd else None
        if x is None:
            outs.append(holds(f"the state dict has {name!r}", False, f"keys {sorted(sd)}"))
            continue
        b = 1 / math.sqrt(fan[which])
        outs += [bound(f"{name}: largest |entry| (bound 1/√{fan[which]})", float(x.abs().max()), b, op="<="),
                 bound(f"{name}: smallest entry (< −{fill}/√{fan[which]})", float(x.min()), -fill * b, op="<"),
                 bound(f"{name}: largest entry (> {fill}/√{fan[which]})", float(x.max()), fill * b, op=">")]
    return all_of(outs)
