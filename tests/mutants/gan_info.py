"""Broken variants of the InfoGAN checks (harness.checks.gan_info) on
reference_impls.gan_variants:InfoGAN, and the InfoGAN variant of the shared check
``gan_condition_changes_output`` (harness.checks.gan_conditional)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

import reference_impls.gan_variants as gv
from harness.testing import broken, patched, replaced, subject_from

REAL = subject_from("reference_impls.gan_variants:InfoGAN", {"latent_dim": 4, "num_codes": 5, "data_dim": 2, "hidden": 32})


def _log_q(q, c):
    return F.log_softmax(q, -1).gather(-1, c.unsqueeze(-1)).mean()


class CodeBlindInfoGAN(gv.InfoGAN):
    """The generator ignores the code."""

    def generate(self, z, c):
        return super().generate(z, torch.zeros_like(c))


class SeparateQ(gv.InfoGAN):
    """Q has its own body instead of sharing the discriminator's."""

    def __init__(self, **kw):
        super().__init__(**kw)
        c = self.config
        self.q_body = nn.Sequential(nn.Linear(c.data_dim, c.hidden), nn.LeakyReLU(0.2))

    def heads(self, x):
        return self.d_head(self.body(x)).squeeze(-1), self.q_head(self.q_body(x))


class ReluBodyInfoGAN(gv.InfoGAN):
    """ReLU instead of LeakyReLU(0.2) in the shared body."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.body = nn.Sequential(*[nn.ReLU() if isinstance(m, nn.LeakyReLU) else m for m in self.body])


class SteepLeakInfoGAN(gv.InfoGAN):
    """LeakyReLU slope 0.4 in the shared body."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.body = nn.Sequential(*[nn.LeakyReLU(0.4) if isinstance(m, nn.LeakyReLU) else m for m in self.body])


class DetachedSampleInfoGAN(gv.InfoGAN):
    """forward returns G(z, c) cut from the graph."""

    def forward(self, z, c):
        x, d, q = super().forward(z, c)
        return x.detach(), d, q


MUTANTS = {
    "infogan_mi_bound_gradient": [
        broken("detached bound", patched(
            REAL, mutual_information_lower_bound=lambda q, c: gv.mutual_information_lower_bound(q, c).detach())),
        broken("Q instead of log Q", patched(
            REAL, mutual_information_lower_bound=lambda q, c:
            F.softmax(q, -1).gather(-1, c.unsqueeze(-1)).mean() + math.log(q.shape[-1]))),
    ],
    "infogan_networks_match_functional_mlp": [
        broken("ReLU body", replaced(REAL, ReluBodyInfoGAN)),
        broken("LeakyReLU slope 0.4", replaced(REAL, SteepLeakInfoGAN)),
    ],
    "gan_outputs_differentiable_in_parameters": [
        broken("detached sample", replaced(REAL, DetachedSampleInfoGAN), suite="gan_info"),
    ],
    "infogan_mi_bound_at_most_entropy": [
        broken("H(c) dropped", patched(REAL, mutual_information_lower_bound=_log_q)),
        broken("H(c) in bits", patched(
            REAL, mutual_information_lower_bound=lambda q, c: _log_q(q, c) + math.log2(q.shape[-1]))),
        broken("sign of log Q flipped", patched(
            REAL, mutual_information_lower_bound=lambda q, c: -_log_q(q, c) + math.log(q.shape[-1]))),
        broken("Q instead of log Q", patched(
            REAL, mutual_information_lower_bound=lambda q, c:
            F.softmax(q, -1).gather(-1, c.unsqueeze(-1)).mean() + math.log(q.shape[-1]))),
    ],
    "gan_condition_changes_output": [
        broken("code-blind generator", replaced(REAL, CodeBlindInfoGAN), condition_size="num_codes"),
    ],
    "infogan_training_raises_mi_bound": [
        broken("sign of log Q flipped", patched(
            REAL, mutual_information_lower_bound=lambda q, c: -_log_q(q, c) + math.log(q.shape[-1]))),
        broken("code-blind generator", replaced(REAL, CodeBlindInfoGAN)),
    ],
    "infogan_q_shares_discriminator_body": [
        broken("separate Q network", replaced(REAL, SeparateQ)),
    ],
}
