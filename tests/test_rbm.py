"""RBM tests that are not check-vs-variant pairs (those are data: tests/mutants/rbm.py)."""
from __future__ import annotations

import pytest

from harness.testing import patched, run_check
from mutants.rbm import PARAMS, REF, free_energy_naive_softplus, gibbs_step_transposed


def test_transposed_gibbs_step_fails_loudly_for_non_square_W():
    """W where W^T belongs cannot even run when n_visible != n_hidden (the square case is a variant)."""
    with pytest.raises(RuntimeError):
        run_check("rbm_gibbs_step_kernel", patched(REF, PARAMS, gibbs_step=gibbs_step_transposed), n_visible=3, n_hidden=2)


def test_free_energy_overflow_is_caught_by_the_extreme_weights_only():
    """The naive log(1 + e^x) is right at unit weights: the extreme-weights part of the check is what
    rejects it (the variant in tests/mutants/rbm.py)."""
    out = run_check("rbm_free_energy_marginalises_hiddens", patched(REF, PARAMS, free_energy=free_energy_naive_softplus),
                    extreme_scale=1.0)
    assert out.passed, out.line()
