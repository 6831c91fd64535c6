"""Attention: additive (Bahdanau), multiplicative (Luong dot / general), scaled dot-product,
local (Luong local-m and local-p), multi-head; and the hierarchical attention network (HAN).

Attention maps a query and a set of key-value pairs to a weighted sum of the values: scores
e = score(q, k_i), weights a = softmax(e) over the allowed keys, output c = Σ_i a_i v_i.

    additive (Bahdanau)       e_i = vᵀ tanh(W_q q + W_k k_i)
    dot (Luong)               e_i = qᵀ k_i
    general (Luong)           e_i = qᵀ W k_i
    scaled dot-product        e_i = qᵀ k_i / √d_k
    local-m (Luong)           general score, keys restricted to |i − t| ≤ D for query position t
    local-p (Luong)           general score, keys restricted to |i − p_t| ≤ D around a predicted
                              position p_t = S·sigmoid(v_pᵀ tanh(W_p q_t)), softmax over the window
                              times a Gaussian exp(−(i − p_t)²/(2σ²)), σ = D/2 (weights sum to < 1)
    multi-head                h heads of scaled dot-product attention on learned projections,
                              concatenated and projected: MultiHead(Q, K, V) = [head_1; …; head_h] W_O

Shapes: batch first. query (B, Tq, Dq), key (B, Tk, Dk), value (B, Tk, Dv); scores and weights
(B, Tq, Tk) (multi-head: (B, H, Tq, Tk)); output (B, Tq, Dv). ``key``/``value`` default to the
query (self-attention).

MASK CONVENTION: a mask is boolean, broadcastable to the scores, **True where the query may attend
to the key** (torch's ``scaled_dot_product_attention`` boolean ``attn_mask`` convention; the
opposite of ``nn.MultiheadAttention``'s ``key_padding_mask``, where True means "ignore"). Masked
keys get weight exactly 0. A query row with no allowed key gets all-zero weights and a zero output,
never NaN. Causal masks are top-left aligned, query t sees keys 0..t (as torch's ``is_causal``).

LOCAL-P (Luong 3.2, eq. 9-10): source positions are 0-indexed, i = 0..S−1, and p_t = S·sigmoid(·)
lies in [0, S] (the paper's S, not S − 1: p_t = S is one past the last key, whose window then holds
keys S − D..S − 1). S is the number of keys query t may attend to: Tk without a mask, a sentence's
length under a key-padding (prefix) mask. Window: the keys with |i − p_t| ≤ D that the mask allows;
the weights are the softmax of the scores over the window times exp(−(i − p_t)²/(2σ²)), σ = D/2, so
they do NOT sum to one (each factor lies in [e⁻², 1]); that is the paper's definition. The Gaussian
makes the output differentiable in p_t, so W_p and v_p are trained by backpropagation.

Attention weights are returned on request (``need_weights=True``), never stored on the module.

HAN (Yang et al. 2016): words -> bidirectional GRU -> word attention with a learned context
vector u_w -> sentence vectors -> bidirectional GRU -> sentence attention with u_s -> document
vector -> classifier. Documents are (B, S, W) token ids; padding is at the end of each sentence
and at the end of the document (a prefix mask), and changes nothing.

Notes 000/001: the notes' second example weight vector for "cat", [0.7, 0.9, 0.05, 0.05, 0.1],
sums to 1.8; attention weights are a softmax and always sum to 1 (the first example,
[0.7, 0.1, 0.05, 0.05, 0.1], does). Notes 001 say "Bahdanau or local attention": Bahdanau's
attention is global (additive, over all source words); local attention is Luong et al.'s
windowed variant. Both are implemented here under their own names.

References
1. Bahdanau, Cho, Bengio (2015), "Neural Machine Translation by Jointly Learning to Align and
   Translate", ICLR (additive attention).
2. Luong, Pham, Manning (2015), "Effective Approaches to Attention-based Neural Machine
   Translation", EMNLP (dot/general scores, section 3.1; local-m and local-p attention, section 3.2).
3. Vaswani et al. (2017), "Attention Is All You Need", NeurIPS (scaled dot-product and
   multi-head attention, section 3.2).
4. Yang, Yang, Dyer, He, Smola, Hovy (2016), "Hierarchical Attention Networks for Document
   Classification", NAACL (section 2.2).
5. Course notes 000 ("Attention Mechanisms", "Machine translation with attention") and 001
   ("Attention models", attention over images, local attention with a predicted aligned position,
   hierarchical attention).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "AttentionConfig", "make_attention", "AdditiveAttention", "LuongAttention", "ScaledDotProductAttention",
    "LocalAttention", "LocalPAttention", "MultiHeadAttention", "HANConfig", "HANTrace", "HierarchicalAttentionNetwork", "BiGRU",
    "masked_softmax", "attend", "dot_score", "general_score", "additive_score", "scaled_dot_product_attention",
    "causal_mask", "local_window_mask", "predicted_position", "local_p_weights", "multi_head_attention", "split_heads", "merge_heads",
    "context_vector_attention", "reverse_padded", "KINDS",
]

KINDS = ("additive", "dot", "general", "scaled_dot", "local", "local_p", "multi_head")


# ---------------------------------------------------------------------------------------------
# functional cores
# ---------------------------------------------------------------------------------------------
def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """a_i = exp(e_i) / Σ_{j allowed} exp(e_j) for allowed i, a_i = 0 (exactly) for masked i.

    Softmax over the last axis. ``mask`` is boolean, broadcastable to ``scores``, True = allowed.
    Rows with no allowed entry return zeros (not NaN) and have finite gradients.
    """
    if mask is None:
        return torch.softmax(scores, dim=-1)
    mask = mask.expand_as(scores)
    s = scores.masked_fill(~mask, float("-inf"))
    s = s.masked_fill(~mask.any(-1, keepdim=True), 0.0)  # empty rows: finite, zeroed below
    return torch.softmax(s, dim=-1).masked_fill(~mask, 0.0)


def attend(scores: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights a = masked_softmax(e) and output c_t = Σ_i a_ti v_i. Returns (output, weights)."""
    a = masked_softmax(scores, mask)
    return a @ value, a


def dot_score(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Luong dot score e_ti = q_tᵀ k_i: (B, Tq, D), (B, Tk, D) -> (B, Tq, Tk)."""
    return query @ key.transpose(-2, -1)


def general_score(query: torch.Tensor, key: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Luong general score e_ti = q_tᵀ W k_i with W (Dq, Dk): -> (B, Tq, Tk)."""
    return query @ W @ key.transpose(-2, -1)


def additive_score(query: torch.Tensor, key: torch.Tensor, W_q: torch.Tensor, W_k: torch.Tensor,
                   v: torch.Tensor) -> torch.Tensor:
    """Bahdanau score e_ti = vᵀ tanh(W_q q_t + W_k k_i) with W_q (A, Dq), W_k (A, Dk), v (A,)."""
    hidden = (query @ W_q.T).unsqueeze(-2) + (key @ W_k.T).unsqueeze(-3)  # (B, Tq, Tk, A)
    return torch.tanh(hidden) @ v


def causal_mask(t_q: int, t_k: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(Tq, Tk) boolean, True where key i ≤ query t (top-left aligned, as torch's ``is_causal``)."""
    return torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril()


def local_window_mask(t_q: int, t_k: int, window: int, centres: torch.Tensor | None = None,
                      device: torch.device | str | None = None) -> torch.Tensor:
    """(Tq, Tk) boolean, True where |i − p_t| ≤ D. Local-m (Luong 3.2): the aligned position is
    p_t = t (monotonic alignment), the default; ``centres`` (Tq,) gives other integer p_t."""
    p = torch.arange(t_q, device=device) if centres is None else centres.to(device)
    i = torch.arange(t_k, device=device)
    return (i.unsqueeze(0) - p.unsqueeze(1)).abs() <= window


def predicted_position(h: torch.Tensor, W_p: torch.Tensor, v_p: torch.Tensor,
                       src_len: float | torch.Tensor) -> torch.Tensor:
    """Luong local-p aligned position (eq. 9): p_t = S · sigmoid(v_pᵀ tanh(W_p h_t)), in [0, S].

    h (B, Tq, D), W_p (A, D), v_p (A,), ``src_len`` S a number or a tensor broadcastable to
    (B, Tq) -> p (B, Tq), real-valued and differentiable in h, W_p and v_p.
    """
    return src_len * torch.sigmoid(torch.tanh(h @ W_p.T) @ v_p)


def local_p_weights(scores: torch.Tensor, p: torch.Tensor, window: int,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
    """Luong local-p weights (eq. 10): a_ti = softmax_{i ∈ W_t}(e_ti) · exp(−(i − p_t)²/(2σ²)),
    σ = D/2, over the window W_t = {i allowed by ``mask`` : |i − p_t| ≤ D}; a_ti = 0 (exactly)
    outside it.

    scores (B, Tq, Tk), p (B, Tq), ``mask`` boolean broadcastable to the scores (True = allowed)
    -> (B, Tq, Tk). Key positions are i = 0..Tk−1. The weights sum to less than one (the Gaussian
    factor, in [e⁻², 1] inside the window); a query with no key in its window gets zeros.
    """
    i = torch.arange(scores.shape[-1], device=scores.device, dtype=scores.dtype)
    dist = i - p.unsqueeze(-1)  # (B, Tq, Tk)
    inside = _combine(mask, dist.abs() <= window)
    sigma = window / 2
    return masked_softmax(scores, inside) * torch.exp(-dist.square() / (2 * sigma**2))


def _combine(mask: torch.Tensor | None, extra: torch.Tensor | None) -> torch.Tensor | None:
    if mask is None:
        return extra
    return mask if extra is None else mask & extra


def scaled_dot_product_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                 mask: torch.Tensor | None = None, causal: bool = False,
                                 scale: float | None = None, need_weights: bool = False):
    """Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V, over allowed keys (``mask``, ``causal``).

    Any leading dims: (..., Tq, D), (..., Tk, D), (..., Tk, Dv) -> (..., Tq, Dv) [, weights (..., Tq, Tk)].
    ``scale`` defaults to 1/√d_k.
    """
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if causal:
        mask = _combine(mask, causal_mask(query.shape[-2], key.shape[-2], query.device))
    out, a = attend(dot_score(query, key) * scale, value, mask)
    return (out, a) if need_weights else out


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, T, H·d) -> (B, H, T, d)."""
    return x.unflatten(-1, (num_heads, x.shape[-1] // num_heads)).transpose(-3, -2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, T, d) -> (B, T, H·d)."""
    return x.transpose(-3, -2).flatten(-2)


def multi_head_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, in_proj_weight: torch.Tensor,
                         in_proj_bias: torch.Tensor | None, out_proj_weight: torch.Tensor,
                         out_proj_bias: torch.Tensor | None, num_heads: int, mask: torch.Tensor | None = None,
                         causal: bool = False, need_weights: bool = False):
    """MultiHead(Q, K, V) = [head_1; …; head_h] W_Oᵀ + b_O, head_j = Attention(Q W_Q^j, K W_K^j, V W_V^j).

    ``in_proj_weight`` (3E, E) stacks W_Q, W_K, W_V (nn.MultiheadAttention's layout); each head
    has d = E / h. ``mask`` broadcasts to (B, H, Tq, Tk) (a (B, Tq, Tk) or (Tq, Tk) mask is
    shared by every head). Returns (B, Tq, E) [, per-head weights (B, H, Tq, Tk)].
    """
    W_q, W_k, W_v = in_proj_weight.chunk(3)
    b_q, b_k, b_v = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)
    q = split_heads(F.linear(query, W_q, b_q), num_heads)  # (B, H, Tq, d)
    k = split_heads(F.linear(key, W_k, b_k), num_heads)
    v = split_heads(F.linear(value, W_v, b_v), num_heads)
    if mask is not None and mask.dim() == 3:
        mask = mask.unsqueeze(1)  # (B, 1, Tq, Tk): the same for every head
    heads, a = scaled_dot_product_attention(q, k, v, mask=mask, causal=causal, need_weights=True)
    out = F.linear(merge_heads(heads), out_proj_weight, out_proj_bias)
    return (out, a) if need_weights else out


# ---------------------------------------------------------------------------------------------
# modules: forward(query, key=None, value=None, mask=None, need_weights=False)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttentionConfig:
    """``kind`` is one of :data:`KINDS`. ``embed_dim`` is the query/key/value width;
    ``hidden`` the additive score's width A, and local_p's position network width (default
    ``embed_dim``); ``window`` the local half-width D (local_p: σ = D/2); ``causal`` adds a causal mask to every call."""

    kind: str = "multi_head"
    embed_dim: int = 16
    num_heads: int = 4
    hidden: int | None = None
    window: int = 2
    causal: bool = False


class _Attention(nn.Module):
    causal: bool = False

    def _mask(self, mask: torch.Tensor | None, t_q: int, t_k: int, device: torch.device) -> torch.Tensor | None:
        return _combine(mask, causal_mask(t_q, t_k, device)) if self.causal else mask

    def scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:  # (B, Tq, Tk)
        raise NotImplementedError

    def forward(self, query: torch.Tensor, key: torch.Tensor | None = None, value: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, need_weights: bool = False):
        key = query if key is None else key
        value = key if value is None else value
        mask = self._mask(mask, query.shape[-2], key.shape[-2], query.device)
        out, a = attend(self.scores(query, key), value, mask)
        return (out, a) if need_weights else out


class AdditiveAttention(_Attention):
    """Bahdanau attention: e_ti = vᵀ tanh(W_q q_t + W_k k_i), a = softmax(e), c = Σ a_i v_i."""

    def __init__(self, embed_dim: int, hidden: int | None = None, causal: bool = False):
        super().__init__()
        hidden = hidden or embed_dim
        self.W_q = nn.Linear(embed_dim, hidden, bias=False)
        self.W_k = nn.Linear(embed_dim, hidden, bias=False)
        self.v = nn.Parameter(torch.empty(hidden).uniform_(-1 / math.sqrt(hidden), 1 / math.sqrt(hidden)))
        self.causal = causal

    def scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        return additive_score(query, key, self.W_q.weight, self.W_k.weight, self.v)


class LuongAttention(_Attention):
    """Luong multiplicative attention: ``score="dot"`` e = qᵀk, ``"general"`` e = qᵀ W k."""

    def __init__(self, embed_dim: int, score: str = "general", causal: bool = False):
        super().__init__()
        if score not in ("dot", "general"):
            raise ValueError(f"LuongAttention score must be 'dot' or 'general', got {score!r}")
        self.score = score
        self.W = nn.Parameter(torch.empty(embed_dim, embed_dim).uniform_(-1 / math.sqrt(embed_dim), 1 / math.sqrt(embed_dim))) \
            if score == "general" else None
        self.causal = causal

    def scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        return dot_score(query, key) if self.W is None else general_score(query, key, self.W)


class ScaledDotProductAttention(_Attention):
    """softmax(Q Kᵀ / √d_k) V (no parameters)."""

    def __init__(self, causal: bool = False):
        super().__init__()
        self.causal = causal

    def scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        return dot_score(query, key) / math.sqrt(query.shape[-1])


class LocalAttention(LuongAttention):
    """Luong local-m attention: general score, keys restricted to the window |i − t| ≤ D."""

    def __init__(self, embed_dim: int, window: int = 2, causal: bool = False):
        super().__init__(embed_dim, "general", causal)
        self.window = window

    def _mask(self, mask: torch.Tensor | None, t_q: int, t_k: int, device: torch.device) -> torch.Tensor | None:
        return _combine(super()._mask(mask, t_q, t_k, device), local_window_mask(t_q, t_k, self.window, device=device))


class LocalPAttention(LuongAttention):
    """Luong local-p attention: general score e_ti = q_tᵀ W k_i, predicted position
    p_t = S·sigmoid(v_pᵀ tanh(W_p q_t)) (S = number of keys query t may attend to), weights
    softmax over the window |i − p_t| ≤ D times exp(−(i − p_t)²/(2σ²)), σ = D/2 (they sum to
    less than one, as in the paper); output c_t = Σ_i a_ti v_i. Parameters: ``W`` (E, E),
    ``W_p`` (A, E), ``v_p`` (A,)."""

    def __init__(self, embed_dim: int, window: int = 2, hidden: int | None = None, causal: bool = False):
        super().__init__(embed_dim, "general", causal)
        if window < 1:
            raise ValueError(f"local_p window must be ≥ 1 (σ = window / 2 > 0), got {window}")
        hidden = hidden or embed_dim
        self.window = window
        self.W_p = nn.Parameter(torch.empty(hidden, embed_dim).uniform_(-1 / math.sqrt(embed_dim), 1 / math.sqrt(embed_dim)))
        self.v_p = nn.Parameter(torch.empty(hidden).uniform_(-1 / math.sqrt(hidden), 1 / math.sqrt(hidden)))

    def forward(self, query: torch.Tensor, key: torch.Tensor | None = None, value: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, need_weights: bool = False):
        key = query if key is None else key
        value = key if value is None else value
        mask = self._mask(mask, query.shape[-2], key.shape[-2], query.device)
        scores = self.scores(query, key)
        src_len = key.shape[-2] if mask is None else mask.expand_as(scores).sum(-1).to(scores.dtype)
        p = predicted_position(query, self.W_p, self.v_p, src_len)
        a = local_p_weights(scores, p, self.window, mask)
        return (a @ value, a) if need_weights else a @ value


class MultiHeadAttention(nn.Module):
    """Multi-head attention with nn.MultiheadAttention's parameter layout (``in_proj_weight``
    (3E, E), ``in_proj_bias`` (3E,), ``out_proj``), so state dicts are interchangeable.

    forward(query, key=None, value=None, mask=None, need_weights=False) -> (B, Tq, E)
    [, per-head weights (B, H, Tq, Tk)]; ``mask`` True = attend (see module doc).
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True, causal: bool = False):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.num_heads, self.causal = num_heads, causal
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim)) if bias else None
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        nn.init.xavier_uniform_(self.in_proj_weight)
        if bias:
            nn.init.zeros_(self.out_proj.bias)

    def forward(self, query: torch.Tensor, key: torch.Tensor | None = None, value: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, need_weights: bool = False):
        key = query if key is None else key
        value = key if value is None else value
        return multi_head_attention(query, key, value, self.in_proj_weight, self.in_proj_bias, self.out_proj.weight,
                                    self.out_proj.bias, self.num_heads, mask, self.causal, need_weights)


def make_attention(**params) -> nn.Module:
    """The attention module named by ``kind`` (see :class:`AttentionConfig` for the fields)."""
    c = AttentionConfig(**params)
    if c.kind == "additive":
        return AdditiveAttention(c.embed_dim, c.hidden, c.causal)
    if c.kind in ("dot", "general"):
        return LuongAttention(c.embed_dim, c.kind, c.causal)
    if c.kind == "scaled_dot":
        return ScaledDotProductAttention(c.causal)
    if c.kind == "local":
        return LocalAttention(c.embed_dim, c.window, c.causal)
    if c.kind == "local_p":
        return LocalPAttention(c.embed_dim, c.window, c.hidden, c.causal)
    if c.kind == "multi_head":
        return MultiHeadAttention(c.embed_dim, c.num_heads, causal=c.causal)
    raise ValueError(f"unknown attention kind {c.kind!r}; allowed: {', '.join(KINDS)}")


# ---------------------------------------------------------------------------------------------
# hierarchical attention network
# ---------------------------------------------------------------------------------------------
def context_vector_attention(h: torch.Tensor, W: torch.Tensor, b: torch.Tensor, u: torch.Tensor,
                             mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """HAN attention (Yang et al. eq. 5-7): u_t = tanh(W h_t + b), α_t = softmax_t(u_tᵀ u_ctx),
    s = Σ_t α_t h_t. h (N, T, D), mask (N, T) True = real token. Returns (s (N, D), α (N, T))."""
    scores = torch.tanh(F.linear(h, W, b)) @ u  # (N, T)
    a = masked_softmax(scores, mask)
    return (a.unsqueeze(-2) @ h).squeeze(-2), a


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse the first L_n steps of each sequence x[n] (N, T, D); padded steps stay in place.
    Its own inverse. Used for the backward direction of a GRU so that padding never reaches it."""
    T = x.shape[1]
    t = torch.arange(T, device=x.device).unsqueeze(0)  # (1, T)
    L = lengths.unsqueeze(1)
    idx = torch.where(t < L, L - 1 - t, t)  # (N, T)
    return x.gather(1, idx.unsqueeze(-1).expand_as(x))


class BiGRU(nn.Module):
    """Bidirectional GRU over prefix-masked sequences: [→h_t; ←h_t], ←h computed on the reversed
    valid prefix, so padding after the end changes no output at a valid position."""

    def __init__(self, input_size: int, hidden: int):
        super().__init__()
        self.fwd = nn.GRU(input_size, hidden, batch_first=True)
        self.bwd = nn.GRU(input_size, hidden, batch_first=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # (N, T, D), (N, T) -> (N, T, 2H)
        lengths = mask.sum(-1)
        h_f, _ = self.fwd(x)
        h_b, _ = self.bwd(reverse_padded(x, lengths))
        return torch.cat([h_f, reverse_padded(h_b, lengths)], dim=-1)


@dataclass(frozen=True)
class HANConfig:
    vocab_size: int = 20
    embed_dim: int = 16
    word_hidden: int = 8  # per direction
    sentence_hidden: int = 8  # per direction
    attention_dim: int = 16
    num_classes: int = 2
    pad_id: int = 0


class HANTrace(NamedTuple):
    """What :class:`HierarchicalAttentionNetwork` returns with ``need_weights=True``."""

    word_weights: torch.Tensor  # (B, S, W) α_it, zero on padding
    word_annotations: torch.Tensor  # (B, S, W, 2Hw) h_it
    sentence_vectors: torch.Tensor  # (B, S, 2Hw) s_i = Σ_t α_it h_it
    sentence_weights: torch.Tensor  # (B, S) α_i, zero on padded sentences
    sentence_annotations: torch.Tensor  # (B, S, 2Hs) h_i
    document: torch.Tensor  # (B, 2Hs) v = Σ_i α_i h_i


class HierarchicalAttentionNetwork(nn.Module):
    """HAN: forward(docs (B, S, W) long, mask=None, need_weights=False) -> logits (B, C) [, HANTrace].

    ``mask`` (B, S, W) boolean, True = real word; default ``docs != pad_id``.
    """

    def __init__(self, **params):
        super().__init__()
        c = self.config = HANConfig(**params)
        self.embed = nn.Embedding(c.vocab_size, c.embed_dim)
        self.word_rnn = BiGRU(c.embed_dim, c.word_hidden)
        self.word_proj = nn.Linear(2 * c.word_hidden, c.attention_dim)
        self.u_w = nn.Parameter(torch.randn(c.attention_dim) / math.sqrt(c.attention_dim))
        self.sentence_rnn = BiGRU(2 * c.word_hidden, c.sentence_hidden)
        self.sentence_proj = nn.Linear(2 * c.sentence_hidden, c.attention_dim)
        self.u_s = nn.Parameter(torch.randn(c.attention_dim) / math.sqrt(c.attention_dim))
        self.classifier = nn.Linear(2 * c.sentence_hidden, c.num_classes)

    def forward(self, docs: torch.Tensor, mask: torch.Tensor | None = None, need_weights: bool = False):
        B, S, W = docs.shape
        mask = docs != self.config.pad_id if mask is None else mask
        words = self.word_rnn(self.embed(docs.reshape(B * S, W)), mask.reshape(B * S, W))  # (B·S, W, 2Hw)
        s, a_w = context_vector_attention(words, self.word_proj.weight, self.word_proj.bias, self.u_w,
                                          mask.reshape(B * S, W))
        s = s.reshape(B, S, -1)
        s_mask = mask.any(-1)  # (B, S)
        sents = self.sentence_rnn(s, s_mask)  # (B, S, 2Hs)
        v, a_s = context_vector_attention(sents, self.sentence_proj.weight, self.sentence_proj.bias, self.u_s, s_mask)
        logits = self.classifier(v)
        if not need_weights:
            return logits
        return logits, HANTrace(a_w.reshape(B, S, W), words.reshape(B, S, W, -1), s, a_s, sents, v)

