"""Deep belief network: greedy layer-wise RBM pre-training, unrolled into an MLP, fine-tuned.

Pre-training (Hinton, Osindero & Teh 2006; Bengio et al. 2007): train an RBM on the data x^(0);
then for l = 1 .. L-1 train the next RBM on x^(l) = p(h = 1 | x^(l-1)) = sigma(b_l + x^(l-1) W_l),
the previous layer's hidden *probabilities* (the mean-field up-pass, not samples). The stack
is unrolled into a sigmoid MLP whose layer l computes sigma(x W_l + b_l), i.e. an ``nn.Linear``
with ``weight = W_l^T`` (out, in) and ``bias = b_l`` (the hidden bias; visible biases are
dropped), topped by a linear classifier head; fine-tuning is ordinary back-propagation of the
cross-entropy ("gentle backpropagation", notes 003).

Shapes: batch first; ``x`` is (B, layer_sizes[0]) with entries in [0, 1]; ``DBN(x)`` returns
class logits (B, n_classes); ``features(x)`` the top hidden layer (B, layer_sizes[-1]).
Randomness only through ``generator`` (a ``torch.Generator`` on the data's device).

References
1. Hinton, Osindero, Teh (2006), "A Fast Learning Algorithm for Deep Belief Nets".
2. Bengio, Lamblin, Popovici, Larochelle (2007), "Greedy Layer-Wise Training of Deep Networks".
3. Hinton, Salakhutdinov (2006), "Reducing the Dimensionality of Data with Neural Networks".
4. Notes 003, "Deep Belief Networks (DBNs)": RBM layers for pre-training, then a feed-forward
   network for fine-tuning; "each layer learns entire input"; notes 001 for the RBM itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from reference_impls.rbm import RBMParams, cd_k_gradient, mean_hiddens

__all__ = ["DBNConfig", "DBN", "train_rbm", "greedy_pretrain", "upward_pass", "finetune"]

INIT_STD = 0.01  # RBM weight initialisation N(0, 0.01^2) (Hinton 2010, section 8)


@dataclass(frozen=True)
class DBNConfig:
    layer_sizes: tuple[int, ...]  # (n_in, h_1, ..., h_L)
    n_classes: int


@torch.no_grad()  # CD-k is not back-propagated: the trained weights carry no autograd graph
def train_rbm(x: torch.Tensor, n_hidden: int, *, epochs: int = 5, batch_size: int = 32, lr: float = 0.1, k: int = 1,
              generator: torch.Generator | None = None) -> RBMParams:
    """Train one binary-hidden RBM on ``x`` (B, n_v), entries in [0, 1], with CD-k mini-batch
    gradient ascent theta <- theta + lr * cd_k_gradient (reshuffled every epoch).
    Initialisation: W ~ N(0, 0.01^2), a = b = 0. Returns ``RBMParams(W, a, b)``."""
    n, n_v = x.shape
    W = torch.randn(n_v, n_hidden, generator=generator, device=x.device, dtype=x.dtype) * INIT_STD
    a, b = x.new_zeros(n_v), x.new_zeros(n_hidden)
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator, device=x.device)
        for start in range(0, n, batch_size):
            dW, da, db, _ = cd_k_gradient(x[order[start:start + batch_size]], W, a, b, k, generator)
            W, a, b = W + lr * dW, a + lr * da, b + lr * db
    return RBMParams(W, a, b)


def upward_pass(x: torch.Tensor, rbms: Sequence[RBMParams]) -> list[torch.Tensor]:
    """Hidden probabilities of every layer: x^(l) = sigma(b_l + x^(l-1) W_l), x^(0) = x."""
    out = []
    for W, _, b in rbms:
        x = mean_hiddens(x, W, b)
        out.append(x)
    return out


@torch.no_grad()
def greedy_pretrain(x: torch.Tensor, hidden_sizes: Sequence[int], *, epochs: int = 5, batch_size: int = 32,
                    lr: float = 0.1, k: int = 1, generator: torch.Generator | None = None,
                    train_layer: Callable[..., RBMParams] | None = None) -> list[RBMParams]:
    """Greedy layer-wise pre-training: RBM l is trained (by ``train_layer``, default
    :func:`train_rbm`, called as ``train_layer(data, n_hidden, epochs=, batch_size=, lr=, k=,
    generator=)``) on x^(l-1), and x^(l) = p(h = 1 | x^(l-1)) under the trained RBM l."""
    train_layer = train_layer or train_rbm
    rbms: list[RBMParams] = []
    data = x
    for n_hidden in hidden_sizes:
        p = RBMParams(*train_layer(data, n_hidden, epochs=epochs, batch_size=batch_size, lr=lr, k=k, generator=generator))
        rbms.append(p)
        data = mean_hiddens(data, p.W, p.b)  # probabilities, not samples
    return rbms


def finetune(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int = 15, batch_size: int = 32,
             lr: float = 0.5, momentum: float = 0.9, generator: torch.Generator | None = None) -> list[float]:
    """Back-propagation of the mean cross-entropy of ``model(x)`` against labels ``y`` with SGD
    with momentum, u <- momentum * u + grad, theta <- theta - lr * u (torch.optim.SGD's rule,
    written out), reshuffled every epoch. Returns the mean training loss of each epoch."""
    params = [p for p in model.parameters() if p.requires_grad]
    velocity = [torch.zeros_like(p) for p in params]
    losses = []
    n = x.shape[0]
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator, device=x.device)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, u, g in zip(params, velocity, grads):
                    u.mul_(momentum).add_(g)
                    p.sub_(lr * u)
            total += float(loss.detach()) * len(idx)
        losses.append(total / n)
    return losses


class DBN(nn.Module):
    """Sigmoid MLP with the DBN's layer sizes: ``hidden[l]`` is nn.Linear(sizes[l], sizes[l+1])
    followed by sigmoid, ``head`` a linear classifier. ``load_rbms`` unrolls pre-trained RBMs
    into it; ``forward(x)`` returns logits (B, n_classes)."""

    def __init__(self, layer_sizes: Sequence[int], n_classes: int):
        super().__init__()
        self.config = DBNConfig(tuple(int(s) for s in layer_sizes), int(n_classes))
        sizes = self.config.layer_sizes
        self.hidden = nn.ModuleList(nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:]))
        self.head = nn.Linear(sizes[-1], n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Top hidden layer: the up-pass sigma(... sigma(x W_1 + b_1) ... W_L + b_L), (B, sizes[-1])."""
        for layer in self.hidden:
            x = torch.sigmoid(layer(x))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def load_rbms(self, rbms: Sequence[RBMParams]) -> "DBN":
        """Unroll: hidden[l].weight <- W_l^T (nn.Linear stores (out, in)), hidden[l].bias <- b_l."""
        if len(rbms) != len(self.hidden):
            raise ValueError(f"load_rbms: {len(rbms)} RBMs for {len(self.hidden)} hidden layers")
        for layer, (W, _, b) in zip(self.hidden, rbms):  # any (W, a, b) triple
            layer.weight.copy_(W.T)
            layer.bias.copy_(b)
        return self

    def pretrain(self, x: torch.Tensor, **kwargs) -> list[RBMParams]:
        """Greedy layer-wise pre-training on ``x`` (see :func:`greedy_pretrain`), then unroll."""
        rbms = greedy_pretrain(x, self.config.layer_sizes[1:], **kwargs)
        self.load_rbms(rbms)
        return rbms
