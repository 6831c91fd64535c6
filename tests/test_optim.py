"""Every optimiser check accepts reference_impls.optim and rejects a deliberately wrong variant."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from harness.testing import patched, run_check
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


TRAJ_CASES = [
    ("sgd", {"lr": 0.1}, None),
    ("sgd", {"lr": 0.05, "momentum": 0.9}, None),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True}, {"sgd_step": nesterov_as_heavy_ball}),
    ("adagrad", {"lr": 0.1}, {"adagrad_step": adagrad_eps_inside_root}),
    ("rmsprop", {"lr": 0.01}, {"rmsprop_step": rmsprop_alpha_swapped}),
    ("adam", {"lr": 0.01}, {"adam_step": adam_eps_inside_root}),
    ("adadelta", {"lr": 0.5}, {"adadelta_step": adadelta_without_lr}),
]


@pytest.mark.parametrize("optimizer, hparams, broken", TRAJ_CASES)
def test_optim_trajectory_matches_torch(optimizer, hparams, broken):
    assert run_check("optim_trajectory_matches_torch", REF, optimizer=optimizer, hparams=hparams, steps=30).passed
    if broken:
        bad = patched(REF, **broken)
        assert not run_check("optim_trajectory_matches_torch", bad, optimizer=optimizer, hparams=hparams, steps=30).passed


def test_optim_trajectory_rejects_adam_eps_inside_root_float32():
    bad = patched(REF, adam_step=adam_eps_inside_root)
    assert not run_check("optim_trajectory_matches_torch", bad, optimizer="adam", hparams={"lr": 0.01}, steps=30).passed


def test_adagrad_rate_never_rises():
    assert run_check("adagrad_rate_never_rises", REF).passed
    assert not run_check("adagrad_rate_never_rises", patched(REF, adagrad_step=adagrad_leaky)).passed


def test_adam_first_step_is_lr():
    assert run_check("adam_first_step_is_lr", REF).passed
    assert run_check("adam_first_step_is_lr", REF, dtype="float32").passed
    assert not run_check("adam_first_step_is_lr", patched(REF, adam_step=adam_no_bias_correction)).passed


def test_optim_reaches_quadratic_minimiser():
    assert run_check("optim_reaches_quadratic_minimiser", REF, optimizer="sgd", hparams={"lr": 0.1}, steps=200).passed
    bad = patched(REF, sgd_step=sgd_half_lr)
    assert not run_check("optim_reaches_quadratic_minimiser", bad, optimizer="sgd", hparams={"lr": 0.1}, steps=200).passed
    nest = {"lr": 0.1, "momentum": 0.519, "nesterov": True}
    assert run_check("optim_reaches_quadratic_minimiser", REF, optimizer="sgd", hparams=nest, steps=40).passed
    # momentum silently ignored: plain GD contracts by 0.9 per step, far slower than Nesterov's factor
    assert not run_check("optim_reaches_quadratic_minimiser", patched(REF, sgd_step=sgd_without_momentum),
                         optimizer="sgd", hparams=nest, steps=40).passed
    # adaptive methods need a stated tolerance; without one the check refuses to pass
    assert not run_check("optim_reaches_quadratic_minimiser", REF, optimizer="adam", hparams={"lr": 0.05}).passed


def test_cg_solves_spd_within_n():
    assert run_check("cg_solves_spd_within_n", REF).passed
    assert not run_check("cg_solves_spd_within_n", patched(REF, conjugate_gradient=steepest_descent)).passed


def test_cg_distinct_eigenvalues():
    assert run_check("cg_distinct_eigenvalues", REF).passed
    assert not run_check("cg_distinct_eigenvalues", patched(REF, conjugate_gradient=steepest_descent)).passed


@pytest.mark.parametrize("problem, dim, gtol", [("rosenbrock", 2, 1e-10), ("quadratic", 20, 1e-6)])
def test_lbfgs_matches_scipy(problem, dim, gtol):
    assert run_check("lbfgs_matches_scipy", REF, problem=problem, dim=dim, gtol=gtol).passed
    assert not run_check("lbfgs_matches_scipy", patched(REF, lbfgs=lbfgs_stops_early), problem=problem, dim=dim,
                         gtol=gtol).passed


def test_lbfgs_two_loop_equals_dense_bfgs():
    assert run_check("lbfgs_two_loop_equals_dense_bfgs", REF).passed
    assert not run_check("lbfgs_two_loop_equals_dense_bfgs", patched(REF, lbfgs_direction=two_loop_unscaled)).passed


def test_optimizer_classes_train_a_model():
    """The Optimizer classes drive an ordinary training loop (state kept per parameter)."""
    torch.manual_seed(0)
    X, y = torch.randn(64, 3, dtype=torch.float64), torch.randn(64, 1, dtype=torch.float64)
    for cls, kw in [(O.SGD, {"lr": 0.1, "momentum": 0.9}), (O.AdaGrad, {"lr": 0.5}), (O.RMSProp, {"lr": 0.01}),
                    (O.Adam, {"lr": 0.05}), (O.AdaDelta, {"lr": 1.0})]:
        lin = torch.nn.Linear(3, 1).double()
        opt = cls(lin.parameters(), **kw)
        first = None
        for _ in range(100):
            opt.zero_grad()
            loss = ((lin(X) - y) ** 2).mean()
            first = first if first is not None else float(loss.detach())
            loss.backward()
            opt.step()
        assert float(loss.detach()) < first, cls.__name__
        assert all(st["step"] == 100 for st in opt.state.values())


def test_cg_result_and_lbfgs_result_are_frozen():
    r = O.conjugate_gradient(torch.eye(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    assert r.n_iter == 1 and r.converged
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.n_iter = 2  # type: ignore[misc]
