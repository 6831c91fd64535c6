"""Every recurrent check accepts reference_impls.rnn's RNN / LSTM and rejects a deliberately broken
variant (a dropped bias, a swapped gate order, a detached state, a reversed time axis, ...)."""
from __future__ import annotations

import pytest
import torch

from harness.registry import Subject
from harness.testing import patched, run_check
from reference_impls import rnn as M
from _broken import TanhNoDerivative

RNN_PARAMS = {"input_size": 4, "hidden_size": 6}
LSTM_PARAMS = {"input_size": 4, "hidden_size": 5}


def _subj(cls, **params) -> Subject:
    """A class subject whose functional cores come from reference_impls.rnn."""
    return Subject(f"tests:{cls.__name__}", cls, params, M)


RNN = _subj(M.RNN, **RNN_PARAMS)
LSTM = _subj(M.LSTM, **LSTM_PARAMS)


# --- broken recurrent models ------------------------------------------------------------------
class _BrokenRNN(M.RNN):
    def step(self, x_t, h):
        return M.rnn_cell(x_t, h, *self._weights())

    def forward(self, x, state=None):
        h = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype) if state is None else state
        ys = []
        for t in range(x.shape[1]):
            h = self.step(x[:, t], h)
            ys.append(h)
        return torch.stack(ys, 1), h


class NoHiddenBiasRNN(_BrokenRNN):
    """Forgets b_hh (torch adds both b_ih and b_hh)."""

    def step(self, x_t, h):
        return M.rnn_cell(x_t, h, self.weight_ih, self.weight_hh, self.bias_ih, None)


class ReluRNN(_BrokenRNN):
    def step(self, x_t, h):
        return torch.relu(x_t @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh)


class DetachedRNN(_BrokenRNN):
    """Truncates BPTT after every step (the state is detached)."""

    def step(self, x_t, h):
        return M.rnn_cell(x_t, h.detach(), *self._weights())


class ResidualRNN(_BrokenRNN):
    """h_t = h_{t−1} + tanh(…): the Jacobian does not vanish."""

    def step(self, x_t, h):
        return h + M.rnn_cell(x_t, h, *self._weights())


class WrongGradRNN(_BrokenRNN):
    def step(self, x_t, h):
        return TanhNoDerivative.apply(x_t @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh)


class StateIgnoringRNN(M.RNN):
    """Always starts from zeros, whatever state it is given."""

    def forward(self, x, state=None):
        return super().forward(x, None)


class OnesInitRNN(M.RNN):
    def initial_state(self, batch, device=None, dtype=None):
        return torch.ones(batch, self.config.hidden_size, device=device, dtype=dtype)


class ReversedRNN(M.RNN):
    """Reads the sequence backwards: y_t depends on the future."""

    def forward(self, x, state=None):
        y, h = super().forward(x.flip(1), state)
        return y.flip(1), h


class _BrokenLSTM(M.LSTM):
    def step(self, x_t, s):
        return M.lstm_cell(x_t, s, *self._weights())

    def forward(self, x, state=None):
        s = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype) if state is None else M.LSTMState(*state)
        ys = []
        for t in range(x.shape[1]):
            s = M.LSTMState(*self.step(x[:, t], s))
            ys.append(s.h)
        return torch.stack(ys, 1), s


def _swap_if(W: torch.Tensor | None, H: int) -> torch.Tensor | None:
    """Gate rows reordered (i, f, g, o) -> (f, i, g, o)."""
    return None if W is None else torch.cat([W[H:2 * H], W[:H], W[2 * H:]])


def swapped_lstm_cell(x, state, W_ih, W_hh, b_ih=None, b_hh=None, return_gates=False):
    """Reads the gate rows in the order (f, i, g, o) instead of torch's (i, f, g, o)."""
    H = W_hh.shape[1]
    return M.lstm_cell(x, state, _swap_if(W_ih, H), _swap_if(W_hh, H), _swap_if(b_ih, H), _swap_if(b_hh, H),
                       return_gates=return_gates)


class SwappedGatesLSTM(_BrokenLSTM):
    def step(self, x_t, s):
        return swapped_lstm_cell(x_t, s, *self._weights())


class DetachedCellLSTM(_BrokenLSTM):
    """Stops the gradient through the cell state c_{t−1}."""

    def step(self, x_t, s):
        return M.lstm_cell(x_t, (s.h, s.c.detach()), *self._weights())


def preactivation_gates_cell(x, state, W_ih, W_hh, b_ih=None, b_hh=None, return_gates=False):
    """Returns the gate pre-activations z instead of σ(z) / tanh(z) as the gates."""
    new = M.lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh)
    z = x @ W_ih.T + b_ih + state[0] @ W_hh.T + b_hh
    return (new, M.LSTMGates(*z.chunk(4, -1))) if return_gates else new


def no_output_tanh_cell(x, state, W_ih, W_hh, b_ih=None, b_hh=None, return_gates=False):
    """h_t = o ⊙ c_t (forgets the tanh of the cell state)."""
    (h, c), g = M.lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh, return_gates=True)
    new = M.LSTMState(g.o * c, c)
    return (new, g) if return_gates else new


def no_hidden_bias_rnn_cell(x, h, W_ih, W_hh, b_ih=None, b_hh=None):
    return M.rnn_cell(x, h, W_ih, W_hh, b_ih, None)


# --- the reference passes ---------------------------------------------------------------------
RNN_CHECKS = ["rnn_equals_torch_rnn", "rnn_cell_equals_torch_rnncell", "rnn_bptt_matches_torch", "rnn_vanishing_gradient",
              "recurrent_state_handover", "recurrent_initial_state_is_zero", "recurrent_output_is_causal",
              "recurrent_gradcheck"]
LSTM_CHECKS = ["lstm_equals_torch_lstm", "lstm_cell_equals_torch_lstmcell", "lstm_gates_in_unit_interval",
               "lstm_gate_equations", "lstm_bptt_matches_torch", "lstm_forget_bias_keeps_gradient",
               "recurrent_state_handover", "recurrent_initial_state_is_zero", "recurrent_output_is_causal",
               "recurrent_gradcheck"]


@pytest.mark.parametrize("name", RNN_CHECKS)
def test_reference_rnn_passes(name):
    out = run_check(name, RNN)
    assert out.passed, out.line()


@pytest.mark.parametrize("name", LSTM_CHECKS)
def test_reference_lstm_passes(name):
    out = run_check(name, LSTM)
    assert out.passed, out.line()


@pytest.mark.parametrize("name", ["rnn_equals_torch_rnn", "lstm_equals_torch_lstm"])
def test_reference_passes_float32(name):
    out = run_check(name, RNN if name.startswith("rnn") else LSTM, dtype="float32", steps=20)
    assert out.passed, out.line()


def test_forget_bias_config_sets_forget_rows():
    m = M.LSTM(3, 4, forget_bias=1.0)
    assert torch.equal(m.bias_ih[4:8], torch.ones(4)) and torch.equal(m.bias_hh[4:8], torch.zeros(4))


# --- every check rejects a broken variant -----------------------------------------------------
def test_rnn_equals_torch_rnn_rejects_missing_hidden_bias_and_relu():
    assert not run_check("rnn_equals_torch_rnn", _subj(NoHiddenBiasRNN, **RNN_PARAMS)).passed
    assert not run_check("rnn_equals_torch_rnn", _subj(ReluRNN, **RNN_PARAMS)).passed


def test_rnn_cell_equals_torch_rnncell_rejects_missing_hidden_bias():
    bad = patched(RNN, rnn_cell=no_hidden_bias_rnn_cell)
    assert not run_check("rnn_cell_equals_torch_rnncell", bad).passed


def test_rnn_bptt_matches_torch_rejects_detached_state():
    assert not run_check("rnn_bptt_matches_torch", _subj(DetachedRNN, **RNN_PARAMS)).passed


def test_rnn_vanishing_gradient_rejects_residual_and_detached():
    assert not run_check("rnn_vanishing_gradient", _subj(ResidualRNN, **RNN_PARAMS)).passed
    assert not run_check("rnn_vanishing_gradient", _subj(DetachedRNN, **RNN_PARAMS)).passed


def test_recurrent_state_handover_rejects_ignored_state():
    assert not run_check("recurrent_state_handover", _subj(StateIgnoringRNN, **RNN_PARAMS)).passed


def test_recurrent_initial_state_is_zero_rejects_ones():
    assert not run_check("recurrent_initial_state_is_zero", _subj(OnesInitRNN, **RNN_PARAMS)).passed


def test_recurrent_output_is_causal_rejects_reversed_time():
    assert not run_check("recurrent_output_is_causal", _subj(ReversedRNN, **RNN_PARAMS)).passed


def test_recurrent_gradcheck_rejects_wrong_backward():
    assert not run_check("recurrent_gradcheck", _subj(WrongGradRNN, **RNN_PARAMS)).passed


def test_lstm_equals_torch_lstm_rejects_swapped_gates():
    assert not run_check("lstm_equals_torch_lstm", _subj(SwappedGatesLSTM, **LSTM_PARAMS)).passed


def test_lstm_cell_equals_torch_lstmcell_rejects_swapped_gates():
    assert not run_check("lstm_cell_equals_torch_lstmcell", patched(LSTM, lstm_cell=swapped_lstm_cell)).passed


def test_lstm_gates_in_unit_interval_rejects_preactivations():
    assert not run_check("lstm_gates_in_unit_interval", patched(LSTM, lstm_cell=preactivation_gates_cell)).passed


def test_lstm_gate_equations_rejects_missing_output_tanh_and_swapped_gates():
    assert not run_check("lstm_gate_equations", patched(LSTM, lstm_cell=no_output_tanh_cell)).passed
    assert not run_check("lstm_gate_equations", patched(LSTM, lstm_cell=swapped_lstm_cell)).passed


def test_lstm_bptt_matches_torch_rejects_detached_cell():
    assert not run_check("lstm_bptt_matches_torch", _subj(DetachedCellLSTM, **LSTM_PARAMS)).passed


def test_lstm_forget_bias_keeps_gradient_rejects_swapped_gates_and_detached_cell():
    assert not run_check("lstm_forget_bias_keeps_gradient", _subj(SwappedGatesLSTM, **LSTM_PARAMS)).passed
    assert not run_check("lstm_forget_bias_keeps_gradient", _subj(DetachedCellLSTM, **LSTM_PARAMS)).passed
