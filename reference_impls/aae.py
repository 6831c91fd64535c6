"""Adversarial autoencoder (AAE): an autoencoder whose code distribution is matched to a prior by
a GAN played in code space, written from its definition.

The encoder q(z|x) (here deterministic, z = f(x)) is the GAN's *generator*; a discriminator D
tells codes z = f(x) ("fake") from prior samples z ~ p(z) = N(0, I) ("real"). Training alternates
two phases on each minibatch (Makhzani et al. 2015, section 2):

1. reconstruction: encoder and decoder minimise ‖x − g(f(x))‖²;
2. regularisation: D minimises the binary cross-entropy of real-vs-fake on (prior samples, codes),
   then the encoder (generator) minimises the non-saturating generator loss −log D(f(x)).

Gradient routing is the point of the losses here (:func:`aae_losses`): the reconstruction loss
reaches the encoder and the decoder only; the discriminator loss reaches D only (codes are
detached); the generator loss reaches the encoder only (D's parameters enter it detached), so
one backward pass of their sum updates each network with exactly its own phase's gradient.

D outputs a *logit* ℓ (probability σ(ℓ) that z came from the prior); the losses take logits and
are computed stably with softplus: −log σ(ℓ) = softplus(−ℓ), −log(1 − σ(ℓ)) = softplus(ℓ).

Shapes: x (B, in_features) in [0, 1] (the decoder ends in a sigmoid); z (B, latent); logits (B,).

References
1. Makhzani, Shlens, Jaitly, Goodfellow, Frey (2015), "Adversarial Autoencoders", arXiv:1511.05644.
2. Goodfellow et al. (2014), "Generative Adversarial Nets", NeurIPS (the non-saturating generator loss).
3. Notes 002 ("Types of autoencoders": generative adversarial autoencoders, trained in an
   adversarial manner to generate new data).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "AAEConfig", "AdversarialAutoencoder", "sample_prior", "reconstruction_loss", "discriminator_loss",
    "generator_loss", "aae_losses",
]


# ---------------------------------------------------------------------------------------------
# functional cores
# ---------------------------------------------------------------------------------------------
def sample_prior(n: int, latent: int, generator: torch.Generator | None = None, device=None,
                 dtype: torch.dtype | None = None) -> torch.Tensor:
    """n samples of the prior p(z) = N(0, I_latent), drawn only from ``generator`` (torch's global
    RNG when None) on ``device`` (default: the generator's). (n, latent)."""
    if device is None and generator is not None:
        device = generator.device
    return torch.randn(n, latent, generator=generator, device=device, dtype=dtype)


def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ‖x − x'‖² (summed over features). Scalar."""
    return (x - x_hat).pow(2).reshape(x.shape[0], -1).sum(-1).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's binary cross-entropy, prior samples labelled 1 and codes 0:
    L_D = −mean log σ(ℓ_real) − mean log(1 − σ(ℓ_fake)) = mean softplus(−ℓ_real) + mean softplus(ℓ_fake).
    Scalar; 2 log 2 when D outputs ½ everywhere."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The encoder's (generator's) non-saturating loss L_G = −mean log σ(ℓ_fake) = mean softplus(−ℓ_fake):
    the encoder is rewarded for codes D takes for prior samples. Scalar."""
    return F.softplus(-fake_logits).mean()


def aae_losses(model: "AdversarialAutoencoder", x: torch.Tensor, z_prior: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(reconstruction, discriminator, generator) losses of one AAE step, with gradients routed:

    - reconstruction ‖x − g(f(x))‖² -> encoder and decoder;
    - discriminator L_D(D(z_prior), D(f(x).detach())) -> D only;
    - generator L_G(D(f(x))) with D's parameters detached -> encoder only.

    Their sum can be backpropagated once and stepped with one optimiser per network (or one for all).
    """
    z = model.encode(x)
    recon = reconstruction_loss(x, model.decode(z))
    disc = discriminator_loss(model.discriminate(z_prior), model.discriminate(z.detach()))
    frozen = {k: v.detach() for k, v in model.discriminator.named_parameters()}
    gen = generator_loss(torch.func.functional_call(model.discriminator, frozen, (z,)).squeeze(-1))
    return recon, disc, gen


# ---------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AAEConfig:
    in_features: int = 64   # 8x8 digits
    hidden: int = 64        # encoder / decoder hidden width
    latent: int = 2         # code size
    disc_hidden: int = 32   # discriminator hidden width


class AdversarialAutoencoder(nn.Module):
    """Encoder Linear-ReLU-Linear (the generator), decoder Linear-ReLU-Linear-sigmoid, discriminator
    Linear-ReLU-Linear on codes (one logit).

    ``forward(x)`` returns ``(x_hat, z, logit)``: the reconstruction, the code and D's logit on the
    code — everything one training step reads.
    """

    def __init__(self, config: AAEConfig | None = None, **overrides: object) -> None:
        super().__init__()
        self.config = c = replace(config or AAEConfig(), **overrides)
        self.encoder = nn.Sequential(nn.Linear(c.in_features, c.hidden), nn.ReLU(), nn.Linear(c.hidden, c.latent))
        self.decoder = nn.Sequential(nn.Linear(c.latent, c.hidden), nn.ReLU(), nn.Linear(c.hidden, c.in_features),
                                     nn.Sigmoid())
        self.discriminator = nn.Sequential(nn.Linear(c.latent, c.disc_hidden), nn.ReLU(), nn.Linear(c.disc_hidden, 1))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z = f(x): (B, in_features) -> (B, latent)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """x' = g(z): (B, latent) -> (B, in_features), in (0, 1)."""
        return self.decoder(z)

    def discriminate(self, z: torch.Tensor) -> torch.Tensor:
        """D's logit that z came from the prior: (B, latent) -> (B,)."""
        return self.discriminator(z).squeeze(-1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return self.decode(z), z, self.discriminate(z)
