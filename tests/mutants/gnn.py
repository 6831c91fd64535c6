"""Broken variants of the graph neural network family (harness/checks/gnn.py).

Headline variants: messages gathered from the target instead of the source (Aᵀ for A), a max
aggregation that includes 0, a mean that divides by zero for isolated nodes, node ids leaking into
the features (breaks permutation symmetry), a concatenation edge head (not symmetric), a global term
that lets every node see the whole graph, and a batch norm over all nodes of a batch (couples the
graphs of a batch).
"""
from __future__ import annotations

import torch

import reference_impls.gnn as ref
from harness.testing import broken, patched, replaced, subject_from

MOD = "reference_impls.gnn"
# the gnn suite's subject params
PARAMS = {"in_features": 16, "hidden": 32, "out_features": 4, "layers": 2, "aggr": "sum", "readout": "sum",
          "task": "node", "activation": "relu", "ring_neighbours": 1}


def model(**params):
    return subject_from("reference_impls.gnn:GNN", {**PARAMS, **params})


# --- broken cores ---------------------------------------------------------------------------------
def message_from_target(x, edge_index, weight):
    return x[edge_index[1]] @ weight.T


def sum_by_fancy_index(messages, index, num_nodes, reduce="sum"):
    """The classic scatter bug: out[index] += messages does not accumulate repeated indices."""
    out = messages.new_zeros(num_nodes, messages.shape[-1])
    out[index] += messages
    return out


def max_including_zero(messages, index, num_nodes, reduce="max"):
    out = messages.new_zeros(num_nodes, messages.shape[-1])
    return out.scatter_reduce(0, index.unsqueeze(-1).expand_as(messages), messages, reduce="amax", include_self=True)


def mean_nan_for_isolated(messages, index, num_nodes, reduce="mean"):
    count = messages.new_zeros(num_nodes).index_add(0, index, messages.new_ones(index.shape[0]))
    return ref.aggregate(messages, index, num_nodes, "sum") / count.unsqueeze(-1)


def readout_ignoring_batch(h, batch=None, num_graphs=None, reduce="sum"):
    out = ref.readout(h, None, None, reduce)
    return out.expand(num_graphs or 1, -1)


def mean_readout_over_all_nodes(h, batch=None, num_graphs=None, reduce="mean"):
    return ref.readout(h, batch, num_graphs, "sum") / h.shape[0]


def one_way_ring(num_nodes, neighbours=1, device=None):
    i = torch.arange(num_nodes, device=device)
    return torch.cat([torch.stack([i, (i + d) % num_nodes]) for d in range(1, neighbours + 1)], 1)


class _HalfBackward(torch.autograd.Function):
    """Identity forward; backward drops half the gradient (a wrong hand-written backward)."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return 0.5 * g


def wrong_backward_conv(x, edge_index, weight_self, weight_msg, bias=None, aggr="sum"):
    m = _HalfBackward.apply(ref.message(x, edge_index, weight_msg))
    return ref.update(x, ref.aggregate(m, edge_index[1], x.shape[0], aggr), weight_self, bias)


# --- broken models --------------------------------------------------------------------------------
class NodeIdLeak(ref.GNN):
    """Adds each node's index to its features (positional information): not equivariant."""

    def embed(self, x, edge_index=None):
        return super().embed(x + 0.01 * torch.arange(x.shape[0], dtype=x.dtype, device=x.device)[:, None], edge_index)


class FirstNodeReadout(ref.GNN):
    """Graph output from each graph's lowest-numbered node instead of a sum/mean."""

    def forward(self, x, edge_index=None, batch=None, pairs=None):
        if self.config.task != "graph":
            return super().forward(x, edge_index, batch, pairs)
        h = self.embed(x, edge_index)
        batch = torch.zeros(x.shape[0], dtype=torch.long, device=x.device) if batch is None else batch
        first = torch.stack([torch.nonzero(batch == g)[0, 0] for g in range(int(batch.max()) + 1)])
        return self.head(h[first])


class ConcatEdgeHead(ref.GNN):
    """Edge score Linear([h_i, h_j]): depends on the order of the pair."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.pair_head = torch.nn.Linear(2 * self.config.hidden, self.config.out_features)

    def forward(self, x, edge_index=None, batch=None, pairs=None):
        if self.config.task != "edge":
            return super().forward(x, edge_index, batch, pairs)
        edge_index = ref.ring_graph(x.shape[0]) if edge_index is None else edge_index
        h = self.embed(x, edge_index)
        pairs = edge_index if pairs is None else pairs
        return self.pair_head(torch.cat([h[pairs[0]], h[pairs[1]]], -1))


class QueryNormalisedEdgeHead(ref.GNN):
    """Edge scores centred over the queried pairs: a pair's score depends on the other pairs."""

    def forward(self, x, edge_index=None, batch=None, pairs=None):
        s = super().forward(x, edge_index, batch, pairs)
        return s - s.mean(0, keepdim=True) if self.config.task == "edge" else s


class GlobalContext(ref.GNN):
    """Adds the mean of all node features to every node: every node sees the whole graph."""

    def embed(self, x, edge_index=None):
        return super().embed(x + 0.1 * x.mean(0, keepdim=True), edge_index)


class SkipsLastAggregation(ref.GNN):
    """The last layer ignores the neighbours (k layers see only k − 1 hops)."""

    def embed(self, x, edge_index=None):
        edge_index = ref.ring_graph(x.shape[0]) if edge_index is None else edge_index
        h = x
        for i, conv in enumerate(self.convs):
            ei = edge_index if i < len(self.convs) - 1 else edge_index[:, :0]
            h = self.act(conv(h, ei))
        return h


class BatchNormedNodes(ref.GNN):
    """Standardises the input features over all nodes given (over the whole batch of graphs)."""

    def embed(self, x, edge_index=None):
        return super().embed((x - x.mean(0)) / (x.std(0, correction=0) + 1.0), edge_index)


class OneGraphReadout(ref.GNN):
    """Ignores the batch vector: one readout over all nodes."""

    def forward(self, x, edge_index=None, batch=None, pairs=None):
        return super().forward(x, edge_index, None, pairs)


MUTANTS = {
    # message passing cores
    "gnn_sum_aggregation_is_adjacency_product": [
        broken("messages from the target", patched(MOD, message=message_from_target)),
    ],
    "gnn_aggregate_matches_loop": [
        broken("sum by fancy-index +=", patched(MOD, aggregate=sum_by_fancy_index), reduce="sum"),
        broken("mean is NaN for isolated nodes", patched(MOD, aggregate=mean_nan_for_isolated), reduce="mean"),
        broken("max includes 0", patched(MOD, aggregate=max_including_zero), reduce="max"),
    ],
    "gnn_readout_matches_loop": [
        broken("sum readout ignores the batch", patched(MOD, readout=readout_ignoring_batch), reduce="sum"),
        broken("mean over all nodes", patched(MOD, readout=mean_readout_over_all_nodes), reduce="mean"),
    ],
    "gnn_layer_gradcheck": [
        broken("half the message gradient", patched(MOD, graph_conv=wrong_backward_conv), aggr="sum"),
    ],
    "gnn_default_ring_graph": [
        broken("one-way ring", patched(model(), ring_graph=one_way_ring)),
    ],
    # symmetry
    "gnn_node_permutation_equivariance": [
        broken("node ids leak into the features", replaced(model(), NodeIdLeak)),
    ],
    "gnn_graph_readout_permutation_invariance": [
        broken("readout of the first node", replaced(model(), FirstNodeReadout)),
        broken("node ids leak into the features", replaced(model(), NodeIdLeak)),
    ],
    "gnn_edge_head_symmetric_and_consistent": [
        broken("concatenation edge head", replaced(model(), ConcatEdgeHead)),
        broken("scores centred over the queried pairs", replaced(model(), QueryNormalisedEdgeHead)),
    ],
    # locality and batching
    "gnn_receptive_field_k_hops": [
        broken("a global term, 2 layers", replaced(model(layers=2), GlobalContext)),
        broken("last layer skips aggregation, 2 layers", replaced(model(layers=2), SkipsLastAggregation)),
        broken("the only layer skips aggregation", replaced(model(layers=1), SkipsLastAggregation)),
    ],
    "gnn_batched_equals_one_by_one": [
        broken("features standardised over the batch", replaced(model(), BatchNormedNodes), task="node"),
        broken("readout ignores the batch vector", replaced(model(), OneGraphReadout), task="graph"),
    ],
}


# --- the notes' node-6 example --------------------------------------------------------------------
def update_without_self(x, aggregated, weight_self, bias=None):
    """h_i = m_i + b: the node forgets its own features."""
    return aggregated if bias is None else aggregated + bias


def graph_conv_without_self(x, edge_index, weight_self, weight_msg, bias=None, aggr="sum"):
    m = ref.message(x, edge_index, weight_msg)
    return update_without_self(x, ref.aggregate(m, edge_index[1], x.shape[0], aggr), weight_self, bias)


def mean_over_all_nodes(messages, index, num_nodes, reduce="sum"):
    """A mean that divides by the number of nodes, not by the node's in-degree."""
    out = ref.aggregate(messages, index, num_nodes, "sum" if reduce == "mean" else reduce)
    return out / num_nodes if reduce == "mean" else out


MUTANTS["gnn_notes_node6_neighbourhood"] = [
    broken("messages from the target node", patched(MOD, message=message_from_target)),
    broken("out[index] += messages", patched(MOD, aggregate=sum_by_fancy_index)),
    broken("mean over all nodes", patched(MOD, aggregate=mean_over_all_nodes)),
    broken("update without the self term", patched(MOD, graph_conv=graph_conv_without_self)),
    broken("messages from the target node (float32)", patched(MOD, message=message_from_target), dtype="float32"),
]


# --- graphs from images and text --------------------------------------------------------------------
def _grid(height, width, offsets, wrap=False, device=None):
    r = torch.arange(height, device=device).repeat_interleave(width)
    c = torch.arange(width, device=device).repeat(height)
    src, dst = [], []
    for dr, dc in offsets:
        r2, c2 = r + dr, c + dc
        if wrap:
            r2, c2, ok = r2 % height, c2 % width, torch.ones_like(r, dtype=torch.bool)
        else:
            ok = (r2 >= 0) & (r2 < height) & (c2 >= 0) & (c2 < width)
        src.append((r * width + c)[ok])
        dst.append((r2 * width + c2)[ok])
    return torch.stack([torch.cat(src), torch.cat(dst)])


_KING = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]


def four_neighbour_graph(height, width, device=None):
    """The 4-neighbourhood (no diagonals)."""
    return _grid(height, width, [(-1, 0), (1, 0), (0, -1), (0, 1)], device=device)


def torus_graph(height, width, device=None):
    """Neighbours wrap around the image borders (a torus): every pixel gets 8."""
    return _grid(height, width, _KING, wrap=True, device=device)


def forward_half_graph(height, width, device=None):
    """Each neighbouring pair listed once (one direction only)."""
    return _grid(height, width, [(0, 1), (1, -1), (1, 0), (1, 1)], device=device)


def graph_with_self_loops(height, width, device=None):
    return _grid(height, width, _KING + [(0, 0)], device=device)


def image_to_graph_column_major(image):
    """Node features read column by column (x[c·H + r]) while the edges number pixels row-major."""
    c, h, w = image.shape
    return image.permute(0, 2, 1).reshape(c, h * w).T.contiguous(), ref.image_graph(h, w, device=image.device)


def image_to_graph_four_neighbours(image):
    c, h, w = image.shape
    return image.reshape(c, h * w).T.contiguous(), four_neighbour_graph(h, w, device=image.device)


def text_graph_both_ways(num_tokens, device=None):
    ei = ref.text_graph(num_tokens, device)
    return torch.cat([ei, ei.flip(0)], 1)


def text_graph_backwards(num_tokens, device=None):
    return ref.text_graph(num_tokens, device).flip(0)


def text_graph_cyclic(num_tokens, device=None):
    """The last token linked back to the first (a ring, not a chain)."""
    t = torch.arange(num_tokens, device=device)
    return torch.stack([t, (t + 1) % max(num_tokens, 1)])


MUTANTS["gnn_image_graph_8_neighbours"] = [
    broken("4-neighbourhood (no diagonals)", patched(MOD, image_graph=four_neighbour_graph)),
    broken("neighbours wrap around the borders", patched(MOD, image_graph=torus_graph)),
    broken("each pair listed one way only", patched(MOD, image_graph=forward_half_graph)),
    broken("self-loops included", patched(MOD, image_graph=graph_with_self_loops)),
    broken("image_to_graph reads pixels column-major", patched(MOD, image_to_graph=image_to_graph_column_major)),
]
MUTANTS["gnn_image_graph_sum_is_convolution"] = [
    broken("image_to_graph reads pixels column-major", patched(MOD, image_to_graph=image_to_graph_column_major)),
    broken("image_to_graph with the 4-neighbourhood", patched(MOD, image_to_graph=image_to_graph_four_neighbours)),
]
MUTANTS["gnn_text_graph_directed_chain"] = [
    broken("undirected chain (both ways)", patched(MOD, text_graph=text_graph_both_ways)),
    broken("edges t + 1 → t", patched(MOD, text_graph=text_graph_backwards)),
    broken("last token linked to the first", patched(MOD, text_graph=text_graph_cyclic)),
]


# --- GraphNet block -----------------------------------------------------------------------------------
def _gn(x, edge_index, edge_attr, u, w_edge, b_edge, w_node, b_node, w_global, b_global, batch=None,
        activation="relu", *, node_from="dst", node_reduce="sum", swap=False, global_batch=True, use_u=True,
        node_leak=0.0, edge_leak=0.0):
    act = {"relu": torch.relu, "tanh": torch.tanh, "none": lambda t: t}[activation]
    n, g = x.shape[0], u.shape[0]
    batch = torch.zeros(n, dtype=torch.long, device=x.device) if batch is None else batch
    x = x + node_leak * torch.arange(n, dtype=x.dtype, device=x.device)[:, None]
    edge_attr = edge_attr + edge_leak * torch.arange(edge_attr.shape[0], dtype=x.dtype, device=x.device)[:, None]
    src, dst = (edge_index[1], edge_index[0]) if swap else (edge_index[0], edge_index[1])
    uu = u if use_u else torch.zeros_like(u)
    e_new = act(torch.cat([edge_attr, x[src], x[dst], uu[batch[src]]], -1) @ w_edge.T + b_edge)
    tgt = edge_index[1] if node_from == "dst" else edge_index[0]
    inc = ref.aggregate(e_new, tgt, n, node_reduce)
    x_new = act(torch.cat([x, inc, uu[batch]], -1) @ w_node.T + b_node)
    gb = batch if global_batch else torch.zeros_like(batch)
    node_sum = x_new.new_zeros(g, x_new.shape[-1]).index_add(0, gb, x_new)
    edge_sum = e_new.new_zeros(g, e_new.shape[-1]).index_add(0, gb[edge_index[0]], e_new)
    return x_new, e_new, act(torch.cat([u, node_sum, edge_sum], -1) @ w_global.T + b_global)


def _gn_variant(**kw):
    def fn(*args, **kwargs):
        return _gn(*args, **kwargs, **kw)
    return fn


MUTANTS["gnn_graph_net_matches_loop"] = [
    broken("nodes sum their outgoing edges", patched(MOD, graph_net=_gn_variant(node_from="src"))),
    broken("nodes average their incoming edges", patched(MOD, graph_net=_gn_variant(node_reduce="mean"))),
    broken("edge update with source and target swapped", patched(MOD, graph_net=_gn_variant(swap=True))),
    broken("global sums over the whole batch", patched(MOD, graph_net=_gn_variant(global_batch=False))),
    broken("edge and node updates ignore u", patched(MOD, graph_net=_gn_variant(use_u=False))),
    broken("nodes sum their outgoing edges (tanh)", patched(MOD, graph_net=_gn_variant(node_from="src")),
           activation="tanh"),
]
MUTANTS["gnn_graph_net_permutation_symmetry"] = [
    broken("node ids leak into the node features", patched(MOD, graph_net=_gn_variant(node_leak=0.01))),
    broken("edge positions leak into the edge features", patched(MOD, graph_net=_gn_variant(edge_leak=0.01))),
]


# --- semi-supervised node classification ------------------------------------------------------------
class IgnoresEdges(ref.GNN):
    """Message passing over no edges: a per-node MLP on the features alone."""

    def embed(self, x, edge_index=None):
        return super().embed(x, torch.zeros(2, 0, dtype=torch.long, device=x.device))


class ShuffledTargets(ref.GNN):
    """Messages delivered to the wrong nodes (targets relabelled by a fixed random permutation)."""

    def embed(self, x, edge_index=None):
        edge_index = ref.ring_graph(x.shape[0]) if edge_index is None else edge_index
        g = torch.Generator().manual_seed(1234)
        perm = torch.randperm(x.shape[0], generator=g).to(x.device)
        return super().embed(x, torch.stack([edge_index[0], perm[edge_index[1]]]))


MUTANTS["gnn_semi_supervised_beats_feature_baseline"] = [
    broken("message passing over no edges", replaced(model(), IgnoresEdges)),
    broken("messages delivered to the wrong nodes", replaced(model(), ShuffledTargets)),
]


# --- the model vs the dense formula; ring sizes; gradients through image_to_graph and graph_net ----
class SigmoidForTanh(ref.GNN):
    """activation='tanh' builds a sigmoid."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        if self.config.activation == "tanh":
            self.act = torch.nn.Sigmoid()


class EmbedRingOneNeighbour(ref.GNN):
    """embed(x) without edges uses the ring with k = 1, whatever ring_neighbours says."""

    def embed(self, x, edge_index=None):
        if edge_index is None:
            edge_index = ref.ring_graph(x.shape[0], 1, device=x.device)
        return super().embed(x, edge_index)


class ReadoutSumForMean(ref.GNN):
    """The mean readout computed as a sum."""

    def forward(self, x, edge_index=None, batch=None, pairs=None):
        if self.config.task != "graph":
            return super().forward(x, edge_index, batch, pairs)
        edge_index = ref.ring_graph(x.shape[0], self.config.ring_neighbours, device=x.device) if edge_index is None else edge_index
        return self.head(ref.readout(self.embed(x, edge_index), batch, reduce="sum"))


class SkipSelfWeight(ref.GNN):
    """Drops W_self x_i from every layer after the first."""

    def embed(self, x, edge_index=None):
        edge_index = ref.ring_graph(x.shape[0], self.config.ring_neighbours, device=x.device) if edge_index is None else edge_index
        h = x
        for l, conv in enumerate(self.convs):
            ws = conv.lin_self.weight if l == 0 else torch.zeros_like(conv.lin_self.weight)
            h = self.act(ref.graph_conv(h, edge_index, ws, conv.lin_msg.weight, conv.lin_self.bias, conv.aggr))
        return h


def ring_graph_allows_2k(num_nodes, neighbours=1, device=None):
    """Accepts N = 2k (edges i → i ± k repeat)."""
    i = torch.arange(num_nodes, device=device)
    src, dst = [], []
    for d in range(1, neighbours + 1):
        for sign in (1, -1):
            src.append(i)
            dst.append((i + sign * d) % num_nodes)
    if num_nodes < 2 * neighbours:
        raise ValueError("too small")
    return torch.stack([torch.cat(src), torch.cat(dst)])


def ring_graph_one_direction(num_nodes, neighbours=1, device=None):
    """Only i → i + d (a directed cycle)."""
    ei = ref.ring_graph(num_nodes, neighbours, device)
    return ei[:, : ei.shape[1] // 2].repeat(1, 2)


def image_to_graph_detached(image):
    x, ei = ref.image_to_graph(image)
    return x.detach(), ei


def image_to_graph_transposed(image):
    """Pixels read column-major: x[c·H + r] = image[:, r, c]."""
    c, h, w = image.shape
    return image.permute(0, 2, 1).reshape(c, h * w).T.contiguous(), ref.image_graph(h, w, device=image.device)


def graph_net_detached_nodes(*a, **k):
    x, e, u = ref.graph_net(*a, **k)
    return x.detach(), e, u


def graph_net_detached_edges_inside(x, edge_index, edge_attr, u, w_edge, b_edge, w_node, b_node, w_global, b_global,
                                    batch=None, activation="relu"):
    """The updated edges enter the node update detached (values unchanged, gradients cut)."""
    act = {"relu": torch.relu, "tanh": torch.tanh, "none": lambda t: t}[activation]
    batch = torch.zeros(x.shape[0], dtype=torch.long, device=x.device) if batch is None else batch
    src, dst = edge_index
    e_new = act(torch.cat([edge_attr, x[src], x[dst], u[batch[src]]], -1) @ w_edge.T + b_edge)
    incoming = e_new.new_zeros(x.shape[0], e_new.shape[-1]).index_add(0, dst, e_new.detach())
    x_new = act(torch.cat([x, incoming, u[batch]], -1) @ w_node.T + b_node)
    node_sum = x_new.new_zeros(u.shape[0], x_new.shape[-1]).index_add(0, batch, x_new)
    edge_sum = e_new.new_zeros(u.shape[0], e_new.shape[-1]).index_add(0, batch[src], e_new)
    return x_new, e_new, act(torch.cat([u, node_sum, edge_sum], -1) @ w_global.T + b_global)


TANH_MEAN_GRAPH = {"activation": "tanh", "aggr": "mean", "task": "graph", "readout": "mean", "ring_neighbours": 2}
MUTANTS.update({
    "gnn_model_matches_dense_formula": [
        broken("sigmoid for tanh", replaced(model(**TANH_MEAN_GRAPH), SigmoidForTanh)),
        broken("sigmoid for tanh (edge head)", replaced(model(activation="tanh", task="edge"), SigmoidForTanh)),
        broken("default ring with k = 1", replaced(model(**TANH_MEAN_GRAPH), EmbedRingOneNeighbour)),
        broken("mean readout as a sum", replaced(model(**TANH_MEAN_GRAPH), ReadoutSumForMean)),
        broken("W_self dropped after layer 1", replaced(model(), SkipSelfWeight)),
        broken("W_self dropped after layer 1 (float32)", replaced(model(), SkipSelfWeight), dtype="float32"),
    ],
    "gnn_ring_graph_sizes": [
        broken("N = 2k accepted", patched(model(), ring_graph=ring_graph_allows_2k)),
        broken("one direction, listed twice", patched(model(), ring_graph=ring_graph_one_direction)),
    ],
    "gnn_image_to_graph_differentiable": [
        broken("node features detached", patched(model(), image_to_graph=image_to_graph_detached)),
        broken("column-major pixel order", patched(model(), image_to_graph=image_to_graph_transposed)),
    ],
    "gnn_graph_net_gradcheck": [
        broken("x' detached", patched(model(), graph_net=graph_net_detached_nodes)),
        broken("updated edges detached inside the node update", patched(model(), graph_net=graph_net_detached_edges_inside)),
    ],
})
