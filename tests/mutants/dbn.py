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


# --- train_rbm, finetune, pretrain --------------------------------------------------------------------
def _train_rbm_with(*, init_std=0.01, sign_a=1.0, sign_b=1.0, first=0):
    """train_rbm with one thing changed: the initial scale, the sign of a bias step, or the first row used."""
    from reference_impls.rbm import cd_k_gradient

    def train(x, n_hidden, *, epochs=5, batch_size=32, lr=0.1, k=1, generator=None):
        n, n_v = x.shape
        W = torch.randn(n_v, n_hidden, generator=generator, device=x.device, dtype=x.dtype) * init_std
        a, b = x.new_zeros(n_v), x.new_zeros(n_hidden)
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator, device=x.device)
            for start in range(first, n, batch_size):
                dW, da, db, _ = cd_k_gradient(x[order[start:start + batch_size]], W, a, b, k, generator)
                W, a, b = W + lr * dW, a + sign_a * lr * da, b + sign_b * lr * db
        return RBMParams(W, a, b)
    return train


def train_rbm_cd_free_visible_bias(x, n_hidden, *, epochs=5, batch_size=32, lr=0.1, k=1, generator=None):
    """Sets the visible bias to the data's log-odds once instead of learning it (Hinton 2010, section 8's
    initialisation, mistaken for the update)."""
    W, a, b = dbn.train_rbm(x, n_hidden, epochs=epochs, batch_size=batch_size, lr=lr, k=k, generator=generator)
    m = x.mean(0).clamp(0.01, 0.99)
    return RBMParams(W, a + torch.log(m / (1 - m)) if epochs else a, b)


def _finetune_with(*, start_total=0.0, weighted=True, first=0, momentum_scale=1.0):
    import torch.nn.functional as F

    def finetune(model, x, y, *, epochs=15, batch_size=32, lr=0.5, momentum=0.9, generator=None):
        params = [p for p in model.parameters() if p.requires_grad]
        velocity = [torch.zeros_like(p) for p in params]
        losses, n = [], x.shape[0]
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator, device=x.device)
            total = start_total
            for start in range(first, n, batch_size):
                idx = order[start:start + batch_size]
                loss = F.cross_entropy(model(x[idx]), y[idx])
                grads = torch.autograd.grad(loss, params)
                with torch.no_grad():
                    for p, u, g in zip(params, velocity, grads):
                        u.mul_(momentum * momentum_scale).add_(g)
                        p.sub_(lr * u)
                total += float(loss.detach()) * (len(idx) if weighted else 1)
            losses.append(total / (n if weighted else len(range(first, n, batch_size))))
        return losses
    return finetune


class PretrainSkipsFirstLayer(dbn.DBN):
    def pretrain(self, x, **kwargs):
        sizes = self.config.layer_sizes
        rbms = dbn.greedy_pretrain(x, sizes[1:], **kwargs)
        for layer, (W, _, b) in list(zip(self.hidden, rbms))[1:]:  # the first layer keeps its random weights
            with torch.no_grad():
                layer.weight.copy_(W.T)
                layer.bias.copy_(b)
        return rbms


class PretrainReseeds(dbn.DBN):
    def pretrain(self, x, **kwargs):
        kwargs["generator"] = torch.Generator(x.device).manual_seed(0)  # ignores the caller's generator
        return super().pretrain(x, **kwargs)


SMALL = {"layer_sizes": [12, 8, 6], "n_classes": 3}

def upward_pass_detached(x, rbms):
    """The right probabilities, returned detached: nothing trains through the up-pass."""
    return [h.detach() for h in dbn.upward_pass(x, rbms)]


def upward_pass_last_only(x, rbms):
    """Returns only the top layer."""
    return dbn.upward_pass(x, rbms)[-1:]


MUTANTS["dbn_upward_pass_is_mean_field_stack"] = [
    broken("returned detached", patched(REF, PARAMS, upward_pass=upward_pass_detached)),
    broken("top layer only", patched(REF, PARAMS, upward_pass=upward_pass_last_only)),
]

MUTANTS.update({
    "dbn_train_rbm_initialisation": [
        broken("W ~ N(0, 0.02^2)", patched(REF, PARAMS, train_rbm=_train_rbm_with(init_std=0.02))),
        broken("W ~ N(0, 0.001^2)", patched(REF, PARAMS, train_rbm=_train_rbm_with(init_std=0.001))),
    ],
    "dbn_train_rbm_cd_updates": [
        broken("visible bias descends", patched(REF, PARAMS, train_rbm=_train_rbm_with(sign_a=-1.0))),
        broken("hidden bias descends", patched(REF, PARAMS, train_rbm=_train_rbm_with(sign_b=-1.0))),
        broken("mini-batches start at row 1", patched(REF, PARAMS, train_rbm=_train_rbm_with(first=1))),
        broken("visible bias set to the data's log-odds", patched(REF, PARAMS, train_rbm=train_rbm_cd_free_visible_bias)),
    ],
    "dbn_finetune_is_sgd_with_momentum": [
        broken("epoch loss starts at 1", patched(REF, SMALL, finetune=_finetune_with(start_total=1.0))),
        broken("epoch loss = mean of batch losses (short batch overweighted)", patched(REF, SMALL, finetune=_finetune_with(weighted=False))),
        broken("mini-batches start at row 1", patched(REF, SMALL, finetune=_finetune_with(first=1))),
        broken("no momentum", patched(REF, SMALL, finetune=_finetune_with(momentum_scale=0.0))),
    ],
    "dbn_pretrain_is_greedy_then_unroll": [
        broken("first layer not unrolled", replaced(REF, PretrainSkipsFirstLayer, SMALL)),
        broken("ignores the generator", replaced(REF, PretrainReseeds, SMALL)),
    ],
})
