"""Broken variants of the multilayer perceptron (harness/checks/mlp.py)."""
from __future__ import annotations

import torch
from torch import nn

from _broken import TanhNoDerivative
from harness.testing import broken, patched, replaced, subject_from
from reference_impls import mlp as M

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


def _model(cls):
    return replaced(REF, cls, PARAMS)


MUTANTS = {
    "mlp_gradcheck": [broken("tanh without its derivative", _model(WrongGradMLP))],
    "mlp_parameter_count": [
        broken("extra gain parameter", _model(ExtraParamMLP)),
        broken("biases not parameters", _model(NoBiasCountMLP)),
    ],
    "mlp_equals_sequential": [
        broken(f"activated output {dtype}", _model(ActivatedOutputMLP), dtype=dtype) for dtype in ("float32", "float64")
    ],
    "mlp_backprop_equals_autograd": [
        broken("f instead of f′", patched(REF, PARAMS, mlp_backward=backward_with_f_not_fprime)),
    ],
    "mlp_batch_rows_independent": [broken("batch-centred hidden layers", _model(BatchCoupledMLP))],
    # without a non-linearity the network is affine: XOR is not linearly separable (at most 3/4)
    "mlp_fits_xor": [
        broken("linear hidden activation", subject_from(REF, {**XOR, "activation": "linear"}),
               reference=subject_from(REF, XOR)),
    ],
}


# --- parameter_count and the notes' Dense(16, relu) -> Dense(1, sigmoid) example -------------------
def parameter_count_without_biases(sizes):
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def parameter_count_input_biases(sizes):
    """A bias for the input units too."""
    return M.parameter_count(sizes) + sizes[0]


class LinearOutputMLP(M.MLP):
    """Ignores output_activation: logits where the notes' sigmoid gives probabilities."""

    def forward(self, x):
        return M.mlp_forward(x, list(self.weights), list(self.biases), self.config.activation, "linear")


MUTANTS.update({
    "mlp_parameter_count_helper": [
        broken("biases not counted", patched(REF, PARAMS, parameter_count=parameter_count_without_biases)),
        broken("input units get biases", patched(REF, PARAMS, parameter_count=parameter_count_input_biases)),
        broken("model with an extra gain parameter", _model(ExtraParamMLP)),
    ],
    "mlp_notes_dense_example": [
        broken("biases not counted", patched(REF, PARAMS, parameter_count=parameter_count_without_biases)),
        broken("output activation ignored", _model(LinearOutputMLP)),
        broken("output activation ignored (float32)", _model(LinearOutputMLP), dtype="float32"),
        broken("model with an extra gain parameter", _model(ExtraParamMLP)),
    ],
})


# --- initialisation, ReLU kinks, double backpropagation, MLPConfig --------------------------------
class NarrowInitMLP(M.MLP):
    """U(−1/n_in, 1/n_in): the square root dropped."""

    def reset_parameters(self):
        for W, b in zip(self.weights, self.biases):
            nn.init.uniform_(W, -1.0 / W.shape[1], 1.0 / W.shape[1])
            nn.init.uniform_(b, -1.0 / W.shape[1], 1.0 / W.shape[1])


class ConstantInitMLP(M.MLP):
    """uniform_(W, bound, bound): every weight equal to the upper bound."""

    def reset_parameters(self):
        import math

        for W, b in zip(self.weights, self.biases):
            bound = 1.0 / math.sqrt(W.shape[1])
            nn.init.uniform_(W, bound, bound)
            nn.init.uniform_(b, -bound, bound)


class ConstantBiasMLP(M.MLP):
    """uniform_(b, bound, bound): every bias equal to the upper bound."""

    def reset_parameters(self):
        import math

        for W, b in zip(self.weights, self.biases):
            bound = 1.0 / math.sqrt(W.shape[1])
            nn.init.uniform_(W, -bound, bound)
            nn.init.uniform_(b, bound, bound)


class NormalInitMLP(M.MLP):
    """N(0, 1/n_in) instead of the uniform (right scale, wrong law: entries beyond the bound)."""

    def reset_parameters(self):
        for W, b in zip(self.weights, self.biases):
            nn.init.normal_(W, std=W.shape[1] ** -0.5)
            nn.init.normal_(b, std=W.shape[1] ** -0.5)


def backward_relu_prime_at_zero_one(x, weights, biases, grad_out, activation="relu", output_activation="linear"):
    """relu′(0) = 1 (z ≥ 0) instead of torch's 0."""
    acts = dict(M.ACTIVATIONS)
    M.ACTIVATIONS["relu"] = (torch.relu, lambda z: (z >= 0).to(z.dtype))
    try:
        return M.mlp_backward(x, weights, biases, grad_out, activation, output_activation)
    finally:
        M.ACTIVATIONS.update(acts)


def backward_detached_input_grad(x, weights, biases, grad_out, activation="relu", output_activation="linear"):
    """∂L/∂x returned detached (no second derivatives through it)."""
    gW, gb, gx = M.mlp_backward(x, weights, biases, grad_out, activation, output_activation)
    return gW, gb, gx.detach()


def backward_detached_bias_grads(x, weights, biases, grad_out, activation="relu", output_activation="linear"):
    gW, gb, gx = M.mlp_backward(x, weights, biases, grad_out, activation, output_activation)
    return gW, [g.detach() for g in gb], gx


class OffByOneConfig(M.MLPConfig):
    """n_layers counts the input layer too."""

    @property
    def n_layers(self):
        return len(self.sizes)


class ZeroWidthConfig(M.MLPConfig):
    """Accepts a width of 0 (checks s < 0)."""

    def __post_init__(self):
        object.__setattr__(self, "sizes", tuple(int(s) for s in self.sizes))
        if len(self.sizes) < 2 or any(s < 0 for s in self.sizes):
            raise ValueError("bad sizes")


class NoInputBiasCountConfig(M.MLPConfig):
    @property
    def n_params(self):
        return parameter_count_input_biases(self.sizes)


MUTANTS.update({
    "mlp_init_uniform": [
        broken("U(−1/n_in, 1/n_in) (√ dropped)", _model(NarrowInitMLP)),
        broken("every weight = the bound", _model(ConstantInitMLP)),
        broken("normal instead of uniform", _model(NormalInitMLP)),
        broken("every bias = the bound", _model(ConstantBiasMLP)),
    ],
    "mlp_backprop_at_relu_kinks": [
        broken("relu′(0) = 1", patched(REF, PARAMS, mlp_backward=backward_relu_prime_at_zero_one)),
    ],
    "mlp_backward_is_differentiable": [
        broken("∂L/∂x detached", patched(REF, PARAMS, mlp_backward=backward_detached_input_grad)),
        broken("∂L/∂b detached", patched(REF, PARAMS, mlp_backward=backward_detached_bias_grads)),
    ],
    "mlp_config_sizes": [
        broken("n_layers = len(sizes)", patched(REF, PARAMS, MLPConfig=OffByOneConfig)),
        broken("width 0 accepted", patched(REF, PARAMS, MLPConfig=ZeroWidthConfig)),
        broken("n_params counts input biases", patched(REF, PARAMS, MLPConfig=NoInputBiasCountConfig)),
    ],
})
