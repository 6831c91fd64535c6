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


def test_notes_chat_weights_are_rejected():
    """Notes 000 give the weights for "chat" ("cat") as [0.7, 0.9, 0.05, 0.05, 0.1], which sum to 1.8:
    the worked-example property that holds for their "Le" weights rejects them, and for that reason
    (the sum), not for the attended position (1, "cat", is the largest weight as the notes intend)."""
    from harness.checks.attention import NOTES_CHAT_WEIGHTS, NOTES_LE_WEIGHTS
    from harness.testing import run_check, subject_from

    ref = subject_from("reference_impls.attention:make_attention", {"kind": "dot", "embed_dim": 8})
    assert math.isclose(math.fsum(NOTES_CHAT_WEIGHTS), 1.8) and math.isclose(math.fsum(NOTES_LE_WEIGHTS), 1.0)
    assert run_check("attention_notes_le_weights", ref).passed
    for dtype in ("float32", "float64"):
        out = run_check("attention_notes_le_weights", ref, dtype=dtype, weights=list(NOTES_CHAT_WEIGHTS), focus=1)
        assert not out.passed and "sum to 1" in out.statement, out.line()
