"""Broken-variant test for the example check shipped with the core."""
from harness.testing import patched, run_check


def test_softmax_sums_to_one_rejects_missing_normalisation():
    bad = patched("reference_impls.activations", softmax=lambda x, dim=-1: (x - x.amax(dim, keepdim=True)).exp())
    assert not run_check("softmax_sums_to_one", bad).passed
    assert run_check("softmax_sums_to_one", "reference_impls.activations").passed
