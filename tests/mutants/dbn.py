"""Broken variants of the deep belief network (harness/checks/dbn.py)."""
from __future__ import annotations

import torch

import reference_impls.dbn as dbn
from harness.testing import broken, patched, replaced
from reference_impls.rbm import RBMParams, mean_hiddens

REF = "reference_impls.dbn:DBN"
PARAMS = {"layer_sizes": [64, 64, 32], "n_classes": 10}
SQUARE = {"layer_sizes": [10, 10, 10], "n_classes": 3}  # square layers: a missing transpose runs


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
    """Each layer trains on the raw data: "each layer learns entire input" (notes 003) read literally."""
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


MUTANTS = {
    "dbn_greedy_layer_inputs": [
        broken("sampled hiddens fed upward", patched(REF, PARAMS, greedy_pretrain=greedy_with_sampled_hiddens)),
        broken("every layer trained on the data", patched(REF, PARAMS, greedy_pretrain=greedy_every_layer_on_the_data)),
    ],
    "dbn_unroll_initialises_mlp": [
        broken("weight = W, not W^T (square layers)", replaced(REF, UntransposedDBN, SQUARE)),
        broken("bias = visible bias (square layers)", replaced(REF, VisibleBiasDBN, SQUARE)),
    ],
    "dbn_finetune_digits_accuracy": [
        broken("finetune never steps", patched(REF, PARAMS, finetune=finetune_without_step), dtype="float32"),
    ],
}
