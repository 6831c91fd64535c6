"""Conformance adapters: real libraries translated to dlharness's contracts (interface only,
never the math), run with ``--impl SUITE=TARGET`` or all together with ``harness conformance``.

One module per library and family (see :data:`ADAPTERS`):

- ``torch_rnn``, ``torch_lstm``: torch.nn.RNN / nn.LSTM themselves, cores torch.rnn_tanh_cell /
  torch.lstm_cell (the ops behind nn.RNNCell / nn.LSTMCell).
- ``torch_attention``: F.scaled_dot_product_attention and nn.MultiheadAttention (kinds
  scaled_dot and multi_head; torch has no additive, Luong or local-m attention).
- ``torch_transformer``: nn.TransformerEncoderLayer / nn.TransformerDecoderLayer (no
  sinusoidal encoding and no causal LM in torch).
- ``torch_distributions``: module-level cores of the vae and losses families.
- ``sklearn_rbm``: scikit-learn's BernoulliRBM (numpy; RandomState seeded from the torch.Generator).
- ``pyg_gnn``: PyTorch Geometric. ``pip install --dry-run torch-geometric`` resolves
  torch-geometric 2.8.1 (pure Python) plus aiohttp, requests, psutil, xxhash and their
  dependencies, and no torch; after ``pip install torch-geometric`` torch stays 2.13.0+cpu and
  ``torch_geometric`` imports. It is not a dependency of the project (pyproject.toml does not
  list it): where it is missing, ``conformance.pyg_gnn`` fails to import and its tests skip.

:data:`CIRCULAR` lists, per adapter target, the properties whose oracle is the very code under
test (read from harness/checks/<suite>.py): they still run, but are not evidence.
"""
from __future__ import annotations

from importlib import metadata


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


_TORCH = f"torch {_version('torch')}"

ADAPTERS = [
    {"name": "torch.nn.RNN", "suite": "rnn", "target": "conformance.torch_rnn:RNN", "library": _TORCH},
    {"name": "torch.nn.LSTM", "suite": "lstm", "target": "conformance.torch_lstm:LSTM", "library": _TORCH},
    {"name": "torch.nn.functional.scaled_dot_product_attention + torch.nn.MultiheadAttention", "suite": "attention",
     "target": "conformance.torch_attention:make_attention", "library": _TORCH},
    {"name": "torch.nn.TransformerEncoderLayer + torch.nn.TransformerDecoderLayer", "suite": "transformer",
     "target": "conformance.torch_transformer:make_model", "library": _TORCH},
    {"name": "torch.distributions (VAE cores)", "suite": "vae", "target": "conformance.torch_distributions",
     "library": _TORCH},
    {"name": "torch.distributions (losses)", "suite": "losses", "target": "conformance.torch_distributions",
     "library": _TORCH},
    {"name": "sklearn.neural_network.BernoulliRBM", "suite": "rbm", "target": "conformance.sklearn_rbm:RBM",
     "library": f"scikit-learn {_version('scikit-learn')}"},
    {"name": "torch_geometric.nn.GraphConv + torch_geometric.utils.scatter + global pooling", "suite": "gnn",
     "target": "conformance.pyg_gnn:GNN", "library": f"torch-geometric {_version('torch-geometric')}"},
]

CIRCULAR = {
    "conformance.torch_rnn:RNN": {
        "rnn_equals_torch_rnn": "oracle is torch.nn.RNN with the model's weights copied in; the adapter is torch.nn.RNN",
        "rnn_cell_equals_torch_rnncell": "oracle is torch.nn.RNNCell, which calls the adapter's torch.rnn_tanh_cell",
        "rnn_bptt_matches_torch": "oracle is torch.nn.RNN's autograd with copied weights; the adapter is torch.nn.RNN",
    },
    "conformance.torch_lstm:LSTM": {
        "lstm_equals_torch_lstm": "oracle is torch.nn.LSTM with the model's weights copied in; the adapter is torch.nn.LSTM",
        "lstm_cell_equals_torch_lstmcell": "oracle is torch.nn.LSTMCell, which calls the adapter's torch.lstm_cell",
        "lstm_bptt_matches_torch": "oracle is torch.nn.LSTM's autograd with copied weights; the adapter is torch.nn.LSTM",
    },
    "conformance.torch_attention:make_attention": {
        "sdpa_matches_torch": "oracle is F.scaled_dot_product_attention (weights: the same call with V = I), "
                              "exactly the adapter's calls",
        "mha_matches_torch": "oracle is torch.nn.MultiheadAttention loaded with the model's state dict; the "
                             "adapter is torch.nn.MultiheadAttention",
    },
    "conformance.torch_transformer:make_model": {
        "transformer_encoder_layer_matches_torch": "oracle is torch.nn.TransformerEncoderLayer with the model's "
                                                   "state dict; the adapter is that layer (only the mask translation differs)",
        "transformer_decoder_layer_matches_torch": "oracle is torch.nn.TransformerDecoderLayer with the model's "
                                                   "state dict; the adapter is that layer (only the mask translation differs)",
    },
    "conformance.torch_distributions": {
        "vae_gaussian_kl_matches_torch": "oracle is torch.distributions.kl_divergence(Normal, Normal), the adapter's gaussian_kl",
        "vae_gaussian_nll_matches_torch": "oracle is −Normal.log_prob summed, the adapter's gaussian_nll",
        "vae_bernoulli_nll_matches_torch": "oracle is −Bernoulli(logits).log_prob summed, the adapter's bernoulli_nll",
        "vae_loss_matches_distributions": "oracle is Normal.log_prob and kl_divergence(Normal, Normal), from which "
                                          "the adapter's elbo and vae_loss are built",
        "bce_with_logits_matches_torch": "oracle is F.binary_cross_entropy_with_logits, which Bernoulli.log_prob "
                                         "(the adapter) calls and negates",
    },
    "conformance.sklearn_rbm:RBM": {
        "rbm_pseudo_likelihood_matches_sklearn": "oracle is BernoulliRBM.score_samples with copied weights; the "
                                                 "adapter's pseudo_likelihood is score_samples",
        "rbm_digits_pseudo_likelihood_vs_sklearn": "oracle is BernoulliRBM.fit (its _fit PCD update) scored by "
                                                   "score_samples; the adapter's pcd_step is BernoulliRBM._fit",
    },
    "conformance.pyg_gnn:GNN": {},  # oracles: dense adjacency, Python loops, scipy shortest paths
}


def circular_for(module: str) -> dict[str, str]:
    """``DLH_CIRCULAR`` of an adapter module: the circular properties of every target in it."""
    out: dict[str, str] = {}
    for target, table in CIRCULAR.items():
        if target.partition(":")[0] == module:
            out.update(table)
    return out
