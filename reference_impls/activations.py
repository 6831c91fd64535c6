"""Activation functions of the course notes, written from their definitions.

Shapes: every function is elementwise on any shape, except :func:`softmax` (normalises
along ``dim``) and :func:`maxout` (reduces groups of ``k`` features along the last axis).

References
1. Notes 003 ("Activation functions": linear, sigmoid, tanh, hard tanh, softmax, ReLU, leaky
   ReLU, softplus); notes 004 (ReLU worked example, leaky ReLU with slope 0.1).
2. Clevert, Unterthiner, Hochreiter (2016), "Fast and Accurate Deep Network Learning by
   Exponential Linear Units (ELUs)".
3. Goodfellow, Warde-Farley, Mirza, Courville, Bengio (2013), "Maxout Networks".

Conventions: leaky ReLU's slope is a parameter ``a`` (notes 003 use 0.01, notes 004 use 0.1;
both are the same function family f(x) = max(ax, x) for 0 < a < 1).
"""
from __future__ import annotations

import torch

__all__ = [
    "linear", "sigmoid", "tanh", "hard_tanh", "softmax", "log_softmax", "relu", "leaky_relu",
    "softplus", "elu", "maxout", "ACTIVATIONS",
]


def linear(x: torch.Tensor) -> torch.Tensor:
    """f(x) = x (the identity activation)."""
    return x


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """σ(x) = 1 / (1 + e^(−x)), evaluated without overflow: e^(−|x|) never exceeds 1."""
    z = torch.exp(-x.abs())
    return torch.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh(x) = (e^x − e^(−x)) / (e^x + e^(−x)) = (1 − e^(−2|x|)) / (1 + e^(−2|x|)) · sign(x)."""
    z = torch.exp(-2.0 * x.abs())
    return torch.sign(x) * (1.0 - z) / (1.0 + z)


def hard_tanh(x: torch.Tensor) -> torch.Tensor:
    """f(x) = −1 if x < −1, x if −1 ≤ x ≤ 1, 1 if x > 1."""
    return torch.where(x < -1, -torch.ones_like(x), torch.where(x > 1, torch.ones_like(x), x))


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """softmax(x)_i = e^(x_i − max x) / Σ_j e^(x_j − max x): shifting by the max keeps e^· ≤ 1."""
    z = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return z / z.sum(dim=dim, keepdim=True)


def log_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log softmax(x)_i = x_i − logsumexp(x)."""
    return x - torch.logsumexp(x, dim=dim, keepdim=True)


def relu(x: torch.Tensor) -> torch.Tensor:
    """f(x) = max(0, x)."""
    return torch.where(x > 0, x, torch.zeros_like(x))


def leaky_relu(x: torch.Tensor, a: float = 0.01) -> torch.Tensor:
    """f(x) = x if x > 0 else a·x (slope ``a``: 0.01 in notes 003, 0.1 in notes 004)."""
    return torch.where(x > 0, x, a * x)


def softplus(x: torch.Tensor) -> torch.Tensor:
    """f(x) = log(1 + e^x) = max(x, 0) + log1p(e^(−|x|)) (stable for large |x|)."""
    return x.clamp(min=0) + torch.log1p(torch.exp(-x.abs()))


def elu(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """f(x) = x if x > 0 else α(e^x − 1)."""
    return torch.where(x > 0, x, alpha * torch.expm1(x.clamp(max=0)))


def maxout(x: torch.Tensor, k: int) -> torch.Tensor:
    """Maxout over groups of ``k`` consecutive features: (…, m·k) -> (…, m), y_j = max_i x_{j,i}."""
    if x.shape[-1] % k:
        raise ValueError(f"maxout: last dimension {x.shape[-1]} is not a multiple of k={k}")
    return x.unflatten(-1, (x.shape[-1] // k, k)).amax(dim=-1)


ACTIVATIONS = {
    "linear": linear, "sigmoid": sigmoid, "tanh": tanh, "hard_tanh": hard_tanh, "relu": relu,
    "leaky_relu": leaky_relu, "softplus": softplus, "elu": elu,
}
