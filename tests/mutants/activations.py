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
