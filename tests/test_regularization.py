"""Unit tests of reference_impls.regularization (the broken variants are in tests/mutants/regularization.py)."""
from __future__ import annotations

import pytest
import torch

from reference_impls import regularization as R


def test_dropout_edge_cases():
    x = torch.randn(100, dtype=torch.float64)
    assert torch.equal(R.dropout(x, 1.0), torch.zeros_like(x))
    with pytest.raises(ValueError):
        R.dropout(x, 1.5)
    m = (torch.arange(100) % 2).double()
    assert torch.equal(R.dropout(x, 0.5, mask=m), x * m * 2)
    y = R.dropout(x.to(torch.bfloat16), 0.5, generator=torch.Generator().manual_seed(0))
    assert y.dtype == torch.bfloat16
