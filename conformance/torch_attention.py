"""torch's attention as the ``attention`` contract: ``--impl attention=conformance.torch_attention:make_attention``.

Translation only. ``scaled_dot_product_attention`` is ``torch.nn.functional.scaled_dot_product_attention``
(the contract's boolean ``mask`` is torch's ``attn_mask``, True = may attend; torch refuses a mask
together with ``is_causal``, so a causal mask is folded in as the top-left lower triangle, which
is what ``is_causal`` means). torch returns no weights: with ``need_weights`` they are torch's
own attention applied to V = I (the output is then the weight matrix).

The model covers the kinds torch ships: ``scaled_dot`` (the function above, no parameters) and
``multi_head`` (``torch.nn.MultiheadAttention(batch_first=True)`` itself, so its state dict is
torch's; the contract's mask, True = attend and broadcastable to (B, Tq, Tk), becomes torch's
``attn_mask`` of shape (B·H, Tq, Tk) with True = NOT allowed; per-head weights via
``average_attn_weights=False``). torch has no additive (Bahdanau), Luong dot/general or local-m
attention and no score functions: those kinds raise NotImplementedError.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from conformance import circular_for

DLH_CIRCULAR = circular_for(__name__)  # properties whose oracle is this code


def _allowed(mask, causal, t_q, t_k, device):
    """The contract's mask and causal flag as one boolean attn_mask (True = may attend) or None."""
    if causal:
        tri = torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril()
        mask = tri if mask is None else mask & tri
    return mask


def scaled_dot_product_attention(query, key, value, mask=None, causal=False, scale=None, need_weights=False):
    """torch.nn.functional.scaled_dot_product_attention; weights = the same call with V = I."""
    m = _allowed(mask, causal, query.shape[-2], key.shape[-2], query.device) if mask is not None else None
    is_causal = causal and mask is None
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=m, is_causal=is_causal, scale=scale)
    if not need_weights:
        return out
    t_k = key.shape[-2]
    eye = torch.eye(t_k, dtype=value.dtype, device=value.device).expand(*key.shape[:-2], t_k, t_k)
    return out, F.scaled_dot_product_attention(query, key, eye, attn_mask=m, is_causal=is_causal, scale=scale)


class ScaledDot(nn.Module):
    """softmax(QKᵀ/√E) V by torch's sdpa; model(query, key=None, value=None, mask=None, need_weights=False)."""

    def __init__(self, causal=False):
        super().__init__()
        self.causal = causal

    def forward(self, query, key=None, value=None, mask=None, need_weights=False):
        key = query if key is None else key
        value = key if value is None else value
        return scaled_dot_product_attention(query, key, value, mask, self.causal, need_weights=need_weights)


class MultiHead(nn.MultiheadAttention):
    """torch.nn.MultiheadAttention(embed_dim, num_heads, batch_first=True) under the contract's call."""

    def __init__(self, embed_dim, num_heads, causal=False):
        super().__init__(embed_dim, num_heads, batch_first=True)
        self.causal = causal

    def forward(self, query, key=None, value=None, mask=None, need_weights=False):
        key = query if key is None else key
        value = key if value is None else value
        (B, t_q, _), t_k = query.shape, key.shape[1]
        m = _allowed(mask, self.causal, t_q, t_k, query.device)
        attn_mask = None if m is None else (~m.expand(B, t_q, t_k)).repeat_interleave(self.num_heads, 0)
        out, w = super().forward(query, key, value, attn_mask=attn_mask, need_weights=need_weights,
                                 average_attn_weights=False)
        return (out, w) if need_weights else out


def make_attention(kind="multi_head", embed_dim=16, num_heads=4, hidden=None, window=2, causal=False):
    if kind == "scaled_dot":
        return ScaledDot(causal)
    if kind == "multi_head":
        return MultiHead(embed_dim, num_heads, causal)
    raise NotImplementedError(f"torch has no {kind!r} attention (only scaled_dot and multi_head)")
