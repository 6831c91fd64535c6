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


@pytest.mark.parametrize("height,width", [(1, 1), (1, 5), (4, 1), (2, 2), (2, 6), (3, 3), (8, 4)])
def test_image_graph_at_other_sizes(height, width):
    """The pixel-graph check holds for degenerate images too (one row, one column, 2×2, 3×3)."""
    out = run_check("gnn_image_graph_8_neighbours", model(), height=height, width=width)
    assert out.passed, out.line()
    out = run_check("gnn_image_graph_sum_is_convolution", model(), height=height, width=width)
    assert out.passed, out.line()


def test_text_graph_of_no_tokens_and_one_token():
    out = run_check("gnn_text_graph_directed_chain", model(), lengths=(0, 1, 3))
    assert out.passed, out.line()


@pytest.mark.parametrize("activation", ["relu", "tanh", "none"])
def test_graph_net_with_every_activation_and_one_graph(activation):
    for name in ("gnn_graph_net_matches_loop", "gnn_graph_net_permutation_symmetry"):
        out = run_check(name, model(), sizes=(9,), edges=(20,), activation=activation)
        assert out.passed, out.line()
