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


def test_local_p_is_a_kind():
    m = A.make_attention(kind="local_p", embed_dim=8, window=3, hidden=5)
    assert "local_p" in A.KINDS and isinstance(m, A.LocalPAttention) and m.window == 3
    assert tuple(m.W.shape) == (8, 8) and tuple(m.W_p.shape) == (5, 8) and tuple(m.v_p.shape) == (5,)


def test_local_p_window_must_be_positive():
    import pytest

    with pytest.raises(ValueError, match="window"):
        A.make_attention(kind="local_p", embed_dim=8, window=0)


def test_local_p_window_covering_every_key_is_global_softmax_times_gaussian():
    """With D ≥ Tk every key is in the window: a = softmax(e) · exp(−(i − p)²/(2 (D/2)²))."""
    g = torch.Generator().manual_seed(0)
    e = torch.randn(2, 3, 6, generator=g, dtype=torch.float64)
    p = 6 * torch.rand(2, 3, generator=g, dtype=torch.float64)
    D = 8
    i = torch.arange(6, dtype=torch.float64)
    gauss = torch.exp(-(i - p.unsqueeze(-1)) ** 2 / (2 * (D / 2) ** 2))
    torch.testing.assert_close(A.local_p_weights(e, p, D), torch.softmax(e, -1) * gauss)


def test_local_p_windows_at_the_ends():
    """p = 0 sees keys 0..D; p = S (Luong's S, one past the last key) sees keys S − D..S − 1."""
    S, D = 7, 2
    e = torch.zeros(1, 2, S, dtype=torch.float64)
    a = A.local_p_weights(e, torch.tensor([[0.0, float(S)]], dtype=torch.float64), D)
    assert (a[0, 0] > 0).nonzero().flatten().tolist() == [0, 1, 2]
    assert (a[0, 1] > 0).nonzero().flatten().tolist() == [5, 6]
    assert math.isclose(float(a[0, 0, 0]), 1 / 3) and math.isclose(float(a[0, 1, 6]), 0.5 * math.exp(-0.5))


def test_local_p_weights_do_not_sum_to_one_and_p_is_trained():
    torch.manual_seed(0)
    m = A.make_attention(kind="local_p", embed_dim=8, window=2).double()
    q, k = torch.randn(2, 4, 8, dtype=torch.float64), torch.randn(2, 9, 8, dtype=torch.float64)
    out, w = m(q, k, k, need_weights=True)
    sums = w.detach().sum(-1)
    assert bool((sums < 1).all()) and bool((sums >= math.exp(-2)).all())
    out.square().sum().backward()
    assert m.W_p.grad.abs().sum() > 0 and m.v_p.grad.abs().sum() > 0


def test_local_p_padding_is_a_shorter_sentence():
    """Under a key-padding mask S is the sentence's length: a padded sentence of length L attends
    exactly as the unpadded sentence k[:L] does (weights on padding 0)."""
    torch.manual_seed(1)
    m = A.make_attention(kind="local_p", embed_dim=8, window=2).double()
    q, k = torch.randn(1, 4, 8, dtype=torch.float64), torch.randn(1, 9, 8, dtype=torch.float64)
    L = 5
    mask = (torch.arange(9) < L).view(1, 1, 9)
    with torch.no_grad():
        out, w = m(q, k, k, mask=mask, need_weights=True)
        out_short, w_short = m(q, k[:, :L], k[:, :L], need_weights=True)
    torch.testing.assert_close(out, out_short)
    torch.testing.assert_close(w[..., :L], w_short)
    assert torch.equal(w[..., L:], torch.zeros_like(w[..., L:]))
