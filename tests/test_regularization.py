"""Every regularisation check accepts reference_impls.regularization and rejects a broken variant."""
from __future__ import annotations

import pytest
import torch

from harness.testing import patched, run_check
from reference_impls import regularization as R

REF = "reference_impls.regularization"


def dropout_not_inverted(x, p=0.5, training=True, generator=None, mask=None):
    """Classic (non-inverted) dropout: kept units are not rescaled during training."""
    return x * R.dropout_mask(x.shape, p, like=x, generator=generator) if training else x


def dropout_keep_prob_confused(x, p=0.5, training=True, generator=None, mask=None):
    """p read as the keep probability."""
    return R.dropout(x, 1 - p, training, generator) if training else x


def dropout_scaled_by_keep(x, p=0.5, training=True, generator=None, mask=None):
    return x * R.dropout_mask(x.shape, p, like=x, generator=generator) * (1 - p) if training else x


def dropout_ignores_training(x, p=0.5, training=True, generator=None, mask=None):
    return R.dropout(x, p, True, generator)


class DropoutIgnoresEval(R.Dropout):
    def forward(self, x, generator=None):
        return R.dropout(x, self.p, True, generator)


def dc_not_inverted(x, weight, bias=None, p=0.5, training=True, generator=None, mask=None):
    w = weight * R.dropout_mask(weight.shape, p, like=weight, generator=generator) if training else weight
    return x @ w.T + (bias if bias is not None else 0)


def dc_keep_prob_confused(x, weight, bias=None, p=0.5, training=True, generator=None, mask=None):
    return R.drop_connect_linear(x, weight, bias, 1 - p, training, generator)


def dc_scales_at_eval(x, weight, bias=None, p=0.5, training=True, generator=None, mask=None):
    """Inverted in training *and* weight-scaled at evaluation (double correction)."""
    if training:
        return R.drop_connect_linear(x, weight, bias, p, True, generator)
    return R.drop_connect_linear(x, weight * (1 - p), bias, p, False)


def l2_without_half(params, lam):
    return 2 * R.l2_penalty(params, lam)


def l1_half(params, lam):
    return 0.5 * R.l1_penalty(params, lam)


def hard_threshold(v, t):
    return torch.where(v.abs() > t, v, torch.zeros_like(v))


def lasso_wrong_threshold(X, y, lam, *, steps=500, w0=None):
    """Thresholds at λ instead of η·λ (forgets the step size in the prox)."""
    n = X.shape[0]
    eta = n / float(torch.linalg.matrix_norm(X, ord=2)) ** 2
    w = torch.zeros(X.shape[1], dtype=X.dtype)
    for _ in range(steps):
        w = R.soft_threshold(w - eta * (X.T @ (X @ w - y)) / n, lam)
    return w


def ridge_instead_of_lasso(X, y, lam, *, steps=500, w0=None):
    """L2 shrinkage: no coefficient is ever exactly zero."""
    n, d = X.shape
    return torch.linalg.solve(X.T @ X / n + lam * torch.eye(d, dtype=X.dtype), X.T @ y / n)


CASES = [
    ("dropout_preserves_expectation", {"dropout": dropout_not_inverted}),
    ("dropout_drop_fraction_binomial", {"dropout": dropout_keep_prob_confused}),
    ("dropout_scales_kept_units", {"dropout": dropout_scaled_by_keep}),
    ("dropout_eval_identity", {"dropout": dropout_ignores_training}),
    ("dropout_eval_identity", {"Dropout": DropoutIgnoresEval}),
    ("dropconnect_preserves_expectation", {"drop_connect_linear": dc_not_inverted}),
    ("dropconnect_drop_fraction_binomial", {"drop_connect_linear": dc_keep_prob_confused}),
    ("dropconnect_eval_identity", {"drop_connect_linear": dc_scales_at_eval}),
    ("l2_penalty_gradient", {"l2_penalty": l2_without_half}),
    ("l2_sgd_equals_weight_decay", {"l2_penalty": l2_without_half}),
    ("l1_penalty_subgradient", {"l1_penalty": l1_half}),
    ("l1_soft_threshold_is_prox", {"soft_threshold": hard_threshold}),
    ("l1_lasso_matches_sklearn", {"lasso_ista": lasso_wrong_threshold}),
    ("l1_sparsity_grows_with_lambda", {"lasso_ista": ridge_instead_of_lasso}),
]


@pytest.mark.parametrize("name, broken", CASES, ids=[f"{c[0]}-{next(iter(c[1]))}" for c in CASES])
def test_check_accepts_reference_and_rejects_broken(name, broken):
    assert run_check(name, REF).passed
    assert not run_check(name, patched(REF, **broken)).passed


def test_literal_calls_for_the_meta_test():
    bad = patched(REF, dropout=dropout_not_inverted)
    assert not run_check("dropout_preserves_expectation", bad).passed
    assert not run_check("dropout_drop_fraction_binomial", patched(REF, dropout=dropout_keep_prob_confused)).passed
    assert not run_check("dropout_scales_kept_units", patched(REF, dropout=dropout_scaled_by_keep)).passed
    assert not run_check("dropout_eval_identity", patched(REF, dropout=dropout_ignores_training)).passed
    assert not run_check("dropconnect_preserves_expectation", patched(REF, drop_connect_linear=dc_not_inverted)).passed
    assert not run_check("dropconnect_drop_fraction_binomial", patched(REF, drop_connect_linear=dc_keep_prob_confused)).passed
    assert not run_check("dropconnect_eval_identity", patched(REF, drop_connect_linear=dc_scales_at_eval)).passed
    assert not run_check("l2_penalty_gradient", patched(REF, l2_penalty=l2_without_half)).passed
    assert not run_check("l2_sgd_equals_weight_decay", patched(REF, l2_penalty=l2_without_half)).passed
    assert not run_check("l1_penalty_subgradient", patched(REF, l1_penalty=l1_half)).passed
    assert not run_check("l1_soft_threshold_is_prox", patched(REF, soft_threshold=hard_threshold)).passed
    assert not run_check("l1_lasso_matches_sklearn", patched(REF, lasso_ista=lasso_wrong_threshold)).passed
    assert not run_check("l1_sparsity_grows_with_lambda", patched(REF, lasso_ista=ridge_instead_of_lasso)).passed


def test_dropout_edge_cases():
    x = torch.randn(100, dtype=torch.float64)
    assert torch.equal(R.dropout(x, 1.0), torch.zeros_like(x))
    with pytest.raises(ValueError):
        R.dropout(x, 1.5)
    m = (torch.arange(100) % 2).double()
    assert torch.equal(R.dropout(x, 0.5, mask=m), x * m * 2)
    y = R.dropout(x.to(torch.bfloat16), 0.5, generator=torch.Generator().manual_seed(0))
    assert y.dtype == torch.bfloat16
