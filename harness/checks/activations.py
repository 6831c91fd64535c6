"""Checks for activation functions (CATALOGUE.md section A)."""
from __future__ import annotations

import torch

from harness.outcome import Outcome, all_of, bound
from harness.registry import check


@check(requires=("softmax",))
def softmax_sums_to_one(subject, case, rows: int = 64, classes: int = 10, scale: float = 5.0) -> Outcome:
    """Each softmax row is a probability vector: Σ_i softmax(x)_i = 1 and 0 < softmax(x)_i < 1."""
    x = case.randn(rows, classes) * scale
    p = subject.fn("softmax")(x, dim=-1)
    return all_of(
        case.close("row sums of softmax(x)", p.sum(-1), torch.ones(rows, dtype=torch.float64)),
        bound("min softmax entry", float(p.min()), 0.0, op=">"),
        bound("max softmax entry", float(p.max()), 1.0, op="<"),
    )
