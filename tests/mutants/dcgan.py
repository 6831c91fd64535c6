"""Broken variants of the DCGAN checks (harness.checks.dcgan) on reference_impls.dcgan."""
from __future__ import annotations

import torch
from torch import nn

import reference_impls.dcgan as dcgan
import reference_impls.gan as gan
from harness.testing import broken, patched, replaced, subject_from

REAL = subject_from("reference_impls.dcgan:DCGAN", {"latent_dim": 100, "channels": 1, "image_size": 16, "features": 8})


# -- broken generators -----------------------------------------------------------------------
class BNOnOutput(dcgan.DCGAN):
    """BatchNorm between the last transposed conv and tanh."""

    def __init__(self, **kw):
        super().__init__(**kw)
        net = self.generator.net
        self.generator.net = nn.Sequential(*list(net)[:-1], nn.BatchNorm2d(self.config.channels), nn.Tanh())


class LeakyGenerator(dcgan.DCGAN):
    """LeakyReLU in the generator's hidden layers."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.generator.net = nn.Sequential(*[nn.LeakyReLU(0.2) if isinstance(m, nn.ReLU) else m for m in self.generator.net])


class UpsampleGenerator(dcgan.DCGAN):
    """Nearest-neighbour upsampling + stride-1 transposed conv instead of a fractionally strided one."""

    def __init__(self, **kw):
        super().__init__(**kw)
        net = list(self.generator.net)
        i = next(j for j, m in enumerate(net) if isinstance(m, nn.ConvTranspose2d))
        c = net[i]
        net[i:i + 1] = [nn.Upsample(scale_factor=2), nn.ConvTranspose2d(c.in_channels, c.out_channels, 3, 1, 1, bias=False)]
        self.generator.net = nn.Sequential(*net)


class NoisyLatent(dcgan.DCGAN):
    """An extra fully connected hidden layer after the projection."""

    def __init__(self, **kw):
        super().__init__(**kw)
        p = self.generator.project
        self.generator.project = nn.Sequential(nn.Linear(p.in_features, p.in_features), nn.ReLU(), p)


class FixedNoiseSize(dcgan.DCGAN):
    """64-d noise whatever latent_dim says."""

    def __init__(self, **kw):
        super().__init__(**{**kw, "latent_dim": 64})


# -- broken discriminators -------------------------------------------------------------------
class BNOnInput(dcgan.DCGAN):
    """BatchNorm on the discriminator's input layer."""

    def __init__(self, **kw):
        super().__init__(**kw)
        net = list(self.discriminator.net)
        self.discriminator.net = nn.Sequential(net[0], nn.BatchNorm2d(net[0].out_channels), *net[1:])


class PoolingDiscriminator(dcgan.DCGAN):
    """Stride-1 convolution followed by max pooling in the input layer."""

    def __init__(self, **kw):
        super().__init__(**kw)
        net = list(self.discriminator.net)
        c = net[0]
        net[0:1] = [nn.Conv2d(c.in_channels, c.out_channels, 3, 1, 1, bias=False), nn.MaxPool2d(2)]
        self.discriminator.net = nn.Sequential(*net)


class ReluDiscriminator(dcgan.DCGAN):
    """ReLU instead of LeakyReLU."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.discriminator.net = nn.Sequential(*[nn.ReLU() if isinstance(m, nn.LeakyReLU) else m for m in self.discriminator.net])


class FCHeadDiscriminator(dcgan.DCGAN):
    """A fully connected hidden layer before the output."""

    def __init__(self, **kw):
        super().__init__(**kw)
        net = list(self.discriminator.net)[:-1]
        c = net[-3].out_channels
        self.discriminator.net = nn.Sequential(*net, nn.Flatten(), nn.Linear(c * 16, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))


# -- shapes, sizes, initialisation, training -------------------------------------------------
class NoTanh(dcgan.DCGAN):
    """Linear output layer (no tanh)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.generator.net = nn.Sequential(*list(self.generator.net)[:-1])


class DefaultInit(dcgan.DCGAN):
    """PyTorch's default (Kaiming-uniform) initialisation."""

    def __init__(self, **kw):
        super().__init__(**kw)
        for m in self.modules():
            if hasattr(m, "reset_parameters") and m is not self:
                m.reset_parameters()


class DoubleWidthGenerator(dcgan.DCGAN):
    """The generator's projection twice as wide as configured (c0 = features·2^n)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        cfg = self.config
        wide = dcgan.DCGANGenerator(dcgan.DCGANConfig(**{**kw, "features": 2 * cfg.features}))
        net = list(wide.net)
        net[-2] = nn.ConvTranspose2d(net[-2].in_channels, cfg.channels, 4, 2, 1, bias=False)
        wide.net = nn.Sequential(*net)
        self.generator = wide
        dcgan.dcgan_init_(self)


class NarrowDiscriminator(dcgan.DCGAN):
    """The discriminator keeps features channels throughout (no doubling)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        cfg = self.config
        layers = [nn.Conv2d(cfg.channels, cfg.features, 4, 2, 1, bias=False), nn.LeakyReLU(cfg.leaky_slope)]
        for _ in range(cfg.n_up - 1):
            layers += [nn.Conv2d(cfg.features, cfg.features, 4, 2, 1, bias=False), nn.BatchNorm2d(cfg.features),
                       nn.LeakyReLU(cfg.leaky_slope)]
        layers.append(nn.Conv2d(cfg.features, 1, 4, 1, 0, bias=False))
        self.discriminator.net = nn.Sequential(*layers)
        dcgan.dcgan_init_(self)


class DetachedProbability(dcgan.DCGAN):
    """D.probability computed under no_grad (σ of detached logits)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        D = self.discriminator
        D.probability = lambda x: torch.sigmoid(D(x).detach())


class DetachedImageDCGAN(dcgan.DCGAN):
    """forward returns the generated image cut from the graph."""

    def forward(self, z):
        x = self.generator(z)
        return x.detach(), self.discriminator(x)


def _minus_output_padding(w, k, s=1, p=0, output_padding=0, dilation=1):
    """Output padding subtracted."""
    return (w - 1) * s - 2 * p + dilation * (k - 1) - output_padding + 1


def _dilation_ignored(w, k, s=1, p=0, dilation=1):
    """The conv size formula without dilation."""
    return (w + 2 * p - k) // s + 1


def _ascend(model, real_batches, opt_d, opt_g, **kw):
    """The discriminator ascends its loss."""
    for real in real_batches:
        z = gan.sample_noise(real.shape[0], model.latent_dim, like=real, generator=kw.get("generator"))
        loss = -gan.discriminator_loss(model.discriminator(real), model.discriminator(model.generator(z).detach()))
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()
    return {"d_losses": [], "g_loss": 0.0}


MUTANTS = {
    "dcgan_generator_architecture": [
        broken("BN on the output", replaced(REAL, BNOnOutput)),
        broken("LeakyReLU generator", replaced(REAL, LeakyGenerator)),
        broken("upsample + stride-1 conv", replaced(REAL, UpsampleGenerator)),
        broken("extra FC layer", replaced(REAL, NoisyLatent)),
        broken("wrong noise size", replaced(REAL, FixedNoiseSize)),
    ],
    "dcgan_discriminator_architecture": [
        broken("BN on the input layer", replaced(REAL, BNOnInput)),
        broken("max pooling", replaced(REAL, PoolingDiscriminator)),
        broken("ReLU discriminator", replaced(REAL, ReluDiscriminator)),
        broken("FC hidden layer", replaced(REAL, FCHeadDiscriminator)),
    ],
    "dcgan_output_shape_and_range": [
        broken("no tanh", replaced(REAL, NoTanh)),
    ],
    "dcgan_layer_sizes_follow_formula": [
        broken("wrong padding sign", patched(
            REAL, transposed_conv_output_size=lambda w, k, s=1, p=0, *a, **kw: (w - 1) * s + 2 * p + k)),
    ],
    "dcgan_size_formulas_match_torch": [
        broken("missing + 1", patched(REAL, conv_output_size=lambda w, k, s=1, p=0, dilation=1: (w - k + 2 * p) // s)),
        broken("convolution formula for transposed", patched(
            REAL, transposed_conv_output_size=lambda w, k, s=1, p=0, *a, **kw: w * s - 2 * p + k - 1 + (s == 1))),
    ],
    "dcgan_size_formulas_dilation_output_padding_match_torch": [
        broken("output padding subtracted", patched(REAL, transposed_conv_output_size=_minus_output_padding)),
        broken("dilation ignored", patched(REAL, conv_output_size=_dilation_ignored)),
    ],
    "dcgan_parameter_shapes_match_config": [
        broken("generator twice as wide", replaced(REAL, DoubleWidthGenerator)),
        broken("discriminator without channel doubling", replaced(REAL, NarrowDiscriminator)),
    ],
    "dcgan_probability_gradient": [
        broken("probability of detached logits", replaced(REAL, DetachedProbability)),
    ],
    "gan_outputs_differentiable_in_parameters": [
        broken("detached image", replaced(REAL, DetachedImageDCGAN), suite="dcgan"),
    ],
    "dcgan_weight_init_normal": [
        broken("default init", replaced(REAL, DefaultInit)),
    ],
    "dcgan_digits_discriminator_loss_decreases": [
        broken("discriminator ascends", patched(REAL, train_step=_ascend), dtype="float32"),
    ],
}
