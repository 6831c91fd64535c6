"""Checks for the generative adversarial network (suite ``gan``): the value function and its losses,
the optimal discriminator, the Jensen–Shannon divergence, one-sided label smoothing, virtual batch
norm (reference batch plus the example itself), the Gaussian and uniform noise priors and the
k-discriminator-step training loop of Goodfellow et al. (2014).

Oracles: autograd (stationarity of V, generator gradients), torch's BCE-with-logits,
``F.batch_norm``, scipy (``minimize_scalar``, ``jensenshannon``, ``wasserstein_distance``, ``kstest``) and the
closed forms of Goodfellow et al. (2014) computed here, independently of the subject.

The GAN variants have their own modules (``dcgan``, ``gan_conditional``, ``gan_cycle``,
``gan_info``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from harness.contract import load_contract
from harness.outcome import Outcome, Tolerance, all_of, bound, exact, f64, holds, summarize
from harness.registry import check

F64 = torch.float64


def _inputs(subject, case, batch: int) -> tuple:
    """Noise z (batch, latent_dim) ~ N(0, I)."""
    return (case.randn(batch, subject.size("latent_dim")),)


CONTRACT = load_contract("gan", inputs=_inputs)


def _probs(case, n: int, floor: float = 0.05) -> torch.Tensor:
    """A strictly positive probability vector of length n (float64, on the case's device)."""
    w = case.rand(n, dtype=F64) + floor
    return w / w.sum()


@check(requires=("value_function", "discriminator_loss"))
def gan_value_function_matches_bce(subject, case, batch: int = 64, scale: float = 4.0) -> Outcome:
    """V(D, G) = E_data[log D(x)] + E_z[log(1 − D(G(z)))] equals −(BCE(real logits, 1) + BCE(fake logits, 0))
    (torch's binary_cross_entropy_with_logits), J_D = −V, weights give the weighted expectation,
    and both stay finite and exact at logits ±200."""
    V, J = subject.fn("value_function"), subject.fn("discriminator_loss")
    real, fake = case.randn(batch) * scale, case.randn(batch + 7) * scale
    w_r, w_f = case.rand(batch) + 0.1, case.rand(batch + 7) + 0.1

    def bce(l, target, w=None):
        l64 = f64(l)
        t = torch.full_like(l64, float(target))
        if w is None:
            return F.binary_cross_entropy_with_logits(l64, t)
        w64 = f64(w)
        return F.binary_cross_entropy_with_logits(l64, t, weight=w64, reduction="sum") / w64.sum()

    oracle = bce(real, 1) + bce(fake, 0)
    extreme = case.tensor([200.0, -200.0, 30.0, -30.0, 0.0]) if case.dtype == F64 else case.tensor([80.0, -80.0, 15.0, -15.0, 0.0])
    ext_oracle = bce(extreme, 1) + bce(-extreme, 0)
    return all_of(
        case.close("V(real, fake) vs −(BCE(real, 1) + BCE(fake, 0))", V(real, fake), -oracle),
        case.close("J_D(real, fake) vs BCE(real, 1) + BCE(fake, 0)", J(real, fake), oracle),
        case.close("weighted V vs weighted BCE", V(real, fake, w_r, w_f), -(bce(real, 1, w_r) + bce(fake, 0, w_f))),
        case.close("V at extreme logits vs BCE", V(extreme, -extreme), -ext_oracle),
    )


@check(requires=("generator_loss_minimax", "generator_loss_nonsaturating"))
def gan_generator_losses_match_bce(subject, case, batch: int = 64, scale: float = 5.0) -> Outcome:
    """The minimax generator loss E_z[log(1 − D(G(z)))] equals −BCE(fake logits, 0) and the non-saturating
    loss −E_z[log D(G(z))] equals BCE(fake logits, 1) (torch's binary_cross_entropy_with_logits),
    finite at logits ±50."""
    mm, ns = subject.fn("generator_loss_minimax"), subject.fn("generator_loss_nonsaturating")
    l = torch.cat([case.randn(batch) * scale, case.tensor([50.0, -50.0])])
    l64 = f64(l)
    return all_of(
        case.close("minimax loss vs −BCE(l, 0)", mm(l), -F.binary_cross_entropy_with_logits(l64, torch.zeros_like(l64))),
        case.close("non-saturating loss vs BCE(l, 1)", ns(l), F.binary_cross_entropy_with_logits(l64, torch.ones_like(l64))),
    )


@check(requires=("generator_loss_minimax", "generator_loss_nonsaturating"))
def gan_generator_gradient_saturation(subject, case) -> Outcome:
    """As D(G(z)) → 0 (logit l → −∞) the minimax generator gradient vanishes, ∂/∂l E[log(1 − σ(l))] = −σ(l)/n,
    while the non-saturating one does not, ∂/∂l (−E[log σ(l)]) = −(1 − σ(l))/n → −1/n (autograd on the logits;
    compared on a log scale, so relative to the gradient's own size)."""
    l = case.tensor([-1.0, -2.0, -5.0, -10.0, -20.0, -40.0]).requires_grad_(True)
    n = l.shape[0]
    (g_mm,) = torch.autograd.grad(subject.fn("generator_loss_minimax")(l), l)
    (g_ns,) = torch.autograd.grad(subject.fn("generator_loss_nonsaturating")(l), l)
    l64 = f64(l)
    log_sig = F.logsigmoid(l64)          # log σ(l): the expected log-magnitude of the minimax gradient × n
    log_one_minus = F.logsigmoid(-l64)   # log(1 − σ(l))
    g_mm64, g_ns64 = f64(g_mm) * n, f64(g_ns) * n
    return all_of(
        holds("both generator gradients are negative (each pushes the logit of D(G(z)) up)",
              bool((g_mm64 < 0).all() and (g_ns64 < 0).all()), f"n·∂J_mm/∂l = {g_mm64.tolist()}, n·∂J_ns/∂l = {g_ns64.tolist()}"),
        case.close("log |n ∂J_minimax/∂l| vs log σ(l)", g_mm64.abs().log(), log_sig),
        case.close("log |n ∂J_nonsat/∂l| vs log(1 − σ(l))", g_ns64.abs().log(), log_one_minus),
        bound("minimax |n ∂J/∂l| at l = −40 (vanishes)", float(g_mm64[-1].abs()), 2 * math.exp(-40.0), op="<="),
        bound("non-saturating |n ∂J/∂l| at l = −40 (does not vanish)", float(g_ns64[-1].abs()), 0.5, op=">="),
    )


@check(requires=("optimal_discriminator",))
def gan_optimal_discriminator(subject, case, support: int = 8, delta: float = 1e-4) -> Outcome:
    """For fixed p_data and p_g on a discrete support, the maximiser of V(D) = Σ_x p_data(x) log D(x) + p_g(x) log(1 − D(x))
    is D* = p_data/(p_data + p_g): ∂V/∂D = 0 at D* (autograd, to rounding), V(D*) ≥ V(D* ± δ) at every point, and D*
    agrees with scipy.optimize.minimize_scalar's pointwise maximiser within Brent's location limit."""
    from scipy.optimize import minimize_scalar

    p_d, p_g = _probs(case, support), _probs(case, support)
    d_star = subject.fn("optimal_discriminator")(p_d.to(case.dtype), p_g.to(case.dtype))
    pd, pg, D = f64(p_d), f64(p_g), f64(d_star).clone().requires_grad_(True)

    def V_pointwise(d):
        return pd * torch.log(d) + pg * torch.log1p(-d)

    (grad,) = torch.autograd.grad(V_pointwise(D).sum(), D)
    # rounding: D* carries a relative error ≲ 2ε and |V''(D*)| = (p_d + p_g)/(D*(1 − D*)), so |∂V/∂D| ≲ 8ε·scale
    eps = torch.finfo(case.dtype).eps
    Dd = D.detach()
    scale = (pd + pg) / (Dd * (1 - Dd))
    inside = D.detach().clamp(delta, 1 - delta)
    gaps = torch.stack([V_pointwise(inside) - V_pointwise(inside + s * delta) for s in (-1.0, 1.0)])
    opt, limits = [], []
    for a, b in zip(pd.tolist(), pg.tolist()):
        r = minimize_scalar(lambda d: -(a * math.log(d) + b * math.log1p(-d)), bounds=(1e-12, 1 - 1e-12),
                            method="bounded", options={"xatol": 1e-13})
        opt.append(r.x)
        f2 = a / r.x ** 2 + b / (1 - r.x) ** 2           # |V''| at the optimum
        limits.append(10 * math.sqrt(2 * torch.finfo(F64).eps * abs(r.fun) / f2) + 1e-12)  # √ε location limit, ×10
    opt_t, lim_t = torch.tensor(opt, dtype=F64), torch.tensor(limits, dtype=F64)
    err = (D.detach() - opt_t).abs()
    return all_of(
        bound("max |∂V/∂D(D*)| / (8ε (p_data + p_g)/(D*(1 − D*)))", float((grad.abs() / (8 * eps * scale)).max()), 1.0,
              op="<=", source="rounding of D* at the dtype's ε times the curvature of V"),
        bound("min over points and ±δ of V(D*) − V(D* ± δ)", float(gaps.min()), 0.0, op=">=",
              detail=f"δ = {delta:g}"),
        bound("max |D* − argmax_scipy| / (Brent's √ε location limit)", float((err / lim_t).max()), 1.0, op="<=",
              source="10·√(2ε|V|/|V''|) per point (Numerical Recipes §10.2)"),
    )


@check(requires=("optimal_discriminator",))
def gan_optimal_discriminator_edges_and_gradient(subject, case) -> Outcome:
    """D*(x) = p_data/(p_data + p_g) is 1 where only p_data > 0, 0 where only p_g > 0 and ½ where both densities are
    0 (no data and no model mass: neither is favoured), with a finite autograd gradient everywhere: where
    p_data + p_g > 0 it is ∂D*/∂p_data = p_g/(p_data + p_g)² and ∂D*/∂p_g = −p_data/(p_data + p_g)² (the quotient rule
    written here), and the ½ convention does not leak a 0/0 into the backward pass."""
    pd = case.tensor([0.0, 0.3, 0.0, 0.2, 0.05, 0.45])
    pg = case.tensor([0.0, 0.0, 0.4, 0.1, 0.35, 0.15])
    expected = torch.tensor([0.5, 1.0, 0.0, 2 / 3, 0.125, 0.75], dtype=F64)
    a, b = pd.clone().requires_grad_(True), pg.clone().requires_grad_(True)
    d = subject.fn("optimal_discriminator")(a, b)
    g_a = g_b = None
    if d.requires_grad:
        g_a, g_b = torch.autograd.grad(d.sum(), (a, b), allow_unused=True)
    g_a = torch.zeros_like(f64(pd)) if g_a is None else f64(g_a)
    g_b = torch.zeros_like(f64(pd)) if g_b is None else f64(g_b)
    s = f64(pd) + f64(pg)
    pos = s > 0
    return all_of(
        case.close("D* at (0, 0), (p, 0), (0, p) and interior points", d, expected),
        holds("∂D*/∂p_data and ∂D*/∂p_g are finite everywhere (also where both densities are 0)",
              bool(torch.isfinite(g_a).all() and torch.isfinite(g_b).all()), f"∂/∂p_data {g_a.tolist()}, ∂/∂p_g {g_b.tolist()}"),
        case.close("∂D*/∂p_data vs p_g/(p_data + p_g)² where p_data + p_g > 0", g_a[pos], (f64(pg) / s ** 2)[pos]),
        case.close("∂D*/∂p_g vs −p_data/(p_data + p_g)² where p_data + p_g > 0", g_b[pos], (-f64(pd) / s ** 2)[pos]),
    )


@check(requires=("discriminator_loss",))
def gan_trained_discriminator_reaches_optimum(subject, case, support: int = 8, grad_tol: float = 1e-12) -> Outcome:
    """A flexible discriminator (one free logit per support point) trained by L-BFGS on J_D with p_data, p_g as
    weights reaches D* = p_data/(p_data + p_g): since ∂J_D/∂l_x = (p_data(x) + p_g(x))(σ(l_x) − D*(x)), stopping at
    max|∇| ≤ g gives |σ(l) − D*| ≤ g / min(p_data + p_g)."""
    p_d, p_g = _probs(case, support).to(case.dtype), _probs(case, support).to(case.dtype)
    J = subject.fn("discriminator_loss")
    logits = torch.zeros(support, dtype=case.dtype, device=case.device, requires_grad=True)
    # no line search: a loss-based line search cannot resolve gradients below √(ε|J_D|·curvature) ≈ 1e-9
    opt = torch.optim.LBFGS([logits], lr=1.0, max_iter=200, tolerance_grad=grad_tol, tolerance_change=0.0,
                            history_size=20)

    def closure():
        opt.zero_grad()
        loss = J(logits, logits, real_weights=p_d, fake_weights=p_g)
        loss.backward()
        return loss

    opt.step(closure)
    d = torch.sigmoid(f64(logits))
    pd, pg = f64(p_d), f64(p_g)
    expected = pd / (pd + pg)
    limit = grad_tol / float((pd + pg).min()) + 8 * torch.finfo(case.dtype).eps
    return case.close("σ(trained logits) vs p_data/(p_data + p_g)", d, expected,
                      tol=Tolerance(limit, 0.0, f"L-BFGS gradient tolerance {grad_tol:g} / min(p_data + p_g)"))


@check(requires=("jensen_shannon",))
def gan_jensen_shannon_matches_scipy(subject, case, support: int = 10) -> Outcome:
    """JSD(p‖q) = ½KL(p‖m) + ½KL(q‖m) equals scipy.spatial.distance.jensenshannon(p, q)² (scipy returns the square
    root, natural log by default); JSD is symmetric, JSD(p‖p) = 0 and disjoint supports give log 2."""
    from scipy.spatial.distance import jensenshannon

    js = subject.fn("jensen_shannon")
    p, q = _probs(case, support).to(case.dtype), _probs(case, support).to(case.dtype)
    disjoint_p = case.tensor([0.5, 0.5, 0.0, 0.0])
    disjoint_q = case.tensor([0.0, 0.0, 0.25, 0.75])
    ref = jensenshannon(f64(p).numpy(), f64(q).numpy()) ** 2
    return all_of(
        case.close("JSD(p‖q) vs scipy jensenshannon(p, q)²", js(p, q), ref),
        case.close("JSD(q‖p) vs scipy", js(q, p), ref),
        case.close("JSD(p‖p)", js(p, p), 0.0),
        case.close("JSD of disjoint supports vs log 2", js(disjoint_p, disjoint_q), math.log(2.0)),
    )


@check(requires=("jensen_shannon",))
def gan_jensen_shannon_gradient(subject, case, support: int = 7, rows: int = 3) -> Outcome:
    """JSD(p‖q) = ½ Σ p log(p/m) + q log(q/m), m = (p + q)/2, has the partial derivatives ∂JSD/∂p_i = ½ log(p_i/m_i)
    and ∂JSD/∂q_i = ½ log(q_i/m_i) (the log-terms' derivatives cancel against those of m; derived by hand, as
    functions of unconstrained positive p, q), for each row of a batch reduced over the last dimension; autograd
    of the subject's JSD must equal them (the divergence is differentiable, e.g. to train on it)."""
    p = torch.stack([_probs(case, support) for _ in range(rows)]).to(case.dtype).requires_grad_(True)
    q = torch.stack([_probs(case, support) for _ in range(rows)]).to(case.dtype).requires_grad_(True)
    w = case.rand(rows, dtype=F64) + 0.5                          # a different weight per row
    js = subject.fn("jensen_shannon")(p, q)
    g_p = g_q = None
    if js.requires_grad:
        g_p, g_q = torch.autograd.grad((js * w.to(case.dtype)).sum(), (p, q), allow_unused=True)
    p64, q64 = f64(p), f64(q)
    m = 0.5 * (p64 + q64)
    zero = torch.zeros_like(p64)
    return all_of(
        case.close("∂JSD/∂p vs ½ log(p/m)", zero if g_p is None else g_p, 0.5 * w[:, None] * torch.log(p64 / m)),
        case.close("∂JSD/∂q vs ½ log(q/m)", zero if g_q is None else g_q, 0.5 * w[:, None] * torch.log(q64 / m)),
    )


@check(requires=("value_function",))
def gan_value_at_optimum_is_jsd(subject, case, support: int = 8) -> Outcome:
    """With the optimal discriminator, V(G, D*) = −log 4 + 2·JSD(p_data‖p_g) (Goodfellow et al. 2014, Theorem 1),
    JSD from scipy's jensenshannon (squared); hence V(G, D*) ≥ −log 4."""
    from scipy.spatial.distance import jensenshannon

    p_d, p_g = _probs(case, support), _probs(case, support)
    logits = (torch.log(p_d) - torch.log(p_g)).to(case.dtype)   # logit of D* = p_d/(p_d + p_g)
    v = subject.fn("value_function")(logits, logits, p_d.to(case.dtype), p_g.to(case.dtype))
    jsd = jensenshannon(f64(p_d).numpy(), f64(p_g).numpy()) ** 2
    return all_of(
        case.close("V(G, D*) vs −log 4 + 2·JSD", v, -math.log(4.0) + 2 * jsd),
        bound("V(G, D*) + log 4", float(v) + math.log(4.0), 0.0, op=">="),
    )


@check(requires=("optimal_discriminator", "value_function", "jensen_shannon"))
def gan_optimum_at_equal_distributions(subject, case, support: int = 8) -> Outcome:
    """When p_g = p_data the optimal discriminator is D* ≡ ½ exactly, V(G, D*) = −log 4 and JSD = 0 (the global
    optimum of the minimax game)."""
    p = _probs(case, support).to(case.dtype)
    d_star = subject.fn("optimal_discriminator")(p, p.clone())
    zero = torch.zeros_like(p)  # logit of ½
    return all_of(
        exact("D* when p_g = p_data", f64(d_star), torch.full((support,), 0.5, dtype=F64)),
        case.close("V(G, D = ½)", subject.fn("value_function")(zero, zero, p, p), -math.log(4.0)),
        case.close("JSD(p‖p)", subject.fn("jensen_shannon")(p, p), 0.0),
    )


@check(requires=("discriminator_loss",))
def gan_label_smoothing_one_sided(subject, case, batch: int = 32, alpha: float = 0.9, support: int = 6) -> Outcome:
    """One-sided label smoothing changes only the real target: J_D(real_label=α) = BCE(real, α) + BCE(fake, 0)
    (torch), ∂J_D/∂l_real = (σ(l) − α)/n and ∂J_D/∂l_fake = σ(l)/n (fake target still 0, autograd), and on a discrete
    support the stationary discriminator becomes D = α·p_data/(p_data + p_g)."""
    J = subject.fn("discriminator_loss")
    real = (case.randn(batch) * 3).requires_grad_(True)
    fake = (case.randn(batch) * 3).requires_grad_(True)
    loss = J(real, fake, real_label=alpha)
    g_real, g_fake = torch.autograd.grad(loss, (real, fake))
    real64, fake64 = f64(real), f64(fake)
    oracle = (F.binary_cross_entropy_with_logits(real64, torch.full_like(real64, alpha))
              + F.binary_cross_entropy_with_logits(fake64, torch.zeros_like(fake64)))
    p_d, p_g = _probs(case, support), _probs(case, support)
    target = alpha * p_d / (p_d + p_g)
    l_star = (torch.log(target) - torch.log1p(-target)).to(case.dtype).requires_grad_(True)
    (g_star,) = torch.autograd.grad(J(l_star, l_star, real_label=alpha, real_weights=p_d.to(case.dtype),
                                      fake_weights=p_g.to(case.dtype)), l_star)
    return all_of(
        case.close("J_D(α) vs BCE(real, α) + BCE(fake, 0)", loss, oracle),
        case.close("n·∂J_D/∂l_real vs σ(l) − α", f64(g_real) * batch, torch.sigmoid(real64) - alpha),
        case.close("n·∂J_D/∂l_fake vs σ(l) (fake target 0)", f64(g_fake) * batch, torch.sigmoid(fake64)),
        case.close("∂J_D/∂l at D = α p_data/(p_data + p_g)", g_star, torch.zeros(support, dtype=F64)),
    )


@check(requires=("VirtualBatchNorm",))
def gan_virtual_batch_norm_reference_statistics(subject, case, batch: int = 16, ref: int = 32, features: int = 5) -> Outcome:
    """Virtual batch norm normalises each example x with the statistics of the fixed reference batch *plus x itself*
    (Salimans et al. 2016 §3.5): μ = (N μ_ref + x)/(N + 1) and σ² the biased variance of the N + 1 rows (weights
    N/(N+1), 1/(N+1)), computed here in closed form and, independently, as the last row of training-mode
    F.batch_norm on [ref; x]; an example's output does not depend on the rest of its minibatch; the reference
    batch itself is batch-normalised with its own statistics.

    The check builds its own VirtualBatchNorm layer with ``features`` channels (a test-data size,
    not one of the GAN's sizes)."""
    vbn = subject.fn("VirtualBatchNorm")(features)
    with case.fork_rng(), torch.no_grad():
        vbn.weight.normal_()
        vbn.bias.normal_()
    vbn = vbn.to(device=case.device, dtype=case.dtype)
    eps = float(getattr(vbn, "eps", 1e-5))
    x = case.randn(batch, features) * 2 + 1
    r = case.randn(ref, features) * 3 - 2
    with torch.no_grad():
        y, y_ref = vbn(x, r)
        y_one, _ = vbn(x[:1], r)
    x64, r64 = f64(x), f64(r)
    w, b = f64(vbn.weight), f64(vbn.bias)
    n = ref
    # closed form: moments of the reference batch and x mixed with weights N/(N+1), 1/(N+1)
    mu = (n * r64.mean(0) + x64) / (n + 1)
    m2 = (n * (r64 ** 2).mean(0) + x64 ** 2) / (n + 1)
    closed = (x64 - mu) / torch.sqrt(m2 - mu ** 2 + eps) * w + b
    # torch built-in: each example batch-normalised together with the reference batch
    stacked = torch.stack([F.batch_norm(torch.cat([r64, x64[i:i + 1]]), None, None, w, b, training=True, eps=eps)[-1]
                           for i in range(batch)])
    oracle_ref = F.batch_norm(r64, None, None, w, b, training=True, eps=eps)
    return all_of(
        case.close("VBN(x; ref) vs closed form with weights N/(N+1), 1/(N+1)", y, closed),
        case.close("VBN(x; ref) vs last row of F.batch_norm([ref; x_i])", y, stacked),
        case.close("VBN(x[0:1]; ref) vs VBN(x; ref)[0]", y_one, f64(y[:1])),
        case.close("VBN(ref; ref) vs training-mode F.batch_norm(ref)", y_ref, oracle_ref),
    )


@check(requires=("sample_noise",))
def gan_uniform_noise_prior(subject, case, n: int = 4000, latent_dim: int = 3, low: float = -2.0, high: float = 3.0,
                            alpha: float = 1e-3) -> Outcome:
    """The uniform noise prior z ~ U[a, b) (notes: "Z is some random noise (Gaussian/Uniform)"): sample_noise(...,
    prior="uniform", low=a, high=b) returns (n, latent_dim) samples in the case's dtype and device, all within
    [a, b], whose pooled coordinates pass scipy.stats.kstest against U(a, b) at level alpha (as does each coordinate,
    Bonferroni-corrected), while the default prior passes kstest against N(0, 1); sampling draws from the given
    generator only: the same seed gives the same batch and the global RNG state is untouched.

    ``n`` and ``latent_dim`` are test-data sizes, not the GAN's; alpha is the false-alarm rate of each test."""
    from scipy.stats import kstest

    sample = subject.fn("sample_noise")
    like = torch.zeros(1, dtype=case.dtype, device=case.device)
    cuda = case.device == "cuda" and torch.cuda.is_available()

    def rng_states():
        return [torch.get_rng_state()] + ([torch.cuda.get_rng_state()] if cuda else [])

    before = rng_states()
    z = sample(n, latent_dim, like=like, generator=case.gen(stream=1), prior="uniform", low=low, high=high)
    again = sample(n, latent_dim, like=like, generator=case.gen(stream=1), prior="uniform", low=low, high=high)
    after = rng_states()
    other = sample(n, latent_dim, like=like, generator=case.gen(stream=2), prior="uniform", low=low, high=high)
    g = sample(n, latent_dim, like=like, generator=case.gen(stream=3))
    z64, g64 = f64(z), f64(g)
    flat = z64.flatten().numpy()
    ks = kstest(flat, "uniform", args=(low, high - low))
    per_coord = [kstest(z64[:, j].numpy(), "uniform", args=(low, high - low)).pvalue for j in range(latent_dim)]
    ks_g = kstest(g64.flatten().numpy(), "norm")
    outs = [
        exact("shape of the uniform noise", tuple(z.shape), (n, latent_dim)),
        exact("dtype and device of the noise", (str(z.dtype), z.device.type), (str(case.dtype), torch.device(case.device).type)),
        bound("min z (uniform prior)", float(z64.min()), low, op=">=", detail=f"U[{low:g}, {high:g})"),
        bound("max z (uniform prior)", float(z64.max()), high, op="<=", detail=f"U[{low:g}, {high:g})"),
        bound("kstest(pooled z, U(a, b)) p-value", float(ks.pvalue), alpha, op=">=",
              detail=f"KS statistic {ks.statistic:.4g}, n = {flat.size}, U[{low:g}, {high:g})"),
        bound("min over coordinates of the kstest p-value × latent_dim (Bonferroni)", min(per_coord) * latent_dim, alpha,
              op=">=", detail=f"p-values {[round(p, 4) for p in per_coord]}"),
        bound("kstest(default-prior z, N(0, 1)) p-value", float(ks_g.pvalue), alpha, op=">=",
              detail=f"KS statistic {ks_g.statistic:.4g}, n = {g.numel()}"),
        holds("the same seeded generator gives the same batch", torch.equal(z, again)),
        holds("another seed gives another batch", not torch.equal(z, other)),
        holds("the global RNG state is untouched (every draw from the given generator)", all(torch.equal(a, b) for a, b in zip(before, after))),
    ]
    return all_of(outs)


@check(requires=("sample_noise",))
def gan_uniform_noise_prior_rejects_empty_interval(subject, case, n: int = 5, latent_dim: int = 2) -> Outcome:
    """U[a, b) is a distribution only for a < b: sample_noise(..., prior="uniform", low=a, high=b) raises ValueError
    for an empty interval (a = b) and a reversed one (a > b), and for a prior that is neither "gaussian" nor
    "uniform", while a < b samples (n, latent_dim) values in [a, b)."""
    sample = subject.fn("sample_noise")
    like = torch.zeros(1, dtype=case.dtype, device=case.device)

    def raises(**kw) -> tuple[bool, str]:
        try:
            out = sample(n, latent_dim, like=like, generator=case.gen(stream=4), **kw)
        except ValueError as e:
            return True, f"ValueError: {e}"
        return False, f"returned {summarize(out)}"

    ok_empty, d_empty = raises(prior="uniform", low=1.0, high=1.0)
    ok_rev, d_rev = raises(prior="uniform", low=2.0, high=-1.0)
    ok_prior, d_prior = raises(prior="laplace")
    z = f64(sample(n, latent_dim, like=like, generator=case.gen(stream=4), prior="uniform", low=1.0, high=1.5))
    return all_of(
        holds("ValueError for the empty interval U[1, 1)", ok_empty, d_empty),
        holds("ValueError for the reversed interval U[2, −1)", ok_rev, d_rev),
        holds("ValueError for an unknown prior", ok_prior, d_prior),
        exact("shape of U[1, 1.5) noise", tuple(z.shape), (n, latent_dim)),
        holds("U[1, 1.5) samples lie in [1, 1.5]", bool((z >= 1.0).all() and (z <= 1.5).all()), summarize(z)),
    )


@check(requires=("train_step",))
def gan_k_discriminator_steps(subject, case, ks: list = [1, 3], batch: int = 16) -> Outcome:  # noqa: B006
    """train_step performs exactly k discriminator optimizer steps, then one generator step; the generator's
    parameters do not change during the discriminator steps and the discriminator's do not change during the
    generator step (each player trains against a static adversary, notes 001/002)."""
    data_dim = subject.size("data_dim")
    outs = []
    for k in ks:
        model = subject.build(case)
        G, D = model.generator, model.discriminator
        opt_d = torch.optim.SGD(D.parameters(), lr=0.05)
        opt_g = torch.optim.SGD(G.parameters(), lr=0.05)
        events: list[tuple[str, list[torch.Tensor], list[torch.Tensor]]] = []

        def snap(tag):
            return lambda *_: events.append((tag, [p.detach().clone() for p in G.parameters()],
                                             [p.detach().clone() for p in D.parameters()]))

        opt_d.register_step_post_hook(snap("D"))
        opt_g.register_step_post_hook(snap("G"))
        g0 = [p.detach().clone() for p in G.parameters()]
        d0 = [p.detach().clone() for p in D.parameters()]
        real = [case.randn(batch, data_dim) + 3 for _ in range(k)]
        out = subject.fn("train_step")(model, real, opt_d, opt_g, generator=case.gen())
        tags = "".join(e[0] for e in events)
        g_same = all(all(torch.equal(a, b) for a, b in zip(e[1], g0)) for e in events if e[0] == "D")
        d_last = next((e[2] for e in reversed(events) if e[0] == "D"), d0)
        d_same = all(torch.equal(a, b) for a, b in zip(d_last, D.parameters()))
        d_moved = not all(torch.equal(a, b) for a, b in zip(d0, D.parameters()))
        g_moved = not all(torch.equal(a, b) for a, b in zip(g0, G.parameters()))
        outs += [
            exact(f"optimizer step order for k = {k}", tags, "D" * k + "G"),
            holds(f"G unchanged during the {k} discriminator steps", g_same),
            holds("D unchanged by the generator step", d_same),
            holds("both players were updated", d_moved and g_moved, f"D moved: {d_moved}, G moved: {g_moved}"),
            exact(f"number of discriminator losses returned for k = {k}", len(out["d_losses"]), k),
        ]
    return all_of(outs)


@check()
def gan_forward_shapes(subject, case, batch: int = 8) -> Outcome:
    """The GAN maps noise z (B, latent_dim) to samples G(z) of shape (B, data_dim) and the discriminator to one
    logit per sample (B,), with D(x) = σ(logit) ∈ (0, 1)."""
    model = subject.build(case)
    (z,) = CONTRACT.example_inputs(subject, case, batch)
    with torch.no_grad():
        x, logit = model(z)
        p = model.discriminator.probability(x)
    return all_of(
        exact("G(z) shape", tuple(x.shape), (batch, subject.size("data_dim"))),
        exact("D logits shape", tuple(logit.shape), (batch,)),
        case.close("D(x) vs σ(logit)", p, torch.sigmoid(f64(logit))),
        bound("min D(x)", float(p.min()), 0.0, op=">"),
        bound("max D(x)", float(p.max()), 1.0, op="<"),
    )


@check()
def gan_outputs_differentiable_in_parameters(subject, case, batch: int = 4, steps: tuple = (1e-6, 1e-7, 1e-8),
                                             rtol: float = 1e-6) -> Outcome:
    """Every floating output t of the model's forward pass (the generated sample, the discriminator's logits, …) is
    a differentiable function of the parameters θ whose autograd gradient is the true one: for a random direction v
    in parameter space and random output weights r, ⟨∇_θ Σ r·t, v⟩ equals the central finite difference
    (Σ r·t(θ + hv) − Σ r·t(θ − hv)) / 2h (train mode, float64) at some step h in ``steps``, within ``rtol`` relative
    to Σ |r·t| + 1. An output cut from the graph (a detached sample) has a zero autograd derivative but a non-zero
    finite difference at every step.

    Several steps because a ReLU kink crossed within ±hv spoils the larger steps and rounding (≈ ε|t|/h) the
    smaller ones; the inputs are the family contract's example inputs."""
    from harness.bench import _float_tensors
    from harness.contract import CONTRACTS

    model = subject.build(case)
    model.train()
    inputs = CONTRACTS[case.suite].example_inputs(subject, case, batch)
    params = [p for p in model.parameters() if p.requires_grad]
    outs = _float_tensors(model(*inputs))
    rs = [case.randn(*t.shape).to(t.dtype) for t in outs]
    vs = [case.randn(*p.shape).to(device=p.device, dtype=p.dtype) for p in params]
    auto = []
    for t, r in zip(outs, rs):
        if not t.requires_grad:
            auto.append(0.0)
            continue
        gs = torch.autograd.grad((r * t).sum(), params, allow_unused=True, retain_graph=True)
        auto.append(sum(float((f64(g) * f64(v)).sum()) for g, v in zip(gs, vs) if g is not None))

    def weighted(step: float) -> list[float]:
        with torch.no_grad():
            for p, v in zip(params, vs):
                p.add_(step * v)
            res = [float((f64(r) * f64(t)).sum()) for t, r in zip(_float_tensors(model(*inputs)), rs)]
            for p, v in zip(params, vs):
                p.sub_(step * v)
        return res

    scale = [float((f64(r) * f64(t.detach())).abs().sum()) + 1.0 for t, r in zip(outs, rs)]
    errs, fds = [], []
    for h in steps:
        fd = [(a - b) / (2 * h) for a, b in zip(weighted(h), weighted(-h))]
        fds.append(fd)
        errs.append([abs(a - f) / s for a, f, s in zip(auto, fd, scale)])
    best = [min(e[i] for e in errs) for i in range(len(outs))]
    return all_of(
        holds("the forward pass has floating outputs", bool(outs)),
        bound("max over outputs of min over h of |autograd − finite difference| / (Σ|r·t| + 1)", max(best, default=0.0),
              rtol, op="<=", source=f"central differences at h in {list(steps)}, float64",
              detail=f"autograd {[round(a, 6) for a in auto]}, finite differences at h = {steps[0]:g}: "
                     f"{[round(f, 6) for f in fds[0]]}"),
    )


@check(requires=("train_step",), marks=("slow", "training"))
def gan_moves_generator_toward_data(subject, case, steps: int = 300, batch: int = 64, k: int = 1,
                                    mean: float = 3.0, std: float = 0.5, eval_n: int = 2000) -> Outcome:
    """Training a 1-D GAN with train_step moves p_g toward p_data = N(3, 0.5²): the Wasserstein-1 distance between
    generated and data samples (scipy.stats.wasserstein_distance) at least halves within the step budget, and the
    decrease exceeds ten times the W1 between two independent data samples of the same size (the estimate's noise).

    The subject is built with data_dim = 1 (the property is about 1-D data); its other sizes are the suite's."""
    from scipy.stats import wasserstein_distance

    subject = subject.with_params(data_dim=1)
    model = subject.build(case)
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=2e-3, betas=(0.5, 0.999))
    (z_eval,) = CONTRACT.example_inputs(subject, case, eval_n)
    data_eval = (case.randn(eval_n) * std + mean).cpu().double().numpy()
    data_eval2 = (case.randn(eval_n) * std + mean).cpu().double().numpy()

    def w1():
        with torch.no_grad():
            return wasserstein_distance(f64(model.generator(z_eval)).flatten().numpy(), data_eval)

    w_start = w1()
    g = case.gen()
    for _ in range(steps):
        real = [case.randn(batch, 1) * std + mean for _ in range(k)]
        subject.fn("train_step")(model, real, opt_d, opt_g, generator=g)
    w_end = w1()
    noise = wasserstein_distance(data_eval, data_eval2)
    return all_of(
        bound("W1(p_g, p_data) after training / before", w_end / w_start, 0.5, op="<=",
              detail=f"W1 {w_start:.4g} -> {w_end:.4g} in {steps} steps"),
        bound("W1 decrease / W1 between two data samples", (w_start - w_end) / noise, 10.0, op=">=",
              detail=f"noise level {noise:.3g}, n = {eval_n}"),
    )
