"""Every recursive-network check accepts reference_impls.recursive:RecursiveNet and rejects a
deliberately broken variant (children swapped, tree ignored, a wrong batch, a wrong backward,
children ordered by node number)."""
from __future__ import annotations

import pytest
import torch

from harness.registry import Subject
from harness.testing import patched, run_check
from reference_impls import recursive as M
from _broken import TanhNoDerivative

PARAMS = {"dim": 5}


def _subj(cls, **params) -> Subject:
    return Subject(f"tests:{cls.__name__}", cls, {**PARAMS, **params}, M)


REF = _subj(M.RecursiveNet)
CHECKS = ["recursive_equals_manual_composition", "recursive_bracketings_differ", "recursive_batched_equals_one_by_one",
          "recursive_parent_pointers", "recursive_gradcheck"]


class SwappedChildrenNet(M.RecursiveNet):
    """Composes W [c2; c1] instead of W [c1; c2]."""

    def forward(self, leaves, tree=None):
        tree = tree if tree is not None else M.left_branching(leaves.shape[-2])
        nodes = list(leaves.unbind(-2))
        for l, r in M.tree_to_merges(tree, leaves.shape[-2]):
            nodes.append(M.compose(nodes[r], nodes[l], self.W, self.b))
        return nodes[-1]

    def forward_batch(self, leaves, trees):
        return torch.stack([self(x, t) for x, t in zip(leaves, trees)])


class TreeIgnoringNet(M.RecursiveNet):
    """Always composes left to right, whatever the tree."""

    def forward(self, leaves, tree=None):
        return super().forward(leaves, M.left_branching(leaves.shape[-2]))


class FirstTreeBatchNet(M.RecursiveNet):
    """forward_batch applies the first tree to every item (off by one in the bookkeeping)."""

    def forward_batch(self, leaves, trees):
        return torch.stack([self(x, trees[0]) if M.tree_leaves(trees[0]) and max(M.tree_leaves(trees[0])) < x.shape[0]
                            else self(x, t) for x, t in zip(leaves, trees)])


class WrongGradNet(M.RecursiveNet):
    def forward(self, leaves, tree=None):
        nodes = list(leaves.unbind(-2))
        for l, r in M.tree_to_merges(tree, leaves.shape[-2]):
            nodes.append(TanhNoDerivative.apply(torch.cat([nodes[l], nodes[r]], -1) @ self.W.T + self.b))
        return nodes[-1]


def parents_by_node_number(parents, n_leaves):
    """Orders children by node number: an internal left child (numbered after every leaf) ends up
    on the right of a leaf sibling, so ((0, 1), 2) comes back as (2, (0, 1))."""
    kids = {}
    for v, p in enumerate(parents):
        kids.setdefault(p, []).append(v)

    def build(v):
        return v if v < n_leaves else tuple(build(k) for k in sorted(kids[v]))
    return build(kids[-1][0])


@pytest.mark.parametrize("name", CHECKS)
def test_reference_passes(name):
    out = run_check(name, REF)
    assert out.passed, out.line()


@pytest.mark.parametrize("name", ["recursive_equals_manual_composition", "recursive_batched_equals_one_by_one"])
def test_reference_passes_float32(name):
    out = run_check(name, REF, dtype="float32")
    assert out.passed, out.line()


def test_default_tree_and_flat_encodings():
    assert M.left_branching(4) == (((0, 1), 2), 3)
    assert M.tree_to_merges(((0, 1), (2, 3))) == [(0, 1), (2, 3), (4, 5)]
    assert M.node_heights(M.tree_to_merges(((0, 1), (2, 3))), 4) == [0, 0, 0, 0, 1, 1, 2]
    net = M.RecursiveNet(3, tree=[[0, 1], 2])
    assert net.config.tree == ((0, 1), 2)
    x = torch.randn(2, 3, 3)
    assert torch.equal(net(x), net(x, ((0, 1), 2)))


def test_recursive_equals_manual_composition_rejects_swapped_children():
    assert not run_check("recursive_equals_manual_composition", _subj(SwappedChildrenNet)).passed


def test_recursive_bracketings_differ_rejects_tree_ignoring_net():
    assert not run_check("recursive_bracketings_differ", _subj(TreeIgnoringNet)).passed


def test_recursive_batched_equals_one_by_one_rejects_wrong_batch():
    assert not run_check("recursive_batched_equals_one_by_one", _subj(FirstTreeBatchNet)).passed


def test_recursive_parent_pointers_rejects_ordering_by_node_number():
    assert not run_check("recursive_parent_pointers", patched(REF, tree_from_parents=parents_by_node_number)).passed


def test_recursive_gradcheck_rejects_wrong_backward():
    assert not run_check("recursive_gradcheck", _subj(WrongGradNet)).passed
