"""Generative adversarial networks: MLP generator and discriminator, the value function and
its losses, the optimal discriminator, Jensen–Shannon divergence, one training step with k
discriminator updates per generator update, one-sided label smoothing, virtual batch norm.

Shapes (batch first): noise ``z`` (B, latent_dim); data ``x`` (B, data_dim); the discriminator
returns **logits** ``l`` (B,) with D(x) = σ(l). Every loss takes logits and evaluates
log D = logsigmoid(l) and log(1 − D) = logsigmoid(−l), which stay finite for any logit (the
form of BCE-with-logits), never log(sigmoid(·)).

Conventions people get wrong:

* V(D, G) = E_data[log D(x)] + E_z[log(1 − D(G(z)))] is what D *maximises*. Notes 000 call
  that objective J_D; here (as in Goodfellow 2016, eq. 8) J_D = −V is the discriminator's
  *cost*, so that every loss in this module is minimised.
* Expectations are batch means; with ``weights`` they are weighted means Σ w·f / Σ w, so a
  discrete distribution (weights = probabilities on a support) gives the exact expectation.
* Notes 001 write the noise prior as p_g(z); the standard symbol is p_z(z) (p_g is the
  distribution of G(z), the generator's model distribution).
* One-sided label smoothing (Salimans et al. 2016, §3.4) replaces the real target 1 by α
  (0.9 by default when used) and keeps the fake target 0; it moves the optimum to
  D*(x) = α·p_data/(p_data + p_g).
* Virtual batch norm normalises each example x with the statistics of the reference batch
  *plus x itself* (weights N/(N+1) and 1/(N+1); Salimans et al. 2016 §3.5, notes 003: "based
  on the statistics collected on a reference batch ... and on x itself"); the reference
  activations are recomputed with the current weights and passed in, and the reference batch
  is normalised with its own statistics.
* The noise prior p_z is N(0, I) by default or U[low, high) per coordinate
  (``sample_noise(..., prior="uniform")``; notes 003: "Z is some random noise
  (Gaussian/Uniform)").

References
1. Goodfellow, Pouget-Abadie, Mirza, Xu, Warde-Farley, Ozair, Courville, Bengio (2014),
   "Generative Adversarial Nets" (value function eq. 1, Algorithm 1, Proposition 1, Theorem 1).
2. Goodfellow (2016), "NIPS 2016 Tutorial: Generative Adversarial Networks" (J_D, the
   non-saturating game, §3.2).
3. Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen (2016), "Improved Techniques for
   Training GANs" (one-sided label smoothing §3.4, virtual batch normalisation §3.5).
4. Course notes 000 ("Training a GAN": J_D, J_G), 001 (training algorithm, k discriminator
   steps), 002 ("GAN – slightly modified objective": the saturating generator gradient).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "GANConfig", "Generator", "Discriminator", "GAN", "VirtualBatchNorm",
    "value_function", "discriminator_loss", "generator_loss_minimax", "generator_loss_nonsaturating",
    "optimal_discriminator", "jensen_shannon", "virtual_batch_norm", "batch_norm_reference", "sample_noise", "train_step",
    "VBN_EPS",
]

VBN_EPS = 1e-5  # variance floor of virtual batch norm (as torch.nn.BatchNorm1d)


# ---------------------------------------------------------------------------------------------
# functional cores
# ---------------------------------------------------------------------------------------------
def _mean(f: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """E[f]: batch mean, or the weighted mean Σ w·f / Σ w."""
    if weights is None:
        return f.mean()
    return (weights * f).sum() / weights.sum()


def value_function(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                   real_weights: torch.Tensor | None = None, fake_weights: torch.Tensor | None = None) -> torch.Tensor:
    """V(D, G) = E_data[log D(x)] + E_z[log(1 − D(G(z)))] from logits (Goodfellow et al. 2014, eq. 1).

    Args:
        real_logits: (B,) logits of D on data samples (or on the support of p_data).
        fake_logits: (B',) logits of D on generated samples (or on the support of p_g).
        real_weights, fake_weights: optional masses (e.g. p_data(x), p_g(x) on a discrete support).
    Returns: scalar V (≤ 0).
    """
    return _mean(F.logsigmoid(real_logits), real_weights) + _mean(F.logsigmoid(-fake_logits), fake_weights)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0,
                       real_weights: torch.Tensor | None = None, fake_weights: torch.Tensor | None = None) -> torch.Tensor:
    """J_D = −E_data[α log D(x) + (1 − α) log(1 − D(x))] − E_z[log(1 − D(G(z)))].

    With α = ``real_label`` = 1 this is −V(D, G), the sum of two binary cross-entropies (real
    target 1, fake target 0). α < 1 is one-sided label smoothing: only the real target moves.
    """
    real = real_label * F.logsigmoid(real_logits) + (1.0 - real_label) * F.logsigmoid(-real_logits)
    return -(_mean(real, real_weights) + _mean(F.logsigmoid(-fake_logits), fake_weights))


def generator_loss_minimax(fake_logits: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """J_G = E_z[log(1 − D(G(z)))] (minimised by G; notes 000's J_G as a batch mean).

    ∂J_G/∂l = −σ(l) per sample: it vanishes as D(G(z)) → 0 (the generator saturates).
    """
    return _mean(F.logsigmoid(-fake_logits), weights)


def generator_loss_nonsaturating(fake_logits: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """J_G = −E_z[log D(G(z))] (the non-saturating heuristic; BCE against target 1).

    ∂J_G/∂l = −(1 − σ(l)) per sample: it tends to −1, not 0, as D(G(z)) → 0.
    """
    return -_mean(F.logsigmoid(fake_logits), weights)


def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Proposition 1); ½ where both densities are 0."""
    total = p_data + p_g
    return torch.where(total > 0, p_data / torch.where(total > 0, total, torch.ones_like(total)),
                       torch.full_like(total, 0.5))


def jensen_shannon(p: torch.Tensor, q: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """JSD(p‖q) = ½ KL(p‖m) + ½ KL(q‖m), m = (p + q)/2, in nats (0 log 0 = 0).

    This is the divergence itself; scipy.spatial.distance.jensenshannon returns its square root.
    """
    m = 0.5 * (p + q)
    kl_pm = (torch.xlogy(p, p) - torch.xlogy(p, m)).sum(dim)
    kl_qm = (torch.xlogy(q, q) - torch.xlogy(q, m)).sum(dim)
    return 0.5 * (kl_pm + kl_qm)


def virtual_batch_norm(x: torch.Tensor, reference: torch.Tensor, weight: torch.Tensor | None = None,
                       bias: torch.Tensor | None = None, eps: float = VBN_EPS) -> torch.Tensor:
    """y_i = γ (x_i − μ_i) / √(σ²_i + ε) + β, where μ_i, σ²_i are the mean and biased variance of
    the reference batch (shape (N, C)) *together with x_i itself* (Salimans et al. 2016, §3.5; the
    authors' code): with weights 1/(N+1) for x_i and N/(N+1) for the reference batch,

        μ_i = (N μ_ref + x_i) / (N + 1),   σ²_i = (N m2_ref + x_i²) / (N + 1) − μ_i²,

    m2_ref the reference batch's mean of squares. x is (B, C). Each output row depends on its own
    input row and the reference batch only. The reference batch itself is normalised with its own
    statistics (pass ``x = reference`` through :class:`VirtualBatchNorm`, which does that)."""
    n = reference.shape[0]
    w_new = 1.0 / (n + 1)
    w_ref = 1.0 - w_new
    mu_ref = reference.mean(0)
    mu = w_ref * mu_ref + w_new * x
    # the same σ²_i as a mixture of the two parts' spreads about μ_i (no cancellation of m2 − μ²)
    var = w_ref * (reference.var(0, unbiased=False) + (mu_ref - mu) ** 2) + w_new * (x - mu) ** 2
    y = (x - mu) * torch.rsqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def batch_norm_reference(reference: torch.Tensor, weight: torch.Tensor | None = None,
                         bias: torch.Tensor | None = None, eps: float = VBN_EPS) -> torch.Tensor:
    """The reference batch (N, C) normalised with its own mean and biased variance."""
    mu = reference.mean(0)
    var = reference.var(0, unbiased=False)
    y = (reference - mu) * torch.rsqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def sample_noise(n: int, latent_dim: int, *, like: torch.Tensor, generator: torch.Generator | None = None,
                 prior: Literal["gaussian", "uniform"] = "gaussian", low: float = -1.0, high: float = 1.0) -> torch.Tensor:
    """The noise prior p_z: z ~ N(0, I) (``prior="gaussian"``) or z ~ U[low, high)^latent_dim
    (``prior="uniform"``, each coordinate independent), shape (n, latent_dim), on ``like``'s
    device and dtype. Every random number comes from ``generator`` when one is given (the global
    RNG is then left untouched), so a seeded generator reproduces the batch."""
    if prior == "gaussian":
        return torch.randn(n, latent_dim, generator=generator, device=like.device, dtype=like.dtype)
    if prior == "uniform":
        if not high > low:
            raise ValueError(f"uniform prior needs low < high, got [{low}, {high})")
        u = torch.rand(n, latent_dim, generator=generator, device=like.device, dtype=like.dtype)
        return low + (high - low) * u
    raise ValueError(f"unknown noise prior {prior!r}: expected 'gaussian' or 'uniform'")


# ---------------------------------------------------------------------------------------------
# modules
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GANConfig:
    latent_dim: int = 2
    data_dim: int = 1
    hidden: int = 32
    layers: int = 2          # hidden layers in each network
    leaky_slope: float = 0.2  # discriminator LeakyReLU slope


def _mlp(n_in: int, hidden: int, layers: int, n_out: int, act: type[nn.Module], **act_kw) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(n_in if i == 0 else hidden, hidden), act(**act_kw)]
    mods.append(nn.Linear(hidden if layers else n_in, n_out))
    return nn.Sequential(*mods)


class Generator(nn.Module):
    """G: z (B, latent_dim) -> x (B, data_dim); ReLU MLP with a linear output (real-valued data)."""

    def __init__(self, config: GANConfig):
        super().__init__()
        self.net = _mlp(config.latent_dim, config.hidden, config.layers, config.data_dim, nn.ReLU)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    """D: x (B, data_dim) -> logits (B,); LeakyReLU MLP. D(x) = σ(logit)."""

    def __init__(self, config: GANConfig):
        super().__init__()
        self.net = _mlp(config.data_dim, config.hidden, config.layers, 1, nn.LeakyReLU,
                        negative_slope=config.leaky_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    def probability(self, x: torch.Tensor) -> torch.Tensor:
        """D(x) = σ(logit) ∈ (0, 1)."""
        return torch.sigmoid(self(x))


class VirtualBatchNorm(nn.Module):
    """Virtual batch norm over features (B, C): see :func:`virtual_batch_norm` (each example
    normalised with the statistics of the reference batch plus itself).

    ``forward(x, reference)`` returns ``(y, y_ref)`` so that a network can carry the reference
    batch's activations through its layers alongside the minibatch.
    """

    def __init__(self, num_features: int, eps: float = VBN_EPS):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = virtual_batch_norm(x, reference, self.weight, self.bias, self.eps)
        y_ref = batch_norm_reference(reference, self.weight, self.bias, self.eps)
        return y, y_ref


class GAN(nn.Module):
    """A generator and a discriminator. ``forward(z)`` -> (G(z) (B, data_dim), D-logits of G(z) (B,))."""

    def __init__(self, config: GANConfig | None = None, **kwargs):
        super().__init__()
        self.config = config or GANConfig(**kwargs)
        self.latent_dim = self.config.latent_dim
        self.generator = Generator(self.config)
        self.discriminator = Discriminator(self.config)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.generator(z)
        return x, self.discriminator(x)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
def train_step(model: nn.Module, real_batches: Iterable[torch.Tensor], opt_d: torch.optim.Optimizer,
               opt_g: torch.optim.Optimizer, *, loss: Literal["nonsaturating", "minimax"] = "nonsaturating",
               real_label: float = 1.0, generator: torch.Generator | None = None) -> dict[str, object]:
    """One iteration of Algorithm 1: k discriminator steps, then one generator step.

    k = len(real_batches): each discriminator step draws a fresh noise minibatch of the same
    size m as its real minibatch and *descends* J_D (ascends V) with G held fixed; the
    generator step draws m new noise samples and descends the chosen generator loss with D
    held fixed (``opt_g`` must hold only G's parameters; D's gradients are cleared after it).
    ``model`` exposes ``generator``, ``discriminator`` and ``latent_dim``.

    Returns ``{"d_losses": [k floats], "g_loss": float}``.
    """
    G, D = model.generator, model.discriminator
    d_losses: list[float] = []
    m = 0
    like: torch.Tensor | None = None
    for real in real_batches:
        m, like = real.shape[0], real
        z = sample_noise(m, model.latent_dim, like=real, generator=generator)
        with torch.no_grad():
            fake = G(z)  # G is the static adversary of this step
        j_d = discriminator_loss(D(real), D(fake), real_label=real_label)
        opt_d.zero_grad(set_to_none=True)
        j_d.backward()
        opt_d.step()
        d_losses.append(float(j_d.detach()))
    if like is None:
        raise ValueError("train_step needs at least one real minibatch (k >= 1)")
    z = sample_noise(m, model.latent_dim, like=like, generator=generator)
    fake_logits = D(G(z))
    j_g = generator_loss_nonsaturating(fake_logits) if loss == "nonsaturating" else generator_loss_minimax(fake_logits)
    opt_g.zero_grad(set_to_none=True)
    j_g.backward()
    opt_g.step()
    D.zero_grad(set_to_none=True)  # D is the static adversary of the generator step
    return {"d_losses": d_losses, "g_loss": float(j_g.detach())}

