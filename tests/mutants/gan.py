"""Broken variants of the GAN checks (harness.checks.gan) on reference_impls.gan."""
from __future__ import annotations

import torch
import torch.nn.functional as F

import reference_impls.gan as gan
from harness.testing import broken, patched, replaced, subject_from

REAL = subject_from("reference_impls.gan:GAN", {"latent_dim": 2, "data_dim": 1, "hidden": 32, "layers": 2})


def _naive_value(r, f, rw=None, fw=None):
    """log(sigmoid(.)) underflows to −inf at extreme logits."""
    return torch.log(torch.sigmoid(r)).mean() + torch.log(1 - torch.sigmoid(f)).mean()


def _two_sided_smoothing(r, f, real_label=1.0, real_weights=None, fake_weights=None):
    """The fake target smoothed to 1 − α as well (two-sided smoothing)."""
    a = real_label
    real = a * F.logsigmoid(r) + (1 - a) * F.logsigmoid(-r)
    fake = (1 - a) * F.logsigmoid(f) + a * F.logsigmoid(-f)
    return -(gan._mean(real, real_weights) + gan._mean(fake, fake_weights))


class OwnStatsVBN(gan.VirtualBatchNorm):
    """Ordinary batch norm (the minibatch's own statistics)."""

    def forward(self, x, reference):
        return gan.virtual_batch_norm(x, x, self.weight, self.bias, self.eps), \
            gan.virtual_batch_norm(reference, reference, self.weight, self.bias, self.eps)


class UnbiasedVBN(gan.VirtualBatchNorm):
    """The reference variance with Bessel's correction."""

    def forward(self, x, reference):
        mu, var = reference.mean(0), reference.var(0, unbiased=True)
        f = lambda v: (v - mu) / torch.sqrt(var + self.eps) * self.weight + self.bias  # noqa: E731
        return f(x), f(reference)


class ReferenceOnlyVBN(gan.VirtualBatchNorm):
    """The reference batch's statistics alone (the example itself left out)."""

    def forward(self, x, reference):
        mu, var = reference.mean(0), reference.var(0, unbiased=False)
        f = lambda v: (v - mu) * torch.rsqrt(var + self.eps) * self.weight + self.bias  # noqa: E731
        return f(x), f(reference)


class HalfWeightVBN(gan.VirtualBatchNorm):
    """The example mixed in with weight 1/2 instead of 1/(N+1)."""

    def forward(self, x, reference):
        mu = 0.5 * reference.mean(0) + 0.5 * x
        var = 0.5 * (reference.var(0, unbiased=False) + (reference.mean(0) - mu) ** 2) + 0.5 * (x - mu) ** 2
        y = (x - mu) * torch.rsqrt(var + self.eps) * self.weight + self.bias
        return y, gan.batch_norm_reference(reference, self.weight, self.bias, self.eps)


def _unit_uniform(n, latent_dim, *, like, generator=None, prior="gaussian", low=-1.0, high=1.0):
    """The uniform prior ignores its bounds: always U[0, 1)."""
    if prior == "uniform":
        return torch.rand(n, latent_dim, generator=generator, device=like.device, dtype=like.dtype)
    return gan.sample_noise(n, latent_dim, like=like, generator=generator)


def _scaled_not_shifted(n, latent_dim, *, like, generator=None, prior="gaussian", low=-1.0, high=1.0):
    """low + high·u instead of low + (high − low)·u."""
    if prior == "uniform":
        return low + high * torch.rand(n, latent_dim, generator=generator, device=like.device, dtype=like.dtype)
    return gan.sample_noise(n, latent_dim, like=like, generator=generator)


def _gaussian_always(n, latent_dim, *, like, generator=None, prior="gaussian", low=-1.0, high=1.0):
    """The prior argument ignored: Gaussian noise whatever is asked."""
    return gan.sample_noise(n, latent_dim, like=like, generator=generator)


def _global_rng_uniform(n, latent_dim, *, like, generator=None, prior="gaussian", low=-1.0, high=1.0):
    """The uniform draws come from the global RNG, not the generator passed in."""
    if prior == "uniform":
        return low + (high - low) * torch.rand(n, latent_dim, device=like.device, dtype=like.dtype)
    return gan.sample_noise(n, latent_dim, like=like, generator=generator)


def _one_d_step(model, real_batches, opt_d, opt_g, **kw):
    """Only the first of the k discriminator steps."""
    return gan.train_step(model, list(real_batches)[:1], opt_d, opt_g, **kw)


def _generator_moves_in_d_steps(model, real_batches, opt_d, opt_g, **kw):
    """The fakes are not detached and one optimizer-free update nudges G inside each D step."""
    out = {"d_losses": [], "g_loss": 0.0}
    for real in real_batches:
        z = gan.sample_noise(real.shape[0], model.latent_dim, like=real, generator=kw.get("generator"))
        loss = gan.discriminator_loss(model.discriminator(real), model.discriminator(model.generator(z)))
        opt_d.zero_grad()
        opt_g.zero_grad()
        loss.backward()
        opt_d.step()
        with torch.no_grad():
            for p in model.generator.parameters():
                p -= 0.01 * p.grad
        out["d_losses"].append(float(loss.detach()))
    z = gan.sample_noise(real.shape[0], model.latent_dim, like=real, generator=kw.get("generator"))
    opt_g.zero_grad()
    gan.generator_loss_nonsaturating(model.discriminator(model.generator(z))).backward()
    opt_g.step()
    return out


class ColumnLogitGAN(gan.GAN):
    """The discriminator returns (B, 1) logits."""

    def forward(self, z):
        x = self.generator(z)
        return x, self.discriminator.net(x)


def _generator_never_steps(model, real_batches, opt_d, opt_g, **kw):
    """The generator's optimizer is replaced by one with learning rate 0."""
    return gan.train_step(model, real_batches, opt_d, torch.optim.SGD(model.generator.parameters(), lr=0.0), **kw)


def _zero_where_empty(p_data, p_g):
    """D* = 0 (not ½) where both densities are 0."""
    total = p_data + p_g
    return p_data / torch.where(total > 0, total, torch.ones_like(total))


def _single_where(p_data, p_g):
    """The ½ convention with a single torch.where: 0/0 = NaN leaks into the gradient."""
    total = p_data + p_g
    return torch.where(total > 0, p_data / total, torch.full_like(total, 0.5))


def _unchecked_uniform(n, latent_dim, *, like, generator=None, prior="gaussian", low=-1.0, high=1.0):
    """No validation: U[a, a) returns the constant a, U[a, b) with a > b samples (b, a]."""
    if prior == "uniform":
        u = torch.rand(n, latent_dim, generator=generator, device=like.device, dtype=like.dtype)
        return low + (high - low) * u
    return gan.sample_noise(n, latent_dim, like=like, generator=generator, prior=prior, low=low, high=high)


class DetachedSampleGAN(gan.GAN):
    """forward returns the generated sample cut from the graph."""

    def forward(self, z):
        x = self.generator(z)
        return x.detach(), self.discriminator(x)


class FrozenLogitGAN(gan.GAN):
    """The discriminator's logits computed under no_grad."""

    def forward(self, z):
        x = self.generator(z)
        with torch.no_grad():
            return x, self.discriminator(x)


MUTANTS = {
    "gan_value_function_matches_bce": [
        broken("naive log sigmoid", patched(REAL, value_function=_naive_value)),
        broken("sign-flipped discriminator loss", patched(
            REAL, discriminator_loss=lambda r, f, real_label=1.0, real_weights=None, fake_weights=None:
            gan.value_function(r, f, real_weights, fake_weights))),
    ],
    "gan_generator_losses_match_bce": [
        broken("swapped losses", patched(REAL, generator_loss_minimax=gan.generator_loss_nonsaturating,
                                         generator_loss_nonsaturating=gan.generator_loss_minimax)),
    ],
    "gan_generator_gradient_saturation": [
        # the common mix-up: the "minimax" loss implemented as −log D(G(z)), whose gradient never vanishes
        broken("non-saturating minimax", patched(REAL, generator_loss_minimax=gan.generator_loss_nonsaturating),
               dtype="float64"),
        broken("non-saturating minimax float32", patched(REAL, generator_loss_minimax=gan.generator_loss_nonsaturating),
               dtype="float32"),
        broken("saturating non-saturating loss", patched(
            REAL, generator_loss_nonsaturating=lambda l, w=None: F.logsigmoid(-l).mean())),
    ],
    "gan_optimal_discriminator": [
        broken("inverted ratio", patched(REAL, optimal_discriminator=lambda p_data, p_g: p_g / (p_data + p_g))),
        broken("float32-rounded optimum", patched(
            REAL, optimal_discriminator=lambda p_data, p_g: (p_data / (p_data + p_g)).float().double() + 1e-7)),
    ],
    "gan_optimal_discriminator_edges_and_gradient": [
        broken("0 where both densities are 0", patched(REAL, optimal_discriminator=_zero_where_empty)),
        broken("NaN gradient where both densities are 0", patched(REAL, optimal_discriminator=_single_where)),
        broken("inverted ratio", patched(REAL, optimal_discriminator=lambda p_data, p_g: p_g / (p_data + p_g))),
    ],
    "gan_trained_discriminator_reaches_optimum": [
        broken("sign-flipped loss", patched(
            REAL, discriminator_loss=lambda r, f, real_label=1.0, real_weights=None, fake_weights=None:
            -gan.discriminator_loss(r, f, real_label, real_weights, fake_weights))),
        broken("swapped targets", patched(
            REAL, discriminator_loss=lambda r, f, real_label=1.0, real_weights=None, fake_weights=None:
            gan.discriminator_loss(f, r, real_label, fake_weights, real_weights))),
    ],
    "gan_jensen_shannon_matches_scipy": [
        broken("scipy's square root", patched(REAL, jensen_shannon=lambda p, q, dim=-1: gan.jensen_shannon(p, q, dim).sqrt())),
        broken("KL instead of JSD", patched(
            REAL, jensen_shannon=lambda p, q, dim=-1: (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(dim))),
    ],
    "gan_jensen_shannon_gradient": [
        broken("detached divergence", patched(REAL, jensen_shannon=lambda p, q, dim=-1: gan.jensen_shannon(p, q, dim).detach())),
        broken("m treated as a constant", patched(
            REAL, jensen_shannon=lambda p, q, dim=-1: gan.jensen_shannon(p, q, dim) + 0.5 * (p + q).sum(dim)
            - 0.5 * (p + q).sum(dim).detach())),
    ],
    "gan_value_at_optimum_is_jsd": [
        broken("unweighted value", patched(REAL, value_function=lambda r, f, rw=None, fw=None: gan.value_function(r, f))),
    ],
    "gan_optimum_at_equal_distributions": [
        broken("smoothed optimum", patched(
            REAL, optimal_discriminator=lambda p_data, p_g: (p_data + 1e-3) / (p_data + p_g + 1e-3))),
    ],
    "gan_label_smoothing_one_sided": [
        broken("two-sided smoothing", patched(REAL, discriminator_loss=_two_sided_smoothing), dtype="float64"),
        broken("two-sided smoothing float32", patched(REAL, discriminator_loss=_two_sided_smoothing), dtype="float32"),
        broken("ignored real label", patched(
            REAL, discriminator_loss=lambda r, f, real_label=1.0, real_weights=None, fake_weights=None:
            gan.discriminator_loss(r, f, 1.0, real_weights, fake_weights))),
    ],
    "gan_virtual_batch_norm_reference_statistics": [
        broken("minibatch statistics", patched(REAL, VirtualBatchNorm=OwnStatsVBN)),
        broken("unbiased reference variance", patched(REAL, VirtualBatchNorm=UnbiasedVBN)),
        broken("reference batch alone", patched(REAL, VirtualBatchNorm=ReferenceOnlyVBN), dtype="float64"),
        broken("reference batch alone float32", patched(REAL, VirtualBatchNorm=ReferenceOnlyVBN), dtype="float32"),
        broken("example weighted 1/2", patched(REAL, VirtualBatchNorm=HalfWeightVBN)),
    ],
    "gan_uniform_noise_prior": [
        broken("bounds ignored (U[0, 1))", patched(REAL, sample_noise=_unit_uniform)),
        broken("scaled, not shifted", patched(REAL, sample_noise=_scaled_not_shifted)),
        broken("Gaussian whatever the prior", patched(REAL, sample_noise=_gaussian_always), dtype="float32"),
        broken("global RNG", patched(REAL, sample_noise=_global_rng_uniform)),
    ],
    "gan_uniform_noise_prior_rejects_empty_interval": [
        broken("empty and reversed intervals accepted", patched(REAL, sample_noise=_unchecked_uniform)),
    ],
    "gan_k_discriminator_steps": [
        broken("one discriminator step", patched(REAL, train_step=_one_d_step)),
        broken("generator moves in discriminator steps", patched(REAL, train_step=_generator_moves_in_d_steps)),
    ],
    "gan_forward_shapes": [
        broken("column logits", replaced(REAL, ColumnLogitGAN)),
    ],
    "gan_outputs_differentiable_in_parameters": [
        broken("detached sample", replaced(REAL, DetachedSampleGAN), suite="gan"),
        broken("logits under no_grad", replaced(REAL, FrozenLogitGAN), suite="gan"),
    ],
    "gan_moves_generator_toward_data": [
        broken("generator never steps", patched(REAL, train_step=_generator_never_steps)),
    ],
}
