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


# --- edges, gradients, initialisation, randomness of the new properties --------------------------------
def dropout_p1_nan(x, p=0.5, training=True, generator=None, mask=None):
    """No p = 1 branch: x·0/(1 − 1) is nan."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(p)
    if not training or p == 0.0:
        return x
    return x * R.dropout_mask(x.shape, p, like=x, generator=generator) / (1.0 - p)


def dropout_accepts_any_p(x, p=0.5, training=True, generator=None, mask=None):
    return R.dropout(x, min(max(p, 0.0), 1.0), training, generator, mask)


def dc_accepts_p1(x, weight, bias=None, p=0.5, training=True, generator=None, mask=None):
    """Accepts p = 1: the kept weights are scaled by 1/0."""
    if training and p > 0.0:
        m = R.dropout_mask(weight.shape, p, like=weight, generator=generator) if mask is None else mask
        weight = weight * m / (1.0 - p)
    return x @ weight.T + (bias if bias is not None else 0)


def dropout_detached_mask_path(x, p=0.5, training=True, generator=None, mask=None):
    return R.dropout(x, p, training, generator, mask).detach()


def dropout_p1_constant(x, p=0.5, training=True, generator=None, mask=None):
    """The previous reference: y = 0 at p = 1 as a constant cut from the graph."""
    return torch.zeros_like(x) if (training and p == 1.0) else R.dropout(x, p, training, generator, mask)


def dropout_gradient_unscaled(x, p=0.5, training=True, generator=None, mask=None):
    """Right values, but the 1/(1 − p) is applied outside autograd's view."""
    if not training or p == 0.0 or p == 1.0:
        return R.dropout(x, p, training, generator, mask)
    m = R.dropout_mask(x.shape, p, like=x, generator=generator) if mask is None else mask.to(x.dtype)
    y = x * m
    return y + (y / (1.0 - p) - y).detach()


def dc_detached_weight(x, weight, bias=None, p=0.5, training=True, generator=None, mask=None):
    return R.drop_connect_linear(x, weight.detach(), bias, p, training, generator, mask)


def dc_mask_ignored(x, weight, bias=None, p=0.5, training=True, generator=None, mask=None):
    return R.drop_connect_linear(x, weight, bias, p, training, generator, None)


class DropConnectForwardDetached(R.DropConnectLinear):
    def forward(self, x, generator=None):
        return R.drop_connect_linear(x, self.weight, self.bias, self.p, self.training, generator).detach()


class DropConnectInitByOut(R.DropConnectLinear):
    """Bound 1/√out instead of 1/√in."""

    def __init__(self, in_features, out_features, p=0.5, bias=True):
        super().__init__(in_features, out_features, p, bias)
        bnd = 1.0 / out_features ** 0.5
        torch.nn.init.uniform_(self.weight, -bnd, bnd)
        torch.nn.init.uniform_(self.bias, -bnd, bnd)


class DropConnectInitNonNegative(R.DropConnectLinear):
    def __init__(self, in_features, out_features, p=0.5, bias=True):
        super().__init__(in_features, out_features, p, bias)
        with torch.no_grad():
            self.weight.abs_()


class DropConnectGaussianBias(R.DropConnectLinear):
    def __init__(self, in_features, out_features, p=0.5, bias=True):
        super().__init__(in_features, out_features, p, bias)
        torch.nn.init.normal_(self.bias, 0.0, 0.5 / in_features ** 0.5)


def dc_draws_at_p0(x, weight, bias=None, p=0.5, training=True, generator=None, mask=None):
    """Draws a (full) mask even at p = 0: right values, a consumed random stream."""
    if training:
        m = R.dropout_mask(weight.shape, p, like=weight, generator=generator)
        weight = weight * m / (1.0 - p)
    return x @ weight.T + (bias if bias is not None else 0)


def dropout_draws_at_p0(x, p=0.5, training=True, generator=None, mask=None):
    if training and p == 0.0:
        R.dropout_mask(x.shape, 0.5, like=x, generator=generator)
    return R.dropout(x, p, training, generator, mask)


def mask_strict(shape, p, *, like, generator=None):
    """Ties u = p dropped: P(keep) = 1 − p − (grid step)."""
    dt = like.dtype if like.dtype in (torch.float32, torch.float64) else torch.float32
    return (torch.rand(shape, generator=generator, device=like.device, dtype=dt) > p).to(like.dtype)


def mask_keep_prob_p(shape, p, *, like, generator=None):
    dt = like.dtype if like.dtype in (torch.float32, torch.float64) else torch.float32
    return (torch.rand(shape, generator=generator, device=like.device, dtype=dt) < 1 - p).to(like.dtype)


def mask_in_like_dtype(shape, p, *, like, generator=None):
    """Uniforms drawn in like's own dtype even when it is bfloat16 (8 significant bits)."""
    return (torch.rand(shape, generator=generator, device=like.device, dtype=like.dtype) >= p).to(like.dtype)


def soft_threshold_detached(v, t):
    return R.soft_threshold(v, t).detach()


def soft_threshold_straight_through(v, t):
    """Right values, identity derivative (a straight-through estimator)."""
    return v + (R.soft_threshold(v, t) - v).detach()


def lasso_detached(X, y, lam, *, steps=500, w0=None):
    return R.lasso_ista(X, y, lam, steps=steps, w0=w0).detach()


def lasso_two_steps(X, y, lam, *, steps=500, w0=None):
    """Right values (the converged solution, computed without a graph), gradient of two steps only."""
    with torch.no_grad():
        w = R.lasso_ista(X, y, lam, steps=steps, w0=w0)
    return R.lasso_ista(X, y, lam, steps=2, w0=w)


MUTANTS.update({
    "dropout_probability_edges": [
        _bad("no p = 1 branch (nan)", dropout=dropout_p1_nan),
        _bad("p clamped instead of rejected", dropout=dropout_accepts_any_p),
        _bad("DropConnect accepts p = 1", drop_connect_linear=dc_accepts_p1),
    ],
    "dropout_gradient_is_scaled_mask": [
        _bad("output detached", dropout=dropout_detached_mask_path),
        _bad("p = 1 returns a constant", dropout=dropout_p1_constant),
        _bad("1/(1 − p) outside autograd", dropout=dropout_gradient_unscaled),
    ],
    "dropconnect_gradient": [
        _bad("weight detached", drop_connect_linear=dc_detached_weight),
        _bad("given mask ignored", drop_connect_linear=dc_mask_ignored),
        _bad("layer forward detached", DropConnectLinear=DropConnectForwardDetached),
    ],
    "dropconnect_init_uniform": [
        _bad("bound 1/√out", DropConnectLinear=DropConnectInitByOut),
        _bad("non-negative weights", DropConnectLinear=DropConnectInitNonNegative),
        _bad("Gaussian bias", DropConnectLinear=DropConnectGaussianBias),
    ],
    "zero_rate_draws_no_randomness": [
        _bad("DropConnect draws a mask at p = 0", drop_connect_linear=dc_draws_at_p0),
        _bad("dropout draws at p = 0", dropout=dropout_draws_at_p0),
    ],
    "dropout_mask_is_uniform_threshold": [
        _bad("ties dropped (u > p)", dropout_mask=mask_strict),
        _bad("keeps where u < 1 − p", dropout_mask=mask_keep_prob_p),
        broken("bfloat16 uniforms", patched(REF, dropout_mask=mask_in_like_dtype), dtype="float32"),
    ],
    "soft_threshold_derivative": [
        _bad("detached", soft_threshold=soft_threshold_detached),
        _bad("straight-through derivative", soft_threshold=soft_threshold_straight_through),
    ],
    "lasso_ista_implicit_gradient": [
        _bad("detached solution", lasso_ista=lasso_detached),
        _bad("gradient of two steps", lasso_ista=lasso_two_steps),
    ],
})
