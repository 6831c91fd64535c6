"""Recursive (tree-structured) neural network: one composition function applied bottom-up over a
binary tree, p = tanh(W [c1; c2] + b), so the root vector depends on the bracketing.

Trees. A tree over n leaves is a nested tuple (or list) of leaf indices into the leaf sequence,
every internal node a pair ``(left, right)``: ``((0, 1), 2)`` composes leaves 0 and 1 first,
``(0, (1, 2))`` leaves 1 and 2 first. A single index ``0`` is a one-leaf tree (its root is the
leaf vector itself). Two flat encodings are also provided:

- merge list (:func:`tree_to_merges`): nodes 0 … n−1 are the leaves, node n + k is the k-th
  merge ``(left, right)``; children come before parents, so the last node is the root;
- parent pointers (:func:`tree_from_parents`): ``parents[v]`` is the parent of node v, −1 for
  the root, with the same node numbering (leaves first, internal nodes after in any order); a
  node's children are ordered by their smallest leaf index (the left child covers the earlier
  words), so parent pointers describe trees whose leaves read 0 … n−1 from left to right, as in
  a parse tree; ``(1, 0)`` has no parent-pointer form.

Shapes: leaves (N, D) for one tree, or (B, N, D) for a batch sharing one tree; roots (D,) or
(B, D). A batch of *different* trees (:meth:`RecursiveNet.forward_batch`) is a list of leaf
tensors (N_b, D) and a list of trees, and is computed level by level: every node of height k in
every tree is composed in one matrix product, after all nodes of height k − 1.

References
1. Notes 003, "Architectures of deep networks": recursive neural networks apply to hierarchical,
   tree-structured data such as parse trees.
2. Pollack (1990), "Recursive Distributed Representations".
3. Socher, Lin, Ng & Manning (2011), "Parsing Natural Scenes and Natural Language with
   Recursive Neural Networks" (p = tanh(W[c1; c2] + b)).
4. Looks, Herreshoff, Hutchins & Norvig (2017), "Deep Learning with Dynamic Computation
   Graphs" (batching different trees by depth).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

__all__ = [
    "RecursiveConfig", "compose", "tree_to_merges", "tree_from_parents", "tree_leaves",
    "left_branching", "node_heights", "recursive_forward", "recursive_forward_batch", "RecursiveNet",
]


@dataclass(frozen=True)
class RecursiveConfig:
    """``dim``: D, the size of every node vector. ``tree``: the default tree (nested tuples)
    used when ``forward`` is given none; None means left-branching over the N leaves given."""

    dim: int
    tree: Any = None
    bias: bool = True


def compose(c1: torch.Tensor, c2: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """Parent of two children: p = tanh(W [c1; c2] + b).

    Args: c1, c2 (..., D); W (D, 2D); b (D,). Returns p (..., D).
    """
    z = torch.cat([c1, c2], dim=-1) @ W.T
    return torch.tanh(z + b if b is not None else z)


def _as_tree(tree: Any) -> Any:
    """Lists (from YAML) to tuples; validates that every internal node has two children."""
    if isinstance(tree, (int,)) and not isinstance(tree, bool):
        return int(tree)
    if isinstance(tree, (tuple, list)) and len(tree) == 2:
        return (_as_tree(tree[0]), _as_tree(tree[1]))
    raise ValueError(f"a tree is a leaf index or a pair (left, right) of trees, got {tree!r}")


def tree_leaves(tree: Any) -> list[int]:
    """Leaf indices of ``tree`` from left to right."""
    tree = _as_tree(tree)
    return [tree] if isinstance(tree, int) else tree_leaves(tree[0]) + tree_leaves(tree[1])


def left_branching(n: int) -> Any:
    """((…((0, 1), 2), …), n−1): the left-branching tree over n leaves."""
    tree: Any = 0
    for i in range(1, n):
        tree = (tree, i)
    return tree


def tree_to_merges(tree: Any, n_leaves: int | None = None) -> list[tuple[int, int]]:
    """Post-order merge list: node ids 0 … n−1 are leaves, node n + k = merge k ``(left, right)``.

    ``n_leaves`` defaults to 1 + the largest leaf index.
    """
    tree = _as_tree(tree)
    leaves = tree_leaves(tree)
    n = max(leaves) + 1 if n_leaves is None else n_leaves
    if min(leaves) < 0 or max(leaves) >= n:
        raise ValueError(f"leaf index out of range 0..{n - 1} in {tree!r}")
    merges: list[tuple[int, int]] = []

    def walk(t: Any) -> int:
        if isinstance(t, int):
            return t
        left, right = walk(t[0]), walk(t[1])
        merges.append((left, right))
        return n + len(merges) - 1

    walk(tree)
    return merges


def tree_from_parents(parents: Sequence[int], n_leaves: int) -> Any:
    """Nested-tuple tree from parent pointers (leaves 0 … n−1 first; ``parents[root] = −1``;
    children ordered by their smallest leaf index: left covers the earlier leaves)."""
    children: dict[int, list[int]] = {}
    roots = [v for v, p in enumerate(parents) if p < 0]
    if len(roots) != 1:
        raise ValueError(f"parent pointers must have exactly one root (−1), got {len(roots)}")
    if any(p >= 0 and not n_leaves <= p < len(parents) for p in parents):
        raise ValueError(f"a parent must be an internal node {n_leaves}..{len(parents) - 1}, got {list(parents)}")
    for v, p in enumerate(parents):
        if p >= 0:
            children.setdefault(int(p), []).append(v)

    def build(v: int) -> tuple[Any, int]:
        """(subtree, its smallest leaf index)."""
        if v < n_leaves:
            return v, v
        kids = children.get(v, [])
        if len(kids) != 2:
            raise ValueError(f"internal node {v} has {len(kids)} children; a binary tree needs 2")
        (a, ma), (b, mb) = sorted((build(k) for k in kids), key=lambda tm: tm[1])
        return (a, b), ma

    return build(roots[0])[0]


def node_heights(merges: Sequence[tuple[int, int]], n_leaves: int) -> list[int]:
    """Height of every node (leaves 0; a merge 1 + the larger child height)."""
    h = [0] * n_leaves
    for left, right in merges:
        h.append(1 + max(h[left], h[right]))
    return h


def recursive_forward(leaves: torch.Tensor, tree: Any, W: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """Root of ``tree``: every internal node p = tanh(W [left; right] + b), bottom-up.

    Args: leaves (..., N, D) (leading dims share the tree); tree as nested tuples. Returns (..., D).
    """
    n = leaves.shape[-2]
    nodes = list(leaves.unbind(dim=-2))
    for left, right in tree_to_merges(tree, n):
        nodes.append(compose(nodes[left], nodes[right], W, b))
    return nodes[-1] if len(nodes) > n else nodes[_as_tree(tree)]


def recursive_forward_batch(leaves: Sequence[torch.Tensor], trees: Sequence[Any], W: torch.Tensor,
                            b: torch.Tensor | None = None) -> torch.Tensor:
    """Roots of a batch of different trees, level by level.

    All leaves go into one node table; then for height k = 1, 2, …, every node of height k in
    every tree is composed in one matrix product p = tanh([c1; c2] Wᵀ + b) and appended. Args:
    leaves, a list of (N_b, D); trees, a list of nested tuples. Returns roots (B, D).
    """
    if len(leaves) != len(trees):
        raise ValueError(f"{len(leaves)} leaf tensors for {len(trees)} trees")
    table = torch.cat(list(leaves), dim=0)  # (Σ N_b, D): node table, grows by one block per level
    offsets = [0]
    for x in leaves:
        offsets.append(offsets[-1] + x.shape[0])
    # Every merge as (height, tree, local id) with its children's local ids.
    pending: list[tuple[int, int, int, int, int]] = []
    roots_local: list[int] = []
    for t, (x, tree) in enumerate(zip(leaves, trees)):
        n = x.shape[0]
        merges = tree_to_merges(tree, n)
        heights = node_heights(merges, n)
        for k, (left, right) in enumerate(merges):
            pending.append((heights[n + k], t, n + k, left, right))
        roots_local.append(n + len(merges) - 1 if merges else _as_tree(tree))
    where: dict[tuple[int, int], int] = {}  # (tree, local node id) -> row of the node table
    for t, x in enumerate(leaves):
        for v in range(x.shape[0]):
            where[(t, v)] = offsets[t] + v
    for level in sorted({p[0] for p in pending}):
        batch = [p for p in pending if p[0] == level]
        dev = table.device
        li = torch.tensor([where[(t, l)] for _, t, _, l, _ in batch], device=dev)
        ri = torch.tensor([where[(t, r)] for _, t, _, _, r in batch], device=dev)
        new = compose(table[li], table[ri], W, b)  # (merges at this level, D)
        base = table.shape[0]
        for j, (_, t, v, _, _) in enumerate(batch):
            where[(t, v)] = base + j
        table = torch.cat([table, new], dim=0)
    idx = torch.tensor([where[(t, r)] for t, r in enumerate(roots_local)], device=table.device)
    return table[idx]


class RecursiveNet(nn.Module):
    """Recursive network with one composition matrix W (D, 2D) and bias b (D,).

    forward(leaves (N, D) or (B, N, D), tree=None) -> root (D,) or (B, D);
    forward_batch(list of (N_b, D), list of trees) -> roots (B, D).
    Init: W, b uniform in (−1/√(2D), 1/√(2D)) (nn.Linear's for fan-in 2D).
    """

    def __init__(self, dim: int, tree: Any = None, bias: bool = True):
        super().__init__()
        self.config = RecursiveConfig(dim, _as_tree(tree) if tree is not None else None, bias)
        bound = 1.0 / math.sqrt(2 * dim)
        self.W = nn.Parameter(torch.empty(dim, 2 * dim).uniform_(-bound, bound))
        self.b = nn.Parameter(torch.empty(dim).uniform_(-bound, bound)) if bias else None

    def forward(self, leaves: torch.Tensor, tree: Any = None) -> torch.Tensor:
        if tree is None:
            tree = self.config.tree if self.config.tree is not None else left_branching(leaves.shape[-2])
        return recursive_forward(leaves, tree, self.W, self.b)

    def forward_batch(self, leaves: Sequence[torch.Tensor], trees: Sequence[Any]) -> torch.Tensor:
        return recursive_forward_batch(leaves, trees, self.W, self.b)
