"""Loss variants that break one thing only pass the checks that do not test it: the checks that
reject them (tests/mutants/losses.py) reject them for what they break."""
from __future__ import annotations

import pytest

from harness.testing import patched, run_check
from mutants.losses import REF, ce_always_mean, detached_lse_ce, unshifted_ce


@pytest.mark.parametrize("check,cores,params", [
    # exact math: only float32 rounding at |z| = 1e4 tells it apart
    ("cross_entropy_matches_torch", {"cross_entropy": unshifted_ce}, {"dtype": "float64"}),
    # right values, wrong gradient
    ("cross_entropy_matches_torch", {"cross_entropy": detached_lse_ce}, {}),
    # right for reduction="mean", wrong for "sum"
    ("cross_entropy_gradient_is_softmax_minus_onehot", {"cross_entropy": ce_always_mean}, {}),
], ids=["unshifted-float64", "detached-normaliser-values", "mean-for-sum-at-mean"])
def test_narrow_variant_passes_elsewhere(check, cores, params):
    out = run_check(check, patched(REF, **cores), **params)
    assert out.passed, out.line()
