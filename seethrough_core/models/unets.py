"""``PartStackUNet``: a diffusers UNet run over a stack of part latents.

It loads the published See-through checkpoints as they are: parameter names and ``config.json``
keys are those of the checkpoints' ``UNetFrameConditionModel`` (a ``UNet2DConditionModel`` whose
cross-attention blocks are "CrossFrame" blocks, plus ``group_embedding``, ``group_embedding_num``
and ``tag_version``). On top of diffusers' UNet:

- a :class:`~.part_attention.PartAttentionBlock` inside every spatial transformer of a
  part-stack block (the Body Part Consistency Module), kept in the transformer's
  ``temporal_transformer_blocks`` list and run by a forward hook after the transformer block it
  follows, so diffusers' own modules stay untouched;
- per-pass slot embeddings (``group_embeds`` for the pooled text, ``group_embeds2`` for the
  token sequence): class conditioning is the tag's text embedding plus its slot's learned
  embedding, ``x + linear(x + slot)``, with ``linear`` zero-initialised.

``tag_version`` says which tag set a layer model was trained on: "v3" (two passes, the
published model) or "v2" (the checkpoints' default when the key is absent: one 19-tag pass).

Layer diffusion: SDXL conditioning, 8 input channels (noisy part latent, then the image
latent), group 0 = the 13 body parts, group 1 = the 11 head parts. Depth (Marigold-style): 12
input channels (full-image latent, part latent, noisy depth latent), the empty prompt, no slots.
"""
from __future__ import annotations

import inspect
import json

import torch
from diffusers import UNet2DConditionModel
from torch import nn

from .part_attention import PartAttentionBlock

PUBLISHED_CLASS_NAME = "UNetFrameConditionModel"
# The checkpoints' part-stack block types and the diffusers blocks they are built on (the same
# modules and parameter names; the part attention is added on top).
PART_STACK_BLOCKS = {"CrossFrameAttnDownBlock": "CrossAttnDownBlock2D",
                     "UNetMidBlockCrossFrameAttn": "UNetMidBlock2DCrossAttn",
                     "CrossFrameAttnUpBlock": "CrossAttnUpBlock2D"}
_PER_PART_TO_STACK = {v: k for k, v in PART_STACK_BLOCKS.items()}
_UNET_PARAMETERS = frozenset(inspect.signature(UNet2DConditionModel.__init__).parameters) - {"self"}


class SlotEmbedding(nn.Module):
    """One pass's learned slot offsets: ``linear(x + params[slot])`` (zero at initialisation)."""

    def __init__(self, slots: int, dim: int):
        super().__init__()
        self.params = nn.Parameter(torch.randn(slots, dim))
        self.linear = nn.Linear(dim, dim)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        """x (B, F, ..., D), slots (F,) -> (B, F, ..., D)."""
        bias = self.params[slots].reshape(1, len(slots), *([1] * (x.ndim - 3)), -1)
        return self.linear(x + bias.to(x.dtype))


class PartStackUNet(UNet2DConditionModel):
    """A UNet over (B, F, C, h, w) part stacks; see the module docstring."""

    def __init__(self, group_embedding: bool = False,
                 group_embedding_num: tuple[int, ...] | list[int] = (13, 11),
                 tag_version: str = "v2", **unet_config):
        published = {key: unet_config[key] for key in ("down_block_types", "mid_block_type",
                                                       "up_block_types") if key in unet_config}
        config = {k: v for k, v in unet_config.items() if k in _UNET_PARAMETERS}
        for key in ("down_block_types", "up_block_types"):
            if key in config:
                config[key] = tuple(PART_STACK_BLOCKS.get(t, t) for t in config[key])
        if config.get("mid_block_type") in PART_STACK_BLOCKS:
            config["mid_block_type"] = PART_STACK_BLOCKS[config["mid_block_type"]]
        super().__init__(**config)
        # The config keeps the checkpoint's own block names, so save_pretrained writes the
        # published layout and a saved model rebuilds identically.
        self.register_to_config(**published, group_embedding=bool(group_embedding),
                                group_embedding_num=list(group_embedding_num),
                                tag_version=tag_version)
        self._part_blocks: list[PartAttentionBlock] = []
        for block in self._part_stack_blocks(published):
            for transformer in block.attentions:
                self._add_part_attention(transformer)
        if group_embedding:
            pooled, cross = self._conditioning_widths()
            self.group_embeds = nn.ModuleList(SlotEmbedding(n, pooled) for n in group_embedding_num)
            self.group_embeds2 = nn.ModuleList(SlotEmbedding(n, cross) for n in group_embedding_num)

    def _part_stack_blocks(self, published: dict) -> list[nn.Module]:
        down = published.get("down_block_types", ())
        up = published.get("up_block_types", ())
        blocks = [b for t, b in zip(down, self.down_blocks) if t in PART_STACK_BLOCKS]
        if published.get("mid_block_type") in PART_STACK_BLOCKS:
            blocks.append(self.mid_block)
        return blocks + [b for t, b in zip(up, self.up_blocks) if t in PART_STACK_BLOCKS]

    def _add_part_attention(self, transformer: nn.Module) -> None:
        heads = transformer.config.num_attention_heads
        head_dim = transformer.config.attention_head_dim
        # A part block after every transformer block, or every second one in deep transformers.
        stride = 2 if len(transformer.transformer_blocks) >= 3 else 1
        followed = [blk for i, blk in enumerate(transformer.transformer_blocks) if (i + 1) % stride == 0]
        parts = nn.ModuleList(PartAttentionBlock(heads * head_dim, heads, head_dim) for _ in followed)
        transformer.temporal_transformer_blocks = parts
        for blk, part in zip(followed, parts):
            blk.register_forward_hook(part.after_transformer_block)
            self._part_blocks.append(part)

    def _conditioning_widths(self) -> tuple[int, int]:
        cfg = self.config
        if cfg.addition_embed_type != "text_time":
            raise ValueError("group embeddings need SDXL's pooled-text ('text_time') conditioning")
        pooled = cfg.projection_class_embeddings_input_dim - 6 * cfg.addition_time_embed_dim
        cross = cfg.cross_attention_dim
        return pooled, cross if isinstance(cross, int) else cross[0]

    @property
    def part_attention_blocks(self) -> list[PartAttentionBlock]:
        return list(self._part_blocks)

    @classmethod
    def from_config(cls, config: dict, **overrides) -> "PartStackUNet":
        merged = {**dict(config), **overrides}
        return cls(**{k: v for k, v in merged.items() if not k.startswith("_")})

    @classmethod
    def from_unet(cls, unet: UNet2DConditionModel, *, group_embedding: bool = False,
                  group_embedding_num: tuple[int, ...] = (13, 11)) -> "PartStackUNet":
        """Convert a per-part UNet: its cross-attention blocks become part-stack blocks, its
        weights carry over, and the new modules start at their no-op initialisation."""
        config = {k: v for k, v in unet.config.items() if not k.startswith("_")}
        config["down_block_types"] = [_PER_PART_TO_STACK.get(t, t) for t in config["down_block_types"]]
        config["up_block_types"] = [_PER_PART_TO_STACK.get(t, t) for t in config["up_block_types"]]
        config["mid_block_type"] = _PER_PART_TO_STACK.get(config["mid_block_type"],
                                                          config["mid_block_type"])
        model = cls(group_embedding=group_embedding, group_embedding_num=group_embedding_num, **config)
        result = model.load_state_dict(unet.state_dict(), strict=False)
        new = [k for k in result.missing_keys
               if ".temporal_transformer_blocks." not in k and not k.startswith("group_embeds")]
        if result.unexpected_keys or new:
            raise ValueError(f"cannot convert: {(result.unexpected_keys + new)[:3]}")
        return model.to(device=unet.device, dtype=unet.dtype)

    def set_part_attention_slicing(self, positions: int | None) -> None:
        """Chunk the part-axis attention over spatial positions (None: all at once)."""
        for block in self._part_blocks:
            block.slice_positions = positions

    def to_json_string(self) -> str:
        config = json.loads(super().to_json_string())
        config["_class_name"] = PUBLISHED_CLASS_NAME
        return json.dumps(config, indent=2, sort_keys=True) + "\n"

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | float,
                encoder_hidden_states: torch.Tensor, *, text_embeds: torch.Tensor | None = None,
                time_ids: torch.Tensor | None = None, group_index: int | None = None,
                slots: torch.Tensor | None = None) -> torch.Tensor:
        """sample (B, F, C_in, h, w); encoder_hidden_states (B, F, L, D); text_embeds (B, F, P)
        and time_ids (B, 6) for SDXL; group_index: the pass (0 body, 1 head) whose slot
        embeddings apply; slots (F,): each part's slot in that pass (default 0..F-1).
        Returns (B, F, C_out, h, w)."""
        b, f = sample.shape[:2]
        context, pooled = encoder_hidden_states, text_embeds
        if self.config.group_embedding:
            if group_index is None:
                raise ValueError("this UNet needs group_index: 0 for the body pass, 1 for the head pass")
            if slots is None:
                if f > self.config.group_embedding_num[group_index]:
                    raise ValueError(f"{f} parts but pass {group_index} has "
                                     f"{self.config.group_embedding_num[group_index]} slots")
                slots = torch.arange(f)
            slots = slots.to(sample.device)
            context = context + self.group_embeds2[group_index](context, slots)
            if pooled is not None:
                pooled = pooled + self.group_embeds[group_index](pooled, slots)
        added = None
        if pooled is not None:
            added = {"text_embeds": pooled.reshape(b * f, -1),
                     "time_ids": time_ids.repeat_interleave(f, dim=0)}
        t = torch.as_tensor(timestep, device=sample.device).reshape(-1)
        t = (t.expand(b) if t.numel() == 1 else t).repeat_interleave(f)
        for block in self._part_blocks:
            block.num_parts = f
        out = super().forward(sample.reshape(b * f, *sample.shape[2:]), t,
                              encoder_hidden_states=context.reshape(b * f, *context.shape[2:]),
                              added_cond_kwargs=added, return_dict=False)[0]
        return out.reshape(b, f, *out.shape[1:])
