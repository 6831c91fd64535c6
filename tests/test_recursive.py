"""reference_impls.recursive's tree encodings and default tree (the checks' broken variants are
in tests/mutants/recursive.py)."""
from __future__ import annotations

import pytest
import torch

from reference_impls import recursive as M


def test_default_tree_and_flat_encodings():
    assert M.left_branching(4) == (((0, 1), 2), 3)
    assert M.tree_to_merges(((0, 1), (2, 3))) == [(0, 1), (2, 3), (4, 5)]
    assert M.node_heights(M.tree_to_merges(((0, 1), (2, 3))), 4) == [0, 0, 0, 0, 1, 1, 2]
    net = M.RecursiveNet(3, tree=[[0, 1], 2])
    assert net.config.tree == ((0, 1), 2)
    x = torch.randn(2, 3, 3)
    assert torch.equal(net(x), net(x, ((0, 1), 2)))


def test_tree_from_parents_rejects_a_leaf_or_a_missing_node_as_parent():
    """A leaf (or a node past the last) named as a parent used to be ignored with the subtree under it."""
    for parents in ([3, 3, 0, -1], [3, 3, 1, -1], [3, 3, 5, -1]):
        with pytest.raises(ValueError):
            M.tree_from_parents(parents, 3)
    assert M.tree_from_parents([3, 3, 4, 4, -1], 3) == ((0, 1), 2)
