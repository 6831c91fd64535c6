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
from harness.outcome import Outcome, Tolerance, all_of, bound, exact, f64, grad_close, grads, holds, p_value, within_se
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
    g_ws = torch.autograd.grad(R, ws)
    norm2 = sum(float(torch.linalg.vector_norm(f64(w)) ** 2) for w in ws)
    return all_of(
        case.close("R(w) vs (λ/2)‖w‖²", float(R.detach()), 0.5 * lam * norm2),
        [case.close(f"∂R/∂w[{i}] vs λw", g, lam * f64(w)) for i, (g, w) in enumerate(zip(g_ws, ws))],
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
    g_ws = torch.autograd.grad(R, ws)
    return all_of(
        case.close("R(w) vs λ‖w‖₁", float(R.detach()), lam * sum(float(torch.linalg.vector_norm(f64(w), 1)) for w in ws)),
        [case.close(f"∂R/∂w[{i}] vs λ·sign(w)", g, lam * torch.sign(f64(w))) for i, (g, w) in enumerate(zip(g_ws, ws))],
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


def _raises(fn, *args, **kwargs) -> bool:
    try:
        fn(*args, **kwargs)
    except ValueError:
        return True
    return False


@check(requires=("dropout", "Dropout", "drop_connect_linear"))
def dropout_probability_edges(subject, case) -> Outcome:
    """The drop probability is a probability: dropout and Dropout accept exactly p ∈ [0, 1] (ValueError
    for p = −0.1, 1.5, 2) and at p = 1 drop every unit (y = 0 exactly, as a function and as a layer in
    train mode); DropConnect accepts exactly p ∈ [0, 1) (p = 1 would scale by 1/0)."""
    x = case.randn(6, 5)
    W = case.randn(3, 5)
    drop, dc = subject.fn("dropout"), subject.fn("drop_connect_linear")
    outs = [holds(f"dropout(x, p={p}) raises ValueError", _raises(drop, x, p, True, _mask_gen(case)))
            for p in (-0.1, 1.5, 2.0)]
    outs += [holds(f"Dropout({p}) raises ValueError", _raises(subject.fn("Dropout"), p)) for p in (-0.1, 1.5, 2.0)]
    outs += [holds(f"drop_connect_linear(x, W, p={p}) raises ValueError", _raises(dc, x, W, None, p, True, _mask_gen(case)))
             for p in (-0.1, 1.0, 1.5, 2.0)]
    zero = torch.zeros_like(x)
    outs += [exact("dropout(x, p=1)", drop(x, 1.0, True, _mask_gen(case)), zero),
             exact("Dropout(1).train()(x)", subject.fn("Dropout")(1.0).train()(x, _mask_gen(case)), zero),
             exact("dropout(x, p=1, training=False) is x", drop(x, 1.0, False), x)]
    return all_of(outs)


@check(requires=("dropout",))
def dropout_gradient_is_scaled_mask(subject, case, p: float = 0.3) -> Outcome:
    """Dropout is linear in x for a fixed mask: ∂⟨c, dropout(x)⟩/∂x = c ⊙ m/(1 − p) (autograd), with m the
    mask that was drawn (read off the output: m_i = [y_i ≠ 0], x has no zeros) or given (``mask=``);
    c (the identity's Jacobian) with training=False or p = 0; and 0 at p = 1."""
    drop = subject.fn("dropout")
    x = (case.rand(40, 25) + 0.5).requires_grad_(True)
    c = case.randn(40, 25)
    c64 = f64(c)
    y = drop(x, p, training=True, generator=_mask_gen(case))
    (g,) = grads((y * c).sum(), [x])
    m = f64(y.detach() != 0)
    given = case.bernoulli(1 - p, 40, 25)
    (g_mask,) = grads((drop(x, p, training=True, mask=given) * c).sum(), [x])
    outs = [
        grad_close(case, f"∂⟨c, dropout(x, {p})⟩/∂x vs c ⊙ m/(1 − p), drawn mask", g, c64 * m / (1 - p)),
        grad_close(case, f"∂⟨c, dropout(x, {p}, mask=m)⟩/∂x vs c ⊙ m/(1 − p), given mask", g_mask,
                    c64 * f64(given) / (1 - p)),
    ]
    for label, kw, factor in (("training=False", dict(p=p, training=False), 1.0), ("p = 0", dict(p=0.0, training=True), 1.0),
                              ("p = 1", dict(p=1.0, training=True), 0.0)):
        (gk,) = grads((drop(x, generator=_mask_gen(case), **kw) * c).sum(), [x])
        outs.append(grad_close(case, f"∂⟨c, dropout(x)⟩/∂x with {label} vs {factor:g}·c", gk, factor * c64))
    return all_of(outs)


@check(requires=("drop_connect_linear", "DropConnectLinear"))
def dropconnect_gradient(subject, case, p: float = 0.4, n_in: int = 6, n_out: int = 4, batch: int = 9) -> Outcome:
    """For a given mask M, y = x (M ⊙ W)ᵀ/(1 − p) + b, so for a cotangent G (autograd):
    ∂⟨G, y⟩/∂x = G (M ⊙ W)/(1 − p), ∂⟨G, y⟩/∂W = M ⊙ (Gᵀx)/(1 − p), ∂⟨G, y⟩/∂b = Σ_rows G; in
    evaluation the same with M = 1 and no scaling, for the function and for DropConnectLinear's own
    weight and bias (built here at the check's size, 6 -> 4)."""
    x, W, b = (t.requires_grad_(True) for t in (case.randn(batch, n_in), case.randn(n_out, n_in), case.randn(n_out)))
    G = case.randn(batch, n_out)
    M = case.bernoulli(1 - p, n_out, n_in)
    x64, W64, G64, M64 = f64(x.detach()), f64(W.detach()), f64(G), f64(M)
    dc = subject.fn("drop_connect_linear")
    gx, gW, gb = grads((dc(x, W, b, p, training=True, mask=M) * G).sum(), [x, W, b])
    ex, eW, eb = grads((dc(x, W, b, p, training=False) * G).sum(), [x, W, b])
    with case.fork_rng():
        layer = subject.fn("DropConnectLinear")(n_in, n_out, p).to(device=case.device, dtype=case.dtype).eval()
    lW, lb = grads((layer(x.detach()) * G).sum(), [layer.weight, layer.bias])
    s = 1 - p
    return all_of(
        grad_close(case, "train, mask M: ∂/∂x vs G (M ⊙ W)/(1 − p)", gx, G64 @ (M64 * W64) / s),
        grad_close(case, "train, mask M: ∂/∂W vs M ⊙ (Gᵀx)/(1 − p)", gW, M64 * (G64.T @ x64) / s),
        grad_close(case, "train, mask M: ∂/∂b vs Σ_rows G", gb, G64.sum(0)),
        grad_close(case, "eval: ∂/∂x vs G W", ex, G64 @ W64),
        grad_close(case, "eval: ∂/∂W vs Gᵀx", eW, G64.T @ x64),
        grad_close(case, "eval: ∂/∂b vs Σ_rows G", eb, G64.sum(0)),
        grad_close(case, "DropConnectLinear.eval(): ∂/∂weight vs Gᵀx", lW, G64.T @ x64),
        grad_close(case, "DropConnectLinear.eval(): ∂/∂bias vs Σ_rows G", lb, G64.sum(0)),
    )


@check(requires=("DropConnectLinear",))
def dropconnect_init_uniform(subject, case, n_in: int = 64, n_out: int = 256, alpha: float = 1e-3) -> Outcome:
    """DropConnectLinear(in, out) initialises like nn.Linear: every weight and bias is drawn from
    U(−1/√in, 1/√in) (all within the bound, and a Kolmogorov–Smirnov test against that uniform,
    scipy.stats.kstest, false-alarm rate alpha, on the out·in weights and on the out biases)."""
    from scipy.stats import kstest, uniform

    with case.fork_rng():
        layer = subject.fn("DropConnectLinear")(n_in, n_out, 0.5)
    bnd = 1.0 / math.sqrt(n_in)
    dist = uniform(loc=-bnd, scale=2 * bnd)
    outs = []
    for name, t in (("weight", layer.weight), ("bias", layer.bias)):
        v = f64(t.detach()).flatten().numpy()
        res = kstest(v, dist.cdf)
        outs += [bound(f"max |{name}| vs 1/√in", float(np.abs(v).max()), bnd),
                 p_value(f"KS distance of the {v.size} {name} entries from U(−1/√{n_in}, 1/√{n_in})",
                         float(res.statistic), float(res.pvalue), alpha, v.size, "Kolmogorov-Smirnov")]
    return all_of(outs)


@check(requires=("dropout", "drop_connect_linear"))
def zero_rate_draws_no_randomness(subject, case) -> Outcome:
    """p = 0 (or evaluation) is no regularisation at all: dropout and DropConnect return the plain map
    exactly and draw nothing from the generator (its state is unchanged, so a model with p = 0 consumes
    the same random stream as one without the layer)."""
    x, W, b = case.randn(7, 5), case.randn(3, 5), case.randn(3)
    outs = []
    for label, call, want in (
        ("dropout(x, p=0)", lambda g: subject.fn("dropout")(x, 0.0, True, g), x),
        ("dropout(x, p=0.5, training=False)", lambda g: subject.fn("dropout")(x, 0.5, False, g), x),
        ("drop_connect_linear(x, W, b, p=0)", lambda g: subject.fn("drop_connect_linear")(x, W, b, 0.0, True, g),
         x @ W.T + b),
        ("drop_connect_linear(x, W, b, p=0.5, training=False)",
         lambda g: subject.fn("drop_connect_linear")(x, W, b, 0.5, False, g), x @ W.T + b),
    ):
        g = _mask_gen(case)
        before = g.get_state().clone()
        y = call(g)
        outs += [exact(f"{label} vs the plain map", y, want),
                 holds(f"{label} leaves the generator's state unchanged", torch.equal(g.get_state(), before))]
    return all_of(outs)


@check(requires=("dropout_mask",))
def dropout_mask_is_uniform_threshold(subject, case, p: float = 0.3) -> Outcome:
    """The keep-mask is m_i = [u_i ≥ p] for the uniforms u that torch.rand draws from the generator
    (in ``like``'s dtype, float32 at least), in ``like``'s dtype: ties u_i = p are kept, so P(keep) =
    1 − p exactly for p on the uniforms' grid, and p = 0 keeps every unit. Checked against torch.rand
    with an identically seeded generator, at p, at p = 0 and at p equal to one of the uniforms."""
    mask = subject.fn("dropout_mask")
    shape = (50, 40)
    outs = []
    likes = [case.randn(2)] + ([torch.zeros(2, dtype=torch.bfloat16, device=case.device)]
                               if case.dtype == torch.float32 else [])
    for like in likes:
        dt = like.dtype if like.dtype in (torch.float32, torch.float64) else torch.float32
        u = torch.rand(shape, generator=_mask_gen(case), device=case.device, dtype=dt)
        tie = float(u[3, 7])
        for q in (p, 0.0, tie):
            m = mask(shape, q, like=like, generator=_mask_gen(case))
            want = (u >= q).to(like.dtype)
            outs += [exact(f"dropout_mask(p={q:.6g}, like {like.dtype}) dtype", m.dtype, like.dtype),
                     exact(f"dropout_mask(p={q:.6g}, like {like.dtype}) vs [u ≥ p]", m, want)]
        outs.append(exact("the unit whose uniform equals p is kept", float(mask(shape, tie, like=like,
                                                                                generator=_mask_gen(case))[3, 7]), 1.0))
    return all_of(outs)


@check(requires=("soft_threshold",))
def soft_threshold_derivative(subject, case, t: float = 0.5, n: int = 200) -> Outcome:
    """Soft-thresholding is differentiable wherever |v| ≠ t with derivative [|v| > t] (autograd, for a
    cotangent c: ∂⟨c, S_t(v)⟩/∂v = c ⊙ [|v| > t]); that is what unrolled proximal methods backpropagate."""
    v = (case.randn(n) * 1.5).requires_grad_(True)
    c = case.randn(n)
    (g,) = grads((subject.fn("soft_threshold")(v, t) * c).sum(), [v])
    return grad_close(case, f"∂⟨c, soft_threshold(v, {t})⟩/∂v vs c ⊙ [|v| > t]", g,
                       f64(c) * (f64(v.detach()).abs() > t).double())


@check(requires=("lasso_ista",))
def lasso_ista_implicit_gradient(subject, case, lam: float = 0.1, n: int = 200, d: int = 20, steps: int = 500) -> Outcome:
    """The Lasso solution is piecewise linear in y: on its support S (signs s), w_S = (X_SᵀX_S)⁻¹(X_Sᵀy −
    nλ s) and w = 0 off S, so ∂⟨c, w⟩/∂y = X_S (X_SᵀX_S)⁻¹ c_S (implicit function theorem). Autograd
    through the proximal-gradient iterations, converged, gives this derivative."""
    X, y = _sparse_regression(case, n, d, 5)
    X, y = X.to(case.dtype), y.to(case.dtype).requires_grad_(True)
    c = case.randn(d)
    w = subject.fn("lasso_ista")(X, y, lam, steps=steps)
    (g,) = grads((w * c).sum(), [y])
    S = f64(w.detach()) != 0
    XS = f64(X)[:, S]
    want = XS @ torch.linalg.solve(XS.T @ XS, f64(c)[S])
    return all_of(
        bound("support size", int(S.sum()), 0, op=">"),
        grad_close(case, f"autograd ∂⟨c, w⟩/∂y vs X_S (X_SᵀX_S)⁻¹ c_S (λ = {lam}, |S| = {int(S.sum())})", g, want),
    )
