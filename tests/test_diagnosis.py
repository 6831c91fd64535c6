"""Failure messages name the likely cause only where the observed values show it."""
from __future__ import annotations

import pytest
import torch

import reference_impls.siamese as S
import reference_impls.vae as V
from harness.outcome import Tolerance, close, exact
from harness.testing import patched, run_check

TOL = Tolerance(1e-10, 1e-10, "test")
E = torch.linspace(0.5, 3.0, 12, dtype=torch.float64).reshape(3, 4)


@pytest.mark.parametrize("observed, text", [
    (2 * E, "2 × expected everywhere: a constant factor (a missing ½?)"),
    (0.5 * E, "0.5 × expected everywhere: a constant factor (an extra ½"),
    (E / 4, "divided by 4"),
    (-E, "a sign flip"),
    (E + 0.3, "expected + 0.3 everywhere: a constant shift"),
    (E.flatten().flip(0).reshape(3, 4), "the right values in the wrong positions"),
])
def test_relations_are_named(observed, text):
    out = close("x", observed, E, TOL)
    assert not out.passed and text in out.line()


def test_transpose_and_float32_rounding():
    sq = torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert "transpose" in close("x", sq.T, sq, TOL).line()
    out = close("x", E.float().double() * (1 + 3e-8), E, TOL, dtype="float64")
    assert "float32's rounding level" in out.line()


def test_no_relation_no_diagnosis():
    noise = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = close("x", E + noise, E, TOL, dtype="float64")
    assert not out.passed and "diagnosis" not in out.line()
    assert "diagnosis" not in close("x", E, E, TOL).line()  # a pass carries none


def test_off_by_one_sizes():
    assert "off by one" in exact("conv output size", 15, 14).line()
    assert "off by one in position 2" in exact("shape", (8, 3, 15, 14), (8, 3, 14, 14)).line()
    assert "diagnosis" not in exact("shape", (8, 3, 17, 14), (8, 3, 14, 14)).line()


def test_real_bugs_are_diagnosed_through_the_checks():
    half = patched("reference_impls.siamese", contrastive_loss=lambda d, y, margin=1.0, reduction="mean":
                   2 * S.contrastive_loss(d, y, margin, reduction))
    assert "a missing ½?" in run_check("contrastive_loss_reductions", half).line()
    swapped = patched("reference_impls.siamese", contrastive_loss=lambda d, y, margin=1.0, reduction="mean":
                      S.contrastive_loss(d, 1 - y.to(d.dtype), margin, reduction))
    assert "labels' meaning swapped" in run_check("contrastive_loss_reductions", swapped).line()
    per_dim = patched("reference_impls.vae", gaussian_kl=lambda mu, lv: V.gaussian_kl(mu, lv) / mu.shape[-1])
    assert "divided by 8" in run_check("vae_gaussian_kl_matches_torch", per_dim).line()
    f32 = patched("reference_impls.vae", gaussian_kl=lambda mu, lv: V.gaussian_kl(mu.float(), lv.float()).double())
    assert "float32's rounding level" in run_check("vae_gaussian_kl_matches_torch", f32).line()
