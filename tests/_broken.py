"""Broken building blocks shared by several families' broken-variant tests."""
from __future__ import annotations

import torch


class TanhNoDerivative(torch.autograd.Function):
    """tanh forward, identity backward (forgets the 1 − tanh² factor): right values, wrong gradients."""

    @staticmethod
    def forward(ctx, z):
        return torch.tanh(z)

    @staticmethod
    def backward(ctx, g):
        return g
