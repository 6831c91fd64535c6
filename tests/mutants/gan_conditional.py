"""Broken variants of the conditional GAN checks (harness.checks.gan_conditional) on
reference_impls.gan_variants:ConditionalGAN. The InfoGAN variant of the shared check
``gan_condition_changes_output`` is in tests/mutants/gan_info.py."""
from __future__ import annotations

import torch

import reference_impls.gan_variants as gv
from harness.testing import broken, replaced, subject_from

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


MUTANTS = {
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
