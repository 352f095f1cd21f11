"""The Body Part Consistency Module: attention along the part axis.

The UNet runs on a stack of F part latents folded into the batch, (B*F, ...). Inside every
spatial transformer of a part-stack block, after its ordinary transformer blocks (each one; every
second one when a transformer holds three or more), a :class:`PartAttentionBlock` lets each token
attend over the F parts at the same spatial position, so the parts agree with each other (what
one part covers, another need not draw) while every spatial operation stays per part.

The block has the layout of the published checkpoints (a video model's "cross-frame" block):

    x -> LayerNorm -> GEGLU feed-forward (+x) -> LayerNorm -> self-attention over the parts (+)
      -> LayerNorm -> GEGLU feed-forward  =  the increment the transformer ADDS to its tokens.

The last linear layer of the final feed-forward starts at zero, so a freshly converted per-part
UNet computes exactly what it computed before. Parameter names (``norm_in``, ``ff_in``,
``norm1``, ``attn1``, ``norm3``, ``ff``) are the checkpoints' own.
"""
from __future__ import annotations

import torch
from diffusers.models.attention import FeedForward
from diffusers.models.attention_processor import Attention
from torch import nn


class PartAttentionBlock(nn.Module):
    """Mixes (B*F, N, C) transformer tokens across the F parts at each of the N positions and
    returns the increment (zero at initialisation)."""

    def __init__(self, dim: int, heads: int, head_dim: int):
        super().__init__()
        self.norm_in = nn.LayerNorm(dim)
        self.ff_in = FeedForward(dim, dim_out=dim, activation_fn="geglu")
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(query_dim=dim, heads=heads, dim_head=head_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, activation_fn="geglu")
        nn.init.zeros_(self.ff.net[-1].weight)   # zero-init: the block starts as a no-op
        nn.init.zeros_(self.ff.net[-1].bias)
        self.num_parts = 1                       # set by the UNet before each forward
        self.slice_positions: int | None = None  # attention slicing: positions per chunk

    def forward(self, tokens: torch.Tensor, num_parts: int | None = None) -> torch.Tensor:
        f = num_parts or self.num_parts
        bf, n, c = tokens.shape
        if bf % f:
            raise ValueError(f"batch {bf} is not a multiple of {f} parts")
        b = bf // f
        # (B*F, N, C) -> (B*N, F, C): one short sequence of parts per position.
        seq = tokens.reshape(b, f, n, c).transpose(1, 2).reshape(b * n, f, c)
        step = self.slice_positions or seq.shape[0]
        mixed = torch.cat([self._mix(chunk) for chunk in seq.split(step, dim=0)], dim=0)
        return mixed.reshape(b, n, f, c).transpose(1, 2).reshape(bf, n, c)

    def _mix(self, seq: torch.Tensor) -> torch.Tensor:
        h = self.ff_in(self.norm_in(seq)) + seq
        h = self.attn1(self.norm1(h)) + h
        return self.ff(self.norm3(h))

    def after_transformer_block(self, _module, _args, output: torch.Tensor) -> torch.Tensor:
        """Forward hook on the transformer block it follows: add the part mixing."""
        return output + self(output)
