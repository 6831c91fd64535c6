"""GAN variants: the conditional GAN, CycleGAN (cycle consistency) and InfoGAN (a latent code
and a variational lower bound on mutual information).

Shapes (batch first): noise ``z`` (B, latent_dim); labels / categorical codes ``y``, ``c`` (B,)
integers in [0, K); data ``x`` (B, data_dim); discriminator logits (B,) with D = σ(logit);
InfoGAN's Q head returns logits (B, K) of the categorical posterior Q(c | x). All networks are
small MLPs so that the properties are cheap to decide; the conditioning and the losses are the
point.

* Conditional GAN (Mirza & Osindero 2014): G(z | y) and D(x | y), the label entering both as a
  one-hot vector concatenated to the input; V = E[log D(x|y)] + E[log(1 − D(G(z|y)|y))].
  ``conditional_discriminator_loss`` is D's cost −V with the fakes judged under the labels they
  were generated with and G(z|y) detached (it trains D only).
* CycleGAN (Zhu et al. 2017, eq. 2): G: X -> Y, F: Y -> X and
  L_cyc(G, F) = E_x ‖F(G(x)) − x‖₁ + E_y ‖G(F(y)) − y‖₁, the L1 norm summed over features and
  averaged over the batch (the paper's expectation of a norm; the authors' code averages over
  elements too, i.e. divides by data_dim). The full generator objective is
  L_GAN(G, D_Y) + L_GAN(F, D_X) + λ L_cyc (eq. 3) with the non-saturating adversarial terms in
  the log-loss form of eq. 1 (the paper trains with a least-squares loss instead, §4).
* InfoGAN (Chen et al. 2016, eq. 4–5): L_I(G, Q) = E_{c~P(c), x~G(z,c)}[log Q(c|x)] + H(c)
  ≤ I(c; G(z, c)) ≤ H(c). For a uniform categorical code H(c) = log K; L_I = log K exactly when
  Q recovers c. Q shares the discriminator's body and adds one head.

References
1. Mirza, Osindero (2014), "Conditional Generative Adversarial Nets".
2. Zhu, Park, Isola, Efros (2017), "Unpaired Image-to-Image Translation using Cycle-Consistent
   Adversarial Networks" (eq. 1–3).
3. Chen, Duan, Houthooft, Schulman, Sutskever, Abbeel (2016), "InfoGAN: Interpretable
   Representation Learning by Information Maximizing Generative Adversarial Nets" (eq. 4–6).
4. Course notes 000 ("Conditional GANs": both networks conditioned on external information).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from reference_impls.gan import discriminator_loss, generator_loss_nonsaturating

__all__ = [
    "ConditionalGANConfig", "ConditionalGAN", "conditional_discriminator_loss", "CycleGANConfig", "CycleGAN", "InfoGANConfig", "InfoGAN",
    "one_hot_condition", "cycle_consistency_loss", "cyclegan_generator_loss", "mutual_information_lower_bound",
    "categorical_entropy", "discriminator_loss", "generator_loss_nonsaturating",
]


def _mlp(n_in: int, hidden: int, n_out: int, act: Callable[[], nn.Module]) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), act(), nn.Linear(hidden, hidden), act(), nn.Linear(hidden, n_out))


def one_hot_condition(x: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """[x, onehot(y)]: (B, D) and (B,) integers -> (B, D + K) in x's dtype."""
    return torch.cat([x, F.one_hot(y.long(), num_classes).to(x.dtype)], dim=-1)


# ---------------------------------------------------------------------------------------------
# conditional GAN
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConditionalGANConfig:
    latent_dim: int = 4
    data_dim: int = 2
    num_classes: int = 3
    hidden: int = 32


class ConditionalGAN(nn.Module):
    """G(z | y): (B, latent_dim), (B,) -> (B, data_dim); D(x | y) -> logits (B,).

    ``forward(z, y)`` -> (G(z|y), D-logits of (G(z|y), y)).
    """

    def __init__(self, config: ConditionalGANConfig | None = None, **kwargs):
        super().__init__()
        self.config = c = config or ConditionalGANConfig(**kwargs)
        self.latent_dim, self.num_classes = c.latent_dim, c.num_classes
        self.g_net = _mlp(c.latent_dim + c.num_classes, c.hidden, c.data_dim, nn.ReLU)
        self.d_net = _mlp(c.data_dim + c.num_classes, c.hidden, 1, lambda: nn.LeakyReLU(0.2))

    def generate(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.g_net(one_hot_condition(z, y, self.num_classes))

    def discriminate(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.d_net(one_hot_condition(x, y, self.num_classes)).squeeze(-1)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.generate(z, y)
        return x, self.discriminate(x, y)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())


def conditional_discriminator_loss(model: ConditionalGAN, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor,
                                   real_label: float = 1.0) -> torch.Tensor:
    """The conditional discriminator's cost J_D = −E[log D(x | y)] − E[log(1 − D(G(z | y) | y))]
    (real pairs (x, y), fake pairs (G(z | y), y) with the *same* labels; BCE with targets 1 and 0).

    G(z | y) is detached: the discriminator's loss trains the discriminator only (G is its
    static adversary, Algorithm 1). ``real_label`` < 1 is one-sided label smoothing.
    Args: x (B, data_dim), y (B,) integer labels, z (B, latent_dim).
    """
    fake = model.generate(z, y).detach()
    return discriminator_loss(model.discriminate(x, y), model.discriminate(fake, y), real_label=real_label)


# ---------------------------------------------------------------------------------------------
# CycleGAN
# ---------------------------------------------------------------------------------------------
def cycle_consistency_loss(G: Callable[[torch.Tensor], torch.Tensor], F_: Callable[[torch.Tensor], torch.Tensor],
                           x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L_cyc = E_x ‖F(G(x)) − x‖₁ + E_y ‖G(F(y)) − y‖₁ (L1 over features, mean over the batch).

    Args: G: X -> Y, F_: Y -> X (callables on (B, D)); x (B, D_X); y (B, D_Y).
    """
    forward_cycle = (F_(G(x)) - x).abs().flatten(1).sum(-1).mean()
    backward_cycle = (G(F_(y)) - y).abs().flatten(1).sum(-1).mean()
    return forward_cycle + backward_cycle


@dataclass(frozen=True)
class CycleGANConfig:
    dim_x: int = 3
    dim_y: int = 3
    hidden: int = 32
    lambda_cyc: float = 10.0  # weight of the cycle loss (Zhu et al. §4)


class CycleGAN(nn.Module):
    """Two generators G: X -> Y, F: Y -> X and two discriminators D_X, D_Y (logits).

    ``forward(x, y)`` -> (G(x), F(y), F(G(x)), G(F(y))).
    """

    def __init__(self, config: CycleGANConfig | None = None, **kwargs):
        super().__init__()
        self.config = c = config or CycleGANConfig(**kwargs)
        self.G = _mlp(c.dim_x, c.hidden, c.dim_y, nn.ReLU)
        self.F = _mlp(c.dim_y, c.hidden, c.dim_x, nn.ReLU)
        self.D_X = _mlp(c.dim_x, c.hidden, 1, lambda: nn.LeakyReLU(0.2))
        self.D_Y = _mlp(c.dim_y, c.hidden, 1, lambda: nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        fake_y, fake_x = self.G(x), self.F(y)
        return fake_y, fake_x, self.F(fake_y), self.G(fake_x)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())


def cyclegan_generator_loss(model: CycleGAN, x: torch.Tensor, y: torch.Tensor,
                            lambda_cyc: float | None = None) -> torch.Tensor:
    """−E_x log D_Y(G(x)) − E_y log D_X(F(y)) + λ L_cyc(G, F) (eq. 3, non-saturating form)."""
    lam = model.config.lambda_cyc if lambda_cyc is None else lambda_cyc
    adv = generator_loss_nonsaturating(model.D_Y(model.G(x)).squeeze(-1)) + \
        generator_loss_nonsaturating(model.D_X(model.F(y)).squeeze(-1))
    return adv + lam * cycle_consistency_loss(model.G, model.F, x, y)


# ---------------------------------------------------------------------------------------------
# InfoGAN
# ---------------------------------------------------------------------------------------------
def categorical_entropy(num_classes: int) -> float:
    """H(c) = log K nats for a uniform categorical code over K values."""
    return math.log(num_classes)


def mutual_information_lower_bound(q_logits: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """L_I = E[log Q(c | x)] + H(c), with Q(·|x) = softmax(q_logits) (B, K), c (B,) integers drawn
    from the uniform prior (H(c) = log K). L_I ≤ I(c; x) ≤ log K."""
    log_q = F.log_softmax(q_logits, dim=-1).gather(-1, c.long().unsqueeze(-1)).squeeze(-1)
    return log_q.mean() + categorical_entropy(q_logits.shape[-1])


@dataclass(frozen=True)
class InfoGANConfig:
    latent_dim: int = 4   # incompressible noise z
    num_codes: int = 5    # K values of the categorical code c
    data_dim: int = 2
    hidden: int = 32


class InfoGAN(nn.Module):
    """G(z, c) -> x (B, data_dim); a shared body feeds the D head (logit, (B,)) and the Q head
    (code logits, (B, K)). ``forward(z, c)`` -> (x, D-logits (B,), Q-logits (B, K))."""

    def __init__(self, config: InfoGANConfig | None = None, **kwargs):
        super().__init__()
        self.config = c = config or InfoGANConfig(**kwargs)
        self.latent_dim, self.num_codes = c.latent_dim, c.num_codes
        self.g_net = _mlp(c.latent_dim + c.num_codes, c.hidden, c.data_dim, nn.ReLU)
        self.body = nn.Sequential(nn.Linear(c.data_dim, c.hidden), nn.LeakyReLU(0.2),
                                  nn.Linear(c.hidden, c.hidden), nn.LeakyReLU(0.2))
        self.d_head = nn.Linear(c.hidden, 1)
        self.q_head = nn.Linear(c.hidden, c.num_codes)

    def generate(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.g_net(one_hot_condition(z, c, self.num_codes))

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(D-logits (B,), Q-logits (B, K)) from the shared body."""
        h = self.body(x)
        return self.d_head(h).squeeze(-1), self.q_head(h)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.generate(z, c)
        d, q = self.heads(x)
        return x, d, q

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())
