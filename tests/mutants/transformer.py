"""Broken variants for the transformer suite's checks (harness/checks/transformer.py)."""
from __future__ import annotations

import torch
from torch import nn

from harness.testing import broken, patched, replaced, subject_from
from reference_impls import transformer as T

PARAMS = {"model": "lm", "vocab_size": 16, "d_model": 32, "nhead": 4, "dim_feedforward": 64, "num_layers": 2,
          "init_std": 0.02, "activation": "relu"}
SEQ2SEQ = {"model": "seq2seq", "src_vocab_size": 12}


def ref(**params):
    return subject_from("reference_impls.transformer:make_model", {**PARAMS, **params})


def _layer_args(p):
    return p["d_model"], p["nhead"], p["dim_feedforward"]


def pe_sin_only(length, d_model, base=T.PE_BASE, *, device=None, dtype=torch.float32):
    """Uses sin for the odd dimensions too: no longer a rotation of (sin, cos) pairs."""
    pos = torch.arange(length, dtype=torch.float64, device=device).unsqueeze(1)
    omega = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64, device=device) / d_model)
    return torch.sin(pos * omega).repeat_interleave(2, dim=1).to(dtype)


class PreNormEncoderLayer(T.TransformerEncoderLayer):
    """Pre-norm (norm_first=True) instead of post-norm."""

    def forward(self, src, mask=None, causal=None):
        x = src + self.self_attn(self.norm1(src), mask=mask)
        h = self.norm2(x)
        return x + self.linear2(torch.relu(self.linear1(h)))


class PositionalEncoderLayer(T.TransformerEncoderLayer):
    """Adds positional encodings inside the block: positions now matter."""

    def forward(self, src, mask=None, causal=None):
        pe = T.sinusoidal_positional_encoding(src.shape[1], src.shape[2], device=src.device, dtype=src.dtype)
        return super().forward(src + pe, mask, causal)


class TokenBlindLM(T.TransformerLM):
    """Sees positions only: cannot memorise which token follows which."""

    def forward(self, tokens):
        return super().forward(torch.zeros_like(tokens))


class UnscaledSeq2Seq(T.TransformerSeq2Seq):
    """Token embeddings not scaled by √d_model."""

    def embed(self, table, tokens):
        pe = T.sinusoidal_positional_encoding(tokens.shape[1], self.config.d_model, device=tokens.device,
                                              dtype=table.weight.dtype)
        return table(tokens) + pe


class SelfCrossSeq2Seq(T.TransformerSeq2Seq):
    """Cross-attention over the target (the decoder's own states) instead of the encoder's memory."""

    def decode(self, tgt, memory, src_mask=None):
        x = self.embed(self.tgt_embed, tgt)
        for layer in self.decoder.layers:
            x = layer(x)  # memory defaults to the target
        return self.head(x)


class MaskBlindSeq2Seq(T.TransformerSeq2Seq):
    """Ignores the source padding mask: padded positions are attended."""

    def forward(self, src, tgt, src_mask=None):
        return super().forward(src, tgt, None)


class EncoderMaskBlindSeq2Seq(T.TransformerSeq2Seq):
    """Masks the padding in the cross-attention only: the encoder's self-attention sees it."""

    def encode(self, src, src_mask=None):
        return super().encode(src, None)


class FinalNormSeq2Seq(T.TransformerSeq2Seq):
    """An extra LayerNorm after the encoder stack (nn.Transformer's default ``encoder_norm``)."""

    def __init__(self, **params):
        super().__init__(**params)
        self.encoder_norm = nn.LayerNorm(self.config.d_model)

    def encode(self, src, src_mask=None):
        return self.encoder_norm(super().encode(src, src_mask))


class FirstStepGreedySeq2Seq(T.TransformerSeq2Seq):
    """Greedy decoding takes the argmax of the first step's logits every time, not the last's."""

    @torch.no_grad()
    def greedy_decode(self, src, max_len, bos, src_mask=None):
        memory = self.encode(src, src_mask)
        ys = torch.full((src.shape[0], 1), bos, dtype=torch.long, device=src.device)
        for _ in range(max_len):
            ys = torch.cat([ys, self.decode(ys, memory, src_mask)[:, 0].argmax(-1, keepdim=True)], dim=1)
        return ys[:, 1:]


class BosKeepingGreedySeq2Seq(T.TransformerSeq2Seq):
    """Off by one: returns BOS and drops the last generated token."""

    @torch.no_grad()
    def greedy_decode(self, src, max_len, bos, src_mask=None):
        y = super().greedy_decode(src, max_len, bos, src_mask)
        return torch.cat([torch.full_like(y[:, :1], bos), y[:, :-1]], dim=1)


# factories take make_model's params (model, sizes)
def pre_norm_encoder_layer(**p):
    return PreNormEncoderLayer(*_layer_args(p))


def positional_encoder_layer(**p):
    return PositionalEncoderLayer(*_layer_args(p))


def non_causal_decoder_layer(**p):
    layer = T.TransformerDecoderLayer(*_layer_args(p))
    layer.self_attn.causal = False
    return layer


def non_causal_lm(model=None, **p):
    lm = T.TransformerLM(**p)
    for layer in lm.layers:
        layer.causal = False
    return lm


def non_causal_seq2seq(model=None, **p):
    m = T.TransformerSeq2Seq(**p)
    for layer in m.decoder.layers:
        layer.self_attn.causal = False
    return m


def seq2seq_variant(cls):
    """A make_model-style factory building ``cls`` (a broken encoder-decoder)."""
    def factory(model=None, **p):
        return cls(**p)
    factory.__qualname__ = cls.__name__
    return factory


def unit_init_lm(model=None, **p):
    lm = T.TransformerLM(**p)
    nn.init.normal_(lm.head.weight, std=1.0)  # ignores init_std
    return lm


def token_blind_lm(model=None, **p):
    return TokenBlindLM(**p)


MUTANTS = {
    "sinusoidal_pe_matches_definition": [
        broken("sin in the odd dimensions", patched(ref(), sinusoidal_positional_encoding=pe_sin_only)),
    ],
    "sinusoidal_pe_shift_is_rotation": [
        broken("sin in the odd dimensions", patched(ref(), sinusoidal_positional_encoding=pe_sin_only)),
    ],
    "transformer_encoder_layer_matches_torch": [
        broken("pre-norm", replaced(ref(model="encoder_layer"), pre_norm_encoder_layer)),
    ],
    "transformer_decoder_layer_matches_torch": [
        broken("self-attention not causal", replaced(ref(model="decoder_layer"), non_causal_decoder_layer)),
    ],
    "transformer_encoder_permutation_equivariant": [
        broken("positional encoding inside the block", replaced(ref(model="encoder_layer"), positional_encoder_layer)),
    ],
    "transformer_no_future_leakage": [
        broken("LM not causal", replaced(ref(), non_causal_lm)),
        broken("decoder self-attention not causal", replaced(ref(model="decoder_layer"), non_causal_decoder_layer)),
        broken("encoder-decoder: decoder self-attention not causal", replaced(ref(**SEQ2SEQ), non_causal_seq2seq)),
        broken("encoder-decoder: cross-attention over the target", replaced(ref(**SEQ2SEQ), seq2seq_variant(SelfCrossSeq2Seq))),
    ],
    "transformer_lm_initial_loss_near_log_vocab": [
        broken("output weights N(0, 1)", replaced(ref(), unit_init_lm)),
    ],
    "transformer_lm_overfits_tiny_corpus": [
        # lr 0.01: the reference reaches the bound within the variant's 40 steps (at the suite's lr it needs ~60)
        broken("blind to the tokens", replaced(ref(), token_blind_lm), steps=40, lr=0.01),
    ],
    "transformer_seq2seq_matches_torch": [
        broken("embeddings not scaled by √d", replaced(ref(**SEQ2SEQ), seq2seq_variant(UnscaledSeq2Seq))),
        broken("cross-attention over the target", replaced(ref(**SEQ2SEQ), seq2seq_variant(SelfCrossSeq2Seq))),
        broken("source padding mask ignored", replaced(ref(**SEQ2SEQ), seq2seq_variant(MaskBlindSeq2Seq))),
        broken("decoder self-attention not causal", replaced(ref(**SEQ2SEQ), non_causal_seq2seq)),
        broken("extra LayerNorm after the encoder", replaced(ref(**SEQ2SEQ), seq2seq_variant(FinalNormSeq2Seq))),
    ],
    "transformer_seq2seq_source_padding_invariance": [
        broken("source padding mask ignored", replaced(ref(**SEQ2SEQ), seq2seq_variant(MaskBlindSeq2Seq))),
        broken("padding masked in the cross-attention only", replaced(ref(**SEQ2SEQ), seq2seq_variant(EncoderMaskBlindSeq2Seq))),
    ],
    "transformer_seq2seq_depends_on_source": [
        broken("cross-attention over the target", replaced(ref(**SEQ2SEQ), seq2seq_variant(SelfCrossSeq2Seq))),
    ],
    "transformer_seq2seq_greedy_equals_teacher_forcing": [
        broken("argmax of the first step's logits", replaced(ref(**SEQ2SEQ), seq2seq_variant(FirstStepGreedySeq2Seq))),
        broken("returns BOS, drops the last token", replaced(ref(**SEQ2SEQ), seq2seq_variant(BosKeepingGreedySeq2Seq))),
    ],
    "transformer_seq2seq_learns_reverse": [
        broken("cross-attention over the target", replaced(ref(model="seq2seq"), seq2seq_variant(SelfCrossSeq2Seq))),
    ],
}


# --- the LM against nn.TransformerEncoder; the encoding's widths ---------------------------------
class EmbeddingScaleLM(T.TransformerLM):
    """Token embeddings scaled by ``scale(d)`` instead of √d (1/√d: inverted; 1: dropped)."""

    scale = staticmethod(lambda d: 1.0)

    def forward(self, tokens):
        d = self.config.d_model
        x = self.embed(tokens) * self.scale(d)
        x = x + T.sinusoidal_positional_encoding(tokens.shape[1], d, device=x.device, dtype=x.dtype)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


class InvertedScaleLM(EmbeddingScaleLM):
    scale = staticmethod(lambda d: d ** -0.5)


class NegatedPositionsLM(T.TransformerLM):
    """√d E − PE: the positional encoding subtracted."""

    def forward(self, tokens):
        d = self.config.d_model
        x = self.embed(tokens) * d ** 0.5
        x = x - T.sinusoidal_positional_encoding(tokens.shape[1], d, device=x.device, dtype=x.dtype)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


def lm_variant(cls):
    def factory(model=None, **p):
        return cls(**p)
    factory.__qualname__ = cls.__name__
    return factory


def pe_odd_width_padded(length, d_model, base=T.PE_BASE, *, device=None, dtype=torch.float32):
    """No evenness check: an odd d gets d + 1 columns."""
    pos = torch.arange(length, dtype=torch.float64, device=device).unsqueeze(1)
    omega = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64, device=device) / d_model)
    return torch.stack([torch.sin(pos * omega), torch.cos(pos * omega)], dim=-1).flatten(1).to(dtype)


def pe_odd_width_truncated(length, d_model, base=T.PE_BASE, *, device=None, dtype=torch.float32):
    """An odd d answered by dropping the last cosine column."""
    return pe_odd_width_padded(length, d_model, base, device=device, dtype=dtype)[:, :d_model]


MUTANTS.update({
    "transformer_lm_matches_torch": [
        broken("embeddings not scaled by √d", replaced(ref(), lm_variant(EmbeddingScaleLM))),
        broken("embeddings divided by √d", replaced(ref(), lm_variant(InvertedScaleLM))),
        broken("embeddings divided by √d (float32)", replaced(ref(), lm_variant(InvertedScaleLM)), dtype="float32"),
        broken("positional encoding subtracted", replaced(ref(), lm_variant(NegatedPositionsLM))),
        broken("LM not causal", replaced(ref(), non_causal_lm)),
    ],
    "sinusoidal_pe_shape_and_odd_width": [
        broken("odd d gets d + 1 columns", patched(ref(), sinusoidal_positional_encoding=pe_odd_width_padded)),
        broken("odd d truncated", patched(ref(), sinusoidal_positional_encoding=pe_odd_width_truncated)),
    ],
})
