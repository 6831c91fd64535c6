"""Broken variants of the optimisers (harness/checks/optim.py)."""
from __future__ import annotations

import math

import torch

from harness.testing import broken, patched
from reference_impls import optim as O

REF = "reference_impls.optim"


def adam_eps_inside_root(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
    """Adam with ε under the square root: √(v̂ + ε) (a common mis-transcription)."""
    b1, b2 = betas
    t = state.get("step", 0) + 1
    m = b1 * state.get("exp_avg", torch.zeros_like(param)) + (1 - b1) * grad
    v = b2 * state.get("exp_avg_sq", torch.zeros_like(param)) + (1 - b2) * grad * grad
    return param - lr * (m / (1 - b1 ** t)) / (v / (1 - b2 ** t) + eps).sqrt(), {"step": t, "exp_avg": m, "exp_avg_sq": v}


def adam_no_bias_correction(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
    b1, b2 = betas
    m = b1 * state.get("exp_avg", torch.zeros_like(param)) + (1 - b1) * grad
    v = b2 * state.get("exp_avg_sq", torch.zeros_like(param)) + (1 - b2) * grad * grad
    return param - lr * m / (v.sqrt() + eps), {"step": state.get("step", 0) + 1, "exp_avg": m, "exp_avg_sq": v}


def nesterov_as_heavy_ball(param, grad, state, **h):
    return O.sgd_step(param, grad, state, **{**h, "nesterov": False})


def adagrad_leaky(param, grad, state, *, lr=1e-2, eps=1e-10, **_):
    """An exponentially forgetting accumulator (RMSProp) sold as AdaGrad: its rate rises when g shrinks."""
    return O.rmsprop_step(param, grad, state, lr=lr, alpha=0.5, eps=eps)


def adagrad_eps_inside_root(param, grad, state, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                            initial_accumulator_value=0.0, eps=1e-10):
    G = state.get("sum", torch.full_like(param, initial_accumulator_value)) + grad * grad
    return param - lr * grad / (G + eps).sqrt(), {"step": state.get("step", 0) + 1, "sum": G}


def adadelta_without_lr(param, grad, state, *, lr=1.0, **h):
    return O.adadelta_step(param, grad, state, lr=1.0, **h)


def rmsprop_alpha_swapped(param, grad, state, *, alpha=0.99, **h):
    """α and 1 − α exchanged (the new gradient gets weight α)."""
    return O.rmsprop_step(param, grad, state, alpha=1 - alpha, **h)


def sgd_without_momentum(param, grad, state, **h):
    return O.sgd_step(param, grad, state, **{**h, "momentum": 0.0, "nesterov": False})


def sgd_half_lr(param, grad, state, *, lr, **h):
    return O.sgd_step(param, grad, state, lr=lr / 2, **h)


def steepest_descent(A, b, x0=None, *, tol=1e-10, max_iter=None):
    """β = 0: exact line search along the residual (not conjugate directions)."""
    x = torch.zeros_like(b)
    n = b.numel() if max_iter is None else max_iter
    k = 0
    r = b - A @ x
    while float(r.norm()) > tol * float(b.norm()) and k < n:
        alpha = (r @ r) / (r @ (A @ r))
        x = x + alpha * r
        r = b - A @ x
        k += 1
    return O.CGResult(x, k, (), False)


def lbfgs_stops_early(fun, x0, **kw):
    return O.lbfgs(fun, x0, **{**kw, "max_iter": 8})


def two_loop_unscaled(g, s_hist, y_hist):
    """H₀ = I instead of γI: a valid quasi-Newton matrix, but not the one L-BFGS defines."""
    q = g.clone()
    rhos = [1.0 / (y @ s) for s, y in zip(s_hist, y_hist)]
    a = [None] * len(s_hist)
    for i in range(len(s_hist) - 1, -1, -1):
        a[i] = rhos[i] * (s_hist[i] @ q)
        q = q - a[i] * y_hist[i]
    r = q
    for i in range(len(s_hist)):
        r = r + s_hist[i] * (a[i] - rhos[i] * (y_hist[i] @ r))
    return r


def _bad(**cores):
    return patched(REF, **cores)


# optim_trajectory_matches_torch over 30 steps: (label, optimizer, hparams, broken cores)
_TRAJECTORIES = [
    ("sgd at half the rate", "sgd", {"lr": 0.1}, {"sgd_step": sgd_half_lr}),
    ("momentum ignored", "sgd", {"lr": 0.05, "momentum": 0.9}, {"sgd_step": sgd_without_momentum}),
    ("nesterov as heavy ball", "sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True},
     {"sgd_step": nesterov_as_heavy_ball}),
    ("adagrad eps inside the root", "adagrad", {"lr": 0.1}, {"adagrad_step": adagrad_eps_inside_root}),
    ("rmsprop alpha swapped", "rmsprop", {"lr": 0.01}, {"rmsprop_step": rmsprop_alpha_swapped}),
    ("adam eps inside the root", "adam", {"lr": 0.01}, {"adam_step": adam_eps_inside_root}),
    ("adadelta without lr", "adadelta", {"lr": 0.5}, {"adadelta_step": adadelta_without_lr}),
]
_NESTEROV = {"lr": 0.1, "momentum": 0.519, "nesterov": True}

MUTANTS = {
    "optim_trajectory_matches_torch": [
        broken(label, _bad(**cores), optimizer=opt, hparams=h, steps=30) for label, opt, h, cores in _TRAJECTORIES
    ],
    "adagrad_rate_never_rises": [
        broken("leaky accumulator", _bad(adagrad_step=adagrad_leaky)),
    ],
    "adam_first_step_is_lr": [
        broken("no bias correction", _bad(adam_step=adam_no_bias_correction)),
    ],
    "optim_reaches_quadratic_minimiser": [
        broken("gd at half the rate", _bad(sgd_step=sgd_half_lr), optimizer="sgd", hparams={"lr": 0.1}, steps=200),
        # momentum silently ignored: plain GD contracts by 0.9 per step, far slower than Nesterov's factor
        broken("nesterov momentum ignored", _bad(sgd_step=sgd_without_momentum), optimizer="sgd",
               hparams=_NESTEROV, steps=40),
    ],
    "cg_solves_spd_within_n": [
        broken("steepest descent", _bad(conjugate_gradient=steepest_descent)),
    ],
    "cg_distinct_eigenvalues": [
        broken("steepest descent", _bad(conjugate_gradient=steepest_descent)),
    ],
    "lbfgs_matches_scipy": [
        broken(f"stops after 8 iterations ({problem})", _bad(lbfgs=lbfgs_stops_early), problem=problem, dim=dim,
               gtol=gtol)
        for problem, dim, gtol in (("rosenbrock", 2, 1e-10), ("quadratic", 20, 1e-6))
    ],
    "lbfgs_two_loop_equals_dense_bfgs": [
        broken("H0 = I, unscaled", _bad(lbfgs_direction=two_loop_unscaled)),
    ],
}


# --- what the solvers report, the line search, the training-loop arithmetic -----------------------
def lbfgs_reports_two_norm(fun, x0, **kw):
    """grad_norm as the Euclidean norm where the contract says ‖∇f‖_∞."""
    res = O.lbfgs(fun, x0, **kw)
    return O.LBFGSResult(res.x, res.f, float(fun(res.x)[1].norm()), res.n_iter, res.converged, res.history)


def lbfgs_claims_convergence(fun, x0, **kw):
    """Stops after 3 iterations but reports converged=True."""
    res = O.lbfgs(fun, x0, **{**kw, "max_iter": 3})
    return O.LBFGSResult(res.x, res.f, res.grad_norm, res.n_iter, True, res.history)


def lbfgs_history_without_start(fun, x0, **kw):
    res = O.lbfgs(fun, x0, **kw)
    return O.LBFGSResult(res.x, res.f, res.grad_norm, res.n_iter, res.converged, res.history[1:])


def cg_reports_squared_norms(A, b, x0=None, *, tol=1e-10, max_iter=None):
    res = O.conjugate_gradient(A, b, x0, tol=tol, max_iter=max_iter)
    return O.CGResult(res.x, res.n_iter, tuple(r * r for r in res.residual_norms), res.converged)


def line_search_fixed_step(fun, x, f, g, d, *, t0=1.0, c1=1e-4, c2=0.9, max_evals=60):
    """Always takes t = t0: no search at all."""
    f_new, g_new = fun(x + t0 * d)
    return t0, f_new, g_new


def line_search_armijo_only(fun, x, f, g, d, *, t0=1.0, c1=1e-4, c2=0.9, max_evals=60):
    """Backtracking: halves t until Armijo holds, never checks the curvature condition."""
    t, slope = t0, float(g @ d)
    for _ in range(max_evals):
        f_new, g_new = fun(x + t * d)
        if float(f_new) <= float(f) + c1 * t * slope:
            return t, f_new, g_new
        t *= 0.5
    return 0.0, f, g


def iterations_without_epochs(n_samples, batch_size, epochs, drop_last=True):
    """Batches per epoch only."""
    return n_samples // batch_size if drop_last else -(-n_samples // batch_size)


def iterations_rounded_up(n_samples, batch_size, epochs, drop_last=True):
    """⌈n/batch⌉ whatever drop_last says: right on the notes' 100/10, wrong when the batch does not divide n."""
    return -(-n_samples // batch_size) * epochs


def iterations_total_samples(n_samples, batch_size, epochs, drop_last=True):
    """⌊n·epochs/batch⌋: partial batches carried across epochs."""
    return (n_samples * epochs) // batch_size if drop_last else -(-(n_samples * epochs) // batch_size)


MUTANTS.update({
    "optim_solvers_report_their_state": [
        broken("L-BFGS grad_norm as the 2-norm", _bad(lbfgs=lbfgs_reports_two_norm)),
        broken("L-BFGS claims convergence", _bad(lbfgs=lbfgs_claims_convergence)),
        broken("L-BFGS history without f(x_0)", _bad(lbfgs=lbfgs_history_without_start)),
        broken("CG squared residual norms", _bad(conjugate_gradient=cg_reports_squared_norms)),
    ],
    "wolfe_step_satisfies_conditions": [
        broken("fixed step t = 1", _bad(wolfe_line_search=line_search_fixed_step)),
        broken("Armijo backtracking only", _bad(wolfe_line_search=line_search_armijo_only)),
        broken("Armijo backtracking only (float32)", _bad(wolfe_line_search=line_search_armijo_only), dtype="float32"),
    ],
    "optim_notes_iterations": [
        broken("epochs forgotten", _bad(iterations=iterations_without_epochs)),
        broken("partial batches always counted", _bad(iterations=iterations_rounded_up)),
        broken("partial batches carried across epochs", _bad(iterations=iterations_total_samples)),
    ],
})


# --- learning-rate schedules ------------------------------------------------------------------------
def step_decay_off_by_one(t, *, lr, step_size, gamma=0.1):
    """Drops one step early: γ^⌊(t + 1)/step_size⌋."""
    return lr * gamma ** ((t + 1) // step_size)


def step_decay_continuous(t, *, lr, step_size, gamma=0.1):
    """γ^(t/step_size): exponential decay at the same average rate, no steps."""
    return lr * gamma ** (t / step_size)


def exponential_one_ahead(t, *, lr, gamma):
    """lr·γ^(t+1): starts below lr."""
    return lr * gamma ** (t + 1)


def cosine_full_period(t, *, lr, T_max, eta_min=0.0):
    """cos(2πt/T_max): back at lr by T_max instead of at η_min."""
    return eta_min + (lr - eta_min) * (1 + math.cos(2 * math.pi * t / T_max)) / 2


def cosine_without_eta_min(t, *, lr, T_max, eta_min=0.0):
    """Anneals to 0 and adds η_min on top."""
    return eta_min + lr * (1 + math.cos(math.pi * t / T_max)) / 2


def cosine_clamped(t, *, lr, T_max, eta_min=0.0):
    """Stays at η_min after T_max (a reasonable schedule, but not torch's CosineAnnealingLR)."""
    return O.cosine_annealing_lr(min(t, T_max), lr=lr, T_max=T_max, eta_min=eta_min)


def warmup_one_late(t, *, lr, total_iters=5, start_factor=1 / 3, end_factor=1.0):
    """Reaches the end factor one step late (divides by total_iters + 1)."""
    n = total_iters + 1
    return lr * (start_factor + (end_factor - start_factor) * min(t, n) / n)


def warmup_from_zero(t, *, lr, total_iters=5, start_factor=1 / 3, end_factor=1.0):
    """Ignores start_factor: warms up from 0."""
    return lr * end_factor * min(t, total_iters) / total_iters


STEP = {"schedule": "step", "hparams": {"lr": 0.1, "step_size": 7, "gamma": 0.5}}
EXP = {"schedule": "exponential", "hparams": {"lr": 0.1, "gamma": 0.95}}
COS = {"schedule": "cosine", "hparams": {"lr": 0.1, "T_max": 20, "eta_min": 0.001}}
WARM = {"schedule": "warmup", "hparams": {"lr": 0.1, "total_iters": 10, "start_factor": 0.1}}

MUTANTS.update({
    "lr_schedule_matches_torch": [
        broken("step decay one step early", _bad(step_decay_lr=step_decay_off_by_one), **STEP),
        broken("exponential one step ahead", _bad(exponential_lr=exponential_one_ahead), **EXP),
        broken("cosine clamped after T_max", _bad(cosine_annealing_lr=cosine_clamped), **COS),
        broken("cosine without η_min in the amplitude", _bad(cosine_annealing_lr=cosine_without_eta_min), **COS),
        broken("warm-up one step late", _bad(linear_warmup_lr=warmup_one_late), **WARM),
    ],
    "lr_schedule_shape": [
        broken("step decay without steps", _bad(step_decay_lr=step_decay_continuous), **STEP),
        broken("step decay one step early", _bad(step_decay_lr=step_decay_off_by_one), **STEP),
        broken("exponential one step ahead", _bad(exponential_lr=exponential_one_ahead), **EXP),
        broken("cosine over a full period", _bad(cosine_annealing_lr=cosine_full_period), **COS),
        broken("cosine without η_min in the amplitude", _bad(cosine_annealing_lr=cosine_without_eta_min), **COS),
        broken("warm-up from zero", _bad(linear_warmup_lr=warmup_from_zero), **WARM),
        broken("warm-up one step late", _bad(linear_warmup_lr=warmup_one_late), **WARM),
    ],
})


# --- differentiable cores, CG's stopping rule, L-BFGS's budget, stopping rule and memory ------------
def sgd_detached(param, grad, state, **h):
    """The new parameters cut from the graph (no unrolled differentiation)."""
    new, st = O.sgd_step(param, grad, state, **h)
    return new.detach(), st


def adagrad_decay_detached(param, grad, state, *, weight_decay=0.0, **h):
    """Weight decay folded in with a detached θ: ∂θ₁/∂θ₀ misses −clr·wd/(√G + ε)."""
    return O.adagrad_step(param, grad + weight_decay * param.detach(), state, **h)


def adam_state_detached(param, grad, state, **h):
    """The moments handed to the next step detached: ∂θ₂/∂g₀ misses the path through m and v."""
    new, st = O.adam_step(param, grad, state, **h)
    return new, {k: (v.detach() if torch.is_tensor(v) else v) for k, v in st.items()}


def cg_absolute_tol(A, b, x0=None, *, tol=1e-10, max_iter=None):
    """Stops at ‖r‖ ≤ tol (absolute): right when ‖b‖ = 1, not otherwise."""
    return O.conjugate_gradient(A, b, x0, tol=tol / float(b.norm()), max_iter=max_iter)


def cg_tol_over_norm(A, b, x0=None, *, tol=1e-10, max_iter=None):
    """Stops at ‖r‖ ≤ tol/‖b‖."""
    return O.conjugate_gradient(A, b, x0, tol=tol / float(b.norm()) ** 2, max_iter=max_iter)


def lbfgs_one_extra_iteration(fun, x0, *, max_iter=500, **k):
    return O.lbfgs(fun, x0, max_iter=max_iter + 1, **k)


def lbfgs_short_memory(fun, x0, *, m=10, **k):
    """Keeps m − 1 pairs (pops at len ≥ m)."""
    return O.lbfgs(fun, x0, m=m - 1, **k)


def lbfgs_exclusive_gtol(fun, x0, *, gtol=1e-10, **k):
    """Stops only when ‖∇f‖_∞ < gtol."""
    return O.lbfgs(fun, x0, gtol=gtol * (1 - 1e-9), **k)


SGD_MOM = {"optimizer": "sgd", "hparams": {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.05}}
MUTANTS.update({
    "optim_step_is_differentiable": [
        broken("SGD result detached", _bad(sgd_step=sgd_detached), **SGD_MOM),
        broken("AdaGrad weight decay on a detached θ", _bad(adagrad_step=adagrad_decay_detached),
               optimizer="adagrad", hparams={"lr": 0.1, "weight_decay": 0.05}),
        broken("Adam moments detached between steps", _bad(adam_step=adam_state_detached),
               optimizer="adam", hparams={"lr": 0.01}),
    ],
    "cg_stopping_rule": [
        broken("absolute tolerance", _bad(conjugate_gradient=cg_absolute_tol)),
        broken("tolerance divided by ‖b‖", _bad(conjugate_gradient=cg_tol_over_norm)),
    ],
    "lbfgs_budget_and_memory": [
        broken("one iteration past max_iter", _bad(lbfgs=lbfgs_one_extra_iteration)),
        broken("memory of m − 1 pairs", _bad(lbfgs=lbfgs_short_memory)),
        broken("exclusive gtol", _bad(lbfgs=lbfgs_exclusive_gtol)),
    ],
})


def _lbfgs_edited(old: str, new: str):
    """O.lbfgs with one line of its source edited (a broken fallback), compiled in O's namespace."""
    import inspect
    import textwrap

    src = textwrap.dedent(inspect.getsource(O.lbfgs))
    assert old in src, old
    ns = dict(vars(O))
    exec(compile(src.replace(old, new), "<broken lbfgs>", "exec"), ns)
    return ns["lbfgs"]


MUTANTS["lbfgs_newton_step_at_any_scale"] = [
    broken("fallback direction +∇f", _bad(lbfgs=_lbfgs_edited("d = -g\n", "d = g\n"))),
    broken("gives up when the direction test fails",
           _bad(lbfgs=_lbfgs_edited("s_hist.clear()\n", "break\n"))),
]
