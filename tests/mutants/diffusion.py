"""Broken variants of the DDPM checks (harness.checks.diffusion): wrong schedules, a variance used
as a standard deviation, off-by-one ᾱ, broadcasting bugs, wrong posterior and ancestral step,
leaky or unlearnable losses, time-blind and batch-mixing ε-networks."""
from __future__ import annotations

import torch

import reference_impls.diffusion as ref
from harness.testing import broken, patched, replaced, subject_from

PARAMS = {"T": 1000, "beta_1": 1e-4, "beta_T": 0.02, "dim": 2, "hidden": 64, "time_dim": 16}
GD = subject_from("reference_impls.diffusion:GaussianDiffusion", PARAMS)


# --- broken cores ------------------------------------------------------------------------------
def schedule_without_beta0(T, beta_1=1e-4, beta_T=0.02, *, dtype=torch.float64, device=None):
    return torch.linspace(beta_1, beta_T, T, dtype=dtype, device=device)


def geometric_schedule(T, beta_1=1e-4, beta_T=0.02, *, dtype=torch.float64, device=None):
    b = torch.logspace(torch.log10(torch.tensor(beta_1)), torch.log10(torch.tensor(beta_T)), T, dtype=torch.float64)
    return torch.cat([b.new_zeros(1), b]).to(device=device, dtype=dtype)


def alpha_not_cumulative(betas):
    return 1.0 - betas  # α_t instead of ᾱ_t


def alpha_bar_exclusive(betas):
    return torch.cat([betas.new_ones(1), torch.cumprod(1.0 - betas, 0)[:-1]])  # ᾱ_{t−1}: off by one


def q_sample_var_not_std(x0, t, alpha_bar, eps=None, generator=None):
    """Noise scaled by (1 − ᾱ_t), the variance, instead of its square root."""
    ab = ref._at(alpha_bar, t, x0)
    eps = ref._noise(x0, eps, generator)
    return ab.sqrt() * x0 + (1.0 - ab) * eps


def q_sample_mean_not_sqrt(x0, t, alpha_bar, eps=None, generator=None):
    ab = ref._at(alpha_bar, t, x0)
    return ab * x0 + (1.0 - ab).sqrt() * ref._noise(x0, eps, generator)


def q_sample_first_t_only(x0, t, alpha_bar, eps=None, generator=None):
    """Broadcasting bug: uses the first sample's step for the whole batch."""
    t0 = int(t[0]) if isinstance(t, torch.Tensor) and t.dim() else t
    return ref.q_sample(x0, t0, alpha_bar, eps, generator)


def q_step_std_is_beta(x_prev, t, betas, eps=None, generator=None):
    b = ref._at(betas, t, x_prev)
    return (1.0 - b).sqrt() * x_prev + b * ref._noise(x_prev, eps, generator)


def posterior_with_beta_variance(x0, x_t, t, betas):
    mean, _ = ref.q_posterior_mean_var(x0, x_t, t, betas)
    return mean, ref._at(betas, t, x_t)  # β_t instead of β̃_t


def posterior_swapped_coefficients(x0, x_t, t, betas):
    mean, var = ref.q_posterior_mean_var(x_t, x0, t, betas)
    return mean, var


def eps_loss_bad_x_t(eps_model, x0, t, alpha_bar, eps=None, generator=None, reduction="mean"):
    eps = ref._noise(x0, eps, generator)
    x_t = q_sample_var_not_std(x0, t, alpha_bar, eps=eps)
    per = (eps - eps_model(x_t, t)).square().flatten(1).sum(1)
    return per.mean() if reduction == "mean" else per


def eps_loss_elementwise_mean(eps_model, x0, t, alpha_bar, eps=None, generator=None, reduction="mean"):
    """Averages over coordinates too (‖·‖²/D): not the ‖ε − ε_θ‖² the check holds."""
    per = ref.eps_loss(eps_model, x0, t, alpha_bar, eps, generator, reduction="none") / x0[0].numel()
    return per.mean() if reduction == "mean" else per


def p_step_beta_variance(eps_model, x_t, t, betas, noise=None, generator=None, variance="posterior"):
    return ref.p_sample_step(eps_model, x_t, t, betas, noise, generator, variance="beta")


def p_step_sqrt_alpha_bar(eps_model, x_t, t, betas, noise=None, generator=None, variance="posterior"):
    """Divides by √ᾱ_t instead of √α_t in μ_θ."""
    t_b = torch.full((x_t.shape[0],), int(t), dtype=torch.long, device=x_t.device)
    ab = ref.alpha_bar(betas)
    mean = (x_t - betas[t] / (1 - ab[t]).sqrt() * eps_model(x_t, t_b)) / ab[t].sqrt()
    if t == 1:
        return mean
    var = (1 - ab[t - 1]) / (1 - ab[t]) * betas[t]
    return mean + var.sqrt() * ref._noise(x_t, noise, generator)


def eps_loss_fresh_target(eps_model, x0, t, alpha_bar, eps=None, generator=None, reduction="mean"):
    """Regresses on a fresh noise draw instead of the ε that made x_t: nothing to learn."""
    x_t = ref.q_sample(x0, t, alpha_bar, eps=ref._noise(x0, eps, generator))
    per = (ref._noise(x0, None, generator) - eps_model(x_t, t)).square().flatten(1).sum(1)
    return per.mean() if reduction == "mean" else per


def eps_loss_leaks_noise(eps_model, x0, t, alpha_bar, eps=None, generator=None, reduction="mean"):
    """The network is shown x_t − √ᾱ_t x_0 (the scaled noise itself): it can beat the Bayes bound."""
    eps = ref._noise(x0, eps, generator)
    x_t = ref.q_sample(x0, t, alpha_bar, eps=eps)
    leak = x_t - ref._at(alpha_bar.sqrt(), t, x0) * x0
    per = (eps - eps_model(leak, t)).square().flatten(1).sum(1)
    return per.mean() if reduction == "mean" else per


class IgnoresTime(ref.GaussianDiffusion):
    def forward(self, x_t, t):
        return self.eps_model(x_t, torch.zeros_like(t))


class MixesBatch(ref.GaussianDiffusion):
    def forward(self, x_t, t):
        y = self.eps_model(x_t, t)
        return y - y.mean(0, keepdim=True)  # depends on the other samples


# --- broken cores for the closed-form and gradient checks ----------------------------------------
def q_step_minus_noise(x_prev, t, betas, eps=None, generator=None):
    """√(1 − β_t) x − √β_t ε: the same law for symmetric noise, wrong for the injected ε."""
    return ref._at((1.0 - betas).sqrt(), t, x_prev) * x_prev - ref._at(betas.sqrt(), t, x_prev) * ref._noise(x_prev, eps, generator)


def q_step_detached(x_prev, t, betas, eps=None, generator=None):
    return ref.q_step(x_prev, t, betas, eps, generator).detach()


def q_mean_var_mean_not_sqrt(x0, t, alpha_bar):
    return ref._at(alpha_bar, t, x0) * x0, ref._at(1.0 - alpha_bar, t, x0)


def q_mean_var_std_not_var(x0, t, alpha_bar):
    mean, var = ref.q_mean_var(x0, t, alpha_bar)
    return mean, var.sqrt()


def q_mean_var_detached(x0, t, alpha_bar):
    mean, var = ref.q_mean_var(x0, t, alpha_bar)
    return mean.detach(), var


def q_mean_var_0d_as_batch(x0, t, alpha_bar):
    """A 0-dim tensor t is indexed like a batch of steps: the variance comes back (1, ..., 1)."""
    if isinstance(t, torch.Tensor) and t.dim() == 0:
        t = t.reshape(1)
    return ref.q_mean_var(x0, t, alpha_bar)


def posterior_var_detached(x0, x_t, t, betas):
    mean, var = ref.q_posterior_mean_var(x0, x_t, t, betas)
    return mean, var.detach()


def posterior_schedule_detached(x0, x_t, t, betas):
    """Coefficients computed from a detached schedule: no gradient for a learnable β."""
    return ref.q_posterior_mean_var(x0, x_t, t, betas.detach())


def predict_x0_plus_eps(x_t, t, eps, alpha_bar):
    return (x_t + ref._at((1.0 - alpha_bar).sqrt(), t, x_t) * eps) / ref._at(alpha_bar.sqrt(), t, x_t)


def predict_x0_no_sqrt(x_t, t, eps, alpha_bar):
    return (x_t - ref._at(1.0 - alpha_bar, t, x_t) * eps) / ref._at(alpha_bar, t, x_t)


def p_mean_detached(x_t, t, eps_pred, betas):
    return ref.p_mean_from_eps(x_t, t, eps_pred, betas).detach()


def p_mean_sqrt_alpha_bar(x_t, t, eps_pred, betas):
    ab = ref.alpha_bar(betas)
    return (x_t - ref._at(betas / (1.0 - ab).sqrt(), t, x_t) * eps_pred) / ref._at(ab.sqrt(), t, x_t)


def p_step_noise_detached(eps_model, x_t, t, betas, noise=None, generator=None, variance="posterior"):
    return ref.p_sample_step(eps_model, x_t, t, betas, noise, generator, variance).detach()


def embedding_natural_log_base(t, dim, dtype):
    """ω_k = e^(−k/(dim/2)): base e instead of 10000."""
    half = dim // 2
    freqs = torch.exp(-torch.arange(half, dtype=torch.float64) / half).to(t.device)
    args = t.double()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1).to(dtype)


def embedding_cos_first(t, dim, dtype):
    e = ref.timestep_embedding(t, dim, dtype)
    half = dim // 2
    return torch.cat([e[:, half:], e[:, :half]], dim=-1)


class DetachedLoss(ref.GaussianDiffusion):
    def loss(self, x0, generator=None):
        return super().loss(x0, generator).detach()


class QSampleWrongSchedule(ref.GaussianDiffusion):
    """q_sample with ᾱ_{t−1} (an off-by-one schedule index) in the model method."""
    def q_sample(self, x0, t, eps=None, generator=None):
        return ref.q_sample(x0, t - 1, self.schedule(x0.device)[1], eps, generator)


class DetachedStep(ref.GaussianDiffusion):
    def p_sample_step(self, x_t, t, noise=None, generator=None):
        return super().p_sample_step(x_t, t, noise, generator).detach()


class StepBetaVariance(ref.GaussianDiffusion):
    def p_sample_step(self, x_t, t, noise=None, generator=None):
        return ref.p_sample_step(self.eps_model, x_t, t, self.schedule(x_t.device)[0], noise, generator, variance="beta")


def _b(label, **cores):
    return broken(label, patched(GD, **cores))


MUTANTS = {
    "ddpm_linear_beta_schedule": [
        _b("no β_0", linear_beta_schedule=schedule_without_beta0),
        _b("geometric schedule", linear_beta_schedule=geometric_schedule),
    ],
    "ddpm_alpha_bar_monotone": [
        _b("α, not cumulative", alpha_bar=alpha_not_cumulative),
        _b("ᾱ off by one", alpha_bar=alpha_bar_exclusive),
    ],
    "ddpm_marginal_equals_iterated_kernel": [
        _b("q_sample noise scaled by the variance", q_sample=q_sample_var_not_std),
        _b("ᾱ off by one", alpha_bar=alpha_bar_exclusive),
        _b("q_step noise scaled by β", q_step=q_step_std_is_beta),
    ],
    "ddpm_marginal_sampled_moments": [
        _b("q_step noise scaled by β", q_step=q_step_std_is_beta),
        _b("q_sample noise scaled by the variance", q_sample=q_sample_var_not_std),
    ],
    "ddpm_unit_variance_preserved": [
        _b("q_sample mean ᾱ_t x_0", q_sample=q_sample_mean_not_sqrt),
        _b("q_step noise scaled by β", q_step=q_step_std_is_beta),
    ],
    "ddpm_x_T_is_standard_normal": [
        _b("α, not cumulative", alpha_bar=alpha_not_cumulative),
        _b("q_step noise scaled by β", q_step=q_step_std_is_beta),
    ],
    "ddpm_q_sample_per_sample_t": [
        _b("first sample's t for the batch", q_sample=q_sample_first_t_only),
        _b("q_sample noise scaled by the variance", q_sample=q_sample_var_not_std),
    ],
    "ddpm_posterior_gaussian_conditioning": [
        _b("β_t as the posterior variance", q_posterior_mean_var=posterior_with_beta_variance),
        _b("x_0 and x_t swapped", q_posterior_mean_var=posterior_swapped_coefficients),
    ],
    "ddpm_eps_loss_values": [
        _b("wrong x_t", eps_loss=eps_loss_bad_x_t),
        _b("mean over coordinates", eps_loss=eps_loss_elementwise_mean),
    ],
    "ddpm_eps_loss_gaussian_bayes": [
        _b("wrong x_t", eps_loss=eps_loss_bad_x_t),
        _b("mean over coordinates", eps_loss=eps_loss_elementwise_mean),
    ],
    "ddpm_training_closes_bayes_gap": [
        _b("fresh noise as the target", eps_loss=eps_loss_fresh_target),
        _b("noise leaked to the network", eps_loss=eps_loss_leaks_noise),
    ],
    "ddpm_ancestral_step_true_eps": [
        _b("β_t as the step variance", p_sample_step=p_step_beta_variance),
        _b("divides by √ᾱ_t", p_sample_step=p_step_sqrt_alpha_bar),
    ],
    "ddpm_denoiser_time_conditioned": [
        broken("ignores t", replaced(GD, IgnoresTime)),
        broken("mixes the batch", replaced(GD, MixesBatch)),
    ],
    "ddpm_q_step_values_and_gradients": [
        _b("− √β_t ε", q_step=q_step_minus_noise),
        _b("detached output", q_step=q_step_detached),
        _b("q_step noise scaled by β", q_step=q_step_std_is_beta),
    ],
    "ddpm_q_mean_var_closed_form": [
        _b("mean ᾱ_t x_0", q_mean_var=q_mean_var_mean_not_sqrt),
        _b("standard deviation as the variance", q_mean_var=q_mean_var_std_not_var),
        _b("detached mean", q_mean_var=q_mean_var_detached),
        _b("0-dim t indexed as a batch", q_mean_var=q_mean_var_0d_as_batch),
    ],
    "ddpm_posterior_gradients": [
        _b("detached variance", q_posterior_mean_var=posterior_var_detached),
        _b("detached schedule", q_posterior_mean_var=posterior_schedule_detached),
        _b("x_0 and x_t swapped", q_posterior_mean_var=posterior_swapped_coefficients),
    ],
    "ddpm_predict_x0_inverts_q_sample": [
        _b("x_t + √(1 − ᾱ_t) ε", predict_x0_from_eps=predict_x0_plus_eps),
        _b("no square roots", predict_x0_from_eps=predict_x0_no_sqrt),
    ],
    "ddpm_reverse_mean_gradients": [
        _b("detached μ_θ", p_mean_from_eps=p_mean_detached),
        _b("μ_θ divides by √ᾱ_t", p_mean_from_eps=p_mean_sqrt_alpha_bar),
        _b("detached step", p_sample_step=p_step_noise_detached),
        _b("β_t as the step variance", p_sample_step=p_step_beta_variance),
    ],
    "ddpm_timestep_embedding_formula": [
        _b("base e frequencies", timestep_embedding=embedding_natural_log_base),
        _b("cos before sin", timestep_embedding=embedding_cos_first),
    ],
    "ddpm_model_methods": [
        broken("detached loss", replaced(GD, DetachedLoss)),
        broken("q_sample at t − 1", replaced(GD, QSampleWrongSchedule)),
        broken("detached p_sample_step", replaced(GD, DetachedStep)),
        broken("p_sample_step with β_t variance", replaced(GD, StepBetaVariance)),
    ],
}
