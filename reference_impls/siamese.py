"""Siamese network: one shared encoder (the "twins"), a distance, and the contrastive loss.

Two inputs pass through the *same* encoder f(·; θ) (one parameter set, one storage: the twins
are the same module called twice), and the network outputs the distance between the two
embeddings, d = g(f(x1; θ), f(x2; θ)). Trained with the contrastive loss, similar pairs are
pulled together and dissimilar pairs pushed apart until they are at least the margin m apart.
N-way 1-shot matching then labels a query with the class of its nearest support example.

LABEL CONVENTION (the one people get wrong): here, as in the course notes (002), **y = 1 means
SIMILAR** and y = 0 means dissimilar:

    L(d, y) = y · ½ d² + (1 − y) · ½ max(0, m − d)²

Hadsell, Chopra and LeCun (2006) write the same loss with the opposite labels (**Y = 0 for
similar**, Y = 1 for dissimilar). Passing Hadsell-style labels to :func:`contrastive_loss`
silently trains the network backwards.

Shapes: inputs are batch-first ``(B, in_features)`` (any leading dims work: the encoder is
applied to the last axis); embeddings ``(..., embed_dim)``; distances reduce the last axis,
``(...,)``. The fixed distances have no parameters. The notes' learned g(h1, h2; θ2) is
``distance="learned"``: p = σ(wᵀ|h1 − h2| + b), θ2 = (w, b) a Linear(embed_dim, 1) head (Koch et
al. 2015's weighted L1 distance) — the probability that the pair is SIMILAR (the notes: "a SN
takes two images, and output a probability of how similar they are"), so larger means closer.
Fine-tuning "only the final layers ... keeping the shared representation fixed" (notes 002, Meta
Learning) is :func:`freeze_encoder`.

References
1. Bromley, Guyon, LeCun, Säckinger, Shah (1993), "Signature Verification using a 'Siamese'
   Time Delay Neural Network", NeurIPS.
2. Hadsell, Chopra, LeCun (2006), "Dimensionality Reduction by Learning an Invariant Mapping",
   CVPR (contrastive loss, eq. 4, with Y = 0 for similar pairs).
3. Koch, Zemel, Salakhutdinov (2015), "Siamese Neural Networks for One-shot Image Recognition",
   ICML Deep Learning Workshop (N-way one-shot evaluation).
4. Course notes 002, "Siamese Networks": shared feature extraction h = f(x; θ1), distance
   (Euclidean, Manhattan, cosine), contrastive loss with y = 1 for similar. (The notes' slide
   "Siamese Networks — Disadvantages" lists GNN disadvantages: a copy-paste slip, ignored here.)
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import nn

from reference_impls.losses import reduce_loss

__all__ = [
    "SiameseConfig", "SiameseNetwork", "DISTANCES", "COSINE_EPS",
    "euclidean_distance", "manhattan_distance", "cosine_distance", "contrastive_loss",
    "one_shot_predict", "n_way_one_shot_accuracy", "learned_similarity", "freeze_encoder",
]

COSINE_EPS = 1e-12  # floor on ‖a‖·‖b‖ in the cosine distance (zero vectors)


# ---------------------------------------------------------------------------------------------
# functional cores
# ---------------------------------------------------------------------------------------------
def euclidean_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """d(a, b) = ‖a − b‖₂ = sqrt(Σ_i (a_i − b_i)²) over the last axis: (..., D) -> (...,).

    Uses ``torch.linalg.vector_norm``, whose gradient at a = b is 0 (not NaN)."""
    return torch.linalg.vector_norm(a - b, ord=2, dim=-1)


def manhattan_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """d(a, b) = ‖a − b‖₁ = Σ_i |a_i − b_i| over the last axis (city-block): (..., D) -> (...,)."""
    return (a - b).abs().sum(dim=-1)


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """d(a, b) = 1 − cos(a, b) = 1 − a·b / (‖a‖ ‖b‖) over the last axis, in [0, 2].

    Not a metric (no triangle inequality) and scale-invariant: d(a, c·a) = 0 for c > 0.
    The denominator is floored at ``COSINE_EPS``."""
    num = (a * b).sum(dim=-1)
    den = torch.linalg.vector_norm(a, dim=-1) * torch.linalg.vector_norm(b, dim=-1)
    return 1.0 - num / den.clamp_min(COSINE_EPS)


DISTANCES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "euclidean": euclidean_distance,
    "manhattan": manhattan_distance,
    "cosine": cosine_distance,
}


def learned_similarity(h1: torch.Tensor, h2: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The learned g(h1, h2; θ2) = σ(Σ_i w_i |h1_i − h2_i| + b), θ2 = (w, b): the probability that the
    pair is similar (Koch et al. 2015). Symmetric in (h1, h2) and in [0, 1].

    Args: h1, h2 (..., D); weight (1, D); bias (1,). Returns (...,).
    """
    return torch.sigmoid(torch.nn.functional.linear((h1 - h2).abs(), weight, bias)).squeeze(-1)


def freeze_encoder(model: nn.Module) -> list[nn.Parameter]:
    """Freeze the shared encoder θ1 (``requires_grad = False``, so its gradients stay None and no
    optimiser moves it) for fine-tuning only the final layers; returns the parameters still trainable
    (the head θ2 of a ``distance="learned"`` model)."""
    for p in model.encoder.parameters():
        p.requires_grad_(False)
    return [p for p in model.parameters() if p.requires_grad]


def contrastive_loss(d: torch.Tensor, y: torch.Tensor, margin: float = 1.0,
                     reduction: str = "mean") -> torch.Tensor:
    """L(d, y) = y · ½ d² + (1 − y) · ½ max(0, m − d)²   with **y = 1 for SIMILAR pairs**.

    (Hadsell et al. 2006 use Y = 0 for similar: convert with y = 1 − Y.)
    A dissimilar pair at d ≥ m costs exactly 0 and has zero gradient; below the margin
    ∂L/∂d = −(m − d) pushes it apart; a similar pair costs ½ d² with ∂L/∂d = d.

    Args:
        d: distances, any shape ``(...)``, d ≥ 0.
        y: labels of the same shape, 1 = similar, 0 = dissimilar (float or int/bool).
        margin: m > 0.
        reduction: ``"mean"`` (average over pairs), ``"sum"`` or ``"none"`` (per pair).
    """
    y = y.to(d.dtype)
    similar = 0.5 * d.square()
    dissimilar = 0.5 * torch.clamp(margin - d, min=0.0).square()
    loss = y * similar + (1.0 - y) * dissimilar
    return reduce_loss(loss, reduction)


def one_shot_predict(distance_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                     query: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """N-way 1-shot prediction: ŷ_e = argmin_n d(query_e, support_{e,n}).

    Args:
        distance_fn: pairwise distance on the last axis, e.g. a :class:`SiameseNetwork`.
        query: ``(E, F)``, one query per episode.
        support: ``(E, N, F)``, one example of each of the N classes per episode.
    Returns:
        ``(E,)`` index in 0..N−1 of the nearest support example.
    """
    q = query.unsqueeze(1).expand_as(support)  # (E, N, F)
    return distance_fn(q, support).argmin(dim=-1)


def n_way_one_shot_accuracy(distance_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                            query: torch.Tensor, support: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Fraction of episodes whose query is nearest to the support example of its own class:
    acc = (1/E) Σ_e 1[argmin_n d(query_e, support_{e,n}) = target_e]; chance is 1/N."""
    return (one_shot_predict(distance_fn, query, support) == target).to(query.dtype).mean()


# ---------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SiameseConfig:
    in_features: int = 64  # 8×8 digits
    hidden: int = 64
    embed_dim: int = 32
    distance: str = "euclidean"  # one of DISTANCES, or "learned" (a similarity probability)


class SiameseNetwork(nn.Module):
    """Twin encoder f = Linear-ReLU-Linear shared by both inputs; forward returns the distance.

    ``SiameseNetwork(config)`` or ``SiameseNetwork(in_features=.., distance=..)`` (keywords
    override the config's fields).
    """

    def __init__(self, config: SiameseConfig | None = None, **overrides: object) -> None:
        super().__init__()
        self.config = replace(config or SiameseConfig(), **overrides)
        c = self.config
        if c.distance not in DISTANCES and c.distance != "learned":
            raise ValueError(f"distance must be one of {sorted(DISTANCES) + ['learned']}, got {c.distance!r}")
        self.encoder = nn.Sequential(nn.Linear(c.in_features, c.hidden), nn.ReLU(), nn.Linear(c.hidden, c.embed_dim))
        if c.distance == "learned":
            self.head = nn.Linear(c.embed_dim, 1)  # θ2 of g(h1, h2; θ2)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """h = f(x; θ): (..., in_features) -> (..., embed_dim)."""
        return self.encoder(x)

    def distance(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        """d = g(h1, h2) with the configured distance: (..., embed_dim) x2 -> (...,); for
        ``distance="learned"`` the similarity probability σ(wᵀ|h1 − h2| + b)."""
        if self.config.distance == "learned":
            return learned_similarity(h1, h2, self.head.weight, self.head.bias)
        return DISTANCES[self.config.distance](h1, h2)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """d(f(x1; θ), f(x2; θ)): (..., in_features) x2 -> (...,). Both twins use ``self.encoder``."""
        return self.distance(self.embed(x1), self.embed(x2))
