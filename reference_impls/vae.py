"""Variational autoencoder (Gaussian encoder, Gaussian or Bernoulli decoder), from its definitions.

The encoder maps x to the parameters (μ, log σ²) of a diagonal Gaussian q(z|x); a latent is
drawn by the reparameterisation z = μ + σ ⊙ ε with ε ~ N(0, I); the decoder maps z to the mean
x' of p(x|z) (Gaussian likelihood, fixed variance σ_x²) or to its logits (Bernoulli likelihood).
Training minimises the negative ELBO, reconstruction NLL + KL(q(z|x) ‖ N(0, I)).

Shapes: batch first. x is (B, D), μ and log σ² are (B, K), z is (B, K), x' is (B, D). Every
per-sample quantity (KL, NLL, ELBO) sums over the non-batch dimensions and returns (B,);
:func:`vae_loss` averages over the batch.

Conventions: the encoder outputs log σ² (``logvar``), not σ, so σ² = exp(logvar) > 0 always.
``sigma2`` in :func:`gaussian_nll` is the *decoder's* observation variance σ_x², a
hyper-parameter, not the latent σ of the encoder.

Notes 002 typos, corrected here: the notes write the Gaussian reconstruction loss as
½‖x − x′‖² + ½ log(2πσ²) and call σ "the standard deviation of the latent variable". The
negative log-density of N(x; x′, σ_x² I) in D dimensions is ½‖x − x′‖²/σ_x² + (D/2) log(2πσ_x²):
the squared error is divided by the variance, the constant counts once per dimension, and σ_x is
the decoder's noise scale. The notes' form is the special case σ_x² = 1 up to the constant.
The KL line −½ Σ (1 + log σ² − μ² − σ²) of notes 002 is the standard one and is used as is.

References
1. Kingma, Welling (2014), "Auto-Encoding Variational Bayes", ICLR; section 2.4
   (reparameterisation) and appendix B (the Gaussian KL in closed form).
2. Rezende, Mohamed, Wierstra (2014), "Stochastic Backpropagation and Approximate Inference in
   Deep Generative Models", ICML.
3. Notes 002 ("Variational Autoencoders": encoder, decoder, reconstruction loss, KL divergence
   loss and its derivation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "VAEConfig", "VAE", "gaussian_kl", "reparameterize", "gaussian_nll", "bernoulli_nll", "reconstruction_nll", "elbo",
    "vae_loss", "LOG_2PI",
]

LOG_2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------------------------------
# functional cores
# --------------------------------------------------------------------------------------------
def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) = −½ Σ_k (1 + log σ_k² − μ_k² − σ_k²), summed over the last axis.

    Args: mu, logvar (..., K). Returns (...,). Zero iff μ = 0 and σ² = 1; positive otherwise.
    """
    return -0.5 * torch.sum(1.0 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """z = μ + σ ⊙ ε with σ = exp(½ log σ²) and ε ~ N(0, I).

    ``eps`` injects the noise (same shape as ``mu``); otherwise it is drawn from ``generator``
    (on the generator's device: pass one on ``mu.device``), or from torch's global RNG when
    ``generator`` is None. Gradients flow to μ and log σ² (∂z/∂μ = 1, ∂z/∂log σ² = ½σε).
    """
    if eps is None:
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_nll(x: torch.Tensor, x_hat: torch.Tensor, sigma2: float | torch.Tensor = 1.0) -> torch.Tensor:
    """−log N(x; x', σ_x² I) = Σ_d [½ (x_d − x'_d)²/σ_x² + ½ log(2π σ_x²)], summed over non-batch axes.

    Args: x, x_hat (B, ...); sigma2 a positive scalar or a tensor broadcastable to x (per-dimension
    variances). Returns (B,). (Notes 002 drop the 1/σ_x² and the per-dimension count; see module doc.)
    """
    sigma2 = torch.as_tensor(sigma2, dtype=x.dtype, device=x.device)
    per_dim = 0.5 * (x - x_hat).pow(2) / sigma2 + 0.5 * (LOG_2PI + torch.log(sigma2))
    return per_dim.reshape(x.shape[0], -1).sum(-1)


def bernoulli_nll(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """−log Bern(x; sigmoid(ℓ)) = Σ_d [softplus(ℓ_d) − x_d ℓ_d] (BCE with logits), summed per sample.

    Args: x in [0, 1] and logits (B, ...). Returns (B,).
    """
    per_dim = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return per_dim.reshape(x.shape[0], -1).sum(-1)


def reconstruction_nll(x: torch.Tensor, x_hat: torch.Tensor, sigma2: float | torch.Tensor = 1.0,
                       likelihood: str = "gaussian") -> torch.Tensor:
    """−log p(x | z) per sample (B,): :func:`gaussian_nll` or :func:`bernoulli_nll`."""
    if likelihood == "gaussian":
        return gaussian_nll(x, x_hat, sigma2)
    if likelihood == "bernoulli":
        return bernoulli_nll(x, x_hat)
    raise ValueError(f"likelihood must be 'gaussian' or 'bernoulli', got {likelihood!r}")


def elbo(x: torch.Tensor, x_hat: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
         sigma2: float | torch.Tensor = 1.0, likelihood: str = "gaussian") -> torch.Tensor:
    """Single-sample ELBO: log p(x|z) − KL(q(z|x) ‖ p(z)), with x_hat = decoder(z), z ~ q(z|x).

    log p(x|z) = −gaussian_nll(x, x_hat, σ_x²) (or −bernoulli_nll(x, logits=x_hat)); the KL term is
    the closed form :func:`gaussian_kl`. Its expectation over z is ≤ log p(x), with equality iff
    q(z|x) is the exact posterior. Returns (B,).
    """
    rec = reconstruction_nll(x, x_hat, sigma2, likelihood)
    return -rec - gaussian_kl(mu, logvar)


def vae_loss(x: torch.Tensor, x_hat: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
             sigma2: float | torch.Tensor = 1.0, likelihood: str = "gaussian", beta: float = 1.0) -> torch.Tensor:
    """Batch mean of the negative ELBO: (1/B) Σ_b [NLL(x_b | x'_b) + β KL(q(z|x_b) ‖ N(0, I))] (β = 1: the VAE)."""
    rec = reconstruction_nll(x, x_hat, sigma2, likelihood)
    return (rec + beta * gaussian_kl(mu, logvar)).mean()


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VAEConfig:
    in_features: int = 64
    hidden: int = 128
    latent: int = 8
    likelihood: str = "gaussian"  # "gaussian": decoder outputs the mean; "bernoulli": the logits
    sigma2: float = 1.0           # decoder observation variance σ_x² (gaussian likelihood)

    def __post_init__(self) -> None:
        if self.likelihood not in ("gaussian", "bernoulli"):
            raise ValueError(f"likelihood must be 'gaussian' or 'bernoulli', got {self.likelihood!r}")
        if self.sigma2 <= 0:
            raise ValueError(f"sigma2 must be positive, got {self.sigma2}")


class VAE(nn.Module):
    """MLP VAE: x -> tanh(W₁x + b₁) -> (μ, log σ²); z -> tanh(W₃z + b₃) -> x' (mean or logits).

    ``forward(x, eps=None, generator=None) -> (x_hat, mu, logvar)``; ``loss(x, ...)`` is the
    batch-mean negative ELBO.
    """

    def __init__(self, config: VAEConfig | None = None, **kwargs) -> None:
        super().__init__()
        self.config = cfg = config if config is not None else VAEConfig(**kwargs)
        self.enc = nn.Linear(cfg.in_features, cfg.hidden)
        self.enc_mu = nn.Linear(cfg.hidden, cfg.latent)
        self.enc_logvar = nn.Linear(cfg.hidden, cfg.latent)
        self.dec = nn.Linear(cfg.latent, cfg.hidden)
        self.dec_out = nn.Linear(cfg.hidden, cfg.in_features)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D) -> μ (B, K), log σ² (B, K)."""
        h = torch.tanh(self.enc(x))  # (B, H)
        return self.enc_mu(h), self.enc_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, K) -> x' (B, D): the Gaussian mean, or the Bernoulli logits."""
        return self.dec_out(torch.tanh(self.dec(z)))

    def forward(self, x: torch.Tensor, eps: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, eps=eps, generator=generator)
        return self.decode(z), mu, logvar

    def loss(self, x: torch.Tensor, eps: torch.Tensor | None = None,
             generator: torch.Generator | None = None, beta: float = 1.0) -> torch.Tensor:
        """Batch-mean negative ELBO (one reparameterised sample per input)."""
        x_hat, mu, logvar = self(x, eps=eps, generator=generator)
        return vae_loss(x, x_hat, mu, logvar, self.config.sigma2, self.config.likelihood, beta)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws of the decoder mean (or Bernoulli probabilities) at z ~ N(0, I): (n, D)."""
        w = self.dec.weight
        z = torch.randn(n, self.config.latent, generator=generator, device=w.device, dtype=w.dtype)
        out = self.decode(z)
        return torch.sigmoid(out) if self.config.likelihood == "bernoulli" else out
