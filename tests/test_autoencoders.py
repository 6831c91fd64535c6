"""Unit tests of reference_impls.autoencoders (the checks themselves are tested against their broken
variants in tests/mutants/autoencoders.py)."""
from __future__ import annotations

import pytest

import reference_impls.autoencoders as A

BOTH = {"in_features": 12, "hidden": [5], "tied": True, "in_channels": 3, "channels": [4], "kernel_size": 5}


def test_factory_takes_each_kinds_own_params_from_one_set():
    dense, conv = A.build_autoencoder(**BOTH), A.build_autoencoder("conv", **BOTH)
    assert isinstance(dense, A.Autoencoder) and dense.config == A.AutoencoderConfig(12, (5,), tied=True)
    assert isinstance(conv, A.ConvAutoencoder) and conv.config == A.ConvAutoencoderConfig(3, (4,), 5)


def test_factory_rejects_unknown_params_and_kinds():
    with pytest.raises(TypeError, match="hiden"):
        A.build_autoencoder(hiden=[4])
    with pytest.raises(ValueError, match="kind"):
        A.build_autoencoder("recurrent")


def test_mask_corrupt_removes_nothing_at_p0_and_follows_an_injected_mask():
    import torch

    x = torch.rand(4, 6, dtype=torch.float64) + 0.5
    assert torch.equal(A.mask_corrupt(x, 0.0, generator=torch.Generator().manual_seed(0)), x)
    keep = torch.tensor([[1, 0, 1, 0, 1, 0]] * 4)
    assert torch.equal(A.mask_corrupt(x, 0.5, keep=keep), x * keep)


def test_l2_weight_penalty_counts_a_tied_weight_once():
    model = A.build_autoencoder(in_features=6, hidden=[9], tied=True)
    weights = [p for p in model.parameters() if p.dim() >= 2]
    assert len(weights) == 1
    assert float(A.l2_weight_penalty(weights, 0.5).detach()) == float(0.5 * weights[0].detach().pow(2).sum())
