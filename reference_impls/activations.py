"""Activation functions of the course notes, written from their definitions.

Shapes: every function is elementwise on any shape, except :func:`softmax` and
:func:`log_softmax` (normalise along ``dim``), :func:`maxout` (reduces groups of ``k``
consecutive features along the last axis: (..., m*k) -> (..., m)) and :func:`maxout_affine`
/ :class:`Maxout` ((..., in) -> (..., m)).

References
1. Notes 003 ("Activation functions": linear, sigmoid, tanh, hard tanh, softmax, ReLU, leaky
   ReLU, softplus); notes 004 ("Non-linearity": sigmoid, tanh, ReLU, leaky ReLU max(0.1x, x),
   maxout max(w1ᵀx + b1, w2ᵀx + b2), ELU; and the 4×4 ReLU worked example).
2. Clevert, Unterthiner, Hochreiter (2016), "Fast and Accurate Deep Network Learning by
   Exponential Linear Units (ELUs)".
3. Goodfellow, Warde-Farley, Mirza, Courville, Bengio (2013), "Maxout Networks".

Conventions: leaky ReLU's slope is a parameter ``a`` (notes 003 use 0.01, notes 004 use 0.1;
both are the same function family f(x) = max(ax, x) for 0 < a < 1). Notes 003 write the
linear activation as f(x) = W*x; as an activation (a scalar-to-scalar map) it is the identity,
the weight belonging to the layer. ELU follows notes 004 / Clevert et al.: x for x > 0,
alpha(e^x - 1) otherwise (the two branches meet at 0, so x = 0 maps to 0 either way).
"""
from __future__ import annotations

import torch

__all__ = [
    "linear", "sigmoid", "tanh", "hard_tanh", "softmax", "log_softmax", "relu", "leaky_relu",
    "softplus", "elu", "maxout", "maxout_affine", "Maxout", "ACTIVATIONS",
]


def linear(x: torch.Tensor) -> torch.Tensor:
    """f(x) = x (the identity activation)."""
    return x


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """σ(x) = 1 / (1 + e^(−x)), evaluated without overflow: e^(−|x|) never exceeds 1.

    −|x| is written where(x ≥ 0, −x, x) so that autograd's derivative at 0 is σ(0)(1 − σ(0)) = ¼:
    |x|'s autograd derivative at 0 is 0, which made σ′(0) = 0.
    """
    z = torch.exp(torch.where(x >= 0, -x, x))
    return torch.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh(x) = sinh x / cosh x = sign(x) · (1 − e^(−2|x|)) / (1 + e^(−2|x|)).

    With u = expm1(−2|x|) = e^(−2|x|) − 1 this is sign(x) · (−u) / (2 + u): no overflow, and
    no cancellation near 0 (1 − e^(−2|x|) computed directly loses all digits as x → 0). As in
    :func:`sigmoid`, −|x| is where(x ≥ 0, −x, x) and the sign a second where, so that autograd's
    derivative at 0 is tanh′(0) = 1 (|x| and torch.sign have derivative 0 at 0: tanh′(0) was 0).
    """
    u = torch.expm1(2.0 * torch.where(x >= 0, -x, x))
    t = (-u) / (2.0 + u)  # tanh |x|
    return torch.where(x >= 0, t, -t)


def hard_tanh(x: torch.Tensor) -> torch.Tensor:
    """f(x) = −1 if x < −1, x if −1 ≤ x ≤ 1, 1 if x > 1."""
    return torch.where(x < -1, -torch.ones_like(x), torch.where(x > 1, torch.ones_like(x), x))


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """softmax(x)_i = e^(x_i − max x) / Σ_j e^(x_j − max x): shifting by the max keeps e^· ≤ 1."""
    z = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return z / z.sum(dim=dim, keepdim=True)


def log_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log softmax(x)_i = x_i − logsumexp(x) = (x_i − m) − log Σ_j e^(x_j − m), m = max x.

    Subtracting m first keeps float32 accuracy at large |x|: x_i − logsumexp(x) loses ulp(m).
    """
    shifted = x - x.amax(dim=dim, keepdim=True).detach()  # the value does not depend on m
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))


def relu(x: torch.Tensor) -> torch.Tensor:
    """f(x) = max(0, x) (notes 003 print "max(o, x)": the o is a zero)."""
    return torch.where(x > 0, x, torch.zeros_like(x))


def leaky_relu(x: torch.Tensor, a: float = 0.01) -> torch.Tensor:
    """f(x) = x if x > 0 else a·x (slope ``a``: 0.01 in notes 003, 0.1 in notes 004)."""
    return torch.where(x > 0, x, a * x)


def softplus(x: torch.Tensor) -> torch.Tensor:
    """f(x) = log(1 + e^x) = max(x, 0) + log1p(e^(−|x|)) (stable for large |x|).

    max(x, 0) is written (x + |x|)/2 (exact in floating point) so that autograd's derivative
    at 0 is ½ + 0 = σ(0); ``x.clamp(min=0)`` would give f′(0) = 1.
    """
    return 0.5 * (x + x.abs()) + torch.log1p(torch.exp(-x.abs()))


def elu(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """f(x) = x if x > 0 else α(e^x − 1)."""
    return torch.where(x > 0, x, alpha * torch.expm1(x.clamp(max=0)))


def maxout(x: torch.Tensor, k: int) -> torch.Tensor:
    """Maxout over groups of ``k`` consecutive features: (…, m·k) -> (…, m), y_j = max_i x_{j·k+i}."""
    if x.shape[-1] % k:
        raise ValueError(f"maxout: last dimension {x.shape[-1]} is not a multiple of k={k}")
    return x.unflatten(-1, (x.shape[-1] // k, k)).amax(dim=-1)


def maxout_affine(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, k: int) -> torch.Tensor:
    """Maxout unit of notes 004: y_j = max_{i<k} (w_{j,i}ᵀ x + b_{j,i}).

    Args: x (…, in); weight (m·k, in) and bias (m·k,), rows j·k … j·k+k−1 form unit j's pieces
    (nn.Linear layout). Returns (…, m). With k = 2, w = (1, −1), b = 0 it is |x|; with
    w = (1, 0), b = 0 it is ReLU (Goodfellow et al. 2013, section 3).
    """
    return maxout(torch.nn.functional.linear(x, weight, bias), k)


class Maxout(torch.nn.Module):
    """A maxout layer: ``in_features`` -> ``out_features`` units, each the max of ``k`` affine pieces."""

    def __init__(self, in_features: int, out_features: int, k: int = 2) -> None:
        super().__init__()
        self.k = k
        self.linear = torch.nn.Linear(in_features, out_features * k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., in) -> (..., out)
        return maxout_affine(x, self.linear.weight, self.linear.bias, self.k)


ACTIVATIONS = {
    "linear": linear, "sigmoid": sigmoid, "tanh": tanh, "hard_tanh": hard_tanh, "relu": relu,
    "leaky_relu": leaky_relu, "softplus": softplus, "elu": elu,
}
