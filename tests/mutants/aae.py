"""Broken variants of the adversarial autoencoder checks (harness/checks/aae.py): swapped labels, the
saturating or sign-flipped generator loss, and losses whose gradients leak into the wrong network."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

import reference_impls.aae as ref
from harness.testing import broken, patched, replaced, subject_from

MOD = "reference_impls.aae"
# the aae suite's subject params
PARAMS = {"in_features": 64, "hidden": 64, "latent": 2, "disc_hidden": 32}
AAE = subject_from("reference_impls.aae:AdversarialAutoencoder", PARAMS)


# --- broken cores ---------------------------------------------------------------------------------
def disc_labels_swapped(real_logits, fake_logits):
    return ref.discriminator_loss(fake_logits, real_logits)


def disc_naive_log(real_logits, fake_logits):
    """log σ written out: overflows to inf at large logits."""
    return -(torch.log(torch.sigmoid(real_logits)).mean() + torch.log(1 - torch.sigmoid(fake_logits)).mean())


def disc_summed(real_logits, fake_logits):
    return F.softplus(-real_logits).sum() + F.softplus(fake_logits).sum()


def gen_saturating(fake_logits):
    """Minimises log(1 − σ(ℓ)): right direction, vanishing gradient where D rejects the codes."""
    return -F.softplus(fake_logits).mean()


def gen_sign_flipped(fake_logits):
    """Minimises −log(1 − σ(ℓ)): makes the codes look *more* fake."""
    return F.softplus(fake_logits).mean()


def recon_mean_over_features(x, x_hat):
    return (x - x_hat).pow(2).mean()


def prior_uniform(n, latent, generator=None, device=None, dtype=None):
    if device is None and generator is not None:
        device = generator.device
    return (torch.rand(n, latent, generator=generator, device=device, dtype=dtype) - 0.5) * math.sqrt(12.0)


def prior_wide(n, latent, generator=None, device=None, dtype=None):
    return 1.5 * ref.sample_prior(n, latent, generator=generator, device=device, dtype=dtype)


def prior_global_rng(n, latent, generator=None, device=None, dtype=None):
    dev = device if device is not None else (generator.device if generator is not None else None)
    return torch.randn(n, latent, device=dev, dtype=dtype)


def losses_codes_not_detached(model, x, z_prior):
    """The discriminator loss backpropagates into the encoder."""
    z = model.encode(x)
    recon, _, gen = ref.aae_losses(model, x, z_prior)
    return recon, ref.discriminator_loss(model.discriminate(z_prior), model.discriminate(z)), gen


def losses_d_not_frozen(model, x, z_prior):
    """The generator loss also trains D (towards calling codes real)."""
    recon, disc, _ = ref.aae_losses(model, x, z_prior)
    return recon, disc, ref.generator_loss(model.discriminate(model.encode(x)))


def losses_decoder_only_reconstruction(model, x, z_prior):
    """Reconstruction through detached codes: the encoder never learns to reconstruct."""
    _, disc, gen = ref.aae_losses(model, x, z_prior)
    return ref.reconstruction_loss(x, model.decode(model.encode(x).detach())), disc, gen


def losses_gen_through_decoder(model, x, z_prior):
    """The generator loss applied to D of the re-encoded reconstruction: leaks into the decoder."""
    recon, disc, _ = ref.aae_losses(model, x, z_prior)
    z2 = model.encode(model.decode(model.encode(x)))
    frozen = {k: v.detach() for k, v in model.discriminator.named_parameters()}
    return recon, disc, ref.generator_loss(torch.func.functional_call(model.discriminator, frozen, (z2,)).squeeze(-1))


def losses_gen_sign_flipped(model, x, z_prior):
    recon, disc, gen = ref.aae_losses(model, x, z_prior)
    z = model.encode(x)
    frozen = {k: v.detach() for k, v in model.discriminator.named_parameters()}
    return recon, disc, gen_sign_flipped(torch.func.functional_call(model.discriminator, frozen, (z,)).squeeze(-1))


def losses_disc_labels_swapped(model, x, z_prior):
    recon, _, gen = ref.aae_losses(model, x, z_prior)
    return recon, disc_labels_swapped(model.discriminate(z_prior), model.discriminate(model.encode(x).detach())), gen


def losses_gen_detached(model, x, z_prior):
    """The generator loss is reported but never trained on (detached)."""
    recon, disc, gen = ref.aae_losses(model, x, z_prior)
    return recon, disc, gen.detach()


MUTANTS = {
    "aae_discriminator_loss_matches_torch": [
        broken("labels swapped", patched(AAE, discriminator_loss=disc_labels_swapped)),
        broken("log σ written out (overflows)", patched(AAE, discriminator_loss=disc_naive_log)),
        broken("sums, not means", patched(AAE, discriminator_loss=disc_summed)),
    ],
    "aae_generator_loss_matches_torch": [
        broken("saturating log(1 − D)", patched(AAE, generator_loss=gen_saturating)),
        broken("sign flipped", patched(AAE, generator_loss=gen_sign_flipped)),
    ],
    "aae_reconstruction_loss_matches_torch": [
        broken("mean over features", patched(AAE, reconstruction_loss=recon_mean_over_features)),
    ],
    "aae_sample_prior_moments": [
        broken("uniform with unit variance", patched(AAE, sample_prior=prior_uniform)),
        broken("standard deviation 1.5", patched(AAE, sample_prior=prior_wide)),
    ],
    "aae_sample_prior_uses_generator": [
        broken("global RNG", patched(AAE, sample_prior=prior_global_rng)),
    ],
    "aae_losses_match_their_definitions": [
        broken("D's labels swapped", patched(AAE, aae_losses=losses_disc_labels_swapped)),
        broken("generator loss sign flipped", patched(AAE, aae_losses=losses_gen_sign_flipped)),
        broken("generator loss on re-encoded reconstructions", patched(AAE, aae_losses=losses_gen_through_decoder)),
    ],
    "aae_gradient_routing": [
        broken("codes not detached for D", patched(AAE, aae_losses=losses_codes_not_detached)),
        broken("D not frozen in the generator loss", patched(AAE, aae_losses=losses_d_not_frozen)),
        broken("reconstruction through detached codes", patched(AAE, aae_losses=losses_decoder_only_reconstruction)),
        broken("generator loss through the decoder", patched(AAE, aae_losses=losses_gen_through_decoder)),
        broken("generator loss detached", patched(AAE, aae_losses=losses_gen_detached)),
    ],
    "aae_codes_match_prior": [
        broken("generator loss sign flipped", patched(AAE, aae_losses=losses_gen_sign_flipped)),
        broken("D's labels swapped", patched(AAE, aae_losses=losses_disc_labels_swapped)),
        broken("generator loss detached", patched(AAE, aae_losses=losses_gen_detached)),
    ],
    "aae_adversarial_step_direction": [
        broken("generator loss sign flipped", patched(AAE, aae_losses=losses_gen_sign_flipped)),
        broken("D's labels swapped", patched(AAE, aae_losses=losses_disc_labels_swapped)),
    ],
}


# --- architecture ------------------------------------------------------------------------------------
class TanhEncoderAAE(ref.AdversarialAutoencoder):
    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.encoder[1] = nn.Tanh()


class LinearOutputAAE(ref.AdversarialAutoencoder):
    """The decoder's sigmoid dropped: reconstructions leave (0, 1)."""

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.decoder = self.decoder[:3]


class TanhDiscriminatorAAE(ref.AdversarialAutoencoder):
    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.discriminator[1] = nn.Tanh()


class DetachedCodeAAE(ref.AdversarialAutoencoder):
    def forward(self, x):
        z = self.encode(x)
        return self.decode(z), z.detach(), self.discriminate(z)


MUTANTS["aae_architecture_matches_functional"] = [
    broken("tanh in the encoder", replaced(AAE, TanhEncoderAAE)),
    broken("decoder without its sigmoid", replaced(AAE, LinearOutputAAE)),
    broken("tanh in the discriminator", replaced(AAE, TanhDiscriminatorAAE)),
    broken("forward returns a detached code", replaced(AAE, DetachedCodeAAE)),
]
