"""Unit tests of reference_impls.aae (the checks themselves are tested against their broken variants in
tests/mutants/aae.py)."""
from __future__ import annotations

import pytest
import torch

import reference_impls.aae as A
from harness.testing import run_check
from mutants.aae import AAE


def test_forward_returns_reconstruction_code_and_logit():
    model = A.AdversarialAutoencoder(in_features=5, hidden=4, latent=3, disc_hidden=2).double()
    x_hat, z, logit = model(torch.rand(7, 5, dtype=torch.float64))
    assert x_hat.shape == (7, 5) and z.shape == (7, 3) and logit.shape == (7,)
    assert bool(((x_hat > 0) & (x_hat < 1)).all())


@pytest.mark.parametrize("name", ["aae_gradient_routing", "aae_adversarial_step_direction",
                                  "aae_losses_match_their_definitions", "aae_sample_prior_moments"])
def test_reference_passes_with_a_one_dimensional_code(name):
    out = run_check(name, AAE.with_params(latent=1), dtype="float64")
    assert out.passed, out.line()
