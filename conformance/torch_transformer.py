"""torch's transformer layers as the ``transformer`` contract:
``--impl transformer=conformance.torch_transformer:make_model``.

Translation only: ``model='encoder_layer'`` / ``'decoder_layer'`` build ``torch.nn.TransformerEncoderLayer``
/ ``TransformerDecoderLayer`` themselves (post-norm, batch first, dropout 0, so the state dicts are
torch's). Masks are translated: the contract's encoder ``mask`` (True = may attend, broadcastable
to (B, T, T)) becomes torch's ``src_mask`` of shape (B·nhead, T, T) with True = NOT allowed; the
decoder's always-causal self-attention becomes ``tgt_mask`` = the upper triangle with
``tgt_is_causal=True``, and its ``memory_mask`` (B, S), True = real, torch's
``memory_key_padding_mask`` (True = padding).

Not offered by torch: a sinusoidal positional encoding and a causal language model (``model='lm'``
raises NotImplementedError); ``lm_loss`` is left out with it, since its two properties are
properties of the LM.
"""
from __future__ import annotations

import torch
from torch import nn

from conformance import circular_for

DLH_CIRCULAR = circular_for(__name__)  # properties whose oracle is this code


class EncoderLayer(nn.TransformerEncoderLayer):
    def __init__(self, d_model, nhead, dim_feedforward, activation="relu"):
        super().__init__(d_model, nhead, dim_feedforward, dropout=0.0, activation=activation,
                         batch_first=True, norm_first=False)

    def forward(self, src, mask=None):
        if mask is not None:
            B, T = src.shape[0], src.shape[1]
            mask = (~mask.expand(B, T, T)).repeat_interleave(self.self_attn.num_heads, 0)
        return super().forward(src, src_mask=mask)


class DecoderLayer(nn.TransformerDecoderLayer):
    def __init__(self, d_model, nhead, dim_feedforward, activation="relu"):
        super().__init__(d_model, nhead, dim_feedforward, dropout=0.0, activation=activation,
                         batch_first=True, norm_first=False)

    def forward(self, tgt, memory, memory_mask=None):
        T = tgt.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool, device=tgt.device).triu(1)  # True = not allowed
        pad = None if memory_mask is None else ~memory_mask
        return super().forward(tgt, memory, tgt_mask=causal, memory_key_padding_mask=pad, tgt_is_causal=True)


def make_model(model="lm", d_model=32, nhead=4, dim_feedforward=64, activation="relu", **_):
    if model == "encoder_layer":
        return EncoderLayer(d_model, nhead, dim_feedforward, activation)
    if model == "decoder_layer":
        return DecoderLayer(d_model, nhead, dim_feedforward, activation)
    raise NotImplementedError(f"torch has no {model!r} model (no sinusoidal encoding, no causal LM)")
