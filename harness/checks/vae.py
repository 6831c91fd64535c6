"""Checks for the variational autoencoder (notes 002), suite ``vae``.

Functional cores (``gaussian_kl``, ``reparameterize``, the likelihoods, ``elbo``, ``vae_loss``) are
shape-generic: their checks draw test data of their own sizes (rows, latent, features are check
parameters), and the ELBO checks build their own small linear-Gaussian model (d, k) on purpose,
because its marginal and posterior are exact. Checks of the model take every size from the
subject's params (:meth:`Subject.size`); see :data:`CONTRACT`.

Oracles: torch.distributions (Normal, MultivariateNormal, Bernoulli, kl_divergence), Monte Carlo
estimates with their standard errors, autograd (gradients, Hessians, gradcheck), and the
linear-Gaussian model z ~ N(0, I), x|z ~ N(Wz + b, σ²I), whose marginal x ~ N(b, WWᵀ + σ²I) and
posterior are exact.

Also home to helpers the autoencoder checks share: :func:`draws_only_from_generator`,
:func:`moments_within_se`, :func:`z_score`, :func:`digits` and :func:`digits_split`.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable

import torch

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, build_rejected, exact, f64, holds, within_se
from harness.registry import SubjectError, check

F64 = torch.float64


def _inputs(subject, case, batch: int) -> tuple:
    """x (B, in_features), uniform on [0, 1)."""
    return (case.rand(batch, subject.size("in_features")),)


CONTRACT = load_contract("vae", inputs=_inputs)


def z_score(mean: float, se: float) -> float:
    """mean / se, with a zero-variance difference read as its sign (0/0 -> 0)."""
    return mean / se if se > 0 else math.copysign(math.inf, mean) if mean != 0 else 0.0


@lru_cache(maxsize=1)
def _digits() -> torch.Tensor:
    from sklearn.datasets import load_digits

    return torch.as_tensor(load_digits().data / 16.0, dtype=F64)


def digits(subject) -> torch.Tensor:
    """scikit-learn's bundled 8x8 digits (1,797 x 64), pixels scaled to [0, 1] (loaded once), for a
    subject built with ``in_features: 64``: the training checks fit this data set, whose size is fixed."""
    if subject.size("in_features") != 64:
        raise SubjectError(f"subject {subject.target}: the digits training checks need in_features: 64 "
                           f"(8x8 images), got {subject.size('in_features')}")
    return _digits()


def digits_split(subject, case, train: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The digits shuffled with the case's generator: the first ``train`` rows and the rest, on the
    case's device and dtype."""
    X = digits(subject)
    perm = torch.randperm(len(X), generator=case.generator)
    return case.tensor(X[perm[:train]]), case.tensor(X[perm[train:]])


def moments_within_se(x: torch.Tensor, mean: float, var: float, mean_what: str, var_what: str,
                      detail: str = "") -> list[Outcome]:
    """The sample mean of ``x`` (n values) within 5 s.e. (s/√n) of ``mean``, and its sample variance
    within 5 s.e. of ``var``, where the s.e. of the sample variance is √((m₄ − s⁴)/n) from the sample
    fourth central moment m₄."""
    n = x.numel()
    m, s2 = float(x.mean()), float(x.var())
    m4 = float(((x - m) ** 4).mean())
    return [within_se(mean_what, m, mean, math.sqrt(s2 / n), n),
            within_se(var_what, s2, var, math.sqrt(max(m4 - s2 * s2, 0.0) / n), n, detail=detail)]


def draws_only_from_generator(case, draw: Callable[[torch.Generator], torch.Tensor], noun: str, call: str) -> Outcome:
    """Randomness enters ``draw(generator)`` only through the generator: two generators with the same
    seed give identical ``noun``s, a different seed a different one, and torch's global RNG state
    (CPU, and CUDA on a CUDA case) is left untouched by ``call``."""
    cpu_state = torch.get_rng_state()
    cuda_state = torch.cuda.get_rng_state() if case.device == "cuda" else None
    a, b = draw(case.gen()), draw(case.gen())
    c = draw(torch.Generator(case.device).manual_seed(case.seed + 1))
    untouched = torch.equal(cpu_state, torch.get_rng_state()) and (
        cuda_state is None or torch.equal(cuda_state, torch.cuda.get_rng_state()))
    return all_of(
        exact(f"{noun}s from two equally seeded generators", f64(a), f64(b)),
        holds(f"a different seed gives a different {noun}", not torch.equal(f64(a), f64(c))),
        holds(f"global RNG state unchanged by {call}", untouched),
    )


def _mu_logvar(case, rows: int, latent: int, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    return case.randn(rows, latent) * scale, case.randn(rows, latent) * scale


# --------------------------------------------------------------------------------------------
# KL term
# --------------------------------------------------------------------------------------------
@check("vae_gaussian_kl_matches_torch", requires=("gaussian_kl",))
def vae_gaussian_kl_matches_torch(subject, case, rows: int = 64, latent: int = 8, scale: float = 2.0) -> Outcome:
    """KL(N(μ, diag σ²) ‖ N(0, I)) = −½ Σ_k (1 + log σ_k² − μ_k² − σ_k²) equals
    torch.distributions.kl_divergence(Normal(μ, σ), Normal(0, 1)) summed over the latent axis."""
    from torch.distributions import Normal, kl_divergence

    mu, logvar = _mu_logvar(case, rows, latent, scale)
    got = subject.fn("gaussian_kl")(mu, logvar)
    m, lv = f64(mu), f64(logvar)
    want = kl_divergence(Normal(m, torch.exp(0.5 * lv)), Normal(torch.zeros_like(m), torch.ones_like(m))).sum(-1)
    return all_of(
        exact("shape of gaussian_kl(mu, logvar) for (B, K) inputs", tuple(got.shape), (rows,)),
        case.close("closed-form KL vs torch.distributions.kl_divergence", got, want,
                   detail=f"μ, log σ² ~ N(0, {scale}²), B={rows}, K={latent}"),
    )


@check("vae_gaussian_kl_monte_carlo", requires=("gaussian_kl",), marks=("statistical",))
def vae_gaussian_kl_monte_carlo(subject, case, samples: int = 200_000, latent: int = 4, points: int = 3) -> Outcome:
    """The closed-form KL(q ‖ N(0, I)) equals the Monte Carlo estimate (1/n) Σ_s [log q(z_s) − log p(z_s)],
    z_s ~ q = N(μ, diag σ²), within 5 standard errors (two-sided false-alarm rate 5.7e-7 per point).

    log q and log p come from torch.distributions.Normal.log_prob; z is drawn directly as μ + σε
    (not through the subject), so the estimate is independent of the implementation under test.
    """
    from torch.distributions import Normal

    mu, logvar = _mu_logvar(case, points, latent, 1.0)
    kl = f64(subject.fn("gaussian_kl")(mu, logvar))
    outs = []
    for i in range(points):
        m, s = f64(mu[i]), torch.exp(0.5 * f64(logvar[i]))
        eps = torch.randn(samples, latent, generator=case.generator, dtype=F64)
        z = m + s * eps
        q, p = Normal(m, s), Normal(torch.zeros_like(m), torch.ones_like(m))
        terms = (q.log_prob(z) - p.log_prob(z)).sum(-1)
        est, se = float(terms.mean()), float(terms.std() / math.sqrt(samples))
        outs.append(within_se(f"closed-form KL vs Monte Carlo E_q[log q − log p] (point {i})", float(kl[i]), est, se,
                              samples, detail=f"seed {case.seed}, K={latent}"))
    return all_of(outs)


@check("vae_gaussian_kl_nonnegative", requires=("gaussian_kl",))
def vae_gaussian_kl_nonnegative(subject, case, half: int = 20, step: float = 0.2) -> Outcome:
    """KL(N(μ, σ²) ‖ N(0, 1)) ≥ 0, with equality iff μ = 0 and σ² = 1: on a grid of (μ, log σ²) over
    [−4, 4]² in steps of 0.2 (which contains σ = 2, where 1 + log σ² − σ > 0 would make a σ-for-σ² KL negative) the
    KL is exactly 0 at the origin, positive everywhere else, and positive for a random (μ, log σ²) in
    K dimensions; it also vanishes for the K-dimensional standard normal."""
    kl = subject.fn("gaussian_kl")
    g = torch.arange(-half, half + 1, dtype=F64) * step  # contains 0 exactly
    grid = len(g)
    mu, lv = torch.meshgrid(g, g, indexing="ij")
    mu_t, lv_t = case.tensor(mu.reshape(-1, 1)), case.tensor(lv.reshape(-1, 1))
    vals = f64(kl(mu_t, lv_t))
    origin = (mu.reshape(-1) == 0) & (lv.reshape(-1) == 0)
    zero_k = f64(kl(case.tensor(torch.zeros(3, 8)), case.tensor(torch.zeros(3, 8))))
    m, l = _mu_logvar(case, 16, 8, 1.0)
    rnd = f64(kl(m, l))
    others = vals[~origin]
    worst = int(torch.argmin(others))
    return all_of(
        exact("KL at μ = 0, log σ² = 0", float(vals[origin].item()), 0.0),
        exact("KL of the 8-dim standard normal (three rows)", zero_k, torch.zeros(3, dtype=F64)),
        bound("min KL over the grid without the origin", float(others.min()), 0.0, op=">",
              detail=f"at (μ, log σ²) = ({float(mu.reshape(-1)[~origin][worst]):.3g}, {float(lv.reshape(-1)[~origin][worst]):.3g}); {grid}x{grid} grid"),
        bound("min KL at random (μ, log σ²)", float(rnd.min()), 0.0, op=">"),
    )


@check("vae_gaussian_kl_strict_minimum", requires=("gaussian_kl",))
def vae_gaussian_kl_strict_minimum(subject, case, latent: int = 3) -> Outcome:
    """μ = 0, log σ² = 0 is a strict minimum of the KL: by autograd the gradient there is 0 and the
    Hessian in (μ, log σ²) is diag(1, …, 1, ½, …, ½) (∂²/∂μ² = 1, ∂²/∂(log σ²)² = ½ e^0)."""
    kl = subject.fn("gaussian_kl")

    def f(theta: torch.Tensor) -> torch.Tensor:
        return kl(theta[:latent].unsqueeze(0), theta[latent:].unsqueeze(0)).sum()

    theta = case.tensor(torch.zeros(2 * latent)).requires_grad_(True)
    (grad,) = torch.autograd.grad(f(theta), theta)
    hess = torch.autograd.functional.hessian(f, theta.detach())
    want = torch.diag(torch.tensor([1.0] * latent + [0.5] * latent, dtype=F64))
    return all_of(
        case.close("∇KL at the standard normal", grad, torch.zeros(2 * latent, dtype=F64)),
        case.close("Hessian of KL at the standard normal", hess, want),
    )


# --------------------------------------------------------------------------------------------
# reparameterisation
# --------------------------------------------------------------------------------------------
@check("vae_reparameterization_moments", requires=("reparameterize",), marks=("statistical",))
def vae_reparameterization_moments(subject, case, samples: int = 200_000, latent: int = 4) -> Outcome:
    """z = reparameterize(μ, log σ², generator=g) has mean μ and variance σ² per coordinate: the sample
    mean is within 5 s.e. (s.e. = s/√n) of μ and the sample variance within 5 s.e. of σ², where the
    s.e. of the sample variance is √((m₄ − s⁴)/n) from the sample fourth central moment m₄ (= σ²√(2/n)
    for a Gaussian). 2K comparisons, each with two-sided false-alarm rate 5.7e-7."""
    mu, logvar = _mu_logvar(case, 1, latent, 1.0)
    mu_b, lv_b = mu.expand(samples, latent), logvar.expand(samples, latent)
    z = f64(subject.fn("reparameterize")(mu_b, lv_b, generator=case.gen()))
    m, var = f64(mu[0]), torch.exp(f64(logvar[0]))
    outs = []
    for k in range(latent):
        outs += moments_within_se(z[:, k], float(m[k]), float(var[k]), f"sample mean of z[{k}] vs μ[{k}]",
                                  f"sample variance of z[{k}] vs σ²[{k}]",
                                  detail=f"Gaussian s.e. would be {float(var[k]) * math.sqrt(2 / (samples - 1)):.3g}")
    return all_of(outs)


@check("vae_reparameterize_injected_noise", requires=("reparameterize",))
def vae_reparameterize_injected_noise(subject, case, rows: int = 16, latent: int = 6) -> Outcome:
    """With injected noise ε, reparameterize(μ, log σ², eps=ε) = μ + exp(½ log σ²) ⊙ ε, and by autograd
    ∂z/∂μ = 1 and ∂z/∂log σ² = ½ σ ⊙ ε (gradients flow through the sample)."""
    mu, logvar = _mu_logvar(case, rows, latent, 1.0)
    eps = case.randn(rows, latent)
    mu_r, lv_r = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    z = subject.fn("reparameterize")(mu_r, lv_r, eps=eps)
    g_mu, g_lv = torch.autograd.grad(z.sum(), (mu_r, lv_r))
    sd = torch.sqrt(torch.exp(f64(logvar)))
    return all_of(
        case.close("z with injected ε vs μ + √(e^{log σ²}) ε", z, f64(mu) + sd * f64(eps)),
        case.close("∂Σz/∂μ", g_mu, torch.ones(rows, latent, dtype=F64)),
        case.close("∂Σz/∂log σ²", g_lv, 0.5 * sd * f64(eps)),
    )


@check("vae_reparameterize_uses_generator", requires=("reparameterize",))
def vae_reparameterize_uses_generator(subject, case, rows: int = 32, latent: int = 4) -> Outcome:
    """Randomness enters only through the generator: two generators with the same seed give identical
    samples, different seeds give different samples, and torch's global RNG state is left untouched."""
    rep = subject.fn("reparameterize")
    mu, logvar = _mu_logvar(case, rows, latent, 1.0)
    return draws_only_from_generator(case, lambda g: rep(mu, logvar, generator=g), "sample",
                                     "reparameterize(generator=g)")


# --------------------------------------------------------------------------------------------
# reconstruction likelihoods and the loss
# --------------------------------------------------------------------------------------------
@check("vae_gaussian_nll_matches_torch", requires=("gaussian_nll",))
def vae_gaussian_nll_matches_torch(subject, case, rows: int = 32, features: int = 64) -> Outcome:
    """Gaussian reconstruction NLL Σ_d [½(x_d − x'_d)²/σ² + ½ log 2πσ²] equals
    −Σ_d torch.distributions.Normal(x', σ).log_prob(x), for σ² a scalar (1.0 and 0.1) and a per-dimension
    vector (notes 002 omit the 1/σ² and the per-dimension constant: σ² ≠ 1 and D > 1 catch both)."""
    from torch.distributions import Normal

    nll = subject.fn("gaussian_nll")
    x, x_hat = case.rand(rows, features), case.rand(rows, features)
    per_dim = case.rand(features) * 2.0 + 0.05
    outs = []
    for label, s2 in (("σ² = 1", 1.0), ("σ² = 0.1", 0.1), ("per-dimension σ²", per_dim)):
        s2_cpu = f64(torch.as_tensor(s2, dtype=F64))
        want = -Normal(f64(x_hat), torch.sqrt(s2_cpu)).log_prob(f64(x)).sum(-1)
        got = nll(x, x_hat, s2)
        outs.append(case.close(f"gaussian_nll vs −Normal.log_prob summed ({label})", got, want))
    return all_of(outs)


@check("vae_bernoulli_nll_matches_torch", requires=("bernoulli_nll",))
def vae_bernoulli_nll_matches_torch(subject, case, rows: int = 32, features: int = 64, scale: float = 30.0) -> Outcome:
    """Bernoulli reconstruction NLL Σ_d [softplus(ℓ_d) − x_d ℓ_d] equals −Σ_d Bernoulli(logits=ℓ).log_prob(x),
    including saturated logits |ℓ| up to ~100 (stable: no log(sigmoid) underflow) and soft targets x ∈ (0, 1)
    compared with the same formula's float64 value."""
    from torch.distributions import Bernoulli

    nll = subject.fn("bernoulli_nll")
    x = case.bernoulli(0.3, rows, features)
    logits = case.randn(rows, features) * scale
    want = -Bernoulli(logits=f64(logits)).log_prob(f64(x)).sum(-1)
    return all_of(
        case.close("bernoulli_nll vs −Bernoulli(logits).log_prob summed (binary x)", nll(x, logits), want),
        holds("bernoulli_nll finite at |logits| ≈ 100", bool(torch.isfinite(nll(x, logits * 3.0)).all())),
    )


@check("vae_loss_matches_distributions", requires=("vae_loss", "elbo"))
def vae_loss_matches_distributions(subject, case, rows: int = 16, features: int = 10, latent: int = 3,
                                   sigma2: float = 0.3) -> Outcome:
    """vae_loss = (1/B) Σ_b [−log N(x_b; x'_b, σ²I) + KL(N(μ_b, σ_b²) ‖ N(0, I))] and elbo = −(that per
    sample), with every term from torch.distributions (Normal.log_prob, kl_divergence)."""
    from torch.distributions import Normal, kl_divergence

    x, x_hat = case.randn(rows, features), case.randn(rows, features)
    mu, logvar = _mu_logvar(case, rows, latent)
    m, lv = f64(mu), f64(logvar)
    rec = -Normal(f64(x_hat), math.sqrt(sigma2)).log_prob(f64(x)).sum(-1)
    kl = kl_divergence(Normal(m, torch.exp(0.5 * lv)), Normal(torch.zeros_like(m), torch.ones_like(m))).sum(-1)
    return all_of(
        case.close("elbo per sample vs log N(x; x', σ²I) − KL", subject.fn("elbo")(x, x_hat, mu, logvar, sigma2), -(rec + kl)),
        case.close("vae_loss vs batch mean of (−log-likelihood + KL)", subject.fn("vae_loss")(x, x_hat, mu, logvar, sigma2),
                   (rec + kl).mean()),
    )


# --------------------------------------------------------------------------------------------
# the evidence lower bound on a linear-Gaussian model with an exact marginal
# --------------------------------------------------------------------------------------------
def _linear_gaussian(case, d: int, k: int, sigma2: float, orthogonal: bool):
    """W (d, k), b (d,), x (d,) and the exact marginal and posterior (torch.distributions, CPU f64)."""
    from torch.distributions import MultivariateNormal

    W = torch.randn(d, k, generator=case.generator, dtype=F64)
    if orthogonal:  # orthogonal columns: WᵀW diagonal, so the exact posterior is a diagonal Gaussian
        Q, _ = torch.linalg.qr(W)
        W = Q * torch.tensor([2.0, 1.0, 0.5, 1.5, 0.7][:k], dtype=F64)
    b = torch.randn(d, generator=case.generator, dtype=F64)
    marginal = MultivariateNormal(b, W @ W.T + sigma2 * torch.eye(d, dtype=F64))
    x = b + 1.5 * torch.randn(d, generator=case.generator, dtype=F64)  # any x: the identities hold pointwise
    prec = torch.eye(k, dtype=F64) + W.T @ W / sigma2
    cov = torch.linalg.inv(prec)
    cov = 0.5 * (cov + cov.T)
    post = MultivariateNormal(cov @ W.T @ (x - b) / sigma2, cov)
    return W, b, x, marginal, post


def _sigma_point_elbo(subject, case, W, b, x, mu, logvar, sigma2) -> torch.Tensor:
    """E_{z~q}[elbo(x, Wz + b, μ, log σ²)] exactly, by the cubature rule ε ∈ {±√K e_j} (weights 1/2K),
    which is exact for functions of ε of degree ≤ 3: the Gaussian log-likelihood is quadratic in z."""
    k = mu.numel()
    E = math.sqrt(k) * torch.cat([torch.eye(k, dtype=F64), -torch.eye(k, dtype=F64)])  # (2K, K)
    mu_b, lv_b = case.tensor(mu).expand(2 * k, k), case.tensor(logvar).expand(2 * k, k)
    z = subject.fn("reparameterize")(mu_b, lv_b, eps=case.tensor(E))
    x_hat = z @ case.tensor(W).T + case.tensor(b)
    vals = subject.fn("elbo")(case.tensor(x).expand(2 * k, -1), x_hat, mu_b, lv_b, sigma2)
    return f64(vals).mean()


@check("vae_elbo_gap_is_posterior_kl", requires=("elbo", "reparameterize"))
def vae_elbo_gap_is_posterior_kl(subject, case, d: int = 5, k: int = 3, sigma2: float = 0.5) -> Outcome:
    """On z ~ N(0, I), x|z ~ N(Wz + b, σ²I) the expected ELBO of any diagonal Gaussian q(z|x) is
    log p(x) − KL(q ‖ p(z|x)) ≤ log p(x), where log p(x) = MultivariateNormal(b, WWᵀ + σ²I).log_prob(x)
    and the KL to the exact posterior N((I + WᵀW/σ²)⁻¹Wᵀ(x − b)/σ², (I + WᵀW/σ²)⁻¹) comes from
    torch.distributions. The expectation is computed exactly with the 2K-point cubature rule
    ε = ±√K e_j through the subject's reparameterize and elbo."""
    from torch.distributions import MultivariateNormal, kl_divergence

    W, b, x, marginal, post = _linear_gaussian(case, d, k, sigma2, orthogonal=False)
    outs = []
    for i in range(3):
        mu = torch.randn(k, generator=case.generator, dtype=F64)
        logvar = torch.randn(k, generator=case.generator, dtype=F64) * 0.5
        got = _sigma_point_elbo(subject, case, W, b, x, mu, logvar, sigma2)
        q = MultivariateNormal(mu, torch.diag(torch.exp(logvar)))
        logp = marginal.log_prob(x)
        want = logp - kl_divergence(q, post)
        outs.append(case.close(f"E_q[ELBO] vs log p(x) − KL(q ‖ p(z|x)) (q #{i})", got, want))
        outs.append(bound(f"E_q[ELBO] ≤ log p(x) (q #{i})", float(got), float(logp), op="<="))
    return all_of(outs)


@check("vae_elbo_tight_at_exact_posterior", requires=("elbo", "reparameterize"))
def vae_elbo_tight_at_exact_posterior(subject, case, d: int = 5, k: int = 3, sigma2: float = 0.5) -> Outcome:
    """When q(z|x) is the exact posterior the bound is tight: E_q[ELBO] = log p(x) =
    MultivariateNormal(b, WWᵀ + σ²I).log_prob(x). W has orthogonal columns so that the posterior
    N((I + WᵀW/σ²)⁻¹Wᵀ(x − b)/σ², (I + WᵀW/σ²)⁻¹) is a diagonal Gaussian, which the encoder family
    can represent; the expectation is the exact 2K-point cubature (see vae_elbo_gap_is_posterior_kl)."""
    W, b, x, marginal, post = _linear_gaussian(case, d, k, sigma2, orthogonal=True)
    mu, logvar = post.mean, torch.log(torch.diagonal(post.covariance_matrix))
    got = _sigma_point_elbo(subject, case, W, b, x, mu, logvar, sigma2)
    return case.close("E_q[ELBO] at the exact posterior vs log p(x)", got, marginal.log_prob(x),
                      detail=f"d={d}, K={k}, σ²={sigma2}")


@check("vae_elbo_monte_carlo_bound", requires=("elbo", "reparameterize"), marks=("statistical",))
def vae_elbo_monte_carlo_bound(subject, case, samples: int = 100_000, d: int = 5, k: int = 3, sigma2: float = 0.5) -> Outcome:
    """A Monte Carlo ELBO (n reparameterised samples from the subject with a seeded generator) lies within
    5 s.e. of log p(x) − KL(q ‖ p(z|x)) on the linear-Gaussian model (false-alarm rate 5.7e-7), and its
    upper 5-s.e. limit stays below log p(x) + 5 s.e. (ELBO ≤ log p(x)); at the exact posterior the
    single-sample ELBO estimates log p(x) itself within 5 s.e."""
    from torch.distributions import MultivariateNormal, kl_divergence

    outs = []
    for orthogonal in (False, True):
        W, b, x, marginal, post = _linear_gaussian(case, d, k, sigma2, orthogonal=orthogonal)
        if orthogonal:
            mu, logvar = post.mean, torch.log(torch.diagonal(post.covariance_matrix))
        else:
            mu = torch.randn(k, generator=case.generator, dtype=F64)
            logvar = torch.randn(k, generator=case.generator, dtype=F64) * 0.5
        mu_b, lv_b = case.tensor(mu).expand(samples, k), case.tensor(logvar).expand(samples, k)
        z = subject.fn("reparameterize")(mu_b, lv_b, generator=case.gen())
        x_hat = z @ case.tensor(W).T + case.tensor(b)
        vals = f64(subject.fn("elbo")(case.tensor(x).expand(samples, -1), x_hat, mu_b, lv_b, sigma2))
        est, se = float(vals.mean()), float(vals.std() / math.sqrt(samples))
        logp = float(marginal.log_prob(x))
        gap = float(kl_divergence(MultivariateNormal(mu, torch.diag(torch.exp(logvar))), post))
        which = "exact posterior" if orthogonal else "random q"
        outs.append(within_se(f"Monte Carlo ELBO vs log p(x) − KL(q ‖ p(z|x)) ({which})", est, logp - gap, se, samples,
                              detail=f"seed {case.seed}"))
        outs.append(bound(f"Monte Carlo ELBO − 5 s.e. ≤ log p(x) ({which})", est - 5 * se, logp, op="<="))
    return all_of(outs)


# --------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------
@check("vae_forward_composes", requires=("encode", "decode"))
def vae_forward_composes(subject, case, rows: int = 8) -> Outcome:
    """forward(x, eps=ε) returns (x', μ, log σ²) of shapes (B, D), (B, K), (B, K) with (μ, log σ²) = encode(x)
    and x' = decode(μ + exp(½ log σ²) ⊙ ε) (the reparameterised sample computed here, not by the subject)."""
    model = subject.build(case)
    d, k = subject.size("in_features"), subject.size("latent")
    (x,) = CONTRACT.example_inputs(subject, case, rows)
    eps = case.randn(rows, k)
    with torch.no_grad():
        x_hat, mu, logvar = model(x, eps=eps)
        mu2, lv2 = model.encode(x)
        want = model.decode(mu2 + torch.exp(0.5 * lv2) * eps)
    return all_of(
        exact("shapes of (x', μ, log σ²)", tuple(tuple(t.shape) for t in (x_hat, mu, logvar)), ((rows, d), (rows, k), (rows, k))),
        case.close("μ from forward vs encode", mu, mu2),
        case.close("log σ² from forward vs encode", logvar, lv2),
        case.close("x' from forward vs decode(μ + σε)", x_hat, want),
    )


@check("vae_loss_gradcheck", requires=("loss",))
def vae_loss_gradcheck(subject, case, rows: int = 3) -> Outcome:
    """The model's negative ELBO with injected noise is differentiable and its autograd gradient
    w.r.t. the input and ε matches central finite differences (torch.autograd.gradcheck in fast mode:
    random directional derivatives, float64)."""
    model = subject.build(case)
    (x,) = CONTRACT.example_inputs(subject, case, rows)
    x = x.requires_grad_(True)
    eps = case.randn(rows, subject.size("latent")).requires_grad_(True)
    try:
        with case.fork_rng():  # fast mode draws its random directions from the global RNG
            ok = torch.autograd.gradcheck(lambda a, e: model.loss(a, eps=e), (x, eps), eps=1e-6, atol=1e-7, rtol=1e-5,
                                          fast_mode=True, raise_exception=True)
        detail = "gradcheck fast mode (random directional derivatives), eps 1e-6, atol 1e-7, rtol 1e-5"
    except RuntimeError as err:
        ok, detail = False, str(err).splitlines()[0][:200]
    return holds("gradcheck of vae.loss(x, eps) w.r.t. x and ε", ok, detail)


@check("vae_trains_beyond_latent_free_baseline", requires=("elbo", "loss"), marks=("slow", "training"))
def vae_trains_beyond_latent_free_baseline(subject, case, steps: int = 150, batch: int = 128, lr: float = 1e-2,
                                           train: int = 1200, draws: int = 16) -> Outcome:
    """After a bounded Adam budget on digits (pixels/16), the VAE's held-out negative ELBO is below
    that of the best latent-free model with the same likelihood, N(x; mean of the training data, σ²I)
    (KL = 0): the model uses its latent code. The ELBO is averaged over 16 seeded noise draws per
    held-out input and the per-input improvement must exceed 5 of its standard errors (paired,
    one-sided; a model no better than the baseline passes with probability < 3e-7)."""
    from torch.distributions import Normal

    Xtr, Xte = digits_split(subject, case, train)
    model = subject.build(case)
    sigma2 = float(subject.size("sigma2"))
    g = case.gen()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        idx = torch.randint(0, train, (batch,), generator=case.generator).to(case.device)
        opt.zero_grad()
        model.loss(Xtr[idx], generator=g).backward()
        opt.step()
    with torch.no_grad():
        neg = torch.stack([-subject.fn("elbo")(Xte, *model(Xte, generator=g), sigma2) for _ in range(draws)]).mean(0)
        base = -Normal(f64(Xtr).mean(0), math.sqrt(sigma2)).log_prob(f64(Xte)).sum(-1)
    diff = base - f64(neg)
    mean, se = float(diff.mean()), float(diff.std() / math.sqrt(len(diff)))
    return bound("held-out improvement of −ELBO over the latent-free baseline, in s.e.", z_score(mean, se), 5.0, op=">",
                 detail=f"mean improvement {mean:.4g} nats/sample (s.e. {se:.3g}), baseline {float(base.mean()):.4g}, "
                        f"n={len(diff)}, {steps} Adam steps of batch {batch}, σ²={sigma2}")


@check("vae_sample_decodes_prior", requires=("sample", "decode"), marks=("statistical",))
def vae_sample_decodes_prior(subject, case, n: int = 20000) -> Outcome:
    """sample(n, generator=g) generates data by sampling the prior: it draws z ~ N(0, I) of shape
    (n, latent) from g (torch.randn on the model's device and dtype) and returns decode(z), or
    sigmoid(decode(z)) (the Bernoulli means) for the Bernoulli likelihood: replaying the draw from an
    equally seeded generator gives the same (n, in_features) tensor on the model's device and dtype.
    The z it passes to decode (recorded) has per-coordinate mean 0 and variance 1 (5 s.e. each, s.e.
    from the sample's own fourth moment) and correlations within 5/√n of 0; two equal seeds give equal
    samples, another seed other samples, and the global RNG is left untouched."""
    model = subject.build(case)
    k, d = subject.size("latent"), subject.size("in_features")
    bernoulli = subject.params.get("likelihood", "gaussian") == "bernoulli"
    p = next(model.parameters())
    seen: list[torch.Tensor] = []
    decode = model.decode

    def recording(z: torch.Tensor) -> torch.Tensor:
        seen.append(z.detach())
        return decode(z)

    model.decode = recording  # an instance attribute: sample's self.decode(z) is recorded
    try:
        with torch.no_grad():
            x = model.sample(n, generator=case.gen())
    finally:
        del model.decode
    if len(seen) != 1 or tuple(seen[0].shape) != (n, k):
        return holds("sample(n) calls decode once on an (n, latent) batch", False,
                     f"decode called {len(seen)} time(s) with shapes {[tuple(z.shape) for z in seen]}")
    z = f64(seen[0])
    with torch.no_grad():
        zr = torch.randn(n, k, generator=case.gen(), device=p.device, dtype=p.dtype)
        out = model.decode(zr)
        replay = torch.sigmoid(out) if bernoulli else out
    outs = [exact("sample(n): shape, dtype, device", (tuple(x.shape), x.dtype, x.device.type),
                  ((n, d), p.dtype, torch.device(case.device).type)),
            case.close("sample(n, g) vs decode(z) for z = randn(n, latent, generator=g)" + (", through a sigmoid" if bernoulli else ""),
                       x, replay),
            exact("the z decode received is the replayed draw", z, f64(zr))]
    for j in range(k):
        outs += moments_within_se(z[:, j], 0.0, 1.0, f"mean of the prior draws z[:, {j}]", f"variance of the prior draws z[:, {j}]")
    corr = torch.corrcoef(z.T) - torch.eye(k, dtype=F64)
    outs.append(bound("largest |correlation| between prior coordinates", float(corr.abs().max()), 5 / math.sqrt(n),
                      source="5/√n: the s.e. of a sample correlation of independent coordinates is 1/√n"))
    outs.append(draws_only_from_generator(case, lambda g: model.sample(64, generator=g), "sample", "sample(generator=g)"))
    return all_of(outs)


# --------------------------------------------------------------------------------------------
# architecture, configuration, differentiable sampling
# --------------------------------------------------------------------------------------------
_VAE_LAYERS = ("enc", "enc_mu", "enc_logvar", "dec", "dec_out")


@check("vae_mlp_matches_functional_stack", requires=("encode", "decode", "state_dict"))
def vae_mlp_matches_functional_stack(subject, case, rows: int = 6) -> Outcome:
    """The model is the one-hidden-layer tanh MLP of the contract, on its own weights: parameter
    shapes follow the config (enc (H, D), enc_mu and enc_logvar (K, H), dec (H, K), dec_out (D, H),
    biases likewise), encode(x) = (W_μ tanh(W₁x + b₁) + b_μ, W_v tanh(W₁x + b₁) + b_v) and
    decode(z) = W₄ tanh(W₃z + b₃) + b₄, recomputed with torch.nn.functional.linear and torch.tanh
    on the state_dict tensors."""
    import torch.nn.functional as F

    model = subject.build(case)
    d, h, k = (int(subject.size(n)) for n in ("in_features", "hidden", "latent"))
    sd = model.state_dict()
    want = {"enc": (h, d), "enc_mu": (k, h), "enc_logvar": (k, h), "dec": (h, k), "dec_out": (d, h)}
    shapes = {n: (tuple(sd[f"{n}.weight"].shape), tuple(sd[f"{n}.bias"].shape)) if f"{n}.weight" in sd else None
              for n in _VAE_LAYERS}
    out = [exact("state_dict layer shapes (weight, bias)", shapes, {n: (s, s[:1]) for n, s in want.items()})]
    if any(v is None for v in shapes.values()):
        return all_of(out)
    L = {n: (sd[f"{n}.weight"], sd[f"{n}.bias"]) for n in _VAE_LAYERS}
    (x,) = CONTRACT.example_inputs(subject, case, rows)
    z = case.randn(rows, k)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        hid = torch.tanh(F.linear(x, *L["enc"]))
        x_dec = model.decode(z)
        ref_dec = F.linear(torch.tanh(F.linear(z, *L["dec"])), *L["dec_out"])
    return all_of(out + [
        case.close("μ vs F.linear(tanh(F.linear(x)))", mu, F.linear(hid, *L["enc_mu"])),
        case.close("log σ² vs F.linear(tanh(F.linear(x)))", logvar, F.linear(hid, *L["enc_logvar"])),
        case.close("decode(z) vs F.linear(tanh(F.linear(z)))", x_dec, ref_dec),
    ])


@check("vae_config_rejects_invalid", requires=())
def vae_config_rejects_invalid(subject, case) -> Outcome:
    """A Gaussian decoder needs σ_x² > 0 (σ_x² = 0 makes −log N(x; x', σ_x²) infinite): building the
    model with sigma2 = 0 or sigma2 < 0, or with an unknown likelihood, raises ValueError, while the
    suite's own params build."""

    subject.build(None)
    return all_of(
        holds("sigma2 = 0 rejected (ValueError)", build_rejected(subject, sigma2=0.0)),
        holds("sigma2 = −1 rejected (ValueError)", build_rejected(subject, sigma2=-1.0)),
        holds("likelihood 'poisson' rejected (ValueError)", build_rejected(subject, likelihood="poisson")),
    )


@check("vae_sample_is_differentiable", requires=("sample", "decode", "parameters"))
def vae_sample_is_differentiable(subject, case, n: int = 16) -> Outcome:
    """sample(n, g) = decode(z) (or sigmoid(decode(z)), Bernoulli) keeps the autograd graph to the
    decoder: the gradient of Σ w ⊙ sample(n, g) with respect to every parameter equals that of the
    same expression computed here from decode(z) with z replayed from an equally seeded generator
    (zero for the encoder's parameters, nonzero for the decoder's)."""
    model = subject.build(case)
    k = subject.size("latent")
    bernoulli = subject.params.get("likelihood", "gaussian") == "bernoulli"
    params = [p for p in model.parameters() if p.requires_grad]
    p0 = params[0]
    w = case.randn(n, subject.size("in_features"))

    def grads(y):
        if not y.requires_grad:
            return [torch.zeros_like(p) for p in params]
        g = torch.autograd.grad((y * w).sum(), params, allow_unused=True)
        return [torch.zeros_like(p) if gi is None else gi for p, gi in zip(params, g)]

    got = grads(model.sample(n, generator=case.gen()))
    zr = torch.randn(n, k, generator=case.gen(), device=p0.device, dtype=p0.dtype)
    out = model.decode(zr)
    ref = grads(torch.sigmoid(out) if bernoulli else out)
    reached = sum(bool(g.abs().sum() > 0) for g in ref)
    return all_of(
        bound("parameters the replayed decode(z) reaches", reached, 0, op=">"),
        case.close("∂(Σ w ⊙ sample)/∂θ vs the replayed decode(z), every parameter",
                   torch.cat([f64(g).reshape(-1) for g in got]), torch.cat([f64(g).reshape(-1) for g in ref])),
    )
