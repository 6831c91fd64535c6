"""Transformer: sinusoidal positional encoding, multi-head attention, position-wise FFN, residual +
LayerNorm (post-norm), encoder and decoder blocks, a causal (decoder-only) language model and the
encoder-decoder of Vaswani et al.

    PE(pos, 2i) = sin(pos / 10000^(2i/d)),   PE(pos, 2i+1) = cos(pos / 10000^(2i/d))
    FFN(x) = W_2 act(W_1 x + b_1) + b_2
    encoder block:  x = LN(x + SelfAttn(x));  x = LN(x + FFN(x))
    decoder block:  x = LN(x + CausalSelfAttn(x));  x = LN(x + CrossAttn(x, memory));  x = LN(x + FFN(x))
    LM:             h_0 = √d · E[tokens] + PE;  h_l = causal encoder block(h_{l−1});  logits = W_out h_L + b
    seq2seq:        memory = N encoder blocks(√d · E_src[src] + PE)  (padded source keys masked)
                    logits = W_out · N decoder blocks(√d · E_tgt[tgt] + PE, memory) + b

Post-norm (LayerNorm after each residual sum) as in Vaswani et al. and PyTorch's default
``norm_first=False``. Parameter names follow ``nn.TransformerEncoderLayer`` /
``nn.TransformerDecoderLayer`` (``self_attn.in_proj_weight``, ``linear1``, ``norm1``, ...), so
state dicts are interchangeable with PyTorch's layers. There is no dropout: every layer here is
deterministic (PyTorch's layers in eval mode, or with ``dropout=0``, compute the same thing).

Shapes: batch first. x (B, T, d_model); tokens (B, T) long; logits (B, T, V). Masks are boolean,
True = may attend (see :mod:`reference_impls.attention`); the encoder-decoder's ``src_mask`` (B, S)
is True at real source tokens, and the decoder's self-attention is always causal.

The encoder-decoder's state dict: ``src_embed``, ``tgt_embed``, ``encoder.layers.i.*`` and
``decoder.layers.i.*`` (the keys of ``nn.Transformer``, whose stacks end in an extra LayerNorm that
the post-norm model of Vaswani et al. does not have: built with ``norm=None`` they compute the
same thing), ``head``. It has no final LayerNorm after either stack: each post-norm block already
ends in one. Vaswani et al. (3.4) share one matrix between the two embeddings and the output layer
(a shared vocabulary); here the three are separate, so source and target vocabularies may differ.

Initialisation of the LM (and of the encoder-decoder's two embeddings and output layer): token
embedding and output projection N(0, init_std²), output bias 0.
After the last post-norm block each position's features have mean 0 and ‖h‖² ≈ d (LayerNorm with
γ = 1, β = 0), so each initial logit is N(0, init_std²·d) and the initial loss is ≈ log V.

References
1. Vaswani, Shazeer, Parmar, Uszkoreit, Jones, Gomez, Kaiser, Polosukhin (2017), "Attention Is All
   You Need", NeurIPS: sections 3.1 (encoder/decoder stacks, post-norm), 3.2 (attention), 3.3
   (FFN), 3.4 (embeddings scaled by √d), 3.5 (sinusoidal positional encoding).
2. Ba, Kiros, Hinton (2016), "Layer Normalization".
3. Radford, Narasimhan, Salimans, Sutskever (2018), "Improving Language Understanding by
   Generative Pre-Training" (decoder-only causal LM).
4. Course notes 000 ("Machine translation with attention": the encoder-decoder, attention over
   the encoder outputs) and 004 ("Large language models": predicting the next word; "Transformer
   Architecture": encoder and decoder blocks, attention modules, position-wise FFN, residual
   connection and normalisation, positional encoding).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F

from reference_impls.attention import MultiHeadAttention, causal_mask

__all__ = [
    "TransformerConfig", "TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerLM", "TransformerSeq2Seq",
    "make_model",
    "sinusoidal_positional_encoding", "feed_forward", "lm_loss", "PE_BASE", "ACTIVATIONS",
]

PE_BASE = 10000.0
ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


# ---------------------------------------------------------------------------------------------
# functional cores
# ---------------------------------------------------------------------------------------------
def sinusoidal_positional_encoding(length: int, d_model: int, base: float = PE_BASE, *,
                                   device: torch.device | str | None = None,
                                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """PE(pos, 2i) = sin(pos·ω_i), PE(pos, 2i+1) = cos(pos·ω_i), ω_i = base^(−2i/d). -> (length, d).

    Computed in float64 and cast, so every dtype gets the correctly rounded value. ``d_model`` even.
    """
    if d_model % 2:
        raise ValueError(f"d_model must be even for sinusoidal encodings, got {d_model}")
    pos = torch.arange(length, dtype=torch.float64, device=device).unsqueeze(1)
    omega = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64, device=device) / d_model)
    pe = torch.stack([torch.sin(pos * omega), torch.cos(pos * omega)], dim=-1)  # (L, d/2, 2)
    return pe.flatten(1).to(dtype)


def feed_forward(x: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor | None, W2: torch.Tensor,
                 b2: torch.Tensor | None, activation: str = "relu") -> torch.Tensor:
    """Position-wise FFN(x) = W_2 act(W_1 x + b_1) + b_2, applied to each position alone."""
    return F.linear(ACTIVATIONS[activation](F.linear(x, W1, b1)), W2, b2)


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy −(1/N) Σ log softmax(logits)[target] over all (B, T) positions."""
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


# ---------------------------------------------------------------------------------------------
# blocks
# ---------------------------------------------------------------------------------------------
class TransformerEncoderLayer(nn.Module):
    """Post-norm encoder block. forward(src (B, T, d), mask=None, causal=False) -> (B, T, d).
    ``mask`` (B, T, T) or (T, T), True = may attend (a key padding mask is ``valid[:, None, :]``)."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, activation: str = "relu",
                 layer_norm_eps: float = 1e-5, causal: bool = False):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, nhead)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.activation, self.causal = activation, causal

    def forward(self, src: torch.Tensor, mask: torch.Tensor | None = None, causal: bool | None = None) -> torch.Tensor:
        causal = self.causal if causal is None else causal
        if causal:
            c = causal_mask(src.shape[-2], src.shape[-2], src.device)
            mask = c if mask is None else mask & c
        x = self.norm1(src + self.self_attn(src, src, src, mask=mask))
        ff = feed_forward(x, self.linear1.weight, self.linear1.bias, self.linear2.weight, self.linear2.bias,
                          self.activation)
        return self.norm2(x + ff)


class TransformerDecoderLayer(nn.Module):
    """Post-norm decoder block: causal self-attention, cross-attention over ``memory``, FFN.
    forward(tgt (B, T, d), memory (B, S, d), memory_mask=None (B, S) True = real) -> (B, T, d)."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, activation: str = "relu",
                 layer_norm_eps: float = 1e-5):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, nhead, causal=True)
        self.multihead_attn = MultiHeadAttention(d_model, nhead)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.norm3 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.activation = activation

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor | None = None,
                memory_mask: torch.Tensor | None = None) -> torch.Tensor:
        memory = tgt if memory is None else memory
        x = self.norm1(tgt + self.self_attn(tgt))
        mm = None if memory_mask is None else memory_mask.unsqueeze(1)  # (B, 1, S)
        x = self.norm2(x + self.multihead_attn(x, memory, memory, mask=mm))
        ff = feed_forward(x, self.linear1.weight, self.linear1.bias, self.linear2.weight, self.linear2.bias,
                          self.activation)
        return self.norm3(x + ff)


# ---------------------------------------------------------------------------------------------
# causal language model
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TransformerConfig:
    vocab_size: int = 16
    d_model: int = 32
    nhead: int = 4
    dim_feedforward: int = 64
    num_layers: int = 2
    activation: str = "relu"
    layer_norm_eps: float = 1e-5
    init_std: float = 0.02
    src_vocab_size: int | None = None  # encoder-decoder only: source vocabulary (default vocab_size)


class TransformerLM(nn.Module):
    """Decoder-only LM: forward(tokens (B, T)) -> next-token logits (B, T, V); position t sees
    tokens 0..t only (causal self-attention in every block)."""

    def __init__(self, **params):
        super().__init__()
        c = self.config = TransformerConfig(**params)
        self.embed = nn.Embedding(c.vocab_size, c.d_model)
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(c.d_model, c.nhead, c.dim_feedforward, c.activation, c.layer_norm_eps, causal=True)
            for _ in range(c.num_layers))
        self.head = nn.Linear(c.d_model, c.vocab_size)
        nn.init.normal_(self.embed.weight, std=c.init_std)
        nn.init.normal_(self.head.weight, std=c.init_std)
        nn.init.zeros_(self.head.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        d = self.config.d_model
        x = self.embed(tokens) * math.sqrt(d)
        x = x + sinusoidal_positional_encoding(tokens.shape[1], d, device=x.device, dtype=x.dtype)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


# ---------------------------------------------------------------------------------------------
# encoder-decoder
# ---------------------------------------------------------------------------------------------
class _Stack(nn.Module):
    """N blocks under ``layers`` (``nn.TransformerEncoder`` / ``nn.TransformerDecoder``'s key names)."""

    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)


class TransformerSeq2Seq(nn.Module):
    """Encoder-decoder (Vaswani et al. 3.1): forward(src (B, S), tgt (B, T), src_mask=None) -> logits
    (B, T, V). ``src_mask`` (B, S) is True at real source tokens. Decoder position t sees target
    tokens 0..t (causal self-attention) and every real source token (cross-attention over the
    encoder's memory)."""

    def __init__(self, **params):
        super().__init__()
        c = self.config = TransformerConfig(**params)
        block = (c.d_model, c.nhead, c.dim_feedforward, c.activation, c.layer_norm_eps)
        self.src_embed = nn.Embedding(c.src_vocab_size or c.vocab_size, c.d_model)
        self.tgt_embed = nn.Embedding(c.vocab_size, c.d_model)
        self.encoder = _Stack(TransformerEncoderLayer(*block) for _ in range(c.num_layers))
        self.decoder = _Stack(TransformerDecoderLayer(*block) for _ in range(c.num_layers))
        self.head = nn.Linear(c.d_model, c.vocab_size)
        for w in (self.src_embed.weight, self.tgt_embed.weight, self.head.weight):
            nn.init.normal_(w, std=c.init_std)
        nn.init.zeros_(self.head.bias)

    def embed(self, table: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
        """√d · E[tokens] + PE: (B, T) -> (B, T, d)."""
        d = self.config.d_model
        x = table(tokens) * math.sqrt(d)
        return x + sinusoidal_positional_encoding(tokens.shape[1], d, device=x.device, dtype=x.dtype)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Source tokens (B, S) -> memory (B, S, d); padded keys (``src_mask`` False) are never attended."""
        x = self.embed(self.src_embed, src)
        mask = None if src_mask is None else src_mask.unsqueeze(1)  # (B, 1, S)
        for layer in self.encoder.layers:
            x = layer(x, mask=mask)
        return x

    def decode(self, tgt: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Target tokens (B, T), memory (B, S, d) -> logits (B, T, V)."""
        x = self.embed(self.tgt_embed, tgt)
        for layer in self.decoder.layers:
            x = layer(x, memory, memory_mask=src_mask)
        return self.head(x)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(tgt, self.encode(src, src_mask), src_mask)

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, max_len: int, bos: int,
                      src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """y_t = argmax p(· | bos, y_1..y_{t−1}, src) for t = 1..max_len -> (B, max_len) long (bos excluded)."""
        memory = self.encode(src, src_mask)
        ys = torch.full((src.shape[0], 1), bos, dtype=torch.long, device=src.device)
        for _ in range(max_len):
            step = self.decode(ys, memory, src_mask)[:, -1].argmax(-1, keepdim=True)
            ys = torch.cat([ys, step], dim=1)
        return ys[:, 1:]


def make_model(model: str = "lm", **params) -> nn.Module:
    """``"lm"`` -> :class:`TransformerLM`; ``"seq2seq"`` -> :class:`TransformerSeq2Seq`;
    ``"encoder_layer"`` / ``"decoder_layer"`` -> one block built from the same :class:`TransformerConfig`
    fields (d_model, nhead, dim_feedforward, activation, layer_norm_eps; the others are ignored). The LM
    ignores ``src_vocab_size``."""
    names = {f.name for f in fields(TransformerConfig)}
    unknown = set(params) - names
    if unknown:
        raise ValueError(f"make_model: unknown parameters {sorted(unknown)}; allowed: {sorted(names)}")
    if model == "lm":
        return TransformerLM(**params)
    if model == "seq2seq":
        return TransformerSeq2Seq(**params)
    c = TransformerConfig(**params)
    if model == "encoder_layer":
        return TransformerEncoderLayer(c.d_model, c.nhead, c.dim_feedforward, c.activation, c.layer_norm_eps)
    if model == "decoder_layer":
        return TransformerDecoderLayer(c.d_model, c.nhead, c.dim_feedforward, c.activation, c.layer_norm_eps)
    raise ValueError(f"make_model: unknown model {model!r}; allowed: lm, seq2seq, encoder_layer, decoder_layer")
