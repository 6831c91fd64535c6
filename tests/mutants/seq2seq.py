"""Broken variants for the seq2seq suite's checks (harness/checks/seq2seq.py)."""
from __future__ import annotations

import torch
from torch.nn import functional as F

from harness.testing import broken, patched, replaced, subject_from
from reference_impls import seq2seq as S

PARAMS = {"model": "translation", "vocab_size": 10, "embed_dim": 16, "hidden": 32}
CAPTIONER = {"model": "captioning", "image_size": 16, "in_channels": 1}


def ref(**params):
    return subject_from("reference_impls.seq2seq:make_model", {**PARAMS, **params})


def factory(cls):
    """A make_model-like factory that builds ``cls`` (it drops the ``model`` param)."""
    def make(model=None, **params):
        return cls(**params)
    make.__qualname__ = cls.__qualname__
    return make


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


class _FixedAttends(S.FixedContextSeq2Seq):
    """Adds a dot-attention read of the encoder outputs to each decoder state (not a fixed context)."""

    def forward(self, src, tgt_in, src_mask=None):
        memory, state = self.encode(src, src_mask)
        s, _ = self.decoder(self.tgt_embed(tgt_in), state)
        scores = s @ memory.transpose(1, 2)
        if src_mask is not None:
            scores = scores.masked_fill(~src_mask.unsqueeze(1), float("-inf"))
        return self.W_o(s + scores.softmax(-1) @ memory)


class _FixedMeanContext(S.FixedContextSeq2Seq):
    """The context is the mean of the encoder outputs over the real tokens, not the final state."""

    def encode(self, src, src_mask=None):
        memory, state = S.Seq2Seq.encode(self, src, src_mask)
        m = torch.ones_like(src, dtype=memory.dtype) if src_mask is None else src_mask.to(memory.dtype)
        mean = ((memory * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True)).unsqueeze(0)
        return memory, ((mean, state[1]) if isinstance(state, tuple) else mean)


class _FixedIgnoresContext(S.FixedContextSeq2Seq):
    """The decoder starts from zeros: it never sees the context."""

    def decode_step(self, tgt_in, state):
        zero = tuple(s * 0 for s in state) if isinstance(state, tuple) else state * 0
        return super().decode_step(tgt_in, zero)


class _FixedGreedyForgets(S.FixedContextSeq2Seq):
    """Greedy decoding restarts every step from the encoder state (the decoder state is not carried)."""

    @torch.no_grad()
    def generate(self, src, steps, src_mask=None):
        _, state = self.encode(src, src_mask)
        y = torch.full_like(src[:, :1], self.config.bos_id)
        out = []
        for _ in range(steps):
            logits, _ = self.decode_step(y, state)
            y = logits.argmax(-1)
            out.append(y)
        return torch.cat(out, dim=1)


class _FixedGreedySecondBest(S.FixedContextSeq2Seq):
    """Greedy decoding feeds back the runner-up token instead of the argmax."""

    @torch.no_grad()
    def generate(self, src, steps, src_mask=None):
        _, state = self.encode(src, src_mask)
        y = torch.full_like(src[:, :1], self.config.bos_id)
        out = []
        for _ in range(steps):
            logits, state = self.decode_step(y, state)
            y = logits.topk(2, -1).indices[..., 1]
            out.append(y)
        return torch.cat(out, dim=1)


class _AttentionGreedyForgets(S.Seq2Seq):
    """Attention model whose greedy decoding restarts each step from the encoder state."""

    @torch.no_grad()
    def generate(self, src, steps, src_mask=None):
        memory, state = self.encode(src, src_mask)
        y = torch.full_like(src[:, :1], self.config.bos_id)
        out = []
        for _ in range(steps):
            logits, _, _ = self.decoder(y, memory, state, src_mask)
            y = logits.argmax(-1)
            out.append(y)
        return torch.cat(out, dim=1)


FIXED = {"model": "fixed_context"}

MUTANTS = {
    "seq2seq_fixed_context_bottleneck": [
        broken("decoder also attends over the encoder outputs", replaced(ref(**FIXED), factory(_FixedAttends))),
        broken("context is the mean of the encoder outputs", replaced(ref(**FIXED), factory(_FixedMeanContext))),
        broken("LSTM context is the mean of the encoder outputs",
               replaced(ref(**FIXED, cell="lstm"), factory(_FixedMeanContext))),
        broken("decoder never sees the context", replaced(ref(**FIXED), factory(_FixedIgnoresContext))),
    ],
    "seq2seq_greedy_equals_teacher_forcing": [
        broken("greedy state not carried (fixed context)", replaced(ref(**FIXED), factory(_FixedGreedyForgets))),
        broken("greedy feeds back the runner-up", replaced(ref(**FIXED), factory(_FixedGreedySecondBest))),
        broken("greedy state not carried (attention)", replaced(ref(), factory(_AttentionGreedyForgets))),
    ],
    "seq2seq_context_in_convex_hull": [
        broken("unnormalised weights (translation)", replaced(ref(), factory(UnnormalisedSeq2Seq))),
        broken("unnormalised weights (captioner)", replaced(ref(**CAPTIONER), factory(UnnormalisedCaptioner))),
    ],
    "seq2seq_teacher_forcing_is_causal": [
        broken("decoder fed the token it predicts", replaced(ref(), factory(PeekingSeq2Seq))),
    ],
    "seq2seq_source_padding_invariance": [
        broken("encoder runs over the padding", replaced(ref(), factory(MaskBlindEncoder))),
    ],
    "seq2seq_learns_toy_task": [
        # the suite's copy task at 200 steps (its reference margin over 8 other seeds: accuracy >= 0.97)
        broken("blind to the source", replaced(ref(), factory(SourceBlindSeq2Seq)), task="copy", steps=200),
    ],
    "captioning_attends_over_grid": [
        broken("attends over a pooled grid", replaced(ref(**CAPTIONER), factory(CoarseRegionCaptioner))),
    ],
}


# --- token accuracy -------------------------------------------------------------------------------
def accuracy_counts_padding(predicted, targets, pad_id=0):
    return float((predicted == targets).float().mean())


def accuracy_over_all_positions(predicted, targets, pad_id=0):
    """Hits on real positions divided by every position."""
    keep = torch.ones_like(targets, dtype=torch.bool) if pad_id is None else targets != pad_id
    return float(((predicted == targets) & keep).float().sum() / targets.numel())


def accuracy_pad_none_as_zero(predicted, targets, pad_id=0):
    """pad_id=None read as 0: padding never counted."""
    return S.token_accuracy(predicted, targets, 0)


_MOD = subject_from("reference_impls.seq2seq", PARAMS)
MUTANTS["seq2seq_token_accuracy_definition"] = [
    broken("padding counted", _MOD.with_namespace(token_accuracy=accuracy_counts_padding)),
    broken("divided by every position", _MOD.with_namespace(token_accuracy=accuracy_over_all_positions)),
    broken("pad_id=None ignored", _MOD.with_namespace(token_accuracy=accuracy_pad_none_as_zero)),
]


# --- every model against its definition; the grid size ----------------------------------------------
class _SigmoidDecoder(S.AttentionDecoder):
    """Luong's attentional hidden state with sigmoid: h̃_t = σ(W_c [c_t; s_t])."""

    def forward(self, tgt_in, memory, state, memory_mask=None):
        s, state = self.rnn(self.embed(tgt_in), state)
        mask = None if memory_mask is None else memory_mask.unsqueeze(1)
        c, a = self.attention(s, memory, memory, mask=mask, need_weights=True)
        return self.W_o(torch.sigmoid(self.W_c(torch.cat([c, s], dim=-1)))), S.AttentionTrace(a, c, memory), state


class SigmoidHTildeSeq2Seq(S.Seq2Seq):
    def __init__(self, **p):
        super().__init__(**p)
        c = self.config
        self.decoder = _SigmoidDecoder(c.vocab_size, c.embed_dim, c.hidden, c.cell, c.score)


class DetachedStateSeq2Seq(S.Seq2Seq):
    """The encoder's final state is detached: the decoder starts from it but no gradient flows back."""

    def encode(self, src, src_mask=None):
        memory, state = super().encode(src, src_mask)
        return memory, (tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach())


class DetachedTraceSeq2Seq(S.Seq2Seq):
    """The returned attention weights are detached: a loss on them (a doubly stochastic attention
    regulariser) trains nothing."""

    def forward(self, src, tgt_in, src_mask=None, need_weights=False):
        out = super().forward(src, tgt_in, src_mask, need_weights)
        if not need_weights:
            return out
        logits, t = out
        return logits, S.AttentionTrace(t.weights.detach(), t.context.detach(), t.memory.detach())


class SigmoidInitCaptioner(S.ImageCaptioner):
    """h_0 = σ(W_h ā), c_0 = σ(W_c ā) instead of tanh."""

    def forward(self, images, tgt_in, need_weights=False):
        a = self.regions(images)
        mean = a.mean(1)
        state = (torch.sigmoid(self.init_h(mean)).unsqueeze(0), torch.sigmoid(self.init_c(mean)).unsqueeze(0))
        logits, trace, _ = self.decoder(tgt_in, a, state)
        return (logits, trace) if need_weights else logits


class SumRegionCaptioner(S.ImageCaptioner):
    """The initial state from the sum of the regions, not their mean."""

    def forward(self, images, tgt_in, need_weights=False):
        a = self.regions(images)
        mean = a.sum(1)
        state = (torch.tanh(self.init_h(mean)).unsqueeze(0), torch.tanh(self.init_c(mean)).unsqueeze(0))
        logits, trace, _ = self.decoder(tgt_in, a, state)
        return (logits, trace) if need_weights else logits


class DetachedRegionsCaptioner(S.ImageCaptioner):
    """The region features are detached: the CNN is never trained."""

    def regions(self, images):
        return super().regions(images).detach()


class TanhCNNCaptioner(S.ImageCaptioner):
    """The CNN's nonlinearities are tanh instead of ReLU."""

    def __init__(self, **p):
        super().__init__(**p)
        self.cnn[1] = torch.nn.Tanh()
        self.cnn[4] = torch.nn.Tanh()


class DetachedFixedContext(S.FixedContextSeq2Seq):
    """The fixed-context model's logits are detached."""

    def forward(self, src, tgt_in, src_mask=None):
        return super().forward(src, tgt_in, src_mask).detach()


def grid_size_ceil(image_size):
    """⌈s/4⌉: right for multiples of 4 only."""
    return -(-image_size // 4)


MUTANTS.update({
    "seq2seq_matches_definition": [
        broken("h̃ = sigmoid(W_c [c; s])", replaced(ref(), factory(SigmoidHTildeSeq2Seq))),
        broken("encoder's final state detached", replaced(ref(), factory(DetachedStateSeq2Seq))),
        broken("attention weights returned detached", replaced(ref(), factory(DetachedTraceSeq2Seq))),
        broken("captioner: sigmoid initial state", replaced(ref(**CAPTIONER), factory(SigmoidInitCaptioner))),
        broken("captioner: initial state from the sum of the regions", replaced(ref(**CAPTIONER), factory(SumRegionCaptioner))),
        broken("captioner: regions detached", replaced(ref(**CAPTIONER), factory(DetachedRegionsCaptioner))),
        broken("captioner: tanh in the CNN", replaced(ref(**CAPTIONER), factory(TanhCNNCaptioner))),
        broken("captioner: pooled grid", replaced(ref(**CAPTIONER), factory(CoarseRegionCaptioner))),
        broken("fixed context: logits detached", replaced(ref(**FIXED), factory(DetachedFixedContext))),
    ],
    "captioning_grid_size_formula": [
        broken("⌈s/4⌉", patched(ref(**CAPTIONER), conv_grid_size=grid_size_ceil)),
    ],
})
