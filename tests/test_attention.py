"""Unit tests of reference_impls.attention (the checks' broken variants are in tests/mutants/attention.py
and tests/mutants/han.py)."""
from __future__ import annotations

import math

import torch

from reference_impls import attention as A


def test_masked_softmax_empty_rows_are_zero_not_nan():
    s = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    m = torch.tensor([[True, False, True], [False, False, False]])
    a = A.masked_softmax(s, m)
    a.sum().backward()
    assert torch.equal(a[1], torch.zeros(3, dtype=torch.float64)) and a[0, 1] == 0
    assert math.isclose(float(a[0].sum().detach()), 1.0) and torch.isfinite(s.grad).all()
