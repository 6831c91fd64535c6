"""Checks for CycleGAN (suite ``gan_cycle``, Zhu et al. 2017, eq. 1–3): the cycle-consistency loss,
the full generator objective and which networks the cycle loss trains.

Oracles: ``torch.linalg.solve`` (exact inverses of affine maps), torch's BCE-with-logits, L1 norms
computed here in float64.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.contract import load_contract
from harness.outcome import Outcome, Tolerance, all_of, bound, exact, f64
from harness.registry import check

F64 = torch.float64


def _inputs(subject, case, batch: int) -> tuple:
    """Samples x (batch, dim_x) and y (batch, dim_y) of the two domains, ~ N(0, I)."""
    return case.randn(batch, subject.size("dim_x")), case.randn(batch, subject.size("dim_y"))


CONTRACT = load_contract("gan_cycle", inputs=_inputs)


@check(requires=("cycle_consistency_loss",))
def cyclegan_cycle_loss_zero_for_inverse_maps(subject, case, batch: int = 32, dim: int = 3) -> Outcome:
    """The cycle-consistency loss E_x‖F(G(x)) − x‖₁ + E_y‖G(F(y)) − y‖₁ is 0 when F = G⁻¹ (G an invertible affine map,
    F its inverse by torch.linalg.solve) and otherwise positive and equal to the L1 norms (summed over features,
    averaged over the batch) computed here in float64.

    The check builds its own maps G, F on ``dim``-dimensional data (a test-data size, not one of the model's)."""
    L = subject.fn("cycle_consistency_loss")
    A = torch.eye(dim, dtype=F64) + 0.3 * torch.randn(dim, dim, generator=case.generator, dtype=F64)
    b = torch.randn(dim, generator=case.generator, dtype=F64)
    A2 = A + 0.2 * torch.randn(dim, dim, generator=case.generator, dtype=F64)
    A_, b_ = A.to(case.device, case.dtype), b.to(case.device, case.dtype)

    def G(x):
        return x @ A_.T + b_

    def inverse_of(M):
        M_ = M.to(case.device, case.dtype)
        return lambda y: torch.linalg.solve(M_, (y - b_).T).T

    x, y = case.randn(batch, dim), case.randn(batch, dim)
    zero = L(G, inverse_of(A), x, y)
    wrong_F = inverse_of(A2)
    wrong = L(G, wrong_F, x, y)
    x64, y64 = f64(x), f64(y)
    G64 = lambda v: v @ A.T + b  # noqa: E731
    F64_ = lambda v: torch.linalg.solve(A2, (v - b).T).T  # noqa: E731
    oracle = (F64_(G64(x64)) - x64).abs().sum(-1).mean() + (G64(F64_(y64)) - y64).abs().sum(-1).mean()
    scale = float(x64.abs().sum(-1).mean() + y64.abs().sum(-1).mean())
    return all_of(
        case.close("L_cyc(G, G⁻¹) / (E‖x‖₁ + E‖y‖₁)", float(zero) / scale, 0.0,
                   tol=Tolerance(100 * torch.finfo(case.dtype).eps * dim, 0.0, "100·ε·dim (rounding of A and its solve)")),
        bound("L_cyc(G, F) for F ≠ G⁻¹", float(wrong), 0.0, op=">"),
        case.close("L_cyc(G, F) vs float64 L1 norms", wrong, oracle),
    )


@check(requires=("cyclegan_generator_loss",))
def cyclegan_generator_objective(subject, case, batch: int = 16, lam: float = 10.0) -> Outcome:
    """The CycleGAN generator objective is L_GAN(G, D_Y) + L_GAN(F, D_X) + λ·L_cyc(G, F): it equals BCE(D_Y(G(x)), 1) +
    BCE(D_X(F(y)), 1) (torch) plus λ times the L1 cycle loss computed here, and is affine in λ with slope L_cyc."""
    model = subject.build(case)
    x, y = CONTRACT.example_inputs(subject, case, batch)
    loss = subject.fn("cyclegan_generator_loss")
    with torch.no_grad():
        total = loss(model, x, y, lam)
        total0 = loss(model, x, y, 0.0)
        fy, fx = model.G(x), model.F(y)
        dy, dx = f64(model.D_Y(fy)).flatten(), f64(model.D_X(fx)).flatten()
        cyc = ((f64(model.F(fy)) - f64(x)).abs().sum(-1).mean()
               + (f64(model.G(fx)) - f64(y)).abs().sum(-1).mean())
    adv = (F.binary_cross_entropy_with_logits(dy, torch.ones_like(dy))
           + F.binary_cross_entropy_with_logits(dx, torch.ones_like(dx)))
    return all_of(
        case.close("generator objective vs BCE terms + λ·L1 cycle", total, adv + lam * cyc),
        case.close("objective(λ) − objective(0) vs λ·L_cyc", f64(total) - f64(total0), lam * cyc),
    )


@check(requires=("cycle_consistency_loss",))
def cyclegan_cycle_gradient_routing(subject, case, batch: int = 16) -> Outcome:
    """The cycle loss trains both generators and neither discriminator: its gradient is non-zero for G and for F
    and absent (None or zero) for D_X and D_Y."""
    model = subject.build(case)
    x, y = CONTRACT.example_inputs(subject, case, batch)
    model.zero_grad(set_to_none=True)
    subject.fn("cycle_consistency_loss")(model.G, model.F, x, y).backward()

    def norm(mod):
        gs = [p.grad for p in mod.parameters() if p.grad is not None]
        return float(sum(float(g.abs().sum()) for g in gs))

    return all_of(
        bound("|∇_G L_cyc|₁", norm(model.G), 0.0, op=">"),
        bound("|∇_F L_cyc|₁", norm(model.F), 0.0, op=">"),
        exact("|∇_{D_X, D_Y} L_cyc|₁", norm(model.D_X) + norm(model.D_Y), 0.0),
    )
