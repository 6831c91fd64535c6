"""Denoising diffusion (DDPM): the forward noising process, the ε-prediction loss and one
ancestral sampling step, with a tiny MLP ε-network.

Forward process (a fixed Markov chain that adds Gaussian noise):

    q(x_t | x_{t−1}) = N(√(1 − β_t) x_{t−1}, β_t I),           t = 1..T
    q(x_t | x_0)     = N(√ᾱ_t x_0, (1 − ᾱ_t) I),   ᾱ_t = Π_{s=1..t} (1 − β_s)

so x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε with ε ~ N(0, I). The posterior of one step back is Gaussian,

    q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I),
    μ̃_t = √ᾱ_{t−1} β_t / (1 − ᾱ_t) · x_0 + √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · x_t,
    β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t,

and the reverse model predicts ε: μ_θ(x_t, t) = (x_t − β_t / √(1 − ᾱ_t) · ε_θ(x_t, t)) / √α_t,
trained with L_simple = E ‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t)‖².

Indexing: time steps are numbered as in the paper, t = 1..T. Every schedule tensor has length
T + 1 and index 0 stands for the data itself: β_0 = 0, ᾱ_0 = 1 (so q_sample(x0, 0) = x0 and
``betas[t]`` is the paper's β_t). ``t`` is a Python int or an integer tensor of shape ``(B,)``
(one step per sample). Shapes: data ``(B, ...)`` batch-first; the MLP ε-network takes
``(B, dim)`` and integer ``t`` of shape ``(B,)``.

References
1. Ho, Jain, Abbeel (2020), "Denoising Diffusion Probabilistic Models", NeurIPS (eqs. 2, 4, 6,
   7, 11, 14 and Algorithms 1–2; linear schedule β_1 = 1e−4 to β_T = 0.02, T = 1000).
2. Sohl-Dickstein, Weiss, Maheswaranathan, Ganguli (2015), "Deep Unsupervised Learning using
   Nonequilibrium Thermodynamics", ICML.
3. Course notes 004 (one line: "Diffusion models: gradually add noise to an image and then
   denoise it"); the formulas here are the paper's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import nn

__all__ = [
    "DiffusionConfig", "EpsMLP", "GaussianDiffusion",
    "linear_beta_schedule", "alpha_bar", "q_step", "q_sample", "q_mean_var", "q_posterior_mean_var",
    "predict_x0_from_eps", "p_mean_from_eps", "p_sample_step", "eps_loss", "timestep_embedding",
]

EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------------------------------
# schedule
# ---------------------------------------------------------------------------------------------
def linear_beta_schedule(T: int, beta_1: float = 1e-4, beta_T: float = 0.02, *,
                         dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
    """β_t linearly spaced from β_1 to β_T for t = 1..T, with β_0 = 0 prepended: shape (T + 1,)."""
    betas = torch.linspace(beta_1, beta_T, T, dtype=torch.float64)
    return torch.cat([betas.new_zeros(1), betas]).to(device=device, dtype=dtype)


def alpha_bar(betas: torch.Tensor) -> torch.Tensor:
    """ᾱ_t = Π_{s ≤ t} (1 − β_s) (a cumulative product; ᾱ_0 = 1 since β_0 = 0): (T + 1,)."""
    return torch.cumprod(1.0 - betas, dim=0)


def _at(coef: torch.Tensor, t: int | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """coef[t] in x's dtype/device, shaped to broadcast against x: () for an int t, (B, 1, ..., 1)
    for a tensor t of shape (B,). Coefficients are formed in the schedule's precision (float64
    by default) and only then cast: 1 − ᾱ_1 = β_1 = 1e−4 would lose 3 digits in float32."""
    coef = coef.to(device=x.device, dtype=x.dtype)
    if isinstance(t, torch.Tensor) and t.dim() > 0:
        return coef[t.to(coef.device)].reshape(-1, *([1] * (x.dim() - 1)))
    return coef[int(t)]


def _noise(x: torch.Tensor, eps: torch.Tensor | None, generator: torch.Generator | None) -> torch.Tensor:
    if eps is not None:
        return eps
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


# ---------------------------------------------------------------------------------------------
# forward process
# ---------------------------------------------------------------------------------------------
def q_step(x_prev: torch.Tensor, t: int | torch.Tensor, betas: torch.Tensor, eps: torch.Tensor | None = None,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """One forward step x_t ~ q(x_t | x_{t−1}) = N(√(1 − β_t) x_{t−1}, β_t I):
    x_t = √(1 − β_t) x_{t−1} + √β_t ε (ε injected or drawn from ``generator``)."""
    return _at(torch.sqrt(1.0 - betas), t, x_prev) * x_prev + _at(torch.sqrt(betas), t, x_prev) * _noise(x_prev, eps, generator)


def q_sample(x0: torch.Tensor, t: int | torch.Tensor, alpha_bar: torch.Tensor, eps: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """The closed-form marginal x_t ~ q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I):
    x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε."""
    return _at(torch.sqrt(alpha_bar), t, x0) * x0 + _at(torch.sqrt(1.0 - alpha_bar), t, x0) * _noise(x0, eps, generator)


def q_mean_var(x0: torch.Tensor, t: int | torch.Tensor, alpha_bar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean √ᾱ_t x_0 and (per-coordinate) variance 1 − ᾱ_t of q(x_t | x_0)."""
    return _at(torch.sqrt(alpha_bar), t, x0) * x0, _at(1.0 - alpha_bar, t, x0)


def q_posterior_mean_var(x0: torch.Tensor, x_t: torch.Tensor, t: int | torch.Tensor,
                         betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I) for t ≥ 1 (Ho et al. eqs. 6–7):
    μ̃_t = √ᾱ_{t−1} β_t/(1 − ᾱ_t) x_0 + √α_t (1 − ᾱ_{t−1})/(1 − ᾱ_t) x_t,
    β̃_t = (1 − ᾱ_{t−1})/(1 − ᾱ_t) β_t   (β̃_1 = 0: x_0 is then known exactly)."""
    ab = alpha_bar(betas)
    ab_prev = torch.cat([ab.new_ones(1), ab[:-1]])
    one_minus_ab = (1.0 - ab).clamp_min(torch.finfo(ab.dtype).tiny)  # t = 0 is not a valid step; avoid 0/0 there
    coef_x0 = torch.sqrt(ab_prev) * betas / one_minus_ab
    coef_xt = torch.sqrt(1.0 - betas) * (1.0 - ab_prev) / one_minus_ab
    var = (1.0 - ab_prev) / one_minus_ab * betas
    return _at(coef_x0, t, x0) * x0 + _at(coef_xt, t, x_t) * x_t, _at(var, t, x_t)


# ---------------------------------------------------------------------------------------------
# reverse process and loss
# ---------------------------------------------------------------------------------------------
def predict_x0_from_eps(x_t: torch.Tensor, t: int | torch.Tensor, eps: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """x̂_0 = (x_t − √(1 − ᾱ_t) ε) / √ᾱ_t (inverts q_sample for a known ε)."""
    return (x_t - _at(torch.sqrt(1.0 - alpha_bar), t, x_t) * eps) / _at(torch.sqrt(alpha_bar), t, x_t)


def p_mean_from_eps(x_t: torch.Tensor, t: int | torch.Tensor, eps_pred: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """μ_θ(x_t, t) = (x_t − β_t / √(1 − ᾱ_t) · ε_θ) / √α_t (Ho et al. eq. 11)."""
    ab = alpha_bar(betas).clamp_max(1.0 - torch.finfo(betas.dtype).eps)  # t = 0 is not a valid step
    return (x_t - _at(betas / torch.sqrt(1.0 - ab), t, x_t) * eps_pred) * _at(1.0 / torch.sqrt(1.0 - betas), t, x_t)


def p_sample_step(eps_model: EpsModel, x_t: torch.Tensor, t: int, betas: torch.Tensor,
                  noise: torch.Tensor | None = None, generator: torch.Generator | None = None,
                  variance: str = "posterior") -> torch.Tensor:
    """One ancestral step x_{t−1} = μ_θ(x_t, t) + σ_t z, z ~ N(0, I), z = 0 at t = 1
    (Ho et al. Algorithm 2); σ_t² = β̃_t (``variance="posterior"``) or β_t (``"beta"``).
    ``eps_model(x_t, t_batch)`` receives t as an int64 tensor of shape (B,)."""
    t_batch = torch.full((x_t.shape[0],), int(t), dtype=torch.long, device=x_t.device)
    mean = p_mean_from_eps(x_t, t, eps_model(x_t, t_batch), betas)
    if int(t) == 1:
        return mean
    if variance == "posterior":
        ab = alpha_bar(betas)
        var = (1.0 - ab[int(t) - 1]) / (1.0 - ab[int(t)]) * betas[int(t)]
    elif variance == "beta":
        var = betas[int(t)]
    else:
        raise ValueError(f"variance must be 'posterior' or 'beta', got {variance!r}")
    sigma = torch.sqrt(var).to(device=x_t.device, dtype=x_t.dtype)
    return mean + sigma * _noise(x_t, noise, generator)


def eps_loss(eps_model: EpsModel, x0: torch.Tensor, t: torch.Tensor, alpha_bar: torch.Tensor,
             eps: torch.Tensor | None = None, generator: torch.Generator | None = None,
             reduction: str = "mean") -> torch.Tensor:
    """L_simple = ‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t)‖² (Ho et al. eq. 14): the squared norm
    is summed over each sample's coordinates, then averaged over the batch (``"mean"``) or
    returned per sample (``"none"``). ``t``: int64 (B,)."""
    eps = _noise(x0, eps, generator)
    x_t = q_sample(x0, t, alpha_bar, eps=eps)
    per_sample = (eps - eps_model(x_t, t)).square().flatten(1).sum(dim=1)  # (B,)
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "none":
        return per_sample
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


# ---------------------------------------------------------------------------------------------
# modules
# ---------------------------------------------------------------------------------------------
def timestep_embedding(t: torch.Tensor, dim: int, dtype: torch.dtype) -> torch.Tensor:
    """Sinusoidal embedding of integer steps (Vaswani et al. 2017 / Ho et al. 2020):
    [sin(t ω_k), cos(t ω_k)], ω_k = 10000^(−k/(dim/2)), k < dim/2: (B,) -> (B, dim).
    Computed in at least float32 (bfloat16 cannot represent t > 256 exactly), returned in ``dtype``."""
    work = torch.promote_types(dtype, torch.float32)
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=work) / half)
    args = t.to(work)[:, None] * freqs[None, :]  # (B, half)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1).to(dtype)


@dataclass(frozen=True)
class DiffusionConfig:
    T: int = 1000
    beta_1: float = 1e-4
    beta_T: float = 0.02
    dim: int = 2          # data dimension (flat vectors)
    hidden: int = 64
    time_dim: int = 16    # even


class EpsMLP(nn.Module):
    """ε_θ(x_t, t): MLP on [x_t, embedding(t)]: (B, dim), int64 (B,) -> (B, dim)."""

    def __init__(self, config: DiffusionConfig | None = None, **overrides: object) -> None:
        super().__init__()
        self.config = c = replace(config or DiffusionConfig(), **overrides)
        self.net = nn.Sequential(
            nn.Linear(c.dim + c.time_dim, c.hidden), nn.SiLU(),
            nn.Linear(c.hidden, c.hidden), nn.SiLU(),
            nn.Linear(c.hidden, c.dim),
        )

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = timestep_embedding(t, self.config.time_dim, x_t.dtype)  # (B, time_dim)
        return self.net(torch.cat([x_t, emb], dim=-1))  # (B, dim)


class GaussianDiffusion(nn.Module):
    """A DDPM: the linear β schedule of its config and an :class:`EpsMLP`.

    ``forward(x_t, t)`` is the ε-network; :meth:`q_sample`, :meth:`loss` and
    :meth:`p_sample_step` apply the functional cores with this model's schedule. The schedule
    is not a buffer: it is rebuilt in float64 on the data's device by :meth:`schedule`, so
    casting the network to float32 or bfloat16 never rounds β or ᾱ.
    """

    def __init__(self, config: DiffusionConfig | None = None, **overrides: object) -> None:
        super().__init__()
        self.config = c = replace(config or DiffusionConfig(), **overrides)
        self.eps_model = EpsMLP(c)

    def schedule(self, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(β, ᾱ), each (T + 1,) in float64 on ``device``."""
        c = self.config
        betas = linear_beta_schedule(c.T, c.beta_1, c.beta_T, device=device)
        return betas, alpha_bar(betas)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.eps_model(x_t, t)

    def q_sample(self, x0: torch.Tensor, t: int | torch.Tensor, eps: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (see :func:`q_sample`)."""
        return q_sample(x0, t, self.schedule(x0.device)[1], eps, generator)

    def loss(self, x0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """L_simple with t ~ Uniform{1..T} per sample (Ho et al. Algorithm 1)."""
        t = torch.randint(1, self.config.T + 1, (x0.shape[0],), generator=generator, device=x0.device)
        return eps_loss(self.eps_model, x0, t, self.schedule(x0.device)[1], generator=generator)

    def p_sample_step(self, x_t: torch.Tensor, t: int, noise: torch.Tensor | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """x_{t−1} from p_θ(x_{t−1} | x_t) (see :func:`p_sample_step`)."""
        return p_sample_step(self.eps_model, x_t, t, self.schedule(x_t.device)[0], noise, generator)
