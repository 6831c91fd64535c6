"""Unit tests of reference_impls.meta_learning (the checks' broken variants are in tests/mutants/meta_learning.py)."""
from __future__ import annotations

import torch

from reference_impls import meta_learning as ML


def _tasks(n=4, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        w = torch.randn(d, generator=g, dtype=torch.float64) + 2
        X = torch.randn(10, d, generator=g, dtype=torch.float64)
        y = X @ w
        out.append(((X[:5], y[:5]), (X[5:], y[5:])))
    return out


def test_functions_are_pure_and_a_meta_step_lowers_the_meta_loss():
    params = [torch.zeros(3, dtype=torch.float64), torch.zeros((), dtype=torch.float64)]
    before = [p.clone() for p in params]
    tasks = _tasks()
    loss0 = ML.meta_loss(params, ML.linear_regression_loss, tasks, alpha=0.1)
    new = ML.maml_step(params, ML.linear_regression_loss, tasks, alpha=0.1, beta=0.05)
    assert all(torch.equal(p, q) for p, q in zip(params, before))
    assert not any(p.requires_grad for p in new)
    assert float(ML.meta_loss(new, ML.linear_regression_loss, tasks, alpha=0.1)) < float(loss0)


def test_zero_inner_steps_is_plain_training():
    params = [torch.randn(3, dtype=torch.float64), torch.randn((), dtype=torch.float64)]
    tasks = _tasks()
    g = ML.meta_gradient(params, ML.linear_regression_loss, tasks, alpha=0.1, steps=0)
    theta = [p.clone().requires_grad_(True) for p in params]
    plain = torch.autograd.grad(torch.stack([ML.linear_regression_loss(theta, te) for _, te in tasks]).mean(), theta)
    assert all(torch.allclose(a, b) for a, b in zip(g, plain))
