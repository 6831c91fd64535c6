"""Every activation check passes on reference_impls.activations and rejects a broken variant."""
from __future__ import annotations

import pytest
import torch

from harness.testing import patched, run_check

REF = "reference_impls.activations"


def _naive_softmax(x, dim=-1):
    e = torch.exp(x)  # no max-subtraction: overflows for large logits
    return e / e.sum(dim=dim, keepdim=True)


def _softmax_detached_norm(x, dim=-1):
    z = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return z / z.sum(dim=dim, keepdim=True).detach()  # right values, wrong Jacobian


def _maxout_strided(x, k):
    # groups features j, j+m, j+2m, ... instead of k consecutive features
    return x.unflatten(-1, (k, x.shape[-1] // k)).amax(dim=-2)


def _maxout_with_zero(x, k):
    return x.unflatten(-1, (x.shape[-1] // k, k)).amax(dim=-1).clamp(min=0)


def _maxout_affine_min(x, weight, bias, k):
    z = torch.nn.functional.linear(x, weight, bias)
    return z.unflatten(-1, (z.shape[-1] // k, k)).amin(dim=-1)


SANITY = [
    ("softmax_sums_to_one", {}),
    ("softmax_shift_invariant", {}),
    ("softmax_finite_at_extreme_logits", {}),
    ("softmax_jacobian", {}),
    ("tanh_is_rescaled_sigmoid", {}),
    ("softplus_derivative_is_sigmoid", {}),
    ("hard_tanh_is_clamp", {}),
    ("relu_worked_example", {}),
    ("maxout_matches_max_pool", {"k": 4}),
    ("maxout_k1_is_identity", {}),
    ("maxout_represents_abs_and_relu", {}),
] + [("activation_matches_torch", {"activation": a}) for a in
     ("linear", "sigmoid", "tanh", "hard_tanh", "softmax", "log_softmax", "relu", "softplus")] + [
    ("activation_matches_torch", {"activation": "leaky_relu", "kwargs": {"a": 0.1}}),
    ("activation_matches_torch", {"activation": "leaky_relu", "kwargs": {"a": 0.01}}),
    ("activation_matches_torch", {"activation": "elu", "kwargs": {"alpha": 0.5}}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,params", SANITY, ids=[f"{n}-{p.get('activation', '')}" for n, p in SANITY])
def test_reference_passes(name, params, dtype):
    out = run_check(name, REF, dtype=dtype, **params)
    assert out.passed, out.line()


def test_softmax_sums_to_one_rejects_unnormalised():
    bad = patched(REF, softmax=lambda x, dim=-1: x.exp())
    assert not run_check("softmax_sums_to_one", bad).passed


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_shift_invariant_rejects_naive_exp(dtype):
    assert not run_check("softmax_shift_invariant", patched(REF, softmax=_naive_softmax), dtype=dtype).passed


def test_softmax_shift_invariant_rejects_non_invariant():
    bad = patched(REF, softmax=lambda x, dim=-1: torch.softmax(x / (1 + x.abs().amax(dim, keepdim=True)), dim))
    assert not run_check("softmax_shift_invariant", bad).passed


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_finite_at_extreme_logits_rejects_naive_exp(dtype):
    bad = patched(REF, softmax=_naive_softmax)
    assert not run_check("softmax_finite_at_extreme_logits", bad, dtype=dtype).passed


def test_softmax_jacobian_rejects_detached_normaliser():
    bad = patched(REF, softmax=_softmax_detached_norm)
    assert run_check("softmax_sums_to_one", bad).passed  # the values are right ...
    assert not run_check("softmax_jacobian", bad).passed  # ... the derivative is not


def test_tanh_is_rescaled_sigmoid_rejects_missing_factor_two():
    bad = patched(REF, tanh=lambda x: 2 * torch.sigmoid(x) - 1)
    assert not run_check("tanh_is_rescaled_sigmoid", bad).passed


def test_softplus_derivative_rejects_clamp_kink():
    # the previous reference softplus: right values, but autograd gives f'(0) = 1, not σ(0) = ½
    bad = patched(REF, softplus=lambda x: x.clamp(min=0) + torch.log1p(torch.exp(-x.abs())))
    assert run_check("activation_matches_torch", bad, activation="softplus").passed
    assert not run_check("softplus_derivative_is_sigmoid", bad).passed


def test_softplus_derivative_rejects_naive_log1p_exp():
    bad = patched(REF, softplus=lambda x: torch.log1p(torch.exp(x)))  # exp(1e4) = inf -> nan gradient
    assert not run_check("softplus_derivative_is_sigmoid", bad).passed


def test_hard_tanh_is_clamp_rejects_smooth_tanh():
    assert not run_check("hard_tanh_is_clamp", patched(REF, hard_tanh=torch.tanh)).passed


def test_hard_tanh_is_clamp_rejects_strict_inequality_slip():
    bad = patched(REF, hard_tanh=lambda x: torch.where(x.abs() >= 1, torch.sign(x), x).clamp(-0.999, 0.999))
    assert not run_check("hard_tanh_is_clamp", bad).passed


def test_relu_worked_example_rejects_leaky():
    bad = patched(REF, relu=lambda x: torch.nn.functional.leaky_relu(x, 0.01))
    assert not run_check("relu_worked_example", bad).passed


@pytest.mark.parametrize("activation,kwargs,broken", [
    ("leaky_relu", {"a": 0.1}, lambda x, a=0.01: torch.where(x > 0, x, 0.01 * x)),  # slope ignored
    ("elu", {"alpha": 0.5}, lambda x, alpha=1.0: torch.where(x > 0, x, torch.expm1(x))),  # alpha ignored
    ("softplus", {}, lambda x: torch.log1p(torch.exp(x))),  # overflows at 1e4
    ("sigmoid", {}, lambda x: 1 / (1 + torch.exp(x))),  # sign slip
    ("tanh", {}, lambda x: torch.sinh(x) / torch.cosh(x)),  # inf/inf at ±1e4
    ("softmax", {}, _naive_softmax),
    ("relu", {}, torch.abs),
    ("hard_tanh", {}, lambda x: x.clamp(0, 1)),
    ("linear", {}, lambda x: 2 * x),
])
def test_activation_matches_torch_rejects(activation, kwargs, broken):
    bad = patched(REF, **{activation: broken})
    assert not run_check("activation_matches_torch", bad, activation=activation, kwargs=kwargs).passed


def test_activation_matches_torch_rejects_unshifted_log_softmax_in_float32():
    # x − logsumexp(x) is exact math but loses ulp(1e4) ≈ 1e-3 on the row of logits near −1e4
    bad = patched(REF, log_softmax=lambda x, dim=-1: x - torch.logsumexp(x, dim=dim, keepdim=True))
    assert not run_check("activation_matches_torch", bad, dtype="float32", activation="log_softmax").passed


def test_maxout_matches_max_pool_rejects_strided_groups():
    assert not run_check("maxout_matches_max_pool", patched(REF, maxout=_maxout_strided)).passed


def test_maxout_k1_is_identity_rejects_clamped_max():
    assert not run_check("maxout_k1_is_identity", patched(REF, maxout=_maxout_with_zero)).passed


def test_maxout_represents_abs_and_relu_rejects_min():
    assert not run_check("maxout_represents_abs_and_relu", patched(REF, maxout_affine=_maxout_affine_min)).passed
