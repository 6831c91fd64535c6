"""Every GAN check passes on reference_impls.gan and rejects a deliberately broken variant."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import reference_impls.gan as gan
from harness.registry import Subject
from harness.testing import patched, run_check, subject_from

PARAMS = {"latent_dim": 2, "data_dim": 1, "hidden": 32, "layers": 2}
REAL = subject_from("reference_impls.gan:GAN", PARAMS)


def broken(**cores) -> Subject:
    return patched(REAL, **cores)


def model_subject(cls) -> Subject:
    """A broken model class, with the real family module as its namespace of cores."""
    return Subject(cls.__name__, cls, PARAMS, gan)


# --------------------------------------------------------------------------------------------
# the reference implementation passes
# --------------------------------------------------------------------------------------------
FAST = ["gan_value_function_matches_bce", "gan_generator_losses_match_bce", "gan_generator_gradient_saturation",
        "gan_optimal_discriminator", "gan_trained_discriminator_reaches_optimum", "gan_jensen_shannon_matches_scipy",
        "gan_value_at_optimum_is_jsd", "gan_optimum_at_equal_distributions", "gan_label_smoothing_one_sided",
        "gan_virtual_batch_norm_reference_statistics", "gan_k_discriminator_steps", "gan_forward_shapes"]


@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_reference_passes(name, dtype):
    if dtype == "float32" and name in ("gan_optimal_discriminator", "gan_trained_discriminator_reaches_optimum"):
        pytest.skip("float64-only property")
    out = run_check(name, REAL, dtype=dtype)
    assert out.passed, out.line()


def test_reference_moves_generator_toward_data():
    out = run_check("gan_moves_generator_toward_data", REAL)
    assert out.passed, out.line()


# --------------------------------------------------------------------------------------------
# broken variants are rejected
# --------------------------------------------------------------------------------------------
def test_value_function_rejects_naive_log_sigmoid():
    def naive_v(r, f, rw=None, fw=None):  # log(sigmoid(.)) underflows to -inf at extreme logits
        return torch.log(torch.sigmoid(r)).mean() + torch.log(1 - torch.sigmoid(f)).mean()
    assert not run_check("gan_value_function_matches_bce", broken(value_function=naive_v)).passed


def test_value_function_rejects_sign_flipped_discriminator_loss():
    bad = broken(discriminator_loss=lambda r, f, real_label=1.0, real_weights=None, fake_weights=None:
                 gan.value_function(r, f, real_weights, fake_weights))
    assert not run_check("gan_value_function_matches_bce", bad).passed


def test_generator_losses_reject_swapped_losses():
    bad = broken(generator_loss_minimax=gan.generator_loss_nonsaturating,
                 generator_loss_nonsaturating=gan.generator_loss_minimax)
    assert not run_check("gan_generator_losses_match_bce", bad).passed


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_saturation_rejects_non_saturating_minimax(dtype):
    # the common mix-up: the "minimax" loss implemented as −log D(G(z)), whose gradient never vanishes
    bad = broken(generator_loss_minimax=gan.generator_loss_nonsaturating)
    assert not run_check("gan_generator_gradient_saturation", bad, dtype=dtype).passed


def test_saturation_rejects_saturating_nonsaturating_loss():
    bad = broken(generator_loss_nonsaturating=lambda l, w=None: F.logsigmoid(-l).mean())
    assert not run_check("gan_generator_gradient_saturation", bad).passed


def test_optimal_discriminator_rejects_inverted_ratio():
    bad = broken(optimal_discriminator=lambda p_data, p_g: p_g / (p_data + p_g))
    assert not run_check("gan_optimal_discriminator", bad).passed


def test_optimal_discriminator_rejects_float32_rounded_optimum():
    bad = broken(optimal_discriminator=lambda p_data, p_g: (p_data / (p_data + p_g)).float().double() + 1e-7)
    assert not run_check("gan_optimal_discriminator", bad).passed


def test_trained_discriminator_rejects_sign_flipped_loss():
    bad = broken(discriminator_loss=lambda r, f, real_label=1.0, real_weights=None, fake_weights=None:
                 -gan.discriminator_loss(r, f, real_label, real_weights, fake_weights))
    assert not run_check("gan_trained_discriminator_reaches_optimum", bad).passed


def test_trained_discriminator_rejects_swapped_targets():
    bad = broken(discriminator_loss=lambda r, f, real_label=1.0, real_weights=None, fake_weights=None:
                 gan.discriminator_loss(f, r, real_label, fake_weights, real_weights))
    assert not run_check("gan_trained_discriminator_reaches_optimum", bad).passed


def test_jensen_shannon_rejects_scipy_square_root():
    bad = broken(jensen_shannon=lambda p, q, dim=-1: gan.jensen_shannon(p, q, dim).sqrt())
    assert not run_check("gan_jensen_shannon_matches_scipy", bad).passed


def test_jensen_shannon_rejects_kl():
    bad = broken(jensen_shannon=lambda p, q, dim=-1: (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(dim))
    assert not run_check("gan_jensen_shannon_matches_scipy", bad).passed


def test_value_at_optimum_rejects_unweighted_value():
    bad = broken(value_function=lambda r, f, rw=None, fw=None: gan.value_function(r, f))
    assert not run_check("gan_value_at_optimum_is_jsd", bad).passed


def test_equal_distributions_rejects_smoothed_optimum():
    bad = broken(optimal_discriminator=lambda p_data, p_g: (p_data + 1e-3) / (p_data + p_g + 1e-3))
    assert not run_check("gan_optimum_at_equal_distributions", bad).passed


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_label_smoothing_rejects_two_sided(dtype):
    def two_sided(r, f, real_label=1.0, real_weights=None, fake_weights=None):
        a = real_label
        real = a * F.logsigmoid(r) + (1 - a) * F.logsigmoid(-r)
        fake = (1 - a) * F.logsigmoid(f) + a * F.logsigmoid(-f)   # fake target smoothed to 1 − α: wrong
        return -(gan._mean(real, real_weights) + gan._mean(fake, fake_weights))
    assert not run_check("gan_label_smoothing_one_sided", broken(discriminator_loss=two_sided), dtype=dtype).passed


def test_label_smoothing_rejects_ignored_label():
    bad = broken(discriminator_loss=lambda r, f, real_label=1.0, real_weights=None, fake_weights=None:
                 gan.discriminator_loss(r, f, 1.0, real_weights, fake_weights))
    assert not run_check("gan_label_smoothing_one_sided", bad).passed


class OwnStatsVBN(gan.VirtualBatchNorm):
    """Broken: ordinary batch norm (the minibatch's own statistics)."""

    def forward(self, x, reference):
        return gan.virtual_batch_norm(x, x, self.weight, self.bias, self.eps), \
            gan.virtual_batch_norm(reference, reference, self.weight, self.bias, self.eps)


class UnbiasedVBN(gan.VirtualBatchNorm):
    """Broken: the reference variance with Bessel's correction."""

    def forward(self, x, reference):
        mu, var = reference.mean(0), reference.var(0, unbiased=True)
        f = lambda v: (v - mu) / torch.sqrt(var + self.eps) * self.weight + self.bias  # noqa: E731
        return f(x), f(reference)


@pytest.mark.parametrize("cls", [OwnStatsVBN, UnbiasedVBN])
def test_vbn_rejects_wrong_statistics(cls):
    assert not run_check("gan_virtual_batch_norm_reference_statistics", broken(VirtualBatchNorm=cls)).passed


def _one_d_step(model, real_batches, opt_d, opt_g, **kw):
    return gan.train_step(model, list(real_batches)[:1], opt_d, opt_g, **kw)


def _generator_moves_in_d_steps(model, real_batches, opt_d, opt_g, **kw):
    """Broken: the fakes are not detached and one optimizer-free update nudges G inside each D step."""
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


@pytest.mark.parametrize("bad_step", [_one_d_step, _generator_moves_in_d_steps])
def test_k_steps_rejects_wrong_schedule(bad_step):
    assert not run_check("gan_k_discriminator_steps", broken(train_step=bad_step)).passed


class ColumnLogitGAN(gan.GAN):
    """Broken: the discriminator returns (B, 1) logits."""

    def forward(self, z):
        x = self.generator(z)
        return x, self.discriminator.net(x)


def test_forward_shapes_rejects_column_logits():
    assert not run_check("gan_forward_shapes", model_subject(ColumnLogitGAN)).passed


def test_moves_toward_data_rejects_generator_that_never_steps():
    def d_only(model, real_batches, opt_d, opt_g, **kw):
        out = gan.train_step(model, real_batches, opt_d, torch.optim.SGD(model.generator.parameters(), lr=0.0), **kw)
        return out
    assert not run_check("gan_moves_generator_toward_data", broken(train_step=d_only)).passed
