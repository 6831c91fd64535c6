"""The reference GNN satisfies the model checks with every aggregation, beyond the combinations the
gnn suite ships (its broken variants are in tests/mutants/gnn.py)."""
from __future__ import annotations

import pytest

from harness.testing import run_check
from mutants.gnn import model

MODEL_CHECKS = [
    ("gnn_node_permutation_equivariance", {}, {}),
    ("gnn_graph_readout_permutation_invariance", {}, {}),
    ("gnn_edge_head_symmetric_and_consistent", {}, {}),
    ("gnn_receptive_field_k_hops", {}, {"layers": 1}),
    ("gnn_receptive_field_k_hops", {}, {"layers": 3}),
    ("gnn_batched_equals_one_by_one", {"task": "node"}, {}),
    ("gnn_batched_equals_one_by_one", {"task": "graph"}, {}),
    ("gnn_batched_equals_one_by_one", {"task": "edge"}, {}),
    ("gnn_default_ring_graph", {}, {}),
]


@pytest.mark.parametrize("aggr", ["sum", "mean", "max"])
@pytest.mark.parametrize("name,kwargs,params", MODEL_CHECKS,
                         ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in {**a, **p}.items())}" for n, a, p in MODEL_CHECKS])
def test_reference_model_passes(name, kwargs, params, aggr):
    subject = model(aggr=aggr, readout="mean" if aggr == "mean" else "sum", **params)
    out = run_check(name, subject, **kwargs)
    assert out.passed, out.line()
