"""Every conditional GAN / CycleGAN / InfoGAN check passes on reference_impls.gan_variants and
rejects a deliberately broken variant."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import reference_impls.gan_variants as gv
from harness.registry import Subject
from harness.testing import patched, run_check, subject_from

CGAN_PARAMS = {"latent_dim": 4, "data_dim": 2, "num_classes": 3, "hidden": 32}
CYCLE_PARAMS = {"dim_x": 3, "dim_y": 3, "hidden": 32}
INFO_PARAMS = {"latent_dim": 4, "num_codes": 5, "data_dim": 2, "hidden": 32}
CGAN = subject_from("reference_impls.gan_variants:ConditionalGAN", CGAN_PARAMS)
CYCLE = subject_from("reference_impls.gan_variants:CycleGAN", CYCLE_PARAMS)
INFO = subject_from("reference_impls.gan_variants:InfoGAN", INFO_PARAMS)


def model_subject(cls, params) -> Subject:
    return Subject(cls.__name__, cls, params, gv)


@pytest.mark.parametrize("name, subject", [
    ("gan_condition_changes_output", CGAN), ("cgan_conditioning_is_per_sample", CGAN),
    ("gan_condition_changes_output", INFO), ("infogan_mi_bound_at_most_entropy", INFO),
    ("infogan_q_shares_discriminator_body", INFO), ("cyclegan_cycle_loss_zero_for_inverse_maps", CYCLE),
    ("cyclegan_generator_objective", CYCLE), ("cyclegan_cycle_gradient_routing", CYCLE)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_reference_passes(name, subject, dtype):
    out = run_check(name, subject, dtype=dtype)
    assert out.passed, out.line()


def test_reference_cgan_learns_class_conditionals():
    out = run_check("cgan_learns_class_conditionals", CGAN)
    assert out.passed, out.line()


# --------------------------------------------------------------------------------------------
# conditional GAN
# --------------------------------------------------------------------------------------------
class LabelBlindGAN(gv.ConditionalGAN):
    """Broken: the generator ignores the label (its one-hot is zeroed)."""

    def generate(self, z, y):
        return self.g_net(gv.one_hot_condition(z, y, self.num_classes) * torch.cat(
            [torch.ones_like(z), torch.zeros(z.shape[0], self.num_classes, dtype=z.dtype, device=z.device)], -1))


class BatchMixingGAN(gv.ConditionalGAN):
    """Broken: conditions every sample on the batch's mean one-hot label."""

    def generate(self, z, y):
        h = gv.one_hot_condition(z, y, self.num_classes)
        h = torch.cat([h[:, :z.shape[1]], h[:, z.shape[1]:].mean(0, keepdim=True).expand(z.shape[0], -1)], -1)
        return self.g_net(h)


def test_condition_rejects_label_blind_generator():
    assert not run_check("gan_condition_changes_output", model_subject(LabelBlindGAN, CGAN_PARAMS)).passed


def test_per_sample_rejects_batch_mixing():
    assert not run_check("cgan_conditioning_is_per_sample", model_subject(BatchMixingGAN, CGAN_PARAMS)).passed


def test_learns_conditionals_rejects_label_blind_generator():
    assert not run_check("cgan_learns_class_conditionals", model_subject(LabelBlindGAN, CGAN_PARAMS)).passed


# --------------------------------------------------------------------------------------------
# CycleGAN
# --------------------------------------------------------------------------------------------
def _l2_cycle(G, F_, x, y):
    return ((F_(G(x)) - x) ** 2).sum(-1).mean() + ((G(F_(y)) - y) ** 2).sum(-1).mean()


def _forward_cycle_only(G, F_, x, y):
    return (F_(G(x)) - x).abs().sum(-1).mean()


@pytest.mark.parametrize("bad", [_l2_cycle, _forward_cycle_only])
def test_cycle_loss_rejects_wrong_loss(bad):
    assert not run_check("cyclegan_cycle_loss_zero_for_inverse_maps", patched(CYCLE, cycle_consistency_loss=bad)).passed


def test_cycle_loss_rejects_loss_that_is_always_zero():
    bad = patched(CYCLE, cycle_consistency_loss=lambda G, F_, x, y: 0.0 * (G(x).sum() + F_(y).sum()))
    assert not run_check("cyclegan_cycle_loss_zero_for_inverse_maps", bad).passed


def test_generator_objective_rejects_ignored_lambda():
    bad = patched(CYCLE, cyclegan_generator_loss=lambda model, x, y, lambda_cyc=None: gv.cyclegan_generator_loss(model, x, y, 10.0))
    assert not run_check("cyclegan_generator_objective", bad, lam=3.0).passed


def test_generator_objective_rejects_minimax_adversarial_terms():
    def minimax(model, x, y, lambda_cyc=None):
        lam = model.config.lambda_cyc if lambda_cyc is None else lambda_cyc
        adv = F.logsigmoid(-model.D_Y(model.G(x))).mean() + F.logsigmoid(-model.D_X(model.F(y))).mean()
        return adv + lam * gv.cycle_consistency_loss(model.G, model.F, x, y)
    assert not run_check("cyclegan_generator_objective", patched(CYCLE, cyclegan_generator_loss=minimax)).passed


def test_gradient_routing_rejects_detached_generator():
    def detached(G, F_, x, y):  # F never receives a gradient
        return (F_(G(x)).detach() - x).abs().sum(-1).mean() + (G(F_(y).detach()) - y).abs().sum(-1).mean()
    assert not run_check("cyclegan_cycle_gradient_routing", patched(CYCLE, cycle_consistency_loss=detached)).passed


# --------------------------------------------------------------------------------------------
# InfoGAN
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [
    lambda q, c: F.log_softmax(q, -1).gather(-1, c.unsqueeze(-1)).mean(),                      # H(c) dropped
    lambda q, c: F.log_softmax(q, -1).gather(-1, c.unsqueeze(-1)).mean() + math.log2(q.shape[-1]),  # H in bits
    lambda q, c: -F.log_softmax(q, -1).gather(-1, c.unsqueeze(-1)).mean() + math.log(q.shape[-1]),  # sign
    lambda q, c: F.softmax(q, -1).gather(-1, c.unsqueeze(-1)).mean() + math.log(q.shape[-1]),       # Q not log Q
])
def test_mi_bound_rejects_wrong_bound(bad):
    assert not run_check("infogan_mi_bound_at_most_entropy", patched(INFO, mutual_information_lower_bound=bad)).passed


class CodeBlindInfoGAN(gv.InfoGAN):
    """Broken: the generator ignores the code."""

    def generate(self, z, c):
        return super().generate(z, torch.zeros_like(c))


def test_condition_rejects_code_blind_generator():
    assert not run_check("gan_condition_changes_output", model_subject(CodeBlindInfoGAN, INFO_PARAMS)).passed


class SeparateQ(gv.InfoGAN):
    """Broken: Q has its own body instead of sharing the discriminator's."""

    def __init__(self, **kw):
        super().__init__(**kw)
        c = self.config
        self.q_body = nn.Sequential(nn.Linear(c.data_dim, c.hidden), nn.LeakyReLU(0.2))

    def heads(self, x):
        return self.d_head(self.body(x)).squeeze(-1), self.q_head(self.q_body(x))


def test_shared_body_rejects_separate_q_network():
    assert not run_check("infogan_q_shares_discriminator_body", model_subject(SeparateQ, INFO_PARAMS)).passed
