"""Every DDPM check passes on reference_impls.diffusion and rejects a broken variant."""
from __future__ import annotations

import pytest
import torch

import reference_impls.diffusion as ref
from harness.registry import Subject, load_checks
from harness.testing import patched, run_check, subject_from

PARAMS = {"T": 1000, "beta_1": 1e-4, "beta_T": 0.02, "dim": 2, "hidden": 64, "time_dim": 16}
GD = "reference_impls.diffusion:GaussianDiffusion"


def gd():
    return subject_from(GD, PARAMS)


def broken(**cores):
    return patched(gd(), **cores)


DDPM_CHECKS = sorted(n for n in load_checks() if n.startswith("ddpm_"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", DDPM_CHECKS)
def test_reference_passes(name, dtype):
    out = run_check(name, gd(), dtype=dtype)
    assert out.passed, out.line()


def test_recursion_is_exact_to_1e12():
    out = run_check("ddpm_marginal_equals_iterated_kernel", gd(), tolerance=(1e-12, 1e-12))
    assert out.passed, out.line()


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


# --- each check rejects its broken variants ------------------------------------------------------
def test_schedule_checks_reject_wrong_schedules():
    assert not run_check("ddpm_linear_beta_schedule", broken(linear_beta_schedule=schedule_without_beta0)).passed
    assert not run_check("ddpm_linear_beta_schedule", broken(linear_beta_schedule=geometric_schedule)).passed
    assert not run_check("ddpm_alpha_bar_monotone", broken(alpha_bar=alpha_not_cumulative)).passed
    assert not run_check("ddpm_alpha_bar_monotone", broken(alpha_bar=alpha_bar_exclusive)).passed


def test_recursion_rejects_wrong_marginal_or_kernel():
    assert not run_check("ddpm_marginal_equals_iterated_kernel", broken(q_sample=q_sample_var_not_std)).passed
    assert not run_check("ddpm_marginal_equals_iterated_kernel", broken(alpha_bar=alpha_bar_exclusive)).passed
    assert not run_check("ddpm_marginal_equals_iterated_kernel", broken(q_step=q_step_std_is_beta)).passed


def test_sampled_moments_reject_wrong_kernel():
    assert not run_check("ddpm_marginal_sampled_moments", broken(q_step=q_step_std_is_beta)).passed
    assert not run_check("ddpm_marginal_sampled_moments", broken(q_sample=q_sample_var_not_std)).passed


def test_unit_variance_rejects_non_variance_preserving():
    assert not run_check("ddpm_unit_variance_preserved", broken(q_sample=q_sample_mean_not_sqrt)).passed
    assert not run_check("ddpm_unit_variance_preserved", broken(q_step=q_step_std_is_beta)).passed


def test_x_T_normality_rejects_non_cumulative_alpha():
    out = run_check("ddpm_x_T_is_standard_normal", broken(alpha_bar=alpha_not_cumulative))
    assert not out.passed and "q_sample" in out.statement
    assert not run_check("ddpm_x_T_is_standard_normal", broken(q_step=q_step_std_is_beta)).passed


def test_q_sample_rejects_broadcasting_bug():
    assert not run_check("ddpm_q_sample_per_sample_t", broken(q_sample=q_sample_first_t_only)).passed
    assert not run_check("ddpm_q_sample_per_sample_t", broken(q_sample=q_sample_var_not_std)).passed


def test_posterior_rejects_wrong_formulas():
    beta_var = broken(q_posterior_mean_var=posterior_with_beta_variance)
    swapped = broken(q_posterior_mean_var=posterior_swapped_coefficients)
    assert not run_check("ddpm_posterior_gaussian_conditioning", beta_var).passed
    assert not run_check("ddpm_posterior_gaussian_conditioning", swapped).passed


def test_eps_loss_rejects_wrong_x_t_and_averaging():
    assert not run_check("ddpm_eps_loss_values", broken(eps_loss=eps_loss_bad_x_t)).passed
    assert not run_check("ddpm_eps_loss_values", broken(eps_loss=eps_loss_elementwise_mean)).passed
    assert not run_check("ddpm_eps_loss_gaussian_bayes", broken(eps_loss=eps_loss_bad_x_t)).passed
    assert not run_check("ddpm_eps_loss_gaussian_bayes", broken(eps_loss=eps_loss_elementwise_mean)).passed


def test_training_check_rejects_unlearnable_and_leaky_losses():
    assert not run_check("ddpm_training_closes_bayes_gap", broken(eps_loss=eps_loss_fresh_target)).passed
    assert not run_check("ddpm_training_closes_bayes_gap", broken(eps_loss=eps_loss_leaks_noise)).passed


def test_ancestral_step_rejects_wrong_variance_and_mean():
    assert not run_check("ddpm_ancestral_step_true_eps", broken(p_sample_step=p_step_beta_variance)).passed
    assert not run_check("ddpm_ancestral_step_true_eps", broken(p_sample_step=p_step_sqrt_alpha_bar)).passed


def test_denoiser_rejects_time_blind_and_batch_mixing_models():
    assert not run_check("ddpm_denoiser_time_conditioned", Subject("IgnoresTime", IgnoresTime, PARAMS, ref)).passed
    assert not run_check("ddpm_denoiser_time_conditioned", Subject("MixesBatch", MixesBatch, PARAMS, ref)).passed


def test_gaussian_diffusion_methods_use_its_schedule():
    model = ref.GaussianDiffusion(T=50, dim=3)
    x0, eps = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    ab = ref.alpha_bar(ref.linear_beta_schedule(50))
    assert torch.equal(model.q_sample(x0.float(), 10, eps=eps.float()), ref.q_sample(x0.float(), 10, ab, eps=eps.float()))
    g = torch.Generator().manual_seed(0)
    assert model.loss(x0.float(), generator=g).shape == ()
    assert model.p_sample_step(x0.float(), 5, generator=g).shape == (4, 3)
    betas, ab16 = model.to(torch.bfloat16).schedule()
    assert betas.dtype == ab16.dtype == torch.float64  # casting the network never rounds the schedule
    assert torch.equal(ab16, ab)
