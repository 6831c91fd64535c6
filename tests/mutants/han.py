"""Broken variants for the han suite's checks (harness/checks/han.py)."""
from __future__ import annotations

import torch

from harness.testing import broken, replaced, subject_from
from reference_impls import attention as A

REF = subject_from("reference_impls.attention:HierarchicalAttentionNetwork",
                   {"vocab_size": 20, "embed_dim": 16, "word_hidden": 8, "sentence_hidden": 8, "attention_dim": 16,
                    "num_classes": 2})


class UnmaskedAttentionHAN(A.HierarchicalAttentionNetwork):
    """Both attention levels softmax over every position, padding included (the GRUs still respect
    the mask)."""

    def forward(self, docs, mask=None, need_weights=False):
        B, S, W = docs.shape
        mask = docs != self.config.pad_id if mask is None else mask
        words = self.word_rnn(self.embed(docs.reshape(B * S, W)), mask.reshape(B * S, W))
        s, a_w = A.context_vector_attention(words, self.word_proj.weight, self.word_proj.bias, self.u_w)
        s = s.reshape(B, S, -1)
        sents = self.sentence_rnn(s, mask.any(-1))
        v, a_s = A.context_vector_attention(sents, self.sentence_proj.weight, self.sentence_proj.bias, self.u_s)
        logits = self.classifier(v)
        if not need_weights:
            return logits
        return logits, A.HANTrace(a_w.reshape(B, S, W), words.reshape(B, S, W, -1), s, a_s, sents, v)


class FlipBiGRU(A.BiGRU):
    """The backward direction reverses the whole padded sequence: padding enters ←h first."""

    def forward(self, x, mask):
        h_f, _ = self.fwd(x)
        h_b, _ = self.bwd(x.flip(1))
        return torch.cat([h_f, h_b.flip(1)], dim=-1)


class BackwardOverPaddingHAN(A.HierarchicalAttentionNetwork):
    def __init__(self, **params):
        super().__init__(**params)
        c = self.config
        self.word_rnn = FlipBiGRU(c.embed_dim, c.word_hidden)
        self.sentence_rnn = FlipBiGRU(2 * c.word_hidden, c.sentence_hidden)


class BlindHAN(A.HierarchicalAttentionNetwork):
    """Sees only where the words are, not which words: cannot find the keyword."""

    def forward(self, docs, mask=None, need_weights=False):
        mask = docs != self.config.pad_id if mask is None else mask
        return super().forward(torch.ones_like(docs), mask, need_weights)


def sigmoid_context_attention(h, W, b, u, mask=None):
    """HAN attention with sigmoid instead of tanh: u_t = σ(W h_t + b)."""
    a = A.masked_softmax(torch.sigmoid(torch.nn.functional.linear(h, W, b)) @ u, mask)
    return (a.unsqueeze(-2) @ h).squeeze(-2), a


class VariantHAN(A.HierarchicalAttentionNetwork):
    """The reference forward with one step changed (class attributes set by the subclasses below)."""

    attention = staticmethod(A.context_vector_attention)
    detach_sentences = False

    def forward(self, docs, mask=None, need_weights=False):
        B, S, W = docs.shape
        mask = docs != self.config.pad_id if mask is None else mask
        words = self.word_rnn(self.embed(docs.reshape(B * S, W)), mask.reshape(B * S, W))
        s, a_w = self.attention(words, self.word_proj.weight, self.word_proj.bias, self.u_w, mask.reshape(B * S, W))
        s = s.reshape(B, S, -1)
        sents = self.sentence_rnn(s.detach() if self.detach_sentences else s, mask.any(-1))
        v, a_s = self.attention(sents, self.sentence_proj.weight, self.sentence_proj.bias, self.u_s, mask.any(-1))
        logits = self.classifier(v)
        if not need_weights:
            return logits
        return logits, A.HANTrace(a_w.reshape(B, S, W), words.reshape(B, S, W, -1), s, a_s, sents, v)


class SigmoidAttentionHAN(VariantHAN):
    """Both attention levels score with sigmoid(W h + b) instead of tanh(W h + b)."""

    attention = staticmethod(sigmoid_context_attention)


class DetachedWordsHAN(VariantHAN):
    """The sentence vectors are detached: the word level (embeddings, word GRU, word attention) gets no gradient."""

    detach_sentences = True


class SmallContextHAN(A.HierarchicalAttentionNetwork):
    """u_w, u_s ~ N(0, 1/A²) (the √ dropped from the scale)."""

    def __init__(self, **params):
        super().__init__(**params)
        with torch.no_grad():
            A_ = self.config.attention_dim
            self.u_w.div_(A_ ** 0.5)
            self.u_s.div_(A_ ** 0.5)


class UnitContextHAN(A.HierarchicalAttentionNetwork):
    """u_w, u_s ~ N(0, 1) (no 1/√A scale)."""

    def __init__(self, **params):
        super().__init__(**params)
        with torch.no_grad():
            A_ = self.config.attention_dim
            self.u_w.mul_(A_ ** 0.5)
            self.u_s.mul_(A_ ** 0.5)


MUTANTS = {
    "han_matches_definition": [
        broken("sigmoid instead of tanh in the attention scores", replaced(REF, SigmoidAttentionHAN)),
        broken("backward GRU runs over padding", replaced(REF, BackwardOverPaddingHAN)),
        broken("word level detached from the sentence level", replaced(REF, DetachedWordsHAN)),
    ],
    "han_context_vector_init": [
        broken("u ~ N(0, 1/A²)", replaced(REF, SmallContextHAN)),
        broken("u ~ N(0, 1)", replaced(REF, UnitContextHAN)),
    ],
    "han_attention_sums_to_one": [broken("softmax ignores the mask", replaced(REF, UnmaskedAttentionHAN))],
    "han_padding_invariance": [broken("backward GRU runs over padding", replaced(REF, BackwardOverPaddingHAN))],
    "han_learns_keyword_task": [broken("blind to word ids", replaced(REF, BlindHAN), steps=40)],
}
