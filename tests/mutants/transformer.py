"""Broken variants for the transformer suite's checks (harness/checks/transformer.py)."""
from __future__ import annotations

import torch
from torch import nn

from harness.testing import broken, patched, replaced, subject_from
from reference_impls import transformer as T

PARAMS = {"model": "lm", "vocab_size": 16, "d_model": 32, "nhead": 4, "dim_feedforward": 64, "num_layers": 2,
          "init_std": 0.02, "activation": "relu"}


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
    ],
    "transformer_lm_initial_loss_near_log_vocab": [
        broken("output weights N(0, 1)", replaced(ref(), unit_init_lm)),
    ],
    "transformer_lm_overfits_tiny_corpus": [
        # lr 0.01: the reference reaches the bound within the variant's 40 steps (at the suite's lr it needs ~60)
        broken("blind to the tokens", replaced(ref(), token_blind_lm), steps=40, lr=0.01),
    ],
}
