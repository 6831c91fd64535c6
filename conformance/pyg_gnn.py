"""PyTorch Geometric as the ``gnn`` contract: ``--impl gnn=conformance.pyg_gnn:GNN``.

Translation only, PyG's edge convention being the contract's (column (j, i) = message j → i,
flow source_to_target):
- aggregate: ``torch_geometric.utils.scatter(messages, index, dim_size=N, reduce=...)``.
- message: PyG has no standalone message function (``GraphConv.message`` returns x_j); the
  per-edge messages W x_j are PyG's gather, ``SimpleConv(aggr='sum')`` over the bipartite graph
  source j → edge e, applied to ``F.linear(x, W)``.
- graph_conv: ``torch_geometric.nn.GraphConv`` run with the given tensors as its parameters
  (``torch.func.functional_call``: lin_root.weight = W_self, lin_rel.weight = W_msg, lin_rel.bias
  = b). PyG applies lin_rel AFTER aggregating x_j: W_msg·AGG_j x_j. For sum and mean that equals
  the contract's AGG_j W_msg x_j; for max it does not (W·max ≠ max·W).
- readout: ``global_add_pool`` / ``global_mean_pool``.
- the model: ``layers`` GraphConv(aggr) with the activation, then the contract's heads (node:
  Linear; graph: PyG pooling + Linear; edge: Linear(h_i ⊙ h_j)).
Not offered by PyG: a ring (circulant) graph generator, so ``ring_graph`` is left out and the
model needs an explicit edge_index.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch_geometric.nn import GraphConv, SimpleConv, global_add_pool, global_mean_pool
from torch_geometric.utils import scatter

from conformance import circular_for

DLH_CIRCULAR = circular_for(__name__)  # properties whose oracle is this code


def aggregate(messages, index, num_nodes, reduce="sum"):
    return scatter(messages, index, dim=0, dim_size=num_nodes, reduce=reduce)


def message(x, edge_index, weight):
    E = edge_index.shape[1]
    to_edges = torch.stack([edge_index[0], torch.arange(E, device=edge_index.device)])
    return SimpleConv(aggr="sum")((F.linear(x, weight), None), to_edges, size=(x.shape[0], E))


def graph_conv(x, edge_index, weight_self, weight_msg, bias=None, aggr="sum"):
    conv = GraphConv(weight_msg.shape[1], weight_msg.shape[0], aggr=aggr, bias=bias is not None)
    params = {"lin_root.weight": weight_self, "lin_rel.weight": weight_msg}
    if bias is not None:
        params["lin_rel.bias"] = bias
    return torch.func.functional_call(conv, params, (x, edge_index))


def readout(h, batch=None, num_graphs=None, reduce="sum"):
    return (global_add_pool if reduce == "sum" else global_mean_pool)(h, batch, num_graphs)


class GNN(nn.Module):
    def __init__(self, in_features=16, hidden=32, out_features=4, layers=2, aggr="sum", readout="sum",
                 task="node", activation="relu", ring_neighbours=1):
        super().__init__()
        self.task, self.readout = task, readout
        sizes = [in_features] + [hidden] * layers
        self.convs = nn.ModuleList(GraphConv(i, o, aggr=aggr) for i, o in zip(sizes[:-1], sizes[1:]))
        self.act = nn.ReLU() if activation == "relu" else nn.Tanh()
        self.head = nn.Linear(hidden, out_features)

    def forward(self, x, edge_index=None, batch=None, pairs=None):
        if edge_index is None:
            raise NotImplementedError("PyG has no ring-graph generator: pass edge_index")
        h = x
        for conv in self.convs:
            h = self.act(conv(h, edge_index))
        if self.task == "node":
            return self.head(h)
        if self.task == "graph":
            return self.head(readout(h, batch, None, self.readout))
        pairs = edge_index if pairs is None else pairs
        return self.head(h[pairs[0]] * h[pairs[1]])
