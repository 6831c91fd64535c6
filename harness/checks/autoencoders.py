"""Checks for autoencoders (notes 002, 003), suite ``autoencoders``: dense (undercomplete,
overcomplete, deep, tied, sparse, denoising, contractive) and convolutional models from one
factory, ``kind`` selecting which.

Functional cores (``reconstruction_error``, the penalties, ``corrupt``) are shape-generic: their
checks draw test data of their own sizes (rows, features, hidden are check parameters). Checks of
a model take every size and architecture parameter from the subject's params
(:meth:`Subject.size`); see :data:`CONTRACT`. The training checks fit scikit-learn's 8x8 digits,
so they need ``in_features: 64``.

Also: masking noise ("some features are removed randomly", notes 003), the L1 and binary
cross-entropy reconstruction losses, the L2 (weight-decay) term of an overcomplete autoencoder (and
why it rules out the identity), and the unit-norm input that maximally activates a hidden unit.

Training checks: each regularised variant is trained next to a plain autoencoder (same init, same
batches, a squared error written here) and judged on held-out digits by quantities measured here, not
by the subject's loss: the contractive AE's encoder Jacobian (autograd) and reconstruction, the
masking-noise DAE's error on inputs masked here, the KL-sparse AE's mean activations.

Oracles: torch.nn built-ins with copied weights, torch.nn.functional, torch.distributions,
numpy, autograd (gradients, Jacobians), scikit-learn's PCA with scipy's subspace angles, binomial
standard errors, closed forms (Cauchy–Schwarz for the maximally activating input).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from harness.checks.vae import digits, digits_split, draws_only_from_generator, moments_within_se, z_score
from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, build_rejected, exact, f64, holds
from harness.registry import check

F64 = torch.float64
_ACT = {"linear": nn.Identity, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
CONV_IMAGE = (16, 16)  # (H, W) of the convolutional model's example inputs


def _inputs(subject, case, batch: int) -> tuple:
    """x uniform on [0, 1): (B, in_features) for a dense model, (B, in_channels, 16, 16) for a conv one."""
    if subject.size("kind") == "conv":
        return (case.rand(batch, subject.size("in_channels"), *CONV_IMAGE),)
    return (case.rand(batch, subject.size("in_features")),)


CONTRACT = load_contract("autoencoders", inputs=_inputs)


def _torch_twin(subject, model) -> nn.Sequential:
    """The network the subject's params describe, from torch.nn.Linear and activation modules, with
    the model's weights copied in."""
    hidden = tuple(subject.size("hidden"))
    act, out_act = subject.size("activation"), subject.size("output_activation")
    sizes = (subject.size("in_features"),) + hidden
    L = len(hidden)
    layers: list[nn.Module] = []
    for l in range(L):
        lin = nn.Linear(sizes[l], sizes[l + 1], dtype=F64)
        layers += [lin, _ACT[act]()]
    for j in range(L):
        lin = nn.Linear(sizes[L - j], sizes[L - 1 - j], dtype=F64)
        layers += [lin, _ACT[out_act if j == L - 1 else act]()]
    lins = [m for m in layers if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for l in range(L):
            lins[l].weight.copy_(f64(model.encoder_weight(l)))
            lins[l].bias.copy_(f64(model.b_enc[l]))
            lins[L + l].weight.copy_(f64(model.decoder_weight(l)))
            lins[L + l].bias.copy_(f64(model.b_dec[l]))
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------------------------
# architecture: layers, shapes, parameter counts, tied weights
# --------------------------------------------------------------------------------------------
@check("ae_forward_matches_torch_layers")
def ae_forward_matches_torch_layers(subject, case, rows: int = 16) -> Outcome:
    """The autoencoder equals the stack of torch.nn.Linear layers and activations it describes
    (d -> n₁ -> … -> k -> … -> d, encoder weights W_l and decoder weights as reported, biases copied):
    same code h = f(x) after the encoder half and same reconstruction x' = g(f(x))."""
    model = subject.build(case)
    L = len(subject.size("hidden"))
    (x,) = CONTRACT.example_inputs(subject, case, rows)
    twin = _torch_twin(subject, model)
    with torch.no_grad():
        h, x_hat = model.encode(x), model(x)
        xc = f64(x)
        h_want = twin[: 2 * L](xc)
        x_want = twin(xc)
    return all_of(
        case.close("code f(x) vs torch.nn.Linear stack (encoder half)", h, h_want),
        case.close("reconstruction g(f(x)) vs torch.nn.Linear stack", x_hat, x_want),
    )


@check("ae_code_and_output_shapes")
def ae_code_and_output_shapes(subject, case, rows: int = 5) -> Outcome:
    """The code has the configured size k = hidden[-1] (k < d undercomplete, k > d overcomplete) and the
    reconstruction has the input's shape: encode: (B, d) -> (B, k), forward: (B, d) -> (B, d)."""
    model = subject.build(case)
    d, k = subject.size("in_features"), subject.size("hidden")[-1]
    (x,) = CONTRACT.example_inputs(subject, case, rows)
    with torch.no_grad():
        h, y = model.encode(x), model(x)
    kind = "undercomplete" if k < d else "overcomplete" if k > d else "complete"
    return all_of(
        exact(f"code shape ({kind}, d={d}, k={k})", tuple(h.shape), (rows, k)),
        exact("reconstruction shape", tuple(y.shape), (rows, d)),
    )


@check("ae_parameter_count")
def ae_parameter_count(subject, case) -> Outcome:
    """The number of trainable scalars equals the closed form. Dense: Σ_l (n_l n_{l+1} + n_{l+1}) for the
    encoder plus Σ_l (n_l n_{l+1} + n_l) for the decoder, without the decoder's n_l n_{l+1} weights when
    tied. Convolutional: Σ_l (C_l C_{l+1} K² + C_{l+1}) + Σ_l (C_{l+1} C_l K² + C_l)."""
    model = subject.build(case)
    if subject.size("kind") == "conv":
        ks = subject.size("kernel_size")
        ch, k2 = (subject.size("in_channels"),) + tuple(subject.size("channels")), ks ** 2
        pairs = list(zip(ch[:-1], ch[1:]))
        want = sum(a * b * k2 + b for a, b in pairs) + sum(b * a * k2 + a for a, b in pairs)
        what = f"conv channels {ch}, kernel {ks}"
    else:
        tied = bool(subject.size("tied"))
        sizes = (subject.size("in_features"),) + tuple(subject.size("hidden"))
        pairs = list(zip(sizes[:-1], sizes[1:]))
        want = sum(a * b + b for a, b in pairs) + sum((0 if tied else a * b) + a for a, b in pairs)
        what = f"dense sizes {sizes}, tied={tied}"
    got = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return exact(f"trainable parameter count ({what})", got, want)


@check("ae_tied_weights_shared")
def ae_tied_weights_shared(subject, case) -> Outcome:
    """A tied decoder's weight IS the encoder's weight transposed: decoder_weight(j) = W_{L−1−j}ᵀ exactly,
    in the same storage (so an in-place change to W moves the decoder too), and the tied model holds
    half the weight-matrix entries of the same model untied (biases aside)."""
    model = subject.build(case, tied=True)
    untied = subject.build(case, tied=False)
    L = len(subject.size("hidden"))
    outs = []
    for j in range(L):
        W, D = model.encoder_weight(L - 1 - j), model.decoder_weight(j)
        outs.append(exact(f"decoder_weight({j}) vs encoder_weight({L - 1 - j})ᵀ", f64(D), f64(W).T))
        outs.append(holds(f"decoder_weight({j}) shares storage with encoder_weight({L - 1 - j})",
                          D.untyped_storage().data_ptr() == W.untyped_storage().data_ptr()))
        with torch.no_grad():
            W.add_(1.0)
        outs.append(exact(f"after W += 1 in place, decoder_weight({j}) vs new Wᵀ", f64(model.decoder_weight(j)), f64(W).T))
    n_tied = sum(p.numel() for p in model.parameters() if p.dim() >= 2)
    n_untied = sum(p.numel() for p in untied.parameters() if p.dim() >= 2)
    outs.append(exact("2 x weight entries (tied) vs weight entries (untied)", 2 * n_tied, n_untied))
    return all_of(outs)


@check("ae_tied_gradient_sums_both_uses", requires=("reconstruction_error",))
def ae_tied_gradient_sums_both_uses(subject, case, rows: int = 8) -> Outcome:
    """For a tied autoencoder, ∂L/∂W_l = ∂L/∂W_enc,l + (∂L/∂W_dec,L−1−l)ᵀ of the untied twin with
    W_dec = Wᵀ copied: the shared weight receives the gradient of both its uses (by autograd)."""
    tied = subject.build(case, tied=True)
    twin = subject.build(case, tied=False)
    L = len(subject.size("hidden"))
    with torch.no_grad():
        for l in range(L):
            twin.encoder_weight(l).copy_(tied.encoder_weight(l))
            twin.b_enc[l].copy_(tied.b_enc[l])
            twin.decoder_weight(l).copy_(tied.decoder_weight(l))
            twin.b_dec[l].copy_(tied.b_dec[l])
    (x,) = CONTRACT.example_inputs(subject, case, rows)
    rec = subject.fn("reconstruction_error")
    rec(x, tied(x)).mean().backward()
    rec(x, twin(x)).mean().backward()
    outs = []
    for l in range(L):
        want = f64(twin.encoder_weight(l).grad) + f64(twin.decoder_weight(L - 1 - l).grad).T
        outs.append(case.close(f"∂L/∂W_{l} (tied) vs encoder + decoderᵀ gradients of the untied twin",
                               tied.encoder_weight(l).grad, want))
    return all_of(outs)


@check("ae_conv_output_shape")
def ae_conv_output_shape(subject, case, sizes: list = (7, 8, 9, 13, 16, 28), rows: int = 2) -> Outcome:
    """A convolutional autoencoder's reconstruction has exactly the input's shape (B, C, H, W) for even and
    odd H, W (stride-2 convs round ⌈W/2⌉; the transposed convs must undo that), including H ≠ W."""
    model = subject.build(case)
    c = subject.size("in_channels")
    outs = []
    shapes = [(s, s) for s in sizes] + [(sizes[0], sizes[-1])]
    with torch.no_grad():
        for hgt, wid in shapes:
            y = model(case.rand(rows, c, hgt, wid))
            outs.append(exact(f"output shape for input {(rows, c, hgt, wid)}", tuple(y.shape), (rows, c, hgt, wid)))
    return all_of(outs)


# --------------------------------------------------------------------------------------------
# losses and penalties
# --------------------------------------------------------------------------------------------
@check("ae_reconstruction_error_matches_torch", requires=("reconstruction_error",))
def ae_reconstruction_error_matches_torch(subject, case, rows: int = 16, features: int = 64) -> Outcome:
    """L(x, x') = ‖x − x'‖² per sample equals torch.nn.functional.mse_loss(reduction='none') summed over
    features (for (B, d) and (B, C, H, W) inputs)."""
    from torch.nn import functional as F

    rec = subject.fn("reconstruction_error")
    x, y = case.randn(rows, features), case.randn(rows, features)
    xi, yi = case.rand(rows, 1, 8, 8), case.rand(rows, 1, 8, 8)
    return all_of(
        case.close("‖x − x'‖² vs F.mse_loss(reduction='none').sum(-1)", rec(x, y),
                   F.mse_loss(f64(y), f64(x), reduction="none").sum(-1)),
        case.close("‖x − x'‖² on images vs F.mse_loss summed over (C, H, W)", rec(xi, yi),
                   F.mse_loss(f64(yi), f64(xi), reduction="none").sum((1, 2, 3))),
    )


@check("ae_l1_activity_penalty", requires=("l1_activity_penalty",))
def ae_l1_activity_penalty(subject, case, rows: int = 16, hidden: int = 32, lam: float = 0.3) -> Outcome:
    """The sparse (L1) penalty is λ‖h‖₁ = λ Σ_j |h_j| per sample (torch.linalg.vector_norm, ord=1) and its
    gradient is λ sign(h) (autograd), on codes of both signs."""
    pen = subject.fn("l1_activity_penalty")
    h = case.randn(rows, hidden).requires_grad_(True)
    val = pen(h, lam)
    (grad,) = torch.autograd.grad(val.sum(), h)
    hc = f64(h)
    return all_of(
        case.close("λ‖h‖₁ vs λ·vector_norm(h, ord=1)", val, lam * torch.linalg.vector_norm(hc, ord=1, dim=-1)),
        case.close("∂(Σ_b λ‖h_b‖₁)/∂h vs λ sign(h)", grad, lam * torch.sign(hc)),
    )


@check("ae_kl_sparsity_penalty_closed_form", requires=("kl_sparsity_penalty",))
def ae_kl_sparsity_penalty_closed_form(subject, case, rows: int = 32, hidden: int = 16, rho: float = 0.05) -> Outcome:
    """The KL-ρ sparsity penalty Σ_j ρ log(ρ/ρ̂_j) + (1 − ρ) log((1 − ρ)/(1 − ρ̂_j)), ρ̂_j = mean_b h_bj, equals
    Σ_j torch.distributions.kl_divergence(Bernoulli(ρ), Bernoulli(ρ̂_j)) (and is > 0 when ρ̂ ≠ ρ),
    for several targets ρ."""
    from torch.distributions import Bernoulli, kl_divergence

    pen = subject.fn("kl_sparsity_penalty")
    h = torch.sigmoid(case.randn(rows, hidden) * 2.0)
    rho_hat = f64(h).mean(0)
    outs = []
    for r in (rho, 0.2, 0.5):
        want = kl_divergence(Bernoulli(probs=torch.full_like(rho_hat, r)), Bernoulli(probs=rho_hat)).sum()
        got = pen(h, r)
        outs.append(case.close(f"KL-ρ penalty vs Σ_j kl_divergence(Bernoulli(ρ), Bernoulli(ρ̂_j)), ρ={r}", got, want))
        outs.append(bound(f"KL-ρ penalty at ρ̂ ≠ ρ (ρ={r})", float(got), 0.0, op=">"))
    return all_of(outs)


@check("ae_kl_sparsity_zero_at_target", requires=("kl_sparsity_penalty",))
def ae_kl_sparsity_zero_at_target(subject, case, rows: int = 32, hidden: int = 16, rho: float = 0.1) -> Outcome:
    """The KL-ρ penalty vanishes, with zero gradient w.r.t. the code (autograd), exactly when every mean
    activation ρ̂_j = ρ: codes whose columns average to ρ give 0 and ∂Ω/∂h = 0."""
    pen = subject.fn("kl_sparsity_penalty")
    u = case.rand(rows, hidden) * 0.1
    h = (u - u.mean(0, keepdim=True) + rho).requires_grad_(True)  # column means exactly ρ (up to rounding)
    val = pen(h, rho)
    (grad,) = torch.autograd.grad(val, h)
    return all_of(
        case.close("KL-ρ penalty when every ρ̂_j = ρ", val, 0.0),
        case.close("∂Ω/∂h when every ρ̂_j = ρ", grad, torch.zeros(rows, hidden, dtype=F64)),
    )


@check("ae_contractive_penalty_matches_jacobian", requires=("contractive_penalty",))
def ae_contractive_penalty_matches_jacobian(subject, case, rows: int = 6) -> Outcome:
    """For a sigmoid encoder h = σ(Wx + b), the contractive penalty Σ_j (h_j(1 − h_j))² Σ_i W_ji² equals
    ‖∂h/∂x‖²_F computed by autograd (torch.autograd.functional.jacobian), sample by sample."""
    model = subject.build(case)
    (x,) = CONTRACT.example_inputs(subject, case, rows)
    with torch.no_grad():
        h = model.encode(x)
    got = subject.fn("contractive_penalty")(h, model.encoder_weight(0).detach())
    want = []
    for b in range(rows):
        J = torch.autograd.functional.jacobian(lambda v: model.encode(v.unsqueeze(0)).squeeze(0), x[b])
        want.append(float(f64(J).pow(2).sum()))
    return case.close("closed-form contractive penalty vs ‖J‖²_F by autograd", got, torch.tensor(want, dtype=F64),
                      detail=f"encoder {subject.size('in_features')} -> {subject.size('hidden')[-1]}, {subject.size('activation')}")


# --------------------------------------------------------------------------------------------
# denoising: the corruption process
# --------------------------------------------------------------------------------------------
@check("ae_corrupt_formula", requires=("corrupt",))
def ae_corrupt_formula(subject, case, rows: int = 16, features: int = 64, noise_factor: float = 0.2) -> Outcome:
    """With injected noise ε, corrupt(x, f, noise=ε) = numpy.clip(x + f·ε, 0, 1) (notes 002's recipe), lies in
    [0, 1], and with clip=False equals x + f·ε."""
    cor = subject.fn("corrupt")
    x, eps = case.rand(rows, features), case.randn(rows, features) * 3.0
    want = np.clip(f64(x).numpy() + noise_factor * f64(eps).numpy(), 0.0, 1.0)
    got = cor(x, noise_factor, noise=eps)
    return all_of(
        case.close("corrupt(x, f, noise=ε) vs np.clip(x + f ε, 0, 1)", got, torch.from_numpy(want)),
        holds("corrupted values lie in [0, 1]", bool(((got >= 0) & (got <= 1)).all())),
        case.close("corrupt(x, f, noise=ε, clip=False) vs x + f ε", cor(x, noise_factor, noise=eps, clip=False),
                   f64(x) + noise_factor * f64(eps)),
    )


@check("ae_corrupt_noise_moments", requires=("corrupt",), marks=("statistical",))
def ae_corrupt_noise_moments(subject, case, samples: int = 200_000, noise_factor: float = 0.2) -> Outcome:
    """The corruption noise is N(0, f²): without clipping, (x̃ − x)/f drawn with a seeded generator has sample
    mean within 5 s.e. of 0 and sample variance within 5 s.e. of 1 (s.e. √((m₄ − s⁴)/n)); two comparisons,
    two-sided false-alarm rate 5.7e-7 each."""
    x = case.rand(samples, 1)
    e = f64(subject.fn("corrupt")(x, noise_factor, generator=case.gen(), clip=False) - x).flatten() / noise_factor
    return all_of(moments_within_se(e, 0.0, 1.0, "mean of (x̃ − x)/f", "variance of (x̃ − x)/f"))


@check("ae_corrupt_uses_generator", requires=("corrupt",))
def ae_corrupt_uses_generator(subject, case, rows: int = 32, features: int = 64) -> Outcome:
    """Randomness enters only through the generator: equally seeded generators give identical corruptions,
    different seeds differ, and torch's global RNG state is left untouched."""
    cor = subject.fn("corrupt")
    x = case.rand(rows, features)
    return draws_only_from_generator(case, lambda g: cor(x, 0.3, generator=g), "corruption", "corrupt(generator=g)")


# --------------------------------------------------------------------------------------------
# training properties (bounded budgets on digits)
# --------------------------------------------------------------------------------------------
@check("ae_linear_spans_pca_subspace", requires=("reconstruction_error",), marks=("slow", "training"))
def ae_linear_spans_pca_subspace(subject, case, max_iter: int = 600, chunk: int = 50, excess_rtol: float = 1e-4) -> Outcome:
    """A linear autoencoder trained with MSE spans the principal subspace: on digits, once L-BFGS (at
    most ``max_iter`` iterations) brings its mean loss within relative ``excess_rtol`` of PCA's optimum
    Σ_{i>k} λ_i (scikit-learn PCA eigenvalues, population scaling), the decoder's column space is the top-k principal subspace, with
    principal angles (scipy.linalg.subspace_angles) at most arcsin √(excess/(λ_k − λ_{k+1})): for any
    k-dim U, loss ≥ tr C − tr P_U C ≥ PCA optimum + (λ_k − λ_{k+1}) Σ sin² θ_i."""
    from scipy.linalg import subspace_angles
    from sklearn.decomposition import PCA

    model = subject.build(case)
    k, L = subject.size("hidden")[-1], len(subject.size("hidden"))
    Xc = digits(subject)
    n = len(Xc)
    pca = PCA().fit(Xc.numpy())
    lam = pca.explained_variance_ * (n - 1) / n  # eigenvalues of the 1/n covariance
    optimum = float(lam[k:].sum())
    X = case.tensor(Xc)
    rec = subject.fn("reconstruction_error")
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=chunk, tolerance_grad=1e-12,
                            tolerance_change=1e-15, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = rec(X, model(X)).mean()
        loss.backward()
        return loss

    Xc64 = f64(X)
    used = 0
    while True:  # L-BFGS in chunks, until the MSE (measured here, not by the subject) reaches the target
        opt.step(closure)
        used += chunk
        with torch.no_grad():
            loss = float((Xc64 - f64(model(X))).pow(2).sum(-1).mean())
        if loss - optimum <= excess_rtol * optimum or used >= max_iter:
            break
    excess = loss - optimum
    D = f64(model.decoder_weight(L - 1)).numpy() if L == 1 else None
    if D is None:  # deep linear decoder: its column space is that of the product of its weights
        P = torch.eye(k, dtype=F64)
        for j in range(L):
            P = f64(model.decoder_weight(j)) @ P
        D = P.numpy()
    angles = subspace_angles(D, pca.components_[:k].T)
    theta_max = math.asin(min(1.0, math.sqrt(max(excess, 0.0) / (lam[k - 1] - lam[k]))))
    return all_of(
        bound("loss − PCA optimum (trained to the PCA optimum)", excess, excess_rtol * optimum, op="<=",
              source=f"excess_rtol {excess_rtol:g} x optimum {optimum:.6g}", detail=f"{used} of at most {max_iter} L-BFGS iterations"),
        bound("loss ≥ PCA optimum (PCA is optimal among rank-k maps)", loss, optimum * (1 - 1e-12), op=">="),
        bound("largest principal angle (rad) between decoder span and top-k PCA subspace", float(angles.max()),
              theta_max, op="<=", source="arcsin √(excess/(λ_k − λ_{k+1}))",
              detail=f"k={k}, λ_k={lam[k - 1]:.4g}, λ_k+1={lam[k]:.4g}, excess {excess:.3g}"),
    )


@check("ae_sparsity_rises_with_lambda", requires=("reconstruction_error", "l1_activity_penalty"),
       marks=("slow", "training"))
def ae_sparsity_rises_with_lambda(subject, case, lams: list = (0.0, 0.05), steps: int = 150, lr: float = 1e-2,
                                  batch: int = 128, train: int = 1200) -> Outcome:
    """Sparsity rises with the L1 weight λ: trained alike (same init, same batches, Adam) on digits with loss
    ‖x − x'‖² + λ‖h‖₁, the larger λ gives a smaller held-out mean |h| and a larger fraction of
    inactive code units (|h| < 1e-3)."""
    Xtr, Xte = digits_split(subject, case, train)
    batches = [torch.randint(0, train, (batch,), generator=case.generator).to(case.device) for _ in range(steps)]
    rec, pen = subject.fn("reconstruction_error"), subject.fn("l1_activity_penalty")
    stats = []
    for lam in lams:
        model = subject.build(case)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        for idx in batches:
            xb = Xtr[idx]
            opt.zero_grad()
            h = model.encode(xb)
            (rec(xb, model.decode(h)) + pen(h, lam)).mean().backward()
            opt.step()
        with torch.no_grad():
            h = f64(model.encode(Xte))
        stats.append((float(h.abs().mean()), float((h.abs() < 1e-3).double().mean())))
    outs = []
    for (l1, (m1, z1)), (l2, (m2, z2)) in zip(zip(lams, stats), zip(lams[1:], stats[1:])):
        outs.append(bound(f"mean |h| at λ={l2} (vs λ={l1}: {m1:.4g})", m2, m1, op="<"))
        outs.append(bound(f"fraction of |h| < 1e-3 at λ={l2} (vs λ={l1}: {z1:.4g})", z2, z1, op=">"))
    return all_of(outs)


@check("ae_denoising_beats_identity", requires=("reconstruction_error", "corrupt"), marks=("slow", "training"))
def ae_denoising_beats_identity(subject, case, noise_factor: float = 0.2, steps: int = 200, lr: float = 1e-2,
                                batch: int = 128, train: int = 1200) -> Outcome:
    """A denoising autoencoder trained briefly (Adam, fresh corruptions x̃ = clip(x + f ε, 0, 1) each step,
    target the clean x) reconstructs held-out clean digits from their corruptions better than the
    identity map: mean ‖x − g(f(x̃))‖² < mean ‖x − x̃‖², by more than 5 standard errors of the paired
    per-image difference (one-sided; a model no better than identity passes with probability < 3e-7)."""
    Xtr, Xte = digits_split(subject, case, train)
    model = subject.build(case)
    cor, rec = subject.fn("corrupt"), subject.fn("reconstruction_error")
    g = case.gen()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        idx = torch.randint(0, train, (batch,), generator=case.generator).to(case.device)
        xb = Xtr[idx]
        opt.zero_grad()
        rec(xb, model(cor(xb, noise_factor, generator=g))).mean().backward()
        opt.step()
    with torch.no_grad():
        noisy = cor(Xte, noise_factor, generator=g)
        e_model = f64(rec(Xte, model(noisy)))
    e_id = (f64(Xte) - f64(noisy)).pow(2).sum(-1)
    diff = e_id - e_model
    mean, se = float(diff.mean()), float(diff.std() / math.sqrt(len(diff)))
    return bound("held-out error reduction vs the identity map, in s.e.", z_score(mean, se), 5.0, op=">",
                 detail=f"identity {float(e_id.mean()):.4g}, DAE {float(e_model.mean()):.4g} per image "
                        f"(s.e. of difference {se:.3g}, n={len(diff)}), noise factor {noise_factor}, {steps} Adam steps")


def _batches(case, train: int, steps: int, batch: int) -> list[torch.Tensor]:
    """``steps`` minibatch index sets drawn from the case's generator, shared by the models a check compares."""
    return [torch.randint(0, train, (batch,), generator=case.generator).to(case.device) for _ in range(steps)]


def _fit(model, Xtr: torch.Tensor, batches: list, lr: float, loss) -> None:
    """Adam on ``loss(model, xb)`` (a scalar) over the given minibatches."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for idx in batches:
        opt.zero_grad()
        loss(model, Xtr[idx]).backward()
        opt.step()


def _plain_loss(model, xb: torch.Tensor) -> torch.Tensor:
    """The plain autoencoder's loss, written here (not the subject's): mean over the batch of ‖x − x'‖²."""
    return (xb - model(xb)).pow(2).sum(-1).mean()


def _mean_sq_error(model, X: torch.Tensor, inputs: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image ‖x − g(f(x̃))‖² in float64, measured here (x̃ = ``inputs``, default x). (B, d) -> (B,)."""
    with torch.no_grad():
        return (f64(X) - f64(model(X if inputs is None else inputs))).pow(2).sum(-1)


def _jacobian_sq_norms(model, X: torch.Tensor) -> torch.Tensor:
    """‖∂f(x)/∂x‖²_F of the encoder at each row of X by autograd (torch.autograd.functional.jacobian, one
    sample at a time, so no assumption on how the model treats a batch). (B, d) -> (B,) float64."""
    out = []
    for x in X:
        J = torch.autograd.functional.jacobian(lambda v: model.encode(v.unsqueeze(0)).squeeze(0), x)
        out.append(float(f64(J).pow(2).sum()))
    return torch.tensor(out, dtype=F64)


def _one_layer(subject, activation: str) -> Outcome | None:
    """None if the subject is a one-layer dense encoder with ``activation``, else the failed precondition."""
    hidden, act = list(subject.size("hidden")), subject.size("activation")
    if subject.size("kind") == "dense" and len(hidden) == 1 and act == activation:
        return None
    return holds(f"subject is a one-layer dense {activation} encoder (hidden [k], activation {activation})", False,
                 detail=f"kind {subject.size('kind')}, hidden {hidden}, activation {act}")


@check("ae_contractive_training_shrinks_jacobian", requires=("reconstruction_error", "contractive_penalty"),
       marks=("slow", "training"))
def ae_contractive_training_shrinks_jacobian(subject, case, lam: float = 0.3, steps: int = 150, lr: float = 1e-2,
                                             batch: int = 128, train: int = 1200, probe: int = 100,
                                             jac_ratio: float = 0.5, rec_factor: float = 1.25) -> Outcome:
    """Contractive training makes the code insensitive to the input at little cost in reconstruction (Rifai et
    al. 2011). Trained alike on digits (same init, same batches, Adam), a contractive AE (loss
    ‖x − x'‖² + λ‖J_f(x)‖²_F, the subject's error and penalty, J_f = ∂h/∂x) and a plain AE (loss ‖x − x'‖²
    written here) compare on held-out digits, everything measured here: the contractive model's mean
    ‖J_f(x)‖²_F (torch.autograd.functional.jacobian) is at most ``jac_ratio`` times the plain AE's, its mean
    ‖x − x'‖² at most ``rec_factor`` times the plain AE's, and its objective mean ‖x − x'‖² + λ‖J_f(x)‖²_F is
    lower after training than at initialisation."""
    pre = _one_layer(subject, "sigmoid")
    if pre is not None:
        return pre
    Xtr, Xte = digits_split(subject, case, train)
    Xp = Xte[:probe]
    batches = _batches(case, train, steps, batch)
    rec, pen = subject.fn("reconstruction_error"), subject.fn("contractive_penalty")

    def contractive_loss(model, xb):
        h = model.encode(xb)
        return (rec(xb, model.decode(h)) + lam * pen(h, model.encoder_weight(0))).mean()

    def objective(model) -> float:
        return float(_mean_sq_error(model, Xp).mean() + lam * _jacobian_sq_norms(model, Xp).mean())

    plain, cae = subject.build(case), subject.build(case)
    start = objective(cae)
    _fit(plain, Xtr, batches, lr, _plain_loss)
    _fit(cae, Xtr, batches, lr, contractive_loss)
    j_plain, j_cae = float(_jacobian_sq_norms(plain, Xp).mean()), float(_jacobian_sq_norms(cae, Xp).mean())
    r_plain, r_cae = float(_mean_sq_error(plain, Xte).mean()), float(_mean_sq_error(cae, Xte).mean())
    detail = f"λ={lam}, {steps} Adam steps; ‖J‖²_F on {len(Xp)} and ‖x − x'‖² on {len(Xte)} held-out digits"
    return all_of(
        bound("mean ‖J_f(x)‖²_F, contractive AE", j_cae, jac_ratio * j_plain, op="<=",
              source=f"{jac_ratio} x the plain AE's {j_plain:.4g}", detail=detail),
        bound("mean ‖x − x'‖², contractive AE", r_cae, rec_factor * r_plain, op="<=",
              source=f"{rec_factor} x the plain AE's {r_plain:.4g}", detail=detail),
        bound("contractive objective after training", objective(cae), start, op="<",
              source="its value at initialisation", detail=detail),
    )


@check("ae_masking_denoising_beats_plain", requires=("reconstruction_error", "mask_corrupt"), marks=("slow", "training"))
def ae_masking_denoising_beats_plain(subject, case, p: float = 0.5, steps: int = 150, lr: float = 1e-2,
                                     batch: int = 128, train: int = 1200) -> Outcome:
    """A denoising autoencoder trained with masking noise (notes 003: "some features are removed randomly";
    fresh x̃ = mask_corrupt(x, p) each step, target the clean x, the subject's error) restores held-out
    digits whose features are removed here (m_i ~ Bernoulli(1 − p), x̃ = m ⊙ x) better than both baselines:
    the identity map, and a plain AE trained alike (same init, same batches, Adam) on clean inputs with
    ‖x − x'‖² written here. Its mean ‖x − g(f(x̃))‖² (measured here) is lower than each baseline's by more
    than 5 standard errors of the paired per-image difference (one-sided; false alarm < 3e-7 each)."""
    Xtr, Xte = digits_split(subject, case, train)
    batches = _batches(case, train, steps, batch)
    cor, rec = subject.fn("mask_corrupt"), subject.fn("reconstruction_error")
    g = case.gen()
    plain, dae = subject.build(case), subject.build(case)
    _fit(plain, Xtr, batches, lr, _plain_loss)
    _fit(dae, Xtr, batches, lr, lambda model, xb: rec(xb, model(cor(xb, p, generator=g))).mean())
    masked = Xte * case.bernoulli(1.0 - p, *Xte.shape)
    e_dae = _mean_sq_error(dae, Xte, masked)
    outs = []
    for name, e_base in (("identity map", (f64(Xte) - f64(masked)).pow(2).sum(-1)),
                         ("plain AE trained on clean digits", _mean_sq_error(plain, Xte, masked))):
        diff = e_base - e_dae
        mean, se = float(diff.mean()), float(diff.std() / math.sqrt(len(diff)))
        outs.append(bound(f"held-out error reduction vs the {name}, in s.e.", z_score(mean, se), 5.0, op=">",
                          detail=f"{name} {float(e_base.mean()):.4g}, masking DAE {float(e_dae.mean()):.4g} per image "
                                 f"(s.e. of difference {se:.3g}, n={len(diff)}), p={p}, {steps} Adam steps"))
    return all_of(outs)


@check("ae_kl_sparsity_training_reaches_target", requires=("reconstruction_error", "kl_sparsity_penalty"),
       marks=("slow", "training"))
def ae_kl_sparsity_training_reaches_target(subject, case, rho: float = 0.05, beta: float = 1.0, steps: int = 150,
                                           lr: float = 1e-2, batch: int = 128, train: int = 1200,
                                           ratio: float = 0.25) -> Outcome:
    """Training with the KL-ρ sparsity penalty (Ng 2011) drives each hidden unit's mean activation towards ρ.
    Trained alike on digits (same init, same batches, Adam), a sparse AE (loss mean ‖x − x'‖² + β Σ_j
    KL(ρ ‖ ρ̂_j), the subject's error and penalty) and a plain AE (loss ‖x − x'‖² written here) compare
    on held-out digits, mean activations ρ̂_j measured here: the sparse model's mean_j |ρ̂_j − ρ| is at
    most ``ratio`` times the plain AE's, and its largest ρ̂_j is below the plain AE's."""
    pre = _one_layer(subject, "sigmoid")
    if pre is not None:
        return pre
    Xtr, Xte = digits_split(subject, case, train)
    batches = _batches(case, train, steps, batch)
    rec, pen = subject.fn("reconstruction_error"), subject.fn("kl_sparsity_penalty")

    def sparse_loss(model, xb):
        h = model.encode(xb)
        return rec(xb, model.decode(h)).mean() + beta * pen(h, rho)

    plain, sparse = subject.build(case), subject.build(case)
    _fit(plain, Xtr, batches, lr, _plain_loss)
    _fit(sparse, Xtr, batches, lr, sparse_loss)
    with torch.no_grad():
        rh_plain, rh_sparse = f64(plain.encode(Xte)).mean(0), f64(sparse.encode(Xte)).mean(0)
    d_plain, d_sparse = float((rh_plain - rho).abs().mean()), float((rh_sparse - rho).abs().mean())
    detail = f"ρ={rho}, β={beta}, {steps} Adam steps, {len(Xte)} held-out digits"
    return all_of(
        bound("mean_j |ρ̂_j − ρ|, KL-sparse AE", d_sparse, ratio * d_plain, op="<=",
              source=f"{ratio} x the plain AE's {d_plain:.4g}", detail=detail),
        bound("max_j ρ̂_j, KL-sparse AE", float(rh_sparse.max()), float(rh_plain.max()), op="<",
              source="the plain AE's", detail=detail),
    )


@check("ae_conv_training_beats_mean_image", requires=("reconstruction_error",), marks=("slow", "training"))
def ae_conv_training_beats_mean_image(subject, case, steps: int = 150, lr: float = 1e-2, batch: int = 128,
                                      train: int = 1200) -> Outcome:
    """A convolutional autoencoder trained briefly on digits as (1, 8, 8) images (Adam, the subject's error)
    reconstructs held-out digits better than the training set's mean image (the best constant prediction
    of the training digits under squared error): mean ‖x − x'‖² (measured here) is lower by more than 5 standard errors of the paired
    per-image difference (one-sided; false alarm < 3e-7)."""
    if subject.size("kind") != "conv" or subject.size("in_channels") != 1:
        return holds("subject is a convolutional autoencoder with in_channels 1", False,
                     detail=f"kind {subject.size('kind')}, in_channels {subject.size('in_channels')}")
    Xtr, Xte = digits_split(subject, case, train)  # (digits need in_features: 64 among the params)
    Xtr, Xte = Xtr.reshape(-1, 1, 8, 8), Xte.reshape(-1, 1, 8, 8)
    model = subject.build(case)
    rec = subject.fn("reconstruction_error")
    _fit(model, Xtr, _batches(case, train, steps, batch), lr, lambda m, xb: rec(xb, m(xb)).mean())
    with torch.no_grad():
        e_model = (f64(Xte) - f64(model(Xte))).pow(2).sum((1, 2, 3))
    e_mean = (f64(Xte) - f64(Xtr).mean(0)).pow(2).sum((1, 2, 3))
    diff = e_mean - e_model
    mean, se = float(diff.mean()), float(diff.std() / math.sqrt(len(diff)))
    return bound("held-out error reduction vs the training mean image, in s.e.", z_score(mean, se), 5.0, op=">",
                 detail=f"mean image {float(e_mean.mean()):.4g}, conv AE {float(e_model.mean()):.4g} per image "
                        f"(s.e. of difference {se:.3g}, n={len(diff)}), channels {subject.size('channels')}, {steps} Adam steps")


# --------------------------------------------------------------------------------------------
# masking noise ("some features are removed randomly", notes 003)
# --------------------------------------------------------------------------------------------
@check("ae_mask_corrupt_fraction", requires=("mask_corrupt",), marks=("statistical",))
def ae_mask_corrupt_fraction(subject, case, rows: int = 500, features: int = 400, p: float = 0.3) -> Outcome:
    """Masking noise removes each feature independently with probability p: on inputs bounded away
    from 0, the fraction of entries zeroed is within 5 s.e. (√(p(1 − p)/n), binomial) of p, overall
    and for p and 1 − p swapped; p = 0 removes nothing and p = 1 removes everything. Two-sided
    false-alarm rate 5.7e-7 per comparison."""
    from harness.outcome import within_se

    cor = subject.fn("mask_corrupt")
    x = case.rand(rows, features) + 0.5  # no zeros of its own
    n = rows * features
    outs = []
    for q in (p, 1.0 - p):
        frac = float(f64(cor(x, q, generator=case.gen(stream=int(q * 1000)))).eq(0).double().mean())
        outs.append(within_se(f"fraction of features removed at p={q:g}", frac, q, math.sqrt(q * (1 - q) / n), n))
    outs.append(exact("p = 0 removes nothing", f64(cor(x, 0.0, generator=case.gen())), f64(x)))
    outs.append(exact("p = 1 removes every feature", f64(cor(x, 1.0, generator=case.gen())), torch.zeros(rows, features, dtype=F64)))
    return all_of(outs)


@check("ae_mask_corrupt_keeps_survivors", requires=("mask_corrupt",))
def ae_mask_corrupt_keeps_survivors(subject, case, rows: int = 32, features: int = 64, p: float = 0.4) -> Outcome:
    """Features that survive masking are unchanged (no 1/(1 − p) rescaling): with an injected 0/1 mask m,
    mask_corrupt(x, p, keep=m) = numpy.where(m, x, 0) exactly; with a drawn mask every entry of x̃ is
    either exactly x_i or exactly 0, and some of each occur."""
    cor = subject.fn("mask_corrupt")
    x = case.rand(rows, features) + 0.5
    m = case.bernoulli(1.0 - p, rows, features)
    want = np.where(f64(m).numpy() > 0, f64(x).numpy(), 0.0)
    xt = f64(cor(x, p, generator=case.gen()))
    kept, removed = xt.eq(f64(x)), xt.eq(0)
    return all_of(
        exact("mask_corrupt(x, p, keep=m) vs numpy.where(m, x, 0)", f64(cor(x, p, keep=m)), torch.from_numpy(want)),
        holds("every drawn x̃_i is x_i or 0", bool((kept | removed).all()),
              detail=f"{int((~(kept | removed)).sum())} entries are neither"),
        holds("some features survive and some are removed", bool(kept.any()) and bool(removed.any())),
    )


@check("ae_mask_corrupt_uses_generator", requires=("mask_corrupt",))
def ae_mask_corrupt_uses_generator(subject, case, rows: int = 32, features: int = 64, p: float = 0.3) -> Outcome:
    """The mask is drawn only from the given generator: equally seeded generators give identical masked
    inputs, different seeds differ, and torch's global RNG state is left untouched."""
    cor = subject.fn("mask_corrupt")
    x = case.rand(rows, features) + 0.5
    return draws_only_from_generator(case, lambda g: cor(x, p, generator=g), "masked input", "mask_corrupt(generator=g)")


# --------------------------------------------------------------------------------------------
# L1 and binary cross-entropy reconstruction losses (notes 002, "How to train an autoencoder")
# --------------------------------------------------------------------------------------------
@check("ae_l1_reconstruction_matches_torch", requires=("l1_reconstruction_error",))
def ae_l1_reconstruction_matches_torch(subject, case, rows: int = 16, features: int = 64) -> Outcome:
    """The L1 reconstruction loss ‖x − x'‖₁ per sample equals torch.nn.functional.l1_loss(reduction='none')
    summed over non-batch axes (for (B, d) and (B, C, H, W) inputs), and its gradient with respect to
    x' is sign(x' − x) (autograd)."""
    from torch.nn import functional as F

    rec = subject.fn("l1_reconstruction_error")
    x, y = case.randn(rows, features), case.randn(rows, features).requires_grad_(True)
    xi, yi = case.rand(rows, 1, 8, 8), case.rand(rows, 1, 8, 8)
    val = rec(x, y)
    (g,) = torch.autograd.grad(val.sum(), y)
    return all_of(
        exact("shape of the per-sample L1 loss", tuple(val.shape), (rows,)),
        case.close("‖x − x'‖₁ vs F.l1_loss(reduction='none').sum(-1)", val, F.l1_loss(f64(y), f64(x), reduction="none").sum(-1)),
        case.close("‖x − x'‖₁ on images vs F.l1_loss summed over (C, H, W)", rec(xi, yi),
                   F.l1_loss(f64(yi), f64(xi), reduction="none").sum((1, 2, 3))),
        case.close("∂‖x − x'‖₁/∂x' (autograd) vs sign(x' − x)", g, torch.sign(f64(y) - f64(x))),
    )


@check("ae_bce_reconstruction_matches_torch", requires=("bce_reconstruction_error",))
def ae_bce_reconstruction_matches_torch(subject, case, rows: int = 16, features: int = 64) -> Outcome:
    """The binary cross-entropy reconstruction loss −Σ_i [x_i log x'_i + (1 − x_i) log(1 − x'_i)] per sample,
    for targets x in [0, 1] (not only 0/1) and x' in (0, 1), equals
    torch.nn.functional.binary_cross_entropy(reduction='none') summed over non-batch axes, its gradient
    with respect to x' is (x' − x)/(x'(1 − x')) (closed form), it is minimised over x' at x' = x (where
    the gradient vanishes), and x' = 0 or 1 gives torch's finite value (logs clamped at −100)."""
    from torch.nn import functional as F

    rec = subject.fn("bce_reconstruction_error")
    x = case.rand(rows, features)
    y = torch.sigmoid(case.randn(rows, features) * 2.0).requires_grad_(True)
    val = rec(x, y)
    (g,) = torch.autograd.grad(val.sum(), y)
    X, Y = f64(x), f64(y)
    xi, yi = case.rand(rows, 1, 8, 8), torch.sigmoid(case.randn(rows, 1, 8, 8))
    xe = case.bernoulli(0.5, 2, features)
    ye = case.bernoulli(0.5, 2, features)  # reconstructions exactly 0 or 1
    at_x = x.clone().clamp(1e-3, 1 - 1e-3).requires_grad_(True)
    (g_x,) = torch.autograd.grad(rec(at_x.detach(), at_x).sum(), at_x)
    return all_of(
        exact("shape of the per-sample BCE loss", tuple(val.shape), (rows,)),
        case.close("BCE vs F.binary_cross_entropy(reduction='none').sum(-1)", val,
                   F.binary_cross_entropy(Y, X, reduction="none").sum(-1)),
        case.close("BCE on images vs F.binary_cross_entropy summed over (C, H, W)", rec(xi, yi),
                   F.binary_cross_entropy(f64(yi), f64(xi), reduction="none").sum((1, 2, 3))),
        case.close("∂BCE/∂x' (autograd) vs (x' − x)/(x'(1 − x'))", g, (Y - X) / (Y * (1 - Y))),
        case.close("∂BCE/∂x' at x' = x", g_x, torch.zeros(rows, features, dtype=F64)),
        case.close("BCE at x' ∈ {0, 1} vs F.binary_cross_entropy (clamped logs)", rec(xe, ye),
                   F.binary_cross_entropy(f64(ye), f64(xe), reduction="none").sum(-1)),
    )


# --------------------------------------------------------------------------------------------
# overcomplete autoencoder with an L2 (weight-decay) term (notes 002)
# --------------------------------------------------------------------------------------------
def _weights(model) -> list:
    """The model's distinct weight matrices (parameters with ≥ 2 dims; a tied weight once)."""
    return [p for p in model.parameters() if p.dim() >= 2]


@check("ae_l2_weight_penalty", requires=("l2_weight_penalty",))
def ae_l2_weight_penalty(subject, case, lam: float = 0.01) -> Outcome:
    """The L2 (weight-decay) penalty of an autoencoder's weights is λ Σ_W ‖W‖²_F
    (torch.linalg.matrix_norm, Frobenius) and its gradient with respect to each weight is 2λW (autograd)."""
    model = subject.build(case)
    Ws = _weights(model)
    val = subject.fn("l2_weight_penalty")(Ws, lam)
    grads = torch.autograd.grad(val, Ws)
    want = lam * sum(float(torch.linalg.matrix_norm(f64(W), "fro") ** 2) for W in Ws)
    outs = [case.close(f"λ Σ‖W‖²_F over {len(Ws)} weight matrices vs torch.linalg.matrix_norm", val, want)]
    for i, (W, g) in enumerate(zip(Ws, grads)):
        outs.append(case.close(f"∂Ω/∂W (weight {i}, shape {tuple(W.shape)}) vs 2λW", g, 2 * lam * f64(W)))
    return all_of(outs)


@check("ae_l2_penalty_rules_out_identity", requires=("reconstruction_error", "l2_weight_penalty"))
def ae_l2_penalty_rules_out_identity(subject, case, lam: float = 0.01, rows: int = 64, eps: float = 1e-3) -> Outcome:
    """An overcomplete linear autoencoder (k ≥ d) can copy its input: W_enc = [I; 0], W_dec = [I 0], zero
    biases give zero reconstruction error. The L2 term stops this being a solution: there the penalty is
    λ·2d > 0 (closed form), the gradient of J = mean ‖x − x'‖² + λΣ‖W‖²_F is 2λW ≠ 0, and shrinking both
    weights by (1 − ε) strictly lowers J (so the identity is not a minimiser), while without the penalty
    it raises it."""
    d, hidden = subject.size("in_features"), list(subject.size("hidden"))
    if len(hidden) != 1 or hidden[0] < d or subject.size("activation") != "linear" or subject.size("output_activation") != "linear":
        return holds("subject is a one-layer overcomplete linear autoencoder (hidden [k], k ≥ d, linear)", False,
                     detail=f"hidden {hidden}, d {d}, activation {subject.size('activation')}")
    k = hidden[0]
    model = subject.build(case, tied=False)
    eye = torch.eye(k, d, dtype=case.dtype, device=case.device)
    with torch.no_grad():
        model.encoder_weight(0).copy_(eye)
        model.decoder_weight(0).copy_(eye.T)
        model.b_enc[0].zero_()
        model.b_dec[0].zero_()
    (x,) = CONTRACT.example_inputs(subject, case, rows)
    rec, pen = subject.fn("reconstruction_error"), subject.fn("l2_weight_penalty")
    Ws = _weights(model)

    def objective(with_penalty: bool = True):
        r = rec(x, model(x)).mean()
        return (r + pen(_weights(model), lam)) if with_penalty else r

    r0 = objective(False)
    p0 = pen(Ws, lam)
    J0 = r0 + p0
    grads = torch.autograd.grad(J0, Ws)
    W0 = [f64(W).clone() for W in Ws]
    with torch.no_grad():
        for W in Ws:
            W.mul_(1 - eps)
        J1, r1 = float(objective()), float(objective(False))
    return all_of(
        case.close("reconstruction error of the identity solution", r0, 0.0),
        case.close("L2 penalty of the identity solution vs λ·2d", p0, lam * 2 * d),
        bound("L2 penalty of the identity solution", float(p0.detach()), 0.0, op=">"),
        *[case.close(f"∂J/∂W at the identity (weight {i}) vs 2λW", g, 2 * lam * W)
          for i, (W, g) in enumerate(zip(W0, grads))],
        bound(f"J after shrinking the weights by 1 − ε (ε = {eps:g}) vs J at the identity", J1, float(J0.detach()), op="<"),
        bound("reconstruction error alone after shrinking vs at the identity", r1, float(r0.detach()), op=">"),
    )


# --------------------------------------------------------------------------------------------
# visualising autoencoders: the input that maximally activates a hidden unit (notes 002)
# --------------------------------------------------------------------------------------------
@check("ae_max_activating_input", requires=("max_activating_inputs",))
def ae_max_activating_input(subject, case, probes: int = 4096) -> Outcome:
    """Among unit-norm inputs, hidden unit j of a one-layer encoder h = a(Wx + b) (a increasing) is maximised
    by x*_j = w_j/‖w_j‖ (Cauchy–Schwarz): max_activating_inputs(W) equals the rows of W divided by their
    numpy.linalg.norm, each has norm 1, unit j reaches a(‖w_j‖ + b_j) there (closed form with torch.nn's
    activation), and no random unit-norm probe activates unit j more."""
    hidden = list(subject.size("hidden"))
    if len(hidden) != 1:
        return holds("subject has a one-layer encoder (hidden [k])", False, detail=f"hidden {hidden}")
    model = subject.build(case)
    W, b = model.encoder_weight(0).detach(), model.b_enc[0].detach()
    xs = subject.fn("max_activating_inputs")(W)
    Wn = f64(W).numpy()
    want = Wn / np.linalg.norm(Wn, axis=1, keepdims=True)
    k, d = W.shape
    act = _ACT[subject.size("activation")]()
    with torch.no_grad():
        h = f64(model.encode(xs))  # (k, k): row j is the code of x*_j
        u = case.randn(probes, d)
        u = u / torch.linalg.vector_norm(u, dim=1, keepdim=True)
        hp = f64(model.encode(u))  # (probes, k)
    diag = torch.diagonal(h)
    return all_of(
        exact("shape of max_activating_inputs(W)", tuple(xs.shape), (k, d)),
        case.close("max_activating_inputs(W) vs W_j / numpy.linalg.norm(W_j)", xs, torch.from_numpy(want)),
        case.close("‖x*_j‖₂", torch.linalg.vector_norm(f64(xs), dim=1), torch.ones(k, dtype=F64)),
        case.close("h_j(x*_j) vs a(‖w_j‖ + b_j)", diag, act(torch.from_numpy(np.linalg.norm(Wn, axis=1)) + f64(b))),
        bound(f"max over units of (best of {probes} random unit probes) − h_j(x*_j)",
              float((hp.max(0).values - diag).max()), 0.0, op="<="),
    )


# --------------------------------------------------------------------------------------------
# convolutional model vs torch.nn built-ins; invalid configurations
# --------------------------------------------------------------------------------------------
@check("ae_conv_matches_torch_layers")
def ae_conv_matches_torch_layers(subject, case, rows: int = 3, size: tuple = (9, 12)) -> Outcome:
    """The convolutional autoencoder equals the stack it describes, built from torch.nn.Conv2d(C_l,
    C_{l+1}, K, stride 2, padding (K − 1)/2) and nn.ConvTranspose2d(…, stride 2, padding (K − 1)/2,
    output_size = the encoder's input size) with its state_dict copied in (enc.l.*, dec.j.*; shapes
    checked against the config), activations after every layer (the output activation last), on
    an odd-by-even image: same reconstruction, and the same gradient of Σ w ⊙ x' with respect to
    every parameter (the twin's autograd on the copied weights)."""
    if subject.size("kind") != "conv":
        return holds("subject is a convolutional autoencoder", False, detail=f"kind {subject.size('kind')}")
    c0, chans, k = subject.size("in_channels"), tuple(subject.size("channels")), int(subject.size("kernel_size"))
    act, out_act = subject.size("activation"), subject.size("output_activation")
    ch = (c0,) + chans
    L, p = len(chans), (k - 1) // 2
    model = subject.build(case)
    sd = dict(model.named_parameters())
    want = {}
    for l in range(L):
        want[f"enc.{l}.weight"], want[f"enc.{l}.bias"] = (ch[l + 1], ch[l], k, k), (ch[l + 1],)
        want[f"dec.{l}.weight"], want[f"dec.{l}.bias"] = (ch[L - l], ch[L - 1 - l], k, k), (ch[L - 1 - l],)
    shapes = {n: tuple(t.shape) for n, t in sd.items()}
    out = [exact("parameter names and shapes vs the config", shapes, want)]
    if shapes != want:
        return all_of(out)
    enc = [nn.Conv2d(ch[l], ch[l + 1], k, stride=2, padding=p, dtype=F64) for l in range(L)]
    dec = [nn.ConvTranspose2d(ch[L - j], ch[L - 1 - j], k, stride=2, padding=p, dtype=F64) for j in range(L)]
    with torch.no_grad():
        for l in range(L):
            for m, pre in ((enc[l], f"enc.{l}"), (dec[l], f"dec.{l}")):
                m.weight.copy_(f64(sd[f"{pre}.weight"]))
                m.bias.copy_(f64(sd[f"{pre}.bias"]))
    x = case.rand(rows, c0, *size)
    w = case.randn(rows, c0, *size)
    y = f64(x)
    seen = []
    for l in range(L):
        seen.append(tuple(y.shape[-2:]))
        y = _ACT[act]()(enc[l](y))
    for j in range(L):
        y = dec[j](y, output_size=list(seen[L - 1 - j]))
        y = _ACT[out_act if j == L - 1 else act]()(y)
    got = model(x)
    names = list(sd)
    g_got = (torch.autograd.grad((got * w).sum(), [sd[n] for n in names], allow_unused=True)
             if got.requires_grad else [None] * len(names))
    twin = {f"enc.{l}.{a}": getattr(enc[l], a) for l in range(L) for a in ("weight", "bias")}
    twin.update({f"dec.{j}.{a}": getattr(dec[j], a) for j in range(L) for a in ("weight", "bias")})
    g_ref = torch.autograd.grad((y * f64(w)).sum(), [twin[n] for n in names])
    flat = lambda gs, ref: torch.cat([(torch.zeros_like(r) if g is None else f64(g)).reshape(-1) for g, r in zip(gs, ref)])
    return all_of(out + [
        case.close("reconstruction vs nn.Conv2d / nn.ConvTranspose2d stack", got, y.detach()),
        case.close("∂(Σ w ⊙ x')/∂θ vs the twin's autograd, every parameter", flat(g_got, g_ref), flat(g_ref, g_ref)),
    ])


@check("ae_config_rejects_invalid")
def ae_config_rejects_invalid(subject, case) -> Outcome:
    """Configurations that describe no network are rejected with ValueError: a dense model with a
    zero-width or negative-width layer or no layers at all, an unknown activation, and a conv model
    with an even kernel size (no symmetric padding (K − 1)/2); the suite's own params build."""

    subject.build(None)
    return all_of(
        holds("dense hidden = [16, 0] rejected", build_rejected(subject, kind="dense", hidden=[16, 0])),
        holds("dense hidden = [0] rejected", build_rejected(subject, kind="dense", hidden=[0])),
        holds("dense hidden = [-4] rejected", build_rejected(subject, kind="dense", hidden=[-4])),
        holds("dense hidden = [] rejected", build_rejected(subject, kind="dense", hidden=[])),
        holds("activation 'swish' rejected", build_rejected(subject, activation="swish")),
        holds("conv kernel_size = 4 rejected", build_rejected(subject, kind="conv", kernel_size=4)),
    )
