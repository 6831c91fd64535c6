"""Checks for graph neural networks (course notes 002, "Graph Neural Network - GNN"): message
passing cores, the default ring graph, permutation symmetry, k-hop locality and batching.

The subject's module provides the functional cores of :data:`CONTRACT`; the subject builds a
model with a node, edge or graph head. The cores are tested on test graphs the checks size
themselves (check parameters); models are built with the suite's sizes.

Also: graphs built from images (8-neighbour pixel graph) and text (directed token chain), the
GraphNet block with edge and global features, and semi-supervised node classification (training).

Oracles: dense adjacency matrices built with ``index_put_(accumulate=True)``, Python loops over
nodes, edges and graphs, scipy.sparse.csgraph shortest paths, exact relabelling of nodes, numpy
pixel distances and scipy.signal.convolve2d degrees, torch's conv2d, numpy's eye(T, k=−1), and a
scikit-learn logistic regression / majority-class baseline for training.
"""
from __future__ import annotations

import torch

from harness.contract import load_contract
from harness.outcome import Outcome, all_of, bound, exact, f64, holds
from harness.registry import check

_PERM_TOL = {"float64": {"atol": 1e-12, "rtol": 1e-12}}
_PERM_WHY = ("a relabelling only reorders the additions inside each node's sum (a few ulps); the "
             "catalogue (docs/catalogue.md) asks for exactness up to 1e-12 in float64, tighter than the "
             "1e-10 default")


def _node_features(subject, case, nodes: int) -> tuple:
    """Standard-normal node features x (nodes, in_features) of one graph."""
    return (case.randn(nodes, subject.size("in_features")),)


CONTRACT = load_contract("gnn", inputs=_node_features)


def _random_graph(case, n: int, e: int, *, isolated: int = 1) -> torch.Tensor:
    """(2, e + 2) random directed edges among nodes 0..n−1−isolated, plus a self-loop and a
    repeated edge; the last ``isolated`` nodes receive and send nothing."""
    live = n - isolated
    ei = case.randint(0, live, (2, e))
    extra = torch.stack([torch.stack([ei[0, 0], ei[0, 0]]), ei[:, 1]], dim=1)  # self-loop, repeat
    return torch.cat([ei, extra], dim=1)


def _undirected(case, n: int, p: float) -> torch.Tensor:
    """edge_index of an undirected Erdős–Rényi graph G(n, p), both directions listed."""
    upper = torch.triu(case.bernoulli(p, n, n, dtype=torch.float64), diagonal=1)
    i, j = torch.nonzero(upper, as_tuple=True)
    return torch.cat([torch.stack([i, j]), torch.stack([j, i])], dim=1).to(case.device)


def _relabel(case, x: torch.Tensor, edge_index: torch.Tensor):
    """A random node permutation π (new node π[i] is old node i) and a random edge order:
    returns (x', edge_index', perm) with x'[π[i]] = x[i]."""
    n = x.shape[0]
    perm = torch.randperm(n, generator=case.generator).to(x.device)
    x2 = torch.empty_like(x)
    x2[perm] = x
    order = torch.randperm(edge_index.shape[1], generator=case.generator).to(x.device)
    return x2, perm[edge_index][:, order], perm


# ---------------------------------------------------------------------------------------------
# message passing cores
# ---------------------------------------------------------------------------------------------
@check(requires=("message", "aggregate", "graph_conv"))
def gnn_sum_aggregation_is_adjacency_product(subject, case, nodes: int = 10, edges: int = 30, f_in: int = 5,
                                             f_out: int = 4) -> Outcome:
    """Sum aggregation of the messages W x_j is the dense product A X Wᵀ, where A[i, j] counts
    the edges j → i (built independently with torch.zeros().index_put_(accumulate=True),
    self-loops and repeated edges included, isolated nodes giving zero rows); and a sum layer
    equals X W_selfᵀ + A X W_msgᵀ + b."""
    x = case.randn(nodes, f_in)
    ei = _random_graph(case, nodes, edges)
    W, Ws, b = case.randn(f_out, f_in), case.randn(f_out, f_in), case.randn(f_out)
    A = torch.zeros(nodes, nodes, dtype=torch.float64).index_put_(
        (ei[1].cpu(), ei[0].cpu()), torch.ones(ei.shape[1], dtype=torch.float64), accumulate=True)
    X, W64 = f64(x), f64(W)
    agg = subject.fn("aggregate")(subject.fn("message")(x, ei, W), ei[1], nodes, "sum")
    layer = subject.fn("graph_conv")(x, ei, Ws, W, b, "sum")
    return all_of(
        case.close("aggregate(message(x, W), sum) vs A X Wᵀ", agg, A @ X @ W64.T),
        case.close("graph_conv(sum) vs X W_selfᵀ + A X W_msgᵀ + b", layer, X @ f64(Ws).T + A @ X @ W64.T + f64(b)),
    )


@check(requires=("aggregate",))
def gnn_aggregate_matches_loop(subject, case, reduce: str = "sum", nodes: int = 9, edges: int = 25,
                               features: int = 4) -> Outcome:
    """Aggregation of the messages into each target node equals a loop over the nodes that
    reduces that node's incoming messages with torch's sum / mean / amax (elementwise), with 0 for
    a node that receives none; self-loops and repeated edges count once per edge."""
    ei = _random_graph(case, nodes, edges, isolated=2)
    m = case.randn(ei.shape[1], features)
    out = subject.fn("aggregate")(m, ei[1], nodes, reduce)
    M, tgt = f64(m), ei[1].cpu()
    rows = []
    for i in range(nodes):
        inc = M[tgt == i]
        if inc.shape[0] == 0:
            rows.append(torch.zeros(features, dtype=torch.float64))
        else:
            rows.append({"sum": inc.sum(0), "mean": inc.mean(0), "max": inc.amax(0)}[reduce])
    return all_of(
        exact("aggregate output shape", tuple(out.shape), (nodes, features)),
        case.close(f"aggregate({reduce}) vs loop over target nodes", out, torch.stack(rows)),
    )


@check(requires=("readout",))
def gnn_readout_matches_loop(subject, case, reduce: str = "sum", sizes: tuple = (4, 1, 6, 3), features: int = 5) -> Outcome:
    """Graph readout of a batch equals a loop over the graphs summing (or averaging) each
    graph's node embeddings; with batch=None it reduces over all nodes as one graph."""
    n = sum(sizes)
    h = case.randn(n, features)
    batch = torch.cat([torch.full((s,), g, dtype=torch.long) for g, s in enumerate(sizes)])
    shuffle = torch.randperm(n, generator=case.generator)           # graph ids need not be contiguous
    h, batch = h[shuffle.to(h.device)], batch[shuffle].to(h.device)
    H, bc = f64(h), batch.cpu()
    red = {"sum": lambda t: t.sum(0), "mean": lambda t: t.mean(0)}[reduce]
    expected = torch.stack([red(H[bc == g]) for g in range(len(sizes))])
    ro = subject.fn("readout")
    return all_of(
        case.close(f"readout({reduce}) vs loop over graphs", ro(h, batch, len(sizes), reduce), expected),
        case.close(f"readout({reduce}) with batch=None vs all nodes", ro(h, None, None, reduce), red(H)[None]),
    )


@check(requires=("ring_graph",))
def gnn_default_ring_graph(subject, case, nodes: int = 12, neighbours: int = 2) -> Outcome:
    """The default graph is the circulant ring: ring_graph(N, k) has adjacency
    Σ_{d=1..k} (P^d + P^{−d}) with P the cyclic permutation matrix (built with torch.roll of the
    identity), no repeated edges, and model(x) equals model(x, ring_graph(N, ring_neighbours))."""
    ei = subject.fn("ring_graph")(nodes, neighbours)
    A = torch.zeros(nodes, nodes, dtype=torch.float64).index_put_(
        (ei[1].cpu(), ei[0].cpu()), torch.ones(ei.shape[1], dtype=torch.float64), accumulate=True)
    eye = torch.eye(nodes, dtype=torch.float64)
    expected = sum(torch.roll(eye, d, dims=1) + torch.roll(eye, -d, dims=1) for d in range(1, neighbours + 1))
    model = subject.build(case)
    (x,) = CONTRACT.example_inputs(subject, case, nodes)
    with torch.no_grad():
        y_default = model(x)
        y_ring = model(x, subject.fn("ring_graph")(nodes, subject.size("ring_neighbours")).to(case.device))
    return all_of(
        exact("adjacency of ring_graph(N, k) vs Σ_d roll(I, ±d)", A, expected),
        case.close("model(x) vs model(x, ring_graph(N, ring_neighbours))", y_default, f64(y_ring)),
    )


# ---------------------------------------------------------------------------------------------
# symmetry
# ---------------------------------------------------------------------------------------------
@check(tolerance=_PERM_TOL, why=_PERM_WHY)
def gnn_node_permutation_equivariance(subject, case, nodes: int = 14, p: float = 0.3) -> Outcome:
    """Node outputs are permutation-equivariant: relabelling the nodes by π (and listing the
    edges in another order) permutes the outputs the same way, f(πX, πE)[π(i)] = f(X, E)[i]."""
    model = subject.build(case, task="node")
    (x,) = CONTRACT.example_inputs(subject, case, nodes)
    ei = _undirected(case, nodes, p)
    x2, ei2, perm = _relabel(case, x, ei)
    with torch.no_grad():
        y, y2 = model(x, ei), model(x2, ei2)
    return case.close("f(πX, πE)[π(i)] vs f(X, E)[i]", f64(y2)[perm.cpu()], y,
                      detail=f"{nodes} nodes, {ei.shape[1]} directed edges")


@check(tolerance=_PERM_TOL, why=_PERM_WHY)
def gnn_graph_readout_permutation_invariance(subject, case, sizes: tuple = (7, 5, 9), p: float = 0.4) -> Outcome:
    """Graph-level outputs are permutation-invariant: relabelling the nodes of a batch of graphs
    (node ids, batch vector and edge order permuted together) leaves every graph's output
    unchanged."""
    model = subject.build(case, task="graph")
    parts, off = [], 0
    for s in sizes:
        parts.append(_undirected(case, s, p) + off)
        off += s
    ei, n = torch.cat(parts, 1), off
    batch = torch.cat([torch.full((s,), g, dtype=torch.long) for g, s in enumerate(sizes)]).to(case.device)
    (x,) = CONTRACT.example_inputs(subject, case, n)
    x2, ei2, perm = _relabel(case, x, ei)
    batch2 = torch.empty_like(batch)
    batch2[perm] = batch
    with torch.no_grad():
        y, y2 = model(x, ei, batch), model(x2, ei2, batch2)
    return all_of(
        exact("graph output shape", tuple(y.shape[:1]), (len(sizes),)),
        case.close("f(πX, πE, πbatch) vs f(X, E, batch) per graph", y2, f64(y)),
    )


@check(tolerance=_PERM_TOL, why=_PERM_WHY)
def gnn_edge_head_symmetric_and_consistent(subject, case, nodes: int = 12, p: float = 0.35) -> Outcome:
    """The edge head scores a pair (i, j) symmetrically, score(i, j) = score(j, i); a
    pair's score does not depend on which other pairs are queried (a shuffled subset of the pairs
    gets the same scores); by default it scores the columns of edge_index; and scores are
    equivariant under a relabelling of the nodes."""
    model = subject.build(case, task="edge")
    (x,) = CONTRACT.example_inputs(subject, case, nodes)
    ei = _undirected(case, nodes, p)
    pairs = case.randint(0, nodes, (2, 20))
    sub = torch.randperm(20, generator=case.generator)[:7].to(case.device)
    x2, ei2, perm = _relabel(case, x, ei)
    with torch.no_grad():
        s = model(x, ei, pairs=pairs)
        s_rev = model(x, ei, pairs=pairs.flip(0))
        s_sub = model(x, ei, pairs=pairs[:, sub])
        s_default = model(x, ei)
        s_edges = model(x, ei, pairs=ei)
        s_perm = model(x2, ei2, pairs=perm[pairs])
    return all_of(
        exact("edge score shape", tuple(s.shape[:1]), (20,)),
        case.close("score(j, i) vs score(i, j)", s_rev, f64(s)),
        case.close("scores of a shuffled subset of pairs vs the same pairs scored together", s_sub, f64(s)[sub.cpu()]),
        case.close("model(x, E) vs model(x, E, pairs=E)", s_default, f64(s_edges)),
        case.close("score of (π(i), π(j)) on the relabelled graph vs score(i, j)", s_perm, f64(s)),
    )


# ---------------------------------------------------------------------------------------------
# locality and batching
# ---------------------------------------------------------------------------------------------
@check()
def gnn_receptive_field_k_hops(subject, case, nodes: int = 16, p: float = 0.15, kick: float = 10.0) -> Outcome:
    """A k-layer message-passing network (k = the subject's ``layers``) sees exactly k hops:
    perturbing the features of a node at graph distance > k from t leaves t's output unchanged, and
    perturbing one at distance ≤ k changes it. Distances from scipy.sparse.csgraph.shortest_path on a
    random undirected graph (every ordered pair is tested), and on a path 0–1–…–(k+1) with target 0.

    Each node is kicked by a random z and by −z: both must leave a node beyond k hops unchanged, and
    at least one must change a node within k hops (ReLUs and a max aggregation can block a single
    direction: seen with hidden width 8)."""
    from scipy.sparse.csgraph import shortest_path

    layers, features = subject.size("layers"), subject.size("in_features")
    model = subject.build(case, task="node")
    (x,) = CONTRACT.example_inputs(subject, case, nodes)
    ei = _undirected(case, nodes, p)
    adj = torch.zeros(nodes, nodes, dtype=torch.float64)
    adj[ei[0].cpu(), ei[1].cpu()] = 1.0
    dist = torch.from_numpy(shortest_path(adj.numpy(), unweighted=True, directed=False))   # inf if unreachable
    with torch.no_grad():
        y = f64(model(x, ei))
        delta = torch.zeros(nodes, nodes, dtype=torch.float64)         # delta[s, t] = max |Δ y_t| when x_s is kicked
        for s in range(nodes):
            z = kick * case.randn(features)
            for sign in (1.0, -1.0):
                x2 = x.clone()
                x2[s] += sign * z
                delta[s] = torch.maximum(delta[s], (f64(model(x2, ei)) - y).abs().amax(-1))
        # the path 0 - 1 - ... - (k+1): node k is k hops from node 0, node k+1 is k+1 hops
        n_path = layers + 2
        i = torch.arange(n_path - 1, device=case.device)
        path = torch.cat([torch.stack([i, i + 1]), torch.stack([i + 1, i])], dim=1)
        (xp,) = CONTRACT.example_inputs(subject, case, n_path)
        yp = f64(model(xp, path))[0]

        def change_at_0(node: int) -> float:
            z, change = kick * case.randn(features), 0.0
            for sign in (1.0, -1.0):
                xk = xp.clone()
                xk[node] += sign * z
                change = max(change, float((f64(model(xk, path))[0] - yp).abs().max()))
            return change

        d_near, d_far = change_at_0(layers), change_at_0(layers + 1)
    beyond, within = dist > layers, dist <= layers
    floor = 1e-6
    return all_of(
        bound(f"largest output change at t from a node more than {layers} hops away", float(delta[beyond].max()) if beyond.any() else 0.0,
              float(case.tolerance.atol), detail=f"{int(beyond.sum())} pairs beyond {layers} hops"),
        bound(f"smallest output change at t from a node at most {layers} hops away", float(delta[within].min()), floor, op=">",
              detail=f"{int(within.sum())} pairs within {layers} hops, kicks ±{kick:g}·N(0, I)"),
        bound(f"path graph: change at node 0 from node {layers + 1} ({layers + 1} hops)", d_far, float(case.tolerance.atol)),
        bound(f"path graph: change at node 0 from node {layers} ({layers} hops)", d_near, floor, op=">"),
    )


@check()
def gnn_batched_equals_one_by_one(subject, case, task: str = "node", sizes: tuple = (6, 1, 8, 4),
                                  p: float = 0.4) -> Outcome:
    """Running a batch of graphs (disjoint union, node ids offset, batch vector) gives the same
    node, edge or graph outputs as running each graph alone, including a single isolated node."""
    model = subject.build(case, task=task)
    no_edges = torch.zeros(2, 0, dtype=torch.long, device=case.device)
    graphs = [(CONTRACT.example_inputs(subject, case, s)[0], _undirected(case, s, p) if s > 1 else no_edges)
              for s in sizes]
    offs = [0]
    for s in sizes:
        offs.append(offs[-1] + s)
    x = torch.cat([g[0] for g in graphs])
    ei = torch.cat([g[1] + o for g, o in zip(graphs, offs)], dim=1)
    batch = torch.cat([torch.full((s,), g, dtype=torch.long) for g, s in enumerate(sizes)]).to(case.device)
    with torch.no_grad():
        together = model(x, ei, batch) if task != "edge" else model(x, ei)
        alone = [model(xg, eg, None) if task != "edge" else model(xg, eg) for xg, eg in graphs]
    return case.close(f"{task} outputs of the batched graphs vs each graph alone", together, f64(torch.cat(alone)),
                      detail=f"graph sizes {tuple(sizes)}")


@check(requires=("graph_conv",))
def gnn_layer_gradcheck(subject, case, aggr: str = "mean", nodes: int = 6, edges: int = 14, f_in: int = 3,
                        f_out: int = 2) -> Outcome:
    """A message-passing layer has correct gradients with respect to the node features and all
    weights: torch.autograd.gradcheck (float64 finite differences) of graph_conv, for the sum and
    mean aggregations (max is piecewise linear: checked away from ties, which random inputs avoid)."""
    if case.dtype != torch.float64:
        return holds("gradcheck needs float64", False, f"got {case.dtype}")
    ei = _random_graph(case, nodes, edges)
    args = tuple(t.requires_grad_(True) for t in (case.randn(nodes, f_in), case.randn(f_out, f_in),
                                                  case.randn(f_out, f_in), case.randn(f_out)))
    conv = subject.fn("graph_conv")
    try:
        ok = torch.autograd.gradcheck(lambda x, ws, wm, b: conv(x, ei, ws, wm, b, aggr), args, raise_exception=True)
        detail = "torch.autograd.gradcheck defaults (eps 1e-6, atol 1e-5, rtol 1e-3)"
    except RuntimeError as err:
        ok, detail = False, str(err).splitlines()[0][:300]
    return holds(f"autograd gradients of graph_conv({aggr}) match finite differences", ok, detail)


# Notes 002, "GNN - Message passing": "Let's zoom into node 6 and examine the neighbourhood N6 = {1, 3, 4}.
# We take each of the node features x1, x3, and x4, and transform them using a function F ... for now,
# let's say F = W·x for mathematical convenience". The notes' graph itself is a figure, not in the
# text: only node 6's neighbours are given. The other edges below (among nodes 1..5, none touching
# node 6) are ours, so that the other nodes have neighbours too.
NOTES_N6 = (1, 3, 4)
NOTES_OTHER_EDGES = ((1, 2), (2, 3), (3, 4), (4, 5), (2, 5))


def notes_graph(device=None) -> torch.Tensor:
    """edge_index (2, 16) of the undirected example graph on nodes 1..6 (index = label − 1), both
    directions listed: node 6 linked to 1, 3 and 4 (notes 002), plus :data:`NOTES_OTHER_EDGES`."""
    pairs = [(j, 6) for j in NOTES_N6] + list(NOTES_OTHER_EDGES)
    src = [p - 1 for e in pairs for p in e]
    dst = [q - 1 for e in pairs for q in reversed(e)]
    return torch.tensor([src, dst], dtype=torch.long, device=device)


@check(requires=("message", "aggregate", "graph_conv"))
def gnn_notes_node6_neighbourhood(subject, case, f_in: int = 5, f_out: int = 3) -> Outcome:
    """Notes 002's message-passing example: node 6 of the example graph has the neighbourhood
    N6 = {1, 3, 4}, and its messages are F(x_j) = W x_j for j ∈ N6. Read through the subject's message
    passing: with one-hot node features and W = I, the sum-aggregated message at node 6 is the
    indicator of {1, 3, 4} (row 6 of the adjacency); with random features it is W(x1 + x3 + x4) (sum),
    W(x1 + x3 + x4)/3 (mean) and the elementwise max of W x1, W x3, W x4 (max); the layer's update is
    h6 = W_self x6 + Σ_{j ∈ N6} W x_j + b (the notes' "simple addition"), and changing the features
    of nodes 2 and 5 (outside N6 ∪ {6}) leaves h6 unchanged."""
    ei = notes_graph(case.device)
    msg, agg, conv = subject.fn("message"), subject.fn("aggregate"), subject.fn("graph_conv")
    onehot = case.tensor(torch.eye(6, dtype=torch.float64))
    row6 = agg(msg(onehot, ei, case.tensor(torch.eye(6, dtype=torch.float64))), ei[1], 6, "sum")[5]
    seen = [i + 1 for i in range(6) if float(row6[i]) != 0.0]
    x, W = case.randn(6, f_in), case.randn(f_out, f_in)
    Ws, b = case.randn(f_out, f_in), case.randn(f_out)
    X, W64 = f64(x), f64(W)
    m = torch.stack([W64 @ X[j - 1] for j in NOTES_N6])  # F(x_j) = W x_j, j ∈ N6, computed here
    h6 = conv(x, ei, Ws, W, b, "sum")[5]
    x2 = x.clone()
    x2[[1, 4]] += 10.0 * case.randn(2, f_in)  # nodes 2 and 5
    return all_of(
        exact("N6 read off sum-aggregated one-hot messages at node 6", seen, list(NOTES_N6)),
        case.close("one-hot messages summed at node 6 (row 6 of the adjacency)", row6,
                   torch.tensor([1.0, 0, 1, 1, 0, 0], dtype=torch.float64)),
        case.close("sum aggregation at node 6 vs W x1 + W x3 + W x4", agg(msg(x, ei, W), ei[1], 6, "sum")[5], m.sum(0)),
        case.close("mean aggregation at node 6 vs (W x1 + W x3 + W x4)/3", agg(msg(x, ei, W), ei[1], 6, "mean")[5],
                   m.mean(0)),
        case.close("max aggregation at node 6 vs max(W x1, W x3, W x4)", agg(msg(x, ei, W), ei[1], 6, "max")[5],
                   m.amax(0)),
        case.close("update h6 vs W_self x6 + Σ_{j ∈ N6} W x_j + b", h6, f64(Ws) @ X[5] + m.sum(0) + f64(b)),
        exact("h6 unchanged when nodes 2 and 5 change", f64(conv(x2, ei, Ws, W, b, "sum")[5]), f64(h6)),
    )


# ---------------------------------------------------------------------------------------------
# graphs from other data: images and text (notes 002, "Graphs and where to find them")
# ---------------------------------------------------------------------------------------------
def _dense(ei: torch.Tensor, n: int) -> torch.Tensor:
    """A[i, j] = number of columns j → i of edge_index (float64, CPU)."""
    ei = ei.cpu()
    return torch.zeros(n, n, dtype=torch.float64).index_put_(
        (ei[1], ei[0]), torch.ones(ei.shape[1], dtype=torch.float64), accumulate=True)


@check(requires=("image_graph", "image_to_graph"))
def gnn_image_graph_8_neighbours(subject, case, height: int = 5, width: int = 7, channels: int = 3) -> Outcome:
    """The pixel graph of an H×W image links pixel (r, c) (node r·W + c) both ways to exactly the
    pixels at Chebyshev distance 1: its adjacency equals the numpy oracle max(|Δr|, |Δc|) = 1 over
    all pixel pairs (so it is symmetric, with no self-loops and no repeated edges); every pixel's
    degree equals scipy.signal.convolve2d(1, ones(3, 3), 'same') − 1; as the notes say, each
    non-border pixel has exactly 8 neighbours (and, for H, W ≥ 2, a border pixel 5, a corner 3); there are
    8HW − 6H − 6W + 4 directed edges; and image_to_graph(image) gives x[r·W + c] = image[:, r, c]
    (RGB: 3 features per node) with the same edges."""
    import numpy as np
    from scipy.signal import convolve2d

    H, W, n = height, width, height * width
    ei = subject.fn("image_graph")(H, W)
    A = _dense(ei, n)
    rr, cc = np.divmod(np.arange(n), W)
    cheb = np.maximum(np.abs(rr[:, None] - rr[None, :]), np.abs(cc[:, None] - cc[None, :]))
    oracle = torch.from_numpy((cheb == 1).astype(np.float64))
    deg = A.sum(0).reshape(H, W)                                            # out-degree (= in-degree)
    conv_deg = torch.from_numpy(convolve2d(np.ones((H, W)), np.ones((3, 3)), mode="same") - 1.0)
    interior = torch.zeros(H, W, dtype=torch.bool)
    interior[1:-1, 1:-1] = True
    corner = torch.zeros(H, W, dtype=torch.bool)
    corner[[0, 0, -1, -1], [0, -1, 0, -1]] = True
    border = ~interior & ~corner
    image = case.randn(channels, H, W)
    x, ei2 = subject.fn("image_to_graph")(image)
    pixels = torch.stack([f64(image)[:, r, c] for r in range(H) for c in range(W)])
    return all_of(
        exact("edge_index dtype", ei.dtype, torch.long),
        exact("number of directed edges vs 8HW − 6H − 6W + 4", int(ei.shape[1]), 8 * H * W - 6 * H - 6 * W + 4),
        holds("no self-loops", bool((ei[0] != ei[1]).all()), f"{int((ei[0] == ei[1]).sum())} self-loop(s)"),
        holds("no repeated edges", bool(A.max() <= 1), f"largest multiplicity {int(A.max())}"),
        exact("adjacency is symmetric (every edge listed both ways)", A, A.T),
        exact("adjacency vs Chebyshev distance 1 between pixels (numpy)", A, oracle),
        exact("pixel degrees vs convolve2d(ones, ones(3, 3)) − 1 (scipy)", deg, conv_deg),
        [exact("degree of every non-border pixel (notes: exactly 8)", deg[interior].unique().tolist(), [8.0])]
        if H >= 3 and W >= 3 else [],
        [exact("degree of border pixels other than corners", deg[border].unique().tolist(), [5.0])]
        if H >= 2 and W >= 2 and H * W > 4 else [],
        [exact("degree of the 4 corners", deg[corner].tolist(), [3.0] * 4)] if H >= 2 and W >= 2 else [],
        exact("image_to_graph: node features x[r·W + c] vs image[:, r, c]", f64(x), pixels),
        exact("image_to_graph: adjacency vs image_graph(H, W)", _dense(ei2, n), A),
    )


@check(requires=("image_to_graph", "message", "aggregate"))
def gnn_image_graph_sum_is_convolution(subject, case, height: int = 6, width: int = 5, channels: int = 3,
                                       f_out: int = 4) -> Outcome:
    """On the pixel graph, sum aggregation of the messages W x_j is a 3×3 convolution with zero
    padding whose kernel is W at the 8 off-centre taps and 0 at the centre (the notes' "similar to a
    filter in a CNN"): equal to torch.nn.functional.conv2d of the image, read back row-major."""
    image = case.randn(channels, height, width)
    Wt = case.randn(f_out, channels)
    x, ei = subject.fn("image_to_graph")(image)
    agg = subject.fn("aggregate")(subject.fn("message")(x, ei, Wt), ei[1], height * width, "sum")
    kernel = f64(Wt)[:, :, None, None].repeat(1, 1, 3, 3)
    kernel[:, :, 1, 1] = 0.0
    conv = torch.nn.functional.conv2d(f64(image)[None], kernel, padding=1)[0]     # (F', H, W)
    return case.close("sum-aggregated messages on the pixel graph vs conv2d(ring kernel W, padding 1)",
                      agg, conv.reshape(f_out, -1).T)


@check(requires=("text_graph", "message", "aggregate"))
def gnn_text_graph_directed_chain(subject, case, lengths: tuple = (1, 2, 9), features: int = 3) -> Outcome:
    """A text of T tokens is the directed chain t → t + 1: exactly the T − 1 edges (t, t + 1), no
    reverse edge and no self-loop; its adjacency (A[i, j] = edges j → i) is numpy's eye(T, k=−1); so
    message passing with W = I hands each token the features of the token before it (0 for the first
    token), and nothing from the token after it."""
    import numpy as np

    out = []
    for T in lengths:
        ei = subject.fn("text_graph")(T)
        A = _dense(ei, T)
        pairs = sorted(zip(ei[0].tolist(), ei[1].tolist()))
        out += [
            exact(f"T={T}: edge_index shape", tuple(ei.shape), (2, max(T - 1, 0))),
            exact(f"T={T}: edges", pairs, [(t, t + 1) for t in range(T - 1)]),
            holds(f"T={T}: no reverse edges", not bool((A * A.T).any()) and not bool(A.diagonal().any())),
            exact(f"T={T}: adjacency vs numpy eye(T, k=-1)", A, torch.from_numpy(np.eye(T, k=-1))),
        ]
    T = lengths[-1]
    ei = subject.fn("text_graph")(T).to(case.device)
    x = case.randn(T, features)
    got = subject.fn("aggregate")(subject.fn("message")(x, ei, case.tensor(torch.eye(features))), ei[1], T, "sum")
    shifted = torch.cat([torch.zeros(1, features, dtype=torch.float64), f64(x)[:-1]])
    out.append(case.close(f"T={T}: token t receives x_(t−1) (W = I, sum)", got, shifted))
    return all_of(out)


# ---------------------------------------------------------------------------------------------
# edge and global features: the GraphNet block (update by concatenation)
# ---------------------------------------------------------------------------------------------
_GN_ACT = {"relu": torch.relu, "tanh": torch.tanh, "none": lambda t: t}


def _graph_net_inputs(case, sizes, edges, fv, fe, fu, out):
    """A batch of graphs (random directed edges within each, a self-loop, a repeated edge, an
    isolated last node per graph), its features and random weights of the three updates."""
    parts, off = [], 0
    for s, e in zip(sizes, edges):
        parts.append(_random_graph(case, s, e) + off)
        off += s
    ei = torch.cat(parts, 1)
    batch = torch.cat([torch.full((s,), g, dtype=torch.long) for g, s in enumerate(sizes)]).to(case.device)
    ov, oe, ou = out
    x, ea, u = case.randn(off, fv), case.randn(ei.shape[1], fe), case.randn(len(sizes), fu)
    w = (case.randn(oe, fe + 2 * fv + fu), case.randn(oe), case.randn(ov, fv + oe + fu), case.randn(ov),
         case.randn(ou, fu + ov + oe), case.randn(ou))
    return x, ei, ea, u, batch, w


@check(requires=("graph_net",))
def gnn_graph_net_matches_loop(subject, case, sizes: tuple = (6, 4), edges: tuple = (10, 5), fv: int = 3,
                               fe: int = 2, fu: int = 2, out: tuple = (4, 3, 2), activation: str = "relu") -> Outcome:
    """The GraphNet block with edge and global features equals explicit Python loops: per edge
    k = (s → t), e'_k = φ(W_e [e_k, x_s, x_t, u_g(s)] + b_e); per node, x'_i = φ(W_v [x_i, Σ_{k → i} e'_k,
    u_g(i)] + b_v); per graph, u'_g = φ(W_u [u_g, Σ_{i ∈ g} x'_i, Σ_{k ∈ g} e'_k] + b_u) — on a batch of
    two graphs with a self-loop, a repeated edge and an isolated node each."""
    x, ei, ea, u, batch, w = _graph_net_inputs(case, sizes, edges, fv, fe, fu, out)
    xn, en, un = subject.fn("graph_net")(x, ei, ea, u, *w, batch=batch, activation=activation)
    act = _GN_ACT[activation]
    X, EA, U, B, E = f64(x), f64(ea), f64(u), batch.cpu().tolist(), ei.cpu().tolist()
    We, be, Wv, bv, Wu, bu = (f64(t) for t in w)
    e_loop = [act(We @ torch.cat([EA[k], X[s], X[t], U[B[s]]]) + be) for k, (s, t) in enumerate(zip(*E))]
    x_loop = []
    for i in range(X.shape[0]):
        inc = sum((e_loop[k] for k, t in enumerate(E[1]) if t == i), torch.zeros(out[1], dtype=torch.float64))
        x_loop.append(act(Wv @ torch.cat([X[i], inc, U[B[i]]]) + bv))
    u_loop = []
    for g in range(len(sizes)):
        xs = sum((x_loop[i] for i in range(X.shape[0]) if B[i] == g), torch.zeros(out[0], dtype=torch.float64))
        es = sum((e_loop[k] for k, s in enumerate(E[0]) if B[s] == g), torch.zeros(out[1], dtype=torch.float64))
        u_loop.append(act(Wu @ torch.cat([U[g], xs, es]) + bu))
    return all_of(
        exact("output shapes (x', e', u')", [tuple(t.shape) for t in (xn, en, un)],
              [(X.shape[0], out[0]), (len(E[0]), out[1]), (len(sizes), out[2])]),
        case.close("edge update e' vs per-edge loop", en, torch.stack(e_loop)),
        case.close("node update x' vs per-node loop (sum of updated incoming edges)", xn, torch.stack(x_loop)),
        case.close("global update u' vs per-graph loop (sums of updated nodes and edges)", un, torch.stack(u_loop)),
    )


@check(requires=("graph_net",), tolerance=_PERM_TOL, why=_PERM_WHY)
def gnn_graph_net_permutation_symmetry(subject, case, sizes: tuple = (7, 5), edges: tuple = (14, 9), fv: int = 3,
                                       fe: int = 2, fu: int = 2, out: tuple = (4, 3, 2),
                                       activation: str = "tanh") -> Outcome:
    """The GraphNet block is equivariant for nodes and edges and invariant for the global output:
    relabelling the nodes by π (batch vector permuted with them) and listing the edges in another
    order σ (with their attributes) gives x'[π(i)] = x'_i, e'[σ(k)] = e'_k and the same u' (tanh by
    default: no output is clamped to 0, so none is compared vacuously)."""
    x, ei, ea, u, batch, w = _graph_net_inputs(case, sizes, edges, fv, fe, fu, out)
    n, m = x.shape[0], ei.shape[1]
    perm = torch.randperm(n, generator=case.generator).to(case.device)
    order = torch.randperm(m, generator=case.generator).to(case.device)
    x2, batch2 = torch.empty_like(x), torch.empty_like(batch)
    x2[perm], batch2[perm] = x, batch
    ei2 = perm[ei][:, order]
    gn = subject.fn("graph_net")
    xn, en, un = gn(x, ei, ea, u, *w, batch=batch, activation=activation)
    xn2, en2, un2 = gn(x2, ei2, ea[order], u, *w, batch=batch2, activation=activation)
    return all_of(
        case.close("x'(πX, πE)[π(i)] vs x'(X, E)[i]", f64(xn2)[perm.cpu()], f64(xn)),
        case.close("e' of the reordered edges vs e' reordered", en2, f64(en)[order.cpu()]),
        case.close("u' after relabelling vs u'", un2, f64(un)),
    )


# ---------------------------------------------------------------------------------------------
# semi-supervised node classification (training)
# ---------------------------------------------------------------------------------------------
def _two_communities(case, per_class: int, p_in: float, p_out: float, snr: float, features: int):
    """A two-block stochastic block model (labels y = block) with weakly informative features
    x_i = snr·(2y_i − 1)·v + N(0, I), v a random unit vector: (x, edge_index, y), float64 on the CPU."""
    n = 2 * per_class
    y = torch.arange(n) // per_class
    probs = torch.where(y[:, None] == y[None, :], p_in, p_out).to(torch.float64)
    upper = torch.triu(torch.bernoulli(probs, generator=case.generator), diagonal=1)
    i, j = torch.nonzero(upper, as_tuple=True)
    ei = torch.cat([torch.stack([i, j]), torch.stack([j, i])], dim=1)
    v = torch.randn(features, generator=case.generator, dtype=torch.float64)
    noise = torch.randn(n, features, generator=case.generator, dtype=torch.float64)
    x = noise + snr * (2 * y[:, None] - 1) * v / v.norm()
    return x, ei, y


@check(marks=("slow", "training"))
def gnn_semi_supervised_beats_feature_baseline(subject, case, per_class: int = 50, labelled: int = 5,
                                                p_in: float = 0.15, p_out: float = 0.02, snr: float = 0.3,
                                                steps: int = 100, lr: float = 0.02, weight_decay: float = 5e-3,
                                                margin: float = 0.2) -> Outcome:
    """Semi-supervised node classification (notes 002: "trained in a semi-supervised way, where only
    part of the graph is labelled"): on a two-community stochastic block model (fixed seed) with
    weakly informative node features and labels on ``labelled`` nodes per class, the GNN (node head,
    2 classes) trained with full-batch Adam on the cross-entropy of the labelled nodes only classifies
    the unlabelled nodes better, by ``margin``, than both independent baselines measured on the same
    unlabelled nodes: scikit-learn's LogisticRegression fitted on the labelled nodes' features alone
    (no edges), and the majority class.

    Tuned for the suite's subject (sum aggregation): margins 0.26–0.49 over test seeds 0–4. With a mean
    aggregation the same budget mostly fits the labelled nodes' own features and misses the margin
    (0.56–0.87 accuracy seen), so a mean subject needs its own settings (more labels or steps)."""
    from sklearn.linear_model import LogisticRegression

    features = subject.size("in_features")
    x, ei, y = _two_communities(case, per_class, p_in, p_out, snr, features)
    pick = torch.cat([torch.randperm(per_class, generator=case.generator)[:labelled] + c * per_class for c in (0, 1)])
    mask = torch.zeros(2 * per_class, dtype=torch.bool)
    mask[pick] = True
    clf = LogisticRegression().fit(x[mask].numpy(), y[mask].numpy())
    base_lr = float((torch.from_numpy(clf.predict(x[~mask].numpy())) == y[~mask]).to(torch.float64).mean())
    base_major = float(max((y[~mask] == c).to(torch.float64).mean() for c in (0, 1)))
    model = subject.build(case, task="node", out_features=2)
    xd, eid, yd, md = x.to(case.device, case.dtype), ei.to(case.device), y.to(case.device), mask.to(case.device)
    with case.fork_rng():
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        for _ in range(steps):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xd, eid)[md], yd[md])
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = float((model(xd, eid).argmax(-1)[~md] == yd[~md]).to(torch.float64).mean())
    best = max(base_lr, base_major)
    return bound(f"GNN accuracy on the {int((~mask).sum())} unlabelled nodes − best baseline", acc - best, margin,
                 op=">=", source="margin over logistic regression on features alone / majority class",
                 detail=f"GNN {acc:.3f}; logistic regression {base_lr:.3f}; majority {base_major:.3f}; "
                        f"{2 * labelled} labelled nodes, {ei.shape[1] // 2} undirected edges, {steps} Adam steps, "
                        f"final loss {float(loss.detach()):.3g}")


# ---------------------------------------------------------------------------------------------
# the model against a dense formula; graph constructors' sizes; gradients through the cores
# ---------------------------------------------------------------------------------------------
_MODEL_ACT = {"relu": torch.relu, "tanh": torch.tanh}


def _ring_dense(n: int, k: int) -> torch.Tensor:
    """Σ_{d=1..k} (P^d + P^{−d}) with P the cyclic permutation matrix (torch.roll of the identity)."""
    eye = torch.eye(n, dtype=torch.float64)
    return sum(torch.roll(eye, d, dims=1) + torch.roll(eye, -d, dims=1) for d in range(1, k + 1))


@check(requires=("embed",))
def gnn_model_matches_dense_formula(subject, case, sizes: tuple = (7, 5), p: float = 0.4, ring_nodes: int = 10) -> Outcome:
    """The model is H₀ = X, H_l = φ(H_{l−1} W_selfᵀ + Â H_{l−1} W_msgᵀ + b) with φ the subject's activation
    (torch.relu / torch.tanh) and Â the dense adjacency (A[i, j] = number of edges j → i; for the mean
    aggregation divided row-wise by max(in-degree, 1)), followed by its head: node task head(H_L), graph
    task head(readout_g H_L) (sum or mean over each graph's nodes), edge task head(h_s ⊙ h_t) for each
    edge column — computed from the state dict's weights (convs.l.lin_self / lin_msg, head) on a batch of
    two random undirected graphs. embed(x) without edges uses the default ring graph (adjacency
    Σ_d P^{±d}) on N ≠ in_features nodes."""
    aggr, task, readout = subject.size("aggr"), subject.size("task"), subject.size("readout")
    if aggr not in ("sum", "mean"):
        raise ValueError(f"gnn_model_matches_dense_formula covers the sum and mean aggregations, got {aggr!r}")
    act = _MODEL_ACT[subject.size("activation")]
    model = subject.build(case)
    sd = {k: f64(v) for k, v in model.state_dict().items()}
    L = subject.size("layers")

    def formula(X, A):
        if aggr == "mean":
            A = A / A.sum(1, keepdim=True).clamp_min(1)
        H = X
        for l in range(L):
            pre = f"convs.{l}."
            H = act(H @ sd[pre + "lin_self.weight"].T + A @ H @ sd[pre + "lin_msg.weight"].T + sd[pre + "lin_self.bias"])
        return H

    def head(h):
        return h @ sd["head.weight"].T + sd["head.bias"]

    offs, parts = 0, []
    for s in sizes:
        parts.append(_undirected(case, s, p) + offs)
        offs += s
    ei = torch.cat(parts, 1)
    batch = torch.cat([torch.full((s,), g, dtype=torch.long) for g, s in enumerate(sizes)]).to(case.device)
    (x,) = CONTRACT.example_inputs(subject, case, offs)
    H = formula(f64(x), _dense(ei, offs))
    with torch.no_grad():
        y = model(x, ei, batch) if task == "graph" else model(x, ei)
    if task == "node":
        want = head(H)
    elif task == "graph":
        pooled = torch.stack([H[batch.cpu() == g].sum(0) if readout == "sum" else H[batch.cpu() == g].mean(0)
                              for g in range(len(sizes))])
        want = head(pooled)
    else:
        src, dst = ei.cpu()
        want = head(H[src] * H[dst])
    (xr,) = CONTRACT.example_inputs(subject, case, ring_nodes)
    with torch.no_grad():
        emb = model.embed(xr)
    return all_of(
        case.close(f"{task} outputs ({subject.size('activation')}, {aggr} aggregation) vs the dense formula", y, want,
                   detail=f"graphs of {tuple(sizes)} nodes, {ei.shape[1]} edge columns"),
        case.close(f"embed(x) without edges vs the formula on the ring adjacency ({ring_nodes} nodes)", emb,
                   formula(f64(xr), _ring_dense(ring_nodes, subject.size("ring_neighbours")))),
    )


@check(requires=("ring_graph",))
def gnn_ring_graph_sizes(subject, case, valid: tuple = ((3, 1), (5, 2), (7, 3), (12, 2)),
                         invalid: tuple = ((2, 1), (4, 2), (6, 3), (1, 1), (3, 2))) -> Outcome:
    """ring_graph(N, k) links each node to its k nearest nodes on each side of the cycle: 2kN edge columns,
    no repeats, every node with in- and out-degree 2k, adjacency Σ_{d=1..k} (P^d + P^{−d}). This needs
    N > 2k; for N ≤ 2k the offsets +d and −d meet (i + k ≡ i − k mod 2k) and edges would repeat, so
    ring_graph rejects it with ValueError."""
    ring = subject.fn("ring_graph")
    out = []
    for n, k in valid:
        ei = ring(n, k)
        cols = {tuple(c) for c in ei.T.cpu().tolist()}
        A = _dense(ei, n)
        out += [exact(f"edge columns of ring_graph({n}, {k})", ei.shape[1], 2 * k * n),
                exact(f"distinct edges of ring_graph({n}, {k})", len(cols), 2 * k * n),
                exact(f"adjacency of ring_graph({n}, {k}) vs Σ_d roll(I, ±d)", A, _ring_dense(n, k))]
    accepted = []
    for n, k in invalid:
        try:
            ei = ring(n, k)
            accepted.append((n, k, ei.shape[1]))
        except ValueError:
            pass
    out.append(holds("ring_graph(N, k) with N ≤ 2k rejected with ValueError", not accepted,
                     f"accepted (N, k, edges): {accepted}" if accepted else f"{len(invalid)} rejected"))
    return all_of(out)


@check(requires=("image_to_graph",))
def gnn_image_to_graph_differentiable(subject, case, channels: int = 3, height: int = 4, width: int = 5) -> Outcome:
    """Reading an image as node features is a differentiable rearrangement of its pixels: for
    L = Σ x ⊙ G with x from image_to_graph(image), autograd gives ∂L/∂image[c, r, col] = G[r·W + col, c]
    (the transpose of the rearrangement, written with explicit loops)."""
    image = case.randn(channels, height, width).requires_grad_(True)
    x, _ = subject.fn("image_to_graph")(image)
    G = case.randn(height * width, channels)
    if not x.requires_grad:
        return holds("node features attached to the image's graph (requires grad)", False, "x is detached")
    (grad,) = torch.autograd.grad((x * G).sum(), image)
    Gc = G.cpu()
    want = torch.tensor([[[float(Gc[r * width + c, ch]) for c in range(width)] for r in range(height)]
                         for ch in range(channels)], dtype=torch.float64)
    return case.close("∂(Σ x ⊙ G)/∂image vs G rearranged by loops", grad, want)


@check(requires=("graph_net",))
def gnn_graph_net_gradcheck(subject, case, sizes: tuple = (4, 3), edges: tuple = (6, 4), fv: int = 2, fe: int = 2,
                            fu: int = 2, out: tuple = (3, 2, 2), activation: str = "tanh") -> Outcome:
    """The GraphNet block is differentiable end to end: its three outputs (x', e', u') are attached to the
    graph and their derivatives with respect to the node, edge and global features and all six weights and
    biases agree with finite differences (torch.autograd.gradcheck, float64, defaults eps 1e-6, atol 1e-5,
    rtol 1e-3), through the edge → node → global chain (smooth activation: tanh)."""
    if case.dtype != torch.float64:
        return holds("gradcheck needs float64", False, f"got {case.dtype}")
    x, ei, ea, u, batch, w = _graph_net_inputs(case, sizes, edges, fv, fe, fu, out)
    args = tuple(t.requires_grad_(True) for t in (x, ea, u, *w))
    gn = subject.fn("graph_net")

    def fn(x, ea, u, *w):
        return gn(x, ei, ea, u, *w, batch=batch, activation=activation)

    cut = [n for n, t in zip(("x'", "e'", "u'"), fn(*args)) if not t.requires_grad]  # gradcheck skips these
    try:
        ok = torch.autograd.gradcheck(fn, args, raise_exception=True)
        detail = "torch.autograd.gradcheck defaults"
    except RuntimeError as err:
        ok, detail = False, str(err).splitlines()[0][:300]
    return all_of(holds("x', e', u' attached to the graph", not cut, f"detached: {cut}" if cut else "all three"),
                  holds(f"autograd gradients of graph_net ({activation}) match finite differences", bool(ok), detail))
