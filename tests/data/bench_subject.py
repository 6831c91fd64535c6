"""A tiny subject for the benchmark and report tests (loaded with ``--impl``-style overrides).

It provides ``softmax`` so a suite whose property is ``softmax_sums_to_one`` validates, and a
small MLP class so benchmarks can build a model. Not part of the reference implementations.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["softmax", "TinyMLP", "OutOfMemoryMLP", "NoHalfMLP"]


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """softmax(x)_i = e^(x_i − max x) / Σ_j e^(x_j − max x)."""
    z = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return z / z.sum(dim=dim, keepdim=True)


class TinyMLP(nn.Module):
    """x (B, d_in) -> (B, d_out): Linear, ReLU, Linear."""

    def __init__(self, d_in: int = 8, hidden: int = 16, d_out: int = 4):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        y = self.net(x)
        return y, {"logits": y, "count": torch.tensor(3)}


class OutOfMemoryMLP(TinyMLP):
    """Raises CUDA's out-of-memory error on the forward pass (simulates a too-large batch)."""

    def forward(self, x: torch.Tensor):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (simulated)")


class NoHalfMLP(TinyMLP):
    """Rejects float16 the way a CPU kernel without a Half implementation does."""

    def forward(self, x: torch.Tensor):
        if x.dtype == torch.float16:
            raise RuntimeError('"addmm_impl_cpu_" not implemented for \'Half\'')
        return super().forward(x)
