"""Image-to-image models: neural style transfer statistics, pix2pix (a U-Net generator and a
conditional PatchGAN discriminator), inpainting losses and StyleGAN-style mixing.

Pure PyTorch. The family's factory is :func:`build_image2image` (``kind="pix2pix"`` ->
:class:`Pix2Pix`, ``kind="stylegan"`` -> :class:`StyleMixingGenerator`); the functional cores
are module-level functions.

Conventions:

- Gram matrix: features (B, C, H, W) are read as F (C, N) with N = H·W positions, and
  G = F Fᵀ / (C·H·W) (the standard normalisation: the notes give none).
- Style loss (Gatys et al. 2016, eq. 4 with unnormalised G): E = 1/(4 C² N²) Σ_ij (G_ij − A_ij)²,
  which is ¼ Σ_ij (Ĝ_ij − Â_ij)² for the normalised Ĝ = gram_matrix; averaged over the batch.
- PatchGAN (Isola et al. 2017): ``n_layers`` convolutions with kernel 4, stride 2, padding 1,
  then two with kernel 4, stride 1, padding 1 (the last gives one logit per patch), LeakyReLU 0.2
  between them. Normalisation layers are left out on purpose: BatchNorm in train mode and
  InstanceNorm mix every spatial position, so the receptive field would be the whole image.
- The pix2pix generator loss is the non-saturating conditional GAN term −E log σ(D(x, G(x)))
  (mean over the patch logits) plus λ·mean|G(x) − y| (λ = 100 in the paper).
- Inpainting (Pathak et al. 2016): ``mask`` is 1 on the missing region (to be filled) and 0 on
  the known pixels, (B, 1, H, W) broadcast over channels. The reconstruction loss is
  ‖M ⊙ (x − x̂)‖²₂ summed over pixels and channels, averaged over the batch; the joint loss adds
  the conditional GAN term −E log σ(D((1 − M) ⊙ x, completed)) on the completed image
  M ⊙ x̂ + (1 − M) ⊙ x, weighted λ_rec = 0.999, λ_adv = 0.001 as in the paper.
- Style mixing (Karras et al. 2019, section 3.1): with a crossover point c, synthesis layer l
  gets w1 when l < c and w2 when l ≥ c; c = 0 is pure w2 generation, c = L pure w1.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------------------------
# neural style transfer
# ---------------------------------------------------------------------------------------------
def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C): G = F Fᵀ / (C·H·W), F the (C, H·W) feature matrix."""
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def style_loss(features: torch.Tensor, style_features: torch.Tensor) -> torch.Tensor:
    """¼ Σ_ij (Ĝ(x) − Ĝ(s))²_ij averaged over the batch (Gatys' 1/(4N²M²) Σ (G − A)²)."""
    d = gram_matrix(features) - gram_matrix(style_features)
    return 0.25 * d.pow(2).sum(dim=(1, 2)).mean()


# ---------------------------------------------------------------------------------------------
# convolution arithmetic
# ---------------------------------------------------------------------------------------------
def conv_output_size(n: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """floor((n + 2p − k)/s) + 1."""
    return (n + 2 * padding - kernel) // stride + 1


def receptive_field(specs) -> int:
    """Receptive field of a stack of convolutions ``specs = [(kernel, stride, padding), ...]``:
    r_0 = 1, j_0 = 1; r_l = r_{l−1} + (k_l − 1)·j_{l−1}, j_l = j_{l−1}·s_l."""
    r, j = 1, 1
    for k, s, _p in specs:
        r += (k - 1) * j
        j *= s
    return r


# ---------------------------------------------------------------------------------------------
# pix2pix
# ---------------------------------------------------------------------------------------------
class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN D(x, y): the concatenation (x, y) through the conv stack; one logit per
    patch, shape (B, 1, H', W')."""

    def __init__(self, in_channels: int, hidden: int, n_layers: int) -> None:
        super().__init__()
        chans = [in_channels] + [hidden * 2 ** i for i in range(n_layers + 1)] + [1]
        strides = [2] * n_layers + [1, 1]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 4, stride=s, padding=1)
                                   for a, b, s in zip(chans[:-1], chans[1:], strides))

    def layer_specs(self) -> list[tuple[int, int, int]]:
        return [(c.kernel_size[0], c.stride[0], c.padding[0]) for c in self.convs]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x, y], dim=1)
        for i, conv in enumerate(self.convs):
            h = conv(h)
            if i < len(self.convs) - 1:
                h = F.leaky_relu(h, 0.2)
        return h


class UNetGenerator(nn.Module):
    """A two-level U-Net: two stride-2 convs down, two stride-2 transposed convs up with the skip
    connection concatenated, tanh output. H and W must be multiples of 4. (pix2pix's dropout noise
    is left out: it is off in eval mode, which is how the checks run it.)"""

    def __init__(self, in_channels: int, out_channels: int, hidden: int) -> None:
        super().__init__()
        self.down1 = nn.Conv2d(in_channels, hidden, 4, 2, 1)
        self.down2 = nn.Conv2d(hidden, 2 * hidden, 4, 2, 1)
        self.up1 = nn.ConvTranspose2d(2 * hidden, hidden, 4, 2, 1)
        self.up2 = nn.ConvTranspose2d(2 * hidden, out_channels, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = F.leaky_relu(self.down1(x), 0.2)
        d2 = F.leaky_relu(self.down2(d1), 0.2)
        u1 = F.relu(self.up1(d2))
        return torch.tanh(self.up2(torch.cat([u1, d1], dim=1)))


@dataclass(frozen=True)
class Pix2PixConfig:
    in_channels: int = 3
    out_channels: int = 3
    hidden: int = 8
    n_layers: int = 2


class Pix2Pix(nn.Module):
    """G: x (B, in_channels, H, W) -> y (B, out_channels, H, W); D: conditional PatchGAN on (x, y)."""

    def __init__(self, config: Pix2PixConfig | None = None, **kwargs) -> None:
        super().__init__()
        self.config = c = config or Pix2PixConfig(**kwargs)
        self.G = UNetGenerator(c.in_channels, c.out_channels, c.hidden)
        self.D = PatchDiscriminator(c.in_channels + c.out_channels, c.hidden, c.n_layers)

    def layer_specs(self) -> list[tuple[int, int, int]]:
        """(kernel, stride, padding) of each of D's convolutions, input to output."""
        return self.D.layer_specs()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(G(x), D(x, G(x)), D(x, y))."""
        fake = self.G(x)
        return fake, self.D(x, fake), self.D(x, y)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())


def pix2pix_generator_loss(D, x: torch.Tensor, fake: torch.Tensor, target: torch.Tensor,
                           lam: float = 100.0) -> torch.Tensor:
    """L_cGAN + λ·L_L1 = −mean log σ(D(x, fake)) + λ·mean|fake − target|."""
    logits = D(x, fake)
    adv = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    return adv + lam * (fake - target).abs().mean()


# ---------------------------------------------------------------------------------------------
# inpainting
# ---------------------------------------------------------------------------------------------
def masked_l2(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """‖M ⊙ (target − pred)‖²₂ over (C, H, W), averaged over the batch; M = 1 on the missing region."""
    d = mask * (target - pred)
    return d.pow(2).flatten(1).sum(-1).mean()


def inpainting_loss(D, x: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor,
                    lam_rec: float = 0.999, lam_adv: float = 0.001) -> torch.Tensor:
    """λ_rec·masked_l2(pred, x, M) + λ_adv·(−mean log σ(D((1 − M) ⊙ x, M ⊙ pred + (1 − M) ⊙ x)))."""
    context = (1 - mask) * x
    completed = mask * pred + context
    logits = D(context, completed)
    adv = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    return lam_rec * masked_l2(pred, x, mask) + lam_adv * adv


# ---------------------------------------------------------------------------------------------
# StyleGAN-style mixing
# ---------------------------------------------------------------------------------------------
def mix_codes(w1: torch.Tensor, w2: torch.Tensor, crossover: int, n_layers: int) -> torch.Tensor:
    """(B, w_dim) codes -> per-layer codes (B, L, w_dim): w1 for layers l < crossover, w2 for l ≥ crossover."""
    layer = torch.arange(n_layers, device=w1.device)
    use_w1 = (layer < crossover).view(1, n_layers, 1)
    return torch.where(use_w1, w1.unsqueeze(1), w2.unsqueeze(1))


class StyledConv(nn.Module):
    """3x3 conv, then AdaIN with style (scale, bias) = A(w): x ← (1 + scale)·norm(x) + bias, LeakyReLU 0.2."""

    def __init__(self, channels: int, w_dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.affine = nn.Linear(w_dim, 2 * channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        h = (h - h.mean(dim=(2, 3), keepdim=True)) / torch.sqrt(h.var(dim=(2, 3), keepdim=True, unbiased=False) + 1e-5)
        scale, bias = self.affine(w).chunk(2, dim=-1)
        h = (1 + scale[..., None, None]) * h + bias[..., None, None]
        return F.leaky_relu(h, 0.2)


@dataclass(frozen=True)
class StyleMixingConfig:
    w_dim: int = 8
    style_layers: int = 4
    style_channels: int = 8
    out_channels: int = 3
    resolution: int = 4


class StyleMixingGenerator(nn.Module):
    """A StyleGAN-like synthesis network at a fixed resolution: a learned constant, ``style_layers``
    styled convolutions each modulated by its own code, a 1x1 to_rgb."""

    def __init__(self, config: StyleMixingConfig | None = None, **kwargs) -> None:
        super().__init__()
        self.config = c = config or StyleMixingConfig(**kwargs)
        self.const = nn.Parameter(torch.randn(1, c.style_channels, c.resolution, c.resolution))
        self.layers = nn.ModuleList(StyledConv(c.style_channels, c.w_dim) for _ in range(c.style_layers))
        self.to_rgb = nn.Conv2d(c.style_channels, c.out_channels, 1)

    def synthesis(self, ws: torch.Tensor) -> torch.Tensor:
        """Per-layer codes ws (B, L, w_dim) -> image (B, out_channels, R, R); layer l reads ws[:, l]."""
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        for l, layer in enumerate(self.layers):
            x = layer(x, ws[:, l])
        return self.to_rgb(x)

    def forward(self, w1: torch.Tensor, w2: torch.Tensor | None = None, crossover: int | None = None) -> torch.Tensor:
        """w1 alone: pure w1 generation; with w2: mixing at ``crossover`` (default L // 2)."""
        L = len(self.layers)
        if w2 is None:
            w2, crossover = w1, L
        c = L // 2 if crossover is None else crossover
        return self.synthesis(mix_codes(w1, w2, c, L))

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())


def build_image2image(kind: str = "pix2pix", *, in_channels: int = 3, out_channels: int = 3, hidden: int = 8,
                      n_layers: int = 2, w_dim: int = 8, style_layers: int = 4, style_channels: int = 8,
                      resolution: int = 4, image_size: int = 16):
    """The family's factory: ``kind="pix2pix"`` -> :class:`Pix2Pix`, ``"stylegan"`` -> :class:`StyleMixingGenerator`.
    ``image_size`` is the size of the example images, not a parameter of either network."""
    if kind == "pix2pix":
        return Pix2Pix(in_channels=in_channels, out_channels=out_channels, hidden=hidden, n_layers=n_layers)
    if kind == "stylegan":
        return StyleMixingGenerator(w_dim=w_dim, style_layers=style_layers, style_channels=style_channels,
                                    out_channels=out_channels, resolution=resolution)
    raise ValueError(f"unknown kind {kind!r}; allowed: pix2pix, stylegan")
