"""Binary-binary restricted Boltzmann machine: energy, conditionals, Gibbs chains, CD-k, PCD.

Model. Visible units v in {0,1}^n_v, hidden units h in {0,1}^n_h, parameters W (n_v x n_h,
``W[i, j]`` couples visible i to hidden j), visible bias a (n_v) and hidden bias b (n_h):

    E(v, h) = -a^T v - b^T h - v^T W h,        p(v, h) = e^(-E(v, h)) / Z
    p(h_j = 1 | v) = sigma(b_j + (W^T v)_j),    p(v_i = 1 | h) = sigma(a_i + (W h)_i)
    F(v) = -log sum_h e^(-E(v, h)) = -a^T v - sum_j softplus(b_j + (W^T v)_j)

(Other texts call a and b ``b_v`` and ``b_h``; notes 003's training section calls them b and c.)

Shapes: batch first. ``v`` is (B, n_v), ``h`` is (B, n_h); per-sample scalars are (B,). In
batch form the column-vector W^T v is the row product ``v @ W`` and W h is ``h @ W.T``.

Randomness enters only through a ``generator`` argument (a ``torch.Generator`` on the
tensors' device) or injected uniforms ``u``; nothing here touches the global RNG.

Notes typos (standard definitions implemented instead):
  * notes 001 writes the forward pass as h = s(v^T w + a) with a, the *visible* bias of its own
    energy; the hidden conditional uses the hidden bias b.
  * notes 001's single-site conditional z = sigma(sum_j w_ij v_ij + c_i) for a visible unit
    should read sigma(a_i + sum_j W_ij h_j): a visible unit depends on the hidden units.
  * notes 001's update for w in (iv) prints the data term as sigma(w v^(t) + c) v^(t), with the
    chain's v^(t); it is the data vector's, sigma(w v + c) v^T (as in the b and c lines, and as the
    gradient E_p(h|v)[v h^T] - E_p(v,h)[v h^T] above it says), and "n grad_w L(theta) [...]" is the
    learning rate eta times the bracket, which is the gradient estimate: :func:`gibbs_gradient`.
  * notes 001's single-site kernel P_xy = q(i) p(y_i | x_-i) "if some i has y_i != x_i, else 0"
    omits the diagonal: y = x keeps probability sum_i q(i) p(x_i | x_-i); and
    p(x_i = y_i | x_-i) = p(y) / p(x_-i), not p(x) / p(x_-i).

References
1. Smolensky (1986), "Information processing in dynamical systems: foundations of harmony
   theory" (the harmonium).
2. Hinton (2002), "Training Products of Experts by Minimizing Contrastive Divergence".
3. Tieleman (2008), "Training Restricted Boltzmann Machines using Approximations to the
   Likelihood Gradient" (PCD).
4. Hinton (2010), "A Practical Guide to Training Restricted Boltzmann Machines", UTML TR 2010-003.
5. Besag (1975), "Statistical Analysis of Non-Lattice Data" (pseudo-likelihood).
6. Notes 001, "Restricted Boltzmann Machines" (i)-(iv): energy, forward/backward pass, the
   single-site Markov chain, block-Gibbs training; notes 003, "RBMs".
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "RBMConfig", "RBMParams", "RBM", "energy", "mean_hiddens", "sample_hiddens", "mean_visibles",
    "sample_visibles", "free_energy", "gibbs_step", "single_site_gibbs_step", "cd_k_gradient",
    "pcd_step", "gibbs_gradient", "log_partition", "log_likelihood", "exact_gradient", "pseudo_likelihood",
    "MAX_ENUMERATION_BITS",
]

MAX_ENUMERATION_BITS = 22  # log_partition enumerates 2^min(n_v, n_h) states


class RBMParams(NamedTuple):
    """Parameters of one RBM: ``W`` (n_v, n_h), visible bias ``a`` (n_v), hidden bias ``b`` (n_h)."""

    W: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor


@dataclass(frozen=True)
class RBMConfig:
    n_visible: int
    n_hidden: int
    init_std: float = 0.01  # W ~ N(0, init_std^2), biases 0 (Hinton 2010, section 8)


def energy(v: torch.Tensor, h: torch.Tensor, W: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """E(v, h) = -a^T v - b^T h - v^T W h, per sample: (B, n_v), (B, n_h) -> (B,)."""
    return -(v @ a) - (h @ b) - ((v @ W) * h).sum(-1)


def mean_hiddens(v: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """p(h_j = 1 | v) = sigma(b_j + (W^T v)_j): (B, n_v) -> (B, n_h)."""
    return torch.sigmoid(b + v @ W)


def mean_visibles(h: torch.Tensor, W: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """p(v_i = 1 | h) = sigma(a_i + (W h)_i): (B, n_h) -> (B, n_v)."""
    return torch.sigmoid(a + h @ W.T)


def sample_hiddens(v: torch.Tensor, W: torch.Tensor, b: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """h ~ prod_j Bernoulli(sigma(b_j + (W^T v)_j)), same dtype as ``v``."""
    return torch.bernoulli(mean_hiddens(v, W, b), generator=generator)


def sample_visibles(h: torch.Tensor, W: torch.Tensor, a: torch.Tensor,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """v ~ prod_i Bernoulli(sigma(a_i + (W h)_i)), same dtype as ``h``."""
    return torch.bernoulli(mean_visibles(h, W, a), generator=generator)


def free_energy(v: torch.Tensor, W: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """F(v) = -log sum_h e^(-E(v,h)) = -a^T v - sum_j softplus(b_j + (W^T v)_j): (B, n_v) -> (B,)."""
    return -(v @ a) - F.softplus(b + v @ W).sum(-1)


def gibbs_step(v: torch.Tensor, W: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One block-Gibbs step v -> h ~ p(h | v) -> v' ~ p(v | h).

    Returns ``(v', h)``. If v ~ p(v) then both (v, h) and (v', h) are distributed as p(v, h),
    so the pair returned is a joint sample of the chain on (v, h) (notes 001, (iv)).
    """
    h = sample_hiddens(v, W, b, generator)
    return sample_visibles(h, W, a, generator), h


def _site_and_uniform(x: torch.Tensor, generator: torch.Generator | None, site: int | torch.Tensor | None,
                      u: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,) site indices (uniform over the n units of x, or the given ``site``) and (B,) uniforms."""
    batch, n = x.shape
    if site is None:
        site = torch.randint(0, n, (batch,), generator=generator, device=x.device)
    elif isinstance(site, int):
        site = torch.full((batch,), site, dtype=torch.long, device=x.device)
    if u is None:
        u = torch.rand(batch, generator=generator, device=x.device, dtype=x.dtype)
    return site, u


def single_site_gibbs_step(v: torch.Tensor, h: torch.Tensor, W: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                           generator: torch.Generator | None = None, site: int | torch.Tensor | None = None,
                           u: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of the single-site Gibbs chain of notes 001 on x = (v, h) in {0,1}^(n_v + n_h).

    Pick a site i ~ q(i) = 1 / (n_v + n_h) (or the given ``site``: an int, or (B,) indices;
    i < n_v is visible unit i, else hidden unit i - n_v), keep x_-i, and resample
    x_i = 1[u < p(x_i = 1 | x_-i)] with u ~ U[0, 1) (or the given ``u``, shape (B,)). In an RBM
    p(v_i = 1 | x_-i) = sigma(a_i + (W h)_i) and p(h_j = 1 | x_-i) = sigma(b_j + (W^T v)_j).
    The kernel is P(x -> y) = sum_i q(i) p(y_i | x_-i) 1[y_-i = x_-i]. Returns ``(v', h')``.
    """
    n_v = v.shape[-1]
    x = torch.cat([v, h], dim=-1)  # (B, n_v + n_h)
    site, u = _site_and_uniform(x, generator, site, u)
    p_all = torch.cat([mean_visibles(h, W, a), mean_hiddens(v, W, b)], dim=-1)  # (B, n)
    p_site = p_all.gather(1, site[:, None])  # (B, 1)
    x = x.scatter(1, site[:, None], (u[:, None] < p_site).to(x.dtype))
    return x[:, :n_v], x[:, n_v:]


def cd_k_gradient(v: torch.Tensor, W: torch.Tensor, a: torch.Tensor, b: torch.Tensor, k: int = 1,
                  generator: torch.Generator | None = None, v_neg: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """CD-k estimate of the log-likelihood gradient (ascent direction), notes 001 (iv):

        dW = <v p(h|v)^T>_data - <v_k p(h|v_k)^T>_chain,  da = <v>_data - <v_k>_chain,
        db = <p(h|v)>_data - <p(h|v_k)>_chain,

    where v_k is the state after k block-Gibbs steps from the data (CD-k) or from ``v_neg``
    (persistent chains, PCD). Averages are batch means; the hidden statistics use the
    probabilities p(h=1|.) (Hinton 2010, section 3). Returns ``(dW, da, db, v_k)``.
    """
    if k < 1:
        raise ValueError(f"cd_k_gradient: k must be >= 1, got {k}")
    chain = v if v_neg is None else v_neg
    for _ in range(k):
        chain, _ = gibbs_step(chain, W, a, b, generator)
    h_pos = mean_hiddens(v, W, b)  # (B, n_h)
    h_neg = mean_hiddens(chain, W, b)  # (B_neg, n_h)
    dW = v.T @ h_pos / v.shape[0] - chain.T @ h_neg / chain.shape[0]
    return dW, v.mean(0) - chain.mean(0), h_pos.mean(0) - h_neg.mean(0), chain


def pcd_step(v: torch.Tensor, v_persistent: torch.Tensor, W: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
             lr: float, k: int = 1, generator: torch.Generator | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One persistent-CD update (Tieleman 2008): advance the persistent chains k block-Gibbs
    steps, then theta <- theta + lr * (<.>_data - <.>_chain) with the statistics of
    :func:`cd_k_gradient`. Returns ``(W', a', b', v_persistent')``; inputs are not modified.
    """
    dW, da, db, chain = cd_k_gradient(v, W, a, b, k, generator, v_neg=v_persistent)
    return W + lr * dW, a + lr * da, b + lr * db, chain


def gibbs_gradient(v: torch.Tensor, W: torch.Tensor, a: torch.Tensor, b: torch.Tensor, k: int = 1, r: int = 1,
                   generator: torch.Generator | None = None, v_init: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Notes 001 (iv)'s training algorithm, "RBM training with block Gibbs sampling": the
    log-likelihood gradient estimate (ascent direction) from chains started at random.

    For each data vector (row of ``v``) a block-Gibbs chain starts at a uniformly random
    v^(0) in {0,1}^V (each unit Bernoulli(1/2) from ``generator``; or the rows of ``v_init``) and
    runs h^(t) ~ p(h | v^(t)), v^(t+1) ~ p(v | h^(t)); after k burn-in steps the r states
    v^(k+1), ..., v^(k+r) give the negative statistics:

        dW = <v sigma(b + v W)^T>_data - (1/r) sum_{t=k+1}^{k+r} <v^(t) sigma(b + v^(t) W)^T>_chains
        da = <v>_data - (1/r) sum_t <v^(t)>_chains,   db = <sigma(b + v W)>_data - (1/r) sum_t <sigma(b + v^(t) W)>_chains

    with batch means over the data rows and over the chains. The notes' update is
    theta <- theta + eta * (dW, da, db) (their w, b, c are W, a, b here). Unlike CD-k the chains
    do not start at the data, so as k grows the estimate's expectation tends to the exact gradient
    (:func:`exact_gradient`), and as r grows its variance shrinks. k >= 0, r >= 1. Returns
    ``(dW, da, db, samples)``, samples (r, B', V) the averaged chain states (B' = B, or len(v_init)).
    """
    if k < 0 or r < 1:
        raise ValueError(f"gibbs_gradient: need k >= 0 and r >= 1, got k={k}, r={r}")
    if v_init is None:
        v_init = torch.bernoulli(torch.full_like(v, 0.5), generator=generator)
    chain, kept = v_init, []
    for t in range(1, k + r + 1):
        chain, _ = gibbs_step(chain, W, a, b, generator)
        if t > k:
            kept.append(chain)
    samples = torch.stack(kept)  # (r, B', V)
    flat = samples.reshape(-1, v.shape[-1])
    h_pos, h_neg = mean_hiddens(v, W, b), mean_hiddens(flat, W, b)
    dW = v.T @ h_pos / v.shape[0] - flat.T @ h_neg / flat.shape[0]
    return dW, v.mean(0) - flat.mean(0), h_pos.mean(0) - h_neg.mean(0), samples


def _all_states(n: int, like: torch.Tensor) -> torch.Tensor:
    """All 2^n binary vectors as a (2^n, n) tensor, in lexicographic order (first bit slowest)."""
    return torch.tensor(list(itertools.product((0.0, 1.0), repeat=n)), dtype=like.dtype,
                        device=like.device).reshape(2**n, n)


def log_partition(W: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log Z = log sum_{v,h} e^(-E(v,h)), exactly, by enumerating the smaller layer:
    log Z = logsumexp_h [b^T h + sum_i softplus(a_i + (W h)_i)] (or the same with v and h swapped).
    """
    n_v, n_h = W.shape
    if min(n_v, n_h) > MAX_ENUMERATION_BITS:
        raise ValueError(f"log_partition: 2^{min(n_v, n_h)} states is too many to enumerate")
    if n_h <= n_v:
        h = _all_states(n_h, W)
        return torch.logsumexp(h @ b + F.softplus(a + h @ W.T).sum(-1), dim=0)
    v = _all_states(n_v, W)
    return torch.logsumexp(-free_energy(v, W, a, b), dim=0)


def log_likelihood(v: torch.Tensor, W: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact log p(v) = -F(v) - log Z per sample (B,) (enumerates; small RBMs only)."""
    return -free_energy(v, W, a, b) - log_partition(W, a, b)


def exact_gradient(v: torch.Tensor, W: torch.Tensor, a: torch.Tensor, b: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The exact gradient of the mean log-likelihood (1/B) sum_n log p(v_n), by enumeration (small RBMs):

        dW = <v p(h=1|v)^T>_data - E_p(v,h)[v h^T],  da = <v>_data - E_p[v],  db = <p(h=1|v)>_data - E_p[h]

    (notes 001 (iv): E_p(H|v)[v h^T] - E_p(v,h)[v h^T]). The model expectations sum over every state
    of the smaller layer: E_p[v h^T] = sum_v p(v) v p(h=1|v)^T, or sum_h p(h) p(v=1|h) h^T. Returns
    ``(dW, da, db)``, shaped like W, a, b.
    """
    n_v, n_h = W.shape
    if min(n_v, n_h) > MAX_ENUMERATION_BITS:
        raise ValueError(f"exact_gradient: 2^{min(n_v, n_h)} states is too many to enumerate")
    h_pos = mean_hiddens(v, W, b)
    if n_v <= n_h:
        vs = _all_states(n_v, W)
        p = torch.softmax(-free_energy(vs, W, a, b), dim=0)  # p(v)
        hv = mean_hiddens(vs, W, b)
        model = ((vs * p[:, None]).T @ hv, p @ vs, p @ hv)
    else:
        hs = _all_states(n_h, W)
        p = torch.softmax(hs @ b + F.softplus(a + hs @ W.T).sum(-1), dim=0)  # p(h)
        vh = mean_visibles(hs, W, a)
        model = ((vh * p[:, None]).T @ hs, p @ vh, p @ hs)
    data = (v.T @ h_pos / v.shape[0], v.mean(0), h_pos.mean(0))
    return tuple(d - m for d, m in zip(data, model))  # type: ignore[return-value]


def pseudo_likelihood(v: torch.Tensor, W: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact log pseudo-likelihood per sample (Besag 1975), summed over all visible units:

        log PL(v) = sum_i log p(v_i | v_-i) = sum_i log sigma(F(v~i) - F(v)),

    where v~i is v with unit i flipped. (scikit-learn's ``BernoulliRBM.score_samples`` returns
    the one-unit Monte Carlo estimate n_v * log sigma(F(v~i) - F(v)) with i drawn uniformly,
    whose expectation is this sum.) (B, n_v) -> (B,).
    """
    n_v = v.shape[-1]
    eye = torch.eye(n_v, dtype=v.dtype, device=v.device)
    flipped = v[:, None, :] + eye * (1 - 2 * v[:, None, :])  # (B, n_v, n_v): row i flips unit i
    f_flip = free_energy(flipped.reshape(-1, n_v), W, a, b).reshape(v.shape[0], n_v)
    return F.logsigmoid(f_flip - free_energy(v, W, a, b)[:, None]).sum(-1)


class RBM(nn.Module):
    """Binary-binary RBM holding ``W`` (n_visible, n_hidden), ``a`` (n_visible), ``b`` (n_hidden).

    ``forward(v)`` returns the free energy F(v) per sample, shape (B,): the unnormalised
    negative log-probability -log p(v) - log Z, the quantity CD training lowers on data.
    Sampling methods take a ``generator``; parameters are updated by the caller (e.g. with
    :func:`pcd_step` or an optimizer fed with minus :func:`cd_k_gradient`).
    """

    def __init__(self, n_visible: int, n_hidden: int, init_std: float = 0.01):
        super().__init__()
        self.config = RBMConfig(n_visible, n_hidden, init_std)
        self.W = nn.Parameter(torch.randn(n_visible, n_hidden) * init_std)
        self.a = nn.Parameter(torch.zeros(n_visible))
        self.b = nn.Parameter(torch.zeros(n_hidden))

    @property
    def params(self) -> RBMParams:
        return RBMParams(self.W, self.a, self.b)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """F(v), (B, n_visible) -> (B,)."""
        return free_energy(v, self.W, self.a, self.b)

    def mean_hiddens(self, v: torch.Tensor) -> torch.Tensor:
        return mean_hiddens(v, self.W, self.b)

    def mean_visibles(self, h: torch.Tensor) -> torch.Tensor:
        return mean_visibles(h, self.W, self.a)

    def reconstruct(self, v: torch.Tensor) -> torch.Tensor:
        """Mean-field reconstruction p(v=1 | p(h=1|v)) of notes 001's backward pass."""
        return mean_visibles(mean_hiddens(v, self.W, self.b), self.W, self.a)

    def gibbs_step(self, v: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return gibbs_step(v, self.W, self.a, self.b, generator)

    def pseudo_likelihood(self, v: torch.Tensor) -> torch.Tensor:
        return pseudo_likelihood(v, self.W, self.a, self.b)
