"""Broken variants of the conditional GAN checks (harness.checks.gan_conditional) on
reference_impls.gan_variants:ConditionalGAN. The InfoGAN variant of the shared check
``gan_condition_changes_output`` is in tests/mutants/gan_info.py."""
from __future__ import annotations

import torch
from torch import nn

import reference_impls.gan_variants as gv
from harness.testing import broken, patched, replaced, subject_from

REAL = subject_from("reference_impls.gan_variants:ConditionalGAN",
                    {"latent_dim": 4, "data_dim": 2, "num_classes": 3, "hidden": 32})


class LabelBlindGAN(gv.ConditionalGAN):
    """The generator ignores the label (its one-hot is zeroed)."""

    def generate(self, z, y):
        return self.g_net(gv.one_hot_condition(z, y, self.num_classes) * torch.cat(
            [torch.ones_like(z), torch.zeros(z.shape[0], self.num_classes, dtype=z.dtype, device=z.device)], -1))


class BatchMixingGAN(gv.ConditionalGAN):
    """Conditions every sample on the batch's mean one-hot label."""

    def generate(self, z, y):
        h = gv.one_hot_condition(z, y, self.num_classes)
        h = torch.cat([h[:, :z.shape[1]], h[:, z.shape[1]:].mean(0, keepdim=True).expand(z.shape[0], -1)], -1)
        return self.g_net(h)


class LabelBlindDiscriminator(gv.ConditionalGAN):
    """The discriminator ignores the label (its one-hot is zeroed)."""

    def discriminate(self, x, y):
        return self.d_net(torch.cat(
            [x, torch.zeros(x.shape[0], self.num_classes, dtype=x.dtype, device=x.device)], -1)).squeeze(-1)


def _undetached_d_loss(model, x, y, z, real_label=1.0):
    """G(z | y) not detached: the discriminator's loss also trains the generator."""
    return gv.discriminator_loss(model.discriminate(x, y), model.discriminate(model.generate(z, y), y),
                                 real_label=real_label)


def _mismatched_fake_labels(model, x, y, z, real_label=1.0):
    """The fakes are generated and judged with shifted labels, not the real pairs' labels."""
    y2 = (y + 1) % model.num_classes
    fake = model.generate(z, y2).detach()
    return gv.discriminator_loss(model.discriminate(x, y), model.discriminate(fake, y2), real_label=real_label)


def _swapped_targets(model, x, y, z, real_label=1.0):
    """Real pairs labelled 0 and fake pairs 1."""
    fake = model.generate(z, y).detach()
    return gv.discriminator_loss(model.discriminate(fake, y), model.discriminate(x, y), real_label=real_label)


def _smoothing_ignored(model, x, y, z, real_label=1.0):
    """real_label dropped: the real target stays 1."""
    return gv.conditional_discriminator_loss(model, x, y, z)


class ReluDiscriminatorCGAN(gv.ConditionalGAN):
    """ReLU instead of LeakyReLU(0.2) in the discriminator."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.d_net = nn.Sequential(*[nn.ReLU() if isinstance(m, nn.LeakyReLU) else m for m in self.d_net])


class WideGeneratorCGAN(gv.ConditionalGAN):
    """The generator's hidden layers four times as wide as configured."""

    def __init__(self, **kw):
        super().__init__(**kw)
        c = self.config
        self.g_net = gv._mlp(c.latent_dim + c.num_classes, 4 * c.hidden, c.data_dim, nn.ReLU)


class DetachedSampleCGAN(gv.ConditionalGAN):
    """forward returns G(z | y) cut from the graph."""

    def forward(self, z, y):
        x = self.generate(z, y)
        return x.detach(), self.discriminate(x, y)


MUTANTS = {
    "cgan_networks_match_functional_mlp": [
        broken("ReLU discriminator", replaced(REAL, ReluDiscriminatorCGAN)),
        broken("generator 4x as wide", replaced(REAL, WideGeneratorCGAN)),
    ],
    "gan_outputs_differentiable_in_parameters": [
        broken("detached conditional sample", replaced(REAL, DetachedSampleCGAN), suite="gan_conditional"),
    ],
    "cgan_discriminator_conditioned": [
        broken("label-blind discriminator", replaced(REAL, LabelBlindDiscriminator)),
        broken("generator not detached", patched(REAL, conditional_discriminator_loss=_undetached_d_loss)),
        broken("fakes with other labels", patched(REAL, conditional_discriminator_loss=_mismatched_fake_labels)),
        broken("swapped targets", patched(REAL, conditional_discriminator_loss=_swapped_targets), dtype="float32"),
        broken("label smoothing ignored", patched(REAL, conditional_discriminator_loss=_smoothing_ignored)),
    ],
    "gan_condition_changes_output": [
        broken("label-blind generator", replaced(REAL, LabelBlindGAN)),
    ],
    "cgan_conditioning_is_per_sample": [
        broken("batch-mixed labels", replaced(REAL, BatchMixingGAN)),
    ],
    "cgan_learns_class_conditionals": [
        broken("label-blind generator", replaced(REAL, LabelBlindGAN)),
    ],
}
