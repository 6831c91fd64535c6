"""Neural Turing Machine: a controller with read and write heads on an external memory.

Shapes (batch first): memory M (B, N, W) with N rows ("slots") of width W; a weighting w over
the rows (B, N); a key k (B, W); scalars β, g, γ (B,) or (B, 1); a shift distribution s
(B, 2K+1) over the offsets −K..K in ascending order, so ``s[..., K + d]`` is the probability of
shifting by d. Sequences are (B, T, input_size); the model returns logits (B, T, output_size)
and its state, which it never keeps on ``self``.

Addressing chain (Graves et al. 2014, section 3.3; pytorch-ntm's similarity -> interpolate ->
shift -> sharpen), one function per step:

1. :func:`content_addressing`  w_c(i) = softmax_i(β · K(k, M_i)), K the cosine similarity;
2. :func:`interpolate`         w_g = g · w_c + (1 − g) · w_prev;
3. :func:`circular_shift`      w̃(i) = Σ_j w_g(j) · s((i − j) mod N);
4. :func:`sharpen`             w(i) = w̃(i)^γ / Σ_j w̃(j)^γ, γ ≥ 1;
5. :func:`read`  r = Σ_i w(i) M_i;  :func:`write`  M_i ← M_i ⊙ (1 − w(i) e) + w(i) a.

Shift direction (spelled out because implementations differ): shifting by +d moves weight from
row i to row (i + d) mod N, exactly as ``torch.roll(w, d, dims=-1)`` does; this is eq. 8 of the
paper, w̃(i) = Σ_j w(j) s(i − j). (pytorch-ntm's ``F.conv1d`` cross-correlates, so there the
first entry of s is the +1 shift; here s is ordered −K..K.)

Head activations: key k raw; β = softplus(·) ≥ 0; g = σ(·); s = softmax(·); γ = 1 + softplus(·);
erase e = σ(·) ∈ (0, 1); add a = tanh(·). Initial read/write weightings are one-hot on row 0 (a
distribution, from which location-based shifts can walk); the initial memory is a learned
(N, W) parameter.

References
1. Graves, Wayne, Danihelka (2014), "Neural Turing Machines", arXiv:1410.5401 (sections 3.1-3.3,
   eqs. 2-9; the copy task of section 4.1).
2. Course notes 000, "Neural Turing Machines" (controller, read/write heads, memory matrix).
3. pytorch-ntm (Guy Zana), the reference layout of the addressing chain.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "NTMConfig", "NTMState", "NTM",
    "content_addressing", "interpolate", "circular_shift", "sharpen", "address", "read", "write",
    "COSINE_EPS",
]

COSINE_EPS = 1e-8  # norms below this are clamped in the cosine similarity (as F.cosine_similarity)


def _col(x: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """A per-batch scalar as a (B, 1) column (floats broadcast)."""
    x = torch.as_tensor(x, dtype=like.dtype, device=like.device)
    return x.reshape(-1, 1) if x.dim() > 0 else x


def content_addressing(memory: torch.Tensor, key: torch.Tensor, beta: torch.Tensor | float) -> torch.Tensor:
    """w_c(i) = exp(β K(k, M_i)) / Σ_j exp(β K(k, M_j)), K(u, v) = u·v / (‖u‖ ‖v‖) (eqs. 5-6).

    Norms are clamped below at :data:`COSINE_EPS`, so a zero row has similarity 0.

    Args: memory (B, N, W), key (B, W), beta (B,), (B, 1) or a float, β ≥ 0.
    Returns: (B, N), a distribution over rows.
    """
    k_norm = torch.linalg.vector_norm(key, dim=-1, keepdim=True).clamp_min(COSINE_EPS)    # (B, 1)
    m_norm = torch.linalg.vector_norm(memory, dim=-1).clamp_min(COSINE_EPS)               # (B, N)
    cos = torch.einsum("bnw,bw->bn", memory, key) / (m_norm * k_norm)                     # (B, N)
    return torch.softmax(_col(beta, cos) * cos, dim=-1)


def interpolate(w_content: torch.Tensor, w_prev: torch.Tensor, g: torch.Tensor | float) -> torch.Tensor:
    """w_g = g · w_c + (1 − g) · w_prev, g ∈ [0, 1] (eq. 7). (B, N) -> (B, N)."""
    g = _col(g, w_content)
    return g * w_content + (1 - g) * w_prev


def circular_shift(w: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """w̃(i) = Σ_j w(j) s((i − j) mod N) (eq. 8), s over offsets −K..K (ascending).

    A shift by +d moves weight from row i to row (i + d) mod N (as ``torch.roll(w, d)``).

    Args: w (B, N); s (B, 2K+1) with 2K + 1 ≤ N.
    Returns: (B, N).
    """
    n, width = w.shape[-1], s.shape[-1]
    K = (width - 1) // 2
    if width % 2 != 1 or width > n:
        raise ValueError(f"shift distribution needs an odd length <= N = {n}, got {width}")
    offsets = torch.arange(-K, K + 1, device=w.device)                                  # (2K+1,)
    src = (torch.arange(n, device=w.device)[:, None] - offsets[None, :]) % n            # (N, 2K+1): j = i − d
    return (w[:, src] * s[:, None, :]).sum(-1)                                           # Σ_d w(i − d) s(d)


def sharpen(w: torch.Tensor, gamma: torch.Tensor | float) -> torch.Tensor:
    """w(i) = w̃(i)^γ / Σ_j w̃(j)^γ, γ ≥ 1 (eq. 9), computed as softmax(γ log w̃) so a large γ
    cannot underflow every entry to 0/0 (entries are clamped at the dtype's tiny first)."""
    logw = torch.log(w.clamp_min(torch.finfo(w.dtype).tiny))
    return torch.softmax(_col(gamma, w) * logw, dim=-1)


def address(memory: torch.Tensor, key: torch.Tensor, beta: torch.Tensor | float, g: torch.Tensor | float,
            s: torch.Tensor, gamma: torch.Tensor | float, w_prev: torch.Tensor) -> torch.Tensor:
    """The addressing chain: sharpen(circular_shift(interpolate(content_addressing(M, k, β),
    w_prev, g), s), γ). Returns (B, N)."""
    w_c = content_addressing(memory, key, beta)
    return sharpen(circular_shift(interpolate(w_c, w_prev, g), s), gamma)


def read(memory: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """r = Σ_i w(i) M_i (eq. 2). memory (B, N, W), w (B, N) -> (B, W)."""
    return torch.einsum("bn,bnw->bw", w, memory)


def write(memory: torch.Tensor, w: torch.Tensor, erase: torch.Tensor, add: torch.Tensor) -> torch.Tensor:
    """M_i ← M_i ⊙ (1 − w(i) e) + w(i) a (eqs. 3-4: erase, then add).

    Args: memory (B, N, W), w (B, N), erase e ∈ [0, 1]^W (B, W), add a (B, W).
    Returns: the new memory (B, N, W) (the input is not modified).
    """
    w = w.unsqueeze(-1)                                                                  # (B, N, 1)
    return memory * (1 - w * erase.unsqueeze(1)) + w * add.unsqueeze(1)


@dataclass(frozen=True)
class NTMConfig:
    input_size: int = 9
    output_size: int = 8
    controller_size: int = 64
    memory_rows: int = 32          # N
    memory_width: int = 16         # W
    read_heads: int = 1
    shift_range: int = 1           # K: shifts over −K..K
    controller: str = "lstm"       # "lstm" or "mlp" (feed-forward)


@dataclass(frozen=True)
class NTMState:
    """Everything carried from one time step to the next."""

    memory: torch.Tensor           # (B, N, W)
    read_weights: torch.Tensor     # (B, R, N)
    write_weights: torch.Tensor    # (B, N)
    reads: torch.Tensor            # (B, R, W)
    controller: tuple[torch.Tensor, ...]  # LSTM (h, c), each (B, H); () for the MLP controller


class NTM(nn.Module):
    """NTM with an LSTM (or MLP) controller, ``read_heads`` read heads and one write head.

    Per step t: controller input [x_t, r_{t−1}]; heads address the memory from the controller
    output; the write head writes first, then read heads read the new memory; the output is
    y_t = Linear([h_t, r_t]) (logits). ``forward(x, state=None) -> (y, state)``.
    """

    def __init__(self, input_size: int = 9, output_size: int = 8, controller_size: int = 64,
                 memory_rows: int = 32, memory_width: int = 16, read_heads: int = 1, shift_range: int = 1,
                 controller: str = "lstm"):
        super().__init__()
        self.config = NTMConfig(input_size, output_size, controller_size, memory_rows, memory_width,
                                    read_heads, shift_range, controller)
        if controller not in ("lstm", "mlp"):
            raise ValueError(f"controller must be 'lstm' or 'mlp', got {controller!r}")
        if 2 * shift_range + 1 > memory_rows:
            raise ValueError("2 * shift_range + 1 must not exceed memory_rows")
        R, W, H = read_heads, memory_width, controller_size
        ctrl_in = input_size + R * W
        self.controller = nn.LSTMCell(ctrl_in, H) if controller == "lstm" else nn.Linear(ctrl_in, H)
        self.n_addr = W + 1 + 1 + (2 * shift_range + 1) + 1           # k, β, g, s, γ
        self.read_head = nn.Linear(H, R * self.n_addr)
        self.write_head = nn.Linear(H, self.n_addr + 2 * W)            # + erase, add
        self.out = nn.Linear(H + R * W, output_size)
        self.memory_init = nn.Parameter(torch.randn(memory_rows, W) * (memory_rows + W) ** -0.5)

    def initial_state(self, batch: int, device: torch.device | str | None = None,
                      dtype: torch.dtype | None = None) -> NTMState:
        c = self.config
        device = device if device is not None else self.memory_init.device
        dtype = dtype or self.memory_init.dtype
        w0 = torch.zeros(batch, c.memory_rows, device=device, dtype=dtype)
        w0[:, 0] = 1.0                                                  # one-hot on row 0
        ctrl: tuple[torch.Tensor, ...] = ()
        if c.controller == "lstm":
            z = torch.zeros(batch, c.controller_size, device=device, dtype=dtype)
            ctrl = (z, z)
        return NTMState(
            memory=self.memory_init.expand(batch, -1, -1),
            read_weights=w0.unsqueeze(1).expand(-1, c.read_heads, -1),
            write_weights=w0,
            reads=torch.zeros(batch, c.read_heads, c.memory_width, device=device, dtype=dtype),
            controller=ctrl,
        )

    def _split(self, p: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Raw head outputs (..., n_addr) -> (k, β, g, s, γ) with their activations."""
        W, S = self.config.memory_width, 2 * self.config.shift_range + 1
        k, b, g, s, gm = torch.split(p, [W, 1, 1, S, 1], dim=-1)
        return k, F.softplus(b), torch.sigmoid(g), torch.softmax(s, dim=-1), 1 + F.softplus(gm)

    def step(self, x: torch.Tensor, state: NTMState) -> tuple[torch.Tensor, NTMState]:
        """One time step: x (B, input_size) -> logits (B, output_size), new state."""
        c = self.config
        B = x.shape[0]
        inp = torch.cat([x, state.reads.reshape(B, -1)], dim=-1)
        if c.controller == "lstm":
            h, cell = self.controller(inp, state.controller)
            ctrl = (h, cell)
        else:
            h, ctrl = torch.tanh(self.controller(inp)), ()
        # write head: address, erase, add
        wp = self.write_head(h)
        k, beta, g, s, gamma = self._split(wp[:, : self.n_addr])
        erase = torch.sigmoid(wp[:, self.n_addr: self.n_addr + c.memory_width])
        add = torch.tanh(wp[:, self.n_addr + c.memory_width:])
        w_write = address(state.memory, k, beta, g, s, gamma, state.write_weights)
        memory = write(state.memory, w_write, erase, add)
        # read heads on the written memory
        rp = self.read_head(h).reshape(B, c.read_heads, self.n_addr)
        w_reads, reads = [], []
        for r in range(c.read_heads):
            k, beta, g, s, gamma = self._split(rp[:, r])
            w = address(memory, k, beta, g, s, gamma, state.read_weights[:, r])
            w_reads.append(w)
            reads.append(read(memory, w))
        reads_t = torch.stack(reads, dim=1)                                             # (B, R, W)
        y = self.out(torch.cat([h, reads_t.reshape(B, -1)], dim=-1))
        return y, NTMState(memory, torch.stack(w_reads, dim=1), w_write, reads_t, ctrl)

    def forward(self, x: torch.Tensor, state: NTMState | None = None) -> tuple[torch.Tensor, NTMState]:
        """x (B, T, input_size) -> logits (B, T, output_size), final state."""
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        ys = []
        for t in range(x.shape[1]):
            y, state = self.step(x[:, t], state)
            ys.append(y)
        return torch.stack(ys, dim=1), state
