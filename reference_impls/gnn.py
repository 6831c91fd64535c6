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

References
1. Gilmer, Schoenholz, Riley, Vinyals, Dahl (2017), "Neural Message Passing for Quantum Chemistry".
2. Morris, Ritzert, Fey, Hamilton, Lenssen, Rattan, Grohe (2019), "Weisfeiler and Leman Go Neural:
   Higher-order Graph Neural Networks" (GraphConv: W_1 x_i + W_2 Σ_j x_j).
3. Xu, Hu, Leskovec, Jegelka (2019), "How Powerful are Graph Neural Networks?" (sum/mean/max
   aggregation and readout).
4. Sanchez-Lengeling, Reif, Pearce, Wiltschko (2021), "A Gentle Introduction to Graph Neural
   Networks", Distill; course notes 002, "Graph Neural Network - GNN" (message passing,
   aggregation, update, stacking layers; node-, edge- and graph-level tasks).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "GNNConfig", "GraphConv", "GNN",
    "message", "aggregate", "update", "graph_conv", "readout", "ring_graph",
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
