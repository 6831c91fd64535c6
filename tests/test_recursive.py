"""reference_impls.recursive's tree encodings and default tree (the checks' broken variants are
in tests/mutants/recursive.py)."""
from __future__ import annotations

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
