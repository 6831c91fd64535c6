"""Every DCGAN check passes on reference_impls.dcgan and rejects a deliberately broken variant."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import reference_impls.dcgan as dcgan
import reference_impls.gan as gan
from harness.registry import Subject
from harness.testing import patched, run_check, subject_from

PARAMS = {"latent_dim": 100, "channels": 1, "image_size": 16, "features": 8}
REAL = subject_from("reference_impls.dcgan:DCGAN", PARAMS)


def model_subject(cls, **params) -> Subject:
    """A broken model class, with the real family module as its namespace of cores."""
    return Subject(cls.__name__, cls, {**PARAMS, **params}, dcgan)


@pytest.mark.parametrize("name", [
    "dcgan_generator_architecture", "dcgan_discriminator_architecture", "dcgan_output_shape_and_range",
    "dcgan_layer_sizes_follow_formula", "dcgan_size_formulas_match_torch", "dcgan_weight_init_normal"])
def test_reference_passes(name):
    out = run_check(name, REAL)
    assert out.passed, out.line()


def test_reference_passes_at_32px_rgb():
    s = subject_from("reference_impls.dcgan:DCGAN", {**PARAMS, "image_size": 32, "channels": 3})
    for name in ("dcgan_generator_architecture", "dcgan_discriminator_architecture", "dcgan_output_shape_and_range",
                 "dcgan_layer_sizes_follow_formula"):
        out = run_check(name, s, dtype="float32")
        assert out.passed, out.line()


def test_reference_lowers_discriminator_loss_on_digits():
    out = run_check("dcgan_digits_discriminator_loss_decreases", REAL, dtype="float32")
    assert out.passed, out.line()


# --------------------------------------------------------------------------------------------
# broken generators
# --------------------------------------------------------------------------------------------
def _replace(seq: nn.Sequential, index: int, *mods: nn.Module) -> nn.Sequential:
    layers = list(seq)
    return nn.Sequential(*layers[:index], *mods, *layers[index + 1:])


class BNOnOutput(dcgan.DCGAN):
    """Broken: BatchNorm between the last transposed conv and tanh."""

    def __init__(self, **kw):
        super().__init__(**kw)
        net = self.generator.net
        self.generator.net = nn.Sequential(*list(net)[:-1], nn.BatchNorm2d(self.config.channels), nn.Tanh())


class LeakyGenerator(dcgan.DCGAN):
    """Broken: LeakyReLU in the generator's hidden layers."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.generator.net = nn.Sequential(*[nn.LeakyReLU(0.2) if isinstance(m, nn.ReLU) else m for m in self.generator.net])


class UpsampleGenerator(dcgan.DCGAN):
    """Broken: nearest-neighbour upsampling + stride-1 transposed conv instead of a fractionally strided one."""

    def __init__(self, **kw):
        super().__init__(**kw)
        net = list(self.generator.net)
        i = next(j for j, m in enumerate(net) if isinstance(m, nn.ConvTranspose2d))
        c = net[i]
        net[i:i + 1] = [nn.Upsample(scale_factor=2), nn.ConvTranspose2d(c.in_channels, c.out_channels, 3, 1, 1, bias=False)]
        self.generator.net = nn.Sequential(*net)


class NoisyLatent(dcgan.DCGAN):
    """Broken: an extra fully connected hidden layer after the projection."""

    def __init__(self, **kw):
        super().__init__(**kw)
        p = self.generator.project
        self.generator.project = nn.Sequential(nn.Linear(p.in_features, p.in_features), nn.ReLU(), p)


@pytest.mark.parametrize("cls", [BNOnOutput, LeakyGenerator, UpsampleGenerator, NoisyLatent])
def test_generator_architecture_rejects(cls):
    assert not run_check("dcgan_generator_architecture", model_subject(cls)).passed


def test_generator_architecture_rejects_wrong_noise_size():
    assert not run_check("dcgan_generator_architecture", model_subject(dcgan.DCGAN, latent_dim=64)).passed


# --------------------------------------------------------------------------------------------
# broken discriminators
# --------------------------------------------------------------------------------------------
class BNOnInput(dcgan.DCGAN):
    """Broken: BatchNorm on the discriminator's input layer."""

    def __init__(self, **kw):
        super().__init__(**kw)
        net = list(self.discriminator.net)
        self.discriminator.net = nn.Sequential(net[0], nn.BatchNorm2d(net[0].out_channels), *net[1:])


class PoolingDiscriminator(dcgan.DCGAN):
    """Broken: stride-1 convolution followed by max pooling in the input layer."""

    def __init__(self, **kw):
        super().__init__(**kw)
        net = list(self.discriminator.net)
        c = net[0]
        net[0:1] = [nn.Conv2d(c.in_channels, c.out_channels, 3, 1, 1, bias=False), nn.MaxPool2d(2)]
        self.discriminator.net = nn.Sequential(*net)


class ReluDiscriminator(dcgan.DCGAN):
    """Broken: ReLU instead of LeakyReLU."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.discriminator.net = nn.Sequential(*[nn.ReLU() if isinstance(m, nn.LeakyReLU) else m for m in self.discriminator.net])


class FCHeadDiscriminator(dcgan.DCGAN):
    """Broken: a fully connected hidden layer before the output."""

    def __init__(self, **kw):
        super().__init__(**kw)
        net = list(self.discriminator.net)[:-1]
        c = net[-3].out_channels
        self.discriminator.net = nn.Sequential(*net, nn.Flatten(), nn.Linear(c * 16, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))


@pytest.mark.parametrize("cls", [BNOnInput, PoolingDiscriminator, ReluDiscriminator, FCHeadDiscriminator])
def test_discriminator_architecture_rejects(cls):
    assert not run_check("dcgan_discriminator_architecture", model_subject(cls)).passed


# --------------------------------------------------------------------------------------------
# shapes, sizes, initialisation, training
# --------------------------------------------------------------------------------------------
class NoTanh(dcgan.DCGAN):
    """Broken: linear output layer (no tanh)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.generator.net = nn.Sequential(*list(self.generator.net)[:-1])


def test_output_range_rejects_missing_tanh():
    assert not run_check("dcgan_output_shape_and_range", model_subject(NoTanh)).passed


def test_layer_sizes_reject_wrong_padding_sign():
    bad = patched(REAL, transposed_conv_output_size=lambda w, k, s=1, p=0, *a, **kw: (w - 1) * s + 2 * p + k)
    assert not run_check("dcgan_layer_sizes_follow_formula", bad).passed


def test_size_formulas_reject_missing_plus_one():
    bad = patched(REAL, conv_output_size=lambda w, k, s=1, p=0, dilation=1: (w - k + 2 * p) // s)
    assert not run_check("dcgan_size_formulas_match_torch", bad).passed


def test_size_formulas_reject_convolution_formula_for_transposed():
    bad = patched(REAL, transposed_conv_output_size=lambda w, k, s=1, p=0, *a, **kw: w * s - 2 * p + k - 1 + (s == 1))
    assert not run_check("dcgan_size_formulas_match_torch", bad).passed


class DefaultInit(dcgan.DCGAN):
    """Broken: PyTorch's default (Kaiming-uniform) initialisation."""

    def __init__(self, **kw):
        super().__init__(**kw)
        for m in self.modules():
            if hasattr(m, "reset_parameters") and m is not self:
                m.reset_parameters()


def test_weight_init_rejects_default_init():
    assert not run_check("dcgan_weight_init_normal", model_subject(DefaultInit)).passed


def test_digits_rejects_discriminator_that_ascends_its_loss():
    def ascend(model, real_batches, opt_d, opt_g, **kw):
        for real in real_batches:
            z = gan.sample_noise(real.shape[0], model.latent_dim, like=real, generator=kw.get("generator"))
            loss = -gan.discriminator_loss(model.discriminator(real), model.discriminator(model.generator(z).detach()))
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
        return {"d_losses": [], "g_loss": 0.0}
    bad = patched(REAL, train_step=ascend)
    assert not run_check("dcgan_digits_discriminator_loss_decreases", bad, dtype="float32").passed


def test_trace_sees_every_layer():
    # guard for the architecture checks: a forward hook fires once per leaf module in execution order
    from harness.checks.adversarial import _leaf_trace
    m = dcgan.DCGAN(**PARAMS).eval()
    trace = _leaf_trace(m.generator, torch.randn(2, 100))
    assert [type(t[0]).__name__ for t in trace][:3] == ["Linear", "BatchNorm2d", "ReLU"]
