"""Broken variants of the Siamese network family (harness/checks/siamese.py).

The headline variants: the contrastive loss written with Hadsell et al.'s label convention
(y = 0 similar) and with the margin term left unsquared.
"""
from __future__ import annotations

import copy

import torch

import reference_impls.siamese as ref
from harness.testing import broken, patched, replaced, subject_from

MOD = "reference_impls.siamese"
# the siamese suite's subject params
PARAMS = {"in_features": 64, "hidden": 64, "embed_dim": 32, "distance": "euclidean"}


def net(**params):
    return subject_from("reference_impls.siamese:SiameseNetwork", {**PARAMS, **params})


# --- broken cores ---------------------------------------------------------------------------------
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
    """Not a metric: breaks the triangle inequality (collinear points: 2² > 1² + 1²)."""
    return (a - b).square().sum(-1)


def signed_manhattan(a, b):
    """No absolute value: neither symmetric nor non-negative."""
    return (a - b).sum(-1)


def unnormalised_cosine(a, b):
    """Normalised by ‖a‖² only: d(a, 2.5a) ≠ 0 and not symmetric."""
    return 1.0 - (a * b).sum(-1) / torch.linalg.vector_norm(a, dim=-1).square().clamp_min(1e-12)


def cosine_similarity_not_distance(a, b):
    return 1.0 - ref.cosine_distance(a, b)


# --- broken models --------------------------------------------------------------------------------
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


MUTANTS = {
    # distances
    "siamese_distance_matches_scipy": [
        broken("squared Euclidean", patched(MOD, euclidean_distance=squared_euclidean), distance="euclidean"),
        broken("signed Manhattan", patched(MOD, manhattan_distance=signed_manhattan), distance="manhattan"),
        broken("cosine similarity for the distance", patched(MOD, cosine_distance=cosine_similarity_not_distance),
               distance="cosine"),
    ],
    "siamese_distance_metric_axioms": [
        broken("squared Euclidean", patched(MOD, euclidean_distance=squared_euclidean), distance="euclidean"),
        broken("signed Manhattan", patched(MOD, manhattan_distance=signed_manhattan), distance="manhattan"),
        broken("cosine normalised by |a|^2", patched(MOD, cosine_distance=unnormalised_cosine), distance="cosine"),
    ],
    # contrastive loss
    "contrastive_dissimilar_beyond_margin": [
        broken("Hadsell labels (y = 0 similar)", patched(MOD, contrastive_loss=hadsell_loss)),
    ],
    "contrastive_similar_half_square": [
        broken("Hadsell labels (y = 0 similar)", patched(MOD, contrastive_loss=hadsell_loss)),
        broken("no 1/2", patched(MOD, contrastive_loss=no_half_loss)),
    ],
    "contrastive_margin_gradient": [
        broken("Hadsell labels (y = 0 similar)", patched(MOD, contrastive_loss=hadsell_loss)),
        broken("margin term not squared", patched(MOD, contrastive_loss=unsquared_margin_loss)),
    ],
    "contrastive_loss_reductions": [
        broken("Hadsell labels (y = 0 similar)", patched(MOD, contrastive_loss=hadsell_loss)),
        broken("margin term not squared", patched(MOD, contrastive_loss=unsquared_margin_loss)),
        broken("'mean' sums", patched(MOD, contrastive_loss=mean_is_sum_loss)),
    ],
    # the twin network
    "siamese_twins_share_parameters": [
        broken("two encoders, Euclidean", replaced(net(), TwoEncoders)),
        broken("two encoders, cosine", replaced(net(distance="cosine"), TwoEncoders)),
    ],
    "siamese_forward_is_distance_of_embeddings": [
        broken("Euclidean where cosine is configured", replaced(net(distance="cosine"), AlwaysEuclidean)),
        broken("squared distance", replaced(net(), SquaredDistanceNet)),
    ],
    "siamese_contrastive_step_direction": [
        broken("Hadsell labels (y = 0 similar)", patched(net(), contrastive_loss=hadsell_loss)),
    ],
    "siamese_one_shot_accuracy": [
        broken("Hadsell labels (y = 0 similar)", patched(net(), contrastive_loss=hadsell_loss)),
    ],
}


# --- N-way one-shot prediction and accuracy -----------------------------------------------------------
def predict_farthest(distance_fn, query, support):
    """argmax where argmin belongs: the most dissimilar support example."""
    return distance_fn(query.unsqueeze(1).expand_as(support), support).argmax(dim=-1)


def accuracy_as_count(distance_fn, query, support, target):
    """The number of hits, not their fraction."""
    return (ref.one_shot_predict(distance_fn, query, support) == target).to(query.dtype).sum()


def accuracy_farthest(distance_fn, query, support, target):
    return (predict_farthest(distance_fn, query, support) == target).to(query.dtype).mean()


MUTANTS["siamese_one_shot_accuracy_definition"] = [
    broken("prediction by argmax", patched(MOD, PARAMS, one_shot_predict=predict_farthest)),
    broken("accuracy as a count", patched(MOD, PARAMS, n_way_one_shot_accuracy=accuracy_as_count)),
    broken("accuracy of the farthest example", patched(MOD, PARAMS, n_way_one_shot_accuracy=accuracy_farthest)),
    broken("accuracy as a count (float32)", patched(MOD, PARAMS, n_way_one_shot_accuracy=accuracy_as_count),
           dtype="float32"),
]


# --- learned distance, probability output, fine-tuning -------------------------------------------------
def similarity_signed(h1, h2, weight, bias):
    """Signed difference: not symmetric."""
    return torch.sigmoid(torch.nn.functional.linear(h1 - h2, weight, bias)).squeeze(-1)


def similarity_no_sigmoid(h1, h2, weight, bias):
    return torch.nn.functional.linear((h1 - h2).abs(), weight, bias).squeeze(-1)


def similarity_squared(h1, h2, weight, bias):
    return torch.sigmoid(torch.nn.functional.linear((h1 - h2).square(), weight, bias)).squeeze(-1)


def similarity_detached_weight(h1, h2, weight, bias):
    """The head's weight enters without its gradient."""
    return ref.learned_similarity(h1, h2, weight.detach(), bias)


class ConcatHeadNet(ref.SiameseNetwork):
    """Head on the concatenation [f(x1), f(x2)]: neither symmetric nor |difference|."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.head2 = torch.nn.Linear(self.config.embed_dim, 1)

    def distance(self, h1, h2):
        return torch.sigmoid(self.head(h1) + self.head2(h2)).squeeze(-1)


class LogitNet(ref.SiameseNetwork):
    """Returns the logit wᵀ|h1 − h2| + b, not the probability."""

    def distance(self, h1, h2):
        return torch.nn.functional.linear((h1 - h2).abs(), self.head.weight, self.head.bias).squeeze(-1)


class DetachedEncoderNet(ref.SiameseNetwork):
    """The embeddings are detached: θ1 never learns."""

    def embed(self, x):
        return self.encoder(x).detach()


def freeze_nothing(model):
    return list(model.parameters())


def freeze_head(model):
    """Freezes the final layer instead of the encoder."""
    for p in model.head.parameters():
        p.requires_grad_(False)
    return [p for p in model.parameters() if p.requires_grad]


def freeze_first_layer_only(model):
    for p in model.encoder[0].parameters():
        p.requires_grad_(False)
    return [p for p in model.parameters() if p.requires_grad]


def freeze_returns_detached(model):
    """Freezes the encoder but returns detached copies of the head's parameters: an optimiser on them
    never sees a gradient."""
    for p in model.encoder.parameters():
        p.requires_grad_(False)
    return [p.detach() for p in model.parameters() if p.requires_grad]


def freeze_by_eval(model):
    """model.encoder.eval() does not freeze anything."""
    model.encoder.eval()
    return list(model.parameters())


_LEARNED = net(distance="learned")

MUTANTS["siamese_learned_similarity_matches_torch"] = [
    broken("signed difference", patched(MOD, PARAMS, learned_similarity=similarity_signed)),
    broken("no sigmoid", patched(MOD, PARAMS, learned_similarity=similarity_no_sigmoid)),
    broken("squared difference", patched(MOD, PARAMS, learned_similarity=similarity_squared)),
]
MUTANTS["siamese_probability_output"] = [
    broken("head on the concatenation", replaced(_LEARNED, ConcatHeadNet)),
    broken("logit, not probability", replaced(_LEARNED, LogitNet)),
    broken("embeddings detached", replaced(_LEARNED, DetachedEncoderNet)),
]
MUTANTS["siamese_fine_tune_frozen_encoder"] = [
    broken("freezes nothing", patched(_LEARNED, freeze_encoder=freeze_nothing)),
    broken("freezes the head", patched(_LEARNED, freeze_encoder=freeze_head)),
    broken("freezes the first encoder layer only", patched(_LEARNED, freeze_encoder=freeze_first_layer_only)),
    broken("encoder.eval() only", patched(_LEARNED, freeze_encoder=freeze_by_eval)),
    broken("returns detached copies of the head's parameters", patched(_LEARNED, freeze_encoder=freeze_returns_detached)),
]


# --- distance gradients and the encoder's architecture ------------------------------------------------
def manhattan_detached(a, b):
    """The right value with no gradient (a stopped graph)."""
    return ref.manhattan_distance(a, b).detach()


def cosine_detached(a, b):
    return ref.cosine_distance(a, b).detach()


def euclidean_b_detached(a, b):
    """Gradient through a only."""
    return ref.euclidean_distance(a, b.detach())


def cosine_unnormalised_gradient(a, b):
    """The right value, but the norms are treated as constants in the backward pass."""
    num = (a * b).sum(-1)
    den = (torch.linalg.vector_norm(a, dim=-1) * torch.linalg.vector_norm(b, dim=-1)).detach()
    return 1.0 - num / den.clamp_min(ref.COSINE_EPS)


class TanhEncoder(ref.SiameseNetwork):
    """tanh where the encoder has ReLU."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.encoder[1] = torch.nn.Tanh()


class NoActivationEncoder(ref.SiameseNetwork):
    """A linear encoder: the hidden layer's ReLU is missing."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.encoder[1] = torch.nn.Identity()


class WideEncoder(ref.SiameseNetwork):
    """The hidden layer is twice the configured width."""

    def __init__(self, **kw):
        super().__init__(**kw)
        c = self.config
        self.encoder = torch.nn.Sequential(torch.nn.Linear(c.in_features, 2 * c.hidden), torch.nn.ReLU(),
                                           torch.nn.Linear(2 * c.hidden, c.embed_dim))


MUTANTS["siamese_distance_gradient_closed_form"] = [
    broken("Manhattan distance detached", patched(MOD, PARAMS, manhattan_distance=manhattan_detached),
           distance="manhattan"),
    broken("cosine distance detached", patched(MOD, PARAMS, cosine_distance=cosine_detached), distance="cosine"),
    broken("Euclidean: no gradient to b", patched(MOD, PARAMS, euclidean_distance=euclidean_b_detached),
           distance="euclidean"),
    broken("cosine: norms constant in backward", patched(MOD, PARAMS, cosine_distance=cosine_unnormalised_gradient),
           distance="cosine"),
]
MUTANTS["siamese_encoder_architecture"] = [
    broken("tanh encoder", replaced(net(), TanhEncoder)),
    broken("no activation", replaced(net(), NoActivationEncoder)),
    broken("hidden layer twice as wide", replaced(net(), WideEncoder)),
]
