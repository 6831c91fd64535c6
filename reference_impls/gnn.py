"""Graph neural network: message passing (message, aggregate, update), readout, and node-,
edge- and graph-level heads.

Graph convention (PyTorch Geometric's, without its machinery): node features x (N, F);
``edge_index`` (2, E) int64, column e = (j, i) is a directed edge from source j = edge_index[0, e]
to target i = edge_index[1, e], and a message travels along it from j to i; an undirected graph
lists both directions. Several graphs are batched as their disjoint union with a ``batch``
vector (N,) giving each node's graph id 0..G−1 (node ids offset per graph). Multi-edges and
self-loops are allowed (each column is one message); a node with no incoming edge aggregates to 0
for every reduction (sum, mean and max alike).

One layer (GraphConv, Morris et al. 2019; notes 002's "message, aggregate, update"):

    message    m_{j→i} = W_msg x_j                                  (per edge)
    aggregate  m_i = AGG_{(j→i) ∈ E} m_{j→i},  AGG ∈ {sum, mean, max} (elementwise max)
    update     h_i = act(W_self x_i + m_i + b)                        (notes: "a simple addition")

With sum aggregation a layer is act(X W_selfᵀ + A X W_msgᵀ + b), A[i, j] = number of edges j → i.
Readout (graph level): sum or mean of the node embeddings of each graph. Heads: node = Linear(h_i);
graph = Linear(readout); edge = Linear(h_i ⊙ h_j) for each queried pair (i, j) — the Hadamard
product makes the edge score symmetric, score(i, j) = score(j, i), and a pair's score does not
depend on which other pairs are queried.

Default graph (for benchmarks): when ``edge_index`` is None the model uses :func:`ring_graph` over
the N given nodes (each node linked both ways to its ``ring_neighbours`` nearest neighbours on
each side), so ``model(x)`` with x (N, F) is a forward pass over one fixed graph of N nodes; a
benchmark's "batch" is then the number of nodes.

Graphs from other data (notes 002, "Graphs and where to find them"):

- images (:func:`image_graph`, :func:`image_to_graph`): one node per pixel, numbered row-major
  (pixel (r, c) of an H×W image is node r·W + c), linked both ways to the pixels at Chebyshev
  distance 1 (the 8-neighbourhood: horizontal, vertical and diagonal), so each non-border pixel has
  exactly 8 neighbours (the notes' figure), a border pixel 5 and a corner 3 (for H, W ≥ 2); the node
  features are the pixel's channel vector (RGB: 3 values). There are 8HW − 6H − 6W + 4 directed edges.
- text (:func:`text_graph`): one node per token, and a directed edge from each token to the one that
  follows it, t → t + 1 (T − 1 edges, none backwards): with this convention a message flows
  forward, so token t hears token t − 1.

Edge and global features (:func:`graph_net`, the GraphNet block of Battaglia et al. 2018; notes 002:
"information loaded into its nodes, edges and global-context", update by concatenation): with edge
attributes e_k on edge k = (s_k → t_k) and a global vector u_g per graph g,

    edge    e'_k = φ(W_e [e_k, x_{s_k}, x_{t_k}, u_{g(s_k)}] + b_e)
    node    x'_i = φ(W_v [x_i, Σ_{k: t_k = i} e'_k, u_{g(i)}] + b_v)
    global  u'_g = φ(W_u [u_g, Σ_{i ∈ g} x'_i, Σ_{k: s_k ∈ g} e'_k] + b_u)

in that order: the node update sums the *updated* incoming edges and the global update the
*updated* nodes and edges (Battaglia et al.'s Algorithm 1). φ is relu, tanh or the identity.

References
1. Gilmer, Schoenholz, Riley, Vinyals, Dahl (2017), "Neural Message Passing for Quantum Chemistry".
2. Morris, Ritzert, Fey, Hamilton, Lenssen, Rattan, Grohe (2019), "Weisfeiler and Leman Go Neural:
   Higher-order Graph Neural Networks" (GraphConv: W_1 x_i + W_2 Σ_j x_j).
3. Xu, Hu, Leskovec, Jegelka (2019), "How Powerful are Graph Neural Networks?" (sum/mean/max
   aggregation and readout).
4. Sanchez-Lengeling, Reif, Pearce, Wiltschko (2021), "A Gentle Introduction to Graph Neural
   Networks", Distill; course notes 002, "Graph Neural Network - GNN" (message passing,
   aggregation, update, stacking layers; node-, edge- and graph-level tasks).
5. Battaglia et al. (2018), "Relational inductive biases, deep learning, and graph networks" (the
   GN block: edge, node and global updates by concatenation, Algorithm 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "GNNConfig", "GraphConv", "GNN",
    "message", "aggregate", "update", "graph_conv", "readout", "ring_graph",
    "image_graph", "image_to_graph", "text_graph", "graph_net",
    "AGGREGATIONS", "READOUTS",
]

AGGREGATIONS = ("sum", "mean", "max")
READOUTS = ("sum", "mean")


def message(x: torch.Tensor, edge_index: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """m_{j→i} = W x_j for every edge (j → i). x (N, F), edge_index (2, E), W (F', F) -> (E, F')."""
    return x[edge_index[0]] @ weight.T


def aggregate(messages: torch.Tensor, index: torch.Tensor, num_nodes: int, reduce: str = "sum") -> torch.Tensor:
    """m_i = AGG_{e : index[e] = i} messages[e], AGG ∈ {sum, mean, max}; 0 where no message arrives.

    Args: messages (E, F), index (E,) the target node of each message, num_nodes N.
    Returns: (N, F).
    """
    out = messages.new_zeros(num_nodes, messages.shape[-1])
    if reduce == "sum":
        return out.index_add(0, index, messages)
    if reduce == "mean":
        count = messages.new_zeros(num_nodes).index_add(0, index, messages.new_ones(index.shape[0]))
        return out.index_add(0, index, messages) / count.clamp_min(1).unsqueeze(-1)
    if reduce == "max":
        # include_self=False: a node that receives messages takes their max; one that receives none keeps 0
        return out.scatter_reduce(0, index.unsqueeze(-1).expand_as(messages), messages, reduce="amax",
                                  include_self=False)
    raise ValueError(f"reduce must be one of {AGGREGATIONS}, got {reduce!r}")


def update(x: torch.Tensor, aggregated: torch.Tensor, weight_self: torch.Tensor,
           bias: torch.Tensor | None = None) -> torch.Tensor:
    """h_i = W_self x_i + m_i + b (pre-activation). x (N, F), aggregated (N, F') -> (N, F')."""
    h = x @ weight_self.T + aggregated
    return h if bias is None else h + bias


def graph_conv(x: torch.Tensor, edge_index: torch.Tensor, weight_self: torch.Tensor, weight_msg: torch.Tensor,
               bias: torch.Tensor | None = None, aggr: str = "sum") -> torch.Tensor:
    """One pre-activation layer: W_self x_i + AGG_{j→i} W_msg x_j + b. (N, F) -> (N, F')."""
    m = message(x, edge_index, weight_msg)
    return update(x, aggregate(m, edge_index[1], x.shape[0], aggr), weight_self, bias)


def readout(h: torch.Tensor, batch: torch.Tensor | None = None, num_graphs: int | None = None,
            reduce: str = "sum") -> torch.Tensor:
    """h_G = Σ_{i ∈ G} h_i (sum) or (1/|G|) Σ_{i ∈ G} h_i (mean), per graph of the batch vector.

    Args: h (N, F); batch (N,) graph ids, None for one graph; num_graphs G (default max id + 1).
    Returns: (G, F) (a graph with no nodes reads out 0).
    """
    if batch is None:
        batch = torch.zeros(h.shape[0], dtype=torch.long, device=h.device)
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if batch.numel() else 0
    total = h.new_zeros(num_graphs, h.shape[-1]).index_add(0, batch, h)
    if reduce == "sum":
        return total
    if reduce == "mean":
        count = h.new_zeros(num_graphs).index_add(0, batch, h.new_ones(h.shape[0]))
        return total / count.clamp_min(1).unsqueeze(-1)
    raise ValueError(f"reduce must be one of {READOUTS}, got {reduce!r}")


def ring_graph(num_nodes: int, neighbours: int = 1, device: torch.device | str | None = None) -> torch.Tensor:
    """edge_index (2, 2·k·N) of the circulant graph: i ↔ (i ± d) mod N for d = 1..k (both
    directions listed; requires N > 2k so no edge repeats)."""
    if num_nodes <= 2 * neighbours:
        raise ValueError(f"ring_graph needs num_nodes > 2 * neighbours, got {num_nodes} and {neighbours}")
    i = torch.arange(num_nodes, device=device)
    src, dst = [], []
    for d in range(1, neighbours + 1):
        for sign in (1, -1):
            src.append(i)
            dst.append((i + sign * d) % num_nodes)
    return torch.stack([torch.cat(src), torch.cat(dst)])


def image_graph(height: int, width: int, device: torch.device | str | None = None) -> torch.Tensor:
    """edge_index of the pixel graph of an H×W image: pixel (r, c) is node r·W + c, linked both ways
    to every pixel (r + dr, c + dc) inside the image with max(|dr|, |dc|) = 1 (8-neighbourhood).
    Returns (2, 8HW − 6H − 6W + 4) int64 (no self-loops, no repeated edges)."""
    r = torch.arange(height, device=device).repeat_interleave(width)
    c = torch.arange(width, device=device).repeat(height)
    src, dst = [], []
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == 0 and dc == 0:
                continue
            r2, c2 = r + dr, c + dc
            ok = (r2 >= 0) & (r2 < height) & (c2 >= 0) & (c2 < width)
            src.append((r * width + c)[ok])
            dst.append((r2 * width + c2)[ok])
    if not src:
        return torch.zeros(2, 0, dtype=torch.long, device=device)
    return torch.stack([torch.cat(src), torch.cat(dst)])


def image_to_graph(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """An image (C, H, W) as a graph: node features x (H·W, C), x[r·W + c] = image[:, r, c], and
    :func:`image_graph` (H, W)."""
    c, h, w = image.shape
    return image.reshape(c, h * w).T.contiguous(), image_graph(h, w, device=image.device)


def text_graph(num_tokens: int, device: torch.device | str | None = None) -> torch.Tensor:
    """edge_index (2, T − 1) of a text of T tokens: token t → token t + 1, for t = 0..T−2."""
    t = torch.arange(max(num_tokens - 1, 0), device=device)
    return torch.stack([t, t + 1])


_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "none": lambda t: t}


def graph_net(x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor, u: torch.Tensor,
              w_edge: torch.Tensor, b_edge: torch.Tensor, w_node: torch.Tensor, b_node: torch.Tensor,
              w_global: torch.Tensor, b_global: torch.Tensor, batch: torch.Tensor | None = None,
              activation: str = "relu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One GraphNet block (edge, then node, then global update, each φ(W [concatenation] + b)).

    Args: x (N, Fv), edge_index (2, E), edge_attr (E, Fe), u (G, Fu); w_edge (Fe', Fe + 2Fv + Fu),
    w_node (Fv', Fv + Fe' + Fu), w_global (Fu', Fu + Fv' + Fe') and biases of the output widths;
    batch (N,) graph ids (None: one graph, G = 1). An edge belongs to its source node's graph.
    Returns: (x' (N, Fv'), e' (E, Fe'), u' (G, Fu')).
    """
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(_ACTIVATIONS)}, got {activation!r}")
    act = _ACTIVATIONS[activation]
    n, g = x.shape[0], u.shape[0]
    if batch is None:
        batch = torch.zeros(n, dtype=torch.long, device=x.device)
    src, dst = edge_index[0], edge_index[1]
    e_new = act(torch.cat([edge_attr, x[src], x[dst], u[batch[src]]], -1) @ w_edge.T + b_edge)
    incoming = e_new.new_zeros(n, e_new.shape[-1]).index_add(0, dst, e_new)
    x_new = act(torch.cat([x, incoming, u[batch]], -1) @ w_node.T + b_node)
    node_sum = x_new.new_zeros(g, x_new.shape[-1]).index_add(0, batch, x_new)
    edge_sum = e_new.new_zeros(g, e_new.shape[-1]).index_add(0, batch[src], e_new)
    u_new = act(torch.cat([u, node_sum, edge_sum], -1) @ w_global.T + b_global)
    return x_new, e_new, u_new


@dataclass(frozen=True)
class GNNConfig:
    in_features: int = 16
    hidden: int = 32
    out_features: int = 4
    layers: int = 2
    aggr: str = "sum"              # sum | mean | max
    readout: str = "sum"           # sum | mean
    task: str = "node"             # node | edge | graph
    activation: str = "relu"       # relu | tanh
    ring_neighbours: int = 1       # default graph when edge_index is None


class GraphConv(nn.Module):
    """h_i = W_self x_i + AGG_{j→i} W_msg x_j + b (pre-activation)."""

    def __init__(self, in_features: int, out_features: int, aggr: str = "sum"):
        super().__init__()
        if aggr not in AGGREGATIONS:
            raise ValueError(f"aggr must be one of {AGGREGATIONS}, got {aggr!r}")
        self.aggr = aggr
        self.lin_self = nn.Linear(in_features, out_features)            # W_self, b
        self.lin_msg = nn.Linear(in_features, out_features, bias=False)  # W_msg

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return graph_conv(x, edge_index, self.lin_self.weight, self.lin_msg.weight, self.lin_self.bias, self.aggr)


class GNN(nn.Module):
    """``layers`` GraphConv layers (activation after each) and a node, edge or graph head.

    ``forward(x, edge_index=None, batch=None, pairs=None)``: x (N, F). Returns
    node task (N, out); graph task (G, out) with G = max(batch) + 1 (1 when batch is None);
    edge task (P, out) for the pairs (2, P) (default: the columns of edge_index).
    """

    def __init__(self, in_features: int = 16, hidden: int = 32, out_features: int = 4, layers: int = 2,
                 aggr: str = "sum", readout: str = "sum", task: str = "node", activation: str = "relu",
                 ring_neighbours: int = 1):
        super().__init__()
        self.config = GNNConfig(in_features, hidden, out_features, layers, aggr, readout, task, activation,
                                ring_neighbours)
        if task not in ("node", "edge", "graph"):
            raise ValueError(f"task must be node, edge or graph, got {task!r}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if activation not in ("relu", "tanh"):
            raise ValueError(f"activation must be relu or tanh, got {activation!r}")
        sizes = [in_features] + [hidden] * layers
        self.convs = nn.ModuleList(GraphConv(a, b, aggr) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = nn.ReLU() if activation == "relu" else nn.Tanh()
        self.head = nn.Linear(sizes[-1], out_features)

    def embed(self, x: torch.Tensor, edge_index: torch.Tensor | None = None) -> torch.Tensor:
        """Node embeddings after all layers: (N, F) -> (N, hidden)."""
        if edge_index is None:
            edge_index = ring_graph(x.shape[0], self.config.ring_neighbours, device=x.device)
        h = x
        for conv in self.convs:
            h = self.act(conv(h, edge_index))
        return h

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor | None = None, batch: torch.Tensor | None = None,
                pairs: torch.Tensor | None = None) -> torch.Tensor:
        if edge_index is None:
            edge_index = ring_graph(x.shape[0], self.config.ring_neighbours, device=x.device)
        h = self.embed(x, edge_index)                                            # (N, hidden)
        task = self.config.task
        if task == "node":
            return self.head(h)                                                  # (N, out)
        if task == "graph":
            return self.head(readout(h, batch, reduce=self.config.readout))      # (G, out)
        pairs = edge_index if pairs is None else pairs
        return self.head(h[pairs[0]] * h[pairs[1]])                              # (P, out)
