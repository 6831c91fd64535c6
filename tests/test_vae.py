"""Broken-variant tests for the VAE checks: each check rejects a deliberately wrong implementation
(the issue's named KL bugs among them: sign flipped, σ used in place of σ²) and passes the reference."""
from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

import reference_impls.vae as V
from harness.registry import Subject
from harness.testing import patched, run_check, subject_from

MOD = "reference_impls.vae"
MODEL_PARAMS = {"in_features": 64, "hidden": 32, "latent": 4}
MODEL = subject_from("reference_impls.vae:VAE", MODEL_PARAMS)


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


def model_subject(cls, **params) -> Subject:
    return Subject(cls.__name__, cls, {**MODEL_PARAMS, **params}, V)


# --- the KL term -------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [kl_flipped_sign, kl_sigma_for_sigma2])
def test_kl_checks_reject_flipped_sign_and_sigma_for_sigma2(bad):
    s = patched(MOD, gaussian_kl=bad)
    assert not run_check("vae_gaussian_kl_matches_torch", s).passed
    assert not run_check("vae_gaussian_kl_matches_torch", s, dtype="float32").passed
    assert not run_check("vae_gaussian_kl_monte_carlo", s, samples=20000).passed
    assert not run_check("vae_gaussian_kl_nonnegative", s).passed
    assert not run_check("vae_gaussian_kl_strict_minimum", s).passed


def test_kl_checks_pass_reference():
    for name in ("vae_gaussian_kl_matches_torch", "vae_gaussian_kl_monte_carlo", "vae_gaussian_kl_nonnegative",
                 "vae_gaussian_kl_strict_minimum"):
        assert run_check(name, MOD).passed, name
    assert run_check("vae_gaussian_kl_matches_torch", MOD, dtype="float32").passed


def test_sigma_for_sigma2_kl_is_negative_somewhere():
    """Why the non-negativity grid reaches σ = 2: there 1 + log σ² − σ > 0, so the buggy KL is < 0."""
    v = kl_sigma_for_sigma2(torch.zeros(1, 1, dtype=torch.float64), torch.full((1, 1), math.log(4.0), dtype=torch.float64))
    assert float(v) < 0


# --- reparameterisation ------------------------------------------------------------------------
def test_reparameterization_checks_reject_variance_used_as_std():
    s = patched(MOD, reparameterize=reparam_variance_as_std)
    assert not run_check("vae_reparameterization_moments", s).passed
    assert not run_check("vae_reparameterize_injected_noise", s).passed


def test_reparameterize_uses_generator_rejects_global_rng():
    assert not run_check("vae_reparameterize_uses_generator", patched(MOD, reparameterize=reparam_global_rng)).passed


def test_reparameterization_checks_pass_reference():
    for name in ("vae_reparameterization_moments", "vae_reparameterize_injected_noise", "vae_reparameterize_uses_generator"):
        assert run_check(name, MOD).passed, name
    assert run_check("vae_reparameterization_moments", MOD, dtype="float32").passed


# --- likelihoods and loss ------------------------------------------------------------------------
def test_gaussian_nll_rejects_the_notes_formula():
    assert not run_check("vae_gaussian_nll_matches_torch", patched(MOD, gaussian_nll=nll_as_in_notes)).passed
    assert run_check("vae_gaussian_nll_matches_torch", MOD).passed
    assert run_check("vae_gaussian_nll_matches_torch", MOD, dtype="float32").passed


def test_bernoulli_nll_rejects_naive_log_sigmoid():
    assert not run_check("vae_bernoulli_nll_matches_torch", patched(MOD, bernoulli_nll=bernoulli_nll_naive)).passed
    assert run_check("vae_bernoulli_nll_matches_torch", MOD).passed


def test_vae_loss_rejects_sum_over_batch_and_elbo_with_kl_added():
    assert not run_check("vae_loss_matches_distributions", patched(MOD, vae_loss=vae_loss_summed)).passed
    assert not run_check("vae_loss_matches_distributions", patched(MOD, elbo=elbo_kl_added)).passed
    assert run_check("vae_loss_matches_distributions", MOD).passed


# --- ELBO on the linear-Gaussian model -----------------------------------------------------------
def test_elbo_checks_reject_broken_elbos():
    assert not run_check("vae_elbo_gap_is_posterior_kl", patched(MOD, elbo=elbo_kl_added)).passed
    assert not run_check("vae_elbo_gap_is_posterior_kl", patched(MOD, elbo=elbo_without_kl)).passed
    assert not run_check("vae_elbo_tight_at_exact_posterior", patched(MOD, elbo=elbo_notes_nll)).passed
    assert not run_check("vae_elbo_tight_at_exact_posterior", patched(MOD, reparameterize=reparam_variance_as_std)).passed
    assert not run_check("vae_elbo_monte_carlo_bound", patched(MOD, elbo=elbo_without_kl), samples=20000).passed


def test_elbo_checks_pass_reference():
    for name in ("vae_elbo_gap_is_posterior_kl", "vae_elbo_tight_at_exact_posterior", "vae_elbo_monte_carlo_bound"):
        assert run_check(name, MOD).passed, name


# --- the model ---------------------------------------------------------------------------------
def test_forward_composes_rejects_variance_as_std_model():
    assert not run_check("vae_forward_composes", model_subject(VarianceAsStdVAE)).passed
    assert run_check("vae_forward_composes", MODEL).passed


def test_gradcheck_rejects_a_detached_branch():
    small = {"in_features": 6, "hidden": 5, "latent": 2}  # on failure gradcheck recomputes full Jacobians
    assert not run_check("vae_loss_gradcheck", model_subject(DetachedLogvarVAE, **small)).passed
    assert run_check("vae_loss_gradcheck", MODEL).passed


def test_training_check_rejects_a_decoder_that_ignores_z():
    bad = model_subject(IgnoresLatentVAE, sigma2=0.05)
    assert not run_check("vae_trains_beyond_latent_free_baseline", bad, steps=60).passed


def test_reference_cores_are_consistent_with_torch_functional():
    """Spot check outside the registry: bernoulli_nll is BCE-with-logits summed per sample."""
    x, logits = torch.rand(4, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    assert torch.allclose(V.bernoulli_nll(x, logits), F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1))
