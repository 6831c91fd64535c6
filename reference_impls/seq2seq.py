"""Encoder-decoder with attention (translation) and image captioning with attention over regions;
and the encoder-decoder *without* attention they are compared against (:class:`FixedContextSeq2Seq`:
the decoder sees the source only through the encoder's final state, one fixed-length vector).

Translation: an RNN encoder (GRU or LSTM) reads the source x_1..x_S into hidden states
h_1..h_S (the *memory*); the decoder RNN starts from the encoder's final state and at each step
t computes its state s_t from the previous target token, attends over the memory,

    a_t = softmax_i score(s_t, h_i),    c_t = Σ_i a_ti h_i,    h̃_t = tanh(W_c [c_t; s_t]),
    p(y_t | y_<t, x) = softmax(W_o h̃_t)

(Luong et al. 2015, global attention; ``score`` is additive (Bahdanau), dot or general). The
context vector c_t is a convex combination of the encoder states. Training uses *teacher
forcing*: the decoder input at step t is the ground-truth token y_{t−1} (y_0 = BOS), so every
step of a sequence runs in one call; :meth:`Seq2Seq.generate` decodes greedily instead.

Captioning (Xu et al. 2015, "Show, Attend and Tell"): a small CNN turns the image into a grid of
region features a_1..a_R (R = H'·W', the conv grid), the LSTM decoder starts from
h_0 = tanh(W_h ā), c_0 = tanh(W_c ā) (ā the mean region) and attends over the regions with the
same decoder as above.

Shapes: batch first. src (B, S) token ids, src_mask (B, S) boolean True = real token (padding
at the end); tgt_in (B, T) decoder inputs; logits (B, T, V); images (B, C, H, W). With
``need_weights=True`` the models also return an :class:`AttentionTrace`: weights (B, T, S),
contexts (B, T, H) and the memory (B, S, H) they were computed from.

Conventions: token 0 is padding and token 1 is BOS (configurable). The decoder attends with its
*current* state s_t (Luong); Bahdanau attends with s_{t−1} and feeds c_t into the RNN: both are
"attention decoders", this one runs a whole teacher-forced sequence in one RNN call.

References
1. Sutskever, Vinyals, Le (2014), "Sequence to Sequence Learning with Neural Networks", NeurIPS.
2. Bahdanau, Cho, Bengio (2015), "Neural Machine Translation by Jointly Learning to Align and
   Translate", ICLR.
3. Luong, Pham, Manning (2015), "Effective Approaches to Attention-based Neural Machine
   Translation", EMNLP, section 3.1 (global attention, eq. 5-7).
4. Xu, Ba, Kiros, Cho, Courville, Salakhutdinov, Zemel, Bengio (2015), "Show, Attend and Tell:
   Neural Image Caption Generation with Visual Attention", ICML (sections 3.1.1-3.1.2).
5. Williams, Zipser (1989), "A Learning Algorithm for Continually Running Fully Recurrent Neural
   Networks" (teacher forcing).
6. Course notes 000 ("Machine translation with attention": encoder states h_1..h_5, attention
   weights per output word, context vector) and 001 ("Attention over images", image captioning
   with an LSTM decoder); notes 004 ("RNNs - Image Captioning", "RNNs - Attention Mechanism").
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from reference_impls.attention import make_attention

__all__ = [
    "Seq2SeqConfig", "CaptionerConfig", "AttentionTrace", "AttentionDecoder", "Seq2Seq", "ImageCaptioner",
    "FixedContextSeq2Seq", "make_model", "teacher_forcing_inputs", "sequence_cross_entropy", "token_accuracy", "conv_grid_size",
]


# ---------------------------------------------------------------------------------------------
# functional cores
# ---------------------------------------------------------------------------------------------
def teacher_forcing_inputs(targets: torch.Tensor, bos_id: int = 1) -> torch.Tensor:
    """Decoder inputs under teacher forcing: [BOS, y_1, …, y_{T−1}] for targets y_1..y_T (B, T)."""
    bos = torch.full_like(targets[:, :1], bos_id)
    return torch.cat([bos, targets[:, :-1]], dim=1)


def sequence_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, pad_id: int | None = 0) -> torch.Tensor:
    """Mean over non-padding target tokens of −log p(y_t | y_<t, x). logits (B, T, V), targets (B, T)."""
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100 if pad_id is None else pad_id)


def token_accuracy(predicted: torch.Tensor, targets: torch.Tensor, pad_id: int | None = 0) -> float:
    """Fraction of non-padding positions where the predicted token equals the target (every position
    when ``pad_id`` is None): an exact ratio of counts (NaN when no position counts)."""
    keep = torch.ones_like(targets, dtype=torch.bool) if pad_id is None else targets != pad_id
    hits = (predicted == targets)[keep]
    return int(hits.sum()) / hits.numel() if hits.numel() else float("nan")


def conv_grid_size(image_size: int) -> int:
    """Side of the captioner's region grid: two (3×3, pad 1) convs keep the size, each followed by
    a 2×2 stride-2 max-pool: ⌊⌊s/2⌋/2⌋. R = side² regions."""
    return image_size // 2 // 2


class AttentionTrace(NamedTuple):
    weights: torch.Tensor  # (B, T, S) attention weights per decoder step, zero on padding
    context: torch.Tensor  # (B, T, H) c_t = Σ_i a_ti h_i
    memory: torch.Tensor  # (B, S, H) encoder states / region features attended over


# ---------------------------------------------------------------------------------------------
# decoder shared by both models
# ---------------------------------------------------------------------------------------------
class AttentionDecoder(nn.Module):
    """s_t = RNN(E y_{t−1}, s_{t−1}); (c_t, a_t) = attention(s_t, memory); h̃_t = tanh(W_c [c_t; s_t]);
    logits_t = W_o h̃_t. forward(tgt_in (B, T), memory (B, S, H), state, memory_mask (B, S) | None)
    -> (logits (B, T, V), AttentionTrace, state)."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, cell: str = "gru", score: str = "general"):
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.rnn = (nn.GRU if cell == "gru" else nn.LSTM)(embed_dim, hidden, batch_first=True)
        self.attention = make_attention(kind=score, embed_dim=hidden)
        self.W_c = nn.Linear(2 * hidden, hidden)
        self.W_o = nn.Linear(hidden, vocab_size)

    def forward(self, tgt_in: torch.Tensor, memory: torch.Tensor, state, memory_mask: torch.Tensor | None = None):
        s, state = self.rnn(self.embed(tgt_in), state)  # (B, T, H)
        mask = None if memory_mask is None else memory_mask.unsqueeze(1)  # (B, 1, S)
        c, a = self.attention(s, memory, memory, mask=mask, need_weights=True)
        h_tilde = torch.tanh(self.W_c(torch.cat([c, s], dim=-1)))
        return self.W_o(h_tilde), AttentionTrace(a, c, memory), state


# ---------------------------------------------------------------------------------------------
# translation
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Seq2SeqConfig:
    vocab_size: int = 12  # target vocabulary
    src_vocab_size: int | None = None  # default: vocab_size
    embed_dim: int = 16
    hidden: int = 32
    cell: str = "gru"  # gru | lstm (encoder and decoder)
    score: str = "general"  # additive | dot | general
    pad_id: int = 0
    bos_id: int = 1


class Seq2Seq(nn.Module):
    """forward(src (B, S), tgt_in (B, T), src_mask=None, need_weights=False) -> logits (B, T, V)
    [, AttentionTrace]. ``src_mask`` True = real token; padding must be at the end."""

    def __init__(self, **params):
        super().__init__()
        c = self.config = Seq2SeqConfig(**params)
        if c.src_vocab_size is None:
            c = self.config = replace(c, src_vocab_size=c.vocab_size)
        self.embed = nn.Embedding(c.src_vocab_size, c.embed_dim)
        self.encoder = (nn.GRU if c.cell == "gru" else nn.LSTM)(c.embed_dim, c.hidden, batch_first=True)
        self.decoder = AttentionDecoder(c.vocab_size, c.embed_dim, c.hidden, c.cell, c.score)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None = None):
        """Memory (B, S, H) and the encoder state at each sequence's last real token."""
        x = self.embed(src)
        if src_mask is None:
            return self.encoder(x)
        # packing keeps padding out of the recurrence; lengths must live on the CPU (torch's API)
        lengths = src_mask.sum(-1).to("cpu")
        out, state = self.encoder(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        return memory, state

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor, src_mask: torch.Tensor | None = None,
                need_weights: bool = False):
        memory, state = self.encode(src, src_mask)
        logits, trace, _ = self.decoder(tgt_in, memory, state, src_mask)
        return (logits, trace) if need_weights else logits

    @torch.no_grad()
    def generate(self, src: torch.Tensor, steps: int, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Greedy decoding: y_t = argmax p(y | y_<t, x), fed back as the next input. -> (B, steps)."""
        memory, state = self.encode(src, src_mask)
        y = torch.full_like(src[:, :1], self.config.bos_id)
        out = []
        for _ in range(steps):
            logits, _, state = self.decoder(y, memory, state, src_mask)
            y = logits.argmax(-1)
            out.append(y)
        return torch.cat(out, dim=1)


# ---------------------------------------------------------------------------------------------
# image captioning
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CaptionerConfig:
    in_channels: int = 1
    image_size: int = 16
    channels: int = 8
    vocab_size: int = 12
    embed_dim: int = 16
    hidden: int = 32
    score: str = "additive"  # Bahdanau, as in Show, Attend and Tell
    bos_id: int = 1


class ImageCaptioner(nn.Module):
    """forward(images (B, C, H, W), tgt_in (B, T), need_weights=False) -> logits (B, T, V)
    [, AttentionTrace with weights over the R = conv_grid_size(H)² regions]."""

    def __init__(self, **params):
        super().__init__()
        c = self.config = CaptionerConfig(**params)
        self.cnn = nn.Sequential(
            nn.Conv2d(c.in_channels, c.channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c.channels, c.hidden, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.init_h = nn.Linear(c.hidden, c.hidden)
        self.init_c = nn.Linear(c.hidden, c.hidden)
        self.decoder = AttentionDecoder(c.vocab_size, c.embed_dim, c.hidden, "lstm", c.score)

    def regions(self, images: torch.Tensor) -> torch.Tensor:
        """Region features a_1..a_R: the CNN's grid flattened row-major, (B, R, H)."""
        return self.cnn(images).flatten(2).transpose(1, 2)

    def forward(self, images: torch.Tensor, tgt_in: torch.Tensor, need_weights: bool = False):
        a = self.regions(images)
        mean = a.mean(1)
        state = (torch.tanh(self.init_h(mean)).unsqueeze(0), torch.tanh(self.init_c(mean)).unsqueeze(0))
        logits, trace, _ = self.decoder(tgt_in, a, state)
        return (logits, trace) if need_weights else logits


def make_model(model: str = "translation", **params) -> nn.Module:
    """``"translation"`` -> :class:`Seq2Seq` (:class:`Seq2SeqConfig` fields), ``"captioning"`` ->
    :class:`ImageCaptioner` (:class:`CaptionerConfig` fields), ``"fixed_context"`` ->
    :class:`FixedContextSeq2Seq` (the encoder-decoder without attention; :class:`Seq2SeqConfig` fields)."""
    if model == "translation":
        return Seq2Seq(**params)
    if model == "captioning":
        return ImageCaptioner(**params)
    if model == "fixed_context":
        return FixedContextSeq2Seq(**params)
    raise ValueError(f"make_model: unknown model {model!r}; allowed: translation, captioning, fixed_context")


# ---------------------------------------------------------------------------------------------
# the encoder-decoder without attention: a fixed-length context vector
# ---------------------------------------------------------------------------------------------
class FixedContextSeq2Seq(nn.Module):
    """The encoder-decoder the notes compare attention against (Sutskever et al. 2014): the encoder
    reads the source into one fixed-length vector, its state at the last real token, and the
    decoder RNN starts from that state and sees nothing else of the source (no memory, no
    attention): s_t = RNN(E y_{t−1}, s_{t−1}), s_0 = encoder state, logits_t = W_o s_t.

    forward(src (B, S), tgt_in (B, T), src_mask=None) -> logits (B, T, V); ``encode`` returns the
    encoder outputs (B, S, H) and the final state (GRU: (1, B, H); LSTM: (h, c)); ``decode(tgt_in,
    state)`` takes only the state, so the bottleneck is in the signature."""

    def __init__(self, **params):
        super().__init__()
        params.pop("score", None)  # no attention: the attention score is meaningless here
        c = self.config = Seq2SeqConfig(**params)
        if c.src_vocab_size is None:
            c = self.config = replace(c, src_vocab_size=c.vocab_size)
        rnn = nn.GRU if c.cell == "gru" else nn.LSTM
        self.embed = nn.Embedding(c.src_vocab_size, c.embed_dim)
        self.encoder = rnn(c.embed_dim, c.hidden, batch_first=True)
        self.tgt_embed = nn.Embedding(c.vocab_size, c.embed_dim)
        self.decoder = rnn(c.embed_dim, c.hidden, batch_first=True)
        self.W_o = nn.Linear(c.hidden, c.vocab_size)

    encode = Seq2Seq.encode

    def decode(self, tgt_in: torch.Tensor, state):
        """logits (B, T, V) of the decoder started from ``state`` (the context) under teacher forcing."""
        return self.decode_step(tgt_in, state)[0]

    def decode_step(self, tgt_in: torch.Tensor, state):
        s, state = self.decoder(self.tgt_embed(tgt_in), state)
        return self.W_o(s), state

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor, src_mask: torch.Tensor | None = None):
        _, state = self.encode(src, src_mask)
        return self.decode(tgt_in, state)

    @torch.no_grad()
    def generate(self, src: torch.Tensor, steps: int, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Greedy decoding from BOS: y_t = argmax p(y | y_<t, context), fed back. -> (B, steps)."""
        _, state = self.encode(src, src_mask)
        y = torch.full_like(src[:, :1], self.config.bos_id)
        out = []
        for _ in range(steps):
            logits, state = self.decode_step(y, state)
            y = logits.argmax(-1)
            out.append(y)
        return torch.cat(out, dim=1)
