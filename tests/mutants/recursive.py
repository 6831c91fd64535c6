"""Broken variants of the recursive-network checks (harness/checks/recursive.py): children
swapped, the tree ignored, a wrong batch, a wrong backward, children ordered by node number."""
from __future__ import annotations

import torch

from _broken import TanhNoDerivative
from harness.testing import broken, patched, replaced, subject_from
from reference_impls import recursive as M

NET = subject_from("reference_impls.recursive:RecursiveNet", {"dim": 5})


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


MUTANTS = {
    "recursive_equals_manual_composition": [
        broken("children swapped: W [c2; c1]", replaced(NET, SwappedChildrenNet)),
    ],
    "recursive_bracketings_differ": [
        broken("tree ignored (always left-branching)", replaced(NET, TreeIgnoringNet)),
    ],
    "recursive_batched_equals_one_by_one": [
        broken("forward_batch applies the first tree to all", replaced(NET, FirstTreeBatchNet)),
    ],
    "recursive_parent_pointers": [
        broken("children ordered by node number", patched(NET, tree_from_parents=parents_by_node_number)),
    ],
    "recursive_gradcheck": [
        broken("tanh backward without 1 − tanh²", replaced(NET, WrongGradNet)),
    ],
}
