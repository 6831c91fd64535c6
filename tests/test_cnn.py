"""Every CNN check (harness/checks/conv.py) passes on the reference and rejects a broken variant."""
from __future__ import annotations

import pytest
import torch

import reference_impls.cnn as cnn
from harness.registry import load_checks
from harness.testing import patched, run_check, subject_from

REF = "reference_impls.cnn:make_model"
CONV_CHECKS = sorted(n for n, s in load_checks().items() if s.module == "harness.checks.conv")
real_conv = cnn.conv2d
real_convT = cnn.conv_transpose2d


def broken(**cores):
    return patched(REF, **cores)


# --- sanity: the reference passes every check with its defaults -------------------------------
@pytest.mark.parametrize("name", CONV_CHECKS)
def test_reference_passes(name):
    dtype = "float32" if name == "cnn_learns_digits" else "float64"
    out = run_check(name, REF, dtype=dtype)
    assert out.passed, out.line()


def test_family_has_its_checks():
    assert len(CONV_CHECKS) >= 20


# --- output sizes and the notes' examples -----------------------------------------------------
def test_conv_output_size_formula_rejects_ignored_dilation():
    bad = broken(conv_output_size=lambda W, K, P, S, D=1: (W - K + 2 * P) // S + 1)
    assert not run_check("conv_output_size_formula", bad).passed


def test_conv_output_size_formula_rejects_missing_floor():
    bad = broken(conv_output_size=lambda W, K, P, S, D=1: (W + 2 * P - D * (K - 1) - 1) / S + 1)
    assert not run_check("conv_output_size_formula", bad).passed


def test_conv_output_size_formula_rejects_conv_off_by_one():
    bad = broken(conv2d=lambda x, w, b=None, s=1, p=0, d=1, g=1, m="zeros": real_conv(x, w, b, s, p, d, g, m)[..., 1:, :])
    assert not run_check("conv_output_size_formula", bad).passed


def test_conv_same_padding_keeps_size_rejects_wrong_padding():
    assert not run_check("conv_same_padding_keeps_size", broken(same_padding=lambda K: K - 1)).passed


def test_conv_same_padding_keeps_size_rejects_conv_ignoring_padding():
    bad = broken(conv2d=lambda x, w, b=None, s=1, p=0, *a: real_conv(x, w, b, s, 0))
    assert not run_check("conv_same_padding_keeps_size", bad).passed


def test_conv_notes_worked_example_rejects_averaging_kernel():
    bad = broken(conv2d=lambda x, w, *a: real_conv(x, w, *a) / w[0].numel())
    assert not run_check("conv_notes_worked_example", bad, dtype="float32").passed


def test_conv_notes_worked_example_cannot_tell_flip_so_cross_correlation_check_exists():
    """The X-kernel is symmetric under a flip, so true convolution passes the worked example;
    conv_is_cross_correlation is the check that tells the two conventions apart."""
    flipped = broken(conv2d=lambda x, w, *a: real_conv(x, w.flip(-1, -2), *a))
    assert run_check("conv_notes_worked_example", flipped).passed
    assert not run_check("conv_is_cross_correlation", flipped).passed


def test_conv_is_cross_correlation_rejects_true_convolution():
    flipped = broken(conv2d=lambda x, w, *a: real_conv(x, w.flip(-1, -2), *a))
    assert not run_check("conv_is_cross_correlation", flipped, dtype="float32").passed


def test_conv_notes_stride_example_rejects_conv_ignoring_padding():
    bad = broken(conv2d=lambda x, w, b=None, s=1, p=0, *a: real_conv(x, w, b, s, 0))
    assert not run_check("conv_notes_stride_example", bad).passed


def test_conv_notes_stride_example_rejects_size_without_plus_one():
    bad = broken(conv_output_size=lambda W, K, P, S, D=1: (W - K + 2 * P) // S)
    assert not run_check("conv_notes_stride_example", bad).passed


# --- conv2d values ----------------------------------------------------------------------------
def test_conv2d_matches_torch_rejects_dropped_bias():
    bad = broken(conv2d=lambda x, w, b=None, *a: real_conv(x, w, None, *a))
    assert not run_check("conv2d_matches_torch", bad).passed


def test_conv2d_matches_torch_rejects_ignored_dilation():
    bad = broken(conv2d=lambda x, w, b=None, s=1, p=0, d=1, g=1, m="zeros": real_conv(x, w, b, s, p + d - 1, 1, g))
    assert not run_check("conv2d_matches_torch", bad, dilation=2, padding=2, size=11).passed


def test_conv2d_matches_torch_rejects_module_ignoring_stride():
    class Conv2dNoStride(cnn.Conv2d):
        def forward(self, x):
            return cnn.conv2d(x, self.weight, self.bias, 1, self.padding, self.dilation, self.groups)

    out = run_check("conv2d_matches_torch", broken(Conv2d=Conv2dNoStride), stride=2, padding=1)
    assert not out.passed and "module" in out.statement


def test_conv2d_grad_matches_torch_rejects_halved_gradient():
    def conv_half_grad(*args):
        y = real_conv(*args)
        return y.detach() + 0.5 * (y - y.detach())  # right values, gradient halved

    bad = broken(conv2d=conv_half_grad)
    assert run_check("conv2d_matches_torch", bad).passed  # forward is right...
    assert not run_check("conv2d_grad_matches_torch", bad).passed  # ...its gradient is not


def test_conv_translation_equivariance_rejects_reflect_padding():
    def conv_reflect(x, w, b=None, s=1, p=0, d=1, g=1, m="zeros"):
        if m == "circular":
            x = torch.nn.functional.pad(x, (p, p, p, p), mode="reflect")
            return real_conv(x, w, b, s, 0, d, g)
        return real_conv(x, w, b, s, p, d, g)

    assert not run_check("conv_translation_equivariance", broken(conv2d=conv_reflect)).passed


def test_conv_translation_equivariance_rejects_position_dependent_output():
    def conv_pos(*args):
        y = real_conv(*args)
        return y + 1e-3 * torch.arange(y.shape[-1], dtype=y.dtype, device=y.device)

    bad = broken(conv2d=conv_pos)
    assert not run_check("conv_translation_equivariance", bad, padding_mode="zeros").passed
    assert not run_check("conv_translation_equivariance", bad).passed


def test_conv_1x1_is_linear_rejects_channel_mixup():
    bad = broken(conv2d=lambda x, w, b=None, *a: real_conv(x, w.roll(1, dims=1), b, *a))
    assert not run_check("conv_1x1_is_linear", bad).passed


# --- pooling ----------------------------------------------------------------------------------
def test_pool_2x2_halves_size_rejects_stride_one():
    bad = broken(max_pool2d=lambda x, k, s=None, p=0: cnn.max_pool2d(x, k, 1, p))
    assert not run_check("pool_2x2_halves_size", bad).passed


def test_pool_2x2_halves_size_rejects_wrong_average():
    bad = broken(avg_pool2d=lambda x, k, s=None, p=0, c=True: cnn.avg_pool2d(x, k, s, p, c) * 4 / 3)
    assert not run_check("pool_2x2_halves_size", bad).passed


def test_max_pool2d_matches_torch_rejects_min_pool():
    bad = broken(max_pool2d=lambda x, k, s=None, p=0: -cnn.max_pool2d(-x, k, s, p))
    assert not run_check("max_pool2d_matches_torch", bad).passed


def test_max_pool2d_matches_torch_rejects_zero_padding():
    def max_pool_zero_pad(x, k, s=None, p=0):
        return cnn.im2col(x, k, k if s is None else s, p).amax(dim=(-2, -1))  # pads with 0, not -inf

    bad = broken(max_pool2d=max_pool_zero_pad)
    assert not run_check("max_pool2d_matches_torch", bad, kernel_size=2, stride=1, padding=1, size=12).passed


def test_avg_pool2d_matches_torch_rejects_ignored_count_include_pad():
    bad = broken(avg_pool2d=lambda x, k, s=None, p=0, c=True: cnn.avg_pool2d(x, k, s, p, True))
    assert not run_check("avg_pool2d_matches_torch", bad, kernel_size=3, stride=2, padding=1,
                         count_include_pad=False).passed


def test_avg_pool2d_matches_torch_rejects_sum_pool():
    bad = broken(avg_pool2d=lambda x, k, s=None, p=0, c=True: cnn.avg_pool2d(x, k, s, p, c) * k * k)
    assert not run_check("avg_pool2d_matches_torch", bad).passed


# --- transposed convolution -------------------------------------------------------------------
def test_conv_transpose_output_size_formula_rejects_ignored_output_padding():
    bad = broken(conv_transpose_output_size=lambda W, K, P, S, op=0, D=1: (W - 1) * S - 2 * P + D * (K - 1) + 1)
    assert not run_check("conv_transpose_output_size_formula", bad).passed


def test_conv_transpose_output_size_formula_rejects_conv_formula():
    bad = broken(conv_transpose_output_size=lambda W, K, P, S, op=0, D=1: (W + 2 * P - D * (K - 1) - 1) // S + 1)
    assert not run_check("conv_transpose_output_size_formula", bad).passed


def test_conv_transpose2d_matches_torch_rejects_flipped_kernel():
    bad = broken(conv_transpose2d=lambda x, w, *a: real_convT(x, w.flip(-1, -2), *a))
    assert not run_check("conv_transpose2d_matches_torch", bad).passed


def test_conv_transpose2d_matches_torch_rejects_module_without_bias():
    class ConvT2dNoBias(cnn.ConvTranspose2d):
        def forward(self, x):
            return cnn.conv_transpose2d(x, self.weight, None, self.stride, self.padding, self.output_padding,
                                        self.groups, self.dilation)

    out = run_check("conv_transpose2d_matches_torch", broken(ConvTranspose2d=ConvT2dNoBias))
    assert not out.passed and "module" in out.statement


def test_conv_transpose_is_adjoint_rejects_flipped_kernel():
    bad = broken(conv_transpose2d=lambda x, w, *a: real_convT(x, w.flip(-1, -2), *a))
    assert not run_check("conv_transpose_is_adjoint", bad).passed


def test_conv_transpose_is_adjoint_rejects_scaled_transpose():
    bad = broken(conv_transpose2d=lambda *a: 2.0 * real_convT(*a))
    assert not run_check("conv_transpose_is_adjoint", bad, stride=1, padding=1).passed


# --- fully connected --------------------------------------------------------------------------
def test_fc_matches_torch_rejects_dropped_bias():
    bad = broken(linear=lambda x, W, b=None: x @ W.T)
    assert not run_check("fc_matches_torch", bad).passed


def test_fc_matches_torch_rejects_module_with_transposed_weight():
    class LinearWT(cnn.Linear):
        def forward(self, x):
            return x @ self.weight.flip(0).T + self.bias  # output units permuted

    assert not run_check("fc_matches_torch", broken(Linear=LinearWT)).passed


def test_fc_parameter_count_rejects_bias_per_input():
    class LinearBiasIn(cnn.Linear):
        def __init__(self, n_in, n_out, bias=True):
            super().__init__(n_in, n_out, bias)
            if bias:
                self.bias = torch.nn.Parameter(torch.zeros(n_in))

    assert not run_check("fc_parameter_count", broken(Linear=LinearBiasIn)).passed


# --- the classifier ---------------------------------------------------------------------------
class _Conv2dPaddingIgnored(cnn.Conv2d):
    def forward(self, x):  # claims self.padding, applies none
        return cnn.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _cnn_with_unpadded_first_conv(**params):
    model = cnn.CNNClassifier(**params)
    c0 = model.features[0]
    bad = _Conv2dPaddingIgnored(c0.in_channels, c0.out_channels, c0.kernel_size, padding=c0.padding)
    bad.load_state_dict(c0.state_dict())
    model.features[0] = bad
    return model


def _cnn_with_extra_parameter(**params):
    model = cnn.CNNClassifier(**params)
    model.temperature = torch.nn.Parameter(torch.ones(3))
    return model


class _BlindCNN(cnn.CNNClassifier):
    def forward(self, x):
        return super().forward(torch.zeros_like(x))  # never looks at the image


def test_cnn_layer_shapes_rejects_layer_that_misreports_padding():
    assert not run_check("cnn_layer_shapes", subject_from(_cnn_with_unpadded_first_conv)).passed
    assert "features.0" in run_check("cnn_layer_shapes", subject_from(_cnn_with_unpadded_first_conv)).statement


def test_cnn_layer_shapes_accepts_other_configs():
    s = subject_from(cnn.CNNClassifier, {"channels": [4, 4, 8], "image_size": 16, "kernel_size": 5, "n_classes": 3})
    assert run_check("cnn_layer_shapes", s).passed


def test_cnn_parameter_count_rejects_extra_parameter():
    assert not run_check("cnn_parameter_count", subject_from(_cnn_with_extra_parameter)).passed


def test_cnn_learns_digits_rejects_blind_model():
    assert not run_check("cnn_learns_digits", subject_from(_BlindCNN), dtype="float32", steps=40).passed
