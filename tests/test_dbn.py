"""DBN tests that are not check-vs-variant pairs (those are data: tests/mutants/dbn.py)."""
from __future__ import annotations

import pytest

from harness.testing import run_check, subject_from
from mutants.dbn import UntransposedDBN


def test_unroll_missing_transpose_fails_loudly_for_non_square_layers():
    """weight = W instead of W^T cannot even be copied when a layer is not square (the square case is a variant)."""
    with pytest.raises(RuntimeError):
        run_check("dbn_unroll_initialises_mlp", subject_from(UntransposedDBN, {"layer_sizes": [12, 8], "n_classes": 3}))
