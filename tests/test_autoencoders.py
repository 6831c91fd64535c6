"""Broken-variant tests for the autoencoder checks: each check rejects a deliberately wrong
implementation (a copied instead of shared tied weight, a missing clip, a swapped KL, ...) and
passes the reference implementation."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import reference_impls.autoencoders as A
from harness.registry import Subject
from harness.testing import patched, run_check, subject_from

FACTORY = "reference_impls.autoencoders:build_autoencoder"


def ae(**params) -> Subject:
    return subject_from(FACTORY, params)


def broken_factory(dense=A.Autoencoder, conv=A.ConvAutoencoder, **params) -> Subject:
    """A subject whose factory builds broken model classes; the cores stay the reference ones."""

    def build(kind: str = "dense", **p):
        return dense(A.AutoencoderConfig(**p)) if kind == "dense" else conv(A.ConvAutoencoderConfig(**p))

    return Subject(f"broken({dense.__name__}, {conv.__name__})", build, params, A)


# --- broken models -----------------------------------------------------------------------------
class NoCodeActivationAE(A.Autoencoder):
    """Forgets the activation after the last encoder layer."""

    def encode(self, x):
        h = x
        for l, (W, b) in enumerate(zip(self.W_enc, self.b_enc)):
            h = torch.nn.functional.linear(h, W, b)
            h = A.ACTIVATIONS[self.config.activation](h) if l < self.num_layers - 1 else h
        return h


class EncoderOnlyAE(A.Autoencoder):
    def forward(self, x):
        return self.encode(x)


class CopiedTiedAE(A.Autoencoder):
    """'Tied' by copying: the decoder weight is a fresh tensor equal to Wᵀ."""

    def decoder_weight(self, j):
        w = super().decoder_weight(j)
        return w.clone() if self.config.tied else w


class DetachedTiedAE(A.Autoencoder):
    """Tied weight used in the decoder without its gradient."""

    def decoder_weight(self, j):
        w = super().decoder_weight(j)
        return w.detach() if self.config.tied else w


class ExtraDecoderWeightsAE(A.Autoencoder):
    """Keeps a separate decoder weight even when tied (twice the weight count)."""

    def __init__(self, config):
        super().__init__(config)
        if config.tied:
            self.W_dec = nn.ParameterList([nn.Parameter(W.detach().t().clone()) for W in reversed(list(self.W_enc))])


class NoOutputSizeConvAE(A.ConvAutoencoder):
    def forward(self, x):
        h, _ = self.encode(x)
        return self.decode(h, None)


class IdentityAE(A.Autoencoder):
    def forward(self, x):
        return x + 0.0 * self.b_dec[-1].sum()


# --- broken cores ------------------------------------------------------------------------------
def rec_mean_not_sum(x, x_hat):
    return (x - x_hat).pow(2).reshape(x.shape[0], -1).mean(-1)


def rec_absolute(x, x_hat):
    return (x - x_hat).abs().reshape(x.shape[0], -1).sum(-1)


def l1_without_abs(h, lam):
    return lam * h.reshape(h.shape[0], -1).sum(-1)


def l1_ignores_lambda(h, lam):
    return 0.0 * h.abs().sum(-1)


def kl_sparsity_swapped(h, rho):
    """KL(ρ̂ ‖ ρ) instead of KL(ρ ‖ ρ̂)."""
    rho_hat = h.mean(0)
    return A.bernoulli_kl(rho_hat, torch.full_like(rho_hat, rho)).sum()


def kl_sparsity_feature_mean(h, rho):
    return A.bernoulli_kl(rho, h.mean(1)).sum()


def contractive_no_square(h, W):
    return (h * (1.0 - h)) @ W.pow(2).sum(1)


def corrupt_no_clip(x, noise_factor, generator=None, noise=None, clip=True):
    return A.corrupt(x, noise_factor, generator=generator, noise=noise, clip=False)


def corrupt_uniform(x, noise_factor, generator=None, noise=None, clip=True):
    if noise is None:
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) - 0.5
    return A.corrupt(x, noise_factor, noise=noise, clip=clip)


def corrupt_global_rng(x, noise_factor, generator=None, noise=None, clip=True):
    return A.corrupt(x, noise_factor, noise=torch.randn_like(x) if noise is None else noise, clip=clip)


def corrupt_nothing(x, noise_factor, generator=None, noise=None, clip=True):
    return x.clone()


# --- architecture ------------------------------------------------------------------------------
def test_forward_rejects_missing_code_activation():
    assert not run_check("ae_forward_matches_torch_layers", broken_factory(NoCodeActivationAE)).passed
    assert not run_check("ae_forward_matches_torch_layers", broken_factory(NoCodeActivationAE, hidden=[32, 16])).passed


@pytest.mark.parametrize("params", [{}, {"hidden": [96]}, {"hidden": [32, 16], "activation": "relu"},
                                    {"hidden": [32, 16], "tied": True, "activation": "tanh", "output_activation": "sigmoid"}])
def test_forward_passes_reference(params):
    assert run_check("ae_forward_matches_torch_layers", ae(**params)).passed
    assert run_check("ae_forward_matches_torch_layers", ae(**params), dtype="float32").passed


def test_shapes_reject_encoder_only_model():
    assert not run_check("ae_code_and_output_shapes", broken_factory(EncoderOnlyAE)).passed
    assert run_check("ae_code_and_output_shapes", ae(hidden=[128])).passed


def test_parameter_count_rejects_duplicated_decoder_weights():
    assert not run_check("ae_parameter_count", broken_factory(ExtraDecoderWeightsAE, tied=True)).passed
    for params in ({}, {"tied": True}, {"hidden": [32, 16, 8], "tied": True}, {"kind": "conv", "channels": [8, 16]}):
        assert run_check("ae_parameter_count", ae(**params)).passed, params


def test_tied_sharing_rejects_copied_weights():
    assert not run_check("ae_tied_weights_shared", broken_factory(CopiedTiedAE)).passed
    assert not run_check("ae_tied_weights_shared", broken_factory(ExtraDecoderWeightsAE)).passed
    assert run_check("ae_tied_weights_shared", ae(hidden=[32, 16])).passed


def test_tied_gradient_rejects_detached_decoder_use():
    assert not run_check("ae_tied_gradient_sums_both_uses", broken_factory(DetachedTiedAE)).passed
    assert run_check("ae_tied_gradient_sums_both_uses", ae(hidden=[32, 16], activation="tanh")).passed


def test_conv_shape_rejects_decoder_without_output_size():
    assert not run_check("ae_conv_output_shape", broken_factory(conv=NoOutputSizeConvAE, kind="conv")).passed
    assert run_check("ae_conv_output_shape", ae(kind="conv")).passed
    assert run_check("ae_conv_output_shape", ae(kind="conv", in_channels=3, channels=[4, 8, 8], kernel_size=5)).passed


# --- losses and penalties ----------------------------------------------------------------------
def test_reconstruction_error_rejects_mean_instead_of_sum():
    assert not run_check("ae_reconstruction_error_matches_torch", patched(FACTORY, reconstruction_error=rec_mean_not_sum)).passed
    assert run_check("ae_reconstruction_error_matches_torch", ae()).passed


def test_l1_penalty_rejects_missing_abs():
    assert not run_check("ae_l1_activity_penalty", patched(FACTORY, l1_activity_penalty=l1_without_abs)).passed
    assert run_check("ae_l1_activity_penalty", ae()).passed
    assert run_check("ae_l1_activity_penalty", ae(), dtype="float32").passed


def test_kl_sparsity_closed_form_rejects_swapped_arguments():
    assert not run_check("ae_kl_sparsity_penalty_closed_form", patched(FACTORY, kl_sparsity_penalty=kl_sparsity_swapped)).passed
    assert run_check("ae_kl_sparsity_penalty_closed_form", ae()).passed
    assert run_check("ae_kl_sparsity_penalty_closed_form", ae(), dtype="float32").passed


def test_kl_sparsity_zero_rejects_mean_over_features():
    assert not run_check("ae_kl_sparsity_zero_at_target", patched(FACTORY, kl_sparsity_penalty=kl_sparsity_feature_mean)).passed
    assert run_check("ae_kl_sparsity_zero_at_target", ae()).passed
    assert run_check("ae_kl_sparsity_zero_at_target", ae(), dtype="float32").passed


def test_contractive_penalty_rejects_missing_square():
    s = patched(FACTORY, {"hidden": [16], "activation": "sigmoid"}, contractive_penalty=contractive_no_square)
    assert not run_check("ae_contractive_penalty_matches_jacobian", s).passed
    assert run_check("ae_contractive_penalty_matches_jacobian", ae(hidden=[16], activation="sigmoid")).passed


# --- denoising corruption ----------------------------------------------------------------------
def test_corrupt_formula_rejects_missing_clip():
    assert not run_check("ae_corrupt_formula", patched(FACTORY, corrupt=corrupt_no_clip)).passed
    assert run_check("ae_corrupt_formula", ae()).passed


def test_corrupt_moments_reject_uniform_noise():
    assert not run_check("ae_corrupt_noise_moments", patched(FACTORY, corrupt=corrupt_uniform)).passed
    assert run_check("ae_corrupt_noise_moments", ae()).passed


def test_corrupt_generator_rejects_global_rng():
    assert not run_check("ae_corrupt_uses_generator", patched(FACTORY, corrupt=corrupt_global_rng)).passed
    assert run_check("ae_corrupt_uses_generator", ae()).passed


# --- trained properties (small budgets: the broken variants fail by a wide margin) ---------------
def test_pca_subspace_rejects_training_on_absolute_error():
    lin = {"hidden": [4], "activation": "linear"}
    assert not run_check("ae_linear_spans_pca_subspace", patched(FACTORY, lin, reconstruction_error=rec_absolute),
                         max_iter=100).passed


def test_sparsity_check_rejects_penalty_that_ignores_lambda():
    s = patched(FACTORY, {"hidden": [32], "activation": "relu"}, l1_activity_penalty=l1_ignores_lambda)
    assert not run_check("ae_sparsity_rises_with_lambda", s, steps=30).passed


def test_denoising_check_rejects_identity_model_and_missing_noise():
    dae = {"hidden": [64], "activation": "relu", "output_activation": "sigmoid"}
    assert not run_check("ae_denoising_beats_identity", broken_factory(IdentityAE, **dae), steps=5).passed
    assert not run_check("ae_denoising_beats_identity", patched(FACTORY, dae, corrupt=corrupt_nothing), steps=30).passed
