"""Broken variants of the RNN checks and of the shared ``recurrent_*`` checks
(harness/checks/rnn.py): a dropped bias, ReLU units, a detached state, a residual recurrence,
a wrong backward, an ignored or non-zero initial state, a reversed time axis."""
from __future__ import annotations

import torch

from _broken import TanhNoDerivative
from harness.testing import broken, patched, replaced, subject_from
from reference_impls import rnn as M

RNN = subject_from("reference_impls.rnn:RNN", {"input_size": 4, "hidden_size": 6})
RNN_WIDE = subject_from("reference_impls.rnn:RNN", {"input_size": 4, "hidden_size": 32})


class _StepRNN(M.RNN):
    """The recurrence as a Python loop over ``step`` (subclasses break one step)."""

    def step(self, x_t, h):
        return M.rnn_cell(x_t, h, *self._weights())

    def forward(self, x, state=None):
        h = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype) if state is None else state
        ys = []
        for t in range(x.shape[1]):
            h = self.step(x[:, t], h)
            ys.append(h)
        return torch.stack(ys, 1), h


class NoHiddenBiasRNN(_StepRNN):
    """Forgets b_hh (torch adds both b_ih and b_hh)."""

    def step(self, x_t, h):
        return M.rnn_cell(x_t, h, self.weight_ih, self.weight_hh, self.bias_ih, None)


class ReluRNN(_StepRNN):
    def step(self, x_t, h):
        return torch.relu(x_t @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh)


class DetachedRNN(_StepRNN):
    """Truncates BPTT after every step (the state is detached)."""

    def step(self, x_t, h):
        return M.rnn_cell(x_t, h.detach(), *self._weights())


class ResidualRNN(_StepRNN):
    """h_t = h_{t−1} + tanh(…): the Jacobian does not vanish."""

    def step(self, x_t, h):
        return h + M.rnn_cell(x_t, h, *self._weights())


class WrongGradRNN(_StepRNN):
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


class EmptyWrongWidthRNN(M.RNN):
    """For T = 0 returns outputs as wide as the input (D) instead of the state (H)."""

    def forward(self, x, state=None):
        y, h = super().forward(x, state)
        return (x.new_zeros(x.shape[0], 0, x.shape[-1]) if x.shape[1] == 0 else y), h


class EmptyResetsStateRNN(M.RNN):
    """For T = 0 returns the zero state instead of the state it was given."""

    def forward(self, x, state=None):
        y, h = super().forward(x, state)
        return y, (torch.zeros_like(h) if x.shape[1] == 0 else h)


class NormalInitRNN(M.RNN):
    """Weights from N(0, 1/H) (std 1/√H) instead of U(−1/√H, 1/√H): unbounded."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        with torch.no_grad():
            for p in self.parameters():
                p.normal_(0.0, self.config.hidden_size ** -0.5)


class FanInInitRNN(M.RNN):
    """U(−1/H, 1/H) (1/H instead of 1/√H)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-1.0 / self.config.hidden_size, 1.0 / self.config.hidden_size)


def no_hidden_bias_rnn_cell(x, h, W_ih, W_hh, b_ih=None, b_hh=None):
    return M.rnn_cell(x, h, W_ih, W_hh, b_ih, None)


MUTANTS = {
    "rnn_equals_torch_rnn": [
        broken("hidden bias b_hh dropped", replaced(RNN, NoHiddenBiasRNN)),
        broken("ReLU instead of tanh", replaced(RNN, ReluRNN)),
    ],
    "rnn_cell_equals_torch_rnncell": [
        broken("rnn_cell drops b_hh", patched(RNN, rnn_cell=no_hidden_bias_rnn_cell)),
    ],
    "rnn_bptt_matches_torch": [
        broken("state detached every step", replaced(RNN, DetachedRNN)),
    ],
    "rnn_vanishing_gradient": [
        broken("residual recurrence h + tanh(…)", replaced(RNN, ResidualRNN)),
        broken("state detached every step", replaced(RNN, DetachedRNN)),
    ],
    "recurrent_state_handover": [
        broken("given state ignored", replaced(RNN, StateIgnoringRNN)),
    ],
    "recurrent_initial_state_is_zero": [
        broken("initial state of ones", replaced(RNN, OnesInitRNN)),
    ],
    "recurrent_output_is_causal": [
        broken("time axis reversed", replaced(RNN, ReversedRNN)),
    ],
    "recurrent_gradcheck": [
        broken("tanh backward without 1 − tanh²", replaced(RNN, WrongGradRNN)),
    ],
    "recurrent_empty_sequence": [
        broken("T = 0 outputs as wide as the input", replaced(RNN, EmptyWrongWidthRNN)),
        broken("T = 0 resets the state to zero", replaced(RNN, EmptyResetsStateRNN)),
    ],
    "recurrent_init_uniform": [
        broken("weights from N(0, 1/H)", replaced(RNN_WIDE, NormalInitRNN)),
        broken("weights from U(−1/H, 1/H)", replaced(RNN_WIDE, FanInInitRNN)),
    ],
}
