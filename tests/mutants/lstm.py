"""Broken variants of the LSTM checks (harness/checks/lstm.py): gate rows read in the wrong order,
a detached cell state, pre-activations or hard (exactly saturating) gates, a missing tanh on the
cell output."""
from __future__ import annotations

import torch

from harness.testing import broken, patched, replaced, subject_from
from reference_impls import rnn as M

LSTM = subject_from("reference_impls.rnn:LSTM", {"input_size": 4, "hidden_size": 5})


class _StepLSTM(M.LSTM):
    """The recurrence as a Python loop over ``step`` (subclasses break one step)."""

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


def detached_lstm_cell(x, state, W_ih, W_hh, b_ih=None, b_hh=None, return_gates=False):
    """The right step, returned detached: nothing trains through it."""
    out = M.lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh, return_gates=return_gates)
    new = out[0] if return_gates else out
    new = type(new)(*(t.detach() for t in new))
    return (new, out[1]) if return_gates else new


class HalfGradientCellLSTM(M.LSTM):
    """model.cell scales the gradient through c′ by ½ (same values)."""

    def cell(self, x, state, return_gates=False):
        h, c = M.lstm_cell(x, state, *self._weights())
        return type(state)(h, 0.5 * c + 0.5 * c.detach()) if hasattr(state, "_fields") else (h, 0.5 * c + 0.5 * c.detach())


class SwappedGatesLSTM(_StepLSTM):
    def step(self, x_t, s):
        return swapped_lstm_cell(x_t, s, *self._weights())


class DetachedCellLSTM(_StepLSTM):
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


def hard_gates_cell(x, state, W_ih, W_hh, b_ih=None, b_hh=None, return_gates=False):
    """Hard sigmoid clamp(z/6 + 1/2, 0, 1) and hardtanh gates: inside [0, 1], but exactly 0 or 1
    (−1 or 1) once saturated."""
    h, c = state
    z_i, z_f, z_g, z_o = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, -1)
    i, f, o = ((z / 6 + 0.5).clamp(0, 1) for z in (z_i, z_f, z_o))
    g = z_g.clamp(-1, 1)
    c_new = f * c + i * g
    new = M.LSTMState(o * torch.tanh(c_new), c_new)
    return (new, M.LSTMGates(i, f, g, o)) if return_gates else new


class InputGateBiasLSTM(M.LSTM):
    """Puts the forget bias on the input gate's rows (0..H) instead of the forget gate's."""

    def __init__(self, input_size, hidden_size, bias=True, forget_bias=None):
        super().__init__(input_size, hidden_size, bias, None)
        if forget_bias is not None:
            with torch.no_grad():
                self.bias_ih[:hidden_size].fill_(forget_bias)
                self.bias_hh[:hidden_size].zero_()


class DoubleForgetBiasLSTM(M.LSTM):
    """Sets both bias_ih and bias_hh forget rows to b_f: the gate's bias is 2 b_f."""

    def __init__(self, input_size, hidden_size, bias=True, forget_bias=None):
        super().__init__(input_size, hidden_size, bias, forget_bias)
        if forget_bias is not None:
            with torch.no_grad():
                self.bias_hh[hidden_size:2 * hidden_size].fill_(forget_bias)


MUTANTS = {
    "lstm_equals_torch_lstm": [
        broken("gate rows read as (f, i, g, o)", replaced(LSTM, SwappedGatesLSTM)),
    ],
    "lstm_cell_equals_torch_lstmcell": [
        broken("lstm_cell reads gate rows as (f, i, g, o)", patched(LSTM, lstm_cell=swapped_lstm_cell)),
        broken("lstm_cell's step returned detached", patched(LSTM, lstm_cell=detached_lstm_cell)),
        broken("model.cell halves the gradient through c′", replaced(LSTM, HalfGradientCellLSTM)),
    ],
    "lstm_gates_in_unit_interval": [
        broken("pre-activations reported as gates", patched(LSTM, lstm_cell=preactivation_gates_cell)),
        broken("hard sigmoid and hardtanh gates", patched(LSTM, lstm_cell=hard_gates_cell)),
    ],
    "lstm_gate_equations": [
        broken("h = o ⊙ c (no tanh)", patched(LSTM, lstm_cell=no_output_tanh_cell)),
        broken("lstm_cell reads gate rows as (f, i, g, o)", patched(LSTM, lstm_cell=swapped_lstm_cell)),
    ],
    "lstm_bptt_matches_torch": [
        broken("cell state detached every step", replaced(LSTM, DetachedCellLSTM)),
    ],
    "lstm_forget_bias_keeps_gradient": [
        broken("gate rows read as (f, i, g, o)", replaced(LSTM, SwappedGatesLSTM)),
        broken("cell state detached every step", replaced(LSTM, DetachedCellLSTM)),
    ],
    "lstm_forget_bias_init": [
        broken("forget bias on the input gate's rows", replaced(LSTM, InputGateBiasLSTM)),
        broken("forget bias in both bias_ih and bias_hh", replaced(LSTM, DoubleForgetBiasLSTM)),
    ],
}
