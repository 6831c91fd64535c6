"""Checks for convolutional networks (notes 004): convolution and transposed convolution,
output sizes, pooling, fully connected layers, and a small CNN classifier.

The subject's module provides the functional cores and nn.Module classes of :data:`CONTRACT`
(torch.nn.functional's argument order and torch's weight layouts); the subject itself builds the
classifier from the suite's size params.

Oracles: torch.nn.functional and torch.nn with copied weights, scipy.ndimage.correlate and
convolve, closed-form output sizes written out here (never the subject's own size function),
autograd (vector-Jacobian products) for the adjoint, torch.roll for shifts, scikit-learn's
load_digits for training. The functional-core checks size their own test tensors (check
parameters); only the classifier checks read the subject's sizes.
"""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64, holds
from harness.registry import check



def _images(subject, case, batch: int) -> tuple:
    """A batch of standard-normal images (B, in_channels, image_size, image_size) for the classifier."""
    side = subject.size("image_size")
    return (case.randn(batch, subject.size("in_channels"), side, side),)


CONTRACT = load_contract("cnn", inputs=_images)

# Notes 004, "Convolution Operation": the 5×5 binary image, the 3×3 "X" kernel and the feature map.
NOTES_IMAGE = [[1, 1, 1, 0, 0],
               [0, 1, 1, 1, 0],
               [0, 0, 1, 1, 1],
               [0, 0, 1, 1, 0],
               [0, 1, 1, 0, 0]]
NOTES_KERNEL = [[1, 0, 1],
                [0, 1, 0],
                [1, 0, 1]]
NOTES_FEATURE_MAP = [[4, 3, 4],
                     [2, 4, 3],
                     [2, 3, 4]]
# Notes 004, "Convolution filters": a horizontal-gradient (edge) kernel; not symmetric under a flip.
NOTES_EDGE_KERNEL = [[-1, 0, 1],
                     [-1, 0, 1],
                     [-1, 0, 1]]


def _conv_size(W: int, K: int, P: int, S: int, D: int = 1) -> int:
    """Closed form written out independently of the subject: ⌊(W + 2P − D(K−1) − 1)/S⌋ + 1."""
    return (W + 2 * P - D * (K - 1) - 1) // S + 1


def _grid_outcome(statement: str, bad: list[tuple[str, object, object]], n: int, skipped: int = 0) -> Outcome:
    """One outcome for a grid of exact comparisons: the first mismatch, and how many there were."""
    extra = f"; {skipped} point(s) skipped (no positive output size)" if skipped else ""
    if bad:
        where, obs, exp = bad[0]
        return exact(statement, obs, exp, detail=f"{len(bad)} of {n} grid points differ; first at {where}{extra}")
    return holds(statement, True, detail=f"all {n} grid points agree{extra}")


def _module_on_case(case, factory, *args, **kwargs):
    with case.fork_rng():
        m = factory(*args, **kwargs)
    return m.to(device=case.device, dtype=case.dtype)


def _core_and_module_vs_torch(subject, case, core: str, module: str, x, args: tuple, module_args: tuple,
                              module_kwargs: dict, setting: str) -> Outcome:
    """The core ``core(x, *args)`` against ``torch.nn.functional.<core>`` on the same tensors, and the
    module class ``module(*module_args, **module_kwargs)`` against ``torch.nn.<module>`` built alike
    with the subject module's weights copied in."""
    y, ref = subject.fn(core)(x, *args), getattr(F, core)(x, *args)
    mine = _module_on_case(case, subject.fn(module), *module_args, **module_kwargs)
    theirs = _module_on_case(case, getattr(torch.nn, module), *module_args, **module_kwargs)
    theirs.load_state_dict(mine.state_dict())
    with torch.no_grad():
        ym, yt = mine(x), theirs(x)
    return all_of(case.close(f"{core} vs F.{core}", y, ref, detail=setting),
                  case.close(f"{module} module vs nn.{module} (copied weights)", ym, yt, detail=setting))


# ----------------------------------------------------------------------------------------------
# output sizes
# ----------------------------------------------------------------------------------------------
@check(requires=("conv_output_size", "conv2d"))
def conv_output_size_formula(subject, case, max_size: int = 11, kernels: list = [1, 2, 3, 5],  # noqa: B006
                             paddings: list = [0, 1, 2], strides: list = [1, 2, 3],  # noqa: B006
                             dilations: list = [1, 2]) -> Outcome:  # noqa: B006
    """Over a grid of input size W, kernel K, padding P, stride S and dilation D, the output size
    of a convolution is O = ⌊(W + 2P − D(K−1) − 1)/S⌋ + 1 (notes 004: ⌊(W − K + 2P)/S⌋ + 1 at D = 1):
    conv_output_size, the subject's conv2d output shape and torch.nn.functional.conv2d's shape agree."""
    size_fn, conv = subject.fn("conv_output_size"), subject.fn("conv2d")
    bad: list = []
    n = skipped = 0
    for W, K, P, S, D in itertools.product(range(1, max_size + 1), kernels, paddings, strides, dilations):
        if W + 2 * P < D * (K - 1) + 1:
            skipped += 1
            continue
        n += 1
        x = case.randn(1, 2, W, W + 1)
        w = case.randn(3, 2, K, K)
        real = tuple(F.conv2d(x, w, None, S, P, D).shape[-2:])
        notes = (W - K + 2 * P) // S + 1 if D == 1 else None
        got = (size_fn(W, K, P, S, D), size_fn(W + 1, K, P, S, D))
        shape = tuple(conv(x, w, None, S, P, D).shape[-2:])
        where = f"W={W}, K={K}, P={P}, S={S}, D={D}"
        if got != real:
            bad.append((where + " (conv_output_size vs F.conv2d shape)", got, real))
        elif shape != real:
            bad.append((where + " (conv2d shape vs F.conv2d shape)", shape, real))
        elif notes is not None and got[0] != notes:
            bad.append((where + " (vs notes' ⌊(W−K+2P)/S⌋+1)", got[0], notes))
    return _grid_outcome("conv output size O = ⌊(W + 2P − D(K−1) − 1)/S⌋ + 1 vs real tensor shapes", bad, n, skipped)


@check(requires=("same_padding", "conv2d"))
def conv_same_padding_keeps_size(subject, case, kernels: list = [1, 3, 5, 7], sizes: list = [7, 8, 12]) -> Outcome:  # noqa: B006
    """For odd K, zero padding P = (K−1)/2 with stride 1 keeps the spatial size: conv2d maps an
    H×W input to H×W (notes 004, "Padding")."""
    pad, conv = subject.fn("same_padding"), subject.fn("conv2d")
    bad: list = []
    n = 0
    for K, H in itertools.product(kernels, sizes):
        n += 1
        P = pad(K)
        if P != (K - 1) // 2:
            bad.append((f"K={K}: same_padding", P, (K - 1) // 2))
            continue
        x = case.randn(2, 3, H, H + 2)
        out = tuple(conv(x, case.randn(4, 3, K, K), None, 1, P).shape)
        if out != (2, 4, H, H + 2):
            bad.append((f"K={K}, H={H}, P={P}", out, (2, 4, H, H + 2)))
    return _grid_outcome("stride-1 conv with P = (K−1)/2 keeps H×W", bad, n)


@check(requires=("conv2d",))
def conv_notes_worked_example(subject, case) -> Outcome:
    """Notes 004's worked example: the 5×5 binary image cross-correlated with the 3×3 X-kernel
    (no padding, stride 1) is exactly [[4,3,4],[2,4,3],[2,3,4]]."""
    x = case.tensor(NOTES_IMAGE)[None, None]
    w = case.tensor(NOTES_KERNEL)[None, None]
    y = subject.fn("conv2d")(x, w)
    expected = torch.tensor(NOTES_FEATURE_MAP, dtype=torch.float64)
    if tuple(y.shape) != (1, 1, 3, 3):
        return exact("feature-map shape of the notes' example", tuple(y.shape), (1, 1, 3, 3))
    return exact("notes 004 feature map (5×5 image ⊛ X-kernel)", f64(y[0, 0]), expected,
                 detail="integer sums: exact in every float dtype")


@check(requires=("conv2d",))
def conv_is_cross_correlation(subject, case, size: int = 7) -> Outcome:
    """Deep-learning "convolution" is cross-correlation: with the notes' (asymmetric) edge kernel k,
    conv2d(x, k) equals scipy.ndimage.correlate(x, k) and convolve(x, flip(k)) on the valid region,
    and differs from the true convolution scipy.ndimage.convolve(x, k)."""
    from scipy import ndimage

    x = case.randn(size, size)
    k = case.tensor(NOTES_EDGE_KERNEL)
    y = subject.fn("conv2d")(x[None, None], k[None, None])[0, 0]
    xn, kn = f64(x).numpy(), f64(k).numpy()
    valid = (slice(1, -1), slice(1, -1))  # 3×3 kernel centred on each pixel: drop the 1-pixel border
    corr = ndimage.correlate(xn, kn, mode="constant")[valid]
    flipped = ndimage.convolve(xn, kn[::-1, ::-1].copy(), mode="constant")[valid]
    true_conv = ndimage.convolve(xn, kn, mode="constant")[valid]
    gap = float(abs(true_conv - corr).max())
    return all_of(
        case.close("conv2d vs scipy.ndimage.correlate (valid region)", y, corr),
        case.close("conv2d vs scipy.ndimage.convolve with the flipped kernel", y, flipped),
        bound("max |conv2d − convolve(x, k)| (the two conventions must be told apart)",
              float((f64(y) - torch.from_numpy(true_conv)).abs().max()), 0.5 * gap, op=">",
              detail=f"|correlate − convolve| = {gap:.3g} on this input"),
    )


@check(requires=("conv2d", "conv_output_size"))
def conv_notes_stride_example(subject, case) -> Outcome:
    """Notes 004: a 7×7 input, zero-padded by 1, with a 3×3 filter at stride 3 gives a 3×3 output
    ((7 − 3 + 2)/3 + 1 = 3), by the size formula and by the tensor the conv produces."""
    x = case.randn(1, 1, 7, 7)
    y = subject.fn("conv2d")(x, case.randn(1, 1, 3, 3), None, 3, 1)
    return all_of(
        exact("conv_output_size(7, 3, 1, 3)", subject.fn("conv_output_size")(7, 3, 1, 3), 3),
        exact("conv2d output shape, 7×7 pad 1 3×3 stride 3", tuple(y.shape), (1, 1, 3, 3)),
    )


@check(requires=("conv2d", "conv_output_size", "linear"), tolerance={"float32": {"atol": 1e-3, "rtol": 1e-5}},
       why="a 3072-term float32 dot product of N(0, 1) values: rounding errors of ε₃₂ ≈ 6e-8 at each of 3072 "
           "partial sums of size ≲ 55 add up to about √3072·55·6e-8 ≈ 2e-4; 1e-3 is five times that")
def conv_notes_32x32x3_example(subject, case, filters: int = 4, classes: int = 10, positions: int = 12) -> Outcome:
    """Notes 004's 32×32×3 image. A fully connected layer "stretches" it to a 3072 × 1 vector and each
    output is a dot product of a row of the weights with it: linear(x.flatten(), W (classes, 3072), b) = W x + b.
    A convolution layer with four 5×5×3 filters slides each filter over all spatial locations and gives 4
    separate activation maps, (1, 3, 32, 32) -> (1, 4, 28, 28), 28 = conv_output_size(32, 5, 0, 1) =
    32 − 5 + 1 (the 28 is the size formula's, not printed in the notes); each entry is "1 number: the
    result of taking a dot product between the filter and a small 3×5×5 chunk of the image", wᵀx + b over
    3·5·5 = 75 numbers (checked at the four corners and at random positions, in float64)."""
    x = case.randn(1, 3, 32, 32)
    flat = x.reshape(1, -1)
    W, bW = case.randn(classes, 3 * 32 * 32), case.randn(classes)
    fc = subject.fn("linear")(flat, W, bW)
    w, b = case.randn(filters, 3, 5, 5), case.randn(filters)
    y = subject.fn("conv2d")(x, w, b)
    size = subject.fn("conv_output_size")(32, 5, 0, 1)
    out = [exact("32×32×3 image stretched: values", flat.shape[1], 3072),
           exact("fully connected output shape", tuple(fc.shape), (1, classes)),
           case.close("fully connected outputs vs rows of W · the 3072 × 1 vector + b", fc[0], f64(W) @ f64(flat[0]) + f64(bW)),
           exact("conv_output_size(32, 5, P=0, S=1)", size, 28),
           exact(f"{filters} filters 5×5×3 on a 32×32×3 image: activation maps", tuple(y.shape), (1, filters, 28, 28))]
    if tuple(y.shape) != (1, filters, 28, 28):
        return all_of(out)
    X, Wc, B, Y = f64(x[0]), f64(w), f64(b), f64(y[0])
    corners = [(0, 0), (0, 27), (27, 0), (27, 27)]
    rnd = case.randint(0, 28, (positions, 2)).cpu().tolist()
    got, want = [], []
    for k in range(filters):
        for i, j in corners + [tuple(p) for p in rnd]:
            chunk = X[:, i:i + 5, j:j + 5].reshape(-1)  # the 3×5×5 chunk: 75 numbers
            got.append(Y[k, i, j])
            want.append(Wc[k].reshape(-1) @ chunk + B[k])
    out.append(case.close(f"activation-map entries vs wᵀx + b over 3×5×5 chunks ({len(got)} entries)", torch.stack(got),
                          torch.stack(want)))
    return all_of(out)


# ----------------------------------------------------------------------------------------------
# conv2d values
# ----------------------------------------------------------------------------------------------
@check(requires=("conv2d", "Conv2d"))
def conv2d_matches_torch(subject, case, in_channels: int = 4, out_channels: int = 6, kernel_size: int = 3,
                         kernel_w: int = 0, size: int = 9, stride: int = 1, padding: int = 0, dilation: int = 1,
                         groups: int = 1, bias: bool = True, batch: int = 2) -> Outcome:
    """conv2d(x, w, b, stride, padding, dilation, groups) equals torch.nn.functional.conv2d on the
    same x, w, b (H ≠ W, kh ≠ kw when kernel_w is set), and the Conv2d module equals torch.nn.Conv2d
    with its weights copied."""
    kw = kernel_w or kernel_size
    x = case.randn(batch, in_channels, size, size + 3)
    w = case.randn(out_channels, in_channels // groups, kernel_size, kw)
    b = case.randn(out_channels) if bias else None
    return _core_and_module_vs_torch(
        subject, case, "conv2d", "Conv2d", x, (w, b, stride, padding, dilation, groups),
        (in_channels, out_channels, (kernel_size, kw)),
        dict(stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias),
        f"stride {stride}, padding {padding}, dilation {dilation}, groups {groups}")


@check(requires=("conv2d",))
def conv2d_grad_matches_torch(subject, case, in_channels: int = 4, out_channels: int = 6, kernel_size: int = 3,
                              size: int = 8, stride: int = 2, padding: int = 1, dilation: int = 1,
                              groups: int = 2) -> Outcome:
    """The gradients of ⟨conv2d(x, w, b), g⟩ with respect to x, w and b equal those of
    torch.nn.functional.conv2d (autograd through both)."""
    x0 = case.randn(2, in_channels, size, size + 1)
    w0 = case.randn(out_channels, in_channels // groups, kernel_size, kernel_size)
    b0 = case.randn(out_channels)
    g = case.randn(*F.conv2d(x0, w0, b0, stride, padding, dilation, groups).shape)
    grads = []
    for fn in (subject.fn("conv2d"), F.conv2d):
        x, w, b = (t.clone().requires_grad_(True) for t in (x0, w0, b0))
        y = fn(x, w, b, stride, padding, dilation, groups)
        grads.append(torch.autograd.grad((y * g).sum(), (x, w, b)))
    names = ("∂/∂x", "∂/∂w", "∂/∂b")
    return all_of(*(case.close(f"{n} of ⟨conv2d, g⟩ vs F.conv2d's", a, e) for n, a, e in zip(names, *grads)))


@check(requires=("conv2d",))
def conv_translation_equivariance(subject, case, padding_mode: str = "circular", kernel_size: int = 3,
                                  stride: int = 1, size: int = 12, shift_h: int = 2, shift_w: int = 3) -> Outcome:
    """Convolution commutes with whole-pixel translations: shifting the input by (Δh, Δw) = stride ×
    (s_h, s_w) shifts the output by (s_h, s_w). With circular padding P = (K−1)/2 (a torus) this
    holds everywhere; with zero padding and no padding it holds on every output pixel whose window
    avoids the wrapped-around border."""
    x = case.randn(2, 3, size, size)
    w = case.randn(4, 3, kernel_size, kernel_size)
    b = case.randn(4)
    dh, dw = stride * shift_h, stride * shift_w
    conv = subject.fn("conv2d")
    xs = torch.roll(x, shifts=(dh, dw), dims=(-2, -1))
    if padding_mode == "circular":
        P = (kernel_size - 1) // 2
        y, ys = conv(x, w, b, stride, P, 1, 1, "circular"), conv(xs, w, b, stride, P, 1, 1, "circular")
        expected = torch.roll(y, shifts=(shift_h, shift_w), dims=(-2, -1))
        return case.close(f"conv(shift(x)) vs shift(conv(x)), circular padding, shift ({dh},{dw})", ys, expected)
    y, ys = conv(x, w, b, stride), conv(xs, w, b, stride)
    O = y.shape[-1]
    return case.close(f"conv(shift(x)) vs shift(conv(x)) away from borders, shift ({dh},{dw})",
                      ys[..., shift_h:, shift_w:], y[..., :O - shift_h, :O - shift_w])


@check(requires=("conv2d",))
def conv_1x1_is_linear(subject, case, in_channels: int = 5, out_channels: int = 3, size: int = 6) -> Outcome:
    """A 1×1 convolution is a fully connected layer applied at every pixel:
    conv2d(x, w, b)[n, :, i, j] = F.linear(x[n, :, i, j], w[:, :, 0, 0], b)."""
    x = case.randn(2, in_channels, size, size + 1)
    w = case.randn(out_channels, in_channels, 1, 1)
    b = case.randn(out_channels)
    y = subject.fn("conv2d")(x, w, b)
    ref = F.linear(x.permute(0, 2, 3, 1), w[:, :, 0, 0], b).permute(0, 3, 1, 2)
    return case.close("1×1 conv vs per-pixel F.linear", y, ref)


# ----------------------------------------------------------------------------------------------
# pooling
# ----------------------------------------------------------------------------------------------
@check(requires=("max_pool2d", "avg_pool2d"))
def pool_2x2_halves_size(subject, case, sizes: list = [2, 4, 5, 8, 11]) -> Outcome:  # noqa: B006
    """2×2 pooling with stride 2 maps H×W to ⌊H/2⌋×⌊W/2⌋ (halves each even side), and output (i, j)
    is the max (resp. mean) of input block [2i:2i+2, 2j:2j+2] (checked by reshaping into blocks)."""
    mp, ap = subject.fn("max_pool2d"), subject.fn("avg_pool2d")
    outs = []
    for H, W in itertools.product(sizes, sizes):
        x = case.randn(2, 3, H, W)
        ym, ya = mp(x, 2, 2), ap(x, 2, 2)
        h, w = H // 2, W // 2
        if tuple(ym.shape) != (2, 3, h, w) or tuple(ya.shape) != (2, 3, h, w):
            return exact(f"2×2/2 pooling shape of {H}×{W} (max, avg)", (tuple(ym.shape), tuple(ya.shape)),
                         ((2, 3, h, w), (2, 3, h, w)))
        blocks = x[..., :2 * h, :2 * w].reshape(2, 3, h, 2, w, 2)
        outs += [case.close(f"max pool {H}×{W} vs block max", ym, blocks.amax(dim=(3, 5))),
                 case.close(f"avg pool {H}×{W} vs block mean", ya, blocks.mean(dim=(3, 5)))]
    return all_of(*outs)


@check(requires=("max_pool2d",))
def max_pool2d_matches_torch(subject, case, kernel_size: int = 2, stride: int = 2, padding: int = 0,
                             size: int = 9) -> Outcome:
    """max_pool2d(x, k, stride, padding) equals torch.nn.functional.max_pool2d (padding never wins a max)."""
    x = case.randn(2, 3, size, size + 1)
    return case.close(f"max_pool2d vs F.max_pool2d (k {kernel_size}, stride {stride}, padding {padding})",
                      subject.fn("max_pool2d")(x, kernel_size, stride, padding),
                      F.max_pool2d(x, kernel_size, stride, padding))


@check(requires=("avg_pool2d",))
def avg_pool2d_matches_torch(subject, case, kernel_size: int = 2, stride: int = 2, padding: int = 0,
                             count_include_pad: bool = True, size: int = 9) -> Outcome:
    """avg_pool2d(x, k, stride, padding, count_include_pad) equals torch.nn.functional.avg_pool2d."""
    x = case.randn(2, 3, size, size + 1)
    return case.close(f"avg_pool2d vs F.avg_pool2d (k {kernel_size}, stride {stride}, padding {padding}, "
                      f"count_include_pad {count_include_pad})",
                      subject.fn("avg_pool2d")(x, kernel_size, stride, padding, count_include_pad),
                      F.avg_pool2d(x, kernel_size, stride, padding, count_include_pad=count_include_pad))


# ----------------------------------------------------------------------------------------------
# transposed convolution
# ----------------------------------------------------------------------------------------------
@check(requires=("conv_transpose_output_size", "conv_transpose2d"))
def conv_transpose_output_size_formula(subject, case, max_size: int = 7, kernels: list = [1, 2, 3, 4],  # noqa: B006
                                       paddings: list = [0, 1, 2], strides: list = [1, 2, 3],  # noqa: B006
                                       dilations: list = [1, 2]) -> Outcome:  # noqa: B006
    """Over a grid of W, K, P, S, D and output_padding op < max(S, D), a transposed convolution's output
    size is O = (W−1)S − 2P + D(K−1) + op + 1 (= (W−1)S − 2P + K at D = 1, op = 0):
    conv_transpose_output_size, the subject's tensor shape and F.conv_transpose2d's shape agree."""
    size_fn, convT = subject.fn("conv_transpose_output_size"), subject.fn("conv_transpose2d")
    bad: list = []
    n = skipped = 0
    for W, K, P, S, D in itertools.product(range(1, max_size + 1), kernels, paddings, strides, dilations):
        for op in range(max(S, D)):
            if (W - 1) * S - 2 * P + D * (K - 1) + op + 1 < 1:
                skipped += 1
                continue
            n += 1
            x = case.randn(1, 2, W, W + 1)
            w = case.randn(2, 3, K, K)
            real = tuple(F.conv_transpose2d(x, w, None, S, P, op, 1, D).shape[-2:])
            got = (size_fn(W, K, P, S, op, D), size_fn(W + 1, K, P, S, op, D))
            shape = tuple(convT(x, w, None, S, P, op, 1, D).shape[-2:])
            where = f"W={W}, K={K}, P={P}, S={S}, D={D}, output_padding={op}"
            if got != real:
                bad.append((where + " (conv_transpose_output_size vs F.conv_transpose2d shape)", got, real))
            elif shape != real:
                bad.append((where + " (conv_transpose2d shape vs F.conv_transpose2d shape)", shape, real))
            elif D == 1 and op == 0 and got[0] != (W - 1) * S - 2 * P + K:
                bad.append((where + " (vs (W−1)S − 2P + K)", got[0], (W - 1) * S - 2 * P + K))
    return _grid_outcome("transposed-conv output size (W−1)S − 2P + D(K−1) + op + 1 vs real tensor shapes",
                         bad, n, skipped)


@check(requires=("conv_transpose2d", "ConvTranspose2d"))
def conv_transpose2d_matches_torch(subject, case, in_channels: int = 4, out_channels: int = 6, kernel_size: int = 3,
                                   size: int = 5, stride: int = 2, padding: int = 1, output_padding: int = 0,
                                   dilation: int = 1, groups: int = 1, batch: int = 2) -> Outcome:
    """conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation) equals
    torch.nn.functional.conv_transpose2d, and the ConvTranspose2d module equals
    torch.nn.ConvTranspose2d with its weights copied."""
    x = case.randn(batch, in_channels, size, size + 2)
    w = case.randn(in_channels, out_channels // groups, kernel_size, kernel_size)
    b = case.randn(out_channels)
    return _core_and_module_vs_torch(
        subject, case, "conv_transpose2d", "ConvTranspose2d", x,
        (w, b, stride, padding, output_padding, groups, dilation),
        (in_channels, out_channels, kernel_size),
        dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation),
        f"stride {stride}, padding {padding}, output_padding {output_padding}, dilation {dilation}, groups {groups}")


@check(requires=("conv2d", "conv_transpose2d"))
def conv_transpose_is_adjoint(subject, case, in_channels: int = 3, out_channels: int = 4, kernel_size: int = 3,
                              size: int = 9, stride: int = 2, padding: int = 1, dilation: int = 1,
                              groups: int = 1) -> Outcome:
    """The transposed convolution is the adjoint of the convolution with the same weight:
    ⟨conv2d(x, w), y⟩ = ⟨x, conv_transpose2d(y, w)⟩ for all x, y (output_padding chosen so the shapes
    match), and conv_transpose2d(y, w) is the vector-Jacobian product of conv2d at y (autograd)."""
    conv, convT = subject.fn("conv2d"), subject.fn("conv_transpose2d")
    x = case.randn(2, in_channels, size, size + 1).requires_grad_(True)
    w = case.randn(out_channels, in_channels // groups, kernel_size, kernel_size)
    cx = conv(x, w, None, stride, padding, dilation, groups)
    y = case.randn(*cx.shape)
    span = dilation * (kernel_size - 1) + 1
    op = ((size + 2 * padding - span) % stride, (size + 1 + 2 * padding - span) % stride)  # leftover rows/cols
    cty = convT(y, w, None, stride, padding, op, groups, dilation)
    if cty.shape != x.shape:
        return exact("conv_transpose2d(conv-shaped y) shape", tuple(cty.shape), tuple(x.shape))
    (vjp,) = torch.autograd.grad(cx, x, y)
    lhs, rhs = (cx * y).sum(), (x * cty).sum()
    return all_of(case.close("⟨conv(x), y⟩ vs ⟨x, convT(y)⟩", lhs, rhs.detach()),
                  case.close("convT(y) vs autograd vector-Jacobian product of conv at y", cty, vjp))


# ----------------------------------------------------------------------------------------------
# fully connected
# ----------------------------------------------------------------------------------------------
@check(requires=("linear", "Linear"))
def fc_matches_torch(subject, case, n_in: int = 12, n_out: int = 5) -> Outcome:
    """The fully connected layer y = x Wᵀ + b equals torch.nn.functional.linear on 2-D and 3-D inputs,
    and the Linear module equals torch.nn.Linear with its weights copied."""
    x2, x3 = case.randn(7, n_in), case.randn(3, 4, n_in)
    W, b = case.randn(n_out, n_in), case.randn(n_out)
    lin = subject.fn("linear")
    mine = _module_on_case(case, subject.fn("Linear"), n_in, n_out)
    theirs = _module_on_case(case, torch.nn.Linear, n_in, n_out)
    theirs.load_state_dict(mine.state_dict())
    with torch.no_grad():
        ym, yt = mine(x3), theirs(x3)
    return all_of(case.close("linear(x, W, b) vs F.linear, x (N, n_in)", lin(x2, W, b), F.linear(x2, W, b)),
                  case.close("linear(x, W, b) vs F.linear, x (B, T, n_in)", lin(x3, W, b), F.linear(x3, W, b)),
                  case.close("linear(x, W) without bias vs F.linear", lin(x2, W), F.linear(x2, W)),
                  case.close("Linear module vs nn.Linear (copied weights)", ym, yt))


@check(requires=("Linear",))
def fc_parameter_count(subject, case, sizes: list = [[1, 1], [3, 5], [64, 10], [128, 64]]) -> Outcome:  # noqa: B006
    """A fully connected layer n_in -> n_out has n_in·n_out + n_out parameters (W of shape (n_out, n_in)
    and b of shape (n_out,)), n_in·n_out without bias, as many as torch.nn.Linear."""
    Lin = subject.fn("Linear")
    outs = []
    for n_in, n_out in sizes:
        with case.fork_rng():
            m, m0, ref = Lin(n_in, n_out), Lin(n_in, n_out, bias=False), torch.nn.Linear(n_in, n_out)
        count = sum(p.numel() for p in m.parameters())
        outs += [exact(f"parameters of Linear({n_in}, {n_out})", count, n_in * n_out + n_out,
                       detail=f"nn.Linear has {sum(p.numel() for p in ref.parameters())}"),
                 exact(f"weight shape of Linear({n_in}, {n_out})", tuple(m.weight.shape), (n_out, n_in)),
                 exact(f"parameters of Linear({n_in}, {n_out}, bias=False)",
                       sum(p.numel() for p in m0.parameters()), n_in * n_out)]
    return all_of(*outs)


# ----------------------------------------------------------------------------------------------
# the classifier
# ----------------------------------------------------------------------------------------------
def _is_windowed(m: torch.nn.Module) -> bool:
    return hasattr(m, "kernel_size") and hasattr(m, "stride") and hasattr(m, "padding")


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


@check(requires=())
def cnn_layer_shapes(subject, case, batch: int = 3) -> Outcome:
    """In the CNN classifier every convolution and pooling layer maps its input size to
    ⌊(W + 2P − D(K−1) − 1)/S⌋ + 1 per axis (read from the layer's own kernel_size, padding, stride and
    dilation), conv layers output their out_channels, and the network maps (N, C, H, W) to (N, classes)."""
    model = subject.build(case)
    seen: list[tuple[str, tuple, tuple, torch.nn.Module]] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: seen.append((name, tuple(inp[0].shape),
                                                                                   tuple(out.shape), mod)))
             for name, m in model.named_modules() if _is_windowed(m)]
    (x,) = CONTRACT.example_inputs(subject, case, batch)
    error = ""
    try:
        with torch.no_grad():
            logits = model(x)
    except RuntimeError as e:
        logits, error = None, str(e).splitlines()[0]
    finally:
        for h in hooks:
            h.remove()
    if not seen:
        return holds("the classifier has convolution/pooling layers (modules with kernel_size, stride, padding)",
                     False, detail=error)
    for name, ishape, oshape, m in seen:
        (kh, kw), (sh, sw), (ph, pw) = _pair(m.kernel_size), _pair(m.stride), _pair(m.padding)
        dh, dw = _pair(getattr(m, "dilation", 1))
        expected_hw = (_conv_size(ishape[-2], kh, ph, sh, dh), _conv_size(ishape[-1], kw, pw, sw, dw))
        expected_c = getattr(m, "out_channels", ishape[1])
        if oshape[-2:] != expected_hw or oshape[1] != expected_c:
            return exact(f"layer {name!r} ({type(m).__name__}, K={kh}, P={ph}, S={sh}, D={dh}) on input {ishape}",
                         oshape, (ishape[0], expected_c, *expected_hw))
    if logits is None:
        return holds("the classifier's forward pass runs", False, detail=error)
    return all_of(holds(f"{len(seen)} conv/pool layers follow the output-size formula", True,
                        detail=" → ".join(f"{s[2][1]}×{s[2][2]}×{s[2][3]}" for s in seen)),
                  exact("logits shape", tuple(logits.shape), (batch, subject.size("n_classes"))))


@check(requires=())
def cnn_parameter_count(subject, case) -> Outcome:
    """The classifier's parameters are exactly those of its layers: each convolution has
    C_out·(C_in/groups)·kh·kw + C_out (bias) and each fully connected layer n_in·n_out + n_out."""
    model = subject.build(case)
    expected, parts = 0, []
    for name, m in model.named_modules():
        has_bias = getattr(m, "bias", None) is not None
        if _is_windowed(m) and hasattr(m, "out_channels"):
            kh, kw = _pair(m.kernel_size)
            n = m.in_channels * m.out_channels // m.groups * kh * kw + (m.out_channels if has_bias else 0)
        elif hasattr(m, "in_features") and hasattr(m, "out_features"):
            n = m.in_features * m.out_features + (m.out_features if has_bias else 0)
        else:
            continue
        expected += n
        parts.append(f"{name}: {n}")
    total = sum(p.numel() for p in model.parameters())
    return exact("total parameter count vs Σ per-layer formulas", total, expected, detail="; ".join(parts))


@check(requires=(), marks=("slow", "training"))
def cnn_learns_digits(subject, case, steps: int = 120, batch_size: int = 64, lr: float = 0.01,
                      threshold: float = 0.9, test_size: float = 0.25) -> Outcome:
    """Trained with Adam on scikit-learn's load_digits (8×8 images scaled to [0, 1], stratified 75/25
    split, fixed seed) for a bounded number of mini-batch steps, the CNN classifier reaches test
    accuracy >= 0.9 (chance is 0.1).

    The data fix the classifier's input and output: one channel, 8×8 images, 10 classes."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    sizes = {k: subject.size(k) for k in ("in_channels", "image_size", "n_classes")}
    if sizes != {"in_channels": 1, "image_size": 8, "n_classes": 10}:
        return exact("classifier sizes fit load_digits (in_channels, image_size, n_classes)",
                     tuple(sizes.values()), (1, 8, 10))
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=test_size, random_state=0, stratify=y)
    as_img = lambda a: case.tensor(a).reshape(-1, 1, 8, 8)  # noqa: E731
    Xtr_t, Xte_t = as_img(Xtr), as_img(Xte)
    ytr_t = torch.as_tensor(ytr, device=case.device)
    yte_t = torch.as_tensor(yte, device=case.device)
    model = subject.build(case)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    with case.fork_rng():
        model.train()
        for _ in range(steps):
            idx = case.randint(0, len(Xtr_t), (batch_size,))
            loss = F.cross_entropy(model(Xtr_t[idx]), ytr_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            acc = float((model(Xte_t).argmax(-1) == yte_t).double().mean())
    return bound("test accuracy on load_digits", acc, threshold, op=">=",
                 detail=f"{steps} Adam steps (lr {lr}), batch {batch_size}, n_train {len(Xtr)}, n_test {len(Xte)}, "
                        f"final train loss {float(loss.detach()):.3g}")


# ----------------------------------------------------------------------------------------------
# argument ranges, pooling gradients, initialisation, the classifier's architecture
# ----------------------------------------------------------------------------------------------
def _raises(fn) -> str:
    """The exception type ``fn()`` raises, or '' when it returns."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - any rejection counts; which one is reported
        return type(e).__name__
    return ""


@check(requires=("conv_transpose2d",))
def conv_transpose2d_output_padding_range(subject, case, size: int = 4,
                                          settings: list = [[1, 1], [2, 1], [3, 1], [1, 2], [2, 3]]) -> Outcome:  # noqa: B006
    """output_padding must be smaller than max(stride, dilation) on each axis (larger values would add
    rows or columns no input pixel reaches): for each (S, D) of ``settings`` and each axis, op = max(S, D) − 1
    is accepted with F.conv_transpose2d's output, while op = max(S, D) is rejected with an exception, as
    F.conv_transpose2d rejects it."""
    convT = subject.fn("conv_transpose2d")
    x = case.randn(1, 2, size, size + 1)
    w = case.randn(2, 3, 3, 3)
    outs = []
    for S, D in settings:
        top = max(S, D)
        for axis in (0, 1):
            ok = (top - 1, 0) if axis == 0 else (0, top - 1)
            bad = (top, 0) if axis == 0 else (0, top)
            where = f"stride {S}, dilation {D}"
            outs.append(case.close(f"output_padding {ok} ({where}) vs F.conv_transpose2d",
                                   convT(x, w, None, S, 1, ok, 1, D), F.conv_transpose2d(x, w, None, S, 1, ok, 1, D)))
            theirs = _raises(lambda: F.conv_transpose2d(x, w, None, S, 1, bad, 1, D))
            mine = _raises(lambda: convT(x, w, None, S, 1, bad, 1, D))
            outs.append(holds(f"output_padding {bad} ({where}) is rejected, as by F.conv_transpose2d",
                              bool(mine) and bool(theirs), detail=f"subject: {mine or 'returned'}; torch: {theirs or 'returned'}"))
    return all_of(*outs)


@check(requires=("max_pool2d", "avg_pool2d", "MaxPool2d", "AvgPool2d"))
def pool2d_grad_matches_torch(subject, case, kernel_size: int = 3, stride: int = 2, padding: int = 1,
                              size: int = 9) -> Outcome:
    """Pooling's values and input gradients equal torch's: max_pool2d, avg_pool2d (padding counted in the
    mean and not) and the MaxPool2d / AvgPool2d modules against torch.nn.functional.max_pool2d /
    avg_pool2d and nn.MaxPool2d / nn.AvgPool2d, the gradient as the vector-Jacobian product of a random
    cotangent (autograd); a padded window exercises the border."""
    x = case.randn(2, 3, size, size + 1)
    k, s, p = kernel_size, stride, padding
    mp, ap = subject.fn("max_pool2d"), subject.fn("avg_pool2d")
    MP, AP = subject.fn("MaxPool2d"), subject.fn("AvgPool2d")
    pairs = [
        ("max_pool2d", lambda t: mp(t, k, s, p), lambda t: F.max_pool2d(t, k, s, p)),
        ("avg_pool2d (count_include_pad)", lambda t: ap(t, k, s, p, True), lambda t: F.avg_pool2d(t, k, s, p)),
        ("avg_pool2d (padding not counted)", lambda t: ap(t, k, s, p, False),
         lambda t: F.avg_pool2d(t, k, s, p, count_include_pad=False)),
        ("MaxPool2d module", MP(k, s, p), torch.nn.MaxPool2d(k, s, p)),
        ("AvgPool2d module", AP(k, s, p), torch.nn.AvgPool2d(k, s, p)),
    ]
    outs = []
    for name, mine, theirs in pairs:
        xm, xt = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        ym, yt = mine(xm), theirs(xt)
        if ym.shape != yt.shape:
            outs.append(exact(f"{name} output shape", tuple(ym.shape), tuple(yt.shape)))
            continue
        v = case.randn(*yt.shape)
        (gt,) = torch.autograd.grad(yt, xt, v)
        gm = torch.autograd.grad(ym, xm, v, allow_unused=True)[0] if ym.requires_grad else None
        gm = torch.zeros_like(x) if gm is None else gm
        outs += [case.close(f"{name} vs torch", ym, yt),
                 case.close(f"{name}: input gradient (VJP) vs torch's", gm, gt)]
    return all_of(*outs)


@check(requires=("Linear", "Conv2d", "ConvTranspose2d"), marks=("statistical",))
def layer_init_uniform_bounds(subject, case, alpha: float = 1e-3) -> Outcome:
    """Linear, Conv2d and ConvTranspose2d initialise weights and biases from U(−1/√fan_in, 1/√fan_in), torch's
    default, with fan_in = in_features, C_in/groups·kh·kw and C_out/groups·kh·kw (torch's transposed-conv
    convention): every value lies within the bound, the largest |value| of a tensor of n entries exceeds
    (1 − 20/n) of it, and a Kolmogorov–Smirnov test (scipy.stats.kstest) of value/bound against U(−1, 1)
    does not reject at α = ``alpha``. A layer with fan_in = 0 (Linear(0, n), Conv2d(0, n, k)) builds, with
    an empty weight and a zero bias, as torch.nn.Linear / nn.Conv2d do."""
    from scipy.stats import kstest

    Lin, Conv, ConvT = subject.fn("Linear"), subject.fn("Conv2d"), subject.fn("ConvTranspose2d")
    layers = [
        ("Linear(300, 40)", lambda: Lin(300, 40), 300),
        ("Linear(7, 500)", lambda: Lin(7, 500), 7),
        ("Conv2d(6, 40, 3, groups=2)", lambda: Conv(6, 40, 3, groups=2), 3 * 9),
        ("Conv2d(4, 300, (2, 3))", lambda: Conv(4, 300, (2, 3)), 4 * 6),
        ("ConvTranspose2d(30, 12, 3, groups=3)", lambda: ConvT(30, 12, 3, groups=3), 4 * 9),
        ("ConvTranspose2d(400, 5, 2)", lambda: ConvT(400, 5, 2), 5 * 4),
    ]
    outs = []
    for name, make, fan_in in layers:
        with case.fork_rng():
            m = make()
        bound_ = 1.0 / fan_in ** 0.5
        for part in ("weight", "bias"):
            t = f64(getattr(m, part)).flatten()
            n = t.numel()
            ks = kstest((t / bound_).numpy(), "uniform", args=(-1.0, 2.0))
            outs += [bound(f"{name}.{part}: max |value|·√fan_in", float(t.abs().max()) / bound_, 1.0, op="<=",
                           source=f"fan_in {fan_in}"),
                     bound(f"{name}.{part}: max |value|·√fan_in", float(t.abs().max()) / bound_, 1 - 20 / n, op=">=",
                           source=f"1 − 20/n, n = {n}: a U(−b, b) sample falls short with probability < e⁻²⁰"),
                     bound(f"{name}.{part}: KS p-value against U(−1/√fan_in, 1/√fan_in)", float(ks.pvalue), alpha,
                           op=">=", detail=f"statistic {ks.statistic:.3g}, n = {n}")]
    for name, make, ref in (("Linear(0, 5)", lambda: Lin(0, 5), lambda: torch.nn.Linear(0, 5)),
                            ("Conv2d(0, 4, 3)", lambda: Conv(0, 4, 3), lambda: torch.nn.Conv2d(0, 4, 3))):
        err = ""
        try:
            with case.fork_rng():
                m = make()
        except Exception as e:  # noqa: BLE001 - a crash is the failure reported
            err = f"{type(e).__name__}: {e}"
        if err:
            outs.append(holds(f"{name} builds (fan_in = 0)", False, detail=err))
            continue
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch: "Initializing zero-element tensors is a no-op"
            r = ref()
        outs += [exact(f"{name}: weight shape vs torch", tuple(m.weight.shape), tuple(r.weight.shape)),
                 exact(f"{name}: bias (bound 0 at fan_in = 0) vs torch's", f64(m.bias), f64(r.bias))]
    return all_of(*outs)


@check(requires=())
def cnn_classifier_matches_functional(subject, case, batch: int = 4) -> Outcome:
    """The classifier is, for each entry c of ``channels``, conv K×K (stride 1, padding (K−1)/2, bias) →
    ReLU → max pooling (window and stride ``pool``), then flatten → FC(hidden) → ReLU → FC(n_classes): its
    parameters, in order, have the shapes the suite's sizes give (the FC input is channels[-1]·s², s the
    image side after the poolings), and its logits equal that pipeline written with
    torch.nn.functional (conv2d, relu, max_pool2d, linear) on those parameters."""
    model = subject.build(case)
    C, S, K, pool = (subject.size(k) for k in ("in_channels", "image_size", "kernel_size", "pool"))
    chans, hidden, n_cls = list(subject.size("channels")), subject.size("hidden"), subject.size("n_classes")
    want, c, s = [], C, S
    for out in chans:
        want += [(out, c, K, K), (out,)]
        c, s = out, s // pool
    want += [(hidden, c * s * s), (hidden,), (n_cls, hidden), (n_cls,)]
    params = list(model.parameters())
    shapes = [tuple(p.shape) for p in params]
    if shapes != want:
        return exact("the classifier's parameter shapes, in order", shapes, want)
    (x,) = CONTRACT.example_inputs(subject, case, batch)
    with torch.no_grad():
        h = x
        for i in range(len(chans)):
            h = F.max_pool2d(F.relu(F.conv2d(h, params[2 * i], params[2 * i + 1], 1, (K - 1) // 2)), pool, pool)
        w1, b1, w2, b2 = params[-4:]
        pre = F.linear(h.flatten(1), w1, b1)
        oracle = F.linear(F.relu(pre), w2, b2)
        got = model(x)
    return all_of(
        holds("the hidden layer's pre-activations take both signs", bool((pre > 0).any() and (pre < 0).any())),
        case.close("logits vs [conv → relu → max_pool]* → linear → relu → linear (torch.nn.functional)", got, oracle),
    )
