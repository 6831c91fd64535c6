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


# -- Luong local-p --------------------------------------------------------------------------------
def position_tanh(h, W_p, v_p, src_len):
    """tanh instead of sigmoid: p_t in [−S, S]."""
    return src_len * torch.tanh(torch.tanh(h @ W_p.T) @ v_p)


def position_unscaled(h, W_p, v_p, src_len):
    """Forgets the S scale: p_t in [0, 1]."""
    return torch.sigmoid(torch.tanh(h @ W_p.T) @ v_p)


def position_s_minus_one(h, W_p, v_p, src_len):
    """(S − 1)·sigmoid: the other convention, not the paper's (and not this contract's)."""
    return (src_len - 1) * torch.sigmoid(torch.tanh(h @ W_p.T) @ v_p)


def position_no_tanh(h, W_p, v_p, src_len):
    """S·sigmoid(v_pᵀ W_p h): the tanh dropped."""
    return src_len * torch.sigmoid(h @ W_p.T @ v_p)


def _weights(scores, p, window, mask=None, *, sigma=None, half=None, gauss=True, renorm=True, strict=False):
    """local_p_weights with one thing changed: σ, the window's half-width, the Gaussian factor, the
    softmax's normalisation over the window, or a strict window edge (|i − p| < D)."""
    i = torch.arange(scores.shape[-1], device=scores.device, dtype=scores.dtype)
    dist = i - p.unsqueeze(-1)
    half = window if half is None else half
    win = dist.abs() < half if strict else dist.abs() <= half
    inside = win if mask is None else win & mask
    sigma = window / 2 if sigma is None else sigma
    soft = A.masked_softmax(scores, inside) if renorm else A.masked_softmax(scores, mask).masked_fill(~inside, 0.0)
    return soft * torch.exp(-dist.square() / (2 * sigma**2)) if gauss else soft


def weights_sigma_d(scores, p, window, mask=None):
    return _weights(scores, p, window, mask, sigma=window)


def weights_no_window(scores, p, window, mask=None):
    return _weights(scores, p, window, mask, half=float("inf"))


def weights_no_gaussian(scores, p, window, mask=None):
    return _weights(scores, p, window, mask, gauss=False)


def weights_softmax_over_all(scores, p, window, mask=None):
    """Softmax over all allowed keys, then cut to the window (not renormalised over it)."""
    return _weights(scores, p, window, mask, renorm=False)


def weights_strict_edge(scores, p, window, mask=None):
    return _weights(scores, p, window, mask, strict=True)


def weights_ignore_mask(scores, p, window, mask=None):
    return _weights(scores, p, window, None)


class BrokenLocalP(A.LocalPAttention):
    """LocalPAttention with one step changed (class attributes set by the factories below)."""

    weights = staticmethod(A.local_p_weights)
    detach_p = False
    p_grad_scale = 1.0
    length_from_mask = True
    soft_mask = False

    def forward(self, query, key=None, value=None, mask=None, need_weights=False):
        key = query if key is None else key
        value = key if value is None else value
        scores = self.scores(query, key)
        if mask is not None and self.soft_mask:
            scores, mask = scores - 20.0 * (~mask).to(scores.dtype), None
        use_len = mask is not None and self.length_from_mask
        src_len = mask.expand_as(scores).sum(-1).to(scores.dtype) if use_len else key.shape[-2]
        p = A.predicted_position(query, self.W_p, self.v_p, src_len)
        p = p.detach() + self.p_grad_scale * (p - p.detach())  # same value; gradient scaled
        a = self.weights(scores, p.detach() if self.detach_p else p, self.window, mask)
        return (a @ value, a) if need_weights else a @ value


def local_p_variant(**attrs):
    cls = type("BrokenLocalP_" + "_".join(attrs), (BrokenLocalP,), {k: staticmethod(v) if callable(v) else v
                                                                      for k, v in attrs.items()})

    def factory(**p):
        c = A.AttentionConfig(**p)
        return cls(c.embed_dim, c.window, c.hidden, c.causal)
    return factory


LP = {"kind": "local_p"}
MUTANTS.update({
    "local_p_predicted_position": [
        broken("tanh instead of sigmoid", patched(ref(), predicted_position=position_tanh)),
        broken("no S scale", patched(ref(), predicted_position=position_unscaled)),
        broken("(S − 1)·sigmoid", patched(ref(), predicted_position=position_s_minus_one)),
        broken("tanh dropped", patched(ref(), predicted_position=position_no_tanh)),
        broken("tanh instead of sigmoid, float32", patched(ref(), predicted_position=position_tanh), dtype="float32"),
    ],
    "local_p_weights_match_definition": [
        broken("σ = D instead of D/2", patched(ref(), local_p_weights=weights_sigma_d)),
        broken("window not applied", patched(ref(), local_p_weights=weights_no_window)),
        broken("no Gaussian factor", patched(ref(), local_p_weights=weights_no_gaussian)),
        broken("softmax over all keys, not the window", patched(ref(), local_p_weights=weights_softmax_over_all)),
        broken("window edge |i − p| = D excluded", patched(ref(), local_p_weights=weights_strict_edge)),
        broken("mask ignored", patched(ref(), local_p_weights=weights_ignore_mask), masking="random", window=3),
        broken("σ = D instead of D/2, float32", patched(ref(), local_p_weights=weights_sigma_d), dtype="float32"),
    ],
    "local_p_attention_matches_definition": [
        broken("σ = D instead of D/2", replaced(ref(**LP), local_p_variant(weights=weights_sigma_d))),
        broken("window not applied", replaced(ref(**LP), local_p_variant(weights=weights_no_window))),
        broken("S = Tk under a padding mask", replaced(ref(**LP), local_p_variant(length_from_mask=False)), masking="padding"),
        broken("S = Tk under a causal mask", replaced(ref(**LP), local_p_variant(length_from_mask=False)), masking="causal"),
        broken("no Gaussian factor, float32", replaced(ref(**LP), local_p_variant(weights=weights_no_gaussian)), dtype="float32"),
    ],
    "local_p_position_gradient": [
        broken("p_t detached", replaced(ref(**LP), local_p_variant(detach_p=True))),
        broken("half the gradient through p_t", replaced(ref(**LP), local_p_variant(p_grad_scale=0.5))),
        broken("p_t detached, float32", replaced(ref(**LP), local_p_variant(detach_p=True)), dtype="float32"),
    ],
    "local_p_weights_bounded": [
        broken("window not applied", replaced(ref(**LP), local_p_variant(weights=weights_no_window))),
        broken("window not applied, float32", replaced(ref(**LP), local_p_variant(weights=weights_no_window)), dtype="float32"),
    ],
})
MUTANTS["attention_masked_weights_exactly_zero"] += [
    broken("local_p: mask by -20 on the scores", replaced(ref(**LP), local_p_variant(soft_mask=True))),
]


# -- each module against its definition; initialisation ---------------------------------------
class ScaledByDModule(A.ScaledDotProductAttention):
    """Scaled dot-product module dividing the scores by d instead of √d."""

    def scores(self, query, key):
        return A.dot_score(query, key) / query.shape[-1]


class DetachedScoresModule(A.ScaledDotProductAttention):
    """The scores are detached: right values, no gradient to the query and key through the weights."""

    def scores(self, query, key):
        return super().scores(query, key).detach()


class SigmoidAdditive(A.AdditiveAttention):
    """Bahdanau score with sigmoid instead of tanh."""

    def scores(self, query, key):
        h = (query @ self.W_q.weight.T).unsqueeze(-2) + (key @ self.W_k.weight.T).unsqueeze(-3)
        return torch.sigmoid(h) @ self.v


class TransposedGeneral(A.LuongAttention):
    """General score with W transposed: e = qᵀ Wᵀ k."""

    def scores(self, query, key):
        return A.general_score(query, key, self.W.T)


class WideLocal(A.LocalAttention):
    """Local-m window one wider than D."""

    def _mask(self, mask, t_q, t_k, device):
        return A._combine(mask, A.local_window_mask(t_q, t_k, self.window + 1, device=device))


def module_factory(cls, *args_of):
    def make(**p):
        c = A.AttentionConfig(**p)
        return cls(*[getattr(c, a) for a in args_of])
    make.__qualname__ = cls.__qualname__
    return make


class _Rescaled:
    """Builds the reference module, then rescales one parameter (a wrong initialisation)."""

    def __init__(self, name, scale=1.0, shift=0.0):
        self.name, self.scale, self.shift = name, scale, shift

    def __call__(self, **p):
        m = A.make_attention(**p)
        with torch.no_grad():
            x = dict(m.named_parameters())[self.name]
            x.mul_(self.scale).add_(self.shift * x.abs().max())
        return m


MUTANTS.update({
    "attention_module_matches_definition": [
        broken("scaled_dot module divides by d", replaced(ref(kind="scaled_dot"), module_factory(ScaledByDModule, "causal"))),
        broken("scaled_dot module detaches its scores", replaced(ref(kind="scaled_dot"), module_factory(DetachedScoresModule, "causal"))),
        broken("additive score with sigmoid", replaced(ref(kind="additive"), module_factory(SigmoidAdditive, "embed_dim", "hidden", "causal"))),
        broken("general score with Wᵀ", replaced(ref(kind="general"), module_factory(TransposedGeneral, "embed_dim", "kind", "causal"))),
        broken("local window one wider", replaced(ref(kind="local"), module_factory(WideLocal, "embed_dim", "window", "causal"))),
    ],
    "attention_init_uniform_bounds": [
        broken("additive v in [0, b]", replaced(ref(kind="additive"), _Rescaled("v", 0.5, 0.5))),
        broken("general W in [−b/√E, b/√E] (√ dropped)", replaced(ref(kind="general"), _Rescaled("W", 0.125))),
        broken("local_p W_p doubled", replaced(ref(kind="local_p"), _Rescaled("W_p", 2.0))),
    ],
})
