"""Convolutional building blocks and a small CNN classifier, written from their definitions.

Convolution here is what deep learning calls convolution: a *cross-correlation*, the kernel is
not flipped (notes 004's worked example uses a symmetric X-kernel, for which the two agree).
:func:`conv2d` extracts sliding windows (im2col via ``Tensor.unfold``) and contracts them with
the kernel; it never calls ``torch.nn.functional.conv2d``. :func:`conv_transpose2d` scatters
each input pixel times the kernel into the output (the adjoint of :func:`conv2d`).

Shapes (batch first, channels first): images ``(N, C, H, W)``; conv weights ``(C_out, C_in/groups,
kh, kw)``; transposed-conv weights ``(C_in, C_out/groups, kh, kw)`` (torch's layouts, so weights
copy across); linear weights ``(n_out, n_in)``. ``kernel_size``, ``stride``, ``padding`` and
``dilation`` take an int or an ``(h, w)`` pair.

Output sizes (per spatial axis, input W, kernel K, padding P, stride S, dilation D):
conv O = ⌊(W + 2P − D(K−1) − 1)/S⌋ + 1, which at D = 1 is the notes' O = (W − K + 2P)/S + 1
with the floor made explicit (the notes omit it; their examples divide exactly);
transposed conv O = (W−1)S − 2P + D(K−1) + output_padding + 1 ( = (W−1)S − 2P + K at D = 1).

References
1. Notes 004, "Convolutional Neural Networks (CNN)": convolution operation (5×5 image ⊛ 3×3
   kernel worked example), stride, zero padding P = (K−1)/2, output size O = (W − K + 2P)/S + 1,
   the 7×7 / pad 1 / 3×3 / stride 3 → 3×3 example, max and average pooling (2×2, stride 2),
   fully connected layer.
2. LeCun, Bottou, Bengio, Haffner (1998), "Gradient-Based Learning Applied to Document
   Recognition" (convolution + subsampling + fully connected classifier).
3. Dumoulin, Visin (2016), "A guide to convolution arithmetic for deep learning" (output-size
   relations, transposed convolution as the transpose of the convolution matrix).
4. Yu, Koltun (2016), "Multi-Scale Context Aggregation by Dilated Convolutions" (dilation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Sequence

import torch
from torch import nn

__all__ = [
    "conv_output_size", "conv_transpose_output_size", "same_padding", "pad2d", "im2col",
    "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "linear",
    "CNNConfig", "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "Linear", "CNNClassifier",
    "make_model",
]

IntPair = int | Sequence[int]


def _pair(v: IntPair) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


# ----------------------------------------------------------------------------------------------
# sizes
# ----------------------------------------------------------------------------------------------
def conv_output_size(W: int, K: int, P: int, S: int, D: int = 1) -> int:
    """O = ⌊(W + 2P − D(K−1) − 1)/S⌋ + 1 (notes 004: ⌊(W − K + 2P)/S⌋ + 1 at D = 1).

    ``W`` input length, ``K`` kernel size, ``P`` zero padding per side, ``S`` stride, ``D``
    dilation (a dilated kernel spans D(K−1) + 1 pixels).
    """
    return (W + 2 * P - D * (K - 1) - 1) // S + 1


def conv_transpose_output_size(W: int, K: int, P: int, S: int, output_padding: int = 0, D: int = 1) -> int:
    """O = (W−1)S − 2P + D(K−1) + output_padding + 1 ( = (W−1)S − 2P + K + output_padding at D = 1)."""
    return (W - 1) * S - 2 * P + D * (K - 1) + output_padding + 1


def same_padding(K: int) -> int:
    """P = (K−1)/2: with stride 1 the output has the input's size (odd K only; notes 004)."""
    if K % 2 == 0:
        raise ValueError(f"same_padding: kernel size {K} is even; (K-1)/2 is not an integer")
    return (K - 1) // 2


# ----------------------------------------------------------------------------------------------
# functional cores
# ----------------------------------------------------------------------------------------------
def pad2d(x: torch.Tensor, padding: IntPair, mode: str = "zeros", value: float = 0.0) -> torch.Tensor:
    """Pad the last two axes by ``padding`` = (ph, pw) on each side: (…, H, W) -> (…, H+2ph, W+2pw).

    ``mode="zeros"`` fills with ``value`` (0: zero padding; −∞ for max pooling);
    ``mode="circular"`` wraps around: x_pad[i] = x[(i − ph) mod H] (a torus).
    """
    ph, pw = _pair(padding)
    H, W = x.shape[-2:]
    if mode == "zeros":
        out = x.new_full((*x.shape[:-2], H + 2 * ph, W + 2 * pw), value)
        out[..., ph:ph + H, pw:pw + W] = x
        return out
    if mode == "circular":
        rows = torch.arange(-ph, H + ph, device=x.device) % H
        cols = torch.arange(-pw, W + pw, device=x.device) % W
        return x[..., rows, :][..., cols]
    raise ValueError(f"pad2d: unknown mode {mode!r}; allowed: zeros, circular")


def im2col(x: torch.Tensor, kernel_size: IntPair, stride: IntPair = 1, padding: IntPair = 0,
           dilation: IntPair = 1, padding_mode: str = "zeros", pad_value: float = 0.0) -> torch.Tensor:
    """Sliding windows: (N, C, H, W) -> (N, C, OH, OW, kh, kw) with
    cols[n, c, i, j, a, b] = x_pad[n, c, i·S_h + a·D_h, j·S_w + b·D_w] (a view where possible).
    """
    (kh, kw), (sh, sw), (dh, dw) = _pair(kernel_size), _pair(stride), _pair(dilation)
    xp = pad2d(x, padding, padding_mode, pad_value)
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1  # extent of a dilated window
    if xp.shape[-2] < span_h or xp.shape[-1] < span_w:
        raise ValueError(f"im2col: padded input {tuple(xp.shape[-2:])} is smaller than the kernel span {(span_h, span_w)}")
    win = xp.unfold(-2, span_h, sh).unfold(-2, span_w, sw)  # (N, C, OH, OW, span_h, span_w)
    return win[..., ::dh, ::dw]


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: IntPair = 1,
           padding: IntPair = 0, dilation: IntPair = 1, groups: int = 1, padding_mode: str = "zeros") -> torch.Tensor:
    """2-D convolution (deep-learning convention: cross-correlation, kernel not flipped):

    y[n, o, i, j] = b[o] + Σ_{c, a, b} w[o, c, a, b] · x_pad[n, g(o)·C_g + c, i·S + a·D, j·S + b·D]

    where g(o) = o ÷ (C_out/groups) is o's group and C_g = C_in/groups.
    Args: x (N, C_in, H, W); weight (C_out, C_in/groups, kh, kw); bias (C_out,) or None.
    Returns (N, C_out, OH, OW) with OH = conv_output_size(H, kh, P_h, S_h, D_h).
    """
    N, C, H, W = x.shape
    O, Cg, kh, kw = weight.shape
    if C != Cg * groups or O % groups:
        raise ValueError(f"conv2d: {C} input channels, weight {tuple(weight.shape)} and groups={groups} do not agree")
    cols = im2col(x, (kh, kw), stride, padding, dilation, padding_mode)  # (N, C, OH, OW, kh, kw)
    OH, OW = cols.shape[2:4]
    cols = cols.reshape(N, groups, Cg, OH, OW, kh, kw)
    w = weight.reshape(groups, O // groups, Cg, kh, kw)
    y = torch.einsum("ngcijab,gocab->ngoij", cols, w).reshape(N, O, OH, OW)
    return y if bias is None else y + bias.reshape(1, O, 1, 1)


def conv_transpose2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: IntPair = 1,
                     padding: IntPair = 0, output_padding: IntPair = 0, groups: int = 1,
                     dilation: IntPair = 1) -> torch.Tensor:
    """Transposed convolution (the adjoint of :func:`conv2d`, a.k.a. fractionally strided conv):

    full[n, o, i·S + a·D, j·S + b·D] += Σ_c x[n, g·C_g + c, i, j] · w[g·C_g + c, o', a, b],
    y = full cropped by P on each side (+ output_padding extra rows/columns at the end) + b.

    Args: x (N, C_in, H, W); weight (C_in, C_out/groups, kh, kw) (torch's layout); bias (C_out,).
    Returns (N, C_out, OH, OW), OH = (H−1)S − 2P + D(K−1) + output_padding + 1.
    """
    N, C, H, W = x.shape
    Cw, Og, kh, kw = weight.shape
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation)
    if C != Cw or C % groups:
        raise ValueError(f"conv_transpose2d: {C} input channels, weight {tuple(weight.shape)} and groups={groups} do not agree")
    if oph >= max(sh, dh) or opw >= max(sw, dw):
        raise ValueError("conv_transpose2d: output_padding must be smaller than stride or dilation")
    OH = conv_transpose_output_size(H, kh, ph, sh, oph, dh)
    OW = conv_transpose_output_size(W, kw, pw, sw, opw, dw)
    Cg = C // groups
    xg = x.reshape(N, groups, Cg, H, W)
    wg = weight.reshape(groups, Cg, Og, kh, kw)
    full = x.new_zeros(N, groups, Og, OH + 2 * ph, OW + 2 * pw)
    for a in range(kh):
        for b in range(kw):
            r, c = a * dh, b * dw  # where kernel tap (a, b) sends input pixel (0, 0)
            full[..., r:r + (H - 1) * sh + 1:sh, c:c + (W - 1) * sw + 1:sw] += torch.einsum(
                "ngchw,gco->ngohw", xg, wg[..., a, b])
    y = full[..., ph:ph + OH, pw:pw + OW].reshape(N, groups * Og, OH, OW)
    return y if bias is None else y + bias.reshape(1, -1, 1, 1)


def max_pool2d(x: torch.Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
               dilation: IntPair = 1) -> torch.Tensor:
    """y[n, c, i, j] = max_{a,b} x_pad[n, c, i·S + a·D, j·S + b·D], padding with −∞ (stride defaults to K)."""
    cols = im2col(x, kernel_size, kernel_size if stride is None else stride, padding, dilation,
                  pad_value=-math.inf)
    return cols.amax(dim=(-2, -1))


def avg_pool2d(x: torch.Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
               count_include_pad: bool = True) -> torch.Tensor:
    """y[n, c, i, j] = (1/|window|) Σ_{a,b} x_pad[n, c, i·S + a, j·S + b] (zero padding).

    |window| = kh·kw when ``count_include_pad`` (torch's default), else the number of
    non-padding pixels in the window.
    """
    s = kernel_size if stride is None else stride
    total = im2col(x, kernel_size, s, padding).sum(dim=(-2, -1))
    if count_include_pad:
        kh, kw = _pair(kernel_size)
        return total / (kh * kw)
    ones = x.new_ones((1, 1, *x.shape[-2:]))
    return total / im2col(ones, kernel_size, s, padding).sum(dim=(-2, -1))


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Fully connected layer y = x Wᵀ + b. x (…, n_in), W (n_out, n_in), b (n_out,) -> (…, n_out)."""
    y = x @ weight.transpose(-1, -2)
    return y if bias is None else y + bias


# ----------------------------------------------------------------------------------------------
# modules
# ----------------------------------------------------------------------------------------------
def _uniform_(t: torch.Tensor, fan_in: int) -> torch.Tensor:
    """U(−1/√fan_in, 1/√fan_in): torch's default init for Linear and Conv weights and biases."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    with torch.no_grad():
        return t.uniform_(-bound, bound)


class Linear(nn.Module):
    """Fully connected layer: n_in·n_out weights + n_out biases."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(_uniform_(torch.empty(out_features, in_features), in_features))
        self.bias = nn.Parameter(_uniform_(torch.empty(out_features), in_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., n_in) -> (..., n_out)
        return linear(x, self.weight, self.bias)


class Conv2d(nn.Module):
    """Convolutional layer; same arguments and weight layout as ``torch.nn.Conv2d``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair = 1,
                 padding: IntPair = 0, dilation: IntPair = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros") -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.groups, self.padding_mode = in_channels, out_channels, groups, padding_mode
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding, self.dilation = _pair(padding), _pair(dilation)
        fan_in = in_channels // groups * self.kernel_size[0] * self.kernel_size[1]
        self.weight = nn.Parameter(_uniform_(torch.empty(out_channels, in_channels // groups, *self.kernel_size), fan_in))
        self.bias = nn.Parameter(_uniform_(torch.empty(out_channels), fan_in)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C_in, H, W) -> (N, C_out, OH, OW)
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups, self.padding_mode)


class ConvTranspose2d(nn.Module):
    """Transposed convolutional layer; same arguments and weight layout as ``torch.nn.ConvTranspose2d``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair = 1,
                 padding: IntPair = 0, output_padding: IntPair = 0, groups: int = 1, bias: bool = True,
                 dilation: IntPair = 1) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), _pair(stride), _pair(padding)
        self.output_padding, self.dilation = _pair(output_padding), _pair(dilation)
        fan_in = out_channels // groups * self.kernel_size[0] * self.kernel_size[1]  # torch's convention
        self.weight = nn.Parameter(_uniform_(torch.empty(in_channels, out_channels // groups, *self.kernel_size), fan_in))
        self.bias = nn.Parameter(_uniform_(torch.empty(out_channels), fan_in)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C_in, H, W) -> (N, C_out, OH, OW)
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                self.groups, self.dilation)


class _Pool2d(nn.Module):
    """Shared constructor: window, stride (default: the window), zero padding; no dilation."""

    def __init__(self, kernel_size: IntPair = 2, stride: IntPair | None = None, padding: IntPair = 0) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.stride = self.kernel_size if stride is None else _pair(stride)
        self.padding, self.dilation = _pair(padding), (1, 1)


class MaxPool2d(_Pool2d):
    """Max pooling (notes 004: 2×2 windows, stride 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """Average pooling (zero padding counted in the mean, as torch's default)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding)


@dataclass(frozen=True)
class CNNConfig:
    """A LeNet-style classifier: [conv K×K 'same' → ReLU → max-pool] per entry of ``channels``,
    then flatten → FC(hidden) → ReLU → FC(n_classes). Defaults fit 8×8 digits (load_digits)."""

    in_channels: int = 1
    image_size: int = 8
    channels: tuple[int, ...] = (16, 32)
    kernel_size: int = 3
    pool: int = 2
    hidden: int = 64
    n_classes: int = 10

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))  # YAML gives lists


class CNNClassifier(nn.Module):
    """Small CNN classifier: (N, C, H, W) images -> (N, n_classes) logits (no softmax)."""

    def __init__(self, config: CNNConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        self.config = cfg = replace(config or CNNConfig(), **overrides)
        layers: list[nn.Module] = []
        c, size = cfg.in_channels, cfg.image_size
        for out in cfg.channels:
            layers += [Conv2d(c, out, cfg.kernel_size, padding=same_padding(cfg.kernel_size)), nn.ReLU(),
                       MaxPool2d(cfg.pool)]
            c, size = out, conv_output_size(size, cfg.pool, 0, cfg.pool)  # conv keeps size; pool divides it
        self.features = nn.Sequential(*layers)
        self.flat_features = c * size * size
        self.fc1 = Linear(self.flat_features, cfg.hidden)
        self.fc2 = Linear(cfg.hidden, cfg.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)                    # (N, C_last, s, s)
        h = torch.relu(self.fc1(h.flatten(1)))  # (N, hidden)
        return self.fc2(h)                      # (N, n_classes)


# CNNConfig fields that are not Conv2d arguments: a suite gives them for the classifier, and
# make_model("conv2d", ...) receives them too (a benchmark's params extend the suite's).
_CLASSIFIER_ONLY = ("image_size", "channels", "pool", "hidden", "n_classes")


def make_model(model: str = "classifier", **params: Any) -> nn.Module:
    """The family's models by name: ``"classifier"`` -> :class:`CNNClassifier` (``params`` are
    :class:`CNNConfig` fields); ``"conv2d"`` -> :class:`Conv2d` (``params`` as ``nn.Conv2d``'s;
    the classifier-only fields ``image_size``, ``channels``, ``pool``, ``hidden`` and ``n_classes``
    are ignored)."""
    if model == "classifier":
        return CNNClassifier(**params)
    if model == "conv2d":
        return Conv2d(**{k: v for k, v in params.items() if k not in _CLASSIFIER_ONLY})
    raise ValueError(f"make_model: unknown model {model!r}; allowed: classifier, conv2d")
