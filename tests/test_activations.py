"""Activation variants that break only a derivative get the values right: the checks that
reject them (tests/mutants/activations.py) test the derivative, not the values."""
from __future__ import annotations

import pytest

from harness.testing import patched, run_check
from mutants.activations import REF, softmax_detached_norm, softplus_clamp_kink


@pytest.mark.parametrize("check,cores,params", [
    ("softmax_sums_to_one", {"softmax": softmax_detached_norm}, {}),
    ("activation_matches_torch", {"softplus": softplus_clamp_kink}, {"activation": "softplus"}),
], ids=["softmax-detached-normaliser", "softplus-clamp-kink"])
def test_derivative_only_variant_has_right_values(check, cores, params):
    out = run_check(check, patched(REF, **cores), **params)
    assert out.passed, out.line()
