"""``PartStackUNet``: a diffusers UNet run over a stack of part latents.

The wrapped ``UNet2DConditionModel`` keeps diffusers' own parameter names (under ``unet.``), so
per-part weights (an SDXL or SD2 UNet with 8 input channels) convert by a prefix. On top:

- a :class:`PartAxisAttention` after every spatial transformer block (the Body Part
  Consistency Module), attached by forward hooks so the UNet's own modules stay untouched;
- a learned per-slot group embedding added to every token of that part's text conditioning
  (class conditioning = the tag's text embedding + its slot's embedding), zero-initialised.

Layer diffusion: 8 input channels (noisy part latent + the input image's VAE latent), SDXL
conditioning. Depth (Marigold-style): 8 input channels (noisy depth latent + the part's image
latent), an empty-prompt embedding, no slot embedding.
"""
from __future__ import annotations

import torch
from diffusers import UNet2DConditionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from torch import nn

from .part_attention import PartAxisAttention


class PartStackUNet(ModelMixin, ConfigMixin):
    config_name = "config.json"

    @register_to_config
    def __init__(self, unet_config: dict, num_slots: int = 0, part_attention_head_dim: int = 64):
        super().__init__()
        self.unet = UNet2DConditionModel.from_config(unet_config)
        cross_dim = self.unet.config.cross_attention_dim
        cross_dim = cross_dim if isinstance(cross_dim, int) else cross_dim[0]
        self.slot_embedding = nn.Embedding(num_slots, cross_dim) if num_slots else None
        if self.slot_embedding is not None:
            nn.init.zeros_(self.slot_embedding.weight)
        transformers = [m for m in self.unet.modules() if isinstance(m, Transformer2DModel)]
        self.part_attentions = nn.ModuleList(
            PartAxisAttention(t.out_channels or t.in_channels, part_attention_head_dim)
            for t in transformers)
        self._num_parts = 1
        for transformer, part_attention in zip(transformers, self.part_attentions):
            transformer.register_forward_hook(self._hook(part_attention))

    def _hook(self, part_attention: PartAxisAttention):
        def after_transformer(_module, _args, output):
            if isinstance(output, tuple):
                return (part_attention(output[0], self._num_parts), *output[1:])
            output.sample = part_attention(output.sample, self._num_parts)
            return output
        return after_transformer

    @classmethod
    def from_unet(cls, unet: UNet2DConditionModel, num_slots: int = 0,
                  part_attention_head_dim: int = 64) -> "PartStackUNet":
        """Convert a per-part UNet: same weights, new modules at their identity initialisation."""
        model = cls(dict(unet.config), num_slots=num_slots,
                    part_attention_head_dim=part_attention_head_dim)
        model.unet.load_state_dict(unet.state_dict())
        return model.to(device=unet.device, dtype=unet.dtype)

    def set_part_attention_slicing(self, positions: int | None) -> None:
        """Chunk the part-axis attention over spatial positions (None: all at once)."""
        for module in self.part_attentions:
            module.slice_positions = positions

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | float,
                encoder_hidden_states: torch.Tensor, slot_ids: torch.Tensor | None = None,
                text_embeds: torch.Tensor | None = None,
                time_ids: torch.Tensor | None = None) -> torch.Tensor:
        """sample (B, F, C_in, h, w); encoder_hidden_states (B, F, L, D); text_embeds (B, F, P)
        pooled (SDXL only); time_ids (B, 6) (SDXL only); slot_ids (F,) -> (B, F, C_out, h, w)."""
        b, f = sample.shape[:2]
        context = encoder_hidden_states
        if self.slot_embedding is not None:
            if slot_ids is None:
                raise ValueError("this UNet needs slot_ids (one slot index per part)")
            context = context + self.slot_embedding(slot_ids).to(context.dtype)[None, :, None, :]
        added = None
        if text_embeds is not None:
            added = {"text_embeds": text_embeds.reshape(b * f, -1),
                     "time_ids": time_ids.repeat_interleave(f, dim=0)}
        t = torch.as_tensor(timestep, device=sample.device)
        t = t.expand(b).repeat_interleave(f) if t.ndim else t.expand(b * f)
        self._num_parts = f
        out = self.unet(sample.reshape(b * f, *sample.shape[2:]), t,
                        encoder_hidden_states=context.reshape(b * f, *context.shape[2:]),
                        added_cond_kwargs=added, return_dict=False)[0]
        return out.reshape(b, f, *out.shape[1:])
