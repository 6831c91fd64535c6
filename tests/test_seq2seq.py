"""Every encoder-decoder / captioning check accepts reference_impls.seq2seq and rejects a broken variant."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from harness.registry import Subject
from harness.testing import run_check
from reference_impls import attention as A
from reference_impls import seq2seq as S

BASE = {"vocab_size": 10, "embed_dim": 16, "hidden": 32}


def ref(**params) -> Subject:
    return Subject("reference_impls.seq2seq:make_model", S.make_model, {"model": "translation", **BASE, **params}, S)


def bad(cls, **params) -> Subject:
    return Subject(cls.__name__, cls, {**BASE, **params}, S)


# -- broken variants ---------------------------------------------------------------------------
class _ExpWeights(torch.nn.Module):
    """Attention with exp(score) weights (no normalisation), masking kept."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, query, key=None, value=None, mask=None, need_weights=False):
        a = torch.exp(self.inner.scores(query, key))
        if mask is not None:
            a = a.masked_fill(~mask, 0.0)
        return (a @ value, a) if need_weights else a @ value


class UnnormalisedSeq2Seq(S.Seq2Seq):
    def __init__(self, **p):
        super().__init__(**p)
        self.decoder.attention = _ExpWeights(self.decoder.attention)


class UnnormalisedCaptioner(S.ImageCaptioner):
    def __init__(self, **p):
        super().__init__(**p)
        self.decoder.attention = _ExpWeights(self.decoder.attention)


class PeekingSeq2Seq(S.Seq2Seq):
    """Teacher forcing off by one: step t is fed y_t (the token it should predict) instead of y_{t−1}."""

    def forward(self, src, tgt_in, src_mask=None, need_weights=False):
        return super().forward(src, torch.roll(tgt_in, -1, dims=1), src_mask, need_weights)


class MaskBlindEncoder(S.Seq2Seq):
    """Runs the encoder over the padding (no packing): its final state comes from padded steps."""

    def encode(self, src, src_mask=None):
        return self.encoder(self.embed(src))


class SourceBlindSeq2Seq(S.Seq2Seq):
    """Never sees the source tokens: memory and initial state are zero."""

    def encode(self, src, src_mask=None):
        memory, state = super().encode(src, src_mask)
        return memory * 0, (tuple(s * 0 for s in state) if isinstance(state, tuple) else state * 0)


class CoarseRegionCaptioner(S.ImageCaptioner):
    """Attends over a 2×2-pooled copy of the CNN grid, not over the grid itself."""

    def regions(self, images):
        return F.max_pool2d(self.cnn(images), 2).flatten(2).transpose(1, 2)


# -- the reference passes ----------------------------------------------------------------------
SANITY = [
    ("seq2seq_context_in_convex_hull", {}, {}),
    ("seq2seq_context_in_convex_hull", {"cell": "lstm", "score": "additive"}, {}),
    ("seq2seq_context_in_convex_hull", {"model": "captioning"}, {}),
    ("captioning_attends_over_grid", {"model": "captioning"}, {}),
    ("seq2seq_teacher_forcing_is_causal", {"cell": "lstm"}, {}),
    ("seq2seq_teacher_forcing_is_causal", {"model": "captioning"}, {}),
    ("seq2seq_source_padding_invariance", {}, {}),
    ("seq2seq_source_padding_invariance", {"cell": "lstm"}, {}),
    ("seq2seq_learns_toy_task", {"cell": "lstm"}, {"task": "reverse", "steps": 300}),
]


@pytest.mark.parametrize("name,params,kw", SANITY, ids=[f"{n}-{'-'.join(map(str, p.values()))}" for n, p, _ in SANITY])
def test_reference_passes(name, params, kw):
    out = run_check(name, ref(**params), **kw)
    assert out.passed, out.line()


# -- each check rejects a broken variant -------------------------------------------------------
def test_convex_hull_rejects_unnormalised_weights():
    assert not run_check("seq2seq_context_in_convex_hull", bad(UnnormalisedSeq2Seq)).passed
    assert not run_check("seq2seq_context_in_convex_hull", bad(UnnormalisedCaptioner)).passed


def test_teacher_forcing_causal_rejects_peeking_decoder():
    assert not run_check("seq2seq_teacher_forcing_is_causal", bad(PeekingSeq2Seq)).passed


def test_padding_invariance_rejects_encoder_over_padding():
    assert not run_check("seq2seq_source_padding_invariance", bad(MaskBlindEncoder)).passed


def test_learns_toy_task_rejects_source_blind_model():
    assert not run_check("seq2seq_learns_toy_task", bad(SourceBlindSeq2Seq), steps=60).passed


def test_captioning_grid_rejects_coarse_regions():
    assert not run_check("captioning_attends_over_grid", bad(CoarseRegionCaptioner)).passed


def test_generate_equals_teacher_forcing_on_its_own_output():
    """Greedy decoding and teacher forcing are the same decoder: re-scoring the greedy output with
    teacher forcing gives argmaxes equal to it."""
    torch.manual_seed(0)
    m = S.make_model(**BASE).double()
    src = torch.randint(2, 10, (4, 6))
    out = m.generate(src, 5)
    with torch.no_grad():
        logits = m(src, S.teacher_forcing_inputs(out, m.config.bos_id))
    assert torch.equal(logits.argmax(-1), out)
    assert isinstance(m.decoder.attention, A.LuongAttention)
