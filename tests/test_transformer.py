"""Unit tests of reference_impls.transformer (the checks' broken variants are in tests/mutants/transformer.py)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from reference_impls import transformer as T

SIZES = dict(vocab_size=16, src_vocab_size=12, d_model=32, nhead=4, dim_feedforward=64, num_layers=2)


def _seq2seq(**params):
    torch.manual_seed(0)
    return T.make_model("seq2seq", **{**SIZES, **params}).double()


def test_make_model_builds_the_encoder_decoder():
    m = _seq2seq()
    assert isinstance(m, T.TransformerSeq2Seq)
    assert m.src_embed.weight.shape == (12, 32) and m.tgt_embed.weight.shape == (16, 32)
    assert len(m.encoder.layers) == len(m.decoder.layers) == 2
    assert _seq2seq(src_vocab_size=None).src_embed.weight.shape == (16, 32)  # defaults to vocab_size
    with pytest.raises(ValueError, match="seq2seq"):
        T.make_model("translation")


def test_forward_is_decode_of_encode_and_shapes():
    m = _seq2seq()
    src, tgt = torch.randint(0, 12, (3, 7)), torch.randint(0, 16, (3, 5))
    mask = torch.arange(7) < torch.tensor([[7], [4], [2]])
    with torch.no_grad():
        memory = m.encode(src, mask)
        logits = m(src, tgt, mask)
    assert memory.shape == (3, 7, 32) and logits.shape == (3, 5, 16)
    assert torch.equal(logits, m.decode(tgt, memory, mask))


def test_greedy_decode_equals_teacher_forcing_on_its_own_output():
    """Re-scoring the greedy output with teacher forcing gives argmaxes equal to it; BOS is not returned."""
    m = _seq2seq()
    src = torch.randint(2, 12, (4, 6))
    y = m.greedy_decode(src, 5, bos=1)
    assert y.shape == (4, 5) and y.dtype == torch.long
    with torch.no_grad():
        logits = m(src, torch.cat([torch.ones(4, 1, dtype=torch.long), y[:, :-1]], dim=1))
    assert torch.equal(logits.argmax(-1), y)


def test_stacks_load_into_nn_transformer_without_its_final_norms():
    """The encoder and decoder keys are nn.Transformer's; nn.Transformer's default adds a LayerNorm after
    each stack (encoder.norm, decoder.norm), which the post-norm model of Vaswani et al. does not have."""
    m = _seq2seq()
    stacks = {k: v for k, v in m.state_dict().items() if k.startswith(("encoder.", "decoder."))}
    default = nn.Transformer(32, 4, 2, 2, 64, dropout=0.0, batch_first=True, dtype=torch.float64)
    missing, unexpected = default.load_state_dict(stacks, strict=False)
    assert not unexpected and sorted(missing) == ["decoder.norm.bias", "decoder.norm.weight",
                                                  "encoder.norm.bias", "encoder.norm.weight"]
    assert set(m.state_dict()) - set(stacks) == {"src_embed.weight", "tgt_embed.weight", "head.weight", "head.bias"}
