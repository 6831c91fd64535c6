"""Regularisers of the course notes: dropout, DropConnect, L1 and L2 penalties.

Shapes: :func:`dropout` is elementwise on any shape; :func:`drop_connect_linear` and
:class:`DropConnectLinear` map (..., in) -> (..., out) with an ``nn.Linear``-layout weight
(out, in). :func:`l1_penalty` / :func:`l2_penalty` take a tensor or an iterable of tensors.

Conventions (spelled out because they differ between texts):

* ``p`` is the probability of *dropping* a unit (torch's convention; Srivastava et al. use the
  keep probability). Dropout is *inverted*: kept units are scaled by 1/(1 − p) during training, so
  E[dropout(x)] = x and evaluation is the identity (no rescaling at test time).
* DropConnect drops each *weight* independently with probability ``p`` and scales the kept ones
  by 1/(1 − p) (inverted, like dropout; Wan et al. instead average over masks at inference). One
  mask is drawn per call and shared by every row of the batch; evaluation uses the full weights.
  The bias is not dropped.
* L2: R(w) = (λ/2)·Σ w² (notes 003: "half the sum of the squared weights" times the weight cost),
  so ∇R = λw and an SGD step on loss + R equals torch.optim.SGD(weight_decay=λ) on the loss.
* L1: R(w) = λ·Σ|w| (no ½), subgradient λ·sign(w); its proximal map is soft-thresholding
  prox_{tλ‖·‖₁}(v) = sign(v)·max(|v| − tλ, 0). :func:`lasso_ista` minimises
  (1/2n)‖y − Xw‖² + λ‖w‖₁ — scikit-learn's Lasso objective with alpha = λ.

References
1. Notes 003, "Regularization": dropout, DropConnect, L1 penalty, L2 penalty (weight cost × half
   the sum of squared weights).
2. Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov (2014), "Dropout: A Simple Way to
   Prevent Neural Networks from Overfitting", JMLR 15.
3. Wan, Zeiler, Zhang, LeCun, Fergus (2013), "Regularization of Neural Networks using
   DropConnect", ICML.
4. Tibshirani (1996), "Regression Shrinkage and Selection via the Lasso"; Beck, Teboulle (2009),
   "A Fast Iterative Shrinkage-Thresholding Algorithm" (ISTA/FISTA, proximal gradient).
"""
from __future__ import annotations

import math
from typing import Iterable

import torch
from torch import Tensor, nn

__all__ = [
    "dropout", "dropout_mask", "Dropout", "drop_connect_linear", "DropConnectLinear",
    "l1_penalty", "l2_penalty", "soft_threshold", "lasso_ista",
]


def dropout_mask(shape: torch.Size | tuple[int, ...], p: float, *, like: Tensor,
                 generator: torch.Generator | None = None) -> Tensor:
    """Keep-mask m with m_i ~ Bernoulli(1 − p), i.i.d., in ``like``'s dtype and device.

    The uniforms are drawn in float32 at least (a bfloat16 uniform has 8 significant bits, which
    would bias P(u ≥ p)).
    """
    dt = like.dtype if like.dtype in (torch.float32, torch.float64) else torch.float32
    u = torch.rand(shape, generator=generator, device=like.device, dtype=dt)
    return (u >= p).to(like.dtype)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, generator: torch.Generator | None = None,
            mask: Tensor | None = None) -> Tensor:
    """Inverted dropout: y = m ⊙ x / (1 − p), m_i ~ Bernoulli(1 − p), in training; y = x otherwise.

    E[y] = x; each unit is zeroed with probability p. ``mask`` (0/1, x's shape) may be given
    instead of drawing one; ``generator`` draws it on x's device. p = 1 drops everything (y = 0).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:  # y = 0 as a function of x (gradient 0), not a constant cut from the graph
        return x.masked_fill(torch.ones_like(x, dtype=torch.bool), 0.0)
    m = dropout_mask(x.shape, p, like=x, generator=generator) if mask is None else mask.to(x.dtype)
    return x * m / (1.0 - p)


class Dropout(nn.Module):
    """Inverted dropout layer: :func:`dropout` in ``train()`` mode, identity in ``eval()`` mode."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return dropout(x, self.p, self.training, generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def drop_connect_linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, p: float = 0.5,
                        training: bool = True, generator: torch.Generator | None = None,
                        mask: Tensor | None = None) -> Tensor:
    """DropConnect affine map: y = x (M ⊙ W)ᵀ / (1 − p) + b, M_ij ~ Bernoulli(1 − p), in training;
    y = x Wᵀ + b otherwise.

    Args: x (..., in); weight (out, in); bias (out,) or None; mask (out, in) optional.
    Returns (..., out). E[y] = x Wᵀ + b. One mask per call, shared across the batch.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"DropConnect probability must be in [0, 1), got {p}")
    if training and p > 0.0:
        m = dropout_mask(weight.shape, p, like=weight, generator=generator) if mask is None else mask.to(weight.dtype)
        weight = weight * m / (1.0 - p)
    y = x @ weight.T
    return y + bias if bias is not None else y


class DropConnectLinear(nn.Module):
    """A linear layer whose weights are dropped (DropConnect) during training."""

    def __init__(self, in_features: int, out_features: int, p: float = 0.5, bias: bool = True) -> None:
        super().__init__()
        self.p = p
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        bound = 1.0 / math.sqrt(in_features)  # nn.Linear's default: U(−1/√in, 1/√in)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:  # (..., in) -> (..., out)
        return drop_connect_linear(x, self.weight, self.bias, self.p, self.training, generator)


def _tensors(params: Tensor | Iterable[Tensor]) -> list[Tensor]:
    return [params] if isinstance(params, Tensor) else list(params)


def l2_penalty(params: Tensor | Iterable[Tensor], lam: float) -> Tensor:
    """R(w) = (λ/2)·Σ_i w_i² over every tensor (∇R = λw: SGD weight decay λ)."""
    return 0.5 * lam * sum((w * w).sum() for w in _tensors(params))


def l1_penalty(params: Tensor | Iterable[Tensor], lam: float) -> Tensor:
    """R(w) = λ·Σ_i |w_i| over every tensor (subgradient λ·sign(w))."""
    return lam * sum(w.abs().sum() for w in _tensors(params))


def soft_threshold(v: Tensor, t: float | Tensor) -> Tensor:
    """prox_{t‖·‖₁}(v) = argmin_w ½‖w − v‖² + t‖w‖₁ = sign(v)·max(|v| − t, 0)."""
    return torch.sign(v) * torch.clamp(v.abs() - t, min=0.0)


def lasso_ista(X: Tensor, y: Tensor, lam: float, *, steps: int = 500, w0: Tensor | None = None) -> Tensor:
    """Proximal gradient (ISTA) for min_w (1/2n)‖y − Xw‖² + λ‖w‖₁ (L1-regularised least squares).

    w ← soft_threshold(w − η∇f(w), ηλ), ∇f(w) = Xᵀ(Xw − y)/n, η = 1/L with L = ‖X‖₂²/n the
    gradient's Lipschitz constant. Converges at rate (1 − μ/L)ᵏ when XᵀX/n ≻ μI. X: (n, d), y: (n,).
    """
    n = X.shape[0]
    L = float(torch.linalg.matrix_norm(X, ord=2)) ** 2 / n
    eta = 1.0 / L
    w = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device) if w0 is None else w0.clone()
    for _ in range(steps):
        w = soft_threshold(w - eta * (X.T @ (X @ w - y)) / n, eta * lam)
    return w
