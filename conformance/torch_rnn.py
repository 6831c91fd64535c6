"""torch.nn.RNN (tanh) as the ``rnn`` contract: ``--impl rnn=conformance.torch_rnn:RNN``.

Translation only: the model *is* a single-layer, batch-first ``torch.nn.RNN``; the contract's
``weight_ih``/``weight_hh``/``bias_ih``/``bias_hh`` are aliases of torch's ``*_l0`` parameters
(the same tensors, so in-place edits reach the recurrence), and the contract's state (B, H) is
torch's (1, B, H) without the layer axis. The cell core is ``torch.rnn_tanh_cell``, the op
behind ``torch.nn.RNNCell``.
"""
from __future__ import annotations

import torch
from torch import nn

from conformance import circular_for

DLH_CIRCULAR = circular_for(__name__)  # properties whose oracle is this code


def rnn_cell(x, h, W_ih, W_hh, b_ih=None, b_hh=None):
    """h′ = tanh(W_ih x + b_ih + W_hh h + b_hh), computed by torch.rnn_tanh_cell (nn.RNNCell's op)."""
    return torch.rnn_tanh_cell(x, h, W_ih, W_hh, b_ih, b_hh)


class RNN(nn.RNN):
    """torch.nn.RNN(nonlinearity='tanh', batch_first=True, num_layers=1); forward(x, h_0 (B, H))."""

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__(input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=bias, batch_first=True)

    weight_ih = property(lambda self: self.weight_ih_l0)
    weight_hh = property(lambda self: self.weight_hh_l0)
    bias_ih = property(lambda self: getattr(self, "bias_ih_l0", None))
    bias_hh = property(lambda self: getattr(self, "bias_hh_l0", None))

    def initial_state(self, batch, device=None, dtype=None):
        w = self.weight_hh_l0
        return torch.zeros(batch, self.hidden_size, device=device or w.device, dtype=dtype or w.dtype)

    def forward(self, x, h_0=None):
        if h_0 is None:
            h_0 = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        y, h_n = super().forward(x, h_0.unsqueeze(0))
        return y, h_n[0]
