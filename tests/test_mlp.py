"""Unit tests of reference_impls.mlp (the broken variants are in tests/mutants/mlp.py)."""
from __future__ import annotations

import pytest

from reference_impls import mlp as M


def test_config_and_helpers():
    cfg = M.MLPConfig((4, 3, 2), "relu")
    assert cfg.n_params == 4 * 3 + 3 + 3 * 2 + 2 == M.parameter_count(cfg.sizes)
    m = M.MLP.from_config(cfg)
    assert m.config == cfg and sum(p.numel() for p in m.parameters()) == cfg.n_params
    with pytest.raises(ValueError):
        M.MLPConfig((4,))
    with pytest.raises(ValueError):
        M.MLPConfig((4, 2), "swish")
