"""reference_impls.rnn beyond the checks' broken variants (tests/mutants/rnn.py, lstm.py): the
forget-bias option, and agreement with torch in float32 over a longer sequence than the suites'."""
from __future__ import annotations

import pytest
import torch

from harness.testing import run_check, subject_from
from reference_impls import rnn as M

RNN = subject_from("reference_impls.rnn:RNN", {"input_size": 4, "hidden_size": 6})
LSTM = subject_from("reference_impls.rnn:LSTM", {"input_size": 4, "hidden_size": 5})


@pytest.mark.parametrize("name", ["rnn_equals_torch_rnn", "lstm_equals_torch_lstm"])
def test_reference_passes_float32(name):
    out = run_check(name, RNN if name.startswith("rnn") else LSTM, dtype="float32", steps=20)
    assert out.passed, out.line()


def test_forget_bias_config_sets_forget_rows():
    m = M.LSTM(3, 4, forget_bias=1.0)
    assert torch.equal(m.bias_ih[4:8], torch.ones(4)) and torch.equal(m.bias_hh[4:8], torch.zeros(4))
