"""torch built-in comparators for benchmarks: ``name -> factory(**builtin_params) -> nn.Module``.

A suite benchmark names one with ``builtin:``; ``harness bench`` times it on the same inputs,
right after ours, and reports our time over its time. This module is low-level on purpose: the
suite loader validates ``builtin:`` names against :data:`BUILTINS` without importing the
measuring code.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

_ACTS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "identity": nn.Identity,
         "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "softplus": nn.Softplus}


def linear_stack(sizes: list[int] | None = None, *, in_features: int | None = None, hidden: list[int] | int = (),
                 out_features: int | None = None, activation: str = "relu", final_activation: bool = False,
                 bias: bool = True) -> nn.Module:
    """``nn.Sequential`` of ``nn.Linear`` + activation. Either ``sizes: [in, h1, ..., out]`` or
    ``in_features``, ``hidden`` (int or list) and ``out_features``."""
    if sizes is None:
        hid = [hidden] if isinstance(hidden, int) else list(hidden)
        if in_features is None or out_features is None:
            raise ValueError("linear_stack needs `sizes` or `in_features` and `out_features`")
        sizes = [in_features, *hid, out_features]
    if len(sizes) < 2:
        raise ValueError(f"linear_stack needs at least two sizes, got {sizes}")
    if activation not in _ACTS:
        raise ValueError(f"linear_stack activation {activation!r}; allowed: {', '.join(_ACTS)}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, bias=bias))
        if i < len(sizes) - 2 or final_activation:
            layers.append(_ACTS[activation]())
    return nn.Sequential(*layers)


def conv2d(**params: Any) -> nn.Module:
    """``nn.Conv2d(**params)`` (in_channels, out_channels, kernel_size, stride, padding, ...)."""
    return nn.Conv2d(**params)


def lstm(**params: Any) -> nn.Module:
    """``nn.LSTM(**params)`` with ``batch_first=True`` unless given: inputs (batch, time, features)."""
    return nn.LSTM(**{"batch_first": True, **params})


class _SDPA(nn.Module):
    """``F.scaled_dot_product_attention(q, k, v)``; one input means self-attention (q = k = v)."""

    def __init__(self, is_causal: bool = False, scale: float | None = None):
        super().__init__()
        self.is_causal, self.scale = is_causal, scale

    def forward(self, q: torch.Tensor, k: torch.Tensor | None = None, v: torch.Tensor | None = None) -> torch.Tensor:
        k = q if k is None else k
        v = k if v is None else v
        return nn.functional.scaled_dot_product_attention(q, k, v, is_causal=self.is_causal, scale=self.scale)


def sdpa(**params: Any) -> nn.Module:
    """``F.scaled_dot_product_attention`` (params: is_causal, scale)."""
    return _SDPA(**params)


class _MHA(nn.Module):
    """``nn.MultiheadAttention``; one input means self-attention; returns the output only."""

    def __init__(self, **params: Any):
        super().__init__()
        self.mha = nn.MultiheadAttention(**{"batch_first": True, **params})

    def forward(self, q: torch.Tensor, k: torch.Tensor | None = None, v: torch.Tensor | None = None) -> torch.Tensor:
        k = q if k is None else k
        v = k if v is None else v
        return self.mha(q, k, v, need_weights=False)[0]


def multihead_attention(**params: Any) -> nn.Module:
    """``nn.MultiheadAttention(embed_dim, num_heads, batch_first=True, ...)``."""
    return _MHA(**params)


def transformer_encoder_layer(**params: Any) -> nn.Module:
    """``nn.TransformerEncoderLayer(d_model, nhead, batch_first=True, dropout=0.0, ...)``."""
    return nn.TransformerEncoderLayer(**{"batch_first": True, "dropout": 0.0, **params})


BUILTINS: dict[str, Callable[..., nn.Module]] = {
    "linear_stack": linear_stack,
    "conv2d": conv2d,
    "lstm": lstm,
    "sdpa": sdpa,
    "multihead_attention": multihead_attention,
    "transformer_encoder_layer": transformer_encoder_layer,
}
