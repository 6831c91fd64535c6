"""Broken variants of the regularisers (harness/checks/regularization.py)."""
from __future__ import annotations

import torch

from harness.testing import broken, patched
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


def _bad(label, **cores):
    return broken(label, patched(REF, **cores))


MUTANTS = {
    "dropout_preserves_expectation": [_bad("not inverted", dropout=dropout_not_inverted)],
    "dropout_drop_fraction_binomial": [_bad("p read as keep probability", dropout=dropout_keep_prob_confused)],
    "dropout_scales_kept_units": [_bad("kept units scaled by 1 − p", dropout=dropout_scaled_by_keep)],
    "dropout_eval_identity": [
        _bad("function ignores training", dropout=dropout_ignores_training),
        _bad("layer ignores eval()", Dropout=DropoutIgnoresEval),
    ],
    "dropconnect_preserves_expectation": [_bad("not inverted", drop_connect_linear=dc_not_inverted)],
    "dropconnect_drop_fraction_binomial": [_bad("p read as keep probability", drop_connect_linear=dc_keep_prob_confused)],
    "dropconnect_eval_identity": [_bad("weights scaled at evaluation", drop_connect_linear=dc_scales_at_eval)],
    "l2_penalty_gradient": [_bad("without the ½", l2_penalty=l2_without_half)],
    "l2_sgd_equals_weight_decay": [_bad("without the ½", l2_penalty=l2_without_half)],
    "l1_penalty_subgradient": [_bad("with a ½", l1_penalty=l1_half)],
    "l1_soft_threshold_is_prox": [_bad("hard threshold", soft_threshold=hard_threshold)],
    "l1_lasso_matches_sklearn": [_bad("threshold forgets the step size", lasso_ista=lasso_wrong_threshold)],
    "l1_sparsity_grows_with_lambda": [_bad("ridge instead of lasso", lasso_ista=ridge_instead_of_lasso)],
}
