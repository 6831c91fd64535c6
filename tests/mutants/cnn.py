"""Broken variants of the convolutional-network family (harness/checks/cnn.py)."""
from __future__ import annotations

import torch

import reference_impls.cnn as cnn
from harness.testing import broken, patched, replaced, subject_from

# the cnn suite's subject params
PARAMS = {"in_channels": 1, "image_size": 8, "channels": [16, 32], "kernel_size": 3, "pool": 2, "hidden": 64,
          "n_classes": 10}
REF = subject_from("reference_impls.cnn:make_model", PARAMS)
real_conv = cnn.conv2d
real_convT = cnn.conv_transpose2d


def cores(**overrides):
    return patched(REF, **overrides)


# --- broken cores ---------------------------------------------------------------------------------
def conv_ignoring_padding(x, w, b=None, s=1, p=0, *a):
    return real_conv(x, w, b, s, 0)


def conv_flipped(x, w, *a):
    """True convolution: the kernel flipped. The notes' X-kernel is flip-symmetric, so this passes
    conv_notes_worked_example; conv_is_cross_correlation is the check that tells the two apart."""
    return real_conv(x, w.flip(-1, -2), *a)


def conv_half_grad(*args):
    """Right values (it passes conv2d_matches_torch), gradient halved."""
    y = real_conv(*args)
    return y.detach() + 0.5 * (y - y.detach())


def conv_reflect(x, w, b=None, s=1, p=0, d=1, g=1, m="zeros"):
    """Reflect padding where circular is asked for."""
    if m == "circular":
        x = torch.nn.functional.pad(x, (p, p, p, p), mode="reflect")
        return real_conv(x, w, b, s, 0, d, g)
    return real_conv(x, w, b, s, p, d, g)


def conv_position_dependent(*args):
    y = real_conv(*args)
    return y + 1e-3 * torch.arange(y.shape[-1], dtype=y.dtype, device=y.device)


def max_pool_zero_pad(x, k, s=None, p=0):
    return cnn.im2col(x, k, k if s is None else s, p).amax(dim=(-2, -1))  # pads with 0, not -inf


# --- broken modules -------------------------------------------------------------------------------
class Conv2dNoStride(cnn.Conv2d):
    def forward(self, x):
        return cnn.conv2d(x, self.weight, self.bias, 1, self.padding, self.dilation, self.groups)


class ConvT2dNoBias(cnn.ConvTranspose2d):
    def forward(self, x):
        return cnn.conv_transpose2d(x, self.weight, None, self.stride, self.padding, self.output_padding,
                                    self.groups, self.dilation)


class LinearWT(cnn.Linear):
    def forward(self, x):
        return x @ self.weight.flip(0).T + self.bias  # output units permuted


class LinearBiasIn(cnn.Linear):
    def __init__(self, n_in, n_out, bias=True):
        super().__init__(n_in, n_out, bias)
        if bias:
            self.bias = torch.nn.Parameter(torch.zeros(n_in))


# --- broken classifiers ---------------------------------------------------------------------------
class _Conv2dPaddingIgnored(cnn.Conv2d):
    def forward(self, x):  # claims self.padding, applies none
        return cnn.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def cnn_with_unpadded_first_conv(**params):
    model = cnn.CNNClassifier(**params)
    c0 = model.features[0]
    bad = _Conv2dPaddingIgnored(c0.in_channels, c0.out_channels, c0.kernel_size, padding=c0.padding)
    bad.load_state_dict(c0.state_dict())
    model.features[0] = bad
    return model


def cnn_with_extra_parameter(**params):
    model = cnn.CNNClassifier(**params)
    model.temperature = torch.nn.Parameter(torch.ones(3))
    return model


class BlindCNN(cnn.CNNClassifier):
    def forward(self, x):
        return super().forward(torch.zeros_like(x))  # never looks at the image


MUTANTS = {
    # output sizes and the notes' examples
    "conv_output_size_formula": [
        broken("size ignores dilation", cores(conv_output_size=lambda W, K, P, S, D=1: (W - K + 2 * P) // S + 1)),
        broken("size without the floor",
               cores(conv_output_size=lambda W, K, P, S, D=1: (W + 2 * P - D * (K - 1) - 1) / S + 1)),
        broken("conv drops an output row", cores(
            conv2d=lambda x, w, b=None, s=1, p=0, d=1, g=1, m="zeros": real_conv(x, w, b, s, p, d, g, m)[..., 1:, :])),
    ],
    "conv_same_padding_keeps_size": [
        broken("same_padding K - 1", cores(same_padding=lambda K: K - 1)),
        broken("conv ignores padding", cores(conv2d=conv_ignoring_padding)),
    ],
    "conv_notes_worked_example": [
        broken("averaging kernel", cores(conv2d=lambda x, w, *a: real_conv(x, w, *a) / w[0].numel()), dtype="float32"),
    ],
    "conv_is_cross_correlation": [
        broken("true convolution (flipped kernel)", cores(conv2d=conv_flipped)),
        broken("true convolution (flipped kernel), float32", cores(conv2d=conv_flipped), dtype="float32"),
    ],
    "conv_notes_stride_example": [
        broken("conv ignores padding", cores(conv2d=conv_ignoring_padding)),
        broken("size without the + 1", cores(conv_output_size=lambda W, K, P, S, D=1: (W - K + 2 * P) // S)),
    ],
    # conv2d values
    "conv2d_matches_torch": [
        broken("dropped bias", cores(conv2d=lambda x, w, b=None, *a: real_conv(x, w, None, *a))),
        broken("dilation replaced by padding", cores(
            conv2d=lambda x, w, b=None, s=1, p=0, d=1, g=1, m="zeros": real_conv(x, w, b, s, p + d - 1, 1, g)),
            dilation=2, padding=2, size=11),
        broken("Conv2d module ignores stride", cores(Conv2d=Conv2dNoStride), stride=2, padding=1),
    ],
    "conv2d_grad_matches_torch": [
        broken("halved gradient", cores(conv2d=conv_half_grad)),
    ],
    "conv_translation_equivariance": [
        broken("reflect instead of circular padding", cores(conv2d=conv_reflect)),
        broken("position-dependent output, zero padding", cores(conv2d=conv_position_dependent), padding_mode="zeros"),
        broken("position-dependent output, circular padding", cores(conv2d=conv_position_dependent)),
    ],
    "conv_1x1_is_linear": [
        broken("input channels rolled", cores(conv2d=lambda x, w, b=None, *a: real_conv(x, w.roll(1, dims=1), b, *a))),
    ],
    # pooling
    "pool_2x2_halves_size": [
        broken("max pool with stride 1", cores(max_pool2d=lambda x, k, s=None, p=0: cnn.max_pool2d(x, k, 1, p))),
        broken("average times 4/3",
               cores(avg_pool2d=lambda x, k, s=None, p=0, c=True: cnn.avg_pool2d(x, k, s, p, c) * 4 / 3)),
    ],
    "max_pool2d_matches_torch": [
        broken("min pool", cores(max_pool2d=lambda x, k, s=None, p=0: -cnn.max_pool2d(-x, k, s, p))),
        broken("pads with 0, not -inf", cores(max_pool2d=max_pool_zero_pad), kernel_size=2, stride=1, padding=1,
               size=12),
    ],
    "avg_pool2d_matches_torch": [
        broken("ignores count_include_pad",
               cores(avg_pool2d=lambda x, k, s=None, p=0, c=True: cnn.avg_pool2d(x, k, s, p, True)),
               kernel_size=3, stride=2, padding=1, count_include_pad=False),
        broken("sum pool", cores(avg_pool2d=lambda x, k, s=None, p=0, c=True: cnn.avg_pool2d(x, k, s, p, c) * k * k)),
    ],
    # transposed convolution
    "conv_transpose_output_size_formula": [
        broken("ignores output_padding", cores(
            conv_transpose_output_size=lambda W, K, P, S, op=0, D=1: (W - 1) * S - 2 * P + D * (K - 1) + 1)),
        broken("the convolution's formula", cores(
            conv_transpose_output_size=lambda W, K, P, S, op=0, D=1: (W + 2 * P - D * (K - 1) - 1) // S + 1)),
    ],
    "conv_transpose2d_matches_torch": [
        broken("flipped kernel", cores(conv_transpose2d=lambda x, w, *a: real_convT(x, w.flip(-1, -2), *a))),
        broken("ConvTranspose2d module drops its bias", cores(ConvTranspose2d=ConvT2dNoBias)),
    ],
    "conv_transpose_is_adjoint": [
        broken("flipped kernel", cores(conv_transpose2d=lambda x, w, *a: real_convT(x, w.flip(-1, -2), *a))),
        broken("scaled by 2", cores(conv_transpose2d=lambda *a: 2.0 * real_convT(*a)), stride=1, padding=1),
    ],
    # fully connected
    "fc_matches_torch": [
        broken("dropped bias", cores(linear=lambda x, W, b=None: x @ W.T)),
        broken("Linear module permutes its outputs", cores(Linear=LinearWT)),
    ],
    "fc_parameter_count": [
        broken("one bias per input", cores(Linear=LinearBiasIn)),
    ],
    # the classifier
    "cnn_layer_shapes": [
        broken("first conv ignores the padding it reports", replaced(REF, cnn_with_unpadded_first_conv)),
    ],
    "cnn_parameter_count": [
        broken("an extra parameter", replaced(REF, cnn_with_extra_parameter)),
    ],
    "cnn_learns_digits": [
        # the default 120 steps: the reference, run with the same arguments, needs them (0.86 after 40)
        broken("never looks at the image", replaced(REF, BlindCNN), dtype="float32"),
    ],
}


# --- the notes' 32×32×3 example ---------------------------------------------------------------------
def conv_first_channel_only(x, w, b=None, *a):
    """Filters treated as 5×5×1: only the first input channel is convolved."""
    return real_conv(x[:, :1], w[:, :1], b, *a)


def conv_maps_summed(x, w, b=None, *a):
    """One activation map (the filters' sum) repeated: the filters are not kept separate."""
    y = real_conv(x, w, b, *a)
    return y.sum(1, keepdim=True).expand_as(y)


def output_size_without_plus_one(W, K, P, S, D=1):
    return (W + 2 * P - D * (K - 1) - 1) // S


def linear_without_bias(x, weight, bias=None):
    return cnn.linear(x, weight)


MUTANTS["conv_notes_32x32x3_example"] = [
    broken("filters see the first channel only", cores(conv2d=conv_first_channel_only)),
    broken("activation maps summed", cores(conv2d=conv_maps_summed)),
    broken("O = (W − K + 2P)/S without + 1", cores(conv_output_size=output_size_without_plus_one)),
    broken("fully connected layer drops its bias", cores(linear=linear_without_bias)),
    broken("filters see the first channel only (float32)", cores(conv2d=conv_first_channel_only), dtype="float32"),
]


# --- output_padding range, pooling gradients, initialisation, the classifier's architecture ----------
def convT_clipping_output_padding(x, w, b=None, s=1, p=0, op=0, g=1, d=1):
    """Silently clips output_padding to max(stride, dilation) − 1 instead of rejecting it."""
    top = max(cnn._pair(s)[0], cnn._pair(d)[0]) - 1, max(cnn._pair(s)[1], cnn._pair(d)[1]) - 1
    op = tuple(min(o, t) for o, t in zip(cnn._pair(op), top))
    return real_convT(x, w, b, s, p, op, g, d)


def convT_output_padding_up_to_stride(x, w, b=None, s=1, p=0, op=0, g=1, d=1):
    """Accepts output_padding = stride (one zero row/column too many) instead of rejecting it."""
    (oh, ow), (sh, sw), (dh, dw) = cnn._pair(op), cnn._pair(s), cnn._pair(d)
    eh, ew = int(oh == max(sh, dh)), int(ow == max(sw, dw))
    y = real_convT(x, w, b, s, p, (oh - eh, ow - ew), g, d)
    return torch.nn.functional.pad(y, (0, ew, 0, eh))


def avg_pool_detached(x, k, s=None, p=0, count_include_pad=True):
    return cnn.avg_pool2d(x, k, s, p, count_include_pad).detach()


def max_pool_mean_gradient(x, k, s=None, p=0, d=1):
    """max pooling's values with average pooling's gradient (spread over the window)."""
    mx, mean = cnn.max_pool2d(x, k, s, p, d), cnn.avg_pool2d(x, k, s, p)
    return mean + (mx - mean).detach()


class AvgPool2dDetached(cnn.AvgPool2d):
    def forward(self, x):
        return super().forward(x).detach()


def _init(t, fan_in, scale):
    with torch.no_grad():
        return t.uniform_(-scale / fan_in ** 0.5, scale / fan_in ** 0.5)


class LinearDoubleInit(cnn.Linear):
    """Weights from U(±2/√fan_in)."""

    def __init__(self, n_in, n_out, bias=True):
        super().__init__(n_in, n_out, bias)
        _init(self.weight, n_in, 2.0)


class LinearZeroFanInCrash(cnn.Linear):
    """1/√fan_in without the fan_in = 0 guard: Linear(0, n) raises ZeroDivisionError."""

    def __init__(self, n_in, n_out, bias=True):
        super().__init__(n_in, n_out, bias)
        if bias:
            _init(self.bias, n_in, 1.0)


class ConvFanInWithoutGroups(cnn.Conv2d):
    """fan_in = C_in·kh·kw, ignoring the groups (bound too small for grouped convs)."""

    def __init__(self, c_in, c_out, k, *a, **kw):
        super().__init__(c_in, c_out, k, *a, **kw)
        fan_in = max(c_in, 1) * self.kernel_size[0] * self.kernel_size[1]
        _init(self.weight, fan_in, 1.0)
        _init(self.bias, fan_in, 1.0)


class ConvTNormalInit(cnn.ConvTranspose2d):
    """Weights from N(0, 1/(3·fan_in)): the uniform's variance, but not uniform."""

    def __init__(self, c_in, c_out, k, *a, **kw):
        super().__init__(c_in, c_out, k, *a, **kw)
        fan_in = c_out // self.groups * self.kernel_size[0] * self.kernel_size[1]
        with torch.no_grad():
            self.weight.normal_(0.0, (1.0 / (3 * fan_in)) ** 0.5).clamp_(-fan_in ** -0.5, fan_in ** -0.5)


class TanhCNN(cnn.CNNClassifier):
    """tanh in the conv blocks."""

    def __init__(self, **params):
        super().__init__(**params)
        for i, m in enumerate(self.features):
            if isinstance(m, torch.nn.ReLU):
                self.features[i] = torch.nn.Tanh()


class LinearHeadCNN(cnn.CNNClassifier):
    """No ReLU between the two fully connected layers."""

    def forward(self, x):
        return self.fc2(self.fc1(self.features(x).flatten(1)))


class AvgPoolCNN(cnn.CNNClassifier):
    """Average pooling where the architecture has max pooling."""

    def __init__(self, **params):
        super().__init__(**params)
        for i, m in enumerate(self.features):
            if isinstance(m, cnn.MaxPool2d):
                self.features[i] = cnn.AvgPool2d(m.kernel_size)


MUTANTS["conv_transpose2d_output_padding_range"] = [
    broken("output_padding clipped, not rejected", cores(conv_transpose2d=convT_clipping_output_padding)),
    broken("output_padding = stride accepted", cores(conv_transpose2d=convT_output_padding_up_to_stride)),
]
MUTANTS["pool2d_grad_matches_torch"] = [
    broken("avg_pool2d detached", cores(avg_pool2d=avg_pool_detached)),
    broken("max pooling with the mean's gradient", cores(max_pool2d=max_pool_mean_gradient)),
    broken("AvgPool2d module detached", cores(AvgPool2d=AvgPool2dDetached)),
]
MUTANTS["layer_init_uniform_bounds"] = [
    broken("Linear weights from U(±2/√fan_in)", cores(Linear=LinearDoubleInit)),
    broken("Linear(0, n) divides by zero", cores(Linear=LinearZeroFanInCrash)),
    broken("Conv2d fan_in ignores groups", cores(Conv2d=ConvFanInWithoutGroups)),
    broken("ConvTranspose2d weights normal", cores(ConvTranspose2d=ConvTNormalInit)),
]
MUTANTS["cnn_classifier_matches_functional"] = [
    broken("tanh in the conv blocks", replaced(REF, TanhCNN)),
    broken("no ReLU between the FC layers", replaced(REF, LinearHeadCNN)),
    broken("average pooling", replaced(REF, AvgPoolCNN)),
    broken("tanh in the conv blocks (float32)", replaced(REF, TanhCNN), dtype="float32"),
]
