"""torch.distributions as module-level cores of the ``vae`` and ``losses`` contracts:
``--impl vae=conformance.torch_distributions`` and ``--impl losses=conformance.torch_distributions``.

Translation only: every value is a torch.distributions call (``kl_divergence``, ``log_prob``,
``entropy``, ``rsample``, ``AffineTransform``); the adapter converts log σ² to the scale
σ = exp(½ log σ²), sums over the event axis and applies the contract's reductions and signs.

Randomness: ``Normal.rsample`` takes no generator; it draws from the global RNG. The adapter
honours the contract's "only from the generator" by seeding a forked global RNG with a draw from
the given generator (global state restored afterwards). Injected noise ε goes through the
library's own ``AffineTransform(μ, σ)``, the map rsample applies to its standard draw.

No model (torch.distributions has none): the VAE model properties are not applicable. Of the
losses, torch.distributions covers the probabilistic ones (Bernoulli, Categorical,
OneHotCategorical, discrete KL and entropy); mse/mae/msle/mape/hinge and the discrete
cross-entropy H(P, Q) have no distribution counterpart and are left out.
"""
from __future__ import annotations

import torch
from torch.distributions import Bernoulli, Categorical, Normal, OneHotCategorical
from torch.distributions import kl_divergence as _kl  # the contract's kl_divergence is the discrete one below
from torch.distributions.transforms import AffineTransform

from conformance import circular_for

DLH_CIRCULAR = circular_for(__name__)  # properties whose oracle is this code


def _sum(t):  # per-sample: sum over every non-batch axis
    return t.reshape(t.shape[0], -1).sum(-1)


def _reduce(t, reduction):
    return t if reduction == "none" else t.sum() if reduction == "sum" else t.mean()


# ---- vae -------------------------------------------------------------------------------------
def gaussian_kl(mu, logvar):
    q = Normal(mu, torch.exp(0.5 * logvar))
    return _kl(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)


def reparameterize(mu, logvar, eps=None, generator=None):
    std = torch.exp(0.5 * logvar)
    if eps is not None:
        return AffineTransform(mu, std)(eps)
    if generator is None:
        return Normal(mu, std).rsample()
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    with torch.random.fork_rng(devices=[mu.device] if mu.device.type == "cuda" else []):
        torch.manual_seed(seed)
        return Normal(mu, std).rsample()


def gaussian_nll(x, x_hat, sigma2=1.0):
    scale = torch.sqrt(torch.as_tensor(sigma2, dtype=x_hat.dtype, device=x_hat.device))
    return -_sum(Normal(x_hat, scale).log_prob(x))


def bernoulli_nll(x, logits):
    return -_sum(Bernoulli(logits=logits).log_prob(x))


def elbo(x, x_hat, mu, logvar, sigma2=1.0, likelihood="gaussian"):
    nll = gaussian_nll(x, x_hat, sigma2) if likelihood == "gaussian" else bernoulli_nll(x, x_hat)
    return -nll - gaussian_kl(mu, logvar)


def vae_loss(x, x_hat, mu, logvar, sigma2=1.0, likelihood="gaussian", beta=1.0):
    nll = gaussian_nll(x, x_hat, sigma2) if likelihood == "gaussian" else bernoulli_nll(x, x_hat)
    return (nll + beta * gaussian_kl(mu, logvar)).mean()


# ---- losses ----------------------------------------------------------------------------------
def binary_cross_entropy(p, y, reduction="mean"):
    return _reduce(-Bernoulli(probs=p).log_prob(y), reduction)


def binary_cross_entropy_with_logits(z, y, reduction="mean"):
    return _reduce(-Bernoulli(logits=z).log_prob(y), reduction)


def cross_entropy(logits, target, reduction="mean"):
    return _reduce(-Categorical(logits=logits).log_prob(target), reduction)


def nll_loss(log_probs, target, reduction="mean"):
    return _reduce(-Categorical(logits=log_probs).log_prob(target), reduction)


def categorical_cross_entropy(probs, y, reduction="mean"):
    return _reduce(-OneHotCategorical(probs=probs).log_prob(y), reduction)


def entropy(p, dim=-1):
    return Categorical(probs=p.movedim(dim, -1)).entropy()


def kl_divergence(p, q, dim=-1):
    return _kl(Categorical(probs=p.movedim(dim, -1)), Categorical(probs=q.movedim(dim, -1)))
