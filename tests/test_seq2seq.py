"""Unit tests of reference_impls.seq2seq (the checks' broken variants are in tests/mutants/seq2seq.py)."""
from __future__ import annotations

import torch

from reference_impls import attention as A
from reference_impls import seq2seq as S


def test_generate_equals_teacher_forcing_on_its_own_output():
    """Greedy decoding and teacher forcing are the same decoder: re-scoring the greedy output with
    teacher forcing gives argmaxes equal to it."""
    torch.manual_seed(0)
    m = S.make_model(vocab_size=10, embed_dim=16, hidden=32).double()
    src = torch.randint(2, 10, (4, 6))
    out = m.generate(src, 5)
    with torch.no_grad():
        logits = m(src, S.teacher_forcing_inputs(out, m.config.bos_id))
    assert torch.equal(logits.argmax(-1), out)
    assert isinstance(m.decoder.attention, A.LuongAttention)
