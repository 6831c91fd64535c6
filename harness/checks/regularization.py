"""Checks for regularisers: dropout, DropConnect, L1 and L2 (notes 003; the catalogue
(docs/catalogue.md), section A).

The subject is a module of functions and two layer classes (see :data:`CONTRACT`). Oracles: exact
moments with Monte Carlo bounds (``within_se``, 5 s.e.), scipy.stats.binomtest,
torch.nn.functional.linear, autograd, torch.optim.SGD(weight_decay=λ), scipy.optimize
(minimize_scalar for the proximal map) and scikit-learn's Lasso (coordinate descent).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from harness.contract import load_contract
from harness.outcome import Outcome, Tolerance, all_of, bound, exact, f64, holds, p_value, within_se
from harness.registry import check

CONTRACT = load_contract("regularization")


def _mask_gen(case) -> torch.Generator:
    """A generator on the case's device for the masks, seeded apart from ``case.generator``: the two
    share ``case.seed``, and on the CPU a mask drawn from the same stream as the data would be
    correlated with it (u_i and x_i from the same uniforms), biasing every moment."""
    return torch.Generator(case.device).manual_seed((case.seed * 6364136223846793005 + 1442695040888963407) % 2**63)


@check(requires=("dropout",))
def dropout_preserves_expectation(subject, case, p: float = 0.5, n: int = 200_000) -> Outcome:
    """Inverted dropout is unbiased: E[Σ_i dropout(x)_i] = Σ_i x_i, with variance Σ_i x_i²·p/(1 − p)
    (Monte Carlo over n units, 5 standard errors of the exact variance)."""
    x = case.randn(n) + 1.0  # mean 1: a scale error (e.g. no 1/(1 − p)) moves Σ by ≈ n·p
    y = subject.fn("dropout")(x, p, training=True, generator=_mask_gen(case))
    x64 = f64(x)
    se = math.sqrt(float((x64 ** 2).sum()) * p / (1 - p))
    return within_se(f"Σ dropout(x) vs Σ x (p = {p})", float(f64(y).sum()), float(x64.sum()), se, n)


@check(requires=("dropout",))
def dropout_drop_fraction_binomial(subject, case, p: float = 0.3, n: int = 100_000, alpha: float = 1e-3) -> Outcome:
    """The number of units dropout zeroes out of n is Binomial(n, p) (two-sided exact binomial test,
    scipy.stats.binomtest, false-alarm rate alpha)."""
    from scipy.stats import binomtest

    x = case.rand(n) + 0.5  # no zeros in the input
    y = subject.fn("dropout")(x, p, training=True, generator=_mask_gen(case))
    k = int((y == 0).sum())
    res = binomtest(k, n, p)
    return p_value(f"dropped {k} of {n} (expected {p * n:.0f})", k, float(res.pvalue), alpha, n, "binomial")


@check(requires=("dropout",))
def dropout_scales_kept_units(subject, case, p: float = 0.3, n: int = 10_000) -> Outcome:
    """Each unit dropout keeps is exactly x_i/(1 − p) (inverted dropout); every other unit is 0."""
    x = case.rand(n) + 0.5
    y = subject.fn("dropout")(x, p, training=True, generator=_mask_gen(case))
    y64, x64 = f64(y), f64(x)
    kept = y64 != 0
    return all_of(
        bound("units kept", int(kept.sum()), 0, op=">"),
        case.close("kept units vs x/(1 − p)", y64[kept], x64[kept] / (1 - p)),
    )


@check(requires=("dropout", "Dropout"))
def dropout_eval_identity(subject, case, p: float = 0.5) -> Outcome:
    """In evaluation mode dropout is the identity (bitwise), as a function (training=False) and as a
    module after .eval(); with p = 0 it is the identity in training mode too."""
    x = case.randn(7, 13)
    layer = subject.fn("Dropout")(p).eval()
    return all_of(
        exact("dropout(x, training=False)", subject.fn("dropout")(x, p, training=False), x),
        exact("Dropout(p).eval()(x)", layer(x), x),
        exact("dropout(x, p=0, training=True)", subject.fn("dropout")(x, 0.0, training=True, generator=_mask_gen(case)), x),
        holds("Dropout(p) in train mode changes x", not torch.equal(layer.train()(x), x)),
    )


def _dc_identity(subject, case, p: float, n_in: int, n_out: int):
    """With x = I (one row per input unit) and b = 0 the DropConnect output is the masked, scaled Wᵀ."""
    W = case.randn(n_out, n_in) + 1.0  # mean 1: a scale error moves Σ W by ≈ n·p
    eye = torch.eye(n_in, dtype=case.dtype, device=case.device)
    y = subject.fn("drop_connect_linear")(eye, W, None, p, training=True, generator=_mask_gen(case))
    return W, y


@check(requires=("drop_connect_linear",))
def dropconnect_preserves_expectation(subject, case, p: float = 0.5, n_in: int = 300, n_out: int = 300) -> Outcome:
    """DropConnect is unbiased: E[x (M ⊙ W)ᵀ/(1 − p)] = x Wᵀ. With x = I the output is (M ⊙ W)ᵀ/(1 − p);
    its sum over the n_in·n_out weights matches Σ W within 5 s.e. of the exact variance Σ W²·p/(1 − p)."""
    W, y = _dc_identity(subject, case, p, n_in, n_out)
    W64 = f64(W)
    se = math.sqrt(float((W64 ** 2).sum()) * p / (1 - p))
    return all_of(
        exact("output shape for x = I", tuple(y.shape), (n_in, n_out)),
        within_se(f"Σ DropConnect(I) vs Σ W (p = {p})", float(f64(y).sum()), float(W64.sum()), se, n_in * n_out),
    )


@check(requires=("drop_connect_linear",))
def dropconnect_drop_fraction_binomial(subject, case, p: float = 0.3, n_in: int = 200, n_out: int = 200,
                                       alpha: float = 1e-3) -> Outcome:
    """DropConnect zeroes each of the n_in·n_out weights independently with probability p: the count of
    dropped weights is Binomial(n_in·n_out, p) (scipy.stats.binomtest, false-alarm rate alpha), and every
    kept weight is exactly W_ij/(1 − p)."""
    from scipy.stats import binomtest

    W, y = _dc_identity(subject, case, p, n_in, n_out)
    Wt, y64 = f64(W).T, f64(y)
    n = n_in * n_out
    k = int((y64 == 0).sum())
    kept = y64 != 0
    return all_of(
        p_value(f"dropped {k} of {n} weights (expected {p * n:.0f})", k, float(binomtest(k, n, p).pvalue), alpha, n,
                "binomial"),
        case.close("kept weights vs W/(1 − p)", y64[kept], Wt[kept] / (1 - p)),
    )


@check(requires=("drop_connect_linear", "DropConnectLinear"))
def dropconnect_eval_identity(subject, case, p: float = 0.5) -> Outcome:
    """In evaluation mode DropConnect is the plain affine map: it equals torch.nn.functional.linear with the
    same weight and bias (function with training=False, and the module after .eval()).

    The layer is built here at a small size of the check's own (6 -> 4): the family has no model sizes.
    """
    x, W, b = case.randn(9, 6), case.randn(4, 6), case.randn(4)
    with case.fork_rng():
        layer = subject.fn("DropConnectLinear")(6, 4, p).to(device=case.device, dtype=case.dtype).eval()
    return all_of(
        case.close("drop_connect_linear(x, W, b, training=False) vs F.linear",
                   subject.fn("drop_connect_linear")(x, W, b, p, training=False), torch.nn.functional.linear(x, W, b)),
        case.close("DropConnectLinear.eval()(x) vs F.linear(x, weight, bias)", layer(x),
                   torch.nn.functional.linear(x, layer.weight, layer.bias)),
    )


@check(requires=("l2_penalty",))
def l2_penalty_gradient(subject, case, lam: float = 0.3) -> Outcome:
    """The L2 penalty is R(w) = (λ/2)Σw² (notes 003: half the sum of squared weights times the weight cost):
    its value equals (λ/2)‖w‖² and its gradient (autograd) equals λw for every tensor."""
    ws = [case.randn(5, 3).requires_grad_(True), case.randn(4).requires_grad_(True)]
    R = subject.fn("l2_penalty")(ws, lam)
    grads = torch.autograd.grad(R, ws)
    norm2 = sum(float(torch.linalg.vector_norm(f64(w)) ** 2) for w in ws)
    return all_of(
        case.close("R(w) vs (λ/2)‖w‖²", float(R.detach()), 0.5 * lam * norm2),
        [case.close(f"∂R/∂w[{i}] vs λw", g, lam * f64(w)) for i, (g, w) in enumerate(zip(grads, ws))],
    )


@check(requires=("l2_penalty",))
def l2_sgd_equals_weight_decay(subject, case, lam: float = 0.05, lr: float = 0.1, momentum: float = 0.9,
                               steps: int = 20) -> Outcome:
    """SGD (with momentum) on loss + (λ/2)‖w‖² follows exactly the trajectory of
    torch.optim.SGD(weight_decay=λ) on the loss alone: weight decay λ is the gradient of the ½-convention
    L2 penalty."""
    X, Y = case.randn(32, 4), case.randn(32, 2)
    with case.fork_rng():
        lin = torch.nn.Linear(4, 2).to(case.device, case.dtype)
    a = [p.detach().clone().requires_grad_(True) for p in lin.parameters()]
    b = [p.detach().clone().requires_grad_(True) for p in lin.parameters()]
    opt_a = torch.optim.SGD(a, lr=lr, momentum=momentum)
    opt_b = torch.optim.SGD(b, lr=lr, momentum=momentum, weight_decay=lam)
    pen = subject.fn("l2_penalty")
    for _ in range(steps):
        opt_a.zero_grad()
        (((X @ a[0].T + a[1] - Y) ** 2).mean() + pen(a, lam)).backward()
        opt_a.step()
        opt_b.zero_grad()
        ((X @ b[0].T + b[1] - Y) ** 2).mean().backward()
        opt_b.step()
    flat = lambda ps: torch.cat([p.detach().flatten() for p in ps])  # noqa: E731
    return case.close(f"weights after {steps} SGD steps: penalty vs weight_decay={lam}", flat(a), flat(b))


@check(requires=("l1_penalty",))
def l1_penalty_subgradient(subject, case, lam: float = 0.3) -> Outcome:
    """The L1 penalty is R(w) = λΣ|w|: its value equals λ‖w‖₁ and its gradient (autograd, w ≠ 0) is λ·sign(w)."""
    ws = [case.randn(5, 3).requires_grad_(True), case.randn(4).requires_grad_(True)]
    R = subject.fn("l1_penalty")(ws, lam)
    grads = torch.autograd.grad(R, ws)
    return all_of(
        case.close("R(w) vs λ‖w‖₁", float(R.detach()), lam * sum(float(torch.linalg.vector_norm(f64(w), 1)) for w in ws)),
        [case.close(f"∂R/∂w[{i}] vs λ·sign(w)", g, lam * torch.sign(f64(w))) for i, (g, w) in enumerate(zip(grads, ws))],
    )


@check(requires=("soft_threshold",), tolerance={"float64": {"atol": 3e-8, "rtol": 3e-8}},
       why="a minimiser found from function values is fixed only to √(2ε·f/f'') ≈ 2e-8·√f (f ≤ 2 here), and "
           "fminbound stops at a bracket of 2(√ε·|x| + xatol/3): 3e-8 absolute + 3e-8 relative")
def l1_soft_threshold_is_prox(subject, case, t: float = 0.5, n: int = 40) -> Outcome:
    """Soft-thresholding is the proximal map of t|·|: sign(v)·max(|v| − t, 0) = argmin_w ½(w − v)² + t|w|,
    the minimiser found numerically by scipy.optimize.minimize_scalar for each v; and it satisfies the
    optimality condition 0 ∈ w − v + t·∂|w| (w − v + t·sign(w) = 0 where w ≠ 0, |v| ≤ t where w = 0)."""
    from scipy.optimize import minimize_scalar

    v = case.randn(n) * 1.5
    got = f64(subject.fn("soft_threshold")(v, t))
    ref = []
    for vi in f64(v).tolist():
        r = minimize_scalar(lambda w, vi=vi: 0.5 * (w - vi) ** 2 + t * abs(w), bounds=(-abs(vi) - 1, abs(vi) + 1),
                            method="bounded", options={"xatol": 1e-10})
        ref.append(r.x)
    return all_of(
        case.close(f"soft_threshold(v, {t}) vs scipy argmin", got, torch.tensor(ref, dtype=torch.float64)),
        exact("entries with |v| ≤ t are exactly 0", int((got[f64(v).abs() <= t] != 0).sum()), 0),
        case.close("optimality w − v + t·sign(w) = 0 where w ≠ 0", (got - f64(v) + t * torch.sign(got))[got != 0],
                   torch.zeros(int((got != 0).sum()), dtype=torch.float64),
                   tol=Tolerance(1e-14, 0.0, "float64 rounding of |v| − t")),
        holds("|v| ≤ t wherever w = 0", bool((f64(v)[got == 0].abs() <= t).all())),
    )


def _sparse_regression(case, n: int, d: int, k: int):
    X = case.randn(n, d, dtype=torch.float64)
    w = torch.zeros(d, dtype=torch.float64)
    w[:k] = torch.linspace(3.0, 0.3, k, dtype=torch.float64)  # decreasing magnitudes: a clear λ path
    y = X @ w.to(X.device) + 0.5 * case.randn(n, dtype=torch.float64)
    return X, y


@check(requires=("lasso_ista",))
def l1_lasso_matches_sklearn(subject, case, lam: float = 0.1, n: int = 200, d: int = 20, steps: int = 500) -> Outcome:
    """Proximal-gradient training with the L1 penalty converges to scikit-learn's Lasso solution
    (min (1/2n)‖y − Xw‖² + λ‖w‖₁, alpha = λ), within √(2·gap/μ) + rounding, where gap is sklearn's
    reported duality gap and μ = λ_min(XᵀX/n) the objective's strong convexity; the supports agree."""
    from sklearn.linear_model import Lasso

    X, y = _sparse_regression(case, n, d, 5)
    ours = f64(subject.fn("lasso_ista")(X.to(case.dtype), y.to(case.dtype), lam, steps=steps))
    Xn, yn = f64(X).numpy(), f64(y).numpy()
    sk = Lasso(alpha=lam, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(Xn, yn)
    mu = float(np.linalg.eigvalsh(Xn.T @ Xn / n)[0])
    gap = max(float(np.max(sk.dual_gap_)), 0.0)
    limit = math.sqrt(2 * gap / mu) + 1e3 * np.finfo(np.float64).eps * float(np.linalg.norm(sk.coef_))
    return all_of(
        bound(f"‖w_ISTA − w_sklearn‖ (λ = {lam})", float(np.linalg.norm(ours.numpy() - sk.coef_)), limit,
              source=f"√(2·gap/μ) + rounding, gap = {gap:.2g}, μ = {mu:.3g}"),
        exact("support (nonzero coefficients)", (ours.numpy() != 0).tolist(), (sk.coef_ != 0).tolist()),
    )


@check(requires=("lasso_ista",))
def l1_sparsity_grows_with_lambda(subject, case, lambdas: list | None = None, n: int = 200, d: int = 20,
                                  steps: int = 500) -> Outcome:
    """On a sparse regression problem the number of exactly-zero weights after L1 (proximal) training is
    non-decreasing in λ, rises from the smallest to the largest λ, and equals scikit-learn's Lasso
    zero count at every λ."""
    from sklearn.linear_model import Lasso

    lams = lambdas or [0.001, 0.01, 0.05, 0.1, 0.3, 0.6, 1.0, 2.0, 4.0]
    X, y = _sparse_regression(case, n, d, 5)
    Xn, yn = f64(X).numpy(), f64(y).numpy()
    zeros, sk_zeros = [], []
    for lam in lams:
        w = f64(subject.fn("lasso_ista")(X.to(case.dtype), y.to(case.dtype), lam, steps=steps))
        zeros.append(int((w == 0).sum()))
        sk = Lasso(alpha=lam, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(Xn, yn)
        sk_zeros.append(int((sk.coef_ == 0).sum()))
    return all_of(
        holds("zero count non-decreasing in λ", all(a <= b for a, b in zip(zeros, zeros[1:])),
              f"λ = {lams}: zeros = {zeros}"),
        bound("zeros at the largest λ − zeros at the smallest", zeros[-1] - zeros[0], 0, op=">"),
        exact("zero counts vs sklearn Lasso", zeros, sk_zeros),
    )
