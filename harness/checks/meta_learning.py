"""Checks for gradient-based meta-learning (MAML; notes 002, "Meta Learning": inner and outer loop).

The subject is a module of functions over a list of parameter tensors, a loss ``loss_fn(params,
data)`` and tasks ``(train_data, test_data)`` (see :data:`CONTRACT`); the checks pass their own
losses. Oracles: closed forms on quadratic tasks whose Hessians are known (the adapted parameters,
the exact meta-gradient, its first-order approximation and the Hessian term between them); autograd
through an inner loop written here and central finite differences of a meta-objective evaluated here
(a non-linear model); and, for meta-training on a family of linear-regression tasks, the
post-adaptation loss of the un-meta-trained initialisation and the least-squares optimum of the
meta-objective (numpy.linalg.lstsq), both measured by this module's own adaptation step.
"""
from __future__ import annotations

import numpy as np
import torch

from harness.contract import load_contract
from harness.outcome import Outcome, Tolerance, all_of, bound, exact, f64, holds
from harness.registry import check

CONTRACT = load_contract("meta_learning")


def _spd(case, d: int, lo: float, hi: float) -> torch.Tensor:
    """A random symmetric positive-definite d×d matrix with eigenvalues spread over [lo, hi]."""
    Q, _ = torch.linalg.qr(case.randn(d, d, dtype=torch.float64).cpu())
    lam = torch.linspace(lo, hi, d, dtype=torch.float64)
    return (Q * lam) @ Q.T


def _quadratic(params, data):
    """½ (θ − a)ᵀ A (θ − a) for params = [θ (d,)], data = (A (d, d), a (d,))."""
    (theta,), (A, a) = params, data
    r = theta - a
    return 0.5 * r @ (A @ r)


@check(requires=("inner_adapt", "meta_gradient"))
def maml_quadratic_closed_form(subject, case, dim: int = 5, tasks: int = 3, alpha: float = 0.1, steps: int = 1) -> Outcome:
    """On quadratic tasks L_train = ½(θ − a)ᵀA(θ − a), L_test = ½(θ − c)ᵀC(θ − c) (Hessians A, C known)
    k inner SGD steps give θ' − a = (I − αA)^k (θ − a); the exact meta-gradient is the task mean of
    ((I − αA)^k)ᵀ C (θ' − c) (autograd through the inner steps, Hessian included); the first-order
    approximation is the mean of C (θ' − c) (∇L_test at θ'); so they differ by exactly the Hessian term
    mean[((I − αA)^k − I) C (θ' − c)] (for k = 1: −α A ∇L_test(θ')), which is not zero."""
    adapt, meta_grad = subject.fn("inner_adapt"), subject.fn("meta_gradient")
    theta = case.randn(dim, dtype=torch.float64).cpu()
    task_list, adapted, exact2, exact1 = [], [], [], []
    eye = torch.eye(dim, dtype=torch.float64)
    for _ in range(tasks):
        A, C = _spd(case, dim, 0.5, 4.0), _spd(case, dim, 0.5, 4.0)
        a, c = case.randn(dim, dtype=torch.float64).cpu(), case.randn(dim, dtype=torch.float64).cpu()
        M = torch.linalg.matrix_power(eye - alpha * A, steps)
        t_prime = a + M @ (theta - a)
        adapted.append(t_prime)
        exact2.append(M.T @ (C @ (t_prime - c)))
        exact1.append(C @ (t_prime - c))
        dev = lambda x: x.to(case.device, case.dtype)  # noqa: E731
        task_list.append(((dev(A), dev(a)), (dev(C), dev(c))))
    th = theta.to(case.device, case.dtype)
    first_task_adapted = adapt([th], _quadratic, task_list[0][0], alpha=alpha, steps=steps)[0]
    g2 = f64(meta_grad([th], _quadratic, task_list, alpha=alpha, steps=steps)[0])
    g1 = f64(meta_grad([th], _quadratic, task_list, alpha=alpha, steps=steps, first_order=True)[0])
    e2, e1 = torch.stack(exact2).mean(0), torch.stack(exact1).mean(0)
    return all_of(
        case.close(f"θ' after {steps} inner step(s) vs a + (I − αA)^k (θ − a)", first_task_adapted, adapted[0]),
        case.close("exact meta-gradient vs mean ((I − αA)^k)ᵀ C (θ' − c)", g2, e2, detail=f"{tasks} tasks, dim {dim}, α = {alpha}"),
        case.close("first-order meta-gradient vs mean C (θ' − c)", g1, e1),
        case.close("exact − first-order vs the Hessian term mean ((I − αA)^k − I) C (θ' − c)", g2 - g1, e2 - e1),
        bound("‖Hessian term‖ (the first-order approximation differs)", float((e2 - e1).norm()), 0.0, op=">"),
    )


def _mlp_loss(params, data):
    """Mean squared error of a one-hidden-layer tanh network: params = [W1 (h, d), b1 (h), w2 (h), b2 ()]."""
    W1, b1, w2, b2 = params
    X, y = data
    return ((torch.tanh(X @ W1.T + b1) @ w2 + b2 - y) ** 2).mean()


def _mlp_tasks(case, n_tasks: int, d: int, shots: int):
    """Sinusoid-like regression tasks y = sin(x·u + φ) (each with its own u, φ), support and query sets."""
    tasks = []
    for _ in range(n_tasks):
        u, phi = case.randn(d), case.rand(1) * 3
        Xs, Xq = case.randn(shots, d), case.randn(2 * shots, d)
        tasks.append(((Xs, torch.sin(Xs @ u + phi)), (Xq, torch.sin(Xq @ u + phi))))
    return tasks


def _own_meta_loss(params, tasks, alpha: float, steps: int, create_graph: bool):
    """The meta-objective computed here: inner SGD steps by torch.autograd.grad, then the test loss."""
    losses = []
    for train, test in tasks:
        theta = list(params)
        for _ in range(steps):
            grads = torch.autograd.grad(_mlp_loss(theta, train), theta, create_graph=create_graph)
            theta = [p - alpha * g for p, g in zip(theta, grads)]
        losses.append(_mlp_loss(theta, test))
    return torch.stack(losses).mean()


@check(requires=("meta_gradient", "meta_loss"))
def maml_meta_gradient_matches_autograd_and_fd(subject, case, d: int = 2, hidden: int = 4, n_tasks: int = 3,
                                              shots: int = 5, alpha: float = 0.3, steps: int = 2,
                                              h: float = 1e-6) -> Outcome:
    """On a non-linear model (a tanh network regressing sinusoid tasks) with several inner steps, the
    exact meta-gradient equals autograd through an inner loop written independently (create_graph,
    second order) and central finite differences of that meta-objective (float64, step h; truncation
    O(h²) and round-off O(ε/h) ≈ 1e-10 relative, held to atol 1e-7 + rtol 1e-6); meta_loss equals the
    independent meta-objective; the first-order meta-gradient differs from the exact one."""
    with case.fork_rng():
        params = [torch.randn(hidden, d, dtype=torch.float64), torch.randn(hidden, dtype=torch.float64),
                  torch.randn(hidden, dtype=torch.float64), torch.randn((), dtype=torch.float64)]
    params = [p.to(case.device) * 0.7 for p in params]
    tasks = [tuple((x.to(torch.float64), y.to(torch.float64)) for x, y in t) for t in _mlp_tasks(case, n_tasks, d, shots)]
    sub = [p.to(case.dtype) for p in params]
    sub_tasks = [tuple((x.to(case.dtype), y.to(case.dtype)) for x, y in t) for t in tasks]
    g = torch.cat([f64(x).flatten() for x in subject.fn("meta_gradient")(sub, _mlp_loss, sub_tasks, alpha=alpha, steps=steps)])
    g1 = torch.cat([f64(x).flatten() for x in subject.fn("meta_gradient")(sub, _mlp_loss, sub_tasks, alpha=alpha,
                                                                        steps=steps, first_order=True)])
    value = subject.fn("meta_loss")(sub, _mlp_loss, sub_tasks, alpha=alpha, steps=steps)
    leaves = [p.clone().requires_grad_(True) for p in params]
    own = _own_meta_loss(leaves, tasks, alpha, steps, create_graph=True)
    auto = torch.cat([x.flatten() for x in torch.autograd.grad(own, leaves)]).detach().cpu()
    flat = torch.cat([p.flatten() for p in params])
    sizes = [p.numel() for p in params]

    def objective(v):
        ps = [x.reshape(p.shape).requires_grad_(True) for x, p in zip(torch.split(v, sizes), params)]
        return float(_own_meta_loss(ps, tasks, alpha, steps, create_graph=False).detach())

    fd = torch.tensor([(objective(flat + h * e) - objective(flat - h * e)) / (2 * h)
                       for e in torch.eye(flat.numel(), dtype=torch.float64, device=flat.device)], dtype=torch.float64)
    return all_of(
        case.close("meta_loss vs the meta-objective computed independently", value, own.detach()),
        case.close(f"exact meta-gradient vs autograd through {steps} independent inner steps", g, auto),
        case.close("exact meta-gradient vs central finite differences", g, fd,
                   tol=Tolerance(1e-7, 1e-6, "central differences, h = 1e-6 in float64: O(h²) + O(ε/h)")),
        bound("max |exact − first-order meta-gradient|", float((g - g1).abs().max()), 0.0, op=">"),
    )


def _linreg_loss(params, data):
    """Mean squared error of X w + b: params = [w (d,), b ()], data = (X (n, d), y (n,))."""
    w, b = params
    X, y = data
    return ((X @ w + b - y) ** 2).mean()


def _linreg_tasks(case, n: int, d: int, shots: int, queries: int, mean_w: torch.Tensor, spread: float, noise: float):
    """Linear-regression tasks y = x·w_T + b_T + noise, w_T = mean_w + spread·z, b_T = 1 + spread·z'."""
    out = []
    for _ in range(n):
        w, b = mean_w + spread * case.randn(d, dtype=torch.float64).cpu(), 1.0 + spread * float(case.randn(1))
        X = case.randn(shots + queries, d, dtype=torch.float64).cpu()
        y = X @ w + b + noise * case.randn(shots + queries, dtype=torch.float64).cpu()
        out.append(((X[:shots], y[:shots]), (X[shots:], y[shots:])))
    return out


def _affine_adaptation(train, alpha: float):
    """θ' = M θ + v for one SGD step on the MSE, θ = [w; b]: M = I − (2α/n) X̃ᵀX̃, v = (2α/n) X̃ᵀ y."""
    X, y = train
    Xt = torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype)], 1)
    n = X.shape[0]
    return torch.eye(Xt.shape[1], dtype=X.dtype) - 2 * alpha / n * Xt.T @ Xt, 2 * alpha / n * Xt.T @ y


def _post_adaptation_loss(theta: torch.Tensor, tasks, alpha: float) -> float:
    """Mean query MSE after one SGD step from θ = [w; b] on each task's support set (computed here, in closed form)."""
    losses = []
    for train, (Xq, yq) in tasks:
        M, v = _affine_adaptation(train, alpha)
        t = M @ theta + v
        losses.append(float(((Xq @ t[:-1] + t[-1] - yq) ** 2).mean()))
    return float(np.mean(losses))


def _meta_optimum(tasks, alpha: float) -> torch.Tensor:
    """The initialisation minimising the post-adaptation loss on ``tasks``: θ' is affine in θ, so the
    meta-objective is a least-squares problem, solved by numpy.linalg.lstsq."""
    rows, rhs = [], []
    for train, (Xq, yq) in tasks:
        M, v = _affine_adaptation(train, alpha)
        Q = torch.cat([Xq, torch.ones(Xq.shape[0], 1, dtype=Xq.dtype)], 1)
        rows.append((Q @ M).numpy())
        rhs.append((yq - Q @ v).numpy())
    return torch.from_numpy(np.linalg.lstsq(np.concatenate(rows), np.concatenate(rhs), rcond=None)[0])


@check(requires=("meta_gradient",), marks=("slow", "training"))
def maml_improves_post_adaptation_loss(subject, case, d: int = 3, shots: int = 5, queries: int = 15,
                                       alpha: float = 0.1, beta: float = 0.1, meta_steps: int = 60,
                                       meta_batch: int = 8, eval_tasks: int = 200, first_order: bool = False,
                                       min_gap_closed: float = 0.8) -> Outcome:
    """On a family of linear-regression tasks (weights scattered around a shared mean), a few meta-steps
    θ ← θ − β·meta_gradient from θ = 0 lower the loss after one inner SGD step on fresh tasks: measured
    here (closed-form adaptation), the meta-trained initialisation closes at least 80% of the gap between
    the un-meta-trained initialisation θ = 0 (the baseline) and the best initialisation for those tasks
    (least squares, numpy.linalg.lstsq)."""
    mean_w = 2.0 * case.randn(d, dtype=torch.float64).cpu()
    w = torch.zeros(d, dtype=case.dtype, device=case.device)
    b = torch.zeros((), dtype=case.dtype, device=case.device)
    meta_grad = subject.fn("meta_gradient")
    dev = lambda x: x.to(case.device, case.dtype)  # noqa: E731
    for _ in range(meta_steps):
        batch = [((dev(X), dev(y)), (dev(Xq), dev(yq)))
                 for (X, y), (Xq, yq) in _linreg_tasks(case, meta_batch, d, shots, queries, mean_w, 0.5, 0.1)]
        gw, gb = meta_grad([w, b], _linreg_loss, batch, alpha=alpha, first_order=first_order)
        w, b = w - beta * gw, b - beta * gb
    fresh = _linreg_tasks(case, eval_tasks, d, shots, queries, mean_w, 0.5, 0.1)
    trained = _post_adaptation_loss(torch.cat([f64(w), f64(b).reshape(1)]), fresh, alpha)
    baseline = _post_adaptation_loss(torch.zeros(d + 1, dtype=torch.float64), fresh, alpha)
    best = _post_adaptation_loss(_meta_optimum(fresh, alpha), fresh, alpha)
    closed = (baseline - trained) / (baseline - best)
    return bound(f"fraction of the gap (θ = 0 → best initialisation) closed after {meta_steps} meta-steps", closed,
                 min_gap_closed, op=">=",
                 detail=f"post-adaptation query MSE on {eval_tasks} fresh tasks: θ = 0 {baseline:.4g}, meta-trained "
                        f"{trained:.4g}, least-squares optimum {best:.4g}")


# --- memory-augmented networks (Santoro et al. 2016): content reads, LRUA writes, label offset --------
MANN_CORES = ("cosine_read_weights", "read_memory", "least_used_weights", "lrua_write_weights", "usage_update",
              "lrua_write")


@check(requires=("cosine_read_weights", "read_memory"))
def mann_content_read(subject, case, batch: int = 3, slots: int = 8, width: int = 5, beta: float = 2.0) -> Outcome:
    """A MANN reads by content: w^r(i) = softmax_i(β·cos(k, M(i))) (sklearn's cosine_similarity, scipy's
    softmax), each row sums to 1, is unchanged when the key is scaled by 3 (cosine), and the read vector is
    r = Σ_i w^r(i) M(i)."""
    from scipy.special import softmax
    from sklearn.metrics.pairwise import cosine_similarity

    M, k = case.randn(batch, slots, width), case.randn(batch, width)
    w = subject.fn("cosine_read_weights")(M, k, beta)
    r = subject.fn("read_memory")(M, w)
    Mn, kn = f64(M).numpy(), f64(k).numpy()
    expected = np.stack([softmax(beta * cosine_similarity(kn[b:b + 1], Mn[b])[0]) for b in range(batch)])
    return all_of(
        case.close("read weights vs softmax(β·cosine_similarity)", w, torch.from_numpy(expected)),
        case.close("Σ_i w^r(i)", w.sum(-1), torch.ones(batch, dtype=torch.float64)),
        case.close("read weights with the key scaled by 3", subject.fn("cosine_read_weights")(M, 3 * k, beta), w),
        case.close("read vector vs Σ_i w^r(i) M(i)", r, torch.from_numpy(np.einsum("bn,bnw->bw", f64(w).numpy(), Mn))),
    )


@check(requires=MANN_CORES)
def mann_lrua_addressing(subject, case, batch: int = 4, slots: int = 8, width: int = 3, n: int = 2,
                         gamma: float = 0.9) -> Outcome:
    """Least-recently-used access: w^lu marks exactly the n slots of smallest usage (numpy's stable argsort:
    ties go to the lower index); w^w = σ(α) w^r_{t−1} + (1 − σ(α)) w^lu_{t−1} (scipy's expit), which sums
    to 1 when n = 1; w^u_t = γ w^u_{t−1} + w^r_t + w^w_t; the write zeroes the least-used slot and then
    adds w^w(i)·k to every slot (an explicit loop)."""
    from scipy.special import expit, softmax

    usage = case.rand(batch, slots)
    usage[0, :] = 0.5  # all tied: the lowest indices win
    usage[1, 3] = usage[1, 5] = -1.0  # a tie for the smallest
    read_prev = torch.from_numpy(softmax(f64(case.randn(batch, slots)).numpy(), axis=-1)).to(case.device, case.dtype)
    read_now = torch.from_numpy(softmax(f64(case.randn(batch, slots)).numpy(), axis=-1)).to(case.device, case.dtype)
    gate = case.randn(batch)
    lu = subject.fn("least_used_weights")(usage, n)
    lu1 = subject.fn("least_used_weights")(usage, 1)
    ww = subject.fn("lrua_write_weights")(read_prev, lu1, gate)
    u = subject.fn("usage_update")(usage, read_now, ww, gamma)
    M, k = case.randn(batch, slots, width), case.randn(batch, width)
    M_new = subject.fn("lrua_write")(M, ww, k, usage)
    un = f64(usage).numpy()
    exp_lu = np.zeros_like(un)
    for b in range(batch):
        exp_lu[b, np.argsort(un[b], kind="stable")[:n]] = 1.0
    exp_lu1 = np.zeros_like(un)
    exp_lu1[np.arange(batch), np.argsort(un, axis=-1, kind="stable")[:, 0]] = 1.0
    s = expit(f64(gate).numpy())[:, None]
    exp_ww = s * f64(read_prev).numpy() + (1 - s) * exp_lu1
    exp_M = f64(M).numpy().copy()
    for b in range(batch):
        exp_M[b, int(np.argsort(un[b], kind="stable")[0])] = 0.0
        for i in range(slots):
            exp_M[b, i] += exp_ww[b, i] * f64(k).numpy()[b]
    t = torch.from_numpy
    return all_of(
        exact(f"least-used weights (n = {n}) vs the n smallest usages by stable argsort", f64(lu), t(exp_lu)),
        exact("least-used weights (n = 1)", f64(lu1), t(exp_lu1)),
        case.close("write weights vs σ(α) w^r_{t−1} + (1 − σ(α)) w^lu_{t−1}", ww, t(exp_ww)),
        case.close("Σ_i w^w(i) (n = 1)", ww.sum(-1), torch.ones(batch, dtype=torch.float64)),
        case.close("usage vs γ w^u_{t−1} + w^r_t + w^w_t", u, t(gamma * un + f64(read_now).numpy() + exp_ww)),
        case.close("memory after the write (least-used slot zeroed, then + w^w(i) k)", M_new, t(exp_M)),
    )


@check(requires=("offset_label_inputs",))
def mann_episode_label_offset(subject, case, batch: int = 3, steps: int = 6, dim: int = 4, classes: int = 5) -> Outcome:
    """An episode shows each label one step late: the input at step t is [x_t, onehot(y_{t−1})] with an
    all-zero label part at t = 0, so the label of x_t is never in x_t's own input (an explicit loop)."""
    x = case.randn(batch, steps, dim)
    y = case.randint(0, classes, (batch, steps))
    got = subject.fn("offset_label_inputs")(x, y, classes)
    expected = torch.zeros(batch, steps, dim + classes, dtype=torch.float64)
    xn, yn = f64(x), y.cpu()
    for b in range(batch):
        for t in range(steps):
            expected[b, t, :dim] = xn[b, t]
            if t > 0:
                expected[b, t, dim + int(yn[b, t - 1])] = 1.0
    return all_of(
        exact("input shape", tuple(got.shape), (batch, steps, dim + classes)),
        exact("episode inputs vs [x_t, onehot(y_{t−1})]", f64(got), expected),
    )


@check(requires=MANN_CORES)
def mann_one_shot_recall(subject, case, batch: int = 4, slots: int = 6, width: int = 16, beta: float = 20.0,
                         gamma: float = 0.95, noise: float = 0.1) -> Outcome:
    """Written once each with LRUA (write gate σ(α) ≈ 0: every write goes to the least-used slot), `slots`
    random keys occupy distinct slots and each is recalled from a noisy cue: the read vector for k_j + noise
    is nearest (in cosine) to k_j among all stored keys, for every j."""
    f = {n: subject.fn(n) for n in MANN_CORES}
    keys = case.randn(batch, slots, width)
    M = torch.zeros(batch, slots, width, dtype=case.dtype, device=case.device)
    usage = torch.zeros(batch, slots, dtype=case.dtype, device=case.device)
    read_prev = torch.zeros_like(usage)
    gate = torch.full((batch,), -30.0, dtype=case.dtype, device=case.device)
    for t in range(slots):
        ww = f["lrua_write_weights"](read_prev, f["least_used_weights"](usage, 1), gate)
        M = f["lrua_write"](M, ww, keys[:, t], usage)
        read_prev = f["cosine_read_weights"](M, keys[:, t], beta)
        usage = f["usage_update"](usage, read_prev, ww, gamma)
    hits = 0
    for j in range(slots):
        cue = keys[:, j] + noise * case.randn(batch, width)
        r = f64(f["read_memory"](M, f["cosine_read_weights"](M, cue, beta)))
        kn = f64(keys)
        cos = torch.einsum("bw,bnw->bn", r, kn) / (r.norm(dim=-1, keepdim=True) * kn.norm(dim=-1)).clamp_min(1e-300)
        hits += int((cos.argmax(-1) == j).sum())
    return exact(f"cues recalled to their own key ({batch}×{slots} cues)", hits, batch * slots)


# --- the outer step and the linear-regression loss; gradients of the memory access --------------------
@check(requires=("maml_step",))
def maml_step_descends_meta_gradient(subject, case, dim: int = 4, tasks: int = 3, alpha: float = 0.1, beta: float = 0.3,
                                     steps: int = 2) -> Outcome:
    """One outer step is θ ← θ − β ∇_θ L_meta(θ): on quadratic tasks L_train = ½(θ − a)ᵀA(θ − a),
    L_test = ½(θ − c)ᵀC(θ − c) the result equals θ − β mean ((I − αA)^k)ᵀ C (θ' − c) (exact) and
    θ − β mean C (θ' − c) (first order), θ' − a = (I − αA)^k (θ − a) (closed forms), for a parameter
    given as a list of tensors; the parameters passed in are left unchanged."""
    theta = case.randn(dim, dtype=torch.float64).cpu()
    eye = torch.eye(dim, dtype=torch.float64)
    task_list, exact2, exact1 = [], [], []
    dev = lambda x: x.to(case.device, case.dtype)  # noqa: E731
    for _ in range(tasks):
        A, C = _spd(case, dim, 0.5, 4.0), _spd(case, dim, 0.5, 4.0)
        a, c = case.randn(dim, dtype=torch.float64).cpu(), case.randn(dim, dtype=torch.float64).cpu()
        M = torch.linalg.matrix_power(eye - alpha * A, steps)
        t_prime = a + M @ (theta - a)
        exact2.append(M.T @ (C @ (t_prime - c)))
        exact1.append(C @ (t_prime - c))
        task_list.append(((dev(A), dev(a)), (dev(C), dev(c))))
    th = dev(theta)
    before = th.clone()
    step = subject.fn("maml_step")
    new2 = step([th], _quadratic, task_list, alpha=alpha, beta=beta, steps=steps)
    new1 = step([th], _quadratic, task_list, alpha=alpha, beta=beta, steps=steps, first_order=True)
    out = [exact("one tensor per parameter", (len(new2), len(new1)), (1, 1))]
    if not out[0].passed:
        return out[0]
    return all_of(
        *out,
        case.close(f"θ after one exact meta-step vs θ − β mean ((I − αA)^k)ᵀ C (θ' − c) (k = {steps})", new2[0],
                   theta - beta * torch.stack(exact2).mean(0), detail=f"{tasks} tasks, dim {dim}, α = {alpha}, β = {beta}"),
        case.close("θ after one first-order meta-step vs θ − β mean C (θ' − c)", new1[0], theta - beta * torch.stack(exact1).mean(0)),
        exact("the parameters passed in are unchanged", th, before),
    )


@check(requires=("linear_regression_loss",))
def maml_linear_regression_loss(subject, case, n: int = 7, d: int = 3) -> Outcome:
    """The linear-regression task loss is the mean squared error L(w, b) = (1/n) Σ_i (x_i·w + b − y_i)²
    (numpy, float64), and autograd through it gives ∂L/∂w = (2/n) Xᵀr and ∂L/∂b = (2/n) Σ_i r_i with
    r = Xw + b − y (closed forms)."""
    X, y, w, b = case.randn(n, d), case.randn(n), case.randn(d), case.randn(())
    wl, bl = w.clone().requires_grad_(True), b.clone().requires_grad_(True)
    loss = subject.fn("linear_regression_loss")([wl, bl], (X, y))
    Xn, yn, wn, bn = (f64(t).numpy() for t in (X, y, w, b))
    r = Xn @ wn + bn - yn
    out = [exact("the loss is a scalar", tuple(loss.shape), ()),
           case.close("L(w, b) vs mean (Xw + b − y)² (numpy)", loss, float(np.mean(r ** 2)))]
    if not loss.requires_grad:
        return all_of(*out, holds("the loss is differentiable in (w, b) (requires grad)", False))
    gw, gb = torch.autograd.grad(loss, (wl, bl))
    return all_of(*out,
                  case.close("∂L/∂w vs (2/n) Xᵀr", gw, torch.from_numpy(2.0 / n * Xn.T @ r)),
                  case.close("∂L/∂b vs (2/n) Σ r", gb, float(2.0 / n * r.sum())))


def _vjp_vs_fd(name, f, inputs, wrt, h: float) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """Autograd's gradient of Σ R ⊙ f(inputs) (R a fixed ±1/2..3/2 pattern) with respect to the inputs named
    in ``wrt``, and central differences of the same scalar; an output that carries no graph has gradient 0."""
    out0 = f(*inputs)
    R = torch.linspace(-1.5, 1.5, out0.numel(), dtype=torch.float64, device=out0.device).reshape(out0.shape)
    R = torch.where(R.abs() < 0.5, R + 2.0, R)  # no weight near 0

    def scalar(*xs):
        return (f(*xs) * R).sum()

    leaves = [x.clone().requires_grad_(i in wrt) if torch.is_floating_point(x) else x for i, x in enumerate(inputs)]
    val = scalar(*leaves)
    targets = [leaves[i] for i in wrt]
    if val.requires_grad:
        grads = torch.autograd.grad(val, targets, allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, targets)]
    else:
        grads = [torch.zeros_like(t) for t in targets]
    pairs = []
    for i, g in zip(wrt, grads):
        x = inputs[i]
        fd = torch.zeros_like(x)
        flat = fd.view(-1)
        for j in range(x.numel()):
            e = torch.zeros_like(x).view(-1)
            e[j] = h
            e = e.view(x.shape)
            xp = [t if k != i else t + e for k, t in enumerate(inputs)]
            xm = [t if k != i else t - e for k, t in enumerate(inputs)]
            with torch.no_grad():
                flat[j] = (scalar(*xp) - scalar(*xm)) / (2 * h)
        pairs.append((f"{name}: d/d(argument {i})", g.detach(), fd))
    return pairs


@check(requires=MANN_CORES + ("offset_label_inputs",))
def mann_memory_access_gradients(subject, case, batch: int = 2, slots: int = 4, width: int = 3, steps: int = 3,
                                 classes: int = 3, h: float = 1e-6) -> Outcome:
    """The memory access of a MANN is trained end to end by back-propagation, so every operation passes
    gradients wherever it is smooth: autograd's gradient of a fixed weighted sum of each output equals
    central finite differences of that sum (float64, step h: O(h²) + O(ε/h) ≈ 1e-10, held to atol 1e-7 +
    rtol 1e-6) with respect to every real argument: cosine_read_weights (memory, key, β per row),
    read_memory (memory, weights), lrua_write_weights (previous read and least-used weights, gate),
    usage_update (all three), lrua_write (memory, write weights, key) and offset_label_inputs (x);
    least_used_weights is piecewise constant in the usage (no ties here), so both are 0 there."""
    dd = torch.float64
    g = lambda *s: case.randn(*s, dtype=dd)  # noqa: E731
    M, k, beta = g(batch, slots, width), g(batch, width), 1.0 + case.rand(batch, dtype=dd)
    w = torch.softmax(g(batch, slots), -1)
    usage = torch.arange(slots, dtype=dd, device=case.device).repeat(batch, 1) + 0.3 * case.rand(batch, slots, dtype=dd)
    lu = torch.zeros(batch, slots, dtype=dd, device=case.device)
    lu[:, 0] = 1.0
    gate = g(batch)
    x, labels = g(batch, steps, width), case.randint(0, classes, (batch, steps))
    fn = {n: subject.fn(n) for n in MANN_CORES + ("offset_label_inputs",)}
    ops = [
        ("cosine_read_weights", lambda m, key, bt: fn["cosine_read_weights"](m, key, bt), (M, k, beta), (0, 1, 2)),
        ("read_memory", fn["read_memory"], (M, w), (0, 1)),
        ("lrua_write_weights", fn["lrua_write_weights"], (w, lu, gate), (0, 1, 2)),
        ("usage_update", lambda u, r, ww: fn["usage_update"](u, r, ww, 0.9), (usage, w, lu), (0, 1, 2)),
        ("lrua_write", fn["lrua_write"], (M, w, k, usage), (0, 1, 2)),
        ("offset_label_inputs", lambda xx: fn["offset_label_inputs"](xx, labels, classes), (x,), (0,)),
        ("least_used_weights", lambda u: fn["least_used_weights"](u, 2), (usage,), (0,)),
    ]
    tol = Tolerance(1e-7, 1e-6, f"central differences, h = {h:g} in float64: O(h²) + O(ε/h)")
    out = []
    for name, f, args, wrt in ops:
        for label, got, want in _vjp_vs_fd(name, f, args, wrt, h):
            out.append(case.close(f"{label}: autograd vs central differences", got, want, tol=tol))
    return all_of(*out)
