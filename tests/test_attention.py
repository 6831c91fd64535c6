"""Every attention and HAN check accepts reference_impls.attention and rejects a broken variant."""
from __future__ import annotations

import math

import pytest
import torch

from harness.registry import Subject
from harness.testing import patched, run_check
from reference_impls import attention as A

FACTORY = "reference_impls.attention:make_attention"
HAN = "reference_impls.attention:HierarchicalAttentionNetwork"
MHA = {"kind": "multi_head", "embed_dim": 16, "num_heads": 4}


def subject(obj, **params) -> Subject:
    """A subject built by ``obj`` whose functional cores are the reference module's."""
    return Subject(getattr(obj, "__qualname__", str(obj)), obj, {"embed_dim": 16, "num_heads": 4, **params}, A)


def ref(**params) -> Subject:
    return Subject(FACTORY, A.make_attention, {**MHA, **params}, A)


# -- broken variants ---------------------------------------------------------------------------
class SigmoidWeights(A.ScaledDotProductAttention):
    """Weights σ(e) instead of softmax(e): not normalised."""

    def forward(self, query, key=None, value=None, mask=None, need_weights=False):
        key = query if key is None else key
        value = key if value is None else value
        a = torch.sigmoid(self.scores(query, key))
        if mask is not None:
            a = a.masked_fill(~mask, 0.0)
        return (a @ value, a) if need_weights else a @ value


class SoftMask(A.LuongAttention):
    """Masks by subtracting 20 from masked scores: masked weights are small but not 0."""

    def forward(self, query, key=None, value=None, mask=None, need_weights=False):
        key = query if key is None else key
        value = key if value is None else value
        s = self.scores(query, key)
        if mask is not None:
            s = s - 20.0 * (~mask).to(s.dtype)
        a = torch.softmax(s, -1)
        return (a @ value, a) if need_weights else a @ value


class InterleavedHeads(A.MultiHeadAttention):
    """Splits heads with the wrong stride (feature j goes to head j mod H)."""

    def forward(self, query, key=None, value=None, mask=None, need_weights=False):
        key = query if key is None else key
        value = key if value is None else value
        H = self.num_heads
        Wq, Wk, Wv = self.in_proj_weight.chunk(3)
        bq, bk, bv = self.in_proj_bias.chunk(3)

        def split(x):
            return x.unflatten(-1, (x.shape[-1] // H, H)).permute(0, 3, 1, 2)

        q, k, v = split(query @ Wq.T + bq), split(key @ Wk.T + bk), split(value @ Wv.T + bv)
        if mask is not None and mask.dim() == 3:
            mask = mask.unsqueeze(1)
        heads, a = A.scaled_dot_product_attention(q, k, v, mask=mask, need_weights=True)
        out = self.out_proj(A.merge_heads(heads))
        return (out, a) if need_weights else out


class PositionBiased(A.ScaledDotProductAttention):
    """Adds a bias growing with the key index: attention now depends on positions."""

    def scores(self, query, key):
        return super().scores(query, key) + 0.3 * torch.arange(key.shape[-2], dtype=query.dtype, device=query.device)


class PeekOneAhead(A.MultiHeadAttention):
    """Causal mask off by one: query t also sees key t + 1."""

    def forward(self, query, key=None, value=None, mask=None, need_weights=False):
        T = query.shape[-2]
        mask = torch.ones(T, T, dtype=torch.bool, device=query.device).tril(1)
        return super().forward(query, key, value, mask=mask, need_weights=need_weights)


def wide_window_local(**params):
    """Local attention whose window is one wider than asked."""
    c = A.AttentionConfig(**params)
    return A.LocalAttention(c.embed_dim, c.window + 1, c.causal)


def additive_score_swapped(query, key, W_q, W_k, v):
    """Bahdanau score with a sign error inside the tanh."""
    return torch.tanh((query @ W_q.T).unsqueeze(-2) - (key @ W_k.T).unsqueeze(-3)) @ v


def sdpa_scaled_by_d(query, key, value, mask=None, causal=False, scale=None, need_weights=False):
    """Scales by 1/d instead of 1/√d."""
    return A.scaled_dot_product_attention(query, key, value, mask, causal, 1.0 / query.shape[-1], need_weights)


def sdpa_ignores_causal(query, key, value, mask=None, causal=False, scale=None, need_weights=False):
    return A.scaled_dot_product_attention(query, key, value, mask, False, scale, need_weights)


# -- the reference passes ----------------------------------------------------------------------
ATTENTION_SANITY = [
    *[("attention_weights_sum_to_one", {"kind": k}, {}) for k in A.KINDS],
    *[("attention_masked_weights_exactly_zero", {"kind": k}, {}) for k in A.KINDS],
    ("attention_scores_match_definition", {}, {}),
    *[("sdpa_matches_torch", {}, {"masking": m}) for m in ("none", "padding", "causal", "both")],
    *[("mha_matches_torch", {}, {"masking": m}) for m in ("none", "padding", "causal")],
    *[("self_attention_permutation_equivariant", {"kind": k}, {}) for k in ("additive", "dot", "scaled_dot", "multi_head")],
    *[("causal_attention_no_future_gradient", {"kind": k}, {}) for k in ("multi_head", "general")],
    ("local_attention_window", {"kind": "local"}, {}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,params,kw", ATTENTION_SANITY,
                         ids=[f"{n}-{p.get('kind', '')}{k.get('masking', '')}" for n, p, k in ATTENTION_SANITY])
def test_reference_passes(name, params, kw, dtype):
    if name == "causal_attention_no_future_gradient" and dtype == "float32":
        pytest.skip("suite runs it in float64 only")
    out = run_check(name, ref(**params), dtype=dtype, **kw)
    assert out.passed, out.line()


# -- each check rejects a broken variant -------------------------------------------------------
def test_weights_sum_to_one_rejects_sigmoid_weights():
    assert not run_check("attention_weights_sum_to_one", subject(lambda **p: SigmoidWeights())).passed


def test_masked_weights_exactly_zero_rejects_soft_mask():
    bad = subject(lambda **p: SoftMask(p["embed_dim"], "general"))
    assert not run_check("attention_masked_weights_exactly_zero", bad).passed
    assert not run_check("attention_masked_weights_exactly_zero", bad, dtype="float32").passed


def test_sdpa_matches_torch_rejects_wrong_scale_and_ignored_causal_flag():
    assert not run_check("sdpa_matches_torch", patched(ref(), scaled_dot_product_attention=sdpa_scaled_by_d)).passed
    bad = patched(ref(), scaled_dot_product_attention=sdpa_ignores_causal)
    assert run_check("sdpa_matches_torch", bad, masking="padding").passed  # only the causal flag is wrong
    assert not run_check("sdpa_matches_torch", bad, masking="causal").passed


def test_mha_matches_torch_rejects_interleaved_heads():
    bad = subject(lambda **p: InterleavedHeads(p["embed_dim"], p["num_heads"]))
    assert not run_check("mha_matches_torch", bad).passed


def test_permutation_equivariance_rejects_position_bias():
    assert not run_check("self_attention_permutation_equivariant", subject(lambda **p: PositionBiased())).passed


def test_causal_jacobian_rejects_off_by_one_mask():
    bad = subject(lambda **p: PeekOneAhead(p["embed_dim"], p["num_heads"]))
    assert not run_check("causal_attention_no_future_gradient", bad).passed


def test_causal_jacobian_rejects_output_independent_of_past():
    """A 'causal' layer that outputs zeros passes the s > t half; the s ≤ t half rejects it."""
    bad = subject(lambda **p: _Zero())
    assert not run_check("causal_attention_no_future_gradient", bad).passed


class _Zero(torch.nn.Module):
    def forward(self, query, key=None, value=None, mask=None, need_weights=False):
        return query * 0.0


def test_local_window_rejects_wider_window():
    assert not run_check("local_attention_window", subject(wide_window_local, kind="local")).passed


def test_scores_match_definition_rejects_sign_error():
    assert not run_check("attention_scores_match_definition", patched(ref(), additive_score=additive_score_swapped)).passed


def test_masked_softmax_empty_rows_are_zero_not_nan():
    s = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    m = torch.tensor([[True, False, True], [False, False, False]])
    a = A.masked_softmax(s, m)
    a.sum().backward()
    assert torch.equal(a[1], torch.zeros(3, dtype=torch.float64)) and a[0, 1] == 0
    assert math.isclose(float(a[0].sum().detach()), 1.0) and torch.isfinite(s.grad).all()


# -- HAN ---------------------------------------------------------------------------------------
HAN_PARAMS = {"vocab_size": 20, "embed_dim": 16, "word_hidden": 8, "sentence_hidden": 8, "attention_dim": 16}


def han() -> Subject:
    return Subject(HAN, A.HierarchicalAttentionNetwork, HAN_PARAMS, A)


@pytest.mark.parametrize("name", ["han_attention_sums_to_one", "han_padding_invariance", "han_learns_keyword_task"])
def test_han_reference_passes(name):
    out = run_check(name, han())
    assert out.passed, out.line()


def test_han_attention_sums_to_one_rejects_unmasked_softmax(monkeypatch):
    monkeypatch.setattr(A, "masked_softmax", lambda scores, mask=None: torch.softmax(scores, -1))
    assert not run_check("han_attention_sums_to_one", han()).passed


def test_han_padding_invariance_rejects_backward_gru_over_padding(monkeypatch):
    monkeypatch.setattr(A, "reverse_padded", lambda x, lengths: x.flip(1))  # padding enters ←h first
    assert not run_check("han_padding_invariance", han()).passed


class BlindHAN(A.HierarchicalAttentionNetwork):
    """Sees only where the words are, not which words: cannot find the keyword."""

    def forward(self, docs, mask=None, need_weights=False):
        mask = docs != self.config.pad_id if mask is None else mask
        return super().forward(torch.ones_like(docs), mask, need_weights)


def test_han_learns_keyword_task_rejects_blind_model():
    bad = Subject("BlindHAN", BlindHAN, HAN_PARAMS, A)
    assert not run_check("han_learns_keyword_task", bad, steps=40).passed
