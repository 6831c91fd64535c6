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
