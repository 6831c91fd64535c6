"""Broken variants of the VAE checks (harness.checks.vae), among them the named KL bugs: the sign
flipped and σ used in place of σ²."""
from __future__ import annotations

import math

import torch

import reference_impls.vae as V
from harness.testing import broken, patched, replaced, subject_from

MOD = "reference_impls.vae"
MODEL_PARAMS = {"in_features": 64, "hidden": 32, "latent": 4, "likelihood": "gaussian", "sigma2": 1.0}
MODEL = subject_from("reference_impls.vae:VAE", MODEL_PARAMS)
SMALL = MODEL.with_params(in_features=6, hidden=5, latent=2)  # on failure gradcheck recomputes full Jacobians


# --- broken cores ------------------------------------------------------------------------------
def kl_flipped_sign(mu, logvar):
    return 0.5 * torch.sum(1.0 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


def kl_sigma_for_sigma2(mu, logvar):
    return -0.5 * torch.sum(1.0 + logvar - mu.pow(2) - torch.exp(0.5 * logvar), dim=-1)


def reparam_variance_as_std(mu, logvar, eps=None, generator=None):
    if eps is None:
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(logvar) * eps


def reparam_global_rng(mu, logvar, eps=None, generator=None):
    eps = torch.randn_like(mu) if eps is None else eps
    return mu + torch.exp(0.5 * logvar) * eps


def nll_as_in_notes(x, x_hat, sigma2=1.0):
    """Notes 002's line: ½‖x − x'‖² + ½ log 2πσ² (no 1/σ², constant counted once)."""
    s2 = torch.as_tensor(sigma2, dtype=x.dtype, device=x.device)
    return 0.5 * (x - x_hat).pow(2).sum(-1) + 0.5 * torch.log(2 * math.pi * s2).sum() * torch.ones(x.shape[0], dtype=x.dtype, device=x.device)


def bernoulli_nll_naive(x, logits):
    p = torch.sigmoid(logits)
    return -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(-1)


def vae_loss_summed(x, x_hat, mu, logvar, sigma2=1.0, likelihood="gaussian", beta=1.0):
    return (V.gaussian_nll(x, x_hat, sigma2) + V.gaussian_kl(mu, logvar)).sum()


def elbo_kl_added(x, x_hat, mu, logvar, sigma2=1.0, likelihood="gaussian"):
    return -V.gaussian_nll(x, x_hat, sigma2) + V.gaussian_kl(mu, logvar)


def elbo_without_kl(x, x_hat, mu, logvar, sigma2=1.0, likelihood="gaussian"):
    return -V.gaussian_nll(x, x_hat, sigma2)


def elbo_notes_nll(x, x_hat, mu, logvar, sigma2=1.0, likelihood="gaussian"):
    return -nll_as_in_notes(x, x_hat, sigma2) - V.gaussian_kl(mu, logvar)


# --- broken models -----------------------------------------------------------------------------
class VarianceAsStdVAE(V.VAE):
    def forward(self, x, eps=None, generator=None):
        mu, logvar = self.encode(x)
        return self.decode(reparam_variance_as_std(mu, logvar, eps, generator)), mu, logvar


class DetachedLogvarVAE(V.VAE):
    def encode(self, x):
        mu, logvar = super().encode(x)
        return mu, logvar.detach()


class IgnoresLatentVAE(V.VAE):
    def decode(self, z):
        return self.dec_out.bias.expand(z.shape[0], -1) + 0.0 * z.sum(-1, keepdim=True)


def _kl_variants(label: str, bad) -> dict[str, list]:
    s = patched(MOD, gaussian_kl=bad)
    return {
        "vae_gaussian_kl_matches_torch": [broken(label, s), broken(f"{label} (float32)", s, dtype="float32")],
        "vae_gaussian_kl_monte_carlo": [broken(label, s, samples=20000)],
        "vae_gaussian_kl_nonnegative": [broken(label, s)],
        "vae_gaussian_kl_strict_minimum": [broken(label, s)],
    }


_FLIPPED, _SIGMA = _kl_variants("KL sign flipped", kl_flipped_sign), _kl_variants("σ for σ² in the KL", kl_sigma_for_sigma2)
_VAR_AS_STD = patched(MOD, reparameterize=reparam_variance_as_std)

MUTANTS = {
    **{k: _FLIPPED[k] + _SIGMA[k] for k in _FLIPPED},
    "vae_reparameterization_moments": [broken("variance used as std", _VAR_AS_STD)],
    "vae_reparameterize_injected_noise": [broken("variance used as std", _VAR_AS_STD)],
    "vae_reparameterize_uses_generator": [
        broken("global RNG", patched(MOD, reparameterize=reparam_global_rng))],
    "vae_gaussian_nll_matches_torch": [
        broken("notes 002 formula", patched(MOD, gaussian_nll=nll_as_in_notes))],
    "vae_bernoulli_nll_matches_torch": [
        broken("naive log sigmoid", patched(MOD, bernoulli_nll=bernoulli_nll_naive))],
    "vae_loss_matches_distributions": [
        broken("summed over the batch", patched(MOD, vae_loss=vae_loss_summed)),
        broken("ELBO with KL added", patched(MOD, elbo=elbo_kl_added)),
    ],
    "vae_elbo_gap_is_posterior_kl": [
        broken("ELBO with KL added", patched(MOD, elbo=elbo_kl_added)),
        broken("ELBO without KL", patched(MOD, elbo=elbo_without_kl)),
    ],
    "vae_elbo_tight_at_exact_posterior": [
        broken("ELBO with the notes' NLL", patched(MOD, elbo=elbo_notes_nll)),
        broken("variance used as std", _VAR_AS_STD),
    ],
    "vae_elbo_monte_carlo_bound": [
        broken("ELBO without KL", patched(MOD, elbo=elbo_without_kl), samples=20000)],
    "vae_forward_composes": [broken("variance used as std", replaced(MODEL, VarianceAsStdVAE))],
    "vae_loss_gradcheck": [broken("detached log σ² branch", replaced(SMALL, DetachedLogvarVAE))],
    "vae_trains_beyond_latent_free_baseline": [
        broken("decoder ignores z", replaced(MODEL.with_params(sigma2=0.05), IgnoresLatentVAE), steps=60)],
}


# --- sampling the prior ----------------------------------------------------------------------------
class WidePriorVAE(V.VAE):
    """z ~ N(0, 2² I): the prior's scale wrong."""

    def sample(self, n, generator=None):
        w = self.dec.weight
        return self.decode(2.0 * torch.randn(n, self.config.latent, generator=generator, device=w.device, dtype=w.dtype))


class GlobalRngSampleVAE(V.VAE):
    def sample(self, n, generator=None):
        return super().sample(n, generator=None)


class LogitSampleVAE(V.VAE):
    """Bernoulli samples returned as logits (the sigmoid forgotten)."""

    def sample(self, n, generator=None):
        w = self.dec.weight
        return self.decode(torch.randn(n, self.config.latent, generator=generator, device=w.device, dtype=w.dtype))


class UniformPriorVAE(V.VAE):
    """z ~ U[0, 1)^K drawn with the same generator: the right API, the wrong prior."""

    def sample(self, n, generator=None):
        w = self.dec.weight
        return self.decode(torch.rand(n, self.config.latent, generator=generator, device=w.device, dtype=w.dtype))


MUTANTS["vae_sample_decodes_prior"] = [
    broken("prior N(0, 4I)", replaced(MODEL, WidePriorVAE)),
    broken("prior U[0, 1)", replaced(MODEL, UniformPriorVAE)),
    broken("global RNG", replaced(MODEL, GlobalRngSampleVAE)),
    broken("Bernoulli logits, not means", replaced(MODEL.with_params(likelihood="bernoulli"), LogitSampleVAE)),
    broken("prior N(0, 4I) (float32)", replaced(MODEL, WidePriorVAE), dtype="float32"),
]


# --- architecture, configuration, differentiable sampling ------------------------------------------
class SigmoidEncoderVAE(V.VAE):
    def encode(self, x):
        h = torch.sigmoid(self.enc(x))
        return self.enc_mu(h), self.enc_logvar(h)


class ReluDecoderVAE(V.VAE):
    def decode(self, z):
        return self.dec_out(torch.relu(self.dec(z)))


class SharedHeadVAE(V.VAE):
    """log σ² read off the μ head."""

    def encode(self, x):
        h = torch.tanh(self.enc(x))
        return self.enc_mu(h), self.enc_mu(h)


class AcceptsZeroVarianceConfig(V.VAEConfig):
    def __post_init__(self):
        if self.sigma2 < 0:
            raise ValueError("negative sigma2")


class AcceptsZeroVarianceVAE(V.VAE):
    def __init__(self, config=None, **kwargs):
        super().__init__(config if config is not None else AcceptsZeroVarianceConfig(**kwargs))


class AcceptsAnyLikelihoodVAE(V.VAE):
    def __init__(self, config=None, likelihood="gaussian", **kwargs):
        super().__init__(config if config is not None else V.VAEConfig(**kwargs))


class DetachedSampleVAE(V.VAE):
    def sample(self, n, generator=None):
        return super().sample(n, generator).detach()


class NoGradSampleVAE(V.VAE):
    def sample(self, n, generator=None):
        with torch.no_grad():
            return super().sample(n, generator)


MUTANTS["vae_mlp_matches_functional_stack"] = [
    broken("sigmoid encoder", replaced(MODEL, SigmoidEncoderVAE)),
    broken("ReLU decoder", replaced(MODEL, ReluDecoderVAE)),
    broken("log σ² from the μ head", replaced(MODEL, SharedHeadVAE)),
]
MUTANTS["vae_config_rejects_invalid"] = [
    broken("sigma2 = 0 accepted", replaced(MODEL, AcceptsZeroVarianceVAE)),
    broken("unknown likelihood accepted", replaced(MODEL, AcceptsAnyLikelihoodVAE)),
]
MUTANTS["vae_sample_is_differentiable"] = [
    broken("detached sample", replaced(MODEL, DetachedSampleVAE)),
    broken("sample under no_grad", replaced(MODEL.with_params(likelihood="bernoulli"), NoGradSampleVAE)),
    broken("Bernoulli logits, not means", replaced(MODEL.with_params(likelihood="bernoulli"), LogitSampleVAE)),
]
