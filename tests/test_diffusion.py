"""Unit tests of reference_impls.diffusion (the checks themselves are tested against their broken
variants in tests/mutants/diffusion.py)."""
from __future__ import annotations

import torch

import reference_impls.diffusion as ref


def test_gaussian_diffusion_methods_use_its_schedule():
    model = ref.GaussianDiffusion(T=50, dim=3)
    x0, eps = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    ab = ref.alpha_bar(ref.linear_beta_schedule(50))
    assert torch.equal(model.q_sample(x0.float(), 10, eps=eps.float()), ref.q_sample(x0.float(), 10, ab, eps=eps.float()))
    g = torch.Generator().manual_seed(0)
    assert model.loss(x0.float(), generator=g).shape == ()
    assert model.p_sample_step(x0.float(), 5, generator=g).shape == (4, 3)
    betas, ab16 = model.to(torch.bfloat16).schedule()
    assert betas.dtype == ab16.dtype == torch.float64  # casting the network never rounds the schedule
    assert torch.equal(ab16, ab)
