"""The LayerDiffuse-style transparent VAE (``trans_vae``), in the published checkpoints' layout.

- ``decoder``: the SDXL VAE decodes a part latent to RGB; this UNet reads that RGB at full
  resolution plus the latent itself (which carries what RGB cannot: where the part is
  transparent) and predicts the part's alpha and colour. The latent joins at the encoder level
  whose resolution matches it, through a 1x1 convolution. Output channels: alpha, then RGB.
- ``encoder``: a small convolution stack that turns an RGBA part into an offset of the VAE
  posterior, so a transparent part encodes to a latent that still remembers its alpha
  (``mean + std * offset``); used to make training targets.

Built from diffusers' UNet blocks; the defaults are the published architecture (its
``config.json`` carries no parameters), smaller settings make test models.
"""
from __future__ import annotations

import json

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_2d_blocks import UNetMidBlock2D, get_down_block, get_up_block
from torch import nn

PUBLISHED_CLASS_NAME = "TransparentVAE"


class AlphaUNet(nn.Module):
    """(RGB in [0, 1], latent) -> (alpha, R, G, B), unclamped."""

    def __init__(self, block_out_channels: tuple[int, ...], down_block_types: tuple[str, ...],
                 up_block_types: tuple[str, ...], layers_per_block: int, attention_head_dim: int,
                 norm_num_groups: int, latent_channels: int, latent_block: int):
        super().__init__()
        chans = list(block_out_channels)
        if not 1 <= latent_block < len(chans):
            raise ValueError(f"latent_block {latent_block} must lie in 1..{len(chans) - 1}")
        self.latent_block = latent_block
        common = dict(temb_channels=None, resnet_eps=1e-5, resnet_act_fn="silu",
                      resnet_groups=norm_num_groups, attention_head_dim=attention_head_dim,
                      resnet_time_scale_shift="default", dropout=0.0)
        self.conv_in = nn.Conv2d(3, chans[0], kernel_size=3, padding=1)
        # Joins before down block `latent_block`, whose input has chans[latent_block - 1].
        self.latent_conv_in = nn.Conv2d(latent_channels, chans[latent_block - 1], kernel_size=1)
        self.down_blocks = nn.ModuleList(
            get_down_block(kind, num_layers=layers_per_block, in_channels=chans[max(i - 1, 0)],
                           out_channels=chans[i], add_downsample=i < len(chans) - 1,
                           downsample_padding=1, downsample_type="conv", **common)
            for i, kind in enumerate(down_block_types))
        self.mid_block = UNetMidBlock2D(
            in_channels=chans[-1], temb_channels=None, dropout=0.0, resnet_eps=1e-5,
            resnet_act_fn="silu", output_scale_factor=1.0, resnet_time_scale_shift="default",
            attention_head_dim=attention_head_dim, resnet_groups=norm_num_groups,
            attn_groups=None, add_attention=True)
        rev = chans[::-1]
        self.up_blocks = nn.ModuleList(
            get_up_block(kind, num_layers=layers_per_block + 1,
                         in_channels=rev[min(i + 1, len(rev) - 1)], out_channels=rev[i],
                         prev_output_channel=rev[max(i - 1, 0)], add_upsample=i < len(rev) - 1,
                         upsample_type="conv", resolution_idx=i, **common)
            for i, kind in enumerate(up_block_types))
        self.conv_norm_out = nn.GroupNorm(num_channels=chans[0], num_groups=norm_num_groups, eps=1e-5)
        self.conv_out = nn.Conv2d(chans[0], 4, kernel_size=3, padding=1)

    def forward(self, pixel: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(pixel)
        skips = (h,)
        for i, block in enumerate(self.down_blocks):
            if i == self.latent_block:
                h = h + self.latent_conv_in(latent)
            h, res = block(hidden_states=h, temb=None)
            skips += res
        h = self.mid_block(h, None)
        for block in self.up_blocks:
            res, skips = skips[-len(block.resnets):], skips[:-len(block.resnets)]
            h = block(h, res, None)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class OffsetEncoder(nn.Module):
    """ARGB part (alpha first, colour padded under transparency) -> a latent-sized offset."""

    def __init__(self, widths: tuple[int, ...], latent_channels: int):
        super().__init__()
        layers: list[nn.Module] = []
        previous = 4
        for i, width in enumerate(widths):
            layers += [nn.Conv2d(previous, width, 3, padding=1, stride=1 if i == 0 else 2), nn.SiLU(),
                       nn.Conv2d(width, width, 3, padding=1), nn.SiLU()]
            previous = width
        layers.append(nn.Conv2d(previous, latent_channels, 3, padding=1))
        self.blocks = nn.Sequential(*layers)

    def forward(self, argb: torch.Tensor) -> torch.Tensor:
        return self.blocks(argb)


class _Holder(nn.Module):
    """``decoder.model`` / ``encoder.model``: the checkpoints' nesting."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model


class TransparencyVAE(ModelMixin, ConfigMixin):
    config_name = "config.json"

    @register_to_config
    def __init__(self, block_out_channels: tuple[int, ...] = (32, 32, 64, 128, 256, 512, 512),
                 down_block_types: tuple[str, ...] = ("DownBlock2D",) * 4 + ("AttnDownBlock2D",) * 3,
                 up_block_types: tuple[str, ...] = ("AttnUpBlock2D",) * 3 + ("UpBlock2D",) * 4,
                 layers_per_block: int = 2, attention_head_dim: int = 8, norm_num_groups: int = 4,
                 latent_channels: int = 4, latent_block: int = 3,
                 offset_widths: tuple[int, ...] = (32, 64, 128, 256), offset_scale: float = 300.0):
        super().__init__()
        self.decoder = _Holder(AlphaUNet(tuple(block_out_channels), tuple(down_block_types),
                                         tuple(up_block_types), layers_per_block, attention_head_dim,
                                         norm_num_groups, latent_channels, latent_block))
        self.encoder = _Holder(OffsetEncoder(tuple(offset_widths), latent_channels))

    def to_json_string(self) -> str:
        config = json.loads(super().to_json_string())
        config["_class_name"] = PUBLISHED_CLASS_NAME
        return json.dumps(config, indent=2, sort_keys=True) + "\n"

    def decode_rgba(self, pixel: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """pixel (N, 3, H, W): the VAE's decoded RGB in [0, 1]; latent (N, C, h, w): the part
        latent, unscaled -> straight RGBA (N, 4, H, W) in [0, 1]."""
        argb = self.decoder.model(pixel.to(self.dtype), latent.to(self.dtype)).clamp(0, 1)
        return torch.cat([argb[:, 1:], argb[:, :1]], dim=1)

    def encode_latent(self, vae, rgba: torch.Tensor, padded_rgb: torch.Tensor) -> torch.Tensor:
        """rgba (N, 4, H, W) straight in [0, 1]; padded_rgb: its colour filled in under
        transparency -> the part's latent (unscaled): the VAE posterior of the colour over
        mid-grey, moved by the learned offset."""
        alpha = rgba[:, 3:4]
        feed = (rgba[:, :3] * 2.0 - 1.0) * alpha
        posterior = vae.encode(feed.to(device=vae.device, dtype=vae.dtype)).latent_dist
        argb = torch.cat([alpha, padded_rgb], dim=1).to(device=self.device, dtype=self.dtype)
        offset = self.encoder.model(argb) * self.config.offset_scale
        return posterior.mean + posterior.std * offset.to(posterior.mean)
