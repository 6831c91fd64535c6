"""torch.nn.LSTM / LSTMCell as the ``lstm`` contract: ``--impl lstm=conformance.torch_lstm:LSTM``.

Translation only: the model *is* a single-layer, batch-first ``torch.nn.LSTM`` (gate rows in
torch's order i, f, g, o, which the contract adopted); ``weight_ih`` etc. alias torch's ``*_l0``
parameters and the state (h, c), each (B, H), is torch's pair of (1, B, H) tensors without the
layer axis. The cell core is ``torch.lstm_cell``, the op behind ``torch.nn.LSTMCell``.

Not offered by torch: the gate activations (``lstm_cell(..., return_gates=True)``; neither
nn.LSTM nor nn.LSTMCell nor torch.lstm_cell exposes i, f, g, o) and a ``forget_bias``
constructor option; both raise NotImplementedError rather than being re-derived here.
"""
from __future__ import annotations

import torch
from torch import nn

from conformance import circular_for

DLH_CIRCULAR = circular_for(__name__)  # properties whose oracle is this code


def lstm_cell(x, state, W_ih, W_hh, b_ih=None, b_hh=None, return_gates=False):
    """(h′, c′) of one step, computed by torch.lstm_cell (nn.LSTMCell's op)."""
    if return_gates:
        raise NotImplementedError("torch.lstm_cell / nn.LSTMCell do not expose the gate activations")
    return torch.lstm_cell(x, tuple(state), W_ih, W_hh, b_ih, b_hh)


class LSTM(nn.LSTM):
    """torch.nn.LSTM(batch_first=True, num_layers=1); forward(x, (h_0, c_0) each (B, H))."""

    def __init__(self, input_size, hidden_size, bias=True, forget_bias=None):
        if forget_bias is not None:
            raise NotImplementedError("torch.nn.LSTM has no forget_bias option")
        super().__init__(input_size, hidden_size, num_layers=1, bias=bias, batch_first=True)

    weight_ih = property(lambda self: self.weight_ih_l0)
    weight_hh = property(lambda self: self.weight_hh_l0)
    bias_ih = property(lambda self: getattr(self, "bias_ih_l0", None))
    bias_hh = property(lambda self: getattr(self, "bias_hh_l0", None))

    def initial_state(self, batch, device=None, dtype=None):
        w = self.weight_hh_l0
        z = torch.zeros(batch, self.hidden_size, device=device or w.device, dtype=dtype or w.dtype)
        return z, z.clone()

    def forward(self, x, state=None):
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        h_0, c_0 = state
        y, (h_n, c_n) = super().forward(x, (h_0.unsqueeze(0), c_0.unsqueeze(0)))
        return y, (h_n[0], c_n[0])
