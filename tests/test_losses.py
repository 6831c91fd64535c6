"""Every loss check passes on reference_impls.losses and rejects a broken variant (several of
them are the notes' own typos)."""
from __future__ import annotations

import pytest
import torch

from harness.testing import patched, run_check

REF = "reference_impls.losses"
F = torch.nn.functional


def _mean(t, reduction):
    return {"mean": t.mean(), "sum": t.sum(), "none": t}[reduction]


def _naive_bce_logits(z, y, reduction="mean"):
    p = torch.sigmoid(z)  # rounds to exactly 0 or 1 at |z| ≳ 37 (float64): log 0 = −inf
    return _mean(-(y * torch.log(p) + (1 - y) * torch.log(1 - p)), reduction)


def _torch_bce_on_sigmoid(z, y, reduction="mean"):
    return F.binary_cross_entropy(torch.sigmoid(z), y, reduction=reduction)  # clamps log at −100


def _unshifted_ce(z, t, reduction="mean"):
    logp = z - torch.logsumexp(z, dim=-1, keepdim=True)
    return _mean(-logp.gather(-1, t.unsqueeze(-1)).squeeze(-1), reduction)


def _detached_lse_ce(z, t, reduction="mean"):
    logp = z - torch.logsumexp(z, dim=-1, keepdim=True).detach()  # right value, gradient −onehot
    return _mean(-logp.gather(-1, t.unsqueeze(-1)).squeeze(-1), reduction)


def _ce_always_mean(z, t, reduction="mean"):
    return F.cross_entropy(z, t, reduction="mean" if reduction == "sum" else reduction)


SANITY = [
    ("regression_loss_matches_sklearn", {"loss": "mse"}),
    ("regression_loss_matches_sklearn", {"loss": "mae"}),
    ("regression_loss_matches_sklearn", {"loss": "msle"}),
    ("regression_loss_matches_sklearn", {"loss": "mape"}),
    ("hinge_loss_matches_sklearn", {}),
    ("bce_matches_sklearn_log_loss", {}),
    ("bce_with_logits_matches_torch", {}),
    ("bce_with_logits_stable_at_extremes", {}),
    ("categorical_ce_matches_sklearn_log_loss", {}),
    ("cross_entropy_matches_torch", {}),
    ("nll_loss_matches_torch", {}),
    ("cross_entropy_gradient_is_softmax_minus_onehot", {}),
    ("cross_entropy_gradient_is_softmax_minus_onehot", {"reduction": "sum"}),
    ("discrete_kl_nonnegative", {}),
    ("discrete_kl_self_zero", {}),
    ("discrete_kl_decomposition", {}),
    ("discrete_kl_asymmetric", {}),
    ("discrete_kl_matches_scipy", {}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,params", SANITY, ids=[f"{n}-{'-'.join(map(str, p.values()))}" for n, p in SANITY])
def test_reference_passes(name, params, dtype):
    out = run_check(name, REF, dtype=dtype, **params)
    assert out.passed, out.line()


@pytest.mark.parametrize("loss,broken", [
    ("mse", lambda p, t, reduction="mean": 0.5 * ((p - t) ** 2).mean()),  # notes' 1/2N variant
    ("mae", lambda p, t, reduction="mean": 0.5 * (p - t).abs().mean()),  # notes' 1/2N typo
    ("msle", lambda p, t, reduction="mean": torch.log(p).square().mean()),  # notes' (log ŷ)² typo
    ("msle", lambda p, t, reduction="mean": (torch.log(p + 1e-9) - torch.log(t + 1e-9)).square().mean()),  # no +1
    ("mape", lambda p, t, reduction="mean": ((p - t).abs() / t.abs()).mean()),  # a fraction, not percent
    ("mape", lambda p, t, reduction="mean": (100 * (p - t).abs() / t).mean()),  # notes: divides by y, not |y|
])
def test_regression_loss_matches_sklearn_rejects(loss, broken):
    assert not run_check("regression_loss_matches_sklearn", patched(REF, **{loss: broken}), loss=loss).passed


def test_hinge_loss_matches_sklearn_rejects_missing_margin():
    bad = patched(REF, hinge=lambda s, y, reduction="mean": torch.clamp(-y * s, min=0).mean())  # perceptron loss
    assert not run_check("hinge_loss_matches_sklearn", bad).passed


def test_bce_matches_sklearn_log_loss_rejects_sum_and_swapped_labels():
    summed = patched(REF, binary_cross_entropy=lambda p, y, reduction="mean": F.binary_cross_entropy(p, y, reduction="sum"))
    swapped = patched(REF, binary_cross_entropy=lambda p, y, reduction="mean": F.binary_cross_entropy(p, 1 - y))
    assert not run_check("bce_matches_sklearn_log_loss", summed).passed
    assert not run_check("bce_matches_sklearn_log_loss", swapped).passed


@pytest.mark.parametrize("broken", [_naive_bce_logits, _torch_bce_on_sigmoid])
def test_bce_with_logits_matches_torch_rejects_unstable(broken):
    assert not run_check("bce_with_logits_matches_torch", patched(REF, binary_cross_entropy_with_logits=broken)).passed


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("broken", [_naive_bce_logits, _torch_bce_on_sigmoid])
def test_bce_with_logits_stable_at_extremes_rejects_unstable(broken, dtype):
    bad = patched(REF, binary_cross_entropy_with_logits=broken)
    assert not run_check("bce_with_logits_stable_at_extremes", bad, dtype=dtype).passed


def test_categorical_ce_matches_sklearn_log_loss_rejects_notes_sum():
    bad = patched(REF, categorical_cross_entropy=lambda p, y, reduction="mean": -torch.xlogy(y, p).sum())
    assert not run_check("categorical_ce_matches_sklearn_log_loss", bad).passed


def test_cross_entropy_matches_torch_rejects_unshifted_in_float32():
    bad = patched(REF, cross_entropy=_unshifted_ce)
    assert run_check("cross_entropy_matches_torch", bad, dtype="float64").passed
    assert not run_check("cross_entropy_matches_torch", bad, dtype="float32").passed


def test_cross_entropy_matches_torch_rejects_missing_log():
    bad = patched(REF, cross_entropy=lambda z, t, reduction="mean": _mean(
        -torch.softmax(z, -1).gather(-1, t.unsqueeze(-1)).squeeze(-1), reduction))
    assert not run_check("cross_entropy_matches_torch", bad).passed


def test_nll_loss_matches_torch_rejects_sign_and_wrong_average():
    flipped = patched(REF, nll_loss=lambda lp, t, reduction="mean": -F.nll_loss(lp, t, reduction=reduction))
    all_classes = patched(REF, nll_loss=lambda lp, t, reduction="mean": _mean(-lp.mean(-1), reduction))
    assert not run_check("nll_loss_matches_torch", flipped).passed
    assert not run_check("nll_loss_matches_torch", all_classes).passed


def test_cross_entropy_gradient_rejects_detached_normaliser():
    bad = patched(REF, cross_entropy=_detached_lse_ce)
    assert run_check("cross_entropy_matches_torch", bad).passed  # the values are right ...
    assert not run_check("cross_entropy_gradient_is_softmax_minus_onehot", bad).passed  # ... the gradient is not


def test_cross_entropy_sum_gradient_rejects_mean_for_sum():
    bad = patched(REF, cross_entropy=_ce_always_mean)
    assert run_check("cross_entropy_gradient_is_softmax_minus_onehot", bad).passed
    assert not run_check("cross_entropy_gradient_is_softmax_minus_onehot", bad, reduction="sum").passed


def _notes_kl(p, q, dim=-1):
    return -(torch.xlogy(p, p) - torch.xlogy(p, q)).sum(dim)  # notes 003's leading minus sign


def _naive_kl(p, q, dim=-1):
    return (p * torch.log(p / q)).sum(dim)  # 0 · log 0 = nan


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_discrete_kl_nonnegative_rejects_notes_sign(dtype):
    assert not run_check("discrete_kl_nonnegative", patched(REF, kl_divergence=_notes_kl), dtype=dtype).passed


def test_discrete_kl_self_zero_rejects_nan_at_zero_mass():
    assert not run_check("discrete_kl_self_zero", patched(REF, kl_divergence=_naive_kl)).passed


def test_discrete_kl_self_zero_rejects_smoothed_log():
    bad = patched(REF, kl_divergence=lambda p, q, dim=-1: (p * torch.log((p + 1e-6) / (q + 1e-3))).sum(dim))
    assert not run_check("discrete_kl_self_zero", bad).passed


def test_discrete_kl_decomposition_rejects_bits_and_sign():
    bits = patched(REF, entropy=lambda p, dim=-1: -torch.special.xlog1py(p, p - 1).sum(dim) / torch.log(torch.tensor(2.0)))
    plus = patched(REF, kl_divergence=lambda p, q, dim=-1: (-torch.xlogy(p, q) - torch.xlogy(p, p)).sum(dim))
    assert not run_check("discrete_kl_decomposition", bits).passed
    assert not run_check("discrete_kl_decomposition", plus).passed


def test_discrete_kl_asymmetric_rejects_symmetrised():
    from reference_impls.losses import kl_divergence

    bad = patched(REF, kl_divergence=lambda p, q, dim=-1: 0.5 * (kl_divergence(p, q, dim) + kl_divergence(q, p, dim)))
    assert not run_check("discrete_kl_asymmetric", bad).passed


def test_discrete_kl_matches_scipy_rejects_swapped_arguments():
    from reference_impls.losses import kl_divergence

    bad = patched(REF, kl_divergence=lambda p, q, dim=-1: kl_divergence(q, p, dim))
    assert not run_check("discrete_kl_matches_scipy", bad).passed
