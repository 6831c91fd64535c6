"""Checks for image-to-image models (notes 004), suite ``image2image``: the Gram-matrix style
statistic and style loss of neural style transfer, the PatchGAN discriminator's receptive field
and output size, pix2pix's generator objective, the inpainting losses, and StyleGAN-style mixing.

The functional cores take test data of the checks' own sizes (check parameters); the models take
every size from the subject's params (:meth:`Subject.size`, see :data:`CONTRACT`); the family's
factory builds a pix2pix model (``kind: pix2pix``) or a style-mixing generator (``kind: stylegan``).

Oracles: einsum and ``torch.linalg.eigvalsh`` in float64, autograd (of closed forms computed here,
and the support of an input gradient for the receptive field), ``torch.nn.Conv2d`` output shapes,
torch's BCE-with-logits, and a layer-by-layer synthesis that feeds each layer its code explicitly.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64, holds
from harness.registry import check

F64 = torch.float64


def _inputs(subject, case, batch: int) -> tuple:
    """pix2pix: x (B, in_channels, S, S) and y (B, out_channels, S, S) in [−1, 1), S = image_size;
    stylegan: codes w1, w2 (B, w_dim) ~ N(0, I)."""
    if subject.size("kind") == "stylegan":
        d = subject.size("w_dim")
        return case.randn(batch, d), case.randn(batch, d)
    s = subject.size("image_size")
    return (case.rand(batch, subject.size("in_channels"), s, s) * 2 - 1,
            case.rand(batch, subject.size("out_channels"), s, s) * 2 - 1)


CONTRACT = load_contract("image2image", inputs=_inputs)


def _grad(value: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """∂value/∂x by autograd; zeros where value does not depend on x (a detached implementation)."""
    if not value.requires_grad:
        return torch.zeros_like(x)
    (g,) = torch.autograd.grad(value, x, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def _within_sum_rounding(statement: str, a: torch.Tensor, b: torch.Tensor, f: torch.Tensor, case) -> Outcome:
    """|a − b| ≤ 2·N·ε·(|F| |F|ᵀ)/(C·H·W) elementwise (N = H·W, ε of the case's dtype): two Gram matrices
    that differ only in the order of the N products summed per entry agree within that bound."""
    b_, c, h, w = f.shape
    n = h * w
    af = f64(f).abs().flatten(2)
    scale = af @ af.transpose(1, 2) / (c * n)
    eps = float(torch.finfo(case.dtype).eps)
    ratio = float(((f64(a) - f64(b)).abs() / (2 * n * eps * scale).clamp(min=1e-300)).max())
    return bound(statement + " over its rounding bound 2·N·ε·(|F||F|ᵀ)/(C·H·W)", ratio, 1.0,
                 source="a sum of N = H·W products in another order")


# ---------------------------------------------------------------------------------------------
# neural style transfer
# ---------------------------------------------------------------------------------------------
def _gram64(f: torch.Tensor) -> torch.Tensor:
    b, c, h, w = f.shape
    return torch.einsum("bchw,bdhw->bcd", f64(f), f64(f)) / (c * h * w)


@check("style_gram_matches_einsum", requires=("gram_matrix",))
def style_gram_matches_einsum(subject, case, batch: int = 3, channels: int = 5, height: int = 4, width: int = 6) -> Outcome:
    """The Gram matrix of features F (B, C, H, W) is G_cd = Σ_hw F_chw F_dhw / (C·H·W): shape (B, C, C),
    equal to the float64 einsum oracle (H ≠ W and C ≠ H·W, so a wrong axis or normalisation shows)."""
    f = case.randn(batch, channels, height, width)
    g = subject.fn("gram_matrix")(f)
    return all_of(
        exact("shape of gram_matrix((B, C, H, W))", tuple(g.shape), (batch, channels, channels)),
        case.close("gram_matrix vs einsum('bchw,bdhw->bcd') / (C·H·W)", g, _gram64(f)),
    )


@check("style_gram_symmetric_psd", requires=("gram_matrix",))
def style_gram_symmetric_psd(subject, case, batch: int = 4, channels: int = 6, height: int = 3, width: int = 5) -> Outcome:
    """A Gram matrix is symmetric and positive semi-definite: G = Gᵀ (within 2·N·ε·(|F||F|ᵀ)/(C·H·W), the
    rounding of N = H·W products summed in another order), and every eigenvalue of G (by
    torch.linalg.eigvalsh in float64) is ≥ −tol, tol = 100·ε·‖G‖_max; with fewer positions than
    channels (H·W = 4 < C) it is singular, so its smallest eigenvalue is 0 within the same tol."""
    gram = subject.fn("gram_matrix")
    f = case.randn(batch, channels, height, width)
    g = f64(gram(f))
    low = f64(gram(case.randn(batch, channels, 2, 2)))
    eps = float(torch.finfo(case.dtype).eps)
    outs = [_within_sum_rounding("max |G − Gᵀ|", g, g.transpose(1, 2), f, case)]
    for name, m in (("G", g), ("G of a map with H·W < C", low)):
        tol = 100 * eps * float(m.abs().max())
        ev = torch.linalg.eigvalsh((m + m.transpose(1, 2)) / 2)
        outs.append(bound(f"smallest eigenvalue of {name}", float(ev.min()), -tol, op=">=",
                          source=f"−100·ε·max|G| = {-tol:.3g}"))
    ev_low = torch.linalg.eigvalsh((low + low.transpose(1, 2)) / 2)
    outs.append(bound("|smallest eigenvalue| of the rank-deficient G", float(ev_low[:, 0].abs().max()),
                      100 * eps * float(low.abs().max()), source="100·ε·max|G| (rank ≤ H·W = 4 < C)"))
    return all_of(outs)


@check("style_gram_spatial_permutation_invariant", requires=("gram_matrix",))
def style_gram_spatial_permutation_invariant(subject, case, batch: int = 2, channels: int = 4, height: int = 5,
                                             width: int = 5) -> Outcome:
    """The style statistic ignores layout: permuting the H·W spatial positions of the feature map (the same
    random permutation for every channel) leaves the Gram matrix unchanged, within rounding (a sum reordered)."""
    gram = subject.fn("gram_matrix")
    f = case.randn(batch, channels, height, width)
    perm = torch.randperm(height * width, generator=case.generator).to(case.device)
    fp = f.flatten(2)[:, :, perm].reshape(f.shape)
    n = height * width
    return all_of(
        holds("the permutation moves positions", not torch.equal(perm.cpu(), torch.arange(n))),
        _within_sum_rounding("max |G(F with positions permuted) − G(F)|", gram(fp), gram(f), f, case),
    )


@check("style_loss_zero_on_itself", requires=("style_loss",))
def style_loss_zero_on_itself(subject, case, batch: int = 2, channels: int = 4, height: int = 5, width: int = 3) -> Outcome:
    """The style loss of a feature map against itself is 0 (exactly: the two Gram matrices are computed
    alike), and so is its gradient; against another map it is positive."""
    loss = subject.fn("style_loss")
    f = case.randn(batch, channels, height, width)
    fr = f.clone().requires_grad_(True)
    v = loss(fr, f)
    g = _grad(v, fr)
    other = loss(f, case.randn(batch, channels, height, width))
    return all_of(
        exact("style_loss(F, F)", float(v.detach()), 0.0),
        exact("∇_F style_loss(F, S) at S = F", f64(g), torch.zeros(f.shape, dtype=F64)),
        bound("style_loss(F, S) for another S", float(other), 0.0, op=">"),
    )


@check("style_loss_gradient_closed_form", requires=("style_loss",))
def style_loss_gradient_closed_form(subject, case, batch: int = 2, channels: int = 4, height: int = 3,
                                    width: int = 5) -> Outcome:
    """The style loss is E = 1/(4 C² N²) Σ_ij (G − A)²_ij with G = F Fᵀ, A = S Sᵀ (N = H·W), averaged over
    the batch (Gatys et al. 2016, eq. 4): its value equals that closed form (float64 einsum), and its
    autograd gradient equals both autograd of the closed form and Gatys' eq. 6,
    ∂E/∂F = (G − A) F / (C² N²) (divided by the batch size for the batch mean)."""
    loss = subject.fn("style_loss")
    f, s = case.randn(batch, channels, height, width), case.randn(batch, channels, height, width)
    fr = f.clone().requires_grad_(True)
    v = loss(fr, s)
    g = _grad(v, fr)
    n = height * width
    f64r = f64(f).requires_grad_(True)
    G = torch.einsum("bchw,bdhw->bcd", f64r, f64r)
    A = torch.einsum("bchw,bdhw->bcd", f64(s), f64(s))
    want = ((G - A) ** 2).sum(dim=(1, 2)).mean() / (4 * channels ** 2 * n ** 2)
    (g_want,) = torch.autograd.grad(want, f64r)
    eq6 = torch.einsum("bcd,bdn->bcn", (G - A).detach(), f64(f).flatten(2)).reshape(f.shape) / (channels ** 2 * n ** 2 * batch)
    return all_of(
        case.close("style_loss vs 1/(4C²N²) Σ (G − A)² (batch mean)", v, want.detach()),
        case.close("∇_F style_loss vs autograd of the closed form", g, g_want),
        case.close("∇_F style_loss vs Gatys eq. 6, (G − A) F / (C² N² B)", g, eq6),
    )


# ---------------------------------------------------------------------------------------------
# PatchGAN: receptive field and output size
# ---------------------------------------------------------------------------------------------
def _support(grad: torch.Tensor) -> tuple[list[int], list[int]]:
    nz = grad.abs().sum(dim=(0, 1)) != 0
    rows = torch.nonzero(nz.any(1)).flatten().tolist()
    cols = torch.nonzero(nz.any(0)).flatten().tolist()
    return rows, cols


@check("patchgan_receptive_field_matches_autograd", requires=("receptive_field",))
def patchgan_receptive_field_matches_autograd(subject, case, size: int = 96) -> Outcome:
    """The receptive field of one PatchGAN logit, computed recursively from the discriminator's kernel
    sizes and strides (r_l = r_{l−1} + (k_l − 1)·Π_{m<l} s_m), is the set of input pixels with a non-zero
    gradient for that logit (autograd, D in eval mode on a size×size input): a full square of side r,
    starting at i·J − P for output unit i, where J = Π s_l is the jump and P = Σ_l p_l·Π_{m<l} s_m the
    accumulated padding. The unit nearest the centre is used, and its support must not touch the border
    (else the input is too small to see the whole field)."""
    model = subject.build(case).eval()
    specs = [tuple(int(v) for v in s) for s in model.layer_specs()]
    r = int(subject.fn("receptive_field")(specs))
    x = case.randn(1, subject.size("in_channels"), size, size).requires_grad_(True)
    y = case.randn(1, subject.size("out_channels"), size, size).requires_grad_(True)
    out = model.D(x, y)
    hh, ww = out.shape[-2:]
    i, j = hh // 2, ww // 2
    gx, gy = torch.autograd.grad(out[0, 0, i, j], (x, y))
    grad = torch.cat([f64(gx), f64(gy)], dim=1)
    rows, cols = _support(grad)
    jump, pad = 1, 0
    for k, s, p in specs:
        pad += p * jump
        jump *= s
    inside = bool(rows) and bool(cols) and rows[0] > 0 and cols[0] > 0 and rows[-1] < size - 1 and cols[-1] < size - 1
    box = grad.abs().sum(dim=(0, 1))[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] if rows and cols else torch.zeros(0)
    return all_of(
        holds("the gradient support lies inside the input", inside,
              f"rows {rows[:1]}..{rows[-1:]}, cols {cols[:1]}..{cols[-1:]} of {size}"),
        exact("receptive_field(specs) vs the height of the gradient support", r, len(rows),
              f"specs {specs}, unit ({i}, {j})"),
        exact("receptive_field(specs) vs the width of the gradient support", r, len(cols)),
        holds("every pixel of the support's bounding box has a non-zero gradient", bool(box.numel()) and bool((box != 0).all())),
        exact("first row and column of the support", (rows[0], cols[0]), (i * jump - pad, j * jump - pad),
              f"jump {jump}, accumulated padding {pad}"),
    )


@check("patchgan_output_size_formula", requires=("conv_output_size",))
def patchgan_output_size_formula(subject, case, offsets: tuple = (0, 3, 8, 17)) -> Outcome:
    """conv_output_size(n, k, s, p) = ⌊(n + 2p − k)/s⌋ + 1 equals the output size of torch.nn.Conv2d on a
    grid of (n, k, s, p), and the PatchGAN's logit map for an n×n input (n = image_size + each of
    ``offsets``, odd sizes included) has the size given by that formula iterated over its layers: (B, 1, n_L, n_L)."""
    cos = subject.fn("conv_output_size")
    grid = [(n, k, s, p) for n in (7, 8, 13) for k in (1, 3, 4) for s in (1, 2, 3) for p in (0, 1, 2)]
    got, want = [], []
    for n, k, s, p in grid:
        got.append(int(cos(n, k, s, p)))
        conv = torch.nn.Conv2d(1, 1, k, stride=s, padding=p)
        with torch.no_grad():
            want.append(int(conv(torch.zeros(1, 1, n, n)).shape[-1]))
    model = subject.build(case).eval()
    specs = [tuple(int(v) for v in sp) for sp in model.layer_specs()]
    outs = [exact("conv_output_size vs torch.nn.Conv2d on a grid of (n, k, s, p)", got, want, f"{len(grid)} cases")]
    b = 2
    for n in (subject.size("image_size") + o for o in offsets):
        m = n
        for k, s, p in specs:
            m = (m + 2 * p - k) // s + 1
        x = case.randn(b, subject.size("in_channels"), n, n)
        y = case.randn(b, subject.size("out_channels"), n, n)
        with torch.no_grad():
            shape = tuple(model.D(x, y).shape)
        outs.append(exact(f"D logit map for a {n}x{n} input vs ⌊(n + 2p − k)/s⌋ + 1 over {specs}", shape, (b, 1, m, m)))
    return all_of(outs)


# ---------------------------------------------------------------------------------------------
# pix2pix generator objective
# ---------------------------------------------------------------------------------------------
def _pix2pix_setup(subject, case, batch: int):
    model = subject.build(case).eval()
    x, y = CONTRACT.example_inputs(subject, case, batch)
    with torch.no_grad():
        fake = model.G(x)
    return model, x, y, fake


@check("pix2pix_generator_objective_closed_form", requires=("pix2pix_generator_loss",))
def pix2pix_generator_objective_closed_form(subject, case, batch: int = 3, lam: float = 100.0) -> Outcome:
    """pix2pix's generator objective L_cGAN(G, D) + λ·L_L1(G) equals −mean log σ(D(x, G(x))) (torch's
    BCE-with-logits against 1 over the patch logits) plus λ times mean|G(x) − y| computed here in float64,
    for λ = ``lam`` and λ = 0 (the GAN term alone)."""
    model, x, y, fake = _pix2pix_setup(subject, case, batch)
    loss = subject.fn("pix2pix_generator_loss")
    with torch.no_grad():
        total, adv_only = loss(model.D, x, fake, y, lam), loss(model.D, x, fake, y, 0.0)
        logits = f64(model.D(x, fake))
    adv = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    l1 = (f64(fake) - f64(y)).abs().mean()
    return all_of(
        case.close("generator loss at λ = 0 vs BCE(D(x, G(x)), 1)", adv_only, adv),
        case.close(f"generator loss at λ = {lam:g} vs BCE + λ·mean|G(x) − y|", total, adv + lam * l1),
    )


@check("pix2pix_generator_gradient_is_sum_of_terms", requires=("pix2pix_generator_loss",))
def pix2pix_generator_gradient_is_sum_of_terms(subject, case, batch: int = 3, lam: float = 100.0) -> Outcome:
    """The gradient of the generator objective with respect to the generator's output G(x) is the sum of
    the two terms' gradients: autograd of BCE(D(x, ŷ), 1) through the discriminator, plus the L1 term's
    closed form λ·sign(ŷ − y)/numel(y)."""
    model, x, y, fake = _pix2pix_setup(subject, case, batch)
    loss = subject.fn("pix2pix_generator_loss")
    fr = fake.clone().requires_grad_(True)
    g = _grad(loss(model.D, x, fr, y, lam), fr)
    fa = fake.clone().requires_grad_(True)
    logits = model.D(x, fa)
    (g_adv,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)), fa)
    g_l1 = lam * torch.sign(f64(fake) - f64(y)) / y.numel()
    return case.close("∂L/∂G(x) vs ∂L_cGAN/∂G(x) (autograd) + λ·sign(G(x) − y)/n", g, f64(g_adv) + g_l1)


# ---------------------------------------------------------------------------------------------
# inpainting
# ---------------------------------------------------------------------------------------------
def _inpaint_data(case, batch: int, channels: int, size: int):
    x, pred = case.rand(batch, channels, size, size), case.rand(batch, channels, size, size)
    mask = torch.zeros(batch, 1, size, size, dtype=F64)
    lo, hi = size // 4, size // 4 + size // 2
    mask[:, :, lo:hi, lo + 1:hi] = 1.0  # a central rectangle: the missing region
    return x, pred, case.tensor(mask)


@check("inpainting_masked_l2_ignores_known_pixels", requires=("masked_l2",))
def inpainting_masked_l2_ignores_known_pixels(subject, case, batch: int = 3, channels: int = 2, size: int = 8) -> Outcome:
    """The inpainting reconstruction loss looks at the masked (missing) region only: changing the
    prediction and the target at the known pixels (mask 0) leaves it unchanged, its gradient with respect
    to the prediction is exactly 0 there, and changing one pixel inside the mask changes it."""
    l2 = subject.fn("masked_l2")
    x, pred, mask = _inpaint_data(case, batch, channels, size)
    known = (1 - mask).expand_as(x)
    x2 = x + known * case.randn(*x.shape)
    pred2 = pred + known * case.randn(*x.shape)
    base = l2(pred, x, mask)
    pr = pred.clone().requires_grad_(True)
    g = _grad(l2(pr, x, mask), pr)
    inside = pred.clone()
    lo = size // 4
    inside[0, 0, lo, lo + 1] += 1.0
    return all_of(
        case.close("loss after the known pixels of prediction and target changed vs before", l2(pred2, x2, mask), base),
        exact("∂loss/∂prediction at the known pixels", f64(g)[known.bool()], torch.zeros(int(known.sum()), dtype=F64)),
        holds("changing a masked pixel changes the loss", float(l2(inside, x, mask)) != float(base)),
    )


@check("inpainting_masked_l2_closed_form", requires=("masked_l2",))
def inpainting_masked_l2_closed_form(subject, case, batch: int = 3, channels: int = 2, size: int = 8) -> Outcome:
    """The masked reconstruction loss is ‖M ⊙ (x − x̂)‖²₂ summed over channels and pixels and averaged over
    the batch (Pathak et al. 2016, eq. 1; M (B, 1, H, W) broadcast over channels, 1 on the missing region),
    computed here in float64."""
    x, pred, mask = _inpaint_data(case, batch, channels, size)
    got = subject.fn("masked_l2")(pred, x, mask)
    want = (f64(mask) * (f64(x) - f64(pred))).pow(2).sum(dim=(1, 2, 3)).mean()
    return case.close("masked_l2 vs Σ M(x − x̂)² / B", got, want)


@check("inpainting_joint_loss_closed_form", requires=("inpainting_loss", "masked_l2"))
def inpainting_joint_loss_closed_form(subject, case, batch: int = 3, channels: int = 2, size: int = 8,
                                      lam_rec: float = 0.999, lam_adv: float = 0.001) -> Outcome:
    """The joint inpainting loss is λ_rec·L_rec + λ_adv·L_adv, with L_rec the masked L2 and L_adv the
    conditional GAN term −mean log σ(D((1 − M) ⊙ x, M ⊙ x̂ + (1 − M) ⊙ x)): the discriminator sees the
    known context and the completed image, whose known pixels are x's own. Checked against torch's
    BCE-with-logits with a discriminator built here (a fixed random 1x1 conv on the pair) that records
    what it is given."""
    x, pred, mask = _inpaint_data(case, batch, channels, size)
    wgt = case.randn(1, 2 * channels, 1, 1)
    seen = []

    def D(cond, img):
        seen.append((cond.detach(), img.detach()))
        return F.conv2d(torch.cat([cond, img], 1), wgt)

    got = subject.fn("inpainting_loss")(D, x, pred, mask, lam_rec, lam_adv)
    m, x64, p64 = f64(mask), f64(x), f64(pred)
    ctx, comp = (1 - m) * x64, m * p64 + (1 - m) * x64
    logits = F.conv2d(torch.cat([ctx, comp], 1), f64(wgt))
    adv = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    rec = (m * (x64 - p64)).pow(2).sum(dim=(1, 2, 3)).mean()
    outs = [holds("D called once", len(seen) == 1, f"{len(seen)} calls")]
    if len(seen) == 1:
        outs += [case.close("D's condition vs (1 − M) ⊙ x", seen[0][0], ctx),
                 case.close("D's image vs M ⊙ x̂ + (1 − M) ⊙ x", seen[0][1], comp)]
    outs.append(case.close(f"inpainting_loss vs {lam_rec:g}·L_rec + {lam_adv:g}·BCE(D(ctx, completed), 1)",
                           got, lam_rec * rec + lam_adv * adv))
    return all_of(outs)


# ---------------------------------------------------------------------------------------------
# StyleGAN-style mixing
# ---------------------------------------------------------------------------------------------
@check("stylegan_mixing_routes_codes", requires=("mix_codes",))
def stylegan_mixing_routes_codes(subject, case, batch: int = 3) -> Outcome:
    """Style mixing with codes w1, w2 and crossover c feeds w1 to the synthesis layers l < c and w2 to the
    layers l ≥ c: for every c in 0..L the mixed image equals an oracle that runs const → layers[l](·, code_l)
    → to_rgb with each layer's code given explicitly; c = 0 equals pure w2 generation and c = L pure w1
    generation (synthesis with the code broadcast to every layer); mix_codes(w1, w2, c, L) is the explicit
    stack; and mixing changes the image (0 < c < L differs from both pure images)."""
    model = subject.build(case).eval()
    w1, w2 = CONTRACT.example_inputs(subject, case, batch)
    L = subject.size("style_layers")
    mix = subject.fn("mix_codes")
    outs = []
    with torch.no_grad():
        pure1 = model.synthesis(w1.unsqueeze(1).expand(-1, L, -1))
        pure2 = model.synthesis(w2.unsqueeze(1).expand(-1, L, -1))
        for c in range(L + 1):
            got = model(w1, w2, c)
            h = model.const.expand(batch, -1, -1, -1)
            for l, layer in enumerate(model.layers):
                h = layer(h, w1 if l < c else w2)
            want = model.to_rgb(h)
            outs.append(case.close(f"mixed image at crossover {c} vs the layer-by-layer oracle", got, want))
            codes = torch.stack([w1 if l < c else w2 for l in range(L)], dim=1)
            outs.append(exact(f"mix_codes(w1, w2, {c}, {L}) vs the explicit per-layer stack", f64(mix(w1, w2, c, L)), f64(codes)))
            if c == 0:
                outs.append(case.close("crossover 0 vs pure w2 generation", got, pure2))
            if c == L:
                outs.append(case.close(f"crossover L = {L} vs pure w1 generation", got, pure1))
            if 0 < c < L:
                outs.append(holds(f"crossover {c} differs from both pure images",
                                  not torch.equal(got, pure1) and not torch.equal(got, pure2)))
    return all_of(outs)


# ---------------------------------------------------------------------------------------------
# architectures against torch.nn.functional, and gradients through the composites
# ---------------------------------------------------------------------------------------------
def _shapes_or_none(params, want, what: str) -> Outcome | None:
    shapes = [tuple(p.shape) for p in params]
    return None if shapes == want else exact(f"{what} parameter shapes, in order", shapes, want)


@check("patchgan_discriminator_matches_functional", requires=())
def patchgan_discriminator_matches_functional(subject, case, batch: int = 2) -> Outcome:
    """The conditional PatchGAN is conv(k 4, s 2, p 1) n_layers times, then two conv(k 4, s 1, p 1), with
    LeakyReLU 0.2 between them and none after the last, on the channel concatenation (x, y): channels
    in+out → hidden → 2·hidden → … → hidden·2^n_layers → 1. Its parameters, in order, have those shapes,
    layer_specs() reports those (kernel, stride, padding), and D(x, y) equals that stack written with
    torch.nn.functional (conv2d, leaky_relu) on D's parameters (the logit map included in the shape), with
    the parameters redrawn (He-scaled weights, biases N(0, 0.1²)) so that the logits take both signs."""
    model = subject.build(case).eval()
    n, hid = subject.size("n_layers"), subject.size("hidden")
    chans = [subject.size("in_channels") + subject.size("out_channels")] + [hid * 2 ** i for i in range(n + 1)] + [1]
    strides = [2] * n + [1, 1]
    want = [s for a, b in zip(chans[:-1], chans[1:]) for s in ((b, a, 4, 4), (b,))]
    params = list(model.D.parameters())
    bad = _shapes_or_none(params, want, "D's")
    if bad is not None:
        return bad
    specs = [tuple(int(v) for v in sp) for sp in model.layer_specs()]
    x, y = CONTRACT.example_inputs(subject, case, batch)
    with torch.no_grad():
        for w_, b_ in zip(params[::2], params[1::2]):  # He-scaled weights: logits of both signs
            w_.copy_(case.randn(*w_.shape) * (2.0 / w_[0].numel()) ** 0.5)
            b_.copy_(case.randn(*b_.shape) * 0.1)
        h = torch.cat([x, y], dim=1)
        for i, s in enumerate(strides):
            h = F.conv2d(h, params[2 * i], params[2 * i + 1], stride=s, padding=1)
            if i < len(strides) - 1:
                h = F.leaky_relu(h, 0.2)
        got = model.D(x, y)
    return all_of(
        holds("the logits take both signs (after redrawing D's parameters)", bool((h > 0).any() and (h < 0).any())),
        exact("layer_specs() vs [(4, 2, 1)]·n_layers + [(4, 1, 1)]·2", specs, [(4, s, 1) for s in strides]),
        case.close("D(x, y) vs the conv/leaky_relu stack (torch.nn.functional) on D's parameters", got, h),
    )


@check("pix2pix_unet_matches_functional", requires=())
def pix2pix_unet_matches_functional(subject, case, batch: int = 2) -> Outcome:
    """pix2pix's U-Net generator is d₁ = lrelu(conv(x; in→h, k 4, s 2, p 1)), d₂ = lrelu(conv(d₁; h→2h)),
    u₁ = relu(convT(d₂; 2h→h, k 4, s 2, p 1)), G(x) = tanh(convT([u₁, d₁]; 2h→out)) with LeakyReLU slope
    0.2 and the skip connection concatenated after u₁: G's parameters, in that order, have the shapes the
    sizes give (torch layouts), and G(x) equals that network written with torch.nn.functional (conv2d,
    conv_transpose2d, leaky_relu, relu, tanh) on G's parameters."""
    model = subject.build(case).eval()
    cin, cout, h = subject.size("in_channels"), subject.size("out_channels"), subject.size("hidden")
    want = [(h, cin, 4, 4), (h,), (2 * h, h, 4, 4), (2 * h,), (2 * h, h, 4, 4), (h,), (2 * h, cout, 4, 4), (cout,)]
    p = list(model.G.parameters())
    bad = _shapes_or_none(p, want, "G's")
    if bad is not None:
        return bad
    x, _ = CONTRACT.example_inputs(subject, case, batch)
    with torch.no_grad():
        d1 = F.leaky_relu(F.conv2d(x, p[0], p[1], 2, 1), 0.2)
        d2 = F.leaky_relu(F.conv2d(d1, p[2], p[3], 2, 1), 0.2)
        u1 = F.relu(F.conv_transpose2d(d2, p[4], p[5], 2, 1))
        want_out = torch.tanh(F.conv_transpose2d(torch.cat([u1, d1], 1), p[6], p[7], 2, 1))
        got = model.G(x)
    return case.close("G(x) vs the U-Net written with torch.nn.functional on G's parameters", got, want_out)


@check("pix2pix_forward_composes_g_and_d", requires=())
def pix2pix_forward_composes_g_and_d(subject, case, batch: int = 2) -> Outcome:
    """model(x, y) = (G(x), D(x, G(x)), D(x, y)), differentiably: the outputs equal G and D called here, and
    the gradient of Σ v·D(x, G(x)) (the second output, random v) with respect to every parameter of G
    equals autograd through the explicit composition D(x, G(x)), and is non-zero (the fake logits train G)."""
    model = subject.build(case).eval()
    x, y = CONTRACT.example_inputs(subject, case, batch)
    fake, d_fake, d_real = model(x, y)
    fake2 = model.G(x)
    d_fake2 = model.D(x, fake2)
    v = case.randn(*d_fake2.shape)
    gp = list(model.G.parameters())
    if d_fake.requires_grad:
        got = [torch.zeros_like(q) if g is None else g
               for q, g in zip(gp, torch.autograd.grad((d_fake * v).sum(), gp, allow_unused=True))]
    else:
        got = [torch.zeros_like(q) for q in gp]
    want = torch.autograd.grad((d_fake2 * v).sum(), gp)
    g_got, g_want = torch.cat([f64(g).flatten() for g in got]), torch.cat([f64(g).flatten() for g in want])
    return all_of(
        case.close("first output vs G(x)", fake, fake2),
        case.close("second output vs D(x, G(x))", d_fake, d_fake2),
        case.close("third output vs D(x, y)", d_real, model.D(x, y)),
        bound("‖∂Σ v·D(x, G(x))/∂θ_G‖ of the composition", float(g_want.norm()), 0.0, op=">"),
        case.close("∂Σ v·(second output)/∂θ_G vs autograd of D(x, G(x))", g_got, g_want),
    )


@check("inpainting_joint_loss_gradient", requires=("inpainting_loss",))
def inpainting_joint_loss_gradient(subject, case, batch: int = 3, channels: int = 2, size: int = 8,
                                   lam_rec: float = 0.999, lam_adv: float = 0.001) -> Outcome:
    """The gradient of the joint inpainting loss with respect to the prediction x̂ is
    2·λ_rec·M ⊙ (x̂ − x)/B (the masked L2) plus λ_adv times the GAN term's gradient through the completed
    image M ⊙ x̂ + (1 − M) ⊙ x (autograd of torch's BCE-with-logits on a fixed 1x1-conv discriminator built
    here, in float64): the known pixels get exactly none."""
    x, pred, mask = _inpaint_data(case, batch, channels, size)
    wgt = case.randn(1, 2 * channels, 1, 1)

    def D(cond, img):
        return F.conv2d(torch.cat([cond, img], 1), wgt.to(img.dtype))

    pr = pred.clone().requires_grad_(True)
    g = _grad(subject.fn("inpainting_loss")(D, x, pr, mask, lam_rec, lam_adv), pr)
    m, x64 = f64(mask), f64(x)
    p64 = f64(pred).requires_grad_(True)
    logits = D((1 - m) * x64, m * p64 + (1 - m) * x64)
    (g_adv,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)), p64)
    want = 2 * lam_rec * m * (f64(pred) - x64) / batch + lam_adv * g_adv
    known = (1 - mask).expand_as(x).bool()
    return all_of(
        case.close("∂L/∂x̂ vs 2λ_rec·M(x̂ − x)/B + λ_adv·∂BCE(D(ctx, completed), 1)/∂x̂", g, want),
        exact("∂L/∂x̂ at the known pixels", f64(g)[known], torch.zeros(int(known.sum()), dtype=F64)),
    )


@check("stylegan_mix_codes_gradient", requires=("mix_codes",))
def stylegan_mix_codes_gradient(subject, case, batch: int = 3, w_dim: int = 5, n_layers: int = 4) -> Outcome:
    """Mixing routes gradients as it routes codes: for every crossover c in 0..L, the gradient of
    Σ V ⊙ mix_codes(w1, w2, c, L) (random V of shape (B, L, w_dim)) is Σ_{l<c} V[:, l] with respect to w1
    and Σ_{l≥c} V[:, l] with respect to w2 (autograd)."""
    mix = subject.fn("mix_codes")
    outs = []
    for c in range(n_layers + 1):
        w1 = case.randn(batch, w_dim).requires_grad_(True)
        w2 = case.randn(batch, w_dim).requires_grad_(True)
        V = case.randn(batch, n_layers, w_dim)
        out = (mix(w1, w2, c, n_layers) * V).sum()
        g1, g2 = torch.zeros_like(w1), torch.zeros_like(w2)
        if out.requires_grad:
            g1, g2 = (torch.zeros_like(w) if g is None else g
                      for w, g in zip((w1, w2), torch.autograd.grad(out, (w1, w2), allow_unused=True)))
        V64 = f64(V)
        outs += [case.close(f"∂/∂w1 at crossover {c} vs Σ_(l<c) V_l", g1, V64[:, :c].sum(1)),
                 case.close(f"∂/∂w2 at crossover {c} vs Σ_(l≥c) V_l", g2, V64[:, c:].sum(1))]
    return all_of(outs)


@check("stylegan_styled_layers_match_functional", requires=())
def stylegan_styled_layers_match_functional(subject, case, batch: int = 3, small: float = 1e-2) -> Outcome:
    """Each styled synthesis layer is AdaIN after a convolution: h = conv3x3(x) (padding 1, bias),
    ĥ = (h − μ_HW(h))/√(σ²_HW(h) + 1e-5) (per sample and channel, biased variance: torch's instance_norm),
    (s, t) = the two halves of Linear(w_dim, 2C)(w), out = leaky_relu((1 + s)·ĥ + t, 0.2). The layers'
    parameters, in order, have the shapes (C, C, 3, 3), (C,), (2C, w_dim), (2C,), the constant input is
    (1, C, R, R), and every layer equals that formula written with torch.nn.functional (conv2d,
    instance_norm, linear, leaky_relu) on its parameters, for unit-scale inputs and for inputs scaled by
    ``small`` (where the ε matters)."""
    model = subject.build(case).eval()
    C, R, wd, L = (subject.size(k) for k in ("style_channels", "resolution", "w_dim", "style_layers"))
    outs = [exact("const shape", tuple(model.const.shape), (1, C, R, R)),
            exact("number of styled layers", len(model.layers), L)]
    for l, layer in enumerate(model.layers):
        p = list(layer.parameters())
        bad = _shapes_or_none(p, [(C, C, 3, 3), (C,), (2 * C, wd), (2 * C,)], f"layer {l}'s")
        if bad is not None:
            return all_of(outs + [bad])
        w = case.randn(batch, wd)
        for scale in (1.0, small):
            x = case.randn(batch, C, R, R) * scale
            with torch.no_grad():
                h = F.instance_norm(F.conv2d(x, p[0], p[1], padding=1), eps=1e-5)
                s, t = F.linear(w, p[2], p[3]).chunk(2, dim=-1)
                want = F.leaky_relu((1 + s[..., None, None]) * h + t[..., None, None], 0.2)
                got = layer(x, w)
            outs.append(case.close(f"layer {l} (inputs × {scale:g}) vs conv → instance_norm → AdaIN → leaky_relu",
                                   got, want))
    return all_of(outs)
