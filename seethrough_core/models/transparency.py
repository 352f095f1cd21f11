"""The LayerDiffuse-style transparency decoder (``trans_vae``).

The VAE decodes each part latent to RGB; this small UNet reads that RGB at full resolution and
the latent itself (which carries what the RGB cannot: where the part is transparent) and
predicts straight-alpha RGBA. The latent enters at the encoder level whose resolution matches
the latent's, through a zero-initialised convolution, as in LayerDiffuse.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


def _groups(channels: int) -> int:
    return 32 if channels % 32 == 0 else max(g for g in (16, 8, 4, 2, 1) if channels % g == 0)


class _ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class TransparencyDecoder(ModelMixin, ConfigMixin):
    config_name = "config.json"

    @register_to_config
    def __init__(self, block_out_channels: tuple[int, ...] = (32, 32, 64, 128, 256, 512, 512),
                 latent_channels: int = 4, latent_scale: int = 8):
        super().__init__()
        chans = list(block_out_channels)
        self.latent_level = int(latent_scale).bit_length() - 1
        if 2 ** self.latent_level != latent_scale or self.latent_level >= len(chans):
            raise ValueError(f"latent_scale {latent_scale} needs a power of two below "
                             f"2**{len(chans)}")
        self.conv_in = nn.Conv2d(3, chans[0], 3, padding=1)
        self.down = nn.ModuleList(_ResBlock(chans[max(i - 1, 0)], c) for i, c in enumerate(chans))
        self.latent_conv_in = nn.Conv2d(latent_channels, chans[self.latent_level], 1)
        nn.init.zeros_(self.latent_conv_in.weight)
        nn.init.zeros_(self.latent_conv_in.bias)
        self.up = nn.ModuleList(_ResBlock(chans[i] + (chans[i + 1] if i + 1 < len(chans) else 0), c)
                                for i, c in enumerate(chans))
        self.norm_out = nn.GroupNorm(_groups(chans[0]), chans[0])
        self.conv_out = nn.Conv2d(chans[0], 4, 3, padding=1)

    def forward(self, rgb: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """rgb (N, 3, H, W) in [-1, 1]; latent (N, C, H/s, W/s) -> RGBA (N, 4, H, W) in [0, 1]."""
        h = self.conv_in(rgb)
        skips = []
        for level, block in enumerate(self.down):
            if level:
                h = F.avg_pool2d(h, 2)
            h = block(h)
            if level == self.latent_level:
                h = h + self.latent_conv_in(latent.to(h.dtype))
            skips.append(h)
        h = None
        for level in reversed(range(len(self.up))):
            x = skips[level]
            if h is not None:
                x = torch.cat([x, F.interpolate(h, size=x.shape[-2:], mode="nearest")], dim=1)
            h = self.up[level](x)
        return torch.sigmoid(self.conv_out(F.silu(self.norm_out(h))))
