"""The reference Siamese network satisfies the twin-network checks with every distance, beyond the
combinations the siamese suite ships (its broken variants are in tests/mutants/siamese.py)."""
from __future__ import annotations

import pytest

from harness.testing import run_check
from mutants.siamese import net


@pytest.mark.parametrize("distance", ["euclidean", "manhattan", "cosine"])
@pytest.mark.parametrize("name", ["siamese_twins_share_parameters", "siamese_forward_is_distance_of_embeddings",
                                  "siamese_contrastive_step_direction"])
def test_reference_model_passes(name, distance):
    out = run_check(name, net(distance=distance), dtype="float64")
    assert out.passed, out.line()
