"""Broken variants of the CycleGAN checks (harness.checks.gan_cycle) on
reference_impls.gan_variants:CycleGAN."""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

import reference_impls.gan_variants as gv
from harness.testing import broken, patched, replaced, subject_from

REAL = subject_from("reference_impls.gan_variants:CycleGAN", {"dim_x": 3, "dim_y": 3, "hidden": 32})


def _l2_cycle(G, F_, x, y):
    """Squared L2 instead of L1."""
    return ((F_(G(x)) - x) ** 2).sum(-1).mean() + ((G(F_(y)) - y) ** 2).sum(-1).mean()


def _forward_cycle_only(G, F_, x, y):
    """The backward cycle G(F(y)) ≈ y is missing."""
    return (F_(G(x)) - x).abs().sum(-1).mean()


def _always_zero(G, F_, x, y):
    return 0.0 * (G(x).sum() + F_(y).sum())


def _ignored_lambda(model, x, y, lambda_cyc=None):
    """λ fixed at 10 whatever is passed."""
    return gv.cyclegan_generator_loss(model, x, y, 10.0)


def _minimax_adversarial(model, x, y, lambda_cyc=None):
    """Minimax adversarial terms log(1 − D(·)) instead of the non-saturating −log D(·)."""
    lam = model.config.lambda_cyc if lambda_cyc is None else lambda_cyc
    adv = F.logsigmoid(-model.D_Y(model.G(x))).mean() + F.logsigmoid(-model.D_X(model.F(y))).mean()
    return adv + lam * gv.cycle_consistency_loss(model.G, model.F, x, y)


def _detached(G, F_, x, y):
    """F never receives a gradient."""
    return (F_(G(x)).detach() - x).abs().sum(-1).mean() + (G(F_(y).detach()) - y).abs().sum(-1).mean()


def _adversarial_only(model, x, y, lambda_cyc=None):
    """The cycle term dropped (λ = 0 whatever is asked)."""
    return gv.cyclegan_generator_loss(model, x, y, 0.0)


def _cycle_ascended(model, x, y, lambda_cyc=None):
    """The cycle term enters with the wrong sign (ascended)."""
    lam = model.config.lambda_cyc if lambda_cyc is None else lambda_cyc
    return gv.cyclegan_generator_loss(model, x, y, 0.0) - lam * gv.cycle_consistency_loss(model.G, model.F, x, y)


class ReluDiscriminatorsCycleGAN(gv.CycleGAN):
    """ReLU instead of LeakyReLU(0.2) in D_X and D_Y."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.D_X = nn.Sequential(*[nn.ReLU() if isinstance(m, nn.LeakyReLU) else m for m in self.D_X])
        self.D_Y = nn.Sequential(*[nn.ReLU() if isinstance(m, nn.LeakyReLU) else m for m in self.D_Y])


class SteepLeakCycleGAN(gv.CycleGAN):
    """LeakyReLU slope 0.4 in D_Y."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.D_Y = nn.Sequential(*[nn.LeakyReLU(0.4) if isinstance(m, nn.LeakyReLU) else m for m in self.D_Y])


class DetachedCycleGAN(gv.CycleGAN):
    """forward returns the cycled G(F(y)) cut from the graph."""

    def forward(self, x, y):
        fy, fx, fgx, gfy = super().forward(x, y)
        return fy, fx, fgx, gfy.detach()


MUTANTS = {
    "cyclegan_networks_match_functional_mlp": [
        broken("ReLU discriminators", replaced(REAL, ReluDiscriminatorsCycleGAN)),
        broken("LeakyReLU slope 0.4", replaced(REAL, SteepLeakCycleGAN)),
    ],
    "gan_outputs_differentiable_in_parameters": [
        broken("detached cycled output", replaced(REAL, DetachedCycleGAN), suite="gan_cycle"),
    ],
    "cyclegan_training_reduces_cycle_loss": [
        broken("adversarial terms only", patched(REAL, cyclegan_generator_loss=_adversarial_only)),
        broken("cycle term ascended", patched(REAL, cyclegan_generator_loss=_cycle_ascended)),
    ],
    "cyclegan_cycle_loss_zero_for_inverse_maps": [
        broken("squared L2 cycle", patched(REAL, cycle_consistency_loss=_l2_cycle)),
        broken("forward cycle only", patched(REAL, cycle_consistency_loss=_forward_cycle_only)),
        broken("always zero", patched(REAL, cycle_consistency_loss=_always_zero)),
    ],
    "cyclegan_generator_objective": [
        broken("ignored lambda", patched(REAL, cyclegan_generator_loss=_ignored_lambda), lam=3.0),
        broken("minimax adversarial terms", patched(REAL, cyclegan_generator_loss=_minimax_adversarial)),
    ],
    "cyclegan_cycle_gradient_routing": [
        broken("detached generator", patched(REAL, cycle_consistency_loss=_detached)),
    ],
}
