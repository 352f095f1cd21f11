"""Samplers and the VAE round trips around them.

Parts: the folder's scheduler (the published pipeline's DPM-Solver++ 2M SDE), no
classifier-free guidance (one UNet call per step: the image latent and the tag conditioning
pin the result down), ONE initial noise shared by all parts of a stack, as in the published
pipeline. Depth: a few DDIM steps, Marigold-style, independent noise per image. All noise is
drawn from a seeded CPU generator, so a seed gives the same result on every device.
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
                  generator: torch.Generator, *, condition_first: bool, shared_noise: bool,
                  on_step: Callable[[int, int], None] | None = None, **unet_inputs) -> torch.Tensor:
    """Sample (B, F, C, h, w) latents. ``condition`` (B, F, C_c, h, w) is concatenated to the
    noisy latent along channels, after it (layer model) or before it (depth model)."""
    scheduler = _fresh(scheduler)
    device, dtype = condition.device, unet.dtype
    scheduler.set_timesteps(steps, device=device)
    b, f = condition.shape[:2]
    shape = (b, 1 if shared_noise else f, unet.config.out_channels, *condition.shape[3:])
    latents = _noise(shape, generator, device).expand(b, f, *shape[2:]).contiguous()
    latents = latents * scheduler.init_noise_sigma
    inputs = {k: (v.to(device=device, dtype=dtype) if torch.is_tensor(v) and v.is_floating_point()
                  else v) for k, v in unet_inputs.items()}
    condition = condition.to(dtype)
    for i, t in enumerate(scheduler.timesteps):
        x = scheduler.scale_model_input(latents, t).to(dtype)
        model_in = torch.cat([condition, x] if condition_first else [x, condition], dim=2)
        prediction = unet(model_in, t, **inputs).float()
        latents = scheduler.step(prediction, t, latents, generator=generator).prev_sample
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
