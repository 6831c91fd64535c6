"""scikit-learn's BernoulliRBM as the ``rbm`` contract: ``--impl rbm=conformance.sklearn_rbm:RBM``.

Translation only: each core loads (W, a, b) into a BernoulliRBM (components_ = Wᵀ (H, V),
intercept_visible_ = a, intercept_hidden_ = b), calls scikit-learn, and returns its float64
numpy result as a tensor in the inputs' dtype and device. Hence no autograd: what sklearn
computes is not differentiable from torch.
- mean_hiddens: ``_mean_hiddens``; mean_visibles: ``_mean_hiddens`` of the transposed RBM
  (components_ = W, intercept_hidden_ = a): sklearn has no p(v|h) method, the RBM is symmetric.
- sample_hiddens / sample_visibles: ``_sample_hiddens`` / ``_sample_visibles``.
- gibbs_step: the body of ``BernoulliRBM.gibbs`` (``_sample_hiddens`` then ``_sample_visibles``
  on one RandomState), keeping the hidden sample that gibbs() discards.
- free_energy: ``_free_energy``; pseudo_likelihood: ``score_samples``, sklearn's ONE-random-unit
  estimate V·log p(v_i | v_−i) (random_state 0), not the contract's exact sum over all V units.
- cd_k_gradient / pcd_step: one ``_fit`` (sklearn's persistent-chain update; its chain state is
  hidden, ``h_samples_``, set here to p(h | chain start) samples, and k − 1 ``gibbs`` steps run first).
  The gradient is the parameter change of ``_fit`` at learning_rate 1; the new chain states are
  sklearn's v_neg, replayed from a copy of the same RandomState.
Randomness: sklearn draws from a numpy RandomState, not a torch.Generator. Each call seeds a fresh
RandomState from one draw of the given generator (equal seeds give equal results, the torch
global RNG is untouched); generator=None uses sklearn's own default (numpy's global RNG).
Not offered by sklearn: energy, log_partition, single_site_gibbs_step.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from sklearn.neural_network import BernoulliRBM
from sklearn.utils import check_random_state

from conformance import circular_for

DLH_CIRCULAR = circular_for(__name__)  # properties whose oracle is this code


def _np(t):
    return t.detach().cpu().double().numpy()


def _sk(W, a, b, lr=1.0):
    rbm = BernoulliRBM(n_components=W.shape[1], learning_rate=lr, random_state=0)
    rbm.components_, rbm.intercept_visible_, rbm.intercept_hidden_ = _np(W).T.copy(), _np(a).copy(), _np(b).copy()
    return rbm


def _rng(generator):
    if generator is None:
        return check_random_state(None)
    return np.random.RandomState(int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=generator.device)))


def _t(x, like):
    return torch.as_tensor(np.asarray(x, dtype=np.float64)).to(like.device, like.dtype)


def mean_hiddens(v, W, b):
    return _t(_sk(W, W.new_zeros(W.shape[0]), b)._mean_hiddens(_np(v)), v)


def mean_visibles(h, W, a):
    return _t(_sk(W.T, W.new_zeros(W.shape[1]), a)._mean_hiddens(_np(h)), h)


def sample_hiddens(v, W, b, generator=None):
    return _t(_sk(W, W.new_zeros(W.shape[0]), b)._sample_hiddens(_np(v), _rng(generator)), v)


def sample_visibles(h, W, a, generator=None):
    return _t(_sk(W, a, W.new_zeros(W.shape[1]))._sample_visibles(_np(h), _rng(generator)), h)


def gibbs_step(v, W, a, b, generator=None):
    rbm, rng = _sk(W, a, b), _rng(generator)
    h = rbm._sample_hiddens(_np(v), rng)
    return _t(rbm._sample_visibles(h, rng), v), _t(h, v)


def free_energy(v, W, a, b):
    return _t(_sk(W, a, b)._free_energy(_np(v)), v)


def pseudo_likelihood(v, W, a, b):
    return _t(_sk(W, a, b).score_samples(_np(v)), v)


def _fit(v, start, W, a, b, lr, k, generator):
    """One sklearn PCD update from chains at ``start``: (W', a', b', v_neg) as numpy."""
    rbm, rng = _sk(W, a, b, lr), _rng(generator)
    rbm.random_state_ = rng
    for _ in range(k - 1):
        start = rbm.gibbs(start)
    rbm.h_samples_ = rbm._sample_hiddens(start, rng).astype(np.float64)
    v_neg = rbm._sample_visibles(rbm.h_samples_, copy.deepcopy(rng))  # the draw _fit makes next
    rbm._fit(_np(v), rng)
    return rbm.components_.T, rbm.intercept_visible_, rbm.intercept_hidden_, v_neg


def cd_k_gradient(v, W, a, b, k=1, generator=None, v_neg=None):
    W2, a2, b2, vk = _fit(v, _np(v if v_neg is None else v_neg), W, a, b, 1.0, k, generator)
    return _t(W2 - _np(W), W), _t(a2 - _np(a), a), _t(b2 - _np(b), b), _t(vk, v)


def pcd_step(v, v_persistent, W, a, b, lr, k=1, generator=None):
    W2, a2, b2, vk = _fit(v, _np(v_persistent), W, a, b, lr, k, generator)
    return _t(W2, W), _t(a2, a), _t(b2, b), _t(vk, v)


class RBM(torch.nn.Module):
    """W (V, H), a (V,), b (H,) as parameters; forward(v) = sklearn's _free_energy(v)."""

    def __init__(self, n_visible, n_hidden, init_std=0.01):
        super().__init__()
        self.W = torch.nn.Parameter(torch.randn(n_visible, n_hidden) * init_std)
        self.a, self.b = torch.nn.Parameter(torch.zeros(n_visible)), torch.nn.Parameter(torch.zeros(n_hidden))

    def forward(self, v):
        return free_energy(v, self.W, self.a, self.b)
