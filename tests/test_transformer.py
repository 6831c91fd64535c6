"""Every transformer check accepts reference_impls.transformer and rejects a broken variant."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.registry import Subject
from harness.testing import patched, run_check
from reference_impls import transformer as T

LM = {"vocab_size": 16, "d_model": 32, "nhead": 4, "dim_feedforward": 64, "num_layers": 2, "init_std": 0.02}


def ref(**params) -> Subject:
    return Subject("reference_impls.transformer:make_model", T.make_model, {"model": "lm", **LM, **params}, T)


def bad(factory, **params) -> Subject:
    return Subject(getattr(factory, "__name__", "broken"), factory, {**LM, **params}, T)


def _layer_args(p):
    return p["d_model"], p["nhead"], p["dim_feedforward"]


# -- broken variants ---------------------------------------------------------------------------
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


def non_causal_decoder_layer(**p):
    layer = T.TransformerDecoderLayer(*_layer_args(p))
    layer.self_attn.causal = False
    return layer


def non_causal_lm(**p):
    lm = T.TransformerLM(**p)
    for layer in lm.layers:
        layer.causal = False
    return lm


def unit_init_lm(**p):
    lm = T.TransformerLM(**p)
    nn.init.normal_(lm.head.weight, std=1.0)  # ignores init_std
    return lm


class TokenBlindLM(T.TransformerLM):
    """Sees positions only: cannot memorise which token follows which."""

    def forward(self, tokens):
        return super().forward(torch.zeros_like(tokens))


# -- the reference passes ----------------------------------------------------------------------
SANITY = [
    ("sinusoidal_pe_matches_definition", {}, {}),
    ("sinusoidal_pe_shift_is_rotation", {}, {}),
    ("transformer_encoder_layer_matches_torch", {"model": "encoder_layer"}, {"masking": "none"}),
    ("transformer_encoder_layer_matches_torch", {"model": "encoder_layer"}, {"masking": "padding"}),
    ("transformer_encoder_layer_matches_torch", {"model": "encoder_layer", "activation": "gelu"}, {"masking": "causal"}),
    ("transformer_decoder_layer_matches_torch", {"model": "decoder_layer"}, {}),
    ("transformer_encoder_permutation_equivariant", {"model": "encoder_layer"}, {}),
    ("transformer_no_future_leakage", {}, {}),
    ("transformer_no_future_leakage", {"model": "decoder_layer"}, {}),
    ("transformer_lm_initial_loss_near_log_vocab", {}, {}),
    ("transformer_lm_overfits_tiny_corpus", {}, {}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,params,kw", SANITY, ids=[f"{n}-{'-'.join(map(str, p.values()))}{k.get('masking', '')}" for n, p, k in SANITY])
def test_reference_passes(name, params, kw, dtype):
    if dtype == "float32" and name in ("sinusoidal_pe_shift_is_rotation", "transformer_lm_overfits_tiny_corpus",
                                       "transformer_lm_initial_loss_near_log_vocab", "transformer_encoder_permutation_equivariant"):
        pytest.skip("suite runs it in float64 only")
    out = run_check(name, ref(**params), dtype=dtype, **kw)
    assert out.passed, out.line()


# -- each check rejects a broken variant -------------------------------------------------------
def test_pe_definition_rejects_sin_only():
    assert not run_check("sinusoidal_pe_matches_definition", patched(ref(), sinusoidal_positional_encoding=pe_sin_only)).passed


def test_pe_rotation_rejects_sin_only():
    assert not run_check("sinusoidal_pe_shift_is_rotation", patched(ref(), sinusoidal_positional_encoding=pe_sin_only)).passed


def test_encoder_layer_rejects_pre_norm():
    broken = bad(lambda **p: PreNormEncoderLayer(*_layer_args(p)))
    assert not run_check("transformer_encoder_layer_matches_torch", broken).passed


def test_decoder_layer_rejects_missing_causal_mask():
    assert not run_check("transformer_decoder_layer_matches_torch", bad(non_causal_decoder_layer)).passed


def test_permutation_equivariance_rejects_positions_inside():
    broken = bad(lambda **p: PositionalEncoderLayer(*_layer_args(p)))
    assert not run_check("transformer_encoder_permutation_equivariant", broken).passed


def test_no_future_leakage_rejects_non_causal_models():
    assert not run_check("transformer_no_future_leakage", bad(non_causal_lm)).passed
    assert not run_check("transformer_no_future_leakage", bad(non_causal_decoder_layer)).passed


def test_initial_loss_rejects_unit_init():
    assert not run_check("transformer_lm_initial_loss_near_log_vocab", bad(unit_init_lm)).passed


def test_overfit_rejects_token_blind_lm():
    assert not run_check("transformer_lm_overfits_tiny_corpus", bad(TokenBlindLM), steps=40).passed
