"""Checks for the DDPM forward process, posterior, ε-loss, ancestral step and ε-network (Ho et
al. 2020), suite ``diffusion``.

Convention under test: schedule tensors have length T + 1 with index 0 the data (β_0 = 0,
ᾱ_0 = 1), so ``betas[t]`` is the paper's β_t for t = 1..T. The schedule (T, β_1, β_T) and the
network's sizes come from the subject's params (:meth:`Subject.size`, see :data:`CONTRACT`);
only ``ddpm_marginal_sampled_moments`` runs the chain on a short schedule of its own (a check
parameter) to stay fast, and the loss checks draw test data of their own dimension. Oracles:
the schedule re-derived in NumPy (``np.linspace`` / ``np.cumprod``), the posterior by Gaussian
conditioning (Schur complement of the joint covariance of x_{t−1}, x_t), scipy.stats for the
normality tests.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from harness.contract import load_contract
from harness.outcome import Outcome, Tolerance, all_of, bound, exact, f64, p_value, within_se
from harness.registry import check

_SCHEDULE = ("linear_beta_schedule", "alpha_bar")


def _inputs(subject, case, batch: int) -> tuple:
    """x_t (B, dim) standard normal and integer steps t (B,) uniform on 1..T."""
    return case.randn(batch, subject.size("dim")), case.randint(1, subject.size("T") + 1, (batch,))


CONTRACT = load_contract("diffusion", inputs=_inputs)


def _schedule_params(subject) -> tuple[int, float, float]:
    """The subject's (T, β_1, β_T)."""
    return int(subject.size("T")), float(subject.size("beta_1")), float(subject.size("beta_T"))


def _noise_gen(case, stream: int = 1) -> torch.Generator:
    """A generator on the case's device for the subject's own noise draws, independent of the
    data drawn with ``case.randn`` (noise correlated with x_0 would void the checks)."""
    return case.gen(stream=stream)


def _np_schedule(T: int, beta_1: float, beta_T: float) -> tuple[np.ndarray, np.ndarray]:
    """(β, ᾱ) of length T + 1 with β_0 = 0, ᾱ_0 = 1, computed in NumPy (the oracle)."""
    betas = np.concatenate([[0.0], np.linspace(beta_1, beta_T, T)])
    return betas, np.cumprod(1.0 - betas)


def _schedule(subject, case, T: int, beta_1: float, beta_T: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The subject's (β, ᾱ) in float64 on the case's device."""
    betas = subject.fn("linear_beta_schedule")(T, beta_1, beta_T, dtype=torch.float64, device=case.device)
    return betas, subject.fn("alpha_bar")(betas)


def _np_posterior(x0: np.ndarray, x_t: np.ndarray, t: np.ndarray, betas: np.ndarray, ab: np.ndarray):
    """Mean and variance of x_{t−1} | x_t, x_0 by conditioning the joint Gaussian
    x_{t−1} ~ N(√ᾱ_{t−1} x_0, 1 − ᾱ_{t−1}),  x_t | x_{t−1} ~ N(√α_t x_{t−1}, β_t):
    Cov = [[V, √α V], [√α V, α V + β]];  mean = μ + C/S (x_t − √α μ);  var = V − C²/S."""
    t = np.broadcast_to(t, x0.shape)
    mu, V = np.sqrt(ab[t - 1]) * x0, 1.0 - ab[t - 1]
    alpha = 1.0 - betas[t]
    C, S = np.sqrt(alpha) * V, alpha * V + betas[t]
    return mu + C / S * (x_t - np.sqrt(alpha) * mu), V - C * C / S


# ---------------------------------------------------------------------------------------------
# schedule
# ---------------------------------------------------------------------------------------------
@check(requires=_SCHEDULE)
def ddpm_linear_beta_schedule(subject, case) -> Outcome:
    """The linear schedule has T + 1 entries: β_0 = 0 (the data) and β_1..β_T equally spaced
    from beta_1 to beta_T (numpy.linspace)."""
    T, beta_1, beta_T = _schedule_params(subject)
    betas = subject.fn("linear_beta_schedule")(T, beta_1, beta_T, dtype=case.dtype, device=case.device)
    ref, _ = _np_schedule(T, beta_1, beta_T)
    return all_of(
        exact("schedule length", tuple(betas.shape), (T + 1,)),
        exact("β_0", float(betas[0]), 0.0),
        case.close("β_1..β_T vs numpy.linspace", betas[1:], ref[1:]),
    )


@check(requires=_SCHEDULE)
def ddpm_alpha_bar_monotone(subject, case) -> Outcome:
    """ᾱ_t = Π_{s≤t}(1 − β_s) equals exp(Σ log(1 − β_s)) (NumPy), ᾱ_0 = 1, it strictly decreases
    in t and lies in (0, 1) for t = 1..T."""
    T, beta_1, beta_T = _schedule_params(subject)
    betas, ab = _schedule(subject, case, T, beta_1, beta_T)
    ref_betas, _ = _np_schedule(T, beta_1, beta_T)
    ref = np.exp(np.cumsum(np.log1p(-ref_betas)))
    A = f64(ab)
    steps = A[1:] - A[:-1]
    return all_of(
        case.close("ᾱ_t vs exp(cumsum(log1p(−β)))", ab, ref),
        exact("ᾱ_0", float(A[0]), 1.0),
        bound("max_t (ᾱ_t − ᾱ_{t−1})", float(steps.max()), 0.0, op="<", detail=f"T = {T}"),
        bound("min_{t≥1} ᾱ_t", float(A[1:].min()), 0.0, op=">"),
        bound("max_{t≥1} ᾱ_t", float(A[1:].max()), 1.0, op="<"),
    )


# ---------------------------------------------------------------------------------------------
# forward process: closed form vs the chain
# ---------------------------------------------------------------------------------------------
@check(requires=_SCHEDULE + ("q_step", "q_sample"))
def ddpm_marginal_equals_iterated_kernel(subject, case) -> Outcome:
    """Iterating the one-step kernel q(x_t | x_{t−1}) = N(a_t x_{t−1}, s_t²) from x_0 gives
    mean m_t = a_t m_{t−1} and variance v_t = a_t² v_{t−1} + s_t², which equal the closed-form
    marginal's √ᾱ_t x_0 and 1 − ᾱ_t for every t = 1..T (float64, 1e-12). a_t and s_t are read
    off q_step with injected noise 0 and 1, the marginal off q_sample likewise."""
    T, beta_1, beta_T = _schedule_params(subject)
    betas, ab = _schedule(subject, case, T, beta_1, beta_T)
    q_step, q_sample = subject.fn("q_step"), subject.fn("q_sample")
    one = torch.ones(1, dtype=case.dtype, device=case.device)
    zero = torch.zeros_like(one)
    m, v = [1.0], [0.0]  # x_0 = 1 exactly
    for t in range(1, T + 1):
        a_t = float(q_step(one, t, betas, eps=zero))
        s_t = float(q_step(zero, t, betas, eps=one))
        m.append(a_t * m[-1])
        v.append(a_t * a_t * v[-1] + s_t * s_t)
    ts = torch.arange(T + 1, device=case.device)
    ones = torch.ones(T + 1, dtype=case.dtype, device=case.device)
    mean_cf = q_sample(ones, ts, ab, eps=torch.zeros_like(ones))          # √ᾱ_t
    std_cf = q_sample(torch.zeros_like(ones), ts, ab, eps=ones)           # √(1 − ᾱ_t)
    return all_of(
        case.close("recursion mean m_t vs closed-form √ᾱ_t · x_0", torch.tensor(m, dtype=torch.float64), mean_cf),
        case.close("recursion variance v_t vs closed-form 1 − ᾱ_t", torch.tensor(v, dtype=torch.float64), f64(std_cf) ** 2),
    )


@check(requires=_SCHEDULE + ("q_step", "q_sample"), marks=("statistical",))
def ddpm_marginal_sampled_moments(subject, case, n: int = 20000, T: int = 100, beta_1: float = 1e-3,
                                  beta_T: float = 0.05, x0: float = 2.0, alpha: float = 1e-3) -> Outcome:
    """Running the chain x_t = q_step(x_{t−1}) from a fixed x_0 gives samples whose mean and
    variance at t ∈ {1, T/10, T/2, T} equal √ᾱ_t x_0 and 1 − ᾱ_t (ᾱ from NumPy) within 5
    standard errors, and whose distribution equals that of q_sample(x_0, t) (two-sample KS test,
    level alpha). False-alarm rate < 4·alpha + 8·6e-7.

    The chain runs on this check's own short schedule (T, beta_1, beta_T are check parameters,
    not the subject's), which keeps n × T kernel steps cheap."""
    from scipy.stats import ks_2samp

    betas, ab = _schedule(subject, case, T, beta_1, beta_T)
    _, ref_ab = _np_schedule(T, beta_1, beta_T)
    q_step, q_sample = subject.fn("q_step"), subject.fn("q_sample")
    gen = _noise_gen(case)
    x = torch.full((n,), x0, dtype=case.dtype, device=case.device)
    start = x.clone()
    out = []
    for t in range(1, T + 1):
        x = q_step(x, t, betas, generator=gen)
        if t in (1, T // 10, T // 2, T):
            X = f64(x)
            mean_ref, var_ref = math.sqrt(ref_ab[t]) * x0, 1.0 - ref_ab[t]
            c2 = (X - mean_ref) ** 2  # the mean is known: an unbiased variance estimate
            direct = f64(q_sample(start, t, ab, generator=gen))
            ks = ks_2samp(X.numpy(), direct.numpy())
            out += [
                within_se(f"t={t}: chain sample mean vs √ᾱ_t x_0", float(X.mean()), mean_ref,
                          math.sqrt(var_ref / n), n),
                within_se(f"t={t}: chain sample variance vs 1 − ᾱ_t", float(c2.mean()), var_ref,
                          float(c2.std()) / math.sqrt(n), n),
                p_value(f"t={t}: chain samples vs q_sample samples", ks.statistic, ks.pvalue, alpha, n,
                        "two-sample Kolmogorov-Smirnov"),
            ]
    return all_of(out)


@check(requires=_SCHEDULE + ("q_step", "q_sample"), marks=("statistical",))
def ddpm_unit_variance_preserved(subject, case, n: int = 20000) -> Outcome:
    """The process is variance preserving: with Var(x_0) = 1, Var(x_t) = ᾱ_t + (1 − ᾱ_t) = 1 for
    every t, both for the marginal (q_sample's coefficients: a² + s² = 1, 1e-12) and for the
    one-step kernel ((1 − β_t) + β_t = 1); and sampled from non-Gaussian unit-variance data
    (±1 with equal probability), the sample variance of x_t is 1 within 5 standard errors at
    t ∈ {1, 10, 100, T/2, T} (those ≤ T)."""
    T, beta_1, beta_T = _schedule_params(subject)
    betas, ab = _schedule(subject, case, T, beta_1, beta_T)
    q_step, q_sample = subject.fn("q_step"), subject.fn("q_sample")
    ts = torch.arange(1, T + 1, device=case.device)
    ones = torch.ones(T, dtype=case.dtype, device=case.device)
    zeros = torch.zeros_like(ones)
    a, s = f64(q_sample(ones, ts, ab, eps=zeros)), f64(q_sample(zeros, ts, ab, eps=ones))
    ka, ks = f64(q_step(ones, ts, betas, eps=zeros)), f64(q_step(zeros, ts, betas, eps=ones))
    unit = torch.ones(T, dtype=torch.float64)
    out = [case.close("marginal: a_t² + s_t² (all t)", a ** 2 + s ** 2, unit),
           case.close("one step: (1 − β_t) + β_t (all t)", ka ** 2 + ks ** 2, unit)]
    x0 = 2.0 * case.bernoulli(0.5, n) - 1.0
    gen = _noise_gen(case)
    for t in sorted({1, 10, 100, T // 2, T} & set(range(1, T + 1))):
        X = f64(q_sample(x0, t, ab, generator=gen))
        c2 = X ** 2  # E[x_t] = 0 is known
        out.append(within_se(f"t={t}: sample Var(x_t) from ±1 data", float(c2.mean()), 1.0,
                             float(c2.std()) / math.sqrt(n), n))
    return all_of(out)


@check(requires=_SCHEDULE + ("q_step", "q_sample"), marks=("statistical",))
def ddpm_x_T_is_standard_normal(subject, case, n: int = 5000, alpha: float = 1e-3) -> Outcome:
    """Starting from strongly non-Gaussian data (x_0 = ±2), x_T is indistinguishable from
    N(0, 1) (ᾱ_T ≈ 4e-5 for the paper's schedule): one-sample KS test against N(0, 1) and
    D'Agostino-Pearson normality test, each at level alpha, for x_T from q_sample and from
    running the chain of q_step."""
    from scipy import stats

    T, beta_1, beta_T = _schedule_params(subject)
    betas, ab = _schedule(subject, case, T, beta_1, beta_T)
    q_step, q_sample = subject.fn("q_step"), subject.fn("q_sample")
    x0 = 4.0 * case.bernoulli(0.5, n) - 2.0
    gen = _noise_gen(case)
    x_direct = f64(q_sample(x0, T, ab, generator=gen)).numpy()
    x = x0
    for t in range(1, T + 1):
        x = q_step(x, t, betas, generator=gen)
    x_chain = f64(x).numpy()
    out = []
    for label, xs in (("q_sample", x_direct), ("chain", x_chain)):
        ks = stats.kstest(xs, "norm")
        nt = stats.normaltest(xs)
        where = f"T = {T}, ᾱ_T = {float(ab[T]):.3g}"
        out += [p_value(f"x_T ({label}) vs N(0, 1)", ks.statistic, ks.pvalue, alpha, n, "Kolmogorov-Smirnov", where),
                p_value(f"x_T ({label}) normality", nt.statistic, nt.pvalue, alpha, n, "D'Agostino-Pearson", where)]
    return all_of(out)


@check(requires=_SCHEDULE + ("q_sample",))
def ddpm_q_sample_per_sample_t(subject, case, batch: int = 12) -> Outcome:
    """q_sample(x_0, t, eps) = √ᾱ_t x_0 + √(1 − ᾱ_t) ε with ᾱ from NumPy, for multi-axis data
    (B, 3, 4) and one step t_b per sample (t = 0 returns x_0), and for a scalar t = T/2; with
    eps=None the noise comes only from the generator (same seed, same x_t; never x_t = mean)."""
    T, beta_1, beta_T = _schedule_params(subject)
    mid = T // 2
    _, ab = _schedule(subject, case, T, beta_1, beta_T)
    _, ref_ab = _np_schedule(T, beta_1, beta_T)
    q_sample = subject.fn("q_sample")
    x0, eps = case.randn(batch, 3, 4), case.randn(batch, 3, 4)
    t = case.randint(0, T + 1, (batch,))
    t[0] = 0
    tn = t.cpu().numpy()
    ref = np.sqrt(ref_ab[tn])[:, None, None] * f64(x0).numpy() + np.sqrt(1 - ref_ab[tn])[:, None, None] * f64(eps).numpy()
    xt = q_sample(x0, t, ab, eps=eps)
    scalar = q_sample(x0, mid, ab, eps=eps)
    ref_scalar = math.sqrt(ref_ab[mid]) * f64(x0) + math.sqrt(1 - ref_ab[mid]) * f64(eps)
    d1 = q_sample(x0, mid, ab, generator=_noise_gen(case, 2))
    d2 = q_sample(x0, mid, ab, generator=_noise_gen(case, 2))
    return all_of(
        exact("output shape", tuple(xt.shape), (batch, 3, 4)),
        case.close("per-sample t: x_t vs √ᾱ_t x_0 + √(1 − ᾱ_t) ε (NumPy)", xt, ref),
        case.close(f"scalar t = {mid}", scalar, ref_scalar),
        exact("same generator seed, same draw", d1, d2),
        bound("min |x_t − √ᾱ_t x_0| with eps=None (noise was drawn)",
              float((f64(d1) - math.sqrt(ref_ab[mid]) * f64(x0)).abs().max()), 0.0, op=">"),
    )


# ---------------------------------------------------------------------------------------------
# posterior, ancestral step, loss
# ---------------------------------------------------------------------------------------------
@check(requires=_SCHEDULE + ("q_posterior_mean_var",))
def ddpm_posterior_gaussian_conditioning(subject, case, n: int = 64) -> Outcome:
    """The posterior q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t) equals Gaussian conditioning of the
    joint of (x_{t−1}, x_t) given x_0 (Schur complement, NumPy), for one t per sample covering
    t = 1 (β̃_1 = 0, μ̃_1 = x_0), t = 2, t = T and random steps."""
    T, beta_1, beta_T = _schedule_params(subject)
    betas, _ = _schedule(subject, case, T, beta_1, beta_T)
    ref_b, ref_ab = _np_schedule(T, beta_1, beta_T)
    x0, x_t = case.randn(n), case.randn(n)
    t = case.randint(1, T + 1, (n,))
    t[:3] = torch.tensor([1, 2, T], device=t.device)
    mean, var = subject.fn("q_posterior_mean_var")(x0, x_t, t, betas)
    ref_mean, ref_var = _np_posterior(f64(x0).numpy(), f64(x_t).numpy(), t.cpu().numpy(), ref_b, ref_ab)
    return all_of(
        case.close("posterior mean μ̃_t vs Gaussian conditioning", mean, ref_mean),
        case.close("posterior variance β̃_t vs Gaussian conditioning", var, ref_var),
    )


def _true_eps_model(x0: torch.Tensor, ref_ab: np.ndarray):
    """ε*(x_t, t) = (x_t − √ᾱ_t x_0)/√(1 − ᾱ_t): the exact noise, given x_0 (ᾱ from NumPy)."""

    def model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = torch.as_tensor(ref_ab, dtype=x_t.dtype, device=x_t.device)[t.to(x_t.device)].reshape(-1, *([1] * (x_t.dim() - 1)))
        return (x_t - ab.sqrt() * x0) / (1.0 - ab).sqrt()

    return model


def _bayes_eps_model(ref_ab: np.ndarray, s: float):
    """E[ε | x_t] = √(1 − ᾱ_t) x_t / (ᾱ_t s² + 1 − ᾱ_t) for data x_0 ~ N(0, s² I), (B, dim) data
    (ᾱ from NumPy): the Bayes-optimal noise predictor."""

    def model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = torch.as_tensor(ref_ab, dtype=x_t.dtype, device=x_t.device)[t.to(x_t.device)][:, None]
        return (1.0 - ab).sqrt() * x_t / (ab * s * s + 1.0 - ab)

    return model


@check(requires=_SCHEDULE + ("eps_loss",))
def ddpm_eps_loss_values(subject, case, batch: int = 32, dim: int = 3) -> Outcome:
    """L_simple = ‖ε − ε_θ(x_t, t)‖² (summed over coordinates, averaged over the batch) is 0 for
    the true-noise predictor, equals ‖ε‖² for ε_θ = 0 and ‖ε − x_t‖² for ε_θ(x_t) = x_t with
    x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε computed independently (test data of dimension ``dim``)."""
    T, beta_1, beta_T = _schedule_params(subject)
    _, ab = _schedule(subject, case, T, beta_1, beta_T)
    _, ref_ab = _np_schedule(T, beta_1, beta_T)
    loss = subject.fn("eps_loss")
    x0, eps = case.randn(batch, dim), case.randn(batch, dim)
    t = case.randint(1, T + 1, (batch,))
    E, X0, tn = f64(eps), f64(x0), t.cpu().numpy()
    xt_ref = torch.from_numpy(np.sqrt(ref_ab[tn]))[:, None] * X0 + torch.from_numpy(np.sqrt(1 - ref_ab[tn]))[:, None] * E
    return all_of(
        case.close("loss of the true-noise predictor", loss(_true_eps_model(x0, ref_ab), x0, t, ab, eps=eps), 0.0),
        case.close("per-sample loss of ε_θ = 0 is ‖ε‖²",
                   loss(lambda x, s: torch.zeros_like(x), x0, t, ab, eps=eps, reduction="none"), (E ** 2).sum(1)),
        case.close("mean loss of ε_θ = 0 is mean ‖ε‖²", loss(lambda x, s: torch.zeros_like(x), x0, t, ab, eps=eps),
                   (E ** 2).sum(1).mean()),
        case.close("per-sample loss of ε_θ(x_t) = x_t is ‖ε − x_t‖²",
                   loss(lambda x, s: x, x0, t, ab, eps=eps, reduction="none"), ((E - xt_ref) ** 2).sum(1)),
    )


@check(requires=_SCHEDULE + ("eps_loss",), marks=("statistical",))
def ddpm_eps_loss_gaussian_bayes(subject, case, n: int = 20000, dim: int = 2, s: float = 0.7) -> Outcome:
    """For Gaussian data x_0 ~ N(0, s² I) the Bayes-optimal predictor E[ε | x_t] =
    √(1 − ᾱ_t) x_t / (ᾱ_t s² + 1 − ᾱ_t) has expected loss dim · ᾱ_t s² / (ᾱ_t s² + 1 − ᾱ_t); the
    Monte Carlo mean of eps_loss (fresh ε from the generator, t uniform on 1..T) equals the
    average of that closed form within 5 standard errors (test data of dimension ``dim``)."""
    T, beta_1, beta_T = _schedule_params(subject)
    _, ab = _schedule(subject, case, T, beta_1, beta_T)
    _, ref_ab = _np_schedule(T, beta_1, beta_T)
    x0 = s * case.randn(n, dim)
    t = case.randint(1, T + 1, (n,))
    a = ref_ab[t.cpu().numpy()]

    per = f64(subject.fn("eps_loss")(_bayes_eps_model(ref_ab, s), x0, t, ab, generator=_noise_gen(case), reduction="none"))
    expected = float(np.mean(dim * a * s * s / (a * s * s + 1.0 - a)))
    return within_se("mean eps_loss of the Bayes predictor vs closed-form minimum", float(per.mean()), expected,
                     float(per.std()) / math.sqrt(n), n)


@check(requires=_SCHEDULE + ("p_sample_step",))
def ddpm_ancestral_step_true_eps(subject, case, n: int = 32) -> Outcome:
    """With the true-noise predictor ε*(x_t) = (x_t − √ᾱ_t x_0)/√(1 − ᾱ_t), one ancestral step
    p(x_{t−1} | x_t) with noise z gives x_{t−1} = μ̃_t + σ_t z where μ̃_t and σ_t² = β̃_t are the
    posterior mean and variance by Gaussian conditioning, at t ∈ {1, 2, max(3, T/20), T}; at t = 1
    it returns x_0 exactly (no noise)."""
    T, beta_1, beta_T = _schedule_params(subject)
    betas, ab = _schedule(subject, case, T, beta_1, beta_T)
    ref_b, ref_ab = _np_schedule(T, beta_1, beta_T)
    step = subject.fn("p_sample_step")
    x0, z = case.randn(n, 2), case.randn(n, 2)
    model = _true_eps_model(x0, ref_ab)
    out = []
    for t in (1, 2, max(3, T // 20), T):
        x_t = math.sqrt(ref_ab[t]) * x0 + math.sqrt(1 - ref_ab[t]) * case.randn(n, 2)
        mean, var = _np_posterior(f64(x0).numpy(), f64(x_t).numpy(), np.array(t), ref_b, ref_ab)
        got_mean = step(model, x_t, t, betas, noise=torch.zeros_like(x_t))
        got = step(model, x_t, t, betas, noise=z)
        out += [case.close(f"t={t}: step with z = 0 vs posterior mean μ̃_t", got_mean, mean),
                case.close(f"t={t}: step with z vs μ̃_t + β̃_t^½ z", got, mean + np.sqrt(var) * f64(z).numpy())]
    return all_of(out)


# ---------------------------------------------------------------------------------------------
# the ε-network
# ---------------------------------------------------------------------------------------------
@check()
def ddpm_denoiser_time_conditioned(subject, case, batch: int = 16) -> Outcome:
    """The ε-network maps (x_t of shape (B, dim), integer t of shape (B,)) to (B, dim), treats
    samples independently (row b of a batch equals the network on sample b alone) and depends
    on t (same x_t, different t, different output)."""
    model = subject.build(case)
    dim, T = subject.size("dim"), subject.size("T")
    x, t = CONTRACT.example_inputs(subject, case, batch)
    with torch.no_grad():
        y = model(x, t)
        rows = torch.cat([model(x[b:b + 1], t[b:b + 1]) for b in range(batch)])
        y_other = model(x, (t % T) + 1)
    return all_of(
        exact("output shape", tuple(y.shape), (batch, dim)),
        case.close("batched output vs one sample at a time", y, rows),
        bound("min over samples of |ε_θ(x, t) − ε_θ(x, t')|", float(f64(y - y_other).abs().sum(1).min()), 0.0, op=">"),
    )


@check(requires=_SCHEDULE + ("eps_loss",), marks=("slow", "training", "statistical"))
def ddpm_training_closes_bayes_gap(subject, case, steps: int = 200, batch: int = 256, lr: float = 3e-3, s: float = 0.7,
                                   n: int = 20000, fraction: float = 0.5) -> Outcome:
    """Trained with eps_loss (Adam, t uniform on 1..T) on Gaussian data x_0 ~ N(0, s² I), the
    ε-network's held-out loss is never below the Bayes minimum (no predictor beats
    E[ε | x_t]; paired difference ≥ −5 s.e.) and closes at least ``fraction`` of the gap
    between the zero predictor (loss = dim) and that minimum. The data dimension and the schedule
    are the subject's."""
    T, beta_1, beta_T = _schedule_params(subject)
    dim = subject.size("dim")
    _, ab = _schedule(subject, case, T, beta_1, beta_T)
    _, ref_ab = _np_schedule(T, beta_1, beta_T)
    loss_fn = subject.fn("eps_loss")
    model = subject.build(case)
    gen = _noise_gen(case)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        x0 = s * case.randn(batch, dim)
        t = case.randint(1, T + 1, (batch,))
        loss = loss_fn(model, x0, t, ab, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x0, eps, t = s * case.randn(n, dim), case.randn(n, dim), case.randint(1, T + 1, (n,))
    with torch.no_grad():
        trained = f64(loss_fn(model, x0, t, ab, eps=eps, reduction="none"))
        best = f64(loss_fn(_bayes_eps_model(ref_ab, s), x0, t, ab, eps=eps, reduction="none"))
    diff = trained - best
    se = float(diff.std()) / math.sqrt(n)
    closed = (dim - float(trained.mean())) / (dim - float(best.mean()))
    return all_of(
        bound("held-out loss − Bayes minimum (paired mean)", float(diff.mean()), -5.0 * se, op=">=",
              source=f"5 s.e. = {5 * se:.3g} below 0 (false-alarm rate 2.9e-7)", detail=f"n = {n}"),
        bound("fraction of the zero-predictor-to-Bayes gap closed by training", closed, fraction, op=">=",
              detail=f"trained {float(trained.mean()):.4f}, Bayes {float(best.mean()):.4f}, zero predictor {dim}; "
                     f"{steps} steps of {batch}"),
    )


# ---------------------------------------------------------------------------------------------
# closed forms and gradients of the remaining cores (autograd vs the formula's derivative)
# ---------------------------------------------------------------------------------------------
def _grad(out: torch.Tensor, inputs: list[torch.Tensor], w: torch.Tensor) -> list[torch.Tensor]:
    """∂(Σ w · out)/∂inputs by autograd; an input the output does not reach (or every input,
    when the output carries no graph at all) gets zeros, which the comparison then reports."""
    if not out.requires_grad:
        return [torch.zeros_like(x) for x in inputs]
    g = torch.autograd.grad((out * w).sum(), inputs, allow_unused=True)
    return [torch.zeros_like(x) if gi is None else gi for x, gi in zip(inputs, g)]


def _col(v: np.ndarray, ndim: int) -> torch.Tensor:
    """A per-sample coefficient (B,) as a float64 (B, 1, ..., 1) tensor for ``ndim``-dim data."""
    return torch.from_numpy(np.asarray(v, dtype=np.float64)).reshape(-1, *([1] * (ndim - 1)))


@check(requires=_SCHEDULE + ("q_step",))
def ddpm_q_step_values_and_gradients(subject, case, batch: int = 12) -> Outcome:
    """One forward step with injected noise is x_t = √(1 − β_t) x_{t−1} + √β_t ε exactly (β from
    NumPy; the sign of ε matters once ε is given), for one t per sample on (B, 3) data and for
    an int t; its gradients are ∂x_t/∂x_{t−1} = √(1 − β_t) and ∂x_t/∂ε = √β_t (autograd)."""
    T, beta_1, beta_T = _schedule_params(subject)
    betas, _ = _schedule(subject, case, T, beta_1, beta_T)
    ref_b, _ = _np_schedule(T, beta_1, beta_T)
    q_step = subject.fn("q_step")
    x, eps, w = case.randn(batch, 3), case.randn(batch, 3), case.randn(batch, 3)
    t = case.randint(1, T + 1, (batch,))
    t[:2] = torch.tensor([1, T], device=t.device)
    tn = t.cpu().numpy()
    a, s = _col(np.sqrt(1.0 - ref_b[tn]), 2), _col(np.sqrt(ref_b[tn]), 2)
    x.requires_grad_(True)
    eps.requires_grad_(True)
    out = q_step(x, t, betas, eps=eps)
    gx, ge = _grad(out, [x, eps], w)
    mid = max(1, T // 2)
    scalar = q_step(x.detach(), mid, betas, eps=eps.detach())
    return all_of(
        case.close("x_t vs √(1 − β_t) x_{t−1} + √β_t ε (NumPy)", out, a * f64(x) + s * f64(eps)),
        case.close(f"int t = {mid}", scalar, math.sqrt(1 - ref_b[mid]) * f64(x) + math.sqrt(ref_b[mid]) * f64(eps)),
        case.close("∂x_t/∂x_{t−1} = √(1 − β_t)", gx, a * f64(w)),
        case.close("∂x_t/∂ε = √β_t", ge, s * f64(w)),
    )


@check(requires=_SCHEDULE + ("q_mean_var",))
def ddpm_q_mean_var_closed_form(subject, case, batch: int = 12) -> Outcome:
    """q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I): q_mean_var returns the mean √ᾱ_t x_0 and the
    variance 1 − ᾱ_t (ᾱ from NumPy) for one t per sample on (B, 3, 2) data (t = 0: x_0 and 0),
    for an int t (the variance a scalar) and for a 0-dim tensor t (the same as the int); the
    mean's gradient is ∂mean/∂x_0 = √ᾱ_t (autograd)."""
    T, beta_1, beta_T = _schedule_params(subject)
    _, ab = _schedule(subject, case, T, beta_1, beta_T)
    _, ref_ab = _np_schedule(T, beta_1, beta_T)
    qmv = subject.fn("q_mean_var")
    x0, w = case.randn(batch, 3, 2), case.randn(batch, 3, 2)
    t = case.randint(0, T + 1, (batch,))
    t[:2] = torch.tensor([0, T], device=t.device)
    tn = t.cpu().numpy()
    x0.requires_grad_(True)
    mean, var = qmv(x0, t, ab)
    (gx,) = _grad(mean, [x0], w)
    mid = max(1, T // 2)
    m_int, v_int = qmv(x0.detach(), mid, ab)
    m_0d, v_0d = qmv(x0.detach(), torch.tensor(mid, device=case.device), ab)
    sq = _col(np.sqrt(ref_ab[tn]), 3)
    return all_of(
        case.close("mean vs √ᾱ_t x_0 (NumPy)", mean, sq * f64(x0)),
        case.close("variance vs 1 − ᾱ_t (NumPy), broadcast to the data", f64(var).expand(batch, 3, 2),
                   _col(1.0 - ref_ab[tn], 3).expand(batch, 3, 2)),
        case.close("∂mean/∂x_0 = √ᾱ_t", gx, sq * f64(w)),
        case.close(f"int t = {mid}: mean", m_int, math.sqrt(ref_ab[mid]) * f64(x0)),
        exact(f"int t = {mid}: variance shape", tuple(v_int.shape), ()),
        case.close(f"int t = {mid}: variance", v_int, torch.tensor(1.0 - ref_ab[mid], dtype=torch.float64)),
        exact("0-dim tensor t: variance shape as for the int t", tuple(v_0d.shape), ()),
        case.close("0-dim tensor t: mean as for the int t", m_0d, m_int),
    )


@check(requires=("q_posterior_mean_var",))
def ddpm_posterior_gradients(subject, case, T: int = 6, h: float = 1e-6) -> Outcome:
    """The posterior q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t) is differentiable in its inputs and in
    the schedule: ∂μ̃_t/∂x_0 = √ᾱ_{t−1} β_t/(1 − ᾱ_t) and ∂μ̃_t/∂x_t = √α_t (1 − ᾱ_{t−1})/(1 − ᾱ_t)
    (NumPy), and the gradient of Σ_t (u_t μ̃_t + v_t β̃_t) with respect to β_1..β_T (a learnable
    schedule of this check's own: T steps, β_t ~ U(0.05, 0.3)) equals central finite differences
    of the same function (step h, float64)."""
    rb = np.concatenate([[0.0], 0.05 + 0.25 * f64(case.rand(T)).numpy()])
    rab = np.cumprod(1.0 - rb)
    post = subject.fn("q_posterior_mean_var")
    x0, xt = case.randn(T), case.randn(T)
    u, v = case.randn(T), case.randn(T)
    t = torch.arange(1, T + 1, device=case.device)
    betas = torch.tensor(rb, dtype=torch.float64, device=case.device, requires_grad=True)
    x0.requires_grad_(True)
    xt.requires_grad_(True)

    def objective(b, a=x0, c=xt):
        mean, var = post(a, c, t, b)
        return (u * mean).sum() + (v * var.reshape(-1).expand(T)).sum()

    gx0, gxt, gb = torch.autograd.grad(objective(betas), [x0, xt, betas], allow_unused=True)
    gb = torch.zeros_like(betas) if gb is None else gb
    fd = []
    with torch.no_grad():
        for i in range(1, T + 1):
            e = torch.zeros_like(betas)
            e[i] = h
            fd.append((float(objective(betas + e, x0.detach(), xt.detach()))
                       - float(objective(betas - e, x0.detach(), xt.detach()))) / (2 * h))
    ts = np.arange(1, T + 1)
    cx0 = np.sqrt(rab[ts - 1]) * rb[ts] / (1 - rab[ts])
    cxt = np.sqrt(1 - rb[ts]) * (1 - rab[ts - 1]) / (1 - rab[ts])
    U = f64(u)
    fd_t = torch.tensor(fd, dtype=torch.float64)
    return all_of(
        case.close("∂μ̃_t/∂x_0 = √ᾱ_{t−1} β_t/(1 − ᾱ_t)", gx0, torch.from_numpy(cx0) * U),
        case.close("∂μ̃_t/∂x_t = √α_t (1 − ᾱ_{t−1})/(1 − ᾱ_t)", gxt, torch.from_numpy(cxt) * U),
        case.close("∂/∂β_{1..T} of Σ u μ̃ + v β̃: autograd vs central differences", gb[1:], fd_t,
                   tol=Tolerance(1e-6, 1e-5, "central differences: O(h²) truncation + O(ε/h) rounding"), detail=f"h = {h}"),
    )


@check(requires=_SCHEDULE + ("q_sample", "predict_x0_from_eps"))
def ddpm_predict_x0_inverts_q_sample(subject, case, batch: int = 12) -> Outcome:
    """x̂_0 = (x_t − √(1 − ᾱ_t) ε)/√ᾱ_t (ᾱ from NumPy) for one t per sample on (B, 3) data, so
    it inverts the forward process: x̂_0(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, ε) = x_0; gradients
    ∂x̂_0/∂x_t = 1/√ᾱ_t and ∂x̂_0/∂ε = −√(1 − ᾱ_t)/√ᾱ_t (autograd)."""
    T, beta_1, beta_T = _schedule_params(subject)
    _, ab = _schedule(subject, case, T, beta_1, beta_T)
    _, ref_ab = _np_schedule(T, beta_1, beta_T)
    pred = subject.fn("predict_x0_from_eps")
    x0, eps, xt, w = (case.randn(batch, 3) for _ in range(4))
    t = case.randint(1, T + 1, (batch,))
    t[:2] = torch.tensor([1, T], device=t.device)
    tn = t.cpu().numpy()
    sa, sb = _col(np.sqrt(ref_ab[tn]), 2), _col(np.sqrt(1.0 - ref_ab[tn]), 2)
    xt.requires_grad_(True)
    eps_g = eps.clone().requires_grad_(True)
    out = pred(xt, t, eps_g, ab)
    gx, ge = _grad(out, [xt, eps_g], w)
    x_t_ref = (sa * f64(x0) + sb * f64(eps)).to(device=case.device, dtype=case.dtype)
    return all_of(
        case.close("x̂_0 vs (x_t − √(1 − ᾱ_t) ε)/√ᾱ_t (NumPy)", out, (f64(xt) - sb * f64(eps)) / sa),
        case.close("x̂_0 of an independently noised x_0 is x_0", pred(x_t_ref, t, eps, ab), x0),
        case.close("∂x̂_0/∂x_t = 1/√ᾱ_t", gx, f64(w) / sa),
        case.close("∂x̂_0/∂ε = −√(1 − ᾱ_t)/√ᾱ_t", ge, -sb / sa * f64(w)),
    )


@check(requires=_SCHEDULE + ("p_mean_from_eps", "p_sample_step"))
def ddpm_reverse_mean_gradients(subject, case, batch: int = 10) -> Outcome:
    """μ_θ(x_t, t) = (x_t − β_t/√(1 − ᾱ_t) ε_θ)/√α_t (Ho et al. eq. 11, β and ᾱ from NumPy) with
    ∂μ_θ/∂x_t = 1/√α_t and ∂μ_θ/∂ε_θ = −β_t/(√(1 − ᾱ_t) √α_t); and one ancestral step with a
    linear ε-network ε_θ(x) = c x and noise z, x_{t−1} = μ_θ + σ_t z (σ_t² = β̃_t), has
    ∂x_{t−1}/∂z = σ_t, ∂x_{t−1}/∂x_t = (1 − c β_t/√(1 − ᾱ_t))/√α_t and
    ∂x_{t−1}/∂c = −β_t/(√(1 − ᾱ_t) √α_t) x_t (autograd), at t = 2 and t = T."""
    T, beta_1, beta_T = _schedule_params(subject)
    betas, _ = _schedule(subject, case, T, beta_1, beta_T)
    rb, rab = _np_schedule(T, beta_1, beta_T)
    pmean, step = subject.fn("p_mean_from_eps"), subject.fn("p_sample_step")
    out = []
    for t in sorted({2, T}):
        k_eps = rb[t] / math.sqrt(1 - rab[t]) / math.sqrt(1 - rb[t])
        inv = 1.0 / math.sqrt(1 - rb[t])
        sigma = math.sqrt((1 - rab[t - 1]) / (1 - rab[t]) * rb[t])
        xt, e, z, w = (case.randn(batch, 2) for _ in range(4))
        xt.requires_grad_(True)
        e.requires_grad_(True)
        mu = pmean(xt, t, e, betas)
        gx, ge = _grad(mu, [xt, e], w)
        c = torch.tensor(0.7, dtype=case.dtype, device=case.device, requires_grad=True)
        zz = z.clone().requires_grad_(True)
        xs = step(lambda x, tb: c * x, xt, t, betas, noise=zz)
        gx2, gz, gc = _grad(xs, [xt, zz, c], w)
        X, W = f64(xt), f64(w)
        out += [
            case.close(f"t={t}: μ_θ vs (x_t − β_t/√(1 − ᾱ_t) ε)/√α_t", mu, inv * X - k_eps * f64(e)),
            case.close(f"t={t}: ∂μ_θ/∂x_t = 1/√α_t", gx, inv * W),
            case.close(f"t={t}: ∂μ_θ/∂ε_θ = −β_t/(√(1 − ᾱ_t) √α_t)", ge, -k_eps * W),
            case.close(f"t={t}: step value μ_θ + σ_t z", xs, (inv - 0.7 * k_eps) * X + sigma * f64(z)),
            case.close(f"t={t}: step ∂x_{{t−1}}/∂z = σ_t", gz, sigma * W),
            case.close(f"t={t}: step ∂x_{{t−1}}/∂x_t", gx2, (inv - 0.7 * k_eps) * W),
            case.close(f"t={t}: step ∂x_{{t−1}}/∂c", gc, -k_eps * (W * X).sum()),
        ]
    return all_of(out)


@check(requires=("timestep_embedding",))
def ddpm_timestep_embedding_formula(subject, case) -> Outcome:
    """The sinusoidal time embedding is [sin(t ω_k), cos(t ω_k)] with ω_k = 10000^(−k/(d/2)),
    k = 0..d/2 − 1 (Vaswani et al. 2017 §3.5), computed in NumPy, for d = the subject's time_dim
    and t ∈ {0, 1, 2, 7, T/2, T}: shape (B, d), ω_0 = 1, frequencies decreasing to 10000^(−1 + 2/d)."""
    T, d = int(subject.size("T")), int(subject.size("time_dim"))
    steps = [0, 1, 2, 7, T // 2, T]
    t = torch.tensor(steps, dtype=torch.long, device=case.device)
    emb = subject.fn("timestep_embedding")(t, d, case.dtype)
    half = d // 2
    omega = 10000.0 ** (-np.arange(half) / half)
    args = np.array(steps, dtype=np.float64)[:, None] * omega[None, :]
    ref = np.concatenate([np.sin(args), np.cos(args)], axis=1)
    return all_of(
        exact("embedding shape", tuple(emb.shape), (len(steps), d)),
        case.close("[sin(t ω_k), cos(t ω_k)], ω_k = 10000^(−k/(d/2)) (NumPy)", emb, ref),
    )


@check(requires=_SCHEDULE + ("q_sample", "p_sample_step", "loss"))
def ddpm_model_methods(subject, case, batch: int = 9) -> Outcome:
    """The model's methods apply the cores with its own schedule (β, ᾱ from NumPy) and keep the
    autograd graph: ``q_sample(x_0, t, ε)`` = √ᾱ_t x_0 + √(1 − ᾱ_t) ε with ∂/∂x_0 = √ᾱ_t;
    ``p_sample_step(x_t, t, z)`` = (x_t − β_t/√(1 − ᾱ_t) ε_θ(x_t, t))/√α_t + √β̃_t z with ε_θ the
    model's forward, and its gradient reaches every parameter; ``loss(x_0, generator)`` (t drawn
    per sample, batch ≠ data dimension) is a finite non-negative scalar whose gradient reaches
    every parameter of the ε-network."""
    T, beta_1, beta_T = _schedule_params(subject)
    dim = subject.size("dim")
    rb, rab = _np_schedule(T, beta_1, beta_T)
    model = subject.build(case)
    params = [p for p in model.parameters() if p.requires_grad]
    x0, eps, z, w = (case.randn(batch, dim) for _ in range(4))
    t = case.randint(1, T + 1, (batch,))
    tn = t.cpu().numpy()
    x0.requires_grad_(True)
    xq = model.q_sample(x0, t, eps=eps)
    (gq,) = _grad(xq, [x0], w)
    sa, sb = _col(np.sqrt(rab[tn]), 2), _col(np.sqrt(1 - rab[tn]), 2)
    out = [case.close("model.q_sample vs √ᾱ_t x_0 + √(1 − ᾱ_t) ε", xq, sa * f64(x0) + sb * f64(eps)),
           case.close("model.q_sample: ∂/∂x_0 = √ᾱ_t", gq, sa * f64(w))]
    ts = max(2, T // 3)
    xt = case.randn(batch, dim)
    xs = model.p_sample_step(xt, ts, noise=z)
    with torch.no_grad():
        e = f64(model(xt, torch.full((batch,), ts, dtype=torch.long, device=case.device)))
    ref = ((f64(xt) - rb[ts] / math.sqrt(1 - rab[ts]) * e) / math.sqrt(1 - rb[ts])
           + math.sqrt((1 - rab[ts - 1]) / (1 - rab[ts]) * rb[ts]) * f64(z))
    g_step = torch.autograd.grad((xs * w).sum(), params, allow_unused=True) if xs.requires_grad else [None] * len(params)
    out += [case.close(f"model.p_sample_step at t = {ts} vs μ_θ + σ_t z", xs, ref),
            exact("model.p_sample_step: parameters reached by the gradient",
                  sum(g is not None and bool(g.abs().sum() > 0) for g in g_step), len(params))]
    loss = model.loss(case.randn(batch, dim), generator=_noise_gen(case))
    g_loss = torch.autograd.grad(loss, params, allow_unused=True) if loss.requires_grad else [None] * len(params)
    out += [exact("model.loss shape", tuple(loss.shape), ()),
            bound("model.loss", float(loss.detach()), 0.0, op=">="),
            bound("model.loss (finite)", float(loss.detach()), math.inf, op="<"),
            exact("model.loss: parameters reached by the gradient",
                  sum(g is not None and bool(g.abs().sum() > 0) for g in g_loss), len(params))]
    return all_of(out)
