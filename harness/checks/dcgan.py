"""Checks for the deep convolutional GAN (suite ``dcgan``): the architecture guidelines of Radford
et al. (2016, §3), the transposed-convolution and convolution size formulas, the N(0, 0.02²)
initialisation and a short training run on scikit-learn's digits.

Oracles: forward hooks tracing each leaf layer's input and output shapes, torch's
``F.conv2d``/``F.conv_transpose2d`` output sizes, ``scipy.stats.kstest``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64, holds, p_value
from harness.registry import check

F64 = torch.float64


def _inputs(subject, case, batch: int) -> tuple:
    """Noise z (batch, latent_dim) ~ N(0, I)."""
    return (case.randn(batch, subject.size("latent_dim")),)


CONTRACT = load_contract("dcgan", inputs=_inputs)


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


@check()
def dcgan_generator_architecture(subject, case) -> Outcome:
    """The DCGAN generator takes latent_dim-d noise (the suite's latent_dim, 100 in the notes) through one linear
    projection reshaped to a 4-D feature map, upsamples only with strided transposed convolutions, each hidden one
    followed by BatchNorm2d and ReLU, the last followed directly by tanh (no BN), with no pooling, upsampling layers
    or further FC layers."""
    latent_dim = subject.size("latent_dim")
    model = subject.build(case)
    G = model.generator
    (z,) = CONTRACT.example_inputs(subject, case, 2)
    G.eval()
    try:
        trace = _leaf_trace(G, z)
    except RuntimeError as e:
        return holds(f"the generator accepts noise of shape (B, latent_dim = {latent_dim})", False, str(e).splitlines()[0])
    mods = [m for m, _, _ in trace]
    names = [type(m).__name__ for m in mods]
    convt = [i for i, m in enumerate(mods) if isinstance(m, nn.ConvTranspose2d)]
    first = mods[0] if mods else None
    hidden_ok = all(i + 2 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d) and isinstance(mods[i + 2], nn.ReLU)
                    for i in convt[:-1])
    acts = [m for m in mods if isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.ELU, nn.GELU))]
    return all_of(
        exact("model.latent_dim vs the latent_dim parameter", model.latent_dim, latent_dim),
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
    side = subject.size("image_size")
    x = case.rand(batch, subject.size("channels"), side, side) * 2 - 1
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
        case.close("D(x) vs σ(logit)", prob, torch.sigmoid(f64(logits))),
        holds("0 < D(x) < 1", bool((prob > 0).all() and (prob < 1).all())),
    )


@check()
def dcgan_output_shape_and_range(subject, case, batch: int = 6, scale: float = 50.0) -> Outcome:
    """The DCGAN generator maps (B, latent_dim) noise to (B, channels, image_size, image_size) images in [−1, 1]
    (tanh output), for any weights: also after every parameter is scaled ×50 and the noise ×50."""
    model = subject.build(case)
    model.eval()
    (z,) = CONTRACT.example_inputs(subject, case, batch)
    with torch.no_grad():
        x = model.generator(z)
        for prm in model.generator.parameters():
            prm.mul_(scale)
        x_big = model.generator(z * scale)
    lo, hi = float(torch.minimum(x.min(), x_big.min())), float(torch.maximum(x.max(), x_big.max()))
    side = subject.size("image_size")
    return all_of(
        exact("image shape", tuple(x.shape), (batch, subject.size("channels"), side, side)),
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
    model.eval()
    side = subject.size("image_size")
    tsize, csize = subject.fn("transposed_conv_output_size"), subject.fn("conv_output_size")
    (z,) = CONTRACT.example_inputs(subject, case, batch)
    g_trace = _leaf_trace(model.generator, z)
    x = case.randn(batch, subject.size("channels"), side, side)
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
        exact("final transposed-conv output side", last_g[-1][2] if last_g else None, side,
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


@check(requires=("transposed_conv_output_size", "conv_output_size"))
def dcgan_size_formulas_dilation_output_padding_match_torch(subject, case, max_w: int = 5, max_k: int = 4,
                                                           max_s: int = 3, max_d: int = 2) -> Outcome:
    """With dilation D and output padding A, transposed_conv_output_size(W, K, S, P, A, D) =
    (W − 1)S − 2P + D(K − 1) + A + 1 and conv_output_size(W, K, S, P, D) = ⌊(W + 2P − D(K − 1) − 1)/S⌋ + 1 equal the
    sides of torch's conv_transpose2d / conv2d outputs over a grid of W, K, S, P, D and every output padding
    torch allows (A < max(S, D))."""
    tsize, csize = subject.fn("transposed_conv_output_size"), subject.fn("conv_output_size")
    n, bad = 0, []
    for w in range(1, max_w + 1):
        x = torch.zeros(1, 1, w, w, dtype=case.dtype, device=case.device)
        for k in range(1, max_k + 1):
            wt = torch.zeros(1, 1, k, k, dtype=case.dtype, device=case.device)
            for s in range(1, max_s + 1):
                for p in range(0, k):
                    for d in range(1, max_d + 1):
                        for a in range(max(s, d)):
                            if (w - 1) * s - 2 * p + d * (k - 1) + a + 1 > 0:
                                n += 1
                                got = F.conv_transpose2d(x, wt, stride=s, padding=p, output_padding=a, dilation=d).shape[-1]
                                pred = tsize(w, k, s, p, output_padding=a, dilation=d)
                                if pred != got:
                                    bad.append(f"convT W={w} K={k} S={s} P={p} A={a} D={d}: {pred} vs torch {got}")
                        if w + 2 * p >= d * (k - 1) + 1:
                            n += 1
                            got = F.conv2d(x, wt, stride=s, padding=p, dilation=d).shape[-1]
                            pred = csize(w, k, s, p, dilation=d)
                            if pred != got:
                                bad.append(f"conv W={w} K={k} S={s} P={p} D={d}: {pred} vs torch {got}")
    return holds(f"size formulas agree with torch on {n} (W, K, S, P, A, D) cases", not bad,
                 f"{len(bad)} mismatches, first: {bad[:3]}" if bad else "all agree")


@check()
def dcgan_parameter_shapes_match_config(subject, case) -> Outcome:
    """The layer widths follow the configuration (Radford et al. 2016, Fig. 1, with ngf = ndf = features next to the
    image and n = log2(image_size/4) ×2 stages): the generator's projection is Linear(latent_dim, c0·4·4) with
    c0 = features·2^(n−1), each transposed convolution halves the channels (c -> c/2, 4×4 kernels) down to
    features, the last maps features -> channels, and each BatchNorm2d has the width of the layer before it; the
    discriminator's input convolution maps channels -> features, each further one doubles the channels and the
    output convolution maps features·2^(n−1) -> 1 over the 4×4 map. The weight shapes of the traced leaf layers,
    in execution order, are compared with this list written here from the sizes."""
    latent_dim, ch, side, f = (subject.size(k) for k in ("latent_dim", "channels", "image_size", "features"))
    n = round(math.log2(side / 4))
    c0 = f * 2 ** (n - 1)
    g_want, c = [("Linear", (c0 * 16, latent_dim)), ("BatchNorm2d", (c0,))], c0
    for _ in range(n - 1):
        g_want += [("ConvTranspose2d", (c, c // 2, 4, 4)), ("BatchNorm2d", (c // 2,))]
        c //= 2
    g_want.append(("ConvTranspose2d", (f, ch, 4, 4)))
    d_want, c = [("Conv2d", (f, ch, 4, 4))], f
    for _ in range(n - 1):
        d_want += [("Conv2d", (2 * c, c, 4, 4)), ("BatchNorm2d", (2 * c,))]
        c *= 2
    d_want.append(("Conv2d", (1, c, 4, 4)))
    model = subject.build(case)
    model.eval()
    (z,) = CONTRACT.example_inputs(subject, case, 2)
    x = case.randn(2, ch, side, side)

    def weights(trace):
        return [(type(m).__name__, tuple(m.weight.shape)) for m, _, _ in trace if getattr(m, "weight", None) is not None]

    return all_of(
        exact("generator: (layer, weight shape) in execution order", weights(_leaf_trace(model.generator, z)), g_want,
              detail=f"n = {n} stages, c0 = {c0}"),
        exact("discriminator: (layer, weight shape) in execution order", weights(_leaf_trace(model.discriminator, x)),
              d_want, detail=f"n = {n} stages"),
    )


@check()
def dcgan_probability_gradient(subject, case, batch: int = 4) -> Outcome:
    """The discriminator's output probability D(x) = σ(l(x)) is differentiable through the sigmoid: its gradient with
    respect to the image is σ(l)(1 − σ(l))·∂l/∂x (the chain rule with σ' written here, applied to autograd's
    gradient of the logits), so D can be trained through its probability output (e.g. with BCELoss)."""
    model = subject.build(case)
    model.eval()
    D = model.discriminator
    side = subject.size("image_size")
    x = (case.rand(batch, subject.size("channels"), side, side) * 2 - 1).requires_grad_(True)
    prob = D.probability(x) if hasattr(D, "probability") else torch.sigmoid(D(x))
    (g_p,) = torch.autograd.grad(prob.sum(), x) if prob.requires_grad else (torch.zeros_like(x),)
    logits = D(x)
    sig = torch.sigmoid(f64(logits.detach()))
    weight = (sig * (1 - sig)).to(logits.dtype)
    (g_l,) = torch.autograd.grad((weight * logits).sum(), x)
    return case.close("∂D(x)/∂x vs σ(l)(1 − σ(l))·∂l/∂x", g_p, g_l)


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
    w = torch.cat([f64(m.weight).flatten() for m in model.modules()
                   if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))])
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d))]
    g = torch.cat([f64(m.weight).flatten() for m in bns]) if bns else torch.ones(0, dtype=F64)
    b = torch.cat([f64(m.bias).flatten() for m in bns]) if bns else torch.zeros(0, dtype=F64)
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
    side, channels = subject.size("image_size"), subject.size("channels")
    imgs = torch.as_tensor(load_digits().images, dtype=F64) / 8.0 - 1.0       # (1797, 8, 8) in [−1, 1]
    pad = (side - 8) // 2
    imgs = F.pad(imgs, (pad, side - 8 - pad) * 2, value=-1.0).unsqueeze(1)
    imgs = imgs.expand(-1, channels, -1, -1).to(device=case.device, dtype=case.dtype)
    idx = torch.randperm(imgs.shape[0], generator=case.generator)
    eval_real, pool = imgs[idx[:eval_n]], imgs[idx[eval_n:]]
    (z_eval,) = CONTRACT.example_inputs(subject, case, eval_n)

    def per_sample():
        with torch.no_grad():
            real = -F.logsigmoid(model.discriminator(eval_real))
            fake = -F.logsigmoid(-model.discriminator(model.generator(z_eval)))
        return f64(real + fake)

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
