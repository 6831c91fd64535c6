"""Checks for CycleGAN (suite ``gan_cycle``, Zhu et al. 2017, eq. 1–3): the cycle-consistency loss,
the full generator objective and which networks the cycle loss trains.

Oracles: ``torch.linalg.solve`` (exact inverses of affine maps), torch's BCE-with-logits, L1 norms
computed here in float64, the four networks replayed with ``F.linear`` and torch's activations on their
copied weights; training is judged by the held-out cycle loss computed here against the
untrained model's and against input-ignoring (median) maps.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.checks.gan_conditional import linear_layers_run, mlp_outcomes
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


@check()
def cyclegan_networks_match_functional_mlp(subject, case, batch: int = 16, slope: float = 0.2) -> Outcome:
    """CycleGAN's four networks are two-hidden-layer MLPs of width hidden (the contract's architecture): the
    generators G: dim_x -> dim_y and F: dim_y -> dim_x with ReLU, the discriminators D_X: dim_x -> 1 and
    D_Y: dim_y -> 1 with LeakyReLU(0.2) (Radford et al. 2016's activations); the nn.Linear layers each runs
    (forward hooks) have the weight shapes the sizes give, and F.linear, F.relu and F.leaky_relu(·, 0.2) on their
    copied weights, in float64, reproduce each network's output."""
    dx, dy, hidden = subject.size("dim_x"), subject.size("dim_y"), subject.size("hidden")
    model = subject.build(case)
    model.eval()
    x, y = CONTRACT.example_inputs(subject, case, batch)
    relu, leaky = F.relu, (lambda t: F.leaky_relu(t, slope))
    outs = []
    for name, net, inp, n_in, n_out, act in (("G", model.G, x, dx, dy, relu), ("F", model.F, y, dy, dx, relu),
                                             ("D_X", model.D_X, x, dx, 1, leaky), ("D_Y", model.D_Y, y, dy, 1, leaky)):
        with torch.no_grad():
            observed = net(inp)
        outs += mlp_outcomes(name, linear_layers_run(net, inp), n_in, hidden, n_out, inp, act, observed, case)
    return all_of(outs)


@check(requires=("cyclegan_generator_loss", "discriminator_loss"), marks=("slow", "training"))
def cyclegan_training_reduces_cycle_loss(subject, case, steps: int = 100, batch: int = 64, eval_n: int = 1000,
                                         ratio: float = 0.25, lr: float = 2e-3) -> Outcome:
    """Trained on the unpaired domains X = N(0, I) and Y = A X + b (A, b drawn once) with the subject's generator
    objective (adversarial terms + λ L_cyc) and discriminator loss, CycleGAN becomes cycle-consistent: after a bounded
    number of Adam steps, the held-out cycle loss E‖F(G(x)) − x‖₁ + E‖G(F(y)) − y‖₁, computed here in float64, is at
    most ``ratio`` times that of the untrained model and at most ``ratio`` times that of the best input-ignoring maps
    (constants at the coordinatewise medians: E‖x − med x‖₁ + E‖y − med y‖₁), both baselines measured here
    independently of the subject's losses."""
    dx, dy = subject.size("dim_x"), subject.size("dim_y")
    model = subject.build(case)
    A = (torch.eye(dy, dx, dtype=F64) + 0.5 * torch.randn(dy, dx, generator=case.generator, dtype=F64)).to(case.device, case.dtype)
    b = torch.randn(dy, generator=case.generator, dtype=F64).to(case.device, case.dtype)

    def domain_y(n):
        return case.randn(n, dx) @ A.T + b   # images of X-samples independent of the paired x: unpaired data

    x_eval, y_eval = case.randn(eval_n, dx), domain_y(eval_n)

    def cycle():
        with torch.no_grad():
            xe, ye = f64(x_eval), f64(y_eval)
            return float((f64(model.F(model.G(x_eval))) - xe).abs().sum(-1).mean()
                         + (f64(model.G(model.F(y_eval))) - ye).abs().sum(-1).mean())

    xe, ye = f64(x_eval), f64(y_eval)
    constant = float((xe - xe.median(0).values).abs().sum(-1).mean() + (ye - ye.median(0).values).abs().sum(-1).mean())
    start = cycle()
    J_D, J_G = subject.fn("discriminator_loss"), subject.fn("cyclegan_generator_loss")
    opt_g = torch.optim.Adam(list(model.G.parameters()) + list(model.F.parameters()), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(list(model.D_X.parameters()) + list(model.D_Y.parameters()), lr=lr, betas=(0.5, 0.999))
    for _ in range(steps):
        x, y = case.randn(batch, dx), domain_y(batch)
        with torch.no_grad():
            fake_y, fake_x = model.G(x), model.F(y)
        loss_d = (J_D(model.D_Y(y).squeeze(-1), model.D_Y(fake_y).squeeze(-1))
                  + J_D(model.D_X(x).squeeze(-1), model.D_X(fake_x).squeeze(-1)))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = J_G(model, x, y)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
    end = cycle()
    detail = f"cycle loss {start:.4g} (untrained) -> {end:.4g} after {steps} steps; input-ignoring maps {constant:.4g}"
    return all_of(
        bound("held-out cycle loss after / before training", end / start, ratio, op="<=", detail=detail),
        bound("held-out cycle loss after training / that of the best constant maps", end / constant, ratio, op="<=",
              detail=detail),
    )
