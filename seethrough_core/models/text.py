"""Prompts through the CLIP text encoders: the tag names (SDXL, two encoders) and the empty
prompt (Marigold, one encoder)."""
from __future__ import annotations

import torch


def _tokens(tokenizer, prompts: list[str], device) -> torch.Tensor:
    return tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length,
                     truncation=True, return_tensors="pt").input_ids.to(device)


@torch.no_grad()
def encode_tags_sdxl(tags: list[str], tokenizer, text_encoder, tokenizer_2,
                     text_encoder_2) -> tuple[torch.Tensor, torch.Tensor]:
    """SDXL conditioning per tag: token embeddings (F, L, D1+D2) from both encoders' penultimate
    layers, and the pooled projection (F, P) of the second encoder."""
    first = text_encoder(_tokens(tokenizer, tags, text_encoder.device), output_hidden_states=True)
    second = text_encoder_2(_tokens(tokenizer_2, tags, text_encoder_2.device),
                            output_hidden_states=True)
    tokens = torch.cat([first.hidden_states[-2],
                        second.hidden_states[-2].to(first.hidden_states[-2].device)], dim=-1)
    return tokens, second.text_embeds.to(tokens.device)


@torch.no_grad()
def encode_empty_prompt(tokenizer, text_encoder) -> torch.Tensor:
    """Marigold's fixed conditioning: the empty prompt, unpadded (start and end tokens only),
    through the encoder's last layer: (1, 2, D)."""
    ids = tokenizer("", padding="do_not_pad", return_tensors="pt").input_ids
    return text_encoder(ids.to(text_encoder.device)).last_hidden_state
