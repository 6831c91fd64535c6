"""Broken variants of the recursive-network checks (harness/checks/recursive.py): children
swapped, the tree ignored, a wrong batch, a wrong backward, children ordered by node number."""
from __future__ import annotations

import torch

from _broken import TanhNoDerivative
from harness.testing import broken, patched, replaced, subject_from
from reference_impls import recursive as M

NET = subject_from("reference_impls.recursive:RecursiveNet", {"dim": 5})
NET_WIDE = subject_from("reference_impls.recursive:RecursiveNet", {"dim": 64})


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


class DetachedBatchNet(M.RecursiveNet):
    """forward_batch returns roots cut from the graph (no gradient reaches leaves, W or b)."""

    def forward_batch(self, leaves, trees):
        return super().forward_batch(leaves, trees).detach()


class WrongGradBatchNet(M.RecursiveNet):
    """forward_batch with a tanh whose backward forgets 1 − tanh²."""

    def forward_batch(self, leaves, trees):
        roots = []
        for x, t in zip(leaves, trees):
            nodes = list(x.unbind(0))
            for l, r in M.tree_to_merges(t, x.shape[0]):
                nodes.append(TanhNoDerivative.apply(torch.cat([nodes[l], nodes[r]], -1) @ self.W.T + self.b))
            roots.append(nodes[-1] if len(nodes) > x.shape[0] else nodes[t])
        return torch.stack(roots)


class FanInDInitNet(M.RecursiveNet):
    """W, b ~ U(−1/√D, 1/√D): the fan-in taken as D instead of 2D."""

    def __init__(self, dim, tree=None, bias=True):
        super().__init__(dim, tree, bias)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-dim ** -0.5, dim ** -0.5)


class ConstantBiasInitNet(M.RecursiveNet):
    """b starts at the constant 1/√(2D) (uniform_(bound, bound))."""

    def __init__(self, dim, tree=None, bias=True):
        super().__init__(dim, tree, bias)
        if self.b is not None:
            with torch.no_grad():
                self.b.fill_((2 * dim) ** -0.5)


def merges_numbered_from_zero(tree, n_leaves=None):
    """Numbers merge k as k instead of n + k (node ids collide with the leaves)."""
    n = M.tree_to_merges(tree, n_leaves)
    off = (max(M.tree_leaves(tree)) + 1 if n_leaves is None else n_leaves)
    return [tuple(v - off if v >= off else v for v in m) for m in n]


def pre_order_merges(tree, n_leaves=None):
    """Lists the root first (pre-order): children no longer come before their parents."""
    return list(reversed(M.tree_to_merges(tree, n_leaves)))


class NegativeIndexNet(M.RecursiveNet):
    """Validates nothing: a negative leaf index reads from the end of the sequence."""

    def forward(self, leaves, tree=None):
        tree = tree if tree is not None else M.left_branching(leaves.shape[-2])

        def walk(t):
            return leaves[..., t, :] if isinstance(t, int) else M.compose(walk(t[0]), walk(t[1]), self.W, self.b)
        return walk(tree)

    def forward_batch(self, leaves, trees):
        return torch.stack([self(x, t) for x, t in zip(leaves, trees)])


def _drop_dangling(parents, n_leaves):
    """tree_from_parents without validation: builds from the root and silently drops any node not
    reachable from it (a leaf given as a parent, or a parent past the last node)."""
    kids = {}
    for v, p in enumerate(parents):
        kids.setdefault(p, []).append(v)

    def build(v):
        if v < n_leaves:
            return v, v
        (a, ma), (b, mb) = sorted((build(k) for k in kids[v]), key=lambda tm: tm[1])
        return (a, b), ma
    return build(kids[-1][0])[0]


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
    "recursive_batched_gradcheck": [
        broken("forward_batch roots detached", replaced(NET, DetachedBatchNet)),
        broken("forward_batch tanh backward without 1 − tanh²", replaced(NET, WrongGradBatchNet)),
    ],
    "recursive_init_uniform": [
        broken("U(−1/√D, 1/√D): fan-in D", replaced(NET_WIDE, FanInDInitNet)),
        broken("constant bias 1/√(2D)", replaced(NET_WIDE, ConstantBiasInitNet)),
    ],
    "recursive_merge_list": [
        broken("merge k numbered k, not n + k", patched(NET, tree_to_merges=merges_numbered_from_zero)),
        broken("pre-order merge list (root first)", patched(NET, tree_to_merges=pre_order_merges)),
    ],
    "recursive_invalid_trees_rejected": [
        broken("no validation: negative leaf indices read from the end", replaced(NET, NegativeIndexNet)),
        broken("a leaf accepted as a parent", patched(NET, tree_from_parents=_drop_dangling)),
    ],
}
