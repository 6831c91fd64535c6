"""Broken models for the common properties (every model suite gets them): each breaks one
property an ordinary-looking MLP would be expected to keep."""
from __future__ import annotations

import os

import torch
from torch import nn

from harness.testing import broken, replaced, subject_from
from reference_impls.mlp import MLP

MLP_SUBJECT = subject_from("reference_impls.mlp:MLP", {"sizes": [5, 16, 8, 3], "activation": "tanh"})


class UnusedParameter(MLP):
    """A parameter the forward pass never reaches (it would never train)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.gate = nn.Parameter(torch.ones(3))


class DetachedHiddenLayer(MLP):
    """The first layer's output detached: the first layer's weights get no gradient."""

    def forward(self, x):
        h = torch.tanh(x @ self.weights[0].T + self.biases[0]).detach()
        for W, b in zip(self.weights[1:-1], self.biases[1:-1]):
            h = torch.tanh(h @ W.T + b)
        return h @ self.weights[-1].T + self.biases[-1]


class BatchCentred(MLP):
    """Subtracts the batch mean of its output: every row depends on every other row."""

    def forward(self, x):
        y = super().forward(x)
        return y - y.mean(0, keepdim=True)


class Float32Output(MLP):
    """Returns float32 whatever its own dtype."""

    def forward(self, x):
        return super().forward(x).float()


class UnseededNoise(MLP):
    """Adds noise from a generator seeded by the operating system: no seed reproduces it."""

    def forward(self, x):
        y = super().forward(x)
        g = torch.Generator().manual_seed(int.from_bytes(os.urandom(4), "little"))
        return y + 1e-3 * torch.randn(y.shape, generator=g, dtype=y.dtype).to(y.device)


class NonPersistentScale(MLP):
    """A random output scale kept in a non-persistent buffer: not in the state dict."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.register_buffer("scale", 1 + torch.rand(1), persistent=False)

    def forward(self, x):
        return super().forward(x) * self.scale


KW = {"suite": "mlp"}
MUTANTS = {
    "common_gradient_flow": [
        broken("a parameter the forward never uses", replaced(MLP_SUBJECT, UnusedParameter), **KW),
        broken("the first layer's output detached", replaced(MLP_SUBJECT, DetachedHiddenLayer), **KW),
    ],
    "common_batch_independence": [broken("output centred on the batch mean", replaced(MLP_SUBJECT, BatchCentred), **KW)],
    "common_dtype_device_preserved": [broken("float32 output in a float64 run", replaced(MLP_SUBJECT, Float32Output), **KW)],
    "common_seed_determinism": [broken("noise from an OS-seeded generator", replaced(MLP_SUBJECT, UnseededNoise), **KW)],
    "common_state_dict_round_trip": [
        broken("a random scale in a non-persistent buffer", replaced(MLP_SUBJECT, NonPersistentScale), **KW),
    ],
}
