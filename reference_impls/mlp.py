"""Multilayer perceptron (fully connected feed-forward network) with explicit weights and biases.

Shapes: x (..., sizes[0]) -> (..., sizes[-1]). Layer l (l = 1 … L) holds W_l (sizes[l], sizes[l−1])
(``nn.Linear``'s layout) and b_l (sizes[l],):

    a_0 = x,   z_l = a_{l−1} W_lᵀ + b_l,   a_l = f(z_l) for l < L,   y = g(z_L)

with hidden activation f and output activation g (default: linear, i.e. logits). Any depth:
``sizes`` of length 2 is a single affine layer. Parameters: Σ_l (sizes[l−1]·sizes[l] + sizes[l]).

Initialisation matches ``nn.Linear``: W, b ~ U(−1/√n_in, 1/√n_in).

References
1. Notes 003, "Neural Networks" / "Multilayer Neural Networks Topology": connection weights,
   biases ("scalar values added to the input"), activation functions.
2. Rumelhart, Hinton, Williams (1986), "Learning representations by back-propagating errors"
   (the backward recursion of :func:`mlp_backward`).
3. Minsky, Papert (1969), "Perceptrons" (XOR is not linearly separable; one hidden layer suffices).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

__all__ = ["MLPConfig", "MLP", "affine", "mlp_forward", "mlp_backward", "parameter_count", "ACTIVATIONS"]


def _sigmoid(z: Tensor) -> Tensor:
    return torch.sigmoid(z)


# name -> (f, f′ written in terms of z)
ACTIVATIONS: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "linear": (lambda z: z, lambda z: torch.ones_like(z)),
    "relu": (torch.relu, lambda z: (z > 0).to(z.dtype)),
    "tanh": (torch.tanh, lambda z: 1 - torch.tanh(z) ** 2),
    "sigmoid": (_sigmoid, lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z))),
}


@dataclass(frozen=True)
class MLPConfig:
    """Layer sizes [n_0 (input), n_1, …, n_L (output)], hidden activation, output activation."""

    sizes: tuple[int, ...]
    activation: str = "relu"
    output_activation: str = "linear"

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", tuple(int(s) for s in self.sizes))
        if len(self.sizes) < 2 or any(s <= 0 for s in self.sizes):
            raise ValueError(f"MLP sizes must list >= 2 positive layer widths, got {self.sizes}")
        for a in (self.activation, self.output_activation):
            if a not in ACTIVATIONS:
                raise ValueError(f"unknown activation {a!r}; allowed: {', '.join(ACTIVATIONS)}")

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def n_params(self) -> int:
        return parameter_count(self.sizes)


def parameter_count(sizes: Sequence[int]) -> int:
    """Σ_l (n_{l−1}·n_l + n_l): one weight per connection plus one bias per non-input unit."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def affine(a: Tensor, W: Tensor, b: Tensor) -> Tensor:
    """z = a Wᵀ + b for a (..., n_in), W (n_out, n_in), b (n_out,); one fused addmm for a batch matrix."""
    return torch.addmm(b, a, W.T) if a.dim() == 2 else a @ W.T + b


def mlp_forward(x: Tensor, weights: Sequence[Tensor], biases: Sequence[Tensor], activation: str = "relu",
                output_activation: str = "linear") -> Tensor:
    """y = g(z_L), z_l = a_{l−1} W_lᵀ + b_l, a_l = f(z_l), a_0 = x. x: (..., n_0) -> (..., n_L)."""
    f, g = ACTIVATIONS[activation][0], ACTIVATIONS[output_activation][0]
    a = x
    for l, (W, b) in enumerate(zip(weights, biases)):
        z = affine(a, W, b)
        a = g(z) if l == len(weights) - 1 else f(z)
    return a


def mlp_backward(x: Tensor, weights: Sequence[Tensor], biases: Sequence[Tensor], grad_out: Tensor,
                 activation: str = "relu", output_activation: str = "linear"
                 ) -> tuple[list[Tensor], list[Tensor], Tensor]:
    """Backpropagation for a batch x (B, n_0) given ∂L/∂y = ``grad_out`` (B, n_L):

    δ_L = ∂L/∂y ⊙ g′(z_L);  ∂L/∂W_l = δ_lᵀ a_{l−1};  ∂L/∂b_l = Σ_batch δ_l;
    δ_{l−1} = (δ_l W_l) ⊙ f′(z_{l−1});  ∂L/∂x = δ_1 W_1.
    Returns ([∂L/∂W_l], [∂L/∂b_l], ∂L/∂x).
    """
    f, df = ACTIVATIONS[activation]
    dg = ACTIVATIONS[output_activation][1]
    acts, zs = [x], []
    for l, (W, b) in enumerate(zip(weights, biases)):
        z = affine(acts[-1], W, b)
        zs.append(z)
        if l < len(weights) - 1:
            acts.append(f(z))
    delta = grad_out * dg(zs[-1])
    gW: list[Tensor] = [None] * len(weights)  # type: ignore[list-item]
    gb: list[Tensor] = [None] * len(weights)  # type: ignore[list-item]
    for l in range(len(weights) - 1, -1, -1):
        gW[l] = delta.T @ acts[l]
        gb[l] = delta.sum(0)
        back = delta @ weights[l]
        delta = back * df(zs[l - 1]) if l > 0 else back
    return gW, gb, delta


class MLP(nn.Module):
    """Fully connected network with ``weights[l]`` (n_{l+1}, n_l) and ``biases[l]`` (n_{l+1},)."""

    def __init__(self, sizes: Sequence[int], activation: str = "relu", output_activation: str = "linear") -> None:
        super().__init__()
        self.config = MLPConfig(tuple(sizes), activation, output_activation)
        s = self.config.sizes
        self.weights = nn.ParameterList([nn.Parameter(torch.empty(o, i)) for i, o in zip(s[:-1], s[1:])])
        self.biases = nn.ParameterList([nn.Parameter(torch.empty(o)) for o in s[1:]])
        self.reset_parameters()

    @classmethod
    def from_config(cls, config: MLPConfig) -> "MLP":
        return cls(config.sizes, config.activation, config.output_activation)

    def reset_parameters(self) -> None:
        for W, b in zip(self.weights, self.biases):
            bound = 1.0 / math.sqrt(W.shape[1])  # nn.Linear's default U(−1/√n_in, 1/√n_in)
            nn.init.uniform_(W, -bound, bound)
            nn.init.uniform_(b, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:  # (..., n_0) -> (..., n_L)
        return mlp_forward(x, list(self.weights), list(self.biases), self.config.activation,
                           self.config.output_activation)

    def extra_repr(self) -> str:
        c = self.config
        return f"sizes={list(c.sizes)}, activation={c.activation!r}, output_activation={c.output_activation!r}"
