"""Checks for the recursive (tree-structured) network (suite ``recursive``; notes 003 "Recursive
Neural Networks"; Socher et al. 2011): one composition p = tanh(W [c1; c2] + b) applied bottom-up
over a binary tree.

Oracles: the tree composition written out here with the subject's weights (float64, CPU); the
same model evaluated tree by tree; hand-written parent-pointer encodings;
torch.autograd.gradcheck.
"""
from __future__ import annotations

import torch

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64
from harness.registry import check

RECURSIVE = ("forward_batch",)
# Trees over 1 … 6 leaves: one leaf, both bracketings of three, balanced, skewed, mixed.
DEFAULT_TREES = (0, ((0, 1), 2), (0, (1, 2)), ((0, 1), (2, 3)), (((0, 1), 2), 3), ((0, (1, 2)), ((3, 4), 5)))
GRADCHECK_TREE = ((0, (1, 2)), (3, 4))


def _tuple_tree(t):
    return int(t) if isinstance(t, int) else (_tuple_tree(t[0]), _tuple_tree(t[1]))


def _n_leaves(tree) -> int:
    return tree + 1 if isinstance(tree, int) else max(_n_leaves(tree[0]), _n_leaves(tree[1]))


def inputs(subject, case, batch: int, tree=GRADCHECK_TREE) -> tuple:
    """Example inputs: leaves (B, N, D) ~ N(0, 1) for ``tree`` over N leaves, and the tree."""
    tree = _tuple_tree(tree)
    return case.randn(batch, _n_leaves(tree), subject.size("dim")), tree


CONTRACT = load_contract("recursive", inputs=inputs)


def _manual(tree, leaves: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """Oracle: p = tanh(W [c1; c2] + b) written out recursively over the nested tuple (float64)."""
    if isinstance(tree, int):
        return leaves[..., tree, :]
    c1, c2 = _manual(tree[0], leaves, W, b), _manual(tree[1], leaves, W, b)
    z = torch.cat([c1, c2], dim=-1) @ W.T
    return torch.tanh(z + b if b is not None else z)


def _Wb(model):
    b = getattr(model, "b", None)
    return f64(model.W), (None if b is None else f64(b))


@check(requires=RECURSIVE)
def recursive_equals_manual_composition(subject, case, trees: list | None = None, batch: int = 3) -> Outcome:
    """The root computed by the recursive network equals the composition p = tanh(W [c1; c2] + b)
    applied by hand bottom-up over the tree (Socher et al. 2011), for every tree given (default: one
    leaf, ((0 1) 2), (0 (1 2)), balanced and skewed trees up to 6 leaves), on one sequence of leaves
    (N, D) and on a batch (B, N, D) sharing the tree; a one-leaf tree returns the leaf."""
    model = subject.build(case)
    W, b = _Wb(model)
    res = []
    for t in trees or DEFAULT_TREES:
        leaves, tree = inputs(subject, case, batch, t)
        with torch.no_grad():
            got_b = model(leaves, tree)
            got_1 = model(leaves[0], tree)
        want = _manual(tree, f64(leaves), W, b)
        res += [case.close(f"root of {tree} on (B, N, D) vs manual composition", got_b, want),
                case.close(f"root of {tree} on (N, D) vs manual composition", got_1, want[0])]
    return all_of(res)


@check(requires=RECURSIVE)
def recursive_bracketings_differ(subject, case, min_diff: float = 1e-3) -> Outcome:
    """Structure matters: on random leaves a, b, c the roots of ((a b) c) and (a (b c)) differ (max
    |difference| > 10⁻³), and so do those of (a b) and (b a); each root equals its manual composition."""
    model = subject.build(case)
    W, b = _Wb(model)
    leaves = case.randn(3, subject.size("dim"))
    pairs = [(((0, 1), 2), (0, (1, 2))), ((0, 1), (1, 0))]
    res = []
    with torch.no_grad():
        for t1, t2 in pairs:
            r1, r2 = model(leaves, t1), model(leaves, t2)
            res += [bound(f"max |root{t1} − root{t2}|", float((f64(r1) - f64(r2)).abs().max()), min_diff, op=">"),
                    case.close(f"root of {t1} vs manual composition", r1, _manual(t1, f64(leaves), W, b)),
                    case.close(f"root of {t2} vs manual composition", r2, _manual(t2, f64(leaves), W, b))]
    return all_of(res)


@check(requires=RECURSIVE)
def recursive_batched_equals_one_by_one(subject, case, trees: list | None = None) -> Outcome:
    """A batch of different trees computed level by level (forward_batch) gives the same roots as
    evaluating each tree on its own, and as the manual composition."""
    model = subject.build(case)
    D = subject.size("dim")
    W, b = _Wb(model)
    ts = [_tuple_tree(t) for t in (trees or DEFAULT_TREES)]
    leaves = [case.randn(_n_leaves(t), D) for t in ts]
    with torch.no_grad():
        batched = model.forward_batch(leaves, ts)
        single = torch.stack([model(x, t) for x, t in zip(leaves, ts)])
    manual = torch.stack([_manual(t, f64(x), W, b) for x, t in zip(leaves, ts)])
    return all_of(
        exact("shape of forward_batch roots", tuple(batched.shape), (len(ts), D)),
        case.close(f"forward_batch roots of {len(ts)} different trees vs one-by-one", batched, single),
        case.close("forward_batch roots vs manual composition", batched, manual),
    )


@check(requires=RECURSIVE + ("tree_from_parents",))
def recursive_parent_pointers(subject, case) -> Outcome:
    """The parent-pointer encoding (leaves 0 … n−1, internal nodes after, parent −1 at the root,
    children ordered by their smallest leaf index) describes the same tree as the nested tuple: for
    hand-written pairs tree_from_parents returns the nested tuple and the roots are the same."""
    model = subject.build(case)
    known = [
        ([4, 4, 5, 5, 6, 6, -1], 4, ((0, 1), (2, 3))),
        ([3, 3, 4, 4, -1], 3, ((0, 1), 2)),
        ([4, 3, 3, 4, -1], 3, (0, (1, 2))),
        ([5, 5, 6, 7, 8, 6, 7, 8, -1], 5, ((((0, 1), 2), 3), 4)),
        ([8, 5, 5, 6, 7, 6, 7, 8, -1], 5, (0, (((1, 2), 3), 4))),
        ([5, 8, 8, 7, 6, -1, 5, 6, 7], 5, (0, (((1, 2), 3), 4))),  # internal nodes numbered top-down
        ([6, 6, 5, 5, 8, 7, 7, 8, -1], 5, (((0, 1), (2, 3)), 4)),  # right subtree merged first
        ([-1], 1, 0),
    ]
    f = subject.fn("tree_from_parents")
    res = []
    for parents, n, tree in known:
        got = f(parents, n)
        res.append(exact(f"tree_from_parents({parents})", _tuple_tree(got), tree))
        leaves = case.randn(n, subject.size("dim"))
        with torch.no_grad():
            res.append(exact(f"root via parent pointers vs via {tree}", model(leaves, got), model(leaves, tree)))
    return all_of(res)


@check(requires=RECURSIVE)
def recursive_gradcheck(subject, case, tree: list | None = None) -> Outcome:
    """The recursive network's gradients with respect to the leaves, W and b agree with finite
    differences (torch.autograd.gradcheck, float64, eps 1e-6, atol 1e-5, rtol 1e-3) on a 5-leaf tree."""
    model = subject.build(case)
    t = _tuple_tree(tree) if tree is not None else GRADCHECK_TREE
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in model.parameters())
    leaves = case.randn(_n_leaves(t), subject.size("dim")).requires_grad_(True)

    def fn(x, *ps):
        return torch.func.functional_call(model, dict(zip(names, ps)), (x, t))

    try:
        ok = torch.autograd.gradcheck(fn, (leaves, *params), eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True)
        detail = f"tree {t}, leaves {tuple(leaves.shape)}, {len(params)} parameter tensors"
    except RuntimeError as e:
        ok, detail = False, str(e).splitlines()[0][:300]
    return Outcome(bool(ok), "gradcheck of the recursive network (leaves, W, b)", detail=detail)
