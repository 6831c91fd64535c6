"""Every DBN check passes on reference_impls.dbn and rejects a deliberately broken variant."""
from __future__ import annotations

import pytest
import torch

import reference_impls.dbn as dbn
from reference_impls.rbm import RBMParams, mean_hiddens
from harness.testing import patched, run_check, subject_from

TARGET = "reference_impls.dbn:DBN"
PARAMS = {"layer_sizes": [64, 64, 32], "n_classes": 10}
SQUARE = {"layer_sizes": [10, 10, 10], "n_classes": 3}


def good(params=PARAMS):
    return subject_from(TARGET, params)


def bad(params=PARAMS, **cores):
    return patched(TARGET, params, **cores)


def greedy_with_sampled_hiddens(x, hidden_sizes, *, epochs=5, batch_size=32, lr=0.1, k=1, generator=None, train_layer=None):
    """Feeds binary samples of the hidden layer upward instead of its probabilities."""
    rbms, data = [], x
    for n_hidden in hidden_sizes:
        p = RBMParams(*(train_layer or dbn.train_rbm)(data, n_hidden, epochs=epochs, batch_size=batch_size, lr=lr, k=k,
                                                       generator=generator))
        rbms.append(p)
        data = torch.bernoulli(mean_hiddens(data, p.W, p.b), generator=generator)
    return rbms


def greedy_every_layer_on_the_data(x, hidden_sizes, *, epochs=5, batch_size=32, lr=0.1, k=1, generator=None, train_layer=None):
    """Each layer trains on the raw data: "each layer learns entire input" read literally."""
    return [RBMParams(*(train_layer or dbn.train_rbm)(x, n, epochs=epochs, batch_size=batch_size, lr=lr, k=k, generator=generator))
            for n in hidden_sizes]


class UntransposedDBN(dbn.DBN):
    @torch.no_grad()
    def load_rbms(self, rbms):
        for layer, (W, _, b) in zip(self.hidden, rbms):
            layer.weight.copy_(W)  # forgets that nn.Linear stores (out, in)
            layer.bias.copy_(b)
        return self


class VisibleBiasDBN(dbn.DBN):
    @torch.no_grad()
    def load_rbms(self, rbms):
        for layer, (W, a, _) in zip(self.hidden, rbms):
            layer.weight.copy_(W.T)
            layer.bias.copy_(a)  # the visible bias: right shape only for square layers
        return self


def finetune_without_step(model, x, y, *, epochs=15, batch_size=32, lr=0.5, momentum=0.9, generator=None):
    """Computes the loss and gradients but never updates the parameters."""
    for _ in range(epochs):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        torch.autograd.grad(loss, list(model.parameters()))
    return []


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_reference_dbn_passes_structural_checks(dtype):
    for name, subject in (("dbn_greedy_layer_inputs", good()), ("dbn_unroll_initialises_mlp", good(SQUARE))):
        out = run_check(name, subject, dtype=dtype)
        assert out.passed, out.line()


def test_greedy_layer_inputs_rejects_sampled_hiddens():
    assert not run_check("dbn_greedy_layer_inputs", bad(greedy_pretrain=greedy_with_sampled_hiddens)).passed


def test_greedy_layer_inputs_rejects_every_layer_on_the_data():
    assert not run_check("dbn_greedy_layer_inputs", bad(greedy_pretrain=greedy_every_layer_on_the_data)).passed


def test_unroll_rejects_missing_transpose_and_visible_bias():
    assert not run_check("dbn_unroll_initialises_mlp", subject_from(UntransposedDBN, SQUARE)).passed
    assert not run_check("dbn_unroll_initialises_mlp", subject_from(VisibleBiasDBN, SQUARE)).passed


def test_unroll_missing_transpose_fails_loudly_for_non_square_layers():
    with pytest.raises(RuntimeError):
        run_check("dbn_unroll_initialises_mlp", subject_from(UntransposedDBN, {"layer_sizes": [12, 8], "n_classes": 3}))


def test_finetune_accuracy_passes_and_rejects_a_finetune_that_never_steps():
    out = run_check("dbn_finetune_digits_accuracy", good(), dtype="float32")
    assert out.passed, out.line()
    assert not run_check("dbn_finetune_digits_accuracy", bad(finetune=finetune_without_step), dtype="float32").passed
