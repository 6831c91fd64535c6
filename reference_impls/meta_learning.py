"""Gradient-based meta-learning (MAML): an inner loop that adapts to one task, an outer loop that
learns the initialisation the inner loop starts from.

Notes 002 ("Meta Learning"): meta-learning algorithms have an inner loop, in which "the model is
trained on a specific task with a limited amount of data", and an outer loop, in which "the model is
evaluated on its performance across a range of tasks, and the learning algorithm is updated"; "one
common approach ... is to use gradient-based optimization methods ... to learn a set of model
parameters that can be quickly adapted to new tasks". That is MAML (Finn, Abbeel, Levine 2017):

    inner (one task T, its support/train data):   θ'_T = θ − α ∇_θ L_train^T(θ)      (``steps`` times)
    outer (a batch of tasks, their query/test data):  L_meta(θ) = mean_T L_test^T(θ'_T)
    meta-gradient:  ∇_θ L_meta = mean_T (∂θ'_T/∂θ)ᵀ ∇L_test^T(θ'_T),  ∂θ'/∂θ = I − α ∇²L_train(θ) per step

The exact (second-order) meta-gradient differentiates through the inner step, Hessian included
(autograd with ``create_graph=True``); the first-order approximation (FOMAML) drops the Hessian term:
it takes ∂θ'/∂θ = I, i.e. the meta-gradient is ∇L_test(θ') evaluated at the adapted parameters.

Interface: parameters are a list of tensors; a loss is ``loss_fn(params, data) -> scalar tensor``; a
task is a pair ``(train_data, test_data)``. The functions are pure: the parameters passed in are
neither modified nor required to have ``requires_grad``.

References
1. Finn, Abbeel, Levine (2017), "Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks",
   ICML (Algorithm 1 and section 5.2, the first-order approximation).
2. Nichol, Achiam, Schulman (2018), "On First-Order Meta-Learning Algorithms" (FOMAML).
3. Santoro, Bartunov, Botvinick, Wierstra, Lillicrap (2016), "Meta-Learning with Memory-Augmented
   Neural Networks", ICML (section 3: least-recently-used access; the one-step label offset).
4. Course notes 002, "Meta Learning" (inner and outer loop, gradient-based meta-learning,
   memory-augmented neural networks).

The second part of the module is the memory access of a memory-augmented network (MANN): content
read weights, LRUA write weights, the usage recurrence, the write, and the episode inputs with the
labels one step late (see the comment above :func:`cosine_read_weights`).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor

__all__ = [
    "inner_adapt", "meta_loss", "meta_gradient", "maml_step", "linear_regression_loss",
    "cosine_read_weights", "read_memory", "least_used_weights", "lrua_write_weights", "usage_update", "lrua_write",
    "offset_label_inputs",
]

LossFn = Callable[[list[Tensor], Any], Tensor]


def inner_adapt(params: Sequence[Tensor], loss_fn: LossFn, train_data: Any, *, alpha: float, steps: int = 1,
                first_order: bool = False) -> list[Tensor]:
    """The inner loop: ``steps`` SGD steps θ ← θ − α ∇L_train(θ) from ``params``.

    With ``first_order=False`` the result is differentiable in ``params`` through the gradients
    (second order: create_graph); with ``first_order=True`` the gradients are constants, so
    ∂θ'/∂θ = I. Parameters that do not require grad give plain (detached) adapted values."""
    theta = list(params)
    for _ in range(steps):
        with torch.enable_grad():
            leaves = [p if p.requires_grad else p.detach().requires_grad_(True) for p in theta]
            grads = torch.autograd.grad(loss_fn(leaves, train_data), leaves, create_graph=not first_order)
        if first_order or not any(p.requires_grad for p in theta):
            grads = [g.detach() for g in grads]
        theta = [p - alpha * g for p, g in zip(theta, grads)]
    return theta


def meta_loss(params: Sequence[Tensor], loss_fn: LossFn, tasks: Sequence[tuple[Any, Any]], *, alpha: float,
              steps: int = 1, first_order: bool = False) -> Tensor:
    """The outer objective: the mean over tasks of L_test(θ'_task), θ' adapted on the task's train data."""
    losses = [loss_fn(inner_adapt(params, loss_fn, train, alpha=alpha, steps=steps, first_order=first_order), test)
              for train, test in tasks]
    return torch.stack(losses).mean()


def meta_gradient(params: Sequence[Tensor], loss_fn: LossFn, tasks: Sequence[tuple[Any, Any]], *, alpha: float,
                  steps: int = 1, first_order: bool = False) -> list[Tensor]:
    """∇_θ of :func:`meta_loss` at ``params``: exact (through the inner steps, Hessian terms included)
    or, with ``first_order=True``, FOMAML's mean_T ∇L_test(θ'_T). One tensor per parameter."""
    theta = [p.detach().requires_grad_(True) for p in params]
    with torch.enable_grad():
        loss = meta_loss(theta, loss_fn, tasks, alpha=alpha, steps=steps, first_order=first_order)
        return [g.detach() for g in torch.autograd.grad(loss, theta)]


def maml_step(params: Sequence[Tensor], loss_fn: LossFn, tasks: Sequence[tuple[Any, Any]], *, alpha: float,
              beta: float, steps: int = 1, first_order: bool = False) -> list[Tensor]:
    """One outer (meta) step: θ ← θ − β ∇_θ L_meta(θ)."""
    g = meta_gradient(params, loss_fn, tasks, alpha=alpha, steps=steps, first_order=first_order)
    return [p.detach() - beta * gi for p, gi in zip(params, g)]


def linear_regression_loss(params: Sequence[Tensor], data: tuple[Tensor, Tensor]) -> Tensor:
    """Mean squared error of the linear model X w + b: params = [w (d,), b ()], data = (X (n, d), y (n,))."""
    w, b = params
    X, y = data
    return ((X @ w + b - y) ** 2).mean()


# ---------------------------------------------------------------------------------------------
# memory-augmented neural networks (Santoro et al. 2016): the memory access of a MANN
# ---------------------------------------------------------------------------------------------
# Notes 002: "another approach is to use memory-augmented neural networks, which allow the model to
# store and retrieve information about previous tasks". Santoro et al.'s MANN is an NTM-style memory
# M (B, N slots, W) read by content and written by least-recently-used access (LRUA):
#   read weights   w^r_t(i) = softmax_i(β·cos(k_t, M_t(i))),  read vector r_t = Σ_i w^r_t(i) M_t(i)
#   usage          w^u_t = γ w^u_{t−1} + w^r_t + w^w_t
#   least used     w^lu_t(i) = 1 for the n slots of smallest usage (ties: the lower index), else 0
#   write weights  w^w_t = σ(α) w^r_{t−1} + (1 − σ(α)) w^lu_{t−1}
#   write          the least-used slot (from w^u_{t−1}) is zeroed, then M_t(i) = M_{t−1}(i) + w^w_t(i) k_t
# and an episode feeds the label of x_t one step late: the input at t is [x_t, onehot(y_{t−1})]
# (zeros at t = 0), so the network must hold the sample in memory until its label arrives.
def cosine_read_weights(memory: Tensor, key: Tensor, beta: float | Tensor = 1.0, eps: float = 1e-8) -> Tensor:
    """w^r (B, N) = softmax over slots of β·cos(key, M(i)); memory (B, N, W), key (B, W)."""
    sim = torch.einsum("bnw,bw->bn", memory, key) / (memory.norm(dim=-1) * key.norm(dim=-1, keepdim=True)).clamp_min(eps)
    return torch.softmax(torch.as_tensor(beta, dtype=sim.dtype, device=sim.device).reshape(-1, 1) * sim, dim=-1)


def read_memory(memory: Tensor, weights: Tensor) -> Tensor:
    """r (B, W) = Σ_i w(i) M(i)."""
    return torch.einsum("bn,bnw->bw", weights, memory)


def least_used_weights(usage: Tensor, n: int = 1) -> Tensor:
    """w^lu (B, N): 1 on the ``n`` slots of smallest usage (ties broken towards the lower index), 0 elsewhere."""
    idx = torch.sort(usage, dim=-1, stable=True).indices[..., :n]
    return torch.zeros_like(usage).scatter(-1, idx, 1.0)


def lrua_write_weights(read_prev: Tensor, least_used_prev: Tensor, gate: Tensor) -> Tensor:
    """w^w (B, N) = σ(α) w^r_{t−1} + (1 − σ(α)) w^lu_{t−1}, ``gate`` = α (B,) or (B, 1) (a logit)."""
    s = torch.sigmoid(gate).reshape(-1, 1)
    return s * read_prev + (1 - s) * least_used_prev


def usage_update(usage_prev: Tensor, read: Tensor, write: Tensor, gamma: float = 0.95) -> Tensor:
    """w^u_t = γ w^u_{t−1} + w^r_t + w^w_t (B, N)."""
    return gamma * usage_prev + read + write


def lrua_write(memory: Tensor, write_weights: Tensor, key: Tensor, usage_prev: Tensor) -> Tensor:
    """Zero the least-used slot (by w^u_{t−1}), then add w^w(i)·k to every slot: memory (B, N, W) -> (B, N, W)."""
    keep = 1 - least_used_weights(usage_prev, 1)
    return memory * keep.unsqueeze(-1) + write_weights.unsqueeze(-1) * key.unsqueeze(1)


def offset_label_inputs(x: Tensor, labels: Tensor, n_classes: int) -> Tensor:
    """Episode inputs (B, T, D + C): [x_t, onehot(y_{t−1})] with zeros for the label at t = 0."""
    onehot = torch.nn.functional.one_hot(labels, n_classes).to(x.dtype)
    prev = torch.cat([torch.zeros_like(onehot[:, :1]), onehot[:, :-1]], dim=1)
    return torch.cat([x, prev], dim=-1)
