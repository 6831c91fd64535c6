"""First- and second-order optimisers of the course notes, written from their update equations.

Interface (two layers):

* **Functional cores** ``<name>_step(param, grad, state, **hyper) -> (new_param, new_state)``
  for one tensor: pure (neither ``param``, ``grad`` nor ``state`` is modified), ``state`` is a
  dict of tensors plus an integer ``"step"`` and starts as ``{}``. Any shape; device and dtype
  come from ``param``.
* **Optimizer classes** (:class:`SGD`, :class:`AdaGrad`, :class:`RMSProp`, :class:`Adam`,
  :class:`AdaDelta`) subclass ``torch.optim.Optimizer`` and apply the core to each parameter
  (drop-in for training loops: ``opt.zero_grad(); loss.backward(); opt.step()``).

Full-batch methods on a flat vector ``x`` (1-D tensor): :func:`conjugate_gradient` (linear CG for
a symmetric positive-definite ``A x = b``) and :func:`lbfgs` (two-loop recursion,
:func:`lbfgs_direction`, with a weak-Wolfe bisection line search).

Conventions (those of ``torch.optim``, so trajectories agree step for step):

* weight decay is the L2 form ``g ← g + wd·θ`` before anything else (Adam's too; not AdamW);
* momentum (heavy ball): ``b ← μ b + (1 − dampening) g`` with ``b₁ = g₁`` on the first step,
  ``θ ← θ − lr·b``; Nesterov (Sutskever et al. form): ``θ ← θ − lr·(g + μ b)``;
* AdaGrad: ``G ← G + g²``, ``θ ← θ − lr_t·g / (√G + ε)`` with ε *outside* the root (default
  1e-10) and ``lr_t = lr / (1 + (t − 1)·lr_decay)``;
* RMSProp: ``E[g²] ← α E[g²] + (1 − α) g²`` (α is the decay, default 0.99), ε outside the root;
  ``centered`` subtracts the square of ``E[g] ← α E[g] + (1 − α) g`` under the root; with
  momentum ``b ← μ b + g/(√· + ε)``, ``θ ← θ − lr·b``;
* Adam: ``m̂ = m/(1 − β₁ᵗ)``, ``v̂ = v/(1 − β₂ᵗ)``, ``θ ← θ − lr·m̂/(√v̂ + ε)`` (ε added after the
  bias correction of √v); ``amsgrad`` uses the running max of v;
* AdaDelta: ``E[g²] ← ρE[g²] + (1 − ρ)g²``, ``Δ = √(E[Δ²] + ε)/√(E[g²] + ε)·g``,
  ``E[Δ²] ← ρE[Δ²] + (1 − ρ)Δ²``, ``θ ← θ − lr·Δ``: ε *inside* both roots (default 1e-6) and a
  learning rate ``lr`` (default 1.0, Zeiler's method) that torch adds.

References
1. Notes 003, "Optimization algorithms" (first order: gradient descent; second order: L-BFGS,
   conjugate gradient) and "Magnitude hyperparameters" (momentum, Nesterov's momentum, AdaGrad,
   RMSProp, Adam, AdaDelta).
2. Polyak (1964), "Some methods of speeding up the convergence of iteration methods" (momentum).
3. Sutskever, Martens, Dahl, Hinton (2013), "On the importance of initialization and momentum
   in deep learning" (Nesterov momentum in this form).
4. Duchi, Hazan, Singer (2011), "Adaptive Subgradient Methods for Online Learning and
   Stochastic Optimization" (AdaGrad).
5. Tieleman, Hinton (2012), COURSERA Neural Networks lecture 6.5 (RMSProp).
6. Kingma, Ba (2015), "Adam: A Method for Stochastic Optimization"; Reddi, Kale, Kumar (2018),
   "On the Convergence of Adam and Beyond" (AMSGrad).
7. Zeiler (2012), "ADADELTA: An Adaptive Learning Rate Method".
8. Hestenes, Stiefel (1952), "Methods of Conjugate Gradients for Solving Linear Systems".
9. Nocedal (1980), "Updating Quasi-Newton Matrices with Limited Storage"; Liu, Nocedal (1989);
   Nocedal, Wright (2006), "Numerical Optimization", Algorithms 7.4 (two-loop recursion), 7.5,
   and section 3.1 (Wolfe conditions); Lewis, Overton (2013), "Nonsmooth optimization via
   quasi-Newton methods" (the bisection/doubling weak-Wolfe search).
10. Notes 001, "How do you train a GAN?": the number of training iterations from the data-set
    size, the batch size and the epochs (:func:`iterations`).
11. Notes 003, "Magnitude hyperparameters": "schedule learning rates to decrease over time according
    to some rule" (no rule named): the standard schedules :func:`step_decay_lr`,
    :func:`exponential_lr`, :func:`cosine_annealing_lr` (Loshchilov, Hutter (2017), "SGDR:
    Stochastic Gradient Descent with Warm Restarts", without restarts) and :func:`linear_warmup_lr`
    (Goyal et al. (2017), "Accurate, Large Minibatch SGD", gradual warm-up), defined as
    torch.optim.lr_scheduler's StepLR, ExponentialLR, CosineAnnealingLR and LinearLR.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch import Tensor

__all__ = [
    "sgd_step", "adagrad_step", "rmsprop_step", "adam_step", "adadelta_step",
    "SGD", "AdaGrad", "RMSProp", "Adam", "AdaDelta", "STEPS",
    "conjugate_gradient", "CGResult", "lbfgs_direction", "wolfe_line_search", "lbfgs", "LBFGSResult",
    "iterations", "step_decay_lr", "exponential_lr", "cosine_annealing_lr", "linear_warmup_lr",
]

State = dict[str, Any]


def _decayed(param: Tensor, grad: Tensor, weight_decay: float) -> Tensor:
    """g + wd·θ (L2 weight decay folded into the gradient)."""
    return grad + weight_decay * param if weight_decay != 0 else grad


def sgd_step(param: Tensor, grad: Tensor, state: State, *, lr: float, momentum: float = 0.0,
             dampening: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0) -> tuple[Tensor, State]:
    """Gradient descent with optional heavy-ball or Nesterov momentum.

    g ← g + wd·θ;  b_t = μ b_{t−1} + (1 − dampening) g  (b_1 = g);
    θ ← θ − lr·b_t  (momentum)  or  θ ← θ − lr·(g + μ b_t)  (Nesterov);  θ ← θ − lr·g  (μ = 0).
    """
    g = _decayed(param, grad, weight_decay)
    new: State = {"step": state.get("step", 0) + 1}
    if momentum != 0:
        b = g.clone() if "momentum_buffer" not in state else momentum * state["momentum_buffer"] + (1 - dampening) * g
        new["momentum_buffer"] = b
        g = g + momentum * b if nesterov else b
    return param - lr * g, new


def adagrad_step(param: Tensor, grad: Tensor, state: State, *, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10) -> tuple[Tensor, State]:
    """AdaGrad: G_t = G_{t−1} + g_t²;  θ ← θ − lr_t · g_t / (√G_t + ε),  lr_t = lr / (1 + (t−1)·lr_decay).

    The per-coordinate rate lr_t/(√G_t + ε) never rises: G_t only grows. (Notes 003 say AdaGrad
    "never increases the learning rate above the base learning rate"; what holds is this monotone
    decrease: the rate itself exceeds lr while √G_t + ε < 1.)
    """
    g = _decayed(param, grad, weight_decay)
    t = state.get("step", 0) + 1
    G = state.get("sum", torch.full_like(param, initial_accumulator_value)) + g * g
    clr = lr / (1 + (t - 1) * lr_decay)
    return param - clr * g / (G.sqrt() + eps), {"step": t, "sum": G}


def rmsprop_step(param: Tensor, grad: Tensor, state: State, *, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False) -> tuple[Tensor, State]:
    """RMSProp: E[g²]_t = α E[g²]_{t−1} + (1 − α) g²;  θ ← θ − lr · g / (√E[g²]_t + ε).

    ``centered``: the root is √(E[g²] − E[g]²) with E[g]_t = α E[g]_{t−1} + (1 − α) g.
    ``momentum`` μ > 0: b_t = μ b_{t−1} + g/(√· + ε), θ ← θ − lr·b_t.
    """
    g = _decayed(param, grad, weight_decay)
    new: State = {"step": state.get("step", 0) + 1}
    sq = alpha * state.get("square_avg", torch.zeros_like(param)) + (1 - alpha) * g * g
    new["square_avg"] = sq
    if centered:
        ga = alpha * state.get("grad_avg", torch.zeros_like(param)) + (1 - alpha) * g
        new["grad_avg"] = ga
        avg = (sq - ga * ga).sqrt() + eps
    else:
        avg = sq.sqrt() + eps
    if momentum > 0:
        b = momentum * state.get("momentum_buffer", torch.zeros_like(param)) + g / avg
        new["momentum_buffer"] = b
        return param - lr * b, new
    return param - lr * g / avg, new


def adam_step(param: Tensor, grad: Tensor, state: State, *, lr: float = 1e-3,
              betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
              amsgrad: bool = False) -> tuple[Tensor, State]:
    """Adam: m_t = β₁m + (1 − β₁)g,  v_t = β₂v + (1 − β₂)g²,  m̂ = m_t/(1 − β₁ᵗ),  v̂ = v_t/(1 − β₂ᵗ),
    θ ← θ − lr · m̂ / (√v̂ + ε).  AMSGrad replaces v_t by max_{s≤t} v_s in the denominator.
    """
    b1, b2 = betas
    g = _decayed(param, grad, weight_decay)
    t = state.get("step", 0) + 1
    m = b1 * state.get("exp_avg", torch.zeros_like(param)) + (1 - b1) * g
    v = b2 * state.get("exp_avg_sq", torch.zeros_like(param)) + (1 - b2) * g * g
    new: State = {"step": t, "exp_avg": m, "exp_avg_sq": v}
    if amsgrad:
        v = torch.maximum(state.get("max_exp_avg_sq", torch.zeros_like(param)), v)
        new["max_exp_avg_sq"] = v
    m_hat = m / (1 - b1 ** t)
    denom = (v / (1 - b2 ** t)).sqrt() + eps
    return param - lr * m_hat / denom, new


def adadelta_step(param: Tensor, grad: Tensor, state: State, *, lr: float = 1.0, rho: float = 0.9,
                  eps: float = 1e-6, weight_decay: float = 0.0) -> tuple[Tensor, State]:
    """AdaDelta: E[g²]_t = ρE[g²] + (1 − ρ)g²;  Δ_t = √(E[Δ²]_{t−1} + ε) / √(E[g²]_t + ε) · g;
    E[Δ²]_t = ρE[Δ²] + (1 − ρ)Δ_t²;  θ ← θ − lr·Δ_t  (Zeiler 2012, Algorithm 1, with lr = 1).
    """
    g = _decayed(param, grad, weight_decay)
    sq = rho * state.get("square_avg", torch.zeros_like(param)) + (1 - rho) * g * g
    acc = state.get("acc_delta", torch.zeros_like(param))
    delta = (acc + eps).sqrt() / (sq + eps).sqrt() * g
    acc = rho * acc + (1 - rho) * delta * delta
    return param - lr * delta, {"step": state.get("step", 0) + 1, "square_avg": sq, "acc_delta": acc}


STEPS: dict[str, Callable[..., tuple[Tensor, State]]] = {
    "sgd": sgd_step, "adagrad": adagrad_step, "rmsprop": rmsprop_step, "adam": adam_step, "adadelta": adadelta_step,
}


class _CoreOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` whose ``step`` applies a functional core to each parameter."""

    core: Callable[..., tuple[Tensor, State]]

    def __init__(self, params: Iterable[Any], **defaults: Any) -> None:
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        core = type(self).core
        for group in self.param_groups:
            hyper = {k: group[k] for k in self.defaults}
            for p in group["params"]:
                if p.grad is None:
                    continue
                new_p, new_state = core(p.detach(), p.grad.detach(), dict(self.state[p]), **hyper)
                p.copy_(new_p)
                self.state[p] = new_state
        return loss


class SGD(_CoreOptimizer):
    """Gradient descent, heavy-ball momentum (``momentum`` > 0) or Nesterov (``nesterov=True``): :func:`sgd_step`."""

    core = staticmethod(sgd_step)

    def __init__(self, params: Iterable[Any], lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                         weight_decay=weight_decay)


class AdaGrad(_CoreOptimizer):
    """AdaGrad: :func:`adagrad_step`."""

    core = staticmethod(adagrad_step)

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> None:
        super().__init__(params, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps)


class RMSProp(_CoreOptimizer):
    """RMSProp: :func:`rmsprop_step`."""

    core = staticmethod(rmsprop_step)

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False) -> None:
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                         centered=centered)


class Adam(_CoreOptimizer):
    """Adam / AMSGrad: :func:`adam_step`."""

    core = staticmethod(adam_step)

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


class AdaDelta(_CoreOptimizer):
    """AdaDelta: :func:`adadelta_step`."""

    core = staticmethod(adadelta_step)

    def __init__(self, params: Iterable[Any], lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)


# ---------------------------------------------------------------------------------------------
# conjugate gradient (linear, SPD systems)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CGResult:
    x: Tensor
    n_iter: int
    residual_norms: tuple[float, ...]  # ‖r_k‖ for k = 0 … n_iter
    converged: bool


def conjugate_gradient(A: Tensor | Callable[[Tensor], Tensor], b: Tensor, x0: Tensor | None = None, *,
                       tol: float = 1e-10, max_iter: int | None = None) -> CGResult:
    """Solve A x = b for symmetric positive-definite A (a matrix or a mat-vec ``v ↦ A v``).

    r₀ = b − A x₀, p₀ = r₀;  α_k = r_kᵀr_k / p_kᵀA p_k,  x_{k+1} = x_k + α_k p_k,
    r_{k+1} = r_k − α_k A p_k,  β_k = r_{k+1}ᵀr_{k+1} / r_kᵀr_k,  p_{k+1} = r_{k+1} + β_k p_k.
    Stops when ‖r_k‖ ≤ tol·‖b‖; in exact arithmetic after at most n iterations (as many as A has
    distinct eigenvalues). ``max_iter`` defaults to n.
    """
    matvec = A if callable(A) else (lambda v: A @ v)
    x = torch.zeros_like(b) if x0 is None else x0.clone()
    r = b - matvec(x)
    p = r.clone()
    rr = r @ r
    target = tol * float(b.norm())
    norms = [float(rr.sqrt())]
    k = 0
    n_max = b.numel() if max_iter is None else max_iter
    while norms[-1] > target and k < n_max:
        Ap = matvec(p)
        alpha = rr / (p @ Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
        k += 1
        norms.append(float(rr.sqrt()))
    return CGResult(x, k, tuple(norms), norms[-1] <= target)


# ---------------------------------------------------------------------------------------------
# L-BFGS
# ---------------------------------------------------------------------------------------------
def lbfgs_direction(g: Tensor, s_hist: list[Tensor], y_hist: list[Tensor]) -> Tensor:
    """Two-loop recursion: H_k g for the L-BFGS inverse-Hessian approximation (oldest pair first).

    q = g; for i = k−1 … k−m: ρ_i = 1/(y_iᵀs_i), a_i = ρ_i s_iᵀq, q ← q − a_i y_i;
    r = γ q with γ = s_{k−1}ᵀy_{k−1} / y_{k−1}ᵀy_{k−1} (H₀ = γI; γ = 1 with no pairs);
    for i = k−m … k−1: β = ρ_i y_iᵀr, r ← r + s_i (a_i − β).  Returns r = H_k g.
    This equals applying the BFGS update H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ to H₀ for each pair.
    """
    q = g.clone()
    rhos = [1.0 / (y @ s) for s, y in zip(s_hist, y_hist)]
    a = [None] * len(s_hist)
    for i in range(len(s_hist) - 1, -1, -1):
        a[i] = rhos[i] * (s_hist[i] @ q)
        q = q - a[i] * y_hist[i]
    gamma = (s_hist[-1] @ y_hist[-1]) / (y_hist[-1] @ y_hist[-1]) if s_hist else 1.0
    r = gamma * q
    for i in range(len(s_hist)):
        beta = rhos[i] * (y_hist[i] @ r)
        r = r + s_hist[i] * (a[i] - beta)
    return r


def wolfe_line_search(fun: Callable[[Tensor], tuple[Tensor, Tensor]], x: Tensor, f: Tensor, g: Tensor,
                      d: Tensor, *, t0: float = 1.0, c1: float = 1e-4, c2: float = 0.9,
                      max_evals: int = 60) -> tuple[float, Tensor, Tensor]:
    """A step t satisfying the weak Wolfe conditions, by doubling and bisection (Lewis, Overton 2013).

    Armijo (sufficient decrease): f(x + t d) ≤ f(x) + c1·t·∇fᵀd;  curvature: ∇f(x + t d)ᵀd ≥ c2·∇fᵀd.
    A step failing Armijo is too long (upper bracket), one failing curvature too short (lower
    bracket); t is halved between the brackets, or doubled while there is no upper one. The
    curvature condition guarantees sᵀy > 0, which keeps the BFGS matrix positive definite.
    Returns (t, f(x + t d), ∇f(x + t d)), or the last Armijo step (t = 0 if none) after ``max_evals``.
    """
    slope = float(g @ d)
    lo, hi, t = 0.0, float("inf"), t0
    best = (0.0, f, g)
    for _ in range(max_evals):
        f_new, g_new = fun(x + t * d)
        if not float(f_new) <= float(f) + c1 * t * slope:  # also rejects NaN
            hi = t
        else:
            best = (t, f_new, g_new)
            if float(g_new @ d) < c2 * slope:
                lo = t
            else:
                return t, f_new, g_new
        t = 0.5 * (lo + hi) if hi < float("inf") else 2.0 * lo
    return best


@dataclass(frozen=True)
class LBFGSResult:
    x: Tensor
    f: float
    grad_norm: float
    n_iter: int
    converged: bool
    history: tuple[float, ...] = field(default=())  # f at each iterate


def lbfgs(fun: Callable[[Tensor], tuple[Tensor, Tensor]], x0: Tensor, *, m: int = 10, max_iter: int = 500,
          gtol: float = 1e-10, c1: float = 1e-4, c2: float = 0.9) -> LBFGSResult:
    """Minimise ``fun`` (x ↦ (f(x), ∇f(x)), x a 1-D tensor) by L-BFGS with memory ``m``.

    d_k = −H_k ∇f_k by :func:`lbfgs_direction`; step t_k by :func:`wolfe_line_search` from
    t = 1; s_k = x_{k+1} − x_k, y_k = ∇f_{k+1} − ∇f_k, the pair kept only if s_kᵀy_k > 0 (the Wolfe
    step ensures it; the guard keeps H_k positive definite when the search gives up); stops when ‖∇f‖_∞ ≤ gtol.
    """
    x = x0.clone()
    f, g = fun(x)
    s_hist: list[Tensor] = []
    y_hist: list[Tensor] = []
    hist = [float(f)]
    k = 0
    while float(g.abs().max()) > gtol and k < max_iter:
        d = -lbfgs_direction(g, s_hist, y_hist)
        if float(g @ d) >= 0:  # not a descent direction: restart from steepest descent
            s_hist.clear()
            y_hist.clear()
            d = -g
        t, f_new, g_new = wolfe_line_search(fun, x, f, g, d, c1=c1, c2=c2)
        if t == 0.0:
            break
        s, y = t * d, g_new - g
        if float(s @ y) > 1e-12 * float(s.norm() * y.norm()):
            s_hist.append(s)
            y_hist.append(y)
            if len(s_hist) > m:
                s_hist.pop(0)
                y_hist.pop(0)
        x, f, g = x + s, f_new, g_new
        hist.append(float(f))
        k += 1
    gmax = float(g.abs().max())
    return LBFGSResult(x, float(f), gmax, k, gmax <= gtol, tuple(hist))


# ---------------------------------------------------------------------------------------------
# training-loop arithmetic
# ---------------------------------------------------------------------------------------------
def iterations(n_samples: int, batch_size: int, epochs: int, drop_last: bool = True) -> int:
    """Optimiser steps of mini-batch training: (batches per epoch) × epochs.

    Notes 001: ``batches_per_epoch = int(len(dataset) / n_batch)``, ``n_steps = batches_per_epoch *
    n_epochs`` (100 samples, batch 10, 500 epochs: 10 × 500 = 5000 steps). ``int(n / b)`` is
    ⌊n/b⌋: a last partial batch is dropped (``drop_last``, as torch's DataLoader with
    ``drop_last=True``); with ``drop_last=False`` it is a step of its own, ⌈n/b⌉ per epoch.
    """
    if n_samples < 0 or batch_size < 1 or epochs < 0:
        raise ValueError(f"iterations: need n_samples >= 0, batch_size >= 1, epochs >= 0; "
                         f"got {n_samples}, {batch_size}, {epochs}")
    per_epoch = n_samples // batch_size if drop_last else -(-n_samples // batch_size)
    return per_epoch * epochs


# ---------------------------------------------------------------------------------------------
# learning-rate schedules: lr(t) after t scheduler steps (t = 0 is the initial rate)
# ---------------------------------------------------------------------------------------------
# Notes 003 ("Magnitude hyperparameters"): "schedule learning rates to decrease over time according to
# some rule", naming no rule; these are the standard ones, with torch.optim.lr_scheduler's names and
# definitions (StepLR, ExponentialLR, CosineAnnealingLR, LinearLR), written in closed form.
def step_decay_lr(t: int, *, lr: float, step_size: int, gamma: float = 0.1) -> float:
    """Step decay: lr·γ^⌊t/step_size⌋ (the rate drops by γ every ``step_size`` steps)."""
    if step_size < 1 or t < 0:
        raise ValueError(f"step_decay_lr: need step_size >= 1 and t >= 0, got {step_size}, {t}")
    return lr * gamma ** (t // step_size)


def exponential_lr(t: int, *, lr: float, gamma: float) -> float:
    """Exponential decay: lr·γ^t."""
    if t < 0:
        raise ValueError(f"exponential_lr: need t >= 0, got {t}")
    return lr * gamma ** t


def cosine_annealing_lr(t: int, *, lr: float, T_max: int, eta_min: float = 0.0) -> float:
    """Cosine annealing (Loshchilov & Hutter 2017, without restarts): η_min + (lr − η_min)(1 + cos(πt/T_max))/2.

    It falls from lr at t = 0 to η_min at t = T_max; past T_max the formula (like torch's
    CosineAnnealingLR) rises again with period 2·T_max."""
    if T_max < 1 or t < 0:
        raise ValueError(f"cosine_annealing_lr: need T_max >= 1 and t >= 0, got {T_max}, {t}")
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2


def linear_warmup_lr(t: int, *, lr: float, total_iters: int = 5, start_factor: float = 1.0 / 3,
                     end_factor: float = 1.0) -> float:
    """Linear warm-up (torch's LinearLR): lr·(s + (e − s)·min(t, total_iters)/total_iters), from s·lr at
    t = 0 to e·lr at t = total_iters, constant after."""
    if total_iters < 1 or t < 0:
        raise ValueError(f"linear_warmup_lr: need total_iters >= 1 and t >= 0, got {total_iters}, {t}")
    return lr * (start_factor + (end_factor - start_factor) * min(t, total_iters) / total_iters)
