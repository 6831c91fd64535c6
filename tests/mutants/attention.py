"""Broken variants for the attention suite's checks (harness/checks/attention.py)."""
from __future__ import annotations

import torch

from harness.testing import broken, patched, replaced, subject_from
from reference_impls import attention as A

PARAMS = {"kind": "multi_head", "embed_dim": 16, "num_heads": 4, "window": 2}


def ref(**params):
    return subject_from("reference_impls.attention:make_attention", {**PARAMS, **params})


# -- broken models (factories take the suite's params) ----------------------------------------
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


class Zero(torch.nn.Module):
    """A 'causal' layer that outputs zeros: passes the s > t half of the Jacobian check, not the s ≤ t half."""

    def forward(self, query, key=None, value=None, mask=None, need_weights=False):
        return query * 0.0


def sigmoid_weights(**p):
    return SigmoidWeights()


def soft_mask(**p):
    return SoftMask(p["embed_dim"], "general")


def interleaved_heads(**p):
    return InterleavedHeads(p["embed_dim"], p["num_heads"])


def position_biased(**p):
    return PositionBiased()


def peek_one_ahead(**p):
    return PeekOneAhead(p["embed_dim"], p["num_heads"])


def zero_output(**p):
    return Zero()


def wide_window_local(**p):
    """Local attention whose window is one wider than asked."""
    c = A.AttentionConfig(**p)
    return A.LocalAttention(c.embed_dim, c.window + 1, c.causal)


# -- broken functional cores --------------------------------------------------------------------
def additive_score_swapped(query, key, W_q, W_k, v):
    """Bahdanau score with a sign error inside the tanh."""
    return torch.tanh((query @ W_q.T).unsqueeze(-2) - (key @ W_k.T).unsqueeze(-3)) @ v


def sdpa_scaled_by_d(query, key, value, mask=None, causal=False, scale=None, need_weights=False):
    """Scales by 1/d instead of 1/√d."""
    return A.scaled_dot_product_attention(query, key, value, mask, causal, 1.0 / query.shape[-1], need_weights)


def sdpa_ignores_causal(query, key, value, mask=None, causal=False, scale=None, need_weights=False):
    return A.scaled_dot_product_attention(query, key, value, mask, False, scale, need_weights)


MUTANTS = {
    "attention_weights_sum_to_one": [
        broken("sigmoid weights", replaced(ref(kind="scaled_dot"), sigmoid_weights)),
    ],
    "attention_masked_weights_exactly_zero": [
        broken("mask by -20 on the scores", replaced(ref(kind="general"), soft_mask)),
        broken("mask by -20 on the scores, float32", replaced(ref(kind="general"), soft_mask), dtype="float32"),
    ],
    "sdpa_matches_torch": [
        broken("scaled by 1/d", patched(ref(), scaled_dot_product_attention=sdpa_scaled_by_d)),
        broken("causal flag ignored", patched(ref(), scaled_dot_product_attention=sdpa_ignores_causal), masking="causal"),
    ],
    "mha_matches_torch": [
        broken("heads interleaved", replaced(ref(), interleaved_heads)),
    ],
    "self_attention_permutation_equivariant": [
        broken("position-biased scores", replaced(ref(kind="scaled_dot"), position_biased)),
    ],
    "causal_attention_no_future_gradient": [
        broken("causal mask off by one", replaced(ref(), peek_one_ahead)),
        broken("output independent of the past", replaced(ref(), zero_output)),
    ],
    "local_attention_window": [
        broken("window one wider", replaced(ref(kind="local"), wide_window_local)),
    ],
    "attention_scores_match_definition": [
        broken("additive score sign error", patched(ref(), additive_score=additive_score_swapped)),
    ],
}


# -- the notes' worked example ("Le") -----------------------------------------------------------
def attend_unnormalised(scores, value, mask=None):
    """Weights exp(e) without the softmax's normalisation (right only when Σ exp(e) = 1)."""
    a = scores.exp()
    return a @ value, a


def attend_over_queries(scores, value, mask=None):
    """Softmax over the query axis instead of the keys."""
    a = torch.softmax(scores, dim=-2)
    return a @ value, a


def attend_uniform_context(scores, value, mask=None):
    """Right weights, but the context is the plain mean of the values."""
    a = A.masked_softmax(scores, mask)
    return value.mean(-2, keepdim=True).expand(*a.shape[:-1], value.shape[-1]), a


MUTANTS["attention_notes_le_weights"] = [
    broken("unnormalised weights", patched(ref(), attend=attend_unnormalised)),
    broken("softmax over the queries", patched(ref(), attend=attend_over_queries)),
    broken("context = mean of the values", patched(ref(), attend=attend_uniform_context)),
    broken("unnormalised weights, float32", patched(ref(), attend=attend_unnormalised), dtype="float32"),
]
