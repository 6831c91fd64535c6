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


def test_learned_distance_model_and_freezing():
    import reference_impls.siamese as S

    model = S.SiameseNetwork(in_features=5, hidden=4, embed_dim=3, distance="learned")
    trainable = S.freeze_encoder(model)
    assert [tuple(p.shape) for p in trainable] == [(1, 3), (1,)]
    assert not any(p.requires_grad for p in model.encoder.parameters())
    with pytest.raises(ValueError, match="learned"):
        S.SiameseNetwork(distance="mahalanobis")


@pytest.mark.parametrize("name", ["siamese_probability_output", "siamese_fine_tune_frozen_encoder"])
def test_learned_model_passes_at_other_sizes(name):
    out = run_check(name, net(distance="learned", in_features=7, hidden=3, embed_dim=2), dtype="float64")
    assert out.passed, out.line()
