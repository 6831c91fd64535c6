"""Every Siamese / contrastive check passes on reference_impls.siamese and rejects a broken variant.

The headline broken variants: the contrastive loss written with Hadsell et al.'s label
convention (y = 0 similar) and with the margin term left unsquared.
"""
from __future__ import annotations

import copy

import pytest
import torch

import reference_impls.siamese as ref
from harness.registry import Subject
from harness.testing import patched, run_check, subject_from

PARAMS = {"in_features": 64, "hidden": 64, "embed_dim": 32, "distance": "euclidean"}
NET = "reference_impls.siamese:SiameseNetwork"
MOD = "reference_impls.siamese"


def net(**params):
    return subject_from(NET, {**PARAMS, **params})


def broken_net(cls, **params):
    """A broken model class whose functional cores are still the reference module's."""
    return Subject(cls.__name__, cls, {**PARAMS, **params}, ref)


# --- broken cores --------------------------------------------------------------------------
def hadsell_loss(d, y, margin=1.0, reduction="mean"):
    """Label convention swapped: y = 1 treated as DISsimilar (Hadsell et al.'s Y)."""
    return ref.contrastive_loss(d, 1 - y.to(d.dtype), margin, reduction)


def unsquared_margin_loss(d, y, margin=1.0, reduction="mean"):
    y = y.to(d.dtype)
    loss = y * 0.5 * d.square() + (1 - y) * 0.5 * torch.clamp(margin - d, min=0.0)
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]


def no_half_loss(d, y, margin=1.0, reduction="mean"):
    return 2.0 * ref.contrastive_loss(d, y, margin, reduction)


def mean_is_sum_loss(d, y, margin=1.0, reduction="mean"):
    return ref.contrastive_loss(d, y, margin, "sum" if reduction == "mean" else reduction)


def squared_euclidean(a, b):
    return (a - b).square().sum(-1)


def signed_manhattan(a, b):
    return (a - b).sum(-1)


def unnormalised_cosine(a, b):
    return 1.0 - (a * b).sum(-1) / torch.linalg.vector_norm(a, dim=-1).square().clamp_min(1e-12)


def cosine_similarity_not_distance(a, b):
    return 1.0 - ref.cosine_distance(a, b)


# --- broken models -------------------------------------------------------------------------
class TwoEncoders(ref.SiameseNetwork):
    """Two separately stored copies of the encoder (equal at initialisation)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.encoder2 = copy.deepcopy(self.encoder)

    def forward(self, x1, x2):
        return self.distance(self.encoder(x1), self.encoder2(x2))


class AlwaysEuclidean(ref.SiameseNetwork):
    """Ignores the configured distance."""

    def forward(self, x1, x2):
        return ref.euclidean_distance(self.embed(x1), self.embed(x2))


class SquaredDistanceNet(ref.SiameseNetwork):
    def forward(self, x1, x2):
        return super().forward(x1, x2).square()


# --- the reference passes ------------------------------------------------------------------
MODULE_SANITY = [
    ("siamese_distance_matches_scipy", {"distance": "euclidean"}),
    ("siamese_distance_matches_scipy", {"distance": "manhattan"}),
    ("siamese_distance_matches_scipy", {"distance": "cosine"}),
    ("siamese_distance_metric_axioms", {"distance": "euclidean"}),
    ("siamese_distance_metric_axioms", {"distance": "manhattan"}),
    ("siamese_distance_metric_axioms", {"distance": "cosine"}),
    ("contrastive_dissimilar_beyond_margin", {}),
    ("contrastive_similar_half_square", {}),
    ("contrastive_margin_gradient", {}),
    ("contrastive_loss_reductions", {}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,params", MODULE_SANITY, ids=[f"{n}-{p.get('distance', '')}" for n, p in MODULE_SANITY])
def test_reference_cores_pass(name, params, dtype):
    out = run_check(name, MOD, dtype=dtype, **params)
    assert out.passed, out.line()


@pytest.mark.parametrize("distance", ["euclidean", "manhattan", "cosine"])
@pytest.mark.parametrize("name", ["siamese_twins_share_parameters", "siamese_forward_is_distance_of_embeddings",
                                  "siamese_contrastive_step_direction"])
def test_reference_model_passes(name, distance):
    out = run_check(name, net(distance=distance), dtype="float64")
    assert out.passed, out.line()


def test_reference_one_shot_accuracy_passes():
    out = run_check("siamese_one_shot_accuracy", net(), dtype="float64")
    assert out.passed, out.line()


# --- headline: the two classic contrastive-loss mistakes are rejected ------------------------
def test_swapped_label_convention_is_rejected():
    bad = patched(MOD, contrastive_loss=hadsell_loss)
    assert not run_check("contrastive_dissimilar_beyond_margin", bad).passed
    assert not run_check("contrastive_similar_half_square", bad).passed
    assert not run_check("contrastive_margin_gradient", bad).passed
    assert not run_check("contrastive_loss_reductions", bad).passed


def test_unsquared_margin_term_is_rejected():
    bad = patched(MOD, contrastive_loss=unsquared_margin_loss)
    out = run_check("contrastive_margin_gradient", bad)
    assert not out.passed and "∂L/∂d" in out.statement
    assert not run_check("contrastive_loss_reductions", bad).passed


def test_missing_half_is_rejected():
    assert not run_check("contrastive_similar_half_square", patched(MOD, contrastive_loss=no_half_loss)).passed


def test_reductions_reject_sum_for_mean():
    assert not run_check("contrastive_loss_reductions", patched(MOD, contrastive_loss=mean_is_sum_loss)).passed


# --- distances --------------------------------------------------------------------------------
def test_distance_scipy_rejects_wrong_distances():
    assert not run_check("siamese_distance_matches_scipy", patched(MOD, euclidean_distance=squared_euclidean),
                         distance="euclidean").passed
    assert not run_check("siamese_distance_matches_scipy", patched(MOD, manhattan_distance=signed_manhattan),
                         distance="manhattan").passed
    assert not run_check("siamese_distance_matches_scipy", patched(MOD, cosine_distance=cosine_similarity_not_distance),
                         distance="cosine").passed


def test_metric_axioms_reject_non_metrics():
    # squared Euclidean breaks the triangle inequality (collinear points: 2² > 1² + 1²)
    assert not run_check("siamese_distance_metric_axioms", patched(MOD, euclidean_distance=squared_euclidean),
                         distance="euclidean").passed
    # no absolute value: neither symmetric nor non-negative
    assert not run_check("siamese_distance_metric_axioms", patched(MOD, manhattan_distance=signed_manhattan),
                         distance="manhattan").passed
    # normalised by ‖a‖² only: d(a, 2.5a) ≠ 0 and not symmetric
    assert not run_check("siamese_distance_metric_axioms", patched(MOD, cosine_distance=unnormalised_cosine),
                         distance="cosine").passed


# --- the twin network -------------------------------------------------------------------------
def test_twins_check_rejects_two_encoders():
    assert not run_check("siamese_twins_share_parameters", broken_net(TwoEncoders)).passed
    assert not run_check("siamese_twins_share_parameters", broken_net(TwoEncoders, distance="cosine")).passed


def test_forward_check_rejects_wrong_distance():
    assert not run_check("siamese_forward_is_distance_of_embeddings", broken_net(AlwaysEuclidean, distance="cosine")).passed
    assert not run_check("siamese_forward_is_distance_of_embeddings", broken_net(SquaredDistanceNet)).passed


def test_step_direction_rejects_swapped_labels():
    bad = Subject("swapped", ref.SiameseNetwork, PARAMS, patched(MOD, contrastive_loss=hadsell_loss).namespace)
    assert not run_check("siamese_contrastive_step_direction", bad).passed


def test_one_shot_accuracy_rejects_swapped_labels():
    bad = Subject("swapped", ref.SiameseNetwork, PARAMS, patched(MOD, contrastive_loss=hadsell_loss).namespace)
    assert not run_check("siamese_one_shot_accuracy", bad).passed
