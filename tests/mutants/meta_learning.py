"""Broken variants for the meta_learning suite's checks (harness/checks/meta_learning.py)."""
from __future__ import annotations

import torch

from harness.testing import broken, patched
from reference_impls import meta_learning as ML

REF = "reference_impls.meta_learning"


def _bad(**cores):
    return patched(REF, **cores)


def adapt_ascends(params, loss_fn, train_data, *, alpha, steps=1, first_order=False):
    """The inner step climbs: θ + α∇L_train."""
    return ML.inner_adapt(params, loss_fn, train_data, alpha=-alpha, steps=steps, first_order=first_order)


def adapt_one_step_only(params, loss_fn, train_data, *, alpha, steps=1, first_order=False):
    """Ignores ``steps``: always one inner step."""
    return ML.inner_adapt(params, loss_fn, train_data, alpha=alpha, steps=1, first_order=first_order)


def meta_grad_always_first_order(params, loss_fn, tasks, *, alpha, steps=1, first_order=False):
    """Drops the Hessian term even when the exact meta-gradient is asked for."""
    return ML.meta_gradient(params, loss_fn, tasks, alpha=alpha, steps=steps, first_order=True)


def meta_grad_never_first_order(params, loss_fn, tasks, *, alpha, steps=1, first_order=False):
    """Ignores ``first_order``: always the exact meta-gradient."""
    return ML.meta_gradient(params, loss_fn, tasks, alpha=alpha, steps=steps, first_order=False)


def meta_grad_before_adaptation(params, loss_fn, tasks, *, alpha, steps=1, first_order=False):
    """The gradient of the test loss at θ itself (no inner loop: joint training, not meta-learning)."""
    theta = [p.detach().requires_grad_(True) for p in params]
    with torch.enable_grad():
        loss = torch.stack([loss_fn(theta, test) for _, test in tasks]).mean()
        return [g.detach() for g in torch.autograd.grad(loss, theta)]


def meta_grad_adapts_on_test(params, loss_fn, tasks, *, alpha, steps=1, first_order=False):
    """Adapts on the test (query) data instead of the train (support) data."""
    return ML.meta_gradient(params, loss_fn, [(test, test) for _, test in tasks], alpha=alpha, steps=steps,
                            first_order=first_order)


def meta_grad_summed(params, loss_fn, tasks, *, alpha, steps=1, first_order=False):
    """Sums over the tasks instead of averaging."""
    return [g * len(tasks) for g in ML.meta_gradient(params, loss_fn, tasks, alpha=alpha, steps=steps,
                                                      first_order=first_order)]


def meta_grad_truncated(params, loss_fn, tasks, *, alpha, steps=1, first_order=False):
    """Differentiates through the last inner step only (earlier steps treated as constants)."""
    theta = [p.detach().requires_grad_(True) for p in params]
    with torch.enable_grad():
        losses = []
        for train, test in tasks:
            pre = ML.inner_adapt(theta, loss_fn, train, alpha=alpha, steps=steps - 1, first_order=True)
            shifted = [t + (p - p.detach()) for t, p in zip([x.detach() for x in pre], theta)]
            losses.append(loss_fn(ML.inner_adapt(shifted, loss_fn, train, alpha=alpha, steps=1), test))
        return [g.detach() for g in torch.autograd.grad(torch.stack(losses).mean(), theta)]


def meta_loss_before_adaptation(params, loss_fn, tasks, *, alpha, steps=1, first_order=False):
    """The test loss at θ (no inner loop)."""
    return torch.stack([loss_fn(list(params), test) for _, test in tasks]).mean()


def meta_grad_ascends(params, loss_fn, tasks, *, alpha, steps=1, first_order=False):
    """The meta-gradient with its sign flipped."""
    return [-g for g in ML.meta_gradient(params, loss_fn, tasks, alpha=alpha, steps=steps, first_order=first_order)]


def meta_grad_zero(params, loss_fn, tasks, *, alpha, steps=1, first_order=False):
    """No outer loop: the initialisation never moves."""
    return [torch.zeros_like(p) for p in params]


MUTANTS = {
    "maml_quadratic_closed_form": [
        broken("inner step ascends", _bad(inner_adapt=adapt_ascends)),
        broken("inner loop ignores steps", _bad(inner_adapt=adapt_one_step_only), steps=3, alpha=0.05),
        broken("exact meta-gradient drops the Hessian term", _bad(meta_gradient=meta_grad_always_first_order)),
        broken("first-order flag ignored", _bad(meta_gradient=meta_grad_never_first_order)),
        broken("gradient at θ, not at θ'", _bad(meta_gradient=meta_grad_before_adaptation)),
        broken("adapts on the test data", _bad(meta_gradient=meta_grad_adapts_on_test)),
        broken("summed over tasks", _bad(meta_gradient=meta_grad_summed)),
    ],
    "maml_meta_gradient_matches_autograd_and_fd": [
        broken("exact meta-gradient drops the Hessian term", _bad(meta_gradient=meta_grad_always_first_order)),
        broken("through the last inner step only", _bad(meta_gradient=meta_grad_truncated)),
        broken("first-order flag ignored", _bad(meta_gradient=meta_grad_never_first_order)),
        broken("meta_loss without the inner loop", _bad(meta_loss=meta_loss_before_adaptation)),
        broken("summed over tasks", _bad(meta_gradient=meta_grad_summed)),
    ],
    "maml_improves_post_adaptation_loss": [
        broken("meta-gradient ascends", _bad(meta_gradient=meta_grad_ascends)),
        broken("no outer loop", _bad(meta_gradient=meta_grad_zero)),
    ],
}


# --- memory-augmented networks ------------------------------------------------------------------------
def read_dot_product(memory, key, beta=1.0, eps=1e-8):
    """Softmax of β·(k·M(i)), not of the cosine."""
    return torch.softmax(beta * torch.einsum("bnw,bw->bn", memory, key), dim=-1)


def read_unnormalised(memory, key, beta=1.0, eps=1e-8):
    """exp(β·cos) without the softmax's normalisation."""
    sim = torch.einsum("bnw,bw->bn", memory, key) / (memory.norm(dim=-1) * key.norm(dim=-1, keepdim=True)).clamp_min(eps)
    return torch.exp(beta * sim)


def read_memory_mean(memory, weights):
    """Ignores the weights: the mean slot."""
    return memory.mean(1)


def most_used(usage, n=1):
    """Marks the most used slots."""
    idx = torch.sort(usage, dim=-1, descending=True, stable=True).indices[..., :n]
    return torch.zeros_like(usage).scatter(-1, idx, 1.0)


def least_used_threshold(usage, n=1):
    """Santoro's ≤ m(w^u, n) rule taken literally: ties mark more than n slots."""
    m = torch.sort(usage, dim=-1).values[..., n - 1:n]
    return (usage <= m).to(usage.dtype)


def least_used_last_tie(usage, n=1):
    """Ties broken towards the higher index."""
    flipped = torch.sort(usage.flip(-1), dim=-1, stable=True).indices[..., :n]
    return torch.zeros_like(usage).scatter(-1, usage.shape[-1] - 1 - flipped, 1.0)


def write_gate_swapped(read_prev, least_used_prev, gate):
    """σ(α) weighs the least-used slot instead of the previous read."""
    s = torch.sigmoid(gate).reshape(-1, 1)
    return (1 - s) * read_prev + s * least_used_prev


def usage_without_write(usage_prev, read, write, gamma=0.95):
    return gamma * usage_prev + read


def write_without_erase(memory, write_weights, key, usage_prev):
    """Adds the key without zeroing the least-used slot first."""
    return memory + write_weights.unsqueeze(-1) * key.unsqueeze(1)


def labels_not_offset(x, labels, n_classes):
    """The label of x_t in x_t's own input: nothing to remember."""
    return torch.cat([x, torch.nn.functional.one_hot(labels, n_classes).to(x.dtype)], dim=-1)


def labels_offset_wrapped(x, labels, n_classes):
    """Offset by rolling: step 0 gets the episode's last label instead of zeros."""
    return torch.cat([x, torch.nn.functional.one_hot(labels.roll(1, dims=1), n_classes).to(x.dtype)], dim=-1)


MUTANTS.update({
    "mann_content_read": [
        broken("dot product instead of cosine", _bad(cosine_read_weights=read_dot_product)),
        broken("weights not normalised", _bad(cosine_read_weights=read_unnormalised)),
        broken("read ignores the weights", _bad(read_memory=read_memory_mean)),
    ],
    "mann_lrua_addressing": [
        broken("most used instead of least used", _bad(least_used_weights=most_used)),
        broken("ties mark more than n slots", _bad(least_used_weights=least_used_threshold)),
        broken("ties go to the higher index", _bad(least_used_weights=least_used_last_tie)),
        broken("write gate swapped", _bad(lrua_write_weights=write_gate_swapped)),
        broken("usage forgets the writes", _bad(usage_update=usage_without_write)),
        broken("write without erasing the least-used slot", _bad(lrua_write=write_without_erase)),
    ],
    "mann_episode_label_offset": [
        broken("labels not offset", _bad(offset_label_inputs=labels_not_offset)),
        broken("offset wraps around", _bad(offset_label_inputs=labels_offset_wrapped)),
    ],
    "mann_one_shot_recall": [
        broken("writes go to the most used slot", _bad(least_used_weights=most_used)),
        broken("write gate swapped", _bad(lrua_write_weights=write_gate_swapped)),
    ],
})


# --- the outer step, the linear-regression loss, gradients of the memory access -----------------------
def maml_step_ascends(params, loss_fn, tasks, *, alpha, beta, steps=1, first_order=False):
    """θ + β ∇L_meta: the outer step climbs."""
    g = ML.meta_gradient(params, loss_fn, tasks, alpha=alpha, steps=steps, first_order=first_order)
    return [p.detach() + beta * gi for p, gi in zip(params, g)]


def maml_step_ignores_beta(params, loss_fn, tasks, *, alpha, beta, steps=1, first_order=False):
    """Steps by α (the inner rate) instead of β."""
    return ML.maml_step(params, loss_fn, tasks, alpha=alpha, beta=alpha, steps=steps, first_order=first_order)


def maml_step_always_first_order(params, loss_fn, tasks, *, alpha, beta, steps=1, first_order=False):
    return ML.maml_step(params, loss_fn, tasks, alpha=alpha, beta=beta, steps=steps, first_order=True)


def linreg_summed(params, data):
    """Sum of squared errors instead of the mean."""
    w, b = params
    X, y = data
    return ((X @ w + b - y) ** 2).sum()


def linreg_absolute(params, data):
    """Mean absolute error."""
    w, b = params
    X, y = data
    return (X @ w + b - y).abs().mean()


def linreg_detached(params, data):
    """The right value, no gradient."""
    return ML.linear_regression_loss(params, data).detach()


def linreg_bias_subtracted(params, data):
    w, b = params
    X, y = data
    return ((X @ w - b - y) ** 2).mean()


def read_weights_detached(memory, key, beta=1.0, eps=1e-8):
    return ML.cosine_read_weights(memory, key, beta, eps).detach()


def read_weights_key_detached(memory, key, beta=1.0, eps=1e-8):
    """No gradient to the key (e.g. a controller output)."""
    return ML.cosine_read_weights(memory, key.detach(), beta, eps)


def read_memory_detached(memory, weights):
    return ML.read_memory(memory, weights).detach()


def write_weights_gate_detached(read_prev, least_used_prev, gate):
    """The write gate α receives no gradient."""
    return ML.lrua_write_weights(read_prev, least_used_prev, gate.detach())


def usage_detached(usage_prev, read, write, gamma=0.95):
    return ML.usage_update(usage_prev, read, write, gamma).detach()


def write_detached(memory, write_weights, key, usage_prev):
    return ML.lrua_write(memory, write_weights, key, usage_prev).detach()


def offset_inputs_detached(x, labels, n_classes):
    return ML.offset_label_inputs(x, labels, n_classes).detach()


MUTANTS.update({
    "maml_step_descends_meta_gradient": [
        broken("outer step ascends", _bad(maml_step=maml_step_ascends)),
        broken("outer step by α, not β", _bad(maml_step=maml_step_ignores_beta)),
        broken("first-order flag forced", _bad(maml_step=maml_step_always_first_order)),
    ],
    "maml_linear_regression_loss": [
        broken("summed, not averaged", _bad(linear_regression_loss=linreg_summed)),
        broken("absolute error", _bad(linear_regression_loss=linreg_absolute)),
        broken("detached loss", _bad(linear_regression_loss=linreg_detached)),
        broken("bias subtracted", _bad(linear_regression_loss=linreg_bias_subtracted)),
    ],
    "mann_memory_access_gradients": [
        broken("read weights detached", _bad(cosine_read_weights=read_weights_detached)),
        broken("no gradient to the key", _bad(cosine_read_weights=read_weights_key_detached)),
        broken("read vector detached", _bad(read_memory=read_memory_detached)),
        broken("no gradient to the write gate", _bad(lrua_write_weights=write_weights_gate_detached)),
        broken("usage detached", _bad(usage_update=usage_detached)),
        broken("written memory detached", _bad(lrua_write=write_detached)),
        broken("episode inputs detached", _bad(offset_label_inputs=offset_inputs_detached)),
    ],
})
