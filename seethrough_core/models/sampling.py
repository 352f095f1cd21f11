"""Samplers and the VAE round trips around them.

Parts: DPM-Solver++ (diffusers' ``DPMSolverMultistepScheduler``), no classifier-free guidance
(one UNet call per step: the image latent and the tag conditioning pin the result down).
Depth: a few DDIM steps, Marigold-style. Initial noise is drawn on the CPU from a seeded
generator, so a seed gives the same result on every device.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from .unets import PartStackUNet


def _fresh(scheduler):
    """A scheduler with no state left over from an earlier run (multistep solvers keep some)."""
    return type(scheduler).from_config(scheduler.config)


def _noise(shape: tuple[int, ...], generator: torch.Generator, device) -> torch.Tensor:
    return torch.randn(shape, generator=generator, dtype=torch.float32).to(device)


@torch.no_grad()
def denoise_stack(unet: PartStackUNet, scheduler, condition: torch.Tensor, steps: int,
                  generator: torch.Generator, *, encoder_hidden_states: torch.Tensor,
                  slot_ids: torch.Tensor | None = None, text_embeds: torch.Tensor | None = None,
                  time_ids: torch.Tensor | None = None,
                  on_step: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Sample (B, F, C, h, w) latents given per-part condition latents of the same shape
    (concatenated to the noisy latent along channels: the 8-channel UNet input)."""
    scheduler = _fresh(scheduler)
    device, dtype = condition.device, unet.dtype
    scheduler.set_timesteps(steps, device=device)
    out_channels = unet.unet.config.out_channels
    latents = _noise((*condition.shape[:2], out_channels, *condition.shape[3:]), generator, device)
    latents = latents * scheduler.init_noise_sigma
    cast = lambda t: None if t is None else t.to(device=device, dtype=dtype)
    for i, t in enumerate(scheduler.timesteps):
        model_in = torch.cat([scheduler.scale_model_input(latents, t), condition], dim=2)
        prediction = unet(cast(model_in), t, cast(encoder_hidden_states), slot_ids=slot_ids,
                          text_embeds=cast(text_embeds), time_ids=cast(time_ids)).float()
        latents = scheduler.step(prediction, t, latents).prev_sample
        if on_step:
            on_step(i + 1, len(scheduler.timesteps))
    return latents


@torch.no_grad()
def encode_images(vae, images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [-1, 1] -> scaled latents (N, C, H/s, W/s); the posterior mean, so
    encoding is deterministic."""
    images = images.to(device=vae.device, dtype=vae.dtype)
    return vae.encode(images).latent_dist.mode() * vae.config.scaling_factor


@torch.no_grad()
def decode_latents(vae, latents: torch.Tensor) -> torch.Tensor:
    """Scaled latents (N, C, h, w) -> images (N, 3, H, W) in [-1, 1]."""
    latents = latents.to(device=vae.device, dtype=vae.dtype) / vae.config.scaling_factor
    return vae.decode(latents).sample.clamp(-1, 1)
