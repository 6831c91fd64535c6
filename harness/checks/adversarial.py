"""Checks for generative adversarial networks: GAN, DCGAN, conditional GAN, CycleGAN, InfoGAN
(CATALOGUE.md section D).

Oracles: autograd (stationarity of V, generator gradients), torch's BCE-with-logits,
``F.batch_norm``, ``F.conv2d``/``F.conv_transpose2d`` shapes, ``torch.linalg`` inverses,
``torch.distributions.Categorical``, scipy (``minimize_scalar``, ``jensenshannon``,
``wasserstein_distance``, ``kstest``) and the closed forms of Goodfellow et al. (2014)
computed here, independently of the subject.

Every check runs with one intra-op thread (restored afterwards): the models are tiny, and on a
shared 2-core machine OpenMP's extra threads made them 10–50× slower without changing a result.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from harness.outcome import Outcome, Tolerance, all_of, bound, exact, holds, p_value
from harness.registry import check

F64 = torch.float64


def _cpu64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", F64)


def _probs(case, n: int, floor: float = 0.05) -> torch.Tensor:
    """A strictly positive probability vector of length n (float64, on the case's device)."""
    w = case.rand(n, dtype=F64) + floor
    return w / w.sum()


def _leaf_trace(module: nn.Module, *inputs: torch.Tensor) -> list[tuple[nn.Module, tuple, tuple]]:
    """Leaf modules in execution order with their (first) input and output shapes."""
    trace: list[tuple[nn.Module, tuple, tuple]] = []

    def hook(mod, inp, out):
        trace.append((mod, tuple(inp[0].shape) if inp else (), tuple(out.shape) if isinstance(out, torch.Tensor) else ()))

    leaves = [m for m in module.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for h in handles:
            h.remove()
    return trace


def _is_pool(m: nn.Module) -> bool:
    name = type(m).__name__
    return "Pool" in name or "Upsample" in name or "Unpool" in name


# =============================================================================================
# GAN: value function, losses, optimal discriminator
# =============================================================================================
@check(requires=("value_function", "discriminator_loss"))
def gan_value_function_matches_bce(subject, case, batch: int = 64, scale: float = 4.0) -> Outcome:
    """V(D, G) = E_data[log D(x)] + E_z[log(1 − D(G(z)))] equals −(BCE(real logits, 1) + BCE(fake logits, 0))
    (torch's binary_cross_entropy_with_logits), J_D = −V, weights give the weighted expectation,
    and both stay finite and exact at logits ±200."""
    V, J = subject.fn("value_function"), subject.fn("discriminator_loss")
    real, fake = case.randn(batch) * scale, case.randn(batch + 7) * scale
    w_r, w_f = case.rand(batch) + 0.1, case.rand(batch + 7) + 0.1

    def bce(l, target, w=None):
        l64 = _cpu64(l)
        t = torch.full_like(l64, float(target))
        if w is None:
            return F.binary_cross_entropy_with_logits(l64, t)
        w64 = _cpu64(w)
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
    l64 = _cpu64(l)
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
    l64 = _cpu64(l)
    log_sig = F.logsigmoid(l64)          # log σ(l): the expected log-magnitude of the minimax gradient × n
    log_one_minus = F.logsigmoid(-l64)   # log(1 − σ(l))
    g_mm64, g_ns64 = _cpu64(g_mm) * n, _cpu64(g_ns) * n
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
    pd, pg, D = _cpu64(p_d), _cpu64(p_g), _cpu64(d_star).clone().requires_grad_(True)

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
    d = torch.sigmoid(_cpu64(logits))
    pd, pg = _cpu64(p_d), _cpu64(p_g)
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
    ref = jensenshannon(_cpu64(p).numpy(), _cpu64(q).numpy()) ** 2
    return all_of(
        case.close("JSD(p‖q) vs scipy jensenshannon(p, q)²", js(p, q), ref),
        case.close("JSD(q‖p) vs scipy", js(q, p), ref),
        case.close("JSD(p‖p)", js(p, p), 0.0),
        case.close("JSD of disjoint supports vs log 2", js(disjoint_p, disjoint_q), math.log(2.0)),
    )


@check(requires=("value_function",))
def gan_value_at_optimum_is_jsd(subject, case, support: int = 8) -> Outcome:
    """With the optimal discriminator, V(G, D*) = −log 4 + 2·JSD(p_data‖p_g) (Goodfellow et al. 2014, Theorem 1),
    JSD from scipy's jensenshannon (squared); hence V(G, D*) ≥ −log 4."""
    from scipy.spatial.distance import jensenshannon

    p_d, p_g = _probs(case, support), _probs(case, support)
    logits = (torch.log(p_d) - torch.log(p_g)).to(case.dtype)   # logit of D* = p_d/(p_d + p_g)
    v = subject.fn("value_function")(logits, logits, p_d.to(case.dtype), p_g.to(case.dtype))
    jsd = jensenshannon(_cpu64(p_d).numpy(), _cpu64(p_g).numpy()) ** 2
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
        exact("D* when p_g = p_data", _cpu64(d_star), torch.full((support,), 0.5, dtype=F64)),
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
    r64, f64 = _cpu64(real), _cpu64(fake)
    oracle = (F.binary_cross_entropy_with_logits(r64, torch.full_like(r64, alpha))
              + F.binary_cross_entropy_with_logits(f64, torch.zeros_like(f64)))
    p_d, p_g = _probs(case, support), _probs(case, support)
    target = alpha * p_d / (p_d + p_g)
    l_star = (torch.log(target) - torch.log1p(-target)).to(case.dtype).requires_grad_(True)
    (g_star,) = torch.autograd.grad(J(l_star, l_star, real_label=alpha, real_weights=p_d.to(case.dtype),
                                      fake_weights=p_g.to(case.dtype)), l_star)
    return all_of(
        case.close("J_D(α) vs BCE(real, α) + BCE(fake, 0)", loss, oracle),
        case.close("n·∂J_D/∂l_real vs σ(l) − α", _cpu64(g_real) * batch, torch.sigmoid(r64) - alpha),
        case.close("n·∂J_D/∂l_fake vs σ(l) (fake target 0)", _cpu64(g_fake) * batch, torch.sigmoid(f64)),
        case.close("∂J_D/∂l at D = α p_data/(p_data + p_g)", g_star, torch.zeros(support, dtype=F64)),
    )


@check(requires=("VirtualBatchNorm",))
def gan_virtual_batch_norm_reference_statistics(subject, case, batch: int = 16, ref: int = 32, features: int = 5) -> Outcome:
    """Virtual batch norm normalises each example with the fixed reference batch's mean and biased variance:
    VBN(x; ref) = F.batch_norm(x, mean(ref), var(ref), γ, β) in eval form; an example's output does not depend on the
    rest of its minibatch; the reference batch itself is batch-normalised with its own statistics."""
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
    x64, r64 = _cpu64(x), _cpu64(r)
    w, b = _cpu64(vbn.weight), _cpu64(vbn.bias)
    oracle = F.batch_norm(x64, r64.mean(0), r64.var(0, unbiased=False), w, b, training=False, eps=eps)
    oracle_ref = F.batch_norm(r64, None, None, w, b, training=True, eps=eps)
    return all_of(
        case.close("VBN(x; ref) vs F.batch_norm with the reference statistics", y, oracle),
        case.close("VBN(x[0:1]; ref) vs VBN(x; ref)[0]", y_one, _cpu64(y[:1])),
        case.close("VBN(ref; ref) vs training-mode F.batch_norm(ref)", y_ref, oracle_ref),
    )


@check(requires=("train_step",))
def gan_k_discriminator_steps(subject, case, ks: list = [1, 3], batch: int = 16) -> Outcome:  # noqa: B006
    """train_step performs exactly k discriminator optimizer steps, then one generator step; the generator's
    parameters do not change during the discriminator steps and the discriminator's do not change during the
    generator step (each player trains against a static adversary, notes 001/002)."""
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
        data_dim = model.config.data_dim
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
    cfg = model.config
    z = case.randn(batch, cfg.latent_dim)
    with torch.no_grad():
        x, logit = model(z)
        p = model.discriminator.probability(x)
    return all_of(
        exact("G(z) shape", tuple(x.shape), (batch, cfg.data_dim)),
        exact("D logits shape", tuple(logit.shape), (batch,)),
        case.close("D(x) vs σ(logit)", p, torch.sigmoid(_cpu64(logit))),
        bound("min D(x)", float(p.min()), 0.0, op=">"),
        bound("max D(x)", float(p.max()), 1.0, op="<"),
    )


@check(requires=("train_step",), marks=("slow", "training"))
def gan_moves_generator_toward_data(subject, case, steps: int = 300, batch: int = 64, k: int = 1,
                                    mean: float = 3.0, std: float = 0.5, eval_n: int = 2000) -> Outcome:
    """Training a 1-D GAN with train_step moves p_g toward p_data = N(3, 0.5²): the Wasserstein-1 distance between
    generated and data samples (scipy.stats.wasserstein_distance) at least halves within the step budget, and the
    decrease exceeds ten times the W1 between two independent data samples of the same size (the estimate's noise)."""
    from scipy.stats import wasserstein_distance

    model = subject.build(case, data_dim=1)
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=2e-3, betas=(0.5, 0.999))
    z_eval = case.randn(eval_n, model.latent_dim)
    data_eval = (case.randn(eval_n) * std + mean).cpu().double().numpy()
    data_eval2 = (case.randn(eval_n) * std + mean).cpu().double().numpy()

    def w1():
        with torch.no_grad():
            return wasserstein_distance(_cpu64(model.generator(z_eval)).flatten().numpy(), data_eval)

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


# =============================================================================================
# DCGAN
# =============================================================================================
@check()
def dcgan_generator_architecture(subject, case, latent_dim: int = 100) -> Outcome:
    """The DCGAN generator takes latent_dim-d noise (100 in the notes) through one linear projection reshaped to a
    4-D feature map, upsamples only with strided transposed convolutions, each hidden one followed by BatchNorm2d
    and ReLU, the last followed directly by tanh (no BN), with no pooling, upsampling layers or further FC layers."""
    model = subject.build(case)
    G = model.generator
    z = case.randn(2, model.latent_dim)
    G.eval()
    trace = _leaf_trace(G, z)
    mods = [m for m, _, _ in trace]
    names = [type(m).__name__ for m in mods]
    convt = [i for i, m in enumerate(mods) if isinstance(m, nn.ConvTranspose2d)]
    first = mods[0] if mods else None
    hidden_ok = all(i + 2 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d) and isinstance(mods[i + 2], nn.ReLU)
                    for i in convt[:-1])
    acts = [m for m in mods if isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.ELU, nn.GELU))]
    return all_of(
        exact("noise dimension", model.latent_dim, latent_dim),
        holds("first layer is a linear projection of z", isinstance(first, nn.Linear) and first.in_features == latent_dim,
              f"layers: {names}"),
        holds("projection is reshaped to a 4-D map", len(trace) > 1 and len(trace[1][1]) == 4, f"second layer input {trace[1][1] if len(trace) > 1 else None}"),
        holds("only one fully connected layer (the projection)", sum(isinstance(m, nn.Linear) for m in mods) == 1, f"layers: {names}"),
        holds("at least one transposed convolution, all fractionally strided (stride ≥ 2)",
              bool(convt) and all(min(mods[i].stride) >= 2 for i in convt), f"layers: {names}"),
        holds("no pooling or upsampling layers", not any(_is_pool(m) for m in G.modules()), f"layers: {names}"),
        holds("each hidden transposed conv is followed by BatchNorm2d and ReLU", hidden_ok, f"layers: {names}"),
        holds("the last transposed conv is followed only by tanh (no BN on the output)",
              bool(convt) and names[convt[-1] + 1:] == ["Tanh"], f"layers: {names}"),
        holds("hidden activations are ReLU", all(isinstance(a, nn.ReLU) for a in acts[:-1]), f"layers: {names}"),
    )


@check()
def dcgan_discriminator_architecture(subject, case, batch: int = 4) -> Outcome:
    """The DCGAN discriminator is a stack of strided convolutions with LeakyReLU (no ReLU), BatchNorm2d after every
    hidden convolution except the input layer, no pooling and no fully connected hidden layer, ending in one logit
    per image whose sigmoid is the output probability D(x) ∈ (0, 1)."""
    model = subject.build(case)
    D = model.discriminator
    cfg = model.config
    x = case.rand(batch, cfg.channels, cfg.image_size, cfg.image_size) * 2 - 1
    D.eval()
    trace = _leaf_trace(D, x)
    mods = [m for m, _, _ in trace]
    names = [type(m).__name__ for m in mods]
    convs = [i for i, m in enumerate(mods) if isinstance(m, nn.Conv2d)]
    linears = [i for i, m in enumerate(mods) if isinstance(m, nn.Linear)]
    body = convs if linears else convs[:-1]   # the output layer is the single linear, or else the last conv
    hidden = body[1:]                         # convolutions after the input layer
    with torch.no_grad():
        logits = D(x)
        prob = D.probability(x) if hasattr(D, "probability") else torch.sigmoid(logits)
    return all_of(
        holds("input layer is a convolution followed directly by LeakyReLU (no BN on the input layer)",
              len(mods) > 1 and isinstance(mods[0], nn.Conv2d) and isinstance(mods[1], nn.LeakyReLU), f"layers: {names}"),
        holds("no BatchNorm acts on the input image", not (mods and isinstance(mods[0], (nn.BatchNorm2d, nn.BatchNorm1d))),
              f"layers: {names}"),
        holds("hidden convolutions are strided (stride ≥ 2)", bool(body) and all(min(mods[i].stride) >= 2 for i in body),
              f"layers: {names}"),
        holds("every hidden convolution after the input layer is followed by BatchNorm2d and LeakyReLU",
              all(i + 2 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d) and isinstance(mods[i + 2], nn.LeakyReLU)
                  for i in hidden), f"layers: {names}"),
        holds("no pooling layers", not any(_is_pool(m) for m in D.modules()), f"layers: {names}"),
        holds("activations are LeakyReLU only", not any(isinstance(m, (nn.ReLU, nn.Tanh)) for m in mods), f"layers: {names}"),
        holds("no fully connected hidden layer (at most one single-output linear layer, last)",
              not linears or (linears == [len(mods) - 1] and mods[-1].out_features == 1), f"layers: {names}"),
        exact("logit shape", tuple(logits.shape), (batch,)),
        case.close("D(x) vs σ(logit)", prob, torch.sigmoid(_cpu64(logits))),
        holds("0 < D(x) < 1", bool((prob > 0).all() and (prob < 1).all())),
    )


@check(requires=())
def dcgan_output_shape_and_range(subject, case, batch: int = 6, scale: float = 50.0) -> Outcome:
    """The DCGAN generator maps (B, latent_dim) noise to (B, channels, image_size, image_size) images in [−1, 1]
    (tanh output), for any weights: also after every parameter is scaled ×50 and the noise ×50."""
    model = subject.build(case)
    cfg = model.config
    model.eval()
    z = case.randn(batch, cfg.latent_dim)
    with torch.no_grad():
        x = model.generator(z)
        for prm in model.generator.parameters():
            prm.mul_(scale)
        x_big = model.generator(z * scale)
    lo, hi = float(torch.minimum(x.min(), x_big.min())), float(torch.maximum(x.max(), x_big.max()))
    return all_of(
        exact("image shape", tuple(x.shape), (batch, cfg.channels, cfg.image_size, cfg.image_size)),
        bound("min pixel", lo, -1.0, op=">="),
        bound("max pixel", hi, 1.0, op="<="),
        holds("all pixels finite", bool(torch.isfinite(x).all() and torch.isfinite(x_big).all())),
    )


@check(requires=("transposed_conv_output_size", "conv_output_size"))
def dcgan_layer_sizes_follow_formula(subject, case, batch: int = 2) -> Outcome:
    """Every transposed convolution of the generator maps W to (W − 1)S − 2P + K and every convolution of the
    discriminator maps W to ⌊(W − K + 2P)/S⌋ + 1 (the subject's size functions applied to each layer's attributes
    predict the traced tensor shapes), and the chain ends at image_size and at a single logit."""
    model = subject.build(case)
    cfg = model.config
    model.eval()
    tsize, csize = subject.fn("transposed_conv_output_size"), subject.fn("conv_output_size")
    z = case.randn(batch, cfg.latent_dim)
    g_trace = _leaf_trace(model.generator, z)
    x = case.randn(batch, cfg.channels, cfg.image_size, cfg.image_size)
    d_trace = _leaf_trace(model.discriminator, x)
    rows, ok = [], True
    for m, si, so in g_trace + d_trace:
        if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d)):
            for ax in (0, 1):
                extra = {"dilation": m.dilation[ax]} if m.dilation[ax] != 1 else {}
                if isinstance(m, nn.ConvTranspose2d):
                    if m.output_padding[ax]:
                        extra["output_padding"] = m.output_padding[ax]
                    pred = tsize(si[2 + ax], m.kernel_size[ax], m.stride[ax], m.padding[ax], **extra)
                else:
                    pred = csize(si[2 + ax], m.kernel_size[ax], m.stride[ax], m.padding[ax], **extra)
                ok &= pred == so[2 + ax]
            rows.append(f"{type(m).__name__}(K={m.kernel_size[0]},S={m.stride[0]},P={m.padding[0]}): {si[2]}->{so[2]}")
    n_convt = sum(isinstance(m, nn.ConvTranspose2d) for m, _, _ in g_trace)
    last_g = [so for m, _, so in g_trace if isinstance(m, nn.ConvTranspose2d)]
    return all_of(
        holds("each layer's traced output size equals the size formula", ok and bool(rows), "; ".join(rows)),
        exact("final transposed-conv output side", last_g[-1][2] if last_g else None, cfg.image_size,
              detail=f"{n_convt} transposed convolutions"),
    )


@check(requires=("transposed_conv_output_size", "conv_output_size"))
def dcgan_size_formulas_match_torch(subject, case, max_w: int = 7, max_k: int = 5, max_s: int = 3) -> Outcome:
    """transposed_conv_output_size(W, K, S, P) = (W − 1)S − 2P + K and conv_output_size(W, K, S, P) =
    ⌊(W − K + 2P)/S⌋ + 1 equal the sides of torch's conv_transpose2d / conv2d outputs over a grid of W, K, S, P."""
    tsize, csize = subject.fn("transposed_conv_output_size"), subject.fn("conv_output_size")
    n, bad = _size_grid(case, tsize, csize, max_w, max_k, max_s)
    return holds(f"size formulas agree with torch on {n} (W, K, S, P) cases", not bad,
                 f"{len(bad)} mismatches, first: {bad[:3]}" if bad else "all agree")


def _size_grid(case, tsize, csize, max_w: int, max_k: int, max_s: int) -> tuple[int, list[str]]:
    """Compare the size functions with real conv_transpose2d / conv2d outputs; (cases, mismatches)."""
    n, bad = 0, []
    for w in range(1, max_w + 1):
        for k in range(1, max_k + 1):
            wt = torch.zeros(1, 1, k, k, dtype=case.dtype, device=case.device)
            x = torch.zeros(1, 1, w, w, dtype=case.dtype, device=case.device)
            for s in range(1, max_s + 1):
                for p in range(0, k):
                    if (w - 1) * s - 2 * p + k > 0:
                        n += 1
                        got = F.conv_transpose2d(x, wt, stride=s, padding=p).shape[-1]
                        if tsize(w, k, s, p) != got:
                            bad.append(f"convT W={w} K={k} S={s} P={p}: {tsize(w, k, s, p)} vs torch {got}")
                    if w + 2 * p >= k:
                        n += 1
                        got = F.conv2d(x, wt, stride=s, padding=p).shape[-1]
                        if csize(w, k, s, p) != got:
                            bad.append(f"conv W={w} K={k} S={s} P={p}: {csize(w, k, s, p)} vs torch {got}")
    return n, bad


@check(marks=("statistical",))
def dcgan_weight_init_normal(subject, case, alpha: float = 1e-3, std: float = 0.02) -> Outcome:
    """DCGAN initialises every convolution, transposed convolution and linear weight from N(0, 0.02²) and every
    BatchNorm scale from N(1, 0.02²) with zero shift: Kolmogorov–Smirnov tests (scipy.stats.kstest) do not reject
    at α = 1e-3 (the false-alarm rate of each test)."""
    from scipy.stats import kstest

    model = subject.build(case)
    w = torch.cat([_cpu64(m.weight).flatten() for m in model.modules()
                   if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))])
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d))]
    g = torch.cat([_cpu64(m.weight).flatten() for m in bns]) if bns else torch.ones(0, dtype=F64)
    b = torch.cat([_cpu64(m.bias).flatten() for m in bns]) if bns else torch.zeros(0, dtype=F64)
    r_w = kstest(w.numpy(), "norm", args=(0.0, std))
    out = [p_value("conv/linear weights ~ N(0, 0.02²)", r_w.statistic, r_w.pvalue, alpha, w.numel(), "KS")]
    if bns:
        r_g = kstest(g.numpy(), "norm", args=(1.0, std))
        out += [p_value("BatchNorm scales ~ N(1, 0.02²)", r_g.statistic, r_g.pvalue, alpha, g.numel(), "KS"),
                exact("BatchNorm shifts", b, torch.zeros_like(b))]
    return all_of(out)


@check(requires=("train_step", "discriminator_loss"), marks=("slow", "training"))
def dcgan_digits_discriminator_loss_decreases(subject, case, steps: int = 30, batch: int = 64,
                                              eval_n: int = 256, lr: float = 2e-4) -> Outcome:
    """A few DCGAN training steps (Adam, lr 2e-4, β₁ = 0.5 as Radford et al.) on scikit-learn's 8×8 digits, scaled to
    [−1, 1] and padded to image_size, lower the discriminator loss J_D measured on a fixed real batch and fixed noise:
    the mean paired per-sample decrease exceeds 5 standard errors (one-sided false-alarm rate < 3e-7 if normal)."""
    from sklearn.datasets import load_digits

    model = subject.build(case)
    cfg = model.config
    imgs = torch.as_tensor(load_digits().images, dtype=F64) / 8.0 - 1.0       # (1797, 8, 8) in [−1, 1]
    pad = (cfg.image_size - 8) // 2
    imgs = F.pad(imgs, (pad, cfg.image_size - 8 - pad) * 2, value=-1.0).unsqueeze(1)
    imgs = imgs.expand(-1, cfg.channels, -1, -1).to(device=case.device, dtype=case.dtype)
    idx = torch.randperm(imgs.shape[0], generator=case.generator)
    eval_real, pool = imgs[idx[:eval_n]], imgs[idx[eval_n:]]
    z_eval = case.randn(eval_n, cfg.latent_dim)

    def per_sample():
        with torch.no_grad():
            real = -F.logsigmoid(model.discriminator(eval_real))
            fake = -F.logsigmoid(-model.discriminator(model.generator(z_eval)))
        return _cpu64(real + fake)

    before = per_sample()
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=lr, betas=(0.5, 0.999))
    g = case.gen()
    for _ in range(steps):
        sel = torch.randint(0, pool.shape[0], (batch,), generator=case.generator)
        subject.fn("train_step")(model, [pool[sel.to(pool.device)]], opt_d, opt_g, generator=g)
    after = per_sample()
    diff = before - after
    se = float(diff.std() / math.sqrt(eval_n))
    return bound("mean decrease of J_D (before − after) / its standard error", float(diff.mean()) / se, 5.0, op=">",
                 source=f"5 s.e. (n = {eval_n} paired samples)",
                 detail=f"J_D {float(before.mean()):.4f} -> {float(after.mean()):.4f} in {steps} steps")


# =============================================================================================
# conditional GAN, InfoGAN: conditioning
# =============================================================================================
@check()
def gan_condition_changes_output(subject, case, batch: int = 16) -> Outcome:
    """For the same noise z, every pair of different labels (codes) y ≠ y′ gives a different generator output
    G(z, y) ≠ G(z, y′) for every sample, while the same (z, y) gives the same output (the condition is an input of
    G, not ignored)."""
    model = subject.build(case)
    K = getattr(model, "num_classes", None) or model.num_codes
    z = case.randn(batch, model.latent_dim)
    with torch.no_grad():
        outs = [_cpu64(model(z, torch.full((batch,), k, dtype=torch.long, device=case.device))[0]) for k in range(K)]
        again = _cpu64(model(z, torch.zeros(batch, dtype=torch.long, device=case.device))[0])
    min_gap = min(float((outs[a] - outs[b]).abs().flatten(1).amax(1).min()) for a in range(K) for b in range(a + 1, K))
    return all_of(
        bound("min over samples and label pairs of max |G(z, y) − G(z, y′)|", min_gap, 0.0, op=">", detail=f"K = {K}"),
        exact("G(z, y) computed twice", again, outs[0]),
    )


@check()
def cgan_conditioning_is_per_sample(subject, case, batch: int = 12) -> Outcome:
    """The conditional generator treats each (z_i, y_i) independently: permuting the batch permutes the outputs, and
    changing one sample's label changes only that sample's output (autograd-free, float64)."""
    model = subject.build(case)
    K = model.num_classes
    z = case.randn(batch, model.latent_dim)
    y = case.randint(0, K, (batch,))
    perm = torch.randperm(batch, generator=case.generator).to(case.device)
    y2 = y.clone()
    y2[0] = (y[0] + 1) % K
    with torch.no_grad():
        x = model(z, y)[0]
        xp = model(z[perm], y[perm])[0]
        x2 = model(z, y2)[0]
    return all_of(
        case.close("G(z[π], y[π]) vs G(z, y)[π]", xp, _cpu64(x)[perm.cpu()]),
        case.close("rows 1.. after relabelling sample 0", x2[1:], _cpu64(x[1:])),
        bound("change of sample 0 after relabelling", float((_cpu64(x2[0]) - _cpu64(x[0])).abs().max()), 0.0, op=">"),
    )


@check(marks=("slow", "training"))
def cgan_learns_class_conditionals(subject, case, steps: int = 300, batch: int = 64, eval_n: int = 1000) -> Outcome:
    """A conditional GAN trained on 1-D data whose class-k mean is 2 + 3k (σ = 0.5) moves each class-conditional
    p_g(x | y) toward p_data(x | y): the Wasserstein-1 distance (scipy.stats.wasserstein_distance) of every class at
    least halves within the step budget."""
    from scipy.stats import wasserstein_distance

    model = subject.build(case, data_dim=1)
    K = model.num_classes
    # G's parameters are those its output depends on; the discriminator's are the rest
    probe = model.generate(case.randn(2, model.latent_dim), torch.zeros(2, dtype=torch.long, device=case.device))
    grads = torch.autograd.grad(probe.sum(), list(model.parameters()), allow_unused=True)
    g_params = [p for p, g in zip(model.parameters(), grads) if g is not None]
    d_params = [p for p, g in zip(model.parameters(), grads) if g is None]
    opt_d = torch.optim.Adam(d_params, lr=2e-3, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(g_params, lr=2e-3, betas=(0.5, 0.999))
    J_D = subject.fn("discriminator_loss")
    J_G = subject.fn("generator_loss_nonsaturating")
    z_eval = case.randn(eval_n, model.latent_dim)
    data_eval = [(case.randn(eval_n) * 0.5 + 2 + 3 * k).cpu().numpy() for k in range(K)]

    def w1s():
        with torch.no_grad():
            return [wasserstein_distance(
                _cpu64(model.generate(z_eval, torch.full((eval_n,), k, dtype=torch.long, device=case.device))).flatten().numpy(),
                data_eval[k]) for k in range(K)]

    start = w1s()
    for _ in range(steps):
        y = case.randint(0, K, (batch,))
        real = case.randn(batch, 1) * 0.5 + 2 + 3 * y.unsqueeze(1).to(case.dtype)
        fake = model.generate(case.randn(batch, model.latent_dim), y)
        loss_d = J_D(model.discriminate(real, y), model.discriminate(fake.detach(), y))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        y = case.randint(0, K, (batch,))
        loss_g = J_G(model.discriminate(model.generate(case.randn(batch, model.latent_dim), y), y))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    end = w1s()
    return bound("max over classes of W1 after / W1 before", max(e / s for s, e in zip(start, end)), 0.5, op="<=",
                 detail="W1 per class: " + ", ".join(f"{s:.3g}->{e:.3g}" for s, e in zip(start, end)))


# =============================================================================================
# CycleGAN
# =============================================================================================
@check(requires=("cycle_consistency_loss",))
def cyclegan_cycle_loss_zero_for_inverse_maps(subject, case, batch: int = 32, dim: int = 3) -> Outcome:
    """The cycle-consistency loss E_x‖F(G(x)) − x‖₁ + E_y‖G(F(y)) − y‖₁ is 0 when F = G⁻¹ (G an invertible affine map,
    F its inverse by torch.linalg.solve) and otherwise positive and equal to the L1 norms (summed over features,
    averaged over the batch) computed here in float64."""
    L = subject.fn("cycle_consistency_loss")
    A = torch.eye(dim, dtype=F64) + 0.3 * torch.randn(dim, dim, generator=case.generator, dtype=F64)
    b = torch.randn(dim, generator=case.generator, dtype=F64)
    A2 = A + 0.2 * torch.randn(dim, dim, generator=case.generator, dtype=F64)
    A_, b_ = A.to(case.device, case.dtype), b.to(case.device, case.dtype)

    def G(x):
        return x @ A_.T + b_

    def inverse_of(M):
        M_ = M.to(case.device, case.dtype)
        return lambda y: torch.linalg.solve(M_, (y - b_).T).T

    x, y = case.randn(batch, dim), case.randn(batch, dim)
    zero = L(G, inverse_of(A), x, y)
    wrong_F = inverse_of(A2)
    wrong = L(G, wrong_F, x, y)
    x64, y64 = _cpu64(x), _cpu64(y)
    G64 = lambda v: v @ A.T + b  # noqa: E731
    F64_ = lambda v: torch.linalg.solve(A2, (v - b).T).T  # noqa: E731
    oracle = (F64_(G64(x64)) - x64).abs().sum(-1).mean() + (G64(F64_(y64)) - y64).abs().sum(-1).mean()
    scale = float(x64.abs().sum(-1).mean() + y64.abs().sum(-1).mean())
    return all_of(
        case.close("L_cyc(G, G⁻¹) / (E‖x‖₁ + E‖y‖₁)", float(zero) / scale, 0.0,
                   tol=Tolerance(100 * torch.finfo(case.dtype).eps * dim, 0.0, "100·ε·dim (rounding of A and its solve)")),
        bound("L_cyc(G, F) for F ≠ G⁻¹", float(wrong), 0.0, op=">"),
        case.close("L_cyc(G, F) vs float64 L1 norms", wrong, oracle),
    )


@check(requires=("cyclegan_generator_loss",))
def cyclegan_generator_objective(subject, case, batch: int = 16, lam: float = 10.0) -> Outcome:
    """The CycleGAN generator objective is L_GAN(G, D_Y) + L_GAN(F, D_X) + λ·L_cyc(G, F): it equals BCE(D_Y(G(x)), 1) +
    BCE(D_X(F(y)), 1) (torch) plus λ times the L1 cycle loss computed here, and is affine in λ with slope L_cyc."""
    model = subject.build(case)
    cfg = model.config
    x, y = case.randn(batch, cfg.dim_x), case.randn(batch, cfg.dim_y)
    loss = subject.fn("cyclegan_generator_loss")
    with torch.no_grad():
        total = loss(model, x, y, lam)
        total0 = loss(model, x, y, 0.0)
        fy, fx = model.G(x), model.F(y)
        dy, dx = _cpu64(model.D_Y(fy)).flatten(), _cpu64(model.D_X(fx)).flatten()
        cyc = ((_cpu64(model.F(fy)) - _cpu64(x)).abs().sum(-1).mean()
               + (_cpu64(model.G(fx)) - _cpu64(y)).abs().sum(-1).mean())
    adv = (F.binary_cross_entropy_with_logits(dy, torch.ones_like(dy))
           + F.binary_cross_entropy_with_logits(dx, torch.ones_like(dx)))
    return all_of(
        case.close("generator objective vs BCE terms + λ·L1 cycle", total, adv + lam * cyc),
        case.close("objective(λ) − objective(0) vs λ·L_cyc", _cpu64(total) - _cpu64(total0), lam * cyc),
    )


@check(requires=("cycle_consistency_loss",))
def cyclegan_cycle_gradient_routing(subject, case, batch: int = 16) -> Outcome:
    """The cycle loss trains both generators and neither discriminator: its gradient is non-zero for G and for F
    and absent (None or zero) for D_X and D_Y."""
    model = subject.build(case)
    cfg = model.config
    x, y = case.randn(batch, cfg.dim_x), case.randn(batch, cfg.dim_y)
    model.zero_grad(set_to_none=True)
    subject.fn("cycle_consistency_loss")(model.G, model.F, x, y).backward()

    def norm(mod):
        gs = [p.grad for p in mod.parameters() if p.grad is not None]
        return float(sum(float(g.abs().sum()) for g in gs))

    return all_of(
        bound("|∇_G L_cyc|₁", norm(model.G), 0.0, op=">"),
        bound("|∇_F L_cyc|₁", norm(model.F), 0.0, op=">"),
        exact("|∇_{D_X, D_Y} L_cyc|₁", norm(model.D_X) + norm(model.D_Y), 0.0),
    )


# =============================================================================================
# InfoGAN
# =============================================================================================
@check(requires=("mutual_information_lower_bound",))
def infogan_mi_bound_at_most_entropy(subject, case, batch: int = 64, K: int = 5) -> Outcome:
    """The InfoGAN bound L_I = E[log Q(c|x)] + H(c) equals torch.distributions.Categorical's mean log-probability
    plus H(c) = log K (scipy.stats.entropy of the uniform code); L_I ≤ log K, with equality when Q recovers c exactly,
    and L_I = 0 when Q ignores x (uniform)."""
    from scipy.stats import entropy

    Li = subject.fn("mutual_information_lower_bound")
    c = case.randint(0, K, (batch,))
    q = case.randn(batch, K) * 2
    H = float(entropy([1.0 / K] * K))
    oracle = torch.distributions.Categorical(logits=_cpu64(q)).log_prob(c.cpu()).mean() + H
    perfect = F.one_hot(c, K).to(case.dtype) * 80.0
    uniform = torch.zeros(batch, K, dtype=case.dtype, device=case.device)
    val = Li(q, c)
    return all_of(
        case.close("L_I vs Categorical log_prob mean + log K", val, oracle),
        bound("L_I − log K", float(val) - H, 0.0, op="<="),
        case.close("L_I when Q recovers c", Li(perfect, c), H),
        case.close("L_I when Q is uniform", Li(uniform, c), 0.0),
    )


@check()
def infogan_q_shares_discriminator_body(subject, case, batch: int = 8) -> Outcome:
    """InfoGAN's Q network shares the discriminator's body: some parameters receive gradient from both the D logit
    and the Q logits, while each head's own parameters receive gradient from its output only."""
    model = subject.build(case)
    x = case.randn(batch, model.config.data_dim)
    d, q = model.heads(x)
    params = dict(model.named_parameters())
    gd = torch.autograd.grad(d.sum(), list(params.values()), allow_unused=True, retain_graph=True)
    gq = torch.autograd.grad(q.sum(), list(params.values()), allow_unused=True)
    nz = lambda g: g is not None and bool(g.abs().sum() > 0)  # noqa: E731
    from_d = {n for n, g in zip(params, gd) if nz(g)}
    from_q = {n for n, g in zip(params, gq) if nz(g)}
    shared, only_d, only_q = from_d & from_q, from_d - from_q, from_q - from_d
    return all_of(
        holds("parameters trained by both D and Q (shared body)", bool(shared), f"{sorted(shared)}"),
        holds("D head parameters not reached by Q", bool(only_d), f"{sorted(only_d)}"),
        holds("Q head parameters not reached by D", bool(only_q), f"{sorted(only_q)}"),
    )
