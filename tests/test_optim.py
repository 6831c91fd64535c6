"""Unit tests of reference_impls.optim, and of optim_reaches_quadratic_minimiser's refusal to pass
without a tolerance where no rate theorem gives one (the broken variants are in tests/mutants/optim.py)."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from harness.testing import run_check
from reference_impls import optim as O


def test_quadratic_minimiser_needs_rel_tol_for_adaptive_methods():
    out = run_check("optim_reaches_quadratic_minimiser", "reference_impls.optim", optimizer="adam", hparams={"lr": 0.05})
    assert not out.passed and "give rel_tol" in out.statement, out.line()


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
