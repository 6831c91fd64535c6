"""Vanilla (Elman) RNN and LSTM, unrolled in Python so that backpropagation through time is
plain autograd through the loop.

Shapes are batch-first: inputs x (B, T, D), outputs y (B, T, H), hidden state h (B, H); the
LSTM's state is the pair :class:`LSTMState` ``(h, c)`` with c (B, H). State is passed
explicitly: ``initial_state(batch, device=, dtype=)`` gives zeros and ``forward(x, state)``
returns ``(y, state)`` (``state=None`` means the zero state), so running a sequence in two
halves, handing the state over, is the same computation as running it whole (truncated BPTT
detaches the handed-over state; that is the caller's choice).

Weight layout follows torch.nn.RNN / torch.nn.LSTM (single layer), so weights copy one-to-one:
``weight_ih`` (G·H, D), ``weight_hh`` (G·H, H), ``bias_ih`` (G·H,), ``bias_hh`` (G·H,) with
G = 1 for the RNN and G = 4 for the LSTM, whose gate rows are stacked in torch's order
(i, f, g, o): input gate, forget gate, candidate (cell input), output gate. Initialisation is
torch's: every entry uniform in (−1/√H, 1/√H).

Notes 004 write the LSTM gates as f_t = σ(W_f·[h_{t−1}, x_t]) without biases; this module uses
the standard form with biases (Gers et al. 2000; torch), W_f·[h, x] + b_f = W_hf h + W_if x +
b_if + b_hf: the notes' concatenated weight is [weight_hh rows | weight_ih rows] of the gate.
Torch keeps two bias vectors per gate (b_i* and b_h*); only their sum matters.

References
1. Notes 004, "Recurrent Neural Networks": h_t = f_W(x_t, h_{t−1}) with the same weights at
   every step; backpropagation through time; vanishing gradient over time; "LSTM gates".
2. Elman (1990), "Finding Structure in Time".
3. Hochreiter & Schmidhuber (1997), "Long Short-Term Memory".
4. Gers, Schmidhuber & Cummins (2000), "Learning to Forget: Continual Prediction with LSTM".
5. Bengio, Simard & Frasconi (1994), "Learning Long-Term Dependencies with Gradient Descent is
   Difficult"; Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent
   neural networks" (‖∂h_T/∂h_0‖ ≤ ‖W_hh‖₂^T for tanh units).
6. Jozefowicz, Zaremba & Sutskever (2015), "An Empirical Exploration of Recurrent Network
   Architectures" (a positive forget-gate bias).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

__all__ = [
    "RNNConfig", "LSTMConfig", "LSTMState", "LSTMGates", "rnn_cell", "lstm_cell", "rnn_forward",
    "lstm_forward", "RNN", "LSTM",
]


class LSTMState(NamedTuple):
    """LSTM state: hidden h (B, H) and cell c (B, H)."""

    h: torch.Tensor
    c: torch.Tensor


class LSTMGates(NamedTuple):
    """One step's gate activations, each (B, H): i, f, o in (0, 1); g (candidate) in (−1, 1)."""

    i: torch.Tensor
    f: torch.Tensor
    g: torch.Tensor
    o: torch.Tensor


@dataclass(frozen=True)
class RNNConfig:
    input_size: int
    hidden_size: int
    bias: bool = True


@dataclass(frozen=True)
class LSTMConfig:
    """``forget_bias``: when set, the forget-gate rows of ``bias_ih`` start at this value and
    those of ``bias_hh`` at 0 (Jozefowicz et al. 2015 use 1); None keeps torch's init."""

    input_size: int
    hidden_size: int
    bias: bool = True
    forget_bias: float | None = None


def _input_projection(x: torch.Tensor, W_ih: torch.Tensor, b_ih: torch.Tensor | None) -> torch.Tensor:
    """W_ih x + b_ih for every step at once: (..., D) -> (..., G·H) (one matmul for the sequence)."""
    z = x @ W_ih.T
    return z + b_ih if b_ih is not None else z


def _recurrent_projection(zx: torch.Tensor, h: torch.Tensor, W_hh: torch.Tensor, b_hh: torch.Tensor | None) -> torch.Tensor:
    """zx + W_hh h + b_hh: (B, G·H)."""
    z = zx + h @ W_hh.T
    return z + b_hh if b_hh is not None else z


def _lstm_update(z: torch.Tensor, c: torch.Tensor):
    """Gate pre-activations z = [z_i, z_f, z_g, z_o] (B, 4H) and c_{t−1} -> (h_t, c_t), gates."""
    z_i, z_f, z_g, z_o = z.chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(z_i), torch.sigmoid(z_f), torch.tanh(z_g), torch.sigmoid(z_o)
    c_new = f * c + i * g  # c_t = f ⊙ c_{t−1} + i ⊙ g
    h_new = o * torch.tanh(c_new)  # h_t = o ⊙ tanh(c_t)
    return LSTMState(h_new, c_new), LSTMGates(i, f, g, o)


def rnn_cell(x: torch.Tensor, h: torch.Tensor, W_ih: torch.Tensor, W_hh: torch.Tensor,
             b_ih: torch.Tensor | None = None, b_hh: torch.Tensor | None = None) -> torch.Tensor:
    """One Elman step: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh).

    Args: x (B, D), h (B, H), W_ih (H, D), W_hh (H, H), biases (H,). Returns h_t (B, H).
    """
    return torch.tanh(_recurrent_projection(_input_projection(x, W_ih, b_ih), h, W_hh, b_hh))


def lstm_cell(x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], W_ih: torch.Tensor,
              W_hh: torch.Tensor, b_ih: torch.Tensor | None = None, b_hh: torch.Tensor | None = None,
              return_gates: bool = False):
    """One LSTM step (notes 004's gate equations, with biases):

        [z_i, z_f, z_g, z_o] = W_ih x_t + b_ih + W_hh h_{t−1} + b_hh      (torch's row order)
        i_t = σ(z_i),  f_t = σ(z_f),  g_t = tanh(z_g),  o_t = σ(z_o)
        c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t
        h_t = o_t ⊙ tanh(c_t)

    Args: x (B, D), state (h, c) each (B, H), W_ih (4H, D), W_hh (4H, H), biases (4H,).
    Returns :class:`LSTMState` (h_t, c_t), and with ``return_gates`` also :class:`LSTMGates`.
    """
    h, c = state
    new, gates = _lstm_update(_recurrent_projection(_input_projection(x, W_ih, b_ih), h, W_hh, b_hh), c)
    return (new, gates) if return_gates else new


def rnn_forward(x: torch.Tensor, h0: torch.Tensor, W_ih: torch.Tensor, W_hh: torch.Tensor,
                b_ih: torch.Tensor | None = None, b_hh: torch.Tensor | None = None):
    """Unroll :func:`rnn_cell` over time with shared weights: h_t = tanh(W_ih x_t + W_hh h_{t−1} + b).

    The input projections W_ih x_t + b_ih of all steps are one matmul; only W_hh h_{t−1} is
    sequential. Args: x (B, T, D), h0 (B, H). Returns y = (h_1, …, h_T) as (B, T, H) and h_T (B, H).
    """
    zx = _input_projection(x, W_ih, b_ih)  # (B, T, H)
    h, ys = h0, []
    for t in range(x.shape[1]):
        h = torch.tanh(_recurrent_projection(zx[:, t], h, W_hh, b_hh))
        ys.append(h)
    y = torch.stack(ys, dim=1) if ys else x.new_zeros(x.shape[0], 0, h0.shape[-1])
    return y, h


def lstm_forward(x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], W_ih: torch.Tensor,
                 W_hh: torch.Tensor, b_ih: torch.Tensor | None = None, b_hh: torch.Tensor | None = None):
    """Unroll :func:`lstm_cell` over time with shared weights (input projections of all steps in
    one matmul, as in :func:`rnn_forward`).

    Args: x (B, T, D), state (h0, c0) each (B, H). Returns y = (h_1, …, h_T) as (B, T, H) and
    the final :class:`LSTMState` (h_T, c_T).
    """
    zx = _input_projection(x, W_ih, b_ih)  # (B, T, 4H)
    s, ys = LSTMState(*state), []
    for t in range(x.shape[1]):
        s, _ = _lstm_update(_recurrent_projection(zx[:, t], s.h, W_hh, b_hh), s.c)
        ys.append(s.h)
    y = torch.stack(ys, dim=1) if ys else x.new_zeros(x.shape[0], 0, s.h.shape[-1])
    return y, s


class _Recurrent(nn.Module):
    """Parameters in torch's single-layer layout with G gate blocks of H rows each."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        G, H = self.gates, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G * H, input_size))  # (G·H, D)
        self.weight_hh = nn.Parameter(torch.empty(G * H, H))  # (G·H, H)
        self.bias_ih = nn.Parameter(torch.empty(G * H)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(G * H)) if bias else None
        bound = 1.0 / math.sqrt(H)  # torch.nn.RNN/LSTM init: U(−1/√H, 1/√H)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _weights(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh


class RNN(_Recurrent):
    """Single-layer Elman RNN with tanh units, batch-first: forward(x (B, T, D), h (B, H) | None)
    -> (y (B, T, H), h_T (B, H))."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        self.config = RNNConfig(input_size, hidden_size, bias)
        super().__init__(input_size, hidden_size, bias)

    def initial_state(self, batch: int, device: torch.device | str | None = None,
                      dtype: torch.dtype | None = None) -> torch.Tensor:
        """h_0 = 0, (B, H); device/dtype default to the parameters'."""
        p = self.weight_hh
        return torch.zeros(batch, self.config.hidden_size, device=device or p.device, dtype=dtype or p.dtype)

    def cell(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One step with this module's weights (see :func:`rnn_cell`)."""
        return rnn_cell(x, h, *self._weights())

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None):
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        return rnn_forward(x, state, *self._weights())


class LSTM(_Recurrent):
    """Single-layer LSTM, batch-first: forward(x (B, T, D), (h, c) | None) -> (y (B, T, H),
    LSTMState(h_T, c_T)). Gate rows in torch's order (i, f, g, o)."""

    gates = 4

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, forget_bias: float | None = None):
        self.config = LSTMConfig(input_size, hidden_size, bias, forget_bias)
        super().__init__(input_size, hidden_size, bias)
        if forget_bias is not None and bias:
            H = hidden_size
            with torch.no_grad():
                self.bias_ih[H:2 * H].fill_(forget_bias)
                self.bias_hh[H:2 * H].zero_()

    def initial_state(self, batch: int, device: torch.device | str | None = None,
                      dtype: torch.dtype | None = None) -> LSTMState:
        """(h_0, c_0) = (0, 0), each (B, H); device/dtype default to the parameters'."""
        p = self.weight_hh
        z = torch.zeros(batch, self.config.hidden_size, device=device or p.device, dtype=dtype or p.dtype)
        return LSTMState(z, z.clone())

    def cell(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], return_gates: bool = False):
        """One step with this module's weights (see :func:`lstm_cell`)."""
        return lstm_cell(x, state, *self._weights(), return_gates=return_gates)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        return lstm_forward(x, state, *self._weights())
