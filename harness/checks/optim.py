"""Checks for optimisers (notes 003; the catalogue (docs/catalogue.md), section A, "optimisers").

The subject is a module of functional cores ``<name>_step(param, grad, state, **hyper)``,
optionally with ``torch.optim.Optimizer`` classes, and the full-batch solvers
``conjugate_gradient`` and ``lbfgs`` (see :data:`CONTRACT`). Oracles: ``torch.optim``
(trajectories), closed forms (AdaGrad's rate, Adam's first step), ``numpy.linalg.solve`` and the
exact spectral analysis of linear iterations (quadratics), ``scipy.optimize.minimize(method=
"L-BFGS-B")`` and a dense BFGS inverse-Hessian update (L-BFGS), autograd (what the solvers
report, the Wolfe conditions) and torch.utils.data's batching (notes 001's training iterations).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from harness.contract import load_contract
from harness.outcome import Outcome, Tolerance, all_of, bound, exact, f64, holds
from harness.registry import check

STEP_CORES = ("sgd_step", "adagrad_step", "rmsprop_step", "adam_step", "adadelta_step")
TORCH_NAMES = {"sgd": "SGD", "adagrad": "Adagrad", "rmsprop": "RMSprop", "adam": "Adam", "adadelta": "Adadelta"}
CLASS_NAMES = {"sgd": "SGD", "adagrad": "AdaGrad", "rmsprop": "RMSProp", "adam": "Adam", "adadelta": "AdaDelta"}



CONTRACT = load_contract("optim")


def _hyper(hparams: dict) -> dict:
    h = dict(hparams)
    if "betas" in h:
        h["betas"] = tuple(h["betas"])
    return h


def _objective(case):
    """A fixed smooth, non-quadratic objective of two parameter tensors (W: 3×5, b: 3) and its gradient:
    f = mean softplus(r) + ½ mean r² + 0.1 Σ cos W with r = X Wᵀ + b − Y (written out: no autograd per step)."""
    X, Y = case.randn(32, 5), case.randn(32, 3)

    def f(W, b):
        r = X @ W.T + b - Y
        return torch.nn.functional.softplus(r).mean() + 0.5 * (r * r).mean() + 0.1 * torch.cos(W).sum()

    def grad(W, b):
        r = X @ W.T + b - Y
        d = (torch.sigmoid(r) + r) / r.numel()
        return [d.T @ X - 0.1 * torch.sin(W), d.sum(0)]

    return f, grad, [case.randn(3, 5), case.randn(3)]


@check(requires=STEP_CORES)
def optim_trajectory_matches_torch(subject, case, optimizer: str, hparams: dict | None = None,
                                   steps: int = 100) -> Outcome:
    """For the same hyper-parameters, the optimiser's iterates θ_1 … θ_T on a fixed smooth objective
    equal torch.optim's step for step (functional core, and the Optimizer class where provided)."""
    h = _hyper(hparams or {})
    f, grad, init = _objective(case)
    core = subject.fn(f"{optimizer}_step")
    ref = [p.clone().requires_grad_(True) for p in init]
    topt = getattr(torch.optim, TORCH_NAMES[optimizer])(ref, **h)
    ours = [p.clone() for p in init]
    states: list[dict] = [{} for _ in init]
    cls_name = CLASS_NAMES[optimizer]
    has_cls = subject.has(cls_name)
    mine = [p.clone().requires_grad_(True) for p in init]
    mopt = subject.fn(cls_name)(mine, **h) if has_cls else None
    traj_core, traj_ref, traj_cls = [], [], []
    for _ in range(steps):
        nxt = [core(p, g, s, **h) for p, g, s in zip(ours, grad(*ours), states)]
        ours, states = [n[0] for n in nxt], [n[1] for n in nxt]
        with torch.no_grad():
            for p, g in zip(ref, grad(*ref)):
                p.grad = g
        topt.step()
        if mopt is not None:
            with torch.no_grad():
                for p, g in zip(mine, grad(*mine)):
                    p.grad = g
            mopt.step()
            traj_cls.append(torch.cat([p.detach().flatten() for p in mine]))
        traj_core.append(torch.cat([p.flatten() for p in ours]))
        traj_ref.append(torch.cat([p.detach().flatten() for p in ref]))
    expected = torch.stack(traj_ref)
    outs = [case.close(f"{optimizer}_step iterates (T={steps}, {h}) vs torch.optim.{TORCH_NAMES[optimizer]}",
                       torch.stack(traj_core), expected)]
    if has_cls:
        outs.append(case.close(f"{cls_name} (Optimizer class) iterates vs torch.optim.{TORCH_NAMES[optimizer]}",
                               torch.stack(traj_cls), expected))
    if steps:
        ps = [p.detach().clone().requires_grad_(True) for p in init]
        auto = torch.autograd.grad(f(*ps), ps)
        outs.append(case.close("test objective: written-out gradient vs autograd", torch.cat([g.flatten() for g in grad(*init)]),
                               torch.cat([g.flatten() for g in auto])))
    moved = float((expected[-1] - torch.cat([p.flatten() for p in init])).abs().max())
    outs.append(bound("distance travelled by the reference (the comparison is not vacuous)", moved, 1e-3, op=">"))
    return all_of(outs)


@check(requires=("adagrad_step",))
def adagrad_rate_never_rises(subject, case, steps: int = 60, dim: int = 16, lr: float = 0.1,
                             eps: float = 1e-10) -> Outcome:
    """AdaGrad's effective per-coordinate rate η_t = −Δθ_t/g_t equals lr/(√(Σ_{s≤t} g_s²) + ε) and never
    rises (η_{t+1} ≤ η_t), even when the gradients shrink (a leaky accumulator would raise it)."""
    step = subject.fn("adagrad_step")
    # shrinking gradients, bounded away from 0: g_t = ±(0.5 + u)·0.9^t
    decay = 0.9 ** torch.arange(steps, dtype=torch.float64)
    G = ((case.rand(steps, dim, dtype=torch.float64) + 0.5) * torch.sign(case.randn(steps, dim, dtype=torch.float64))
         * decay.to(case.device)[:, None]).to(case.dtype)
    state: dict = {}
    rates = []
    zero = torch.zeros(dim, dtype=case.dtype, device=case.device)
    for t in range(steps):
        new, state = step(zero, G[t], state, lr=lr, eps=eps)
        rates.append(-new / G[t])  # θ = 0 before the step: Δθ = new
    R = f64(torch.stack(rates)).numpy()
    g64 = f64(G).numpy()
    oracle = lr / (np.sqrt(np.cumsum(g64 ** 2, axis=0)) + eps)
    rises = np.diff(R, axis=0)
    return all_of(
        case.close("AdaGrad rate −Δθ/g vs lr/(√Σg² + ε)", R, oracle),
        holds("η_{t+1} ≤ η_t for every coordinate and step", bool((rises <= 0).all()),
              f"largest rise {rises.max():.3g} over {steps} steps × {dim} coordinates"),
        holds("no rate above lr/(|g_1| + ε) (the first, largest)", bool((R <= R[0:1] ).all())),
    )


@check(requires=("adam_step",))
def adam_first_step_is_lr(subject, case, lr: float = 0.01, beta1: float = 0.9, beta2: float = 0.999,
                          eps: float = 1e-8) -> Outcome:
    """With bias correction, Adam's first step is Δθ = −lr·g/(|g| + ε) ≈ −lr·sign(g) for any β₁, β₂
    (Kingma & Ba 2015, section 3): m̂₁ = g and v̂₁ = g²."""
    g = case.randn(64) * torch.logspace(-3, 3, 64, dtype=torch.float64).to(case.device, case.dtype)
    theta = case.randn(64)
    new, _ = subject.fn("adam_step")(theta, g, {}, lr=lr, betas=(beta1, beta2), eps=eps)
    g64 = f64(g)
    return case.close("Adam first step vs −lr·g/(|g| + ε)", (new - theta), -lr * g64 / (g64.abs() + eps))


def _quadratic(case, dim: int, kappa: float):
    """A = Q diag(λ) Qᵀ with λ spread over [1, κ] (both ends included), b random."""
    Q, _ = torch.linalg.qr(case.randn(dim, dim, dtype=torch.float64).cpu())
    lam = torch.cat([torch.tensor([1.0, kappa], dtype=torch.float64),
                     1 + (kappa - 1) * case.rand(dim - 2, dtype=torch.float64).cpu()])
    A = (Q * lam) @ Q.T
    A = 0.5 * (A + A.T)
    b = case.randn(dim, dtype=torch.float64).cpu()
    return A.numpy(), b.numpy(), lam.numpy()


def _linear_method_bound(h: dict, lam: np.ndarray, steps: int) -> tuple[float | None, str]:
    """max_i |(T(λ_i)^K)_00|: the exact worst-case error ratio of GD/heavy-ball/Nesterov on a quadratic.

    Along an eigenvector with eigenvalue λ the state (e_k, b_{k−1}) (b_{−1} = 0) evolves by
    heavy ball  T = [[1 − lr·λ, −lr·μ], [λ, μ]],   Nesterov  T = [[1 − lr·λ(1 + μ), −lr·μ²], [λ, μ]].
    """
    if set(h) - {"lr", "momentum", "nesterov"}:
        return None, ""
    lr, mu, nest = float(h["lr"]), float(h.get("momentum", 0.0)), bool(h.get("nesterov", False))
    worst = 0.0
    for l in lam:
        T = (np.array([[1 - lr * l * (1 + mu), -lr * mu * mu], [l, mu]]) if nest
             else np.array([[1 - lr * l, -lr * mu], [l, mu]]))
        worst = max(worst, abs(np.linalg.matrix_power(T, steps)[0, 0]))
    form = "Nesterov" if nest else ("heavy-ball" if mu else "gradient-descent")
    return worst, f"{form} iteration matrices over the spectrum of A, K={steps}"


@check(requires=STEP_CORES)
def optim_reaches_quadratic_minimiser(subject, case, optimizer: str, hparams: dict | None = None, steps: int = 200,
                                      dim: int = 10, kappa: float = 10.0, lr_gamma: float = 1.0,
                                      rel_tol: float | None = None) -> Outcome:
    """On a strongly convex quadratic f(x) = ½xᵀAx − bᵀx (condition number κ) the optimiser's K-th iterate
    is within the derived tolerance of the minimiser x* = A⁻¹b (numpy.linalg.solve):
    ‖x_K − x*‖ ≤ ρ_K‖x_0 − x*‖ with ρ_K the exact worst-case factor of the linear iteration (GD,
    heavy ball, Nesterov) or the suite's stated ``rel_tol`` (adaptive methods, which have no rate).

    ``lr_gamma`` < 1 applies an exponential learning-rate schedule lr_t = lr·γᵗ (torch's ExponentialLR).
    """
    h = _hyper(hparams or {})
    A, b, lam = _quadratic(case, dim, kappa)
    x_star = np.linalg.solve(A, b)
    At, bt = torch.as_tensor(A).to(case.device, case.dtype), torch.as_tensor(b).to(case.device, case.dtype)
    x = torch.zeros(dim, dtype=case.dtype, device=case.device)
    core = subject.fn(f"{optimizer}_step")
    state: dict = {}
    for t in range(steps):
        ht = dict(h, lr=h["lr"] * lr_gamma ** t) if lr_gamma != 1.0 else h
        x, state = core(x, At @ x - bt, state, **ht)
    e0 = float(np.linalg.norm(x_star))
    err = float(np.linalg.norm(f64(x).numpy() - x_star))
    if rel_tol is None:
        rho, source = _linear_method_bound(h, lam, steps) if optimizer == "sgd" and lr_gamma == 1.0 else (None, "")
        if rho is None:
            return holds(f"{optimizer}: a tolerance for reaching x* (no rate theorem applies; give rel_tol)", False)
        floor = 1e3 * np.finfo(np.float64).eps * kappa
        limit = (rho + floor) * e0
        source = f"{source}: ρ_K = {rho:.3g}, + 1000·ε·κ = {floor:.2g} rounding floor"
    else:
        limit, source = rel_tol * e0, f"suite rel_tol {rel_tol:g}·‖x_0 − x*‖"
    return bound(f"‖x_K − x*‖ for {optimizer} {h} on a κ={kappa:g} quadratic (dim {dim}, K={steps})",
                 err, limit, source=source, detail=f"‖x_0 − x*‖ = {e0:.4g}")


def _spd(case, n: int, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    Q, _ = torch.linalg.qr(case.randn(n, n, dtype=torch.float64).cpu())
    A = (Q.numpy() * lam) @ Q.numpy().T
    return 0.5 * (A + A.T), case.randn(n, dtype=torch.float64).cpu().numpy()


def _cg_outcomes(subject, case, A: np.ndarray, b: np.ndarray, max_iters: int, why: str) -> list[Outcome]:
    res = subject.fn("conjugate_gradient")(torch.as_tensor(A).to(case.device, case.dtype),
                                           torch.as_tensor(b).to(case.device, case.dtype), tol=1e-10)
    x = f64(res.x).numpy()
    resid = float(np.linalg.norm(b - A @ x))
    cond = float(np.linalg.cond(A))
    return [
        bound("CG iterations", res.n_iter, max_iters, source=why),
        bound("‖b − A x‖ (numpy, true residual)", resid, 1e-10 * float(np.linalg.norm(b)), source="1e-10·‖b‖"),
        case.close("CG solution vs numpy.linalg.solve", x, np.linalg.solve(A, b),
                   detail=f"cond(A) = {cond:.3g}"),
    ]


@check(requires=("conjugate_gradient",), tolerance={"float64": {"atol": 1e-8, "rtol": 1e-8}},
       why="residual ≤ 1e-10‖b‖ bounds ‖x − x*‖ by cond(A)·1e-10·‖x*‖ ≈ 1e-9 for κ ≤ 10; 1e-8 is that bound")
def cg_solves_spd_within_n(subject, case, n: int = 50, kappa: float = 10.0) -> Outcome:
    """Linear conjugate gradient solves an n-dimensional SPD system A x = b to ‖b − Ax‖ ≤ 1e-10‖b‖ in at
    most n iterations, and no more than the Chebyshev bound ⌈ln(2√κ/1e-10)/ln((√κ+1)/(√κ−1))⌉."""
    lam = np.concatenate([[1.0, kappa], 1 + (kappa - 1) * case.rand(n - 2, dtype=torch.float64).cpu().numpy()])
    A, b = _spd(case, n, lam)
    r = (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)
    cheb = math.ceil(math.log(2 * math.sqrt(kappa) / 1e-10) / math.log(1 / r))
    return all_of(_cg_outcomes(subject, case, A, b, min(n, cheb),
                               f"min(n = {n}, Chebyshev bound {cheb} for κ = {kappa:g})"))


@check(requires=("conjugate_gradient",), tolerance={"float64": {"atol": 1e-8, "rtol": 1e-8}},
       why="residual ≤ 1e-10‖b‖ bounds ‖x − x*‖ by cond(A)·1e-10·‖x*‖ = 2e-9 for κ = 20; 1e-8 is that bound")
def cg_distinct_eigenvalues(subject, case, n: int = 40, eigenvalues: list | None = None) -> Outcome:
    """When A has only k distinct eigenvalues, conjugate gradient converges (‖r‖ ≤ 1e-10‖b‖) in at most k
    iterations: the k-th Krylov space contains A⁻¹b (Hestenes & Stiefel 1952)."""
    ev = np.array(eigenvalues or [1.0, 3.0, 7.0, 20.0], dtype=np.float64)
    lam = np.concatenate([ev, ev[case.randint(0, len(ev), (n - len(ev),)).cpu().numpy()]])
    A, b = _spd(case, n, lam)
    return all_of(_cg_outcomes(subject, case, A, b, len(ev), f"k = {len(ev)} distinct eigenvalues"))


def _problem(name: str, dim: int, case):
    """(fun: x ↦ (f, ∇f) in torch, Hessian in numpy, x0) for the named test problem."""
    if name == "rosenbrock":
        from scipy.optimize import rosen_hess

        def fun(x):
            d = x[1:] - x[:-1] ** 2
            g = torch.zeros_like(x)
            g[:-1] = -400 * x[:-1] * d - 2 * (1 - x[:-1])
            g[1:] += 200 * d
            return (100 * d * d + (1 - x[:-1]) ** 2).sum(), g

        x0 = torch.tensor([-1.2, 1.0] * (dim // 2) + [-1.2] * (dim % 2), dtype=torch.float64)
        return fun, rosen_hess, x0
    if name == "quadratic":
        A, b, _ = _quadratic(case, dim, 100.0)
        At, bt = torch.as_tensor(A), torch.as_tensor(b)

        def fun(x):
            Ax = At.to(x) @ x
            return 0.5 * x @ Ax - bt.to(x) @ x, Ax - bt.to(x)

        return fun, (lambda z: A), torch.zeros(dim, dtype=torch.float64)
    raise ValueError(f"unknown problem {name!r}; allowed: rosenbrock, quadratic")


@check(requires=("lbfgs",))
def lbfgs_matches_scipy(subject, case, problem: str = "rosenbrock", dim: int = 2, gtol: float = 1e-10) -> Outcome:
    """L-BFGS (two-loop recursion + line search) converges to the minimiser scipy.optimize.minimize
    (method="L-BFGS-B") finds, within ‖x − x_scipy‖ ≤ 2(‖∇f(x)‖ + ‖∇f(x_scipy)‖)/λ_min(∇²f(x_scipy))
    (strong convexity near the minimiser; the factor 2 covers the quadratic model's error)."""
    from scipy.optimize import minimize

    fun, hess, x0 = _problem(problem, dim, case)
    res = subject.fn("lbfgs")(fun, x0.to(case.device, case.dtype), gtol=gtol)
    x = f64(res.x)

    def np_fun(z):
        v, g = fun(torch.as_tensor(z))
        return float(v), g.numpy()

    ref = minimize(np_fun, x0.numpy(), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-12, "ftol": 1e-300, "maxiter": 10000, "maxcor": 10})
    lam_min = float(np.linalg.eigvalsh(hess(ref.x))[0])
    g_ours = float(fun(x)[1].norm())
    g_ref = float(np.linalg.norm(np_fun(ref.x)[1]))
    limit = 2 * (g_ours + g_ref) / lam_min + 1e3 * np.finfo(np.float64).eps * float(np.linalg.norm(ref.x))
    outs = [
        bound(f"‖∇f‖ at the L-BFGS solution ({problem}, dim {dim})", g_ours, gtol * math.sqrt(dim),
              source=f"gtol {gtol:g} in the ∞-norm, ×√n"),
        bound(f"‖x_L-BFGS − x_scipy‖ ({problem}, dim {dim})", float(np.linalg.norm(x.numpy() - ref.x)), limit,
              source=f"2(‖∇f(x)‖ + ‖∇f(x_scipy)‖)/λ_min, λ_min = {lam_min:.3g}",
              detail=f"{res.n_iter} iterations; scipy {ref.nit} ({ref.message}, ‖∇f‖ = {g_ref:.2g})"),
    ]
    if problem == "quadratic":  # exact minimiser too: ‖x − x*‖ ≤ ‖∇f(x)‖/λ_min for a quadratic
        x_star = np.linalg.solve(hess(ref.x), np_fun(np.zeros(dim))[1] * -1)
        outs.append(bound("‖x_L-BFGS − A⁻¹b‖ (numpy.linalg.solve)", float(np.linalg.norm(x.numpy() - x_star)),
                          g_ours / lam_min + 1e3 * np.finfo(np.float64).eps * float(np.linalg.norm(x_star)),
                          source="‖∇f(x)‖/λ_min(A) + rounding"))
    return all_of(outs)


@check(requires=("lbfgs_direction",))
def lbfgs_two_loop_equals_dense_bfgs(subject, case, dim: int = 6, pairs: int = 4) -> Outcome:
    """The two-loop recursion returns H_k g where H_k is the dense BFGS inverse-Hessian update
    H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ (ρ = 1/yᵀs) applied pair by pair to H₀ = γI,
    γ = s_{k−1}ᵀy_{k−1}/y_{k−1}ᵀy_{k−1} (Nocedal & Wright 2006, eq. 7.19 and Algorithm 7.4)."""
    M = case.randn(dim, dim, dtype=torch.float64)
    B = M @ M.T + torch.eye(dim, dtype=torch.float64, device=M.device)  # SPD: yᵀs = sᵀBs > 0
    S = [case.randn(dim, dtype=torch.float64) for _ in range(pairs)]
    Y = [B @ s + 0.1 * case.randn(dim, dtype=torch.float64) for s in S]
    g = case.randn(dim, dtype=torch.float64)
    s_np = [s.cpu().numpy() for s in S]
    y_np = [y.cpu().numpy() for y in Y]
    if any(s @ y <= 0 for s, y in zip(s_np, y_np)):
        return holds("test data: every pair satisfies sᵀy > 0", False)
    H = (s_np[-1] @ y_np[-1]) / (y_np[-1] @ y_np[-1]) * np.eye(dim)
    I = np.eye(dim)
    for s, y in zip(s_np, y_np):
        rho = 1.0 / (y @ s)
        H = (I - rho * np.outer(s, y)) @ H @ (I - rho * np.outer(y, s)) + rho * np.outer(s, s)
    cast = [t.to(case.dtype) for t in S], [t.to(case.dtype) for t in Y]
    r = subject.fn("lbfgs_direction")(g.to(case.dtype), *cast)
    return all_of(
        exact("shape of H_k g", tuple(r.shape), (dim,)),
        case.close(f"two-loop H_k g vs dense BFGS ({pairs} pairs)", r, H @ g.cpu().numpy()),
    )


# ---------------------------------------------------------------------------------------------
# what the solvers report, the line search, and the training-loop arithmetic
# ---------------------------------------------------------------------------------------------
def _autograd_fg(fun, x: torch.Tensor) -> tuple[float, torch.Tensor]:
    """f(x) and ∇f(x) by autograd through the objective's value (not the gradient ``fun`` returns)."""
    z = f64(x).clone().requires_grad_(True)
    f = fun(z)[0]
    (g,) = torch.autograd.grad(f, z)
    return float(f.detach()), g


@check(requires=("lbfgs", "conjugate_gradient"))
def optim_solvers_report_their_state(subject, case, problem: str = "rosenbrock", dim: int = 2, gtol: float = 1e-10,
                                     n: int = 30, kappa: float = 10.0) -> Outcome:
    """The solvers' results say what they did. L-BFGS, run to convergence and stopped after 3
    iterations (where ∇f is far from 0, so a wrong norm shows): ``grad_norm`` is ‖∇f(x)‖_∞ at the returned x and
    ``f`` is f(x) (both recomputed by autograd through f), ``converged`` is grad_norm ≤ gtol, and
    ``history`` holds f at the n_iter + 1 iterates, from f(x_0) down to f (non-increasing: every step
    satisfies Armijo's condition). Conjugate gradient: ``residual_norms`` has n_iter + 1 entries,
    from ‖b − A x_0‖ to the true residual ‖b − A x‖ at the returned x (numpy, within 1e-8·‖b‖: the
    recursively updated residual drifts from the true one by rounding), and ``converged`` is
    ‖r‖ ≤ tol·‖b‖."""
    fun, _, x0 = _problem(problem, dim, case)
    res = subject.fn("lbfgs")(fun, x0.to(case.device, case.dtype), gtol=gtol)
    f_x, g_x = _autograd_fg(fun, res.x)
    gmax = float(g_x.abs().max())
    hist = [float(v) for v in res.history]
    f0 = _autograd_fg(fun, x0)[0]
    early = subject.fn("lbfgs")(fun, x0.to(case.device, case.dtype), gtol=gtol, max_iter=3)
    g_early = float(_autograd_fg(fun, early.x)[1].abs().max())
    out = [case.close("L-BFGS grad_norm vs ‖∇f(x)‖_∞ (autograd)", res.grad_norm, gmax, detail=f"{problem}, dim {dim}"),
           case.close("L-BFGS stopped after 3 iterations: grad_norm vs ‖∇f(x)‖_∞", early.grad_norm, g_early,
                      tol=Tolerance(0.0, 1e-8, "1e-8 relative: the analytic and autograd gradients of f")),
           exact("L-BFGS stopped after 3 iterations: converged == (grad_norm ≤ gtol)", bool(early.converged),
                 g_early <= gtol),
           case.close("L-BFGS f vs f(x)", res.f, f_x),
           exact("L-BFGS converged == (grad_norm ≤ gtol)", bool(res.converged), gmax <= gtol),
           exact("len(history) = n_iter + 1", len(hist), res.n_iter + 1),
           case.close("history[0] = f(x_0)", hist[0], f0), case.close("history[-1] = f", hist[-1], res.f),
           holds("history is non-increasing", all(b <= a for a, b in zip(hist, hist[1:])), f"{len(hist)} values")]
    lam = np.concatenate([[1.0, kappa], 1 + (kappa - 1) * case.rand(n - 2, dtype=torch.float64).cpu().numpy()])
    A, b = _spd(case, n, lam)
    x_start = case.randn(n, dtype=torch.float64).cpu().numpy()
    tol = 1e-10
    cg = subject.fn("conjugate_gradient")(torch.as_tensor(A).to(case.device, case.dtype),
                                          torch.as_tensor(b).to(case.device, case.dtype),
                                          torch.as_tensor(x_start).to(case.device, case.dtype), tol=tol)
    norms = [float(v) for v in cg.residual_norms]
    true = float(np.linalg.norm(b - A @ f64(cg.x).numpy()))
    nb = float(np.linalg.norm(b))
    out += [exact("CG: len(residual_norms) = n_iter + 1", len(norms), cg.n_iter + 1),
            case.close("CG residual_norms[0] vs ‖b − A x_0‖", norms[0], float(np.linalg.norm(b - A @ x_start))),
            bound("CG |residual_norms[-1] − ‖b − A x‖|", abs(norms[-1] - true), 1e-8 * nb, source="1e-8·‖b‖",
                  detail=f"reported {norms[-1]:.3g}, true {true:.3g}"),
            exact("CG converged == (‖r‖ ≤ tol·‖b‖)", bool(cg.converged), norms[-1] <= tol * nb)]
    return all_of(out)


@check(requires=("wolfe_line_search",))
def wolfe_step_satisfies_conditions(subject, case, dim: int = 4, points: int = 5, c1: float = 1e-4,
                                    c2: float = 0.9) -> Outcome:
    """wolfe_line_search(fun, x, f, g, d) returns a step t > 0 with f(x + t d) and ∇f(x + t d) (recomputed
    by autograd) that satisfies the weak Wolfe conditions: sufficient decrease f(x + t d) ≤ f(x) +
    c1·t·∇f(x)ᵀd and curvature ∇f(x + t d)ᵀd ≥ c2·∇f(x)ᵀd, on the Rosenbrock function from random
    points, along −∇f and along −10⁻⁶∇f (a direction so short that t = 1 satisfies Armijo's condition
    but not the curvature condition: the search must lengthen the step)."""
    fun, _, _ = _problem("rosenbrock", dim, case)
    search = subject.fn("wolfe_line_search")
    out = []
    for i in range(points):
        x = case.randn(dim) * 0.8
        f, g = fun(x)
        for label, d in (("−∇f", -g), ("−1e-6·∇f", -1e-6 * g)):
            t, f_new, g_new = search(fun, x, f, g, d, c1=c1, c2=c2)
            t = float(t)
            f_t, g_t = _autograd_fg(fun, x + t * d)
            slope, tag = float(g @ d), f"point {i}, d = {label}"
            out += [bound(f"step t > 0 ({tag})", t, 0.0, op=">"),
                    case.close(f"returned f vs f(x + t d) ({tag})", f_new, f_t),
                    case.close(f"returned ∇f vs ∇f(x + t d) ({tag})", g_new, g_t),
                    bound(f"Armijo: f(x + t d) − f(x) − c1·t·∇fᵀd ≤ 0 ({tag})", f_t - float(f) - c1 * t * slope, 0.0,
                          detail=f"t = {t:.4g}"),
                    bound(f"curvature: ∇f(x + t d)ᵀd − c2·∇fᵀd ≥ 0 ({tag})", float(g_t @ f64(d)) - c2 * slope, 0.0,
                          op=">=", detail=f"t = {t:.4g}")]
    return all_of(out)


@check(requires=("iterations",))
def optim_notes_iterations(subject, case, sizes: list = [1, 7, 10, 99, 100, 101, 1000],  # noqa: B006
                           batch_sizes: list = [1, 3, 10, 32, 128], epochs: list = [0, 1, 3]) -> Outcome:  # noqa: B006
    """Notes 001's worked example of the training-loop arithmetic: a data set of 100 samples in batches
    of 10 for 500 epochs is int(100/10) = 10 batches per epoch and 10 × 500 = 5000 training
    iterations. Over a grid of sizes, batch sizes and epochs, iterations(n, batch, epochs) is the
    number of batches torch.utils.data.DataLoader yields over the epochs: with drop_last=True (the
    notes' int(n/batch), the default) and drop_last=False (a last partial batch is a step)."""
    from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

    it = subject.fn("iterations")
    batches = BatchSampler(SequentialSampler(range(100)), batch_size=10, drop_last=True)  # what a DataLoader iterates
    counted = sum(1 for _ in range(500) for _ in batches)
    out = [exact("notes 001: iterations(100 samples, batch 10, 500 epochs)", it(100, 10, 500), 5000),
           exact("batches yielded over 500 epochs of 100 samples in batches of 10 (counted)", counted, 5000),
           exact("notes 001: batches per epoch, iterations(100, 10, 1)", it(100, 10, 1), 10)]
    bad = []
    for n, bs, ep, drop in itertools.product(sizes, batch_sizes, epochs, (True, False)):
        want = len(DataLoader(range(n), batch_size=bs, drop_last=drop)) * ep
        got = it(n, bs, ep) if drop else it(n, bs, ep, drop_last=False)
        if got != want:
            bad.append((f"n={n}, batch={bs}, epochs={ep}, drop_last={drop}", got, want))
    grid = len(sizes) * len(batch_sizes) * len(epochs) * 2
    statement = "iterations vs len(DataLoader) × epochs over the grid"
    out.append(exact(statement, bad[0][1], bad[0][2], detail=f"{len(bad)} of {grid} points differ; first at {bad[0][0]}")
               if bad else holds(statement, True, f"all {grid} points agree"))
    return all_of(out)


# --- learning-rate schedules ------------------------------------------------------------------------
SCHEDULES = {  # schedule -> (the subject's core, torch.optim.lr_scheduler class with the same settings)
    "step": ("step_decay_lr", "StepLR"),
    "exponential": ("exponential_lr", "ExponentialLR"),
    "cosine": ("cosine_annealing_lr", "CosineAnnealingLR"),
    "warmup": ("linear_warmup_lr", "LinearLR"),
}
SCHEDULE_CORES = tuple(core for core, _ in SCHEDULES.values())


def _schedule(subject, schedule: str, hparams: dict):
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule {schedule!r}; allowed: {', '.join(SCHEDULES)}")
    fn = subject.fn(SCHEDULES[schedule][0])
    return lambda t: float(fn(t, **hparams))


@check(requires=SCHEDULE_CORES)
def lr_schedule_matches_torch(subject, case, schedule: str = "step", hparams: dict | None = None,
                              steps: int = 60) -> Outcome:
    """A learning-rate schedule lr(t) equals torch.optim.lr_scheduler's (StepLR, ExponentialLR,
    CosineAnnealingLR, LinearLR) with the same settings at every step t = 0..steps: the rate torch's
    SGD holds after t calls of scheduler.step() (torch updates it recursively, the subject may use a
    closed form)."""
    h = dict(hparams or {"lr": 0.1, "step_size": 7, "gamma": 0.5})
    lr_of = _schedule(subject, schedule, h)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=h["lr"])
    sched = getattr(torch.optim.lr_scheduler, SCHEDULES[schedule][1])(opt, **{k: v for k, v in h.items() if k != "lr"})
    expected = []
    for _ in range(steps + 1):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    observed = [lr_of(t) for t in range(steps + 1)]
    return case.close(f"lr(t) for t = 0..{steps} vs torch.optim.lr_scheduler.{SCHEDULES[schedule][1]}",
                      torch.tensor(observed, dtype=torch.float64), torch.tensor(expected, dtype=torch.float64),
                      detail=f"settings {h}")


@check(requires=SCHEDULE_CORES)
def lr_schedule_shape(subject, case, schedule: str = "step", hparams: dict | None = None, steps: int = 60) -> Outcome:
    """Each schedule has its defining shape, from its closed form: step decay is lr on [0, step_size),
    lr·γ on [step_size, 2·step_size), …, constant within each block and never rising; exponential decay
    starts at lr and has ratio lr(t+1)/lr(t) = γ at every step; cosine annealing starts at lr, passes
    (lr + η_min)/2 at T_max/2, ends at η_min at T_max, never rises on [0, T_max], is symmetric
    (lr(t) + lr(T_max − t) = lr + η_min) and stays in [η_min, lr]; linear warm-up goes from s·lr to e·lr
    in equal increments over total_iters steps and is constant after."""
    h = dict(hparams or {"lr": 0.1, "step_size": 7, "gamma": 0.5})
    lr_of = _schedule(subject, schedule, h)
    lr = float(h["lr"])
    v = torch.tensor([lr_of(t) for t in range(steps + 1)], dtype=torch.float64)
    d = v[1:] - v[:-1]
    slack = case.tolerance.atol + case.tolerance.rtol * lr
    out = []
    if schedule == "step":
        s, g = int(h["step_size"]), float(h.get("gamma", 0.1))
        blocks = torch.tensor([lr * g ** (t // s) for t in range(steps + 1)], dtype=torch.float64)
        out += [case.close("lr(0), lr(step_size − 1)", v[[0, s - 1]], torch.tensor([lr, lr], dtype=torch.float64)),
                case.close("lr(step_size), lr(2·step_size)", v[[s, 2 * s]], torch.tensor([lr * g, lr * g * g], dtype=torch.float64)),
                case.close("lr(t) vs lr·γ^⌊t/step_size⌋ (constant within blocks)", v, blocks),
                bound("max rise lr(t+1) − lr(t)", float(d.max()), slack)]
    elif schedule == "exponential":
        g = float(h["gamma"])
        out += [case.close("lr(0)", v[0], lr),
                case.close("lr(t+1)/lr(t) at every step", v[1:] / v[:-1], torch.full((steps,), g, dtype=torch.float64)),
                bound("max rise lr(t+1) − lr(t)", float(d.max()), slack)]
    elif schedule == "cosine":
        T, m = int(h["T_max"]), float(h.get("eta_min", 0.0))
        ts = torch.arange(T + 1)
        out += [case.close("lr(0), lr(T_max)", v[[0, T]], torch.tensor([lr, m], dtype=torch.float64)),
                case.close("lr(t) + lr(T_max − t) on [0, T_max]", v[ts] + v[T - ts], torch.full((T + 1,), lr + m, dtype=torch.float64)),
                bound("max rise lr(t+1) − lr(t) on [0, T_max]", float(d[:T].max()), slack),
                bound("max lr(t) over every step", float(v.max()), lr + slack),
                bound("min lr(t) over every step", float(v.min()), m - slack, op=">=")]
        if T % 2 == 0:
            out.append(case.close("lr(T_max/2)", v[T // 2], (lr + m) / 2))
    elif schedule == "warmup":
        n, s, e = int(h.get("total_iters", 5)), float(h.get("start_factor", 1 / 3)), float(h.get("end_factor", 1.0))
        out += [case.close("lr(0), lr(total_iters)", v[[0, n]], torch.tensor([s * lr, e * lr], dtype=torch.float64)),
                case.close("increments lr(t+1) − lr(t) on [0, total_iters]", d[:n], torch.full((n,), (e - s) * lr / n, dtype=torch.float64)),
                case.close("lr(t) after total_iters", v[n:], torch.full((steps + 1 - n,), e * lr, dtype=torch.float64))]
    return all_of(out)


# --- differentiating through the cores; stopping rules and budgets of the solvers -----------------
@check(requires=STEP_CORES)
def optim_step_is_differentiable(subject, case, optimizer: str = "sgd", hparams: dict | None = None,
                                 dim: int = 5) -> Outcome:
    """The functional cores are differentiable functions (unrolled optimisation, meta-learning: MAML
    differentiates through SGD steps): two consecutive steps θ₂ = step(step(θ₀, g₀, {}), g₁) are
    attached to the graph and their derivatives with respect to θ₀, g₀ and g₁ (through the state the
    first step hands to the second) agree with finite differences (torch.autograd.gradcheck, float64,
    eps 1e-6, atol 1e-5, rtol 1e-3)."""
    if case.dtype != torch.float64:
        return holds("gradcheck needs float64", False, f"got {case.dtype}")
    h = _hyper(hparams or {"lr": 0.1})
    core = subject.fn(f"{optimizer}_step")
    args = tuple(case.randn(dim).requires_grad_(True) for _ in range(3))

    def two_steps(theta0, g0, g1):
        theta1, state = core(theta0, g0, {}, **h)
        return theta1, core(theta1, g1, state, **h)[0]

    outs = two_steps(*args)
    cut = [name for name, t in zip(("θ₁", "θ₂"), outs) if not t.requires_grad]  # gradcheck skips these
    try:
        ok = torch.autograd.gradcheck(two_steps, args, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True)
        detail = f"{optimizer}, {h}"
    except RuntimeError as e:
        ok, detail = False, str(e).splitlines()[0][:300]
    return all_of(holds(f"{optimizer}_step's new parameters are attached to the graph", not cut,
                        f"detached: {cut}" if cut else "θ₁ and θ₂ require grad"),
                  holds(f"gradcheck of two {optimizer}_step steps w.r.t. θ₀, g₀, g₁", bool(ok), detail))


@check(requires=("conjugate_gradient",))
def cg_stopping_rule(subject, case, n: int = 30, kappa: float = 100.0, tol: float = 1e-3,
                     scales: list = [1e-3, 1.0, 1e3]) -> Outcome:  # noqa: B006
    """Conjugate gradient stops at the first iterate whose residual satisfies ‖r_k‖ ≤ tol·‖b‖ (a relative
    test): every earlier reported residual exceeds tol·‖b‖, the last does not, the true residual
    ‖b − A x‖ (numpy) is within it up to rounding, and since the rule is relative, scaling b by c
    leaves the iteration count unchanged and scales x by c (CG's iterates are linear in b)."""
    lam = np.concatenate([[1.0, kappa], 1 + (kappa - 1) * case.rand(n - 2, dtype=torch.float64).cpu().numpy()])
    A, b = _spd(case, n, lam)
    cg = subject.fn("conjugate_gradient")
    At = torch.as_tensor(A).to(case.device, case.dtype)
    out, runs = [], []
    for c in scales:
        bc = c * b
        res = cg(At, torch.as_tensor(bc).to(case.device, case.dtype), tol=tol)
        runs.append(res)
        target = tol * float(np.linalg.norm(bc))
        norms = [float(v) for v in res.residual_norms]
        true = float(np.linalg.norm(bc - A @ f64(res.x).numpy()))
        out += [holds(f"b scaled by {c:g}: ‖r_k‖ > tol·‖b‖ before the last iterate", all(v > target for v in norms[:-1]),
                      f"{res.n_iter} iterations; residuals/‖b‖ {[round(v / (target / tol), 6) for v in norms[-3:]]}"),
                bound(f"b scaled by {c:g}: last ‖r‖/‖b‖", norms[-1] / (target / tol), tol, source="tol"),
                bound(f"b scaled by {c:g}: true ‖b − A x‖/‖b‖ (numpy)", true / (target / tol), tol * (1 + 1e-6),
                      source="tol, + 1e-6 relative for the recursively updated residual's rounding")]
    out += [exact("iterations for every scale of b", [r.n_iter for r in runs], [runs[1].n_iter] * len(runs)),
            bound("iterations (the rule is not vacuous)", runs[1].n_iter, 2, op=">=")]
    return all_of(out)


@check(requires=("lbfgs",))
def lbfgs_budget_and_memory(subject, case, budgets: list = [1, 3], curvatures: list = [0.05, 0.5, 7.0]) -> Outcome:  # noqa: B006
    """L-BFGS's iteration budget, stopping rule and memory. With max_iter = k on Rosenbrock (far from
    converged) it runs exactly k iterations (n_iter = k, len(history) = k + 1, not converged). Its stopping
    rule ‖∇f‖_∞ ≤ gtol is inclusive: started where ‖∇f(x₀)‖_∞ equals gtol, or at an exact stationary point
    with gtol = 0, it takes no step (n_iter = 0, x = x₀, converged). With memory m = 1 it keeps the latest
    pair (s, y): on f(x) = ½ a x² (1-D, any a > 0), where y = a s makes the scaled H₀ = sᵀy/yᵀy = 1/a exact,
    the second iteration is a Newton step, so it reaches x* = 0 (‖∇f‖ ≤ 1e-9) in at most 2 iterations."""
    lbfgs = subject.fn("lbfgs")
    fun, _, x0 = _problem("rosenbrock", 2, case)
    x0 = x0.to(case.device, case.dtype)
    out = []
    for k in budgets:
        res = lbfgs(fun, x0, max_iter=k)
        out += [exact(f"n_iter with max_iter = {k}", res.n_iter, k),
                exact(f"len(history) with max_iter = {k}", len(res.history), k + 1),
                exact(f"converged with max_iter = {k} (Rosenbrock from (−1.2, 1))", bool(res.converged), False)]

    def sphere(x):
        return 0.5 * (x @ x), x.clone()

    start = torch.tensor([0.5, -0.25], dtype=case.dtype, device=case.device)  # ‖∇f‖_∞ = 0.5 exactly
    for label, x_start, gtol in (("‖∇f(x₀)‖_∞ = gtol = 0.5", start, 0.5), ("∇f(x₀) = 0, gtol = 0", 0 * start, 0.0)):
        res = lbfgs(sphere, x_start, gtol=gtol)
        out += [exact(f"n_iter ({label})", res.n_iter, 0), exact(f"converged ({label})", bool(res.converged), True),
                exact(f"x = x₀ ({label})", f64(res.x).tolist(), f64(x_start).tolist())]
    for a in curvatures:
        def quad(x, a=a):
            return 0.5 * a * (x @ x), a * x

        res = lbfgs(quad, torch.tensor([-2.0], dtype=case.dtype, device=case.device), m=1, gtol=1e-9)
        out += [bound(f"n_iter with m = 1 on ½·{a:g}·x²", res.n_iter, 2),
                bound(f"|x| with m = 1 on ½·{a:g}·x²", abs(float(res.x[0])), 1e-9 / a, source="gtol/a")]
    return all_of(out)


@check(requires=("lbfgs",))
def lbfgs_newton_step_at_any_scale(subject, case, scales: list = [1e-170, 1e-160, 1e-100, 1e-3, 1.0, 1e3, 1e100],  # noqa: B006
                                   start: list = [1.0, -0.5, 0.25]) -> Outcome:  # noqa: B006
    """On f(x) = ½‖x‖² (Hessian I) L-BFGS's first direction −H₀∇f = −x with the unit step is the Newton
    step, so from x₀ = s·v it reaches x* = 0 exactly in one iteration (n_iter = 1, converged with gtol = 0)
    at every scale s. At s = 1e-170 the slope ∇fᵀd = −‖x₀‖² underflows to −0: the direction fails the
    descent test (∇fᵀd ≥ 0) and L-BFGS falls back to steepest descent, d = −∇f, which is the same step."""
    lbfgs = subject.fn("lbfgs")

    def sphere(x):
        return 0.5 * (x @ x), x.clone()

    v = torch.tensor(start, dtype=torch.float64)
    out = []
    for s in scales:
        res = lbfgs(sphere, (s * v).to(case.device, case.dtype), gtol=0.0)
        out += [exact(f"n_iter from x₀ = {s:g}·v", res.n_iter, 1),
                exact(f"x from x₀ = {s:g}·v", f64(res.x).tolist(), [0.0] * len(start)),
                exact(f"converged from x₀ = {s:g}·v", bool(res.converged), True)]
    return all_of(out)
