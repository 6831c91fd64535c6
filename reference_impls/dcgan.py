"""Deep convolutional GAN (DCGAN): a projected-and-reshaped noise vector upsampled by transposed
convolutions, and a strided-convolution discriminator.

Shapes: noise ``z`` (B, latent_dim) with latent_dim = 100 as in the notes; images (B, C, H, H)
with H = image_size = 4·2^n (16 or 32 for 8×8 digits padded or upsampled); the discriminator
returns logits (B,) and :meth:`DCGANDiscriminator.probability` its sigmoid output.

Architecture rules (Radford et al. 2016, §3; notes 000 "DCGAN Architecture", notes 002
"Key differences/additions – DCGAN"):

* generator: z -> Linear projection -> reshape (B, 8f·…, 4, 4) -> BN + ReLU -> [ConvTranspose2d
  (kernel 4, stride 2, padding 1) -> BN -> ReLU]* -> ConvTranspose2d -> tanh (no BN on the output);
* discriminator: [Conv2d (kernel 4, stride 2, padding 1) -> BN -> LeakyReLU(0.2)]*, with no BN
  on the input layer, then a final Conv2d over the remaining 4×4 map to one logit (the flattened
  last conv fed to a single sigmoid output); no pooling, no fully connected hidden layers.
* weights ~ N(0, 0.02); BatchNorm scale ~ N(1, 0.02), shift 0.

Sizes: a transposed convolution maps W -> (W − 1)S − 2P + K (dilation 1, no output padding);
a convolution maps W -> ⌊(W + 2P − K)/S⌋ + 1. With K = 4, S = 2, P = 1 each doubles or halves W.

Notes 002 contradict themselves on the generator's activation ("Use ReLU in the generator
except for the output which uses tanh" and, two lines on, "The Generator uses Leaky Relu");
this module follows the paper (ReLU in G, LeakyReLU in D); notes 002 also describe "several
fully connected layers" at the end of the discriminator, which the paper and notes 000 exclude.

Losses and the training step are those of :mod:`reference_impls.gan` (re-exported here).

References
1. Radford, Metz, Chintala (2016), "Unsupervised Representation Learning with Deep
   Convolutional Generative Adversarial Networks" (§3 architecture guidelines, §4 details).
2. Dumoulin, Visin (2016), "A guide to convolution arithmetic for deep learning" (relationship 14
   for transposed convolutions).
3. Course notes 000 (DCGAN architecture, discriminator architecture), 002 (DCGAN generator,
   discriminator, losses and training loop on MNIST).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from reference_impls.gan import (discriminator_loss, generator_loss_minimax, generator_loss_nonsaturating,
                                 sample_noise, train_step)

__all__ = [
    "DCGANConfig", "DCGANGenerator", "DCGANDiscriminator", "DCGAN",
    "transposed_conv_output_size", "conv_output_size", "dcgan_init_",
    "discriminator_loss", "generator_loss_minimax", "generator_loss_nonsaturating", "sample_noise", "train_step",
    "INIT_STD",
]

INIT_STD = 0.02  # DCGAN weight initialisation N(0, 0.02)


def transposed_conv_output_size(w: int, k: int, s: int = 1, p: int = 0, output_padding: int = 0,
                                dilation: int = 1) -> int:
    """O = (W − 1)S − 2P + dilation·(K − 1) + output_padding + 1; = (W − 1)S − 2P + K by default."""
    return (w - 1) * s - 2 * p + dilation * (k - 1) + output_padding + 1


def conv_output_size(w: int, k: int, s: int = 1, p: int = 0, dilation: int = 1) -> int:
    """O = ⌊(W + 2P − dilation·(K − 1) − 1)/S⌋ + 1; = ⌊(W − K + 2P)/S⌋ + 1 by default."""
    return (w + 2 * p - dilation * (k - 1) - 1) // s + 1


@dataclass(frozen=True)
class DCGANConfig:
    latent_dim: int = 100     # notes 000: 100-dimensional Gaussian noise
    channels: int = 1         # image channels
    image_size: int = 16      # 4·2^n
    features: int = 16        # width of the layer next to the image (ngf = ndf)
    leaky_slope: float = 0.2

    @property
    def n_up(self) -> int:
        """Number of ×2 stages between 4×4 and image_size."""
        n, size = 0, 4
        while size < self.image_size:
            size, n = size * 2, n + 1
        if size != self.image_size or n < 1:
            raise ValueError(f"image_size must be 4·2^n with n >= 1, got {self.image_size}")
        return n


def dcgan_init_(module: nn.Module) -> None:
    """In place: conv/linear weights ~ N(0, INIT_STD), biases 0; BN scale ~ N(1, INIT_STD), shift 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, INIT_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, INIT_STD)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """z (B, latent_dim) -> image (B, channels, image_size, image_size) in [−1, 1]."""

    def __init__(self, config: DCGANConfig):
        super().__init__()
        n, f = config.n_up, config.features
        self.c0 = f * 2 ** (n - 1)
        self.project = nn.Linear(config.latent_dim, self.c0 * 4 * 4, bias=False)
        layers: list[nn.Module] = [nn.BatchNorm2d(self.c0), nn.ReLU()]
        c = self.c0
        for _ in range(n - 1):  # (B, c, W, W) -> (B, c/2, 2W, 2W)
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU()]
            c //= 2
        layers += [nn.ConvTranspose2d(c, config.channels, 4, 2, 1, bias=False), nn.Tanh()]  # no BN on the output
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(z.shape[0], self.c0, 4, 4)  # (B, c0, 4, 4)
        return self.net(h)


class DCGANDiscriminator(nn.Module):
    """image (B, channels, H, H) -> logits (B,); :meth:`probability` = σ(logits)."""

    def __init__(self, config: DCGANConfig):
        super().__init__()
        n, f = config.n_up, config.features
        layers: list[nn.Module] = [nn.Conv2d(config.channels, f, 4, 2, 1, bias=False),
                                   nn.LeakyReLU(config.leaky_slope)]  # input layer: no BN
        c = f
        for _ in range(n - 1):  # (B, c, W, W) -> (B, 2c, W/2, W/2)
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * c),
                       nn.LeakyReLU(config.leaky_slope)]
            c *= 2
        layers.append(nn.Conv2d(c, 1, 4, 1, 0, bias=False))  # (B, c, 4, 4) -> (B, 1, 1, 1)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1).squeeze(-1)

    def probability(self, x: torch.Tensor) -> torch.Tensor:
        """The sigmoid output D(x) = σ(logit) ∈ (0, 1)."""
        return torch.sigmoid(self(x))


class DCGAN(nn.Module):
    """Generator and discriminator. ``forward(z)`` -> (G(z) (B, C, H, H), D-logits of G(z) (B,))."""

    def __init__(self, config: DCGANConfig | None = None, **kwargs):
        super().__init__()
        self.config = config or DCGANConfig(**kwargs)
        self.latent_dim = self.config.latent_dim
        self.generator = DCGANGenerator(self.config)
        self.discriminator = DCGANDiscriminator(self.config)
        dcgan_init_(self)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.generator(z)
        return x, self.discriminator(x)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())
