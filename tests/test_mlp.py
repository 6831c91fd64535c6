"""Every MLP check accepts reference_impls.mlp:MLP and rejects a deliberately broken variant."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.testing import patched, run_check, subject_from
from reference_impls import mlp as M
from _broken import TanhNoDerivative

REF = "reference_impls.mlp:MLP"
PARAMS = {"sizes": [5, 16, 8, 3], "activation": "tanh"}
XOR = {"sizes": [2, 8, 1], "activation": "tanh"}


class WrongGradMLP(M.MLP):
    def forward(self, x):
        a = x
        for l, (W, b) in enumerate(zip(self.weights, self.biases)):
            z = a @ W.T + b
            a = z if l == len(self.weights) - 1 else TanhNoDerivative.apply(z)
        return a


class ExtraParamMLP(M.MLP):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.gain = nn.Parameter(torch.ones(1))


class NoBiasCountMLP(M.MLP):
    """Biases kept as buffers (not trained, not counted)."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        bs = [b.detach().clone() for b in self.biases]
        del self.biases
        self.biases = bs


class ActivatedOutputMLP(M.MLP):
    """Off by one: the activation is applied after the last layer too."""

    def forward(self, x):
        f = M.ACTIVATIONS[self.config.activation][0]
        return f(super().forward(x))


class BatchCoupledMLP(M.MLP):
    """Centres each hidden layer over the batch (rows no longer independent)."""

    def forward(self, x):
        a = x
        for l, (W, b) in enumerate(zip(self.weights, self.biases)):
            z = a @ W.T + b
            a = z if l == len(self.weights) - 1 else torch.tanh(z - z.mean(0, keepdim=True))
        return a


def backward_with_f_not_fprime(x, weights, biases, grad_out, activation="relu", output_activation="linear"):
    """δ multiplied by f(z) instead of f′(z)."""
    acts = dict(M.ACTIVATIONS)
    f = acts[activation][0]
    M.ACTIVATIONS[activation] = (f, f)
    try:
        return M.mlp_backward(x, weights, biases, grad_out, activation, output_activation)
    finally:
        M.ACTIVATIONS.update(acts)


def test_mlp_gradcheck():
    assert run_check("mlp_gradcheck", subject_from(REF, PARAMS)).passed
    assert not run_check("mlp_gradcheck", subject_from(WrongGradMLP, PARAMS)).passed


@pytest.mark.parametrize("broken", [ExtraParamMLP, NoBiasCountMLP])
def test_mlp_parameter_count(broken):
    assert run_check("mlp_parameter_count", subject_from(REF, PARAMS)).passed
    assert not run_check("mlp_parameter_count", subject_from(broken, PARAMS)).passed


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mlp_equals_sequential(dtype):
    assert run_check("mlp_equals_sequential", subject_from(REF, PARAMS), dtype=dtype).passed
    assert not run_check("mlp_equals_sequential", subject_from(ActivatedOutputMLP, PARAMS), dtype=dtype).passed


def test_mlp_backprop_equals_autograd():
    assert run_check("mlp_backprop_equals_autograd", subject_from(REF, PARAMS)).passed
    bad = patched(REF, PARAMS, mlp_backward=backward_with_f_not_fprime)
    assert not run_check("mlp_backprop_equals_autograd", bad).passed


def test_mlp_batch_rows_independent():
    assert run_check("mlp_batch_rows_independent", subject_from(REF, PARAMS)).passed
    assert not run_check("mlp_batch_rows_independent", subject_from(BatchCoupledMLP, PARAMS)).passed


def test_mlp_fits_xor():
    assert run_check("mlp_fits_xor", subject_from(REF, XOR)).passed
    # without a non-linearity the network is affine: XOR is not linearly separable (at most 3/4)
    assert not run_check("mlp_fits_xor", subject_from(REF, {**XOR, "activation": "linear"})).passed


def test_config_and_helpers():
    cfg = M.MLPConfig((4, 3, 2), "relu")
    assert cfg.n_params == 4 * 3 + 3 + 3 * 2 + 2 == M.parameter_count(cfg.sizes)
    m = M.MLP.from_config(cfg)
    assert m.config == cfg and sum(p.numel() for p in m.parameters()) == cfg.n_params
    with pytest.raises(ValueError):
        M.MLPConfig((4,))
    with pytest.raises(ValueError):
        M.MLPConfig((4, 2), "swish")
