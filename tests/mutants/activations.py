"""Broken variants of the activation functions (harness/checks/activations.py)."""
from __future__ import annotations

import torch

from harness.testing import broken, patched

REF = "reference_impls.activations"


def naive_softmax(x, dim=-1):
    e = torch.exp(x)  # no max-subtraction: overflows for large logits
    return e / e.sum(dim=dim, keepdim=True)


def softmax_detached_norm(x, dim=-1):
    z = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return z / z.sum(dim=dim, keepdim=True).detach()  # right values, wrong Jacobian


def softplus_clamp_kink(x):
    """The previous reference softplus: right values, but autograd gives f′(0) = 1, not σ(0) = ½."""
    return x.clamp(min=0) + torch.log1p(torch.exp(-x.abs()))


def _maxout_strided(x, k):
    # groups features j, j+m, j+2m, ... instead of k consecutive features
    return x.unflatten(-1, (k, x.shape[-1] // k)).amax(dim=-2)


def _maxout_with_zero(x, k):
    return x.unflatten(-1, (x.shape[-1] // k, k)).amax(dim=-1).clamp(min=0)


def _maxout_affine_min(x, weight, bias, k):
    z = torch.nn.functional.linear(x, weight, bias)
    return z.unflatten(-1, (z.shape[-1] // k, k)).amin(dim=-1)


def _bad(**cores):
    return patched(REF, **cores)


# activation_matches_torch: (label, activation, its kwargs, broken function)
_NOT_TORCH = [
    ("leaky_relu ignores its slope", "leaky_relu", {"a": 0.1}, lambda x, a=0.01: torch.where(x > 0, x, 0.01 * x)),
    ("elu ignores alpha", "elu", {"alpha": 0.5}, lambda x, alpha=1.0: torch.where(x > 0, x, torch.expm1(x))),
    ("softplus overflows at 1e4", "softplus", {}, lambda x: torch.log1p(torch.exp(x))),
    ("sigmoid sign slip", "sigmoid", {}, lambda x: 1 / (1 + torch.exp(x))),
    ("tanh as sinh/cosh (inf/inf at ±1e4)", "tanh", {}, lambda x: torch.sinh(x) / torch.cosh(x)),
    ("softmax without max-subtraction", "softmax", {}, naive_softmax),
    ("relu as abs", "relu", {}, torch.abs),
    ("hard_tanh clamps to [0, 1]", "hard_tanh", {}, lambda x: x.clamp(0, 1)),
    ("linear doubles", "linear", {}, lambda x: 2 * x),
]

MUTANTS = {
    "softmax_sums_to_one": [
        broken("unnormalised exp", _bad(softmax=lambda x, dim=-1: x.exp())),
    ],
    "softmax_shift_invariant": [
        broken("naive exp float32", _bad(softmax=naive_softmax), dtype="float32"),
        broken("naive exp float64", _bad(softmax=naive_softmax), dtype="float64"),
        broken("not shift invariant", _bad(
            softmax=lambda x, dim=-1: torch.softmax(x / (1 + x.abs().amax(dim, keepdim=True)), dim))),
    ],
    "softmax_finite_at_extreme_logits": [
        broken("naive exp float32", _bad(softmax=naive_softmax), dtype="float32"),
        broken("naive exp float64", _bad(softmax=naive_softmax), dtype="float64"),
    ],
    "softmax_jacobian": [
        broken("detached normaliser", _bad(softmax=softmax_detached_norm)),
    ],
    "tanh_is_rescaled_sigmoid": [
        broken("missing factor two", _bad(tanh=lambda x: 2 * torch.sigmoid(x) - 1)),
    ],
    "softplus_derivative_is_sigmoid": [
        broken("clamp kink at 0", _bad(softplus=softplus_clamp_kink)),
        broken("naive log1p(exp) (nan gradient at 1e4)", _bad(softplus=lambda x: torch.log1p(torch.exp(x)))),
    ],
    "hard_tanh_is_clamp": [
        broken("smooth tanh", _bad(hard_tanh=torch.tanh)),
        broken("strict inequality slip", _bad(
            hard_tanh=lambda x: torch.where(x.abs() >= 1, torch.sign(x), x).clamp(-0.999, 0.999))),
    ],
    "relu_worked_example": [
        broken("leaky", _bad(relu=lambda x: torch.nn.functional.leaky_relu(x, 0.01))),
    ],
    "activation_matches_torch": [
        broken(label, _bad(**{activation: fn}), activation=activation, kwargs=kwargs)
        for label, activation, kwargs, fn in _NOT_TORCH
    ] + [
        # x − logsumexp(x) is exact math but loses ulp(1e4) ≈ 1e-3 on the row of logits near −1e4
        broken("unshifted log_softmax float32", _bad(
            log_softmax=lambda x, dim=-1: x - torch.logsumexp(x, dim=dim, keepdim=True)),
            dtype="float32", activation="log_softmax"),
    ],
    "maxout_matches_max_pool": [
        broken("strided groups", _bad(maxout=_maxout_strided)),
        broken("strided groups, k = 4", _bad(maxout=_maxout_strided), k=4),
    ],
    "maxout_k1_is_identity": [
        broken("max clamped at 0", _bad(maxout=_maxout_with_zero)),
    ],
    "maxout_represents_abs_and_relu": [
        broken("min instead of max", _bad(maxout_affine=_maxout_affine_min)),
    ],
}


# --- autograd derivatives (activation_gradient_matches_torch) ---------------------------------------
def sigmoid_abs_kink(x):
    """The previous reference sigmoid: right values, but |x|'s autograd derivative 0 at 0 gives σ′(0) = 0."""
    z = torch.exp(-x.abs())
    return torch.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def tanh_sign_kink(x):
    """The previous reference tanh: right values, but sign(x) at 0 gives tanh′(0) = 0."""
    u = torch.expm1(-2.0 * x.abs())
    return torch.sign(x) * (-u) / (2.0 + u)


def log_softmax_detached_norm(x, dim=-1):
    shifted = x - x.amax(dim=dim, keepdim=True)
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True)).detach()


# (label, activation, kwargs, broken function)
_NOT_TORCH_GRAD = [
    ("sigmoid′(0) = 0 (|x| kink)", "sigmoid", {}, sigmoid_abs_kink),
    ("tanh′(0) = 0 (sign kink)", "tanh", {}, tanh_sign_kink),
    ("relu′(0) = 1", "relu", {}, lambda x: torch.where(x >= 0, x, torch.zeros_like(x))),
    ("leaky_relu′(0) = 1", "leaky_relu", {"a": 0.1}, lambda x, a=0.01: torch.where(x >= 0, x, a * x)),
    ("elu′(0) = 1, not α", "elu", {"alpha": 0.5},
     lambda x, alpha=1.0: torch.where(x >= 0, x, alpha * torch.expm1(x.clamp(max=0)))),
    ("hard_tanh′(±1) = 0 (F.hardtanh's backward)", "hard_tanh", {}, lambda x: torch.nn.functional.hardtanh(x)),
    ("softplus with clamp kink", "softplus", {}, softplus_clamp_kink),
    ("log_softmax with detached normaliser", "log_softmax", {}, log_softmax_detached_norm),
    ("softmax with detached normaliser", "softmax", {}, softmax_detached_norm),
    ("linear detached", "linear", {}, lambda x: x.detach()),
]

MUTANTS["activation_gradient_matches_torch"] = [
    broken(label, _bad(**{activation: fn}), activation=activation, kwargs=kwargs)
    for label, activation, kwargs, fn in _NOT_TORCH_GRAD
] + [
    broken("sigmoid′(0) = 0 float32", _bad(sigmoid=sigmoid_abs_kink), dtype="float32", activation="sigmoid"),
]


# --- the maxout layer (maxout_layer_is_max_of_affine_pieces) ----------------------------------------
class MaxoutMin(torch.nn.Module):
    """Takes the min of the pieces."""

    def __init__(self, in_features, out_features, k=2):
        super().__init__()
        self.k = k
        self.linear = torch.nn.Linear(in_features, out_features * k)

    def forward(self, x):
        return _maxout_affine_min(x, self.linear.weight, self.linear.bias, self.k)


class MaxoutStrided(MaxoutMin):
    def forward(self, x):
        return _maxout_strided(self.linear(x), self.k)


class MaxoutDetached(MaxoutMin):
    """Right values, no gradient to the weights."""

    def forward(self, x):
        z = torch.nn.functional.linear(x, self.linear.weight.detach(), self.linear.bias.detach())
        return z.unflatten(-1, (z.shape[-1] // self.k, self.k)).amax(dim=-1)


class MaxoutOnePieceTooFew(MaxoutMin):
    """out·(k − 1) pieces: the unit count comes out wrong."""

    def __init__(self, in_features, out_features, k=2):
        super().__init__(in_features, out_features, k - 1)
        self.k = k


MUTANTS["maxout_layer_is_max_of_affine_pieces"] = [
    broken("min of the pieces", _bad(Maxout=MaxoutMin)),
    broken("strided groups", _bad(Maxout=MaxoutStrided)),
    broken("weights detached", _bad(Maxout=MaxoutDetached)),
    broken("out·(k − 1) pieces", _bad(Maxout=MaxoutOnePieceTooFew)),
]
