"""The Body Part Consistency Module: self-attention along the part axis.

The UNet runs on a stack of F part latents folded into the batch, (B*F, C, H, W). After every
spatial transformer block, each spatial position attends over the F parts at that same
position, so the parts agree with each other (what one part covers, another does not have to
draw) while every spatial operation stays per part. The output projection starts at zero, so a
freshly converted per-part UNet computes exactly what it computed before.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PartAxisAttention(nn.Module):
    """Residual multi-head self-attention over the part axis at every spatial position."""

    def __init__(self, channels: int, head_dim: int = 64):
        super().__init__()
        self.channels = channels
        self.heads = max(1, channels // head_dim)
        if channels % self.heads:
            raise ValueError(f"{channels} channels do not split into {self.heads} heads")
        self.norm = nn.LayerNorm(channels)
        self.to_qkv = nn.Linear(channels, 3 * channels)
        self.to_out = nn.Linear(channels, channels)
        nn.init.zeros_(self.to_out.weight)   # zero-init: the module starts as the identity
        nn.init.zeros_(self.to_out.bias)
        self.slice_positions: int | None = None  # attention slicing: positions per chunk

    def forward(self, hidden: torch.Tensor, num_parts: int) -> torch.Tensor:
        bf, c, h, w = hidden.shape
        if bf % num_parts:
            raise ValueError(f"batch {bf} is not a multiple of {num_parts} parts")
        b = bf // num_parts
        # (B*F, C, H, W) -> (B*H*W, F, C): one short sequence of parts per position.
        seq = hidden.reshape(b, num_parts, c, h * w).permute(0, 3, 1, 2).reshape(b * h * w, num_parts, c)
        step = self.slice_positions or seq.shape[0]
        out = torch.cat([self._attend(chunk) for chunk in seq.split(step, dim=0)], dim=0)
        out = out.reshape(b, h * w, num_parts, c).permute(0, 2, 3, 1).reshape(bf, c, h, w)
        return hidden + out

    def _attend(self, seq: torch.Tensor) -> torch.Tensor:
        n, f, c = seq.shape
        q, k, v = self.to_qkv(self.norm(seq)).chunk(3, dim=-1)
        split = lambda t: t.reshape(n, f, self.heads, c // self.heads).transpose(1, 2)
        mixed = F.scaled_dot_product_attention(split(q), split(k), split(v))
        return self.to_out(mixed.transpose(1, 2).reshape(n, f, c))
