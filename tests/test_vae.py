"""Unit tests of reference_impls.vae and of one broken variant's premise (the checks themselves are
tested against their broken variants in tests/mutants/vae.py)."""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

import reference_impls.vae as V
from mutants.vae import kl_sigma_for_sigma2


def test_sigma_for_sigma2_kl_is_negative_somewhere():
    """Why the non-negativity grid reaches σ = 2: there 1 + log σ² − σ > 0, so the buggy KL is < 0."""
    v = kl_sigma_for_sigma2(torch.zeros(1, 1, dtype=torch.float64), torch.full((1, 1), math.log(4.0), dtype=torch.float64))
    assert float(v) < 0


def test_reference_cores_are_consistent_with_torch_functional():
    """Spot check outside the registry: bernoulli_nll is BCE-with-logits summed per sample."""
    x, logits = torch.rand(4, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    assert torch.allclose(V.bernoulli_nll(x, logits), F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1))
