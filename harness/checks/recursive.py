"""Checks for the recursive (tree-structured) network (suite ``recursive``; notes 003 "Recursive
Neural Networks"; Socher et al. 2011): one composition p = tanh(W [c1; c2] + b) applied bottom-up
over a binary tree.

Oracles: the tree composition written out here with the subject's weights (float64, CPU); the
same model evaluated tree by tree; hand-written parent-pointer and merge-list encodings;
torch.autograd.gradcheck; nn.Linear's documented initialisation U(−1/√fan_in, 1/√fan_in)
(Kolmogorov–Smirnov, scipy.stats.kstest).
"""
from __future__ import annotations

import torch

from harness.contract import load_contract
import math

from harness.outcome import Outcome, all_of, bound, exact, f64, holds, p_value
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
def recursive_equals_manual_composition(subject, case, trees: list | None = None, batch: int = 3,
                                        n_leaves: int = 0) -> Outcome:
    """The root computed by the recursive network equals the composition p = tanh(W [c1; c2] + b)
    applied by hand bottom-up over the tree (Socher et al. 2011), for every tree given (default: one
    leaf, ((0 1) 2), (0 (1 2)), balanced and skewed trees up to 6 leaves), on one sequence of leaves
    (N, D) and on a batch (B, N, D) sharing the tree; a one-leaf tree j returns leaf j. With
    ``n_leaves``, the sequence has N = max(n_leaves, the tree's) leaves, some of them not in the
    tree (which must not matter)."""
    model = subject.build(case)
    W, b = _Wb(model)
    res = []
    for t in trees or DEFAULT_TREES:
        tree = _tuple_tree(t)
        leaves = case.randn(batch, max(n_leaves, _n_leaves(tree)), subject.size("dim"))
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


class _ForwardBatch(torch.nn.Module):
    """model.forward_batch as a module's forward (for torch.func.functional_call)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, leaves, trees):
        return self.model.forward_batch(leaves, trees)


@check(requires=RECURSIVE)
def recursive_batched_gradcheck(subject, case, trees: list | None = None) -> Outcome:
    """Backpropagation through a batch of different trees computed level by level: the gradients of
    forward_batch's roots with respect to every tree's leaves, W and b agree with finite differences
    (torch.autograd.gradcheck, float64, eps 1e-6, atol 1e-5, rtol 1e-3)."""
    model = subject.build(case)
    ts = [_tuple_tree(t) for t in (trees or (((0, 1), 2), (0, (1, (2, 3))), 0, (1, 0)))]
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in model.parameters())
    leaves = tuple(case.randn(_n_leaves(t), subject.size("dim")).requires_grad_(True) for t in ts)

    wrapper = _ForwardBatch(model)

    def fn(*args):
        xs, ps = args[:len(ts)], args[len(ts):]
        return torch.func.functional_call(wrapper, {f"model.{n}": p for n, p in zip(names, ps)}, (list(xs), ts))

    try:
        ok = torch.autograd.gradcheck(fn, (*leaves, *params), eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True)
        detail = f"trees {ts}, {len(params)} parameter tensors"
    except RuntimeError as e:
        ok, detail = False, str(e).splitlines()[0][:300]
    return Outcome(bool(ok), "gradcheck of forward_batch (every tree's leaves, W, b)", detail=detail)


@check(requires=RECURSIVE, marks=("statistical",))
def recursive_init_uniform(subject, case, alpha: float = 1e-3) -> Outcome:
    """The composition p = tanh(W [c1; c2] + b) is initialised as torch.nn.Linear(2D, D) (its
    documentation): every entry of W (D, 2D) and b (D,) drawn from U(−1/√(2D), 1/√(2D)), fan-in 2D.
    Every entry lies in [−1/√(2D), 1/√(2D)], and a Kolmogorov–Smirnov test (scipy.stats.kstest) of
    each tensor against that uniform does not reject at α = 1e-3 (the false-alarm rate of each test)."""
    from scipy.stats import kstest

    model = subject.build(case)
    D = subject.size("dim")
    lim = 1.0 / math.sqrt(2 * D)
    res = []
    for n in ("W", "b"):
        t = getattr(model, n, None)
        if t is None:
            continue
        v = f64(t).flatten()
        r = kstest(v.numpy(), "uniform", args=(-lim, 2 * lim))
        res += [bound(f"max |{n}|", float(v.abs().max()), lim, op="<=", source=f"1/√(2D), D = {D}"),
                p_value(f"{n} ~ U(−1/√(2D), 1/√(2D))", r.statistic, r.pvalue, alpha, v.numel(), "KS")]
    return all_of(res)


@check(requires=RECURSIVE + ("tree_to_merges",))
def recursive_merge_list(subject, case) -> Outcome:
    """The merge-list encoding: tree_to_merges(tree, n) lists the internal nodes children first
    (post-order), node n + k being merge k, so the last merge is the root; without n, n is 1 + the
    largest leaf index. Oracle: hand-written merge lists; the root of the merges composed in that
    order equals the model's root."""
    f = subject.fn("tree_to_merges")
    known = [
        (((0, 1), 2), None, [(0, 1), (3, 2)]),
        ((0, (1, 2)), None, [(1, 2), (0, 3)]),
        (((0, 1), (2, 3)), None, [(0, 1), (2, 3), (4, 5)]),
        (((0, 1), (2, 3)), 6, [(0, 1), (2, 3), (6, 7)]),
        ((0, (((1, 2), 3), 4)), None, [(1, 2), (5, 3), (6, 4), (0, 7)]),
        ((1, 0), None, [(1, 0)]),
        ((2, 0), 4, [(2, 0)]),
        (0, None, []),
        (2, 3, []),
    ]
    model = subject.build(case)
    W, b = _Wb(model)
    res = []
    for tree, n, want in known:
        got = f(tree) if n is None else f(tree, n)
        res.append(exact(f"tree_to_merges({tree}{'' if n is None else f', {n}'})", [tuple(m) for m in got], want))
        if want:
            N = n if n is not None else _n_leaves(tree)
            leaves = case.randn(N, subject.size("dim"))
            nodes = list(f64(leaves).unbind(0))
            for l, r in want:
                z = torch.cat([nodes[l], nodes[r]]) @ W.T
                nodes.append(torch.tanh(z + b if b is not None else z))
            with torch.no_grad():
                res.append(case.close(f"root of {tree} vs its merge list composed in order", model(leaves, tree), nodes[-1]))
    return all_of(res)


def _raises(fn, *args) -> tuple[bool, str]:
    try:
        out = fn(*args)
    except Exception as e:  # noqa: BLE001 - any error is a rejection
        return True, f"{type(e).__name__}: {str(e)[:100]}"
    return False, f"returned {tuple(out.shape) if isinstance(out, torch.Tensor) else out!r}"


@check(requires=RECURSIVE + ("tree_from_parents",))
def recursive_invalid_trees_rejected(subject, case, n: int = 3) -> Outcome:
    """A tree the network cannot evaluate is rejected with an error, never silently evaluated: a
    leaf index ≥ N or negative (Python's negative indexing would pick a wrong leaf), an internal
    node with three children or one (the composition is binary), in forward and in forward_batch;
    and parent pointers with a node of three children, without a root, with a leaf as a parent, or
    with a parent index past the last node (a subtree hanging there would be silently dropped)."""
    model = subject.build(case)
    leaves = case.randn(n, subject.size("dim"))
    bad = [((0, 1), n), (n, 0), ((-1, 0), 1), (0, (-1, 1)), (0, 1, 2), ((0, 1, 2), 0), ((0,), 1)]
    res = []
    with torch.no_grad():
        for t in bad:
            ok, why = _raises(model, leaves, t)
            res.append(holds(f"forward with the tree {t} over N = {n} leaves raises", ok, why))
            ok, why = _raises(model.forward_batch, [leaves, leaves], [((0, 1), 2), t])
            res.append(holds(f"forward_batch with the tree {t} over N = {n} leaves raises", ok, why))
    f = subject.fn("tree_from_parents")
    for parents in ([3, 3, 3, -1], [3, 3, 4, 4, 3], [3, 3, 0, -1], [3, 3, 1, -1], [3, 3, 5, -1]):
        ok, why = _raises(f, parents, 3)
        res.append(holds(f"tree_from_parents({parents}, 3) raises", ok, why))
    return all_of(res)
