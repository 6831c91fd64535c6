"""Checks for the adversarial autoencoder (notes 002, "Types of autoencoders"; Makhzani et al. 2015),
suite ``aae``: the encoder is the generator of a GAN played in code space against a discriminator D
that tells codes z = f(x) from prior samples z ~ N(0, I).

Loss checks size their own test tensors (check parameters); model checks take their sizes from the
subject's params (:data:`CONTRACT`). Oracles: torch.nn.functional's binary_cross_entropy_with_logits
and mse_loss, closed-form gradients of the logistic losses, autograd on the model's own parts, sample
moments within standard errors.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from harness.checks.vae import draws_only_from_generator, moments_within_se
from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64, holds
from harness.registry import check

F64 = torch.float64


def _inputs(subject, case, batch: int) -> tuple:
    """x uniform on [0, 1): (B, in_features)."""
    return (case.rand(batch, subject.size("in_features")),)


CONTRACT = load_contract("aae", inputs=_inputs)


def _bce_logits(logits, target: float) -> torch.Tensor:
    L = f64(logits)
    return F.binary_cross_entropy_with_logits(L, torch.full_like(L, target))


# ---------------------------------------------------------------------------------------------
# the adversarial losses
# ---------------------------------------------------------------------------------------------
@check(requires=("discriminator_loss",))
def aae_discriminator_loss_matches_torch(subject, case, rows: int = 64, scale: float = 3.0) -> Outcome:
    """The discriminator's loss, prior samples labelled real (1) and codes fake (0), equals
    F.binary_cross_entropy_with_logits(ℓ_real, 1) + F.binary_cross_entropy_with_logits(ℓ_fake, 0) for real and
    fake batches of different sizes, is 2 log 2 when D outputs ½ (logit 0), stays finite and equal to torch's
    at logits ±60, and has gradients −(1 − σ(ℓ_real))/B and σ(ℓ_fake)/B' (closed form vs autograd)."""
    loss = subject.fn("discriminator_loss")
    real = (case.randn(rows) * scale).requires_grad_(True)
    fake = (case.randn(rows // 2) * scale).requires_grad_(True)
    val = loss(real, fake)
    g_r, g_f = torch.autograd.grad(val, (real, fake))
    R, Fk = f64(real), f64(fake)
    big = case.tensor([60.0, -60.0, 0.5])
    z = torch.zeros(rows, dtype=case.dtype, device=case.device)
    return all_of(
        case.close("L_D vs BCE-with-logits(ℓ_real, 1) + BCE-with-logits(ℓ_fake, 0)", val,
                   _bce_logits(R, 1.0) + _bce_logits(Fk, 0.0),
                   alternatives={"labels swapped (codes real, prior samples fake)": _bce_logits(R, 0.0) + _bce_logits(Fk, 1.0)}),
        case.close("L_D at logit 0 vs 2 log 2", loss(z, z), 2 * math.log(2.0)),
        case.close("L_D at logits ±60 vs torch", loss(big, -big), _bce_logits(big, 1.0) + _bce_logits(-big, 0.0)),
        case.close("∂L_D/∂ℓ_real vs −(1 − σ(ℓ))/B", g_r, -(1 - torch.sigmoid(R)) / len(R)),
        case.close("∂L_D/∂ℓ_fake vs σ(ℓ)/B'", g_f, torch.sigmoid(Fk) / len(Fk)),
    )


@check(requires=("generator_loss",))
def aae_generator_loss_matches_torch(subject, case, rows: int = 64, scale: float = 3.0) -> Outcome:
    """The encoder's (generator's) loss is the non-saturating −mean log σ(ℓ_fake) =
    F.binary_cross_entropy_with_logits(ℓ_fake, 1), log 2 at logit 0, with gradient −(1 − σ(ℓ))/B (autograd vs
    closed form), which does not vanish where D confidently rejects the codes (ℓ = −30: −1/B, while the
    saturating log(1 − σ(ℓ)) has gradient ≈ 0 there)."""
    loss = subject.fn("generator_loss")
    fake = (case.randn(rows) * scale).requires_grad_(True)
    val = loss(fake)
    (g,) = torch.autograd.grad(val, fake)
    Fk = f64(fake)
    rejected = torch.full((rows,), -30.0, dtype=case.dtype, device=case.device, requires_grad=True)
    (g_rej,) = torch.autograd.grad(loss(rejected), rejected)
    return all_of(
        case.close("L_G vs BCE-with-logits(ℓ_fake, 1)", val, _bce_logits(Fk, 1.0),
                   alternatives={"the saturating loss log(1 − σ(ℓ))": -_bce_logits(Fk, 0.0)}),
        case.close("L_G at logit 0 vs log 2", loss(torch.zeros(rows, dtype=case.dtype, device=case.device)), math.log(2.0)),
        case.close("∂L_G/∂ℓ vs −(1 − σ(ℓ))/B", g, -(1 - torch.sigmoid(Fk)) / rows),
        case.close("∂L_G/∂ℓ at ℓ = −30 (rejected codes) vs −1/B (non-saturating)", g_rej,
                   torch.full((rows,), -1.0 / rows, dtype=F64) * (1 - torch.sigmoid(torch.tensor(-30.0, dtype=F64)))),
    )


@check(requires=("reconstruction_loss",))
def aae_reconstruction_loss_matches_torch(subject, case, rows: int = 16, features: int = 64) -> Outcome:
    """The reconstruction loss mean_b ‖x_b − x'_b‖² equals F.mse_loss(reduction='sum') / B."""
    x, y = case.rand(rows, features), case.rand(rows, features)
    return case.close("reconstruction loss vs F.mse_loss(reduction='sum') / B", subject.fn("reconstruction_loss")(x, y),
                      F.mse_loss(f64(y), f64(x), reduction="sum") / rows)


# ---------------------------------------------------------------------------------------------
# the prior
# ---------------------------------------------------------------------------------------------
@check(requires=("sample_prior",), marks=("statistical",))
def aae_sample_prior_moments(subject, case, samples: int = 100_000, alpha: float = 1e-6) -> Outcome:
    """Prior samples are N(0, I): shape (n, latent) in the case's dtype; per coordinate, the sample mean is
    within 5 s.e. of 0, the sample variance within 5 s.e. of 1, and the Kolmogorov–Smirnov test against
    N(0, 1) (scipy.stats.kstest) does not reject at level alpha; the sample correlation of the first two
    coordinates is within 5 s.e. (1/√n) of 0. False-alarm rate 5.7e-7 per moment comparison, alpha per KS test."""
    from scipy.stats import kstest

    from harness.outcome import p_value, within_se

    latent = subject.size("latent")
    z = subject.fn("sample_prior")(samples, latent, generator=case.gen(), dtype=case.dtype)
    Z = f64(z)
    outs = [exact("prior sample shape", tuple(z.shape), (samples, latent)),
            exact("prior sample dtype", str(z.dtype), str(case.dtype))]
    for k in range(latent):
        outs += moments_within_se(Z[:, k], 0.0, 1.0, f"mean of z[{k}]", f"variance of z[{k}]")
        ks = kstest(Z[:, k].numpy(), "norm")
        outs.append(p_value(f"z[{k}] ~ N(0, 1) (Kolmogorov–Smirnov)", float(ks.statistic), float(ks.pvalue), alpha,
                            samples, "KS"))
    if latent >= 2:
        r = float(torch.corrcoef(Z[:, :2].T)[0, 1])
        outs.append(within_se("correlation of z[0], z[1]", r, 0.0, 1 / math.sqrt(samples), samples))
    return all_of(outs)


@check(requires=("sample_prior",))
def aae_sample_prior_uses_generator(subject, case, rows: int = 64) -> Outcome:
    """Prior samples are drawn only from the given generator: equally seeded generators give identical
    samples, different seeds differ, and torch's global RNG state is left untouched."""
    draw = subject.fn("sample_prior")
    latent = subject.size("latent")
    return draws_only_from_generator(case, lambda g: draw(rows, latent, generator=g, dtype=case.dtype),
                                     "prior sample", "sample_prior(generator=g)")


# ---------------------------------------------------------------------------------------------
# one training step: values and gradient routing
# ---------------------------------------------------------------------------------------------
def _step_inputs(subject, case, rows: int):
    model = subject.build(case)
    (x,) = CONTRACT.example_inputs(subject, case, rows)
    z_prior = case.randn(rows + 3, subject.size("latent"))  # a different count: nothing may pair them up
    return model, x, z_prior


@check(requires=("aae_losses", "encode", "decode", "discriminate"))
def aae_losses_match_their_definitions(subject, case, rows: int = 32) -> Outcome:
    """aae_losses(model, x, z_prior) returns (reconstruction, discriminator, generator) losses equal to their
    definitions on the model's own parts: F.mse_loss(decode(encode(x)), x, 'sum')/B,
    BCE-with-logits(discriminate(z_prior), 1) + BCE-with-logits(discriminate(encode(x)), 0), and
    BCE-with-logits(discriminate(encode(x)), 1)."""
    model, x, zp = _step_inputs(subject, case, rows)
    recon, disc, gen = subject.fn("aae_losses")(model, x, zp)
    with torch.no_grad():
        z = model.encode(x)
        xh, lf, lr = f64(model.decode(z)), f64(model.discriminate(z)), f64(model.discriminate(zp))
    X = f64(x)
    return all_of(
        case.close("reconstruction loss vs F.mse_loss(g(f(x)), x, 'sum') / B", recon, F.mse_loss(xh, X, reduction="sum") / rows),
        case.close("discriminator loss vs BCE(D(z_prior), 1) + BCE(D(f(x)), 0)", disc, _bce_logits(lr, 1.0) + _bce_logits(lf, 0.0)),
        case.close("generator loss vs BCE(D(f(x)), 1)", gen, _bce_logits(lf, 1.0)),
    )


def _grads(loss, named):
    """Gradients of ``loss`` by parameter name (None where it does not reach, or where the loss has no graph)."""
    if not loss.requires_grad:
        return {n: None for n, _ in named}
    gs = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True, retain_graph=True)
    return {n: g for (n, _), g in zip(named, gs)}


def _reached(grads: dict) -> bool:
    """Some parameter got a nonzero gradient."""
    return any(g is not None and bool(g.abs().sum() > 0) for g in grads.values())


def _silent(grads: dict) -> bool:
    """No parameter got a nonzero gradient (None or exactly 0)."""
    return all(g is None or bool((g == 0).all()) for g in grads.values())


@check(requires=("aae_losses", "encode", "discriminate"))
def aae_gradient_routing(subject, case, rows: int = 32) -> Outcome:
    """Each loss of a step reaches exactly its own networks: the reconstruction loss the encoder and decoder
    (not D); the discriminator loss D only (not the encoder: codes enter detached); the generator loss the
    encoder only (not D, not the decoder). Where a loss reaches a network, its gradient equals autograd on the
    definition built from the model's parts (D's loss with detached codes; the generator loss with D's
    parameters held fixed)."""
    model, x, zp = _step_inputs(subject, case, rows)
    recon, disc, gen = subject.fn("aae_losses")(model, x, zp)
    parts = {n: list(getattr(model, n).named_parameters()) for n in ("encoder", "decoder", "discriminator")}
    G = {(loss_name, n): _grads(loss, named) for loss_name, loss in (("recon", recon), ("disc", disc), ("gen", gen))
         for n, named in parts.items()}
    outs = [
        holds("reconstruction loss reaches the encoder", _reached(G["recon", "encoder"])),
        holds("reconstruction loss reaches the decoder", _reached(G["recon", "decoder"])),
        holds("reconstruction loss does not reach D", _silent(G["recon", "discriminator"])),
        holds("discriminator loss reaches D", _reached(G["disc", "discriminator"])),
        holds("discriminator loss does not reach the encoder", _silent(G["disc", "encoder"])),
        holds("discriminator loss does not reach the decoder", _silent(G["disc", "decoder"])),
        holds("generator loss reaches the encoder", _reached(G["gen", "encoder"])),
        holds("generator loss does not reach D", _silent(G["gen", "discriminator"])),
        holds("generator loss does not reach the decoder", _silent(G["gen", "decoder"])),
    ]
    # oracles on the model's parts
    z = model.encode(x)
    d_want = _grads(F.binary_cross_entropy_with_logits(model.discriminate(zp), torch.ones(len(zp), dtype=case.dtype, device=case.device))
                    + F.binary_cross_entropy_with_logits(model.discriminate(z.detach()), torch.zeros(rows, dtype=case.dtype, device=case.device)),
                    parts["discriminator"])
    lf = model.discriminate(z)
    g_want = _grads(F.binary_cross_entropy_with_logits(lf, torch.ones(rows, dtype=case.dtype, device=case.device)), parts["encoder"])
    for n, g in d_want.items():
        got = G["disc", "discriminator"][n]
        outs.append(case.close(f"∂L_D/∂D.{n} vs autograd on BCE(D(z_prior), 1) + BCE(D(f(x).detach()), 0)",
                               got if got is not None else torch.zeros_like(g), g))
    for n, g in g_want.items():
        got = G["gen", "encoder"][n]
        outs.append(case.close(f"∂L_G/∂encoder.{n} vs autograd on BCE(D(f(x)), 1)", got if got is not None else torch.zeros_like(g), g))
    return all_of(outs)


@check(requires=("aae_losses", "encode", "discriminate"))
def aae_adversarial_step_direction(subject, case, rows: int = 64, lr: float = 1e-3) -> Outcome:
    """One small SGD step of each adversary moves the game the right way, measured with D's own outputs: a
    step of D on the discriminator loss raises D's mean logit on prior samples minus that on codes, and a
    step of the encoder on the generator loss (D fixed) raises D's mean logit on the new codes."""
    model, x, zp = _step_inputs(subject, case, rows)
    losses = subject.fn("aae_losses")

    def margin() -> float:
        with torch.no_grad():
            return float(f64(model.discriminate(zp)).mean() - f64(model.discriminate(model.encode(x))).mean())

    def fake_logit() -> float:
        with torch.no_grad():
            return float(f64(model.discriminate(model.encode(x))).mean())

    def sgd_step(loss, module) -> None:
        named = list(module.named_parameters())
        grads = _grads(loss, named).values()
        with torch.no_grad():
            for (_, p), g in zip(named, grads):
                if g is not None:
                    p.sub_(lr * g)

    m0 = margin()
    sgd_step(losses(model, x, zp)[1], model.discriminator)
    m1 = margin()
    f0 = fake_logit()
    sgd_step(losses(model, x, zp)[2], model.encoder)
    f1 = fake_logit()
    return all_of(
        bound("D step: mean ℓ(prior) − mean ℓ(codes), after − before", m1 - m0, 0.0, op=">", detail=f"before {m0:.6g}, lr {lr:g}"),
        bound("encoder step: mean ℓ(codes), after − before", f1 - f0, 0.0, op=">", detail=f"before {f0:.6g}, lr {lr:g}"),
    )


# ---------------------------------------------------------------------------------------------
# training: the adversarial term matches the code distribution to the prior
# ---------------------------------------------------------------------------------------------
def _gaussian_w2(Z: torch.Tensor) -> float:
    """Squared 2-Wasserstein distance between N(mean(Z), cov(Z)) and N(0, I):
    ‖μ‖² + tr(Σ + I − 2 Σ^{1/2}) (scipy.linalg.sqrtm)."""
    import numpy as np
    from scipy.linalg import sqrtm

    z = f64(Z).numpy()
    mu = z.mean(0)
    cov = np.atleast_2d(np.cov(z, rowvar=False))
    root = np.real(sqrtm(cov))
    return float(mu @ mu + np.trace(cov + np.eye(len(cov)) - 2 * root))


@check(requires=("aae_losses", "sample_prior", "encode"), marks=("slow", "training"))
def aae_codes_match_prior(subject, case, steps: int = 400, lr: float = 2e-3, batch: int = 128, train: int = 1200,
                          ratio: float = 0.1) -> Outcome:
    """The adversarial term shapes the code distribution: trained alike on digits (same init, batches and prior
    draws, Adam, one backward of recon + disc + gen per step), the AAE's held-out codes are closer to the prior
    N(0, I) than those of the same network trained on the reconstruction loss alone — the squared
    2-Wasserstein distance between Gaussian fits (scipy.linalg.sqrtm) at most ``ratio`` (0.1) times the
    baseline's (measured here: 0.002–0.003 at seeds 0–2; a generator loss with its sign flipped gives about 7) —
    and the AAE still reconstructs held-out digits better than their mean image does (baseline
    measured independently: mean ‖x − x̄‖²)."""
    from harness.checks.vae import digits_split

    Xtr, Xte = digits_split(subject, case, train)
    losses, prior = subject.fn("aae_losses"), subject.fn("sample_prior")
    latent = subject.size("latent")
    idx = [torch.randint(0, train, (batch,), generator=case.generator).to(case.device) for _ in range(steps)]
    g = case.gen()
    zs = [prior(batch, latent, generator=g, dtype=case.dtype) for _ in range(steps)]
    stats = {}
    for adversarial in (True, False):
        model = subject.build(case)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        for i, z in zip(idx, zs):
            recon, disc, gen = losses(model, Xtr[i], z)
            opt.zero_grad()
            (recon + disc + gen if adversarial else recon).backward()
            opt.step()
        with torch.no_grad():
            codes = model.encode(Xte)
            err = float((f64(Xte) - f64(model.decode(codes))).pow(2).sum(-1).mean())
        stats[adversarial] = (_gaussian_w2(codes), err)
    (w_aae, e_aae), (w_ae, _) = stats[True], stats[False]
    X = f64(Xte)
    e_mean = float((X - X.mean(0)).pow(2).sum(-1).mean())
    return all_of(
        bound("W2²(AAE codes, N(0, I)) / W2²(reconstruction-only codes, N(0, I))", w_aae / w_ae, ratio, op="<=",
              detail=f"AAE {w_aae:.4g}, reconstruction only {w_ae:.4g}; {steps} Adam steps, latent {latent}"),
        bound("AAE held-out reconstruction error vs the mean image's", e_aae, e_mean, op="<",
              detail=f"mean-image error {e_mean:.4g}"),
    )


# ---------------------------------------------------------------------------------------------
# architecture: the three MLPs vs torch.nn.functional on their own weights
# ---------------------------------------------------------------------------------------------
@check(requires=("encode", "decode", "discriminate"))
def aae_architecture_matches_functional(subject, case, rows: int = 7) -> Outcome:
    """The networks are the contract's MLPs, each with two torch.nn.Linear layers (shapes from the
    config): encoder f(x) = W₂ relu(W₁x + b₁) + b₂ (in_features -> hidden -> latent), decoder
    g(z) = sigmoid(W₄ relu(W₃z + b₃) + b₄) (latent -> hidden -> in_features), discriminator
    D(z) = W₆ relu(W₅z + b₅) + b₆ (latent -> disc_hidden -> 1), recomputed with F.linear, relu and
    sigmoid on copies of their weights; forward(x) = (g(f(x)), f(x), D(f(x))) and the gradient of
    Σ (w₁ ⊙ x' + w₂ ⊙ z + w₃ ⊙ logit) with respect to every weight equals the recomputation's."""
    model = subject.build(case)
    d, h, k, hd = (int(subject.size(n)) for n in ("in_features", "hidden", "latent", "disc_hidden"))
    nets = {"encoder": model.encoder, "decoder": model.decoder, "discriminator": model.discriminator}
    lins = {n: [m for m in net.modules() if isinstance(m, torch.nn.Linear)] for n, net in nets.items()}
    want = {"encoder": [(h, d), (k, h)], "decoder": [(h, k), (d, h)], "discriminator": [(hd, k), (1, hd)]}
    got_shapes = {n: [tuple(m.weight.shape) for m in ls] for n, ls in lins.items()}
    out = [exact("Linear weight shapes per network", got_shapes, want)]
    if got_shapes != want:
        return all_of(out)
    params = [p for n in nets for m in lins[n] for p in (m.weight, m.bias)]
    copies = [f64(p).clone().requires_grad_(True) for p in params]
    W = dict(zip(("e1", "eb1", "e2", "eb2", "d1", "db1", "d2", "db2", "D1", "Db1", "D2", "Db2"), copies))
    f = lambda x: F.linear(torch.relu(F.linear(x, W["e1"], W["eb1"])), W["e2"], W["eb2"])
    g = lambda z: torch.sigmoid(F.linear(torch.relu(F.linear(z, W["d1"], W["db1"])), W["d2"], W["db2"]))
    D = lambda z: F.linear(torch.relu(F.linear(z, W["D1"], W["Db1"])), W["D2"], W["Db2"]).squeeze(-1)
    (x,) = CONTRACT.example_inputs(subject, case, rows)
    zq = 2.0 * case.randn(rows, k)
    w1, w2, w3 = case.randn(rows, d), case.randn(rows, k), case.randn(rows)
    with torch.no_grad():
        enc, dec, dis = model.encode(x), model.decode(zq), model.discriminate(zq)
    X, Z = f64(x), f64(zq)
    out += [case.close("encode(x) vs F.linear(relu(F.linear(x)))", enc, f(X).detach()),
            case.close("decode(z) vs sigmoid(F.linear(relu(F.linear(z))))", dec, g(Z).detach()),
            case.close("discriminate(z) vs F.linear(relu(F.linear(z)))", dis, D(Z).detach())]
    x_hat, z, logit = model(x)
    obj = (x_hat * w1).sum() + (z * w2).sum() + (logit * w3).sum()
    zr = f(X)
    ref_obj = (g(zr) * f64(w1)).sum() + (zr * f64(w2)).sum() + (D(zr) * f64(w3)).sum()
    g_ref = torch.autograd.grad(ref_obj, copies)
    g_got = torch.autograd.grad(obj, params, allow_unused=True) if obj.requires_grad else [None] * len(params)
    flat = lambda gs: torch.cat([(torch.zeros_like(r) if gi is None else f64(gi)).reshape(-1) for gi, r in zip(gs, g_ref)])
    out += [case.close("forward(x) = (g(f(x)), f(x), D(f(x))): x'", x_hat, g(zr).detach()),
            case.close("forward: z", z, zr.detach()),
            case.close("forward: logit", logit, D(zr).detach()),
            case.close("∂(Σ w₁x' + w₂z + w₃·logit)/∂θ vs the recomputation's autograd, every weight",
                       flat(g_got), flat(g_ref))]
    return all_of(out)
