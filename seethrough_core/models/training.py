"""Training entry points for both stages, so users with layered data can fine-tune.

Layer diffusion: the part stack (B, F) of a character is encoded part by part, noised at ONE
timestep per stack (the parts are denoised together at inference), and the UNet learns the
noise (epsilon-prediction; v-prediction when the scheduler config says so), conditioned on the
image latent, the tag embeddings and the slot embeddings. Depth: the same on the stack of depth
latents, conditioned on the parts' image latents. The transparency decoder learns RGBA from
the VAE's reconstruction of a part and its latent.

Parts enter the VAE premultiplied (colour over black where transparent), as at inference.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler

from . import ALL_SLOTS
from .loading import DepthModel, LayerDiffModel, load_depth, load_layerdiff
from .sampling import decode_latents, encode_images
from .text import encode_empty_prompt, encode_tags_sdxl


def premultiplied(rgba: torch.Tensor) -> torch.Tensor:
    """(..., 4, H, W) RGBA in [0, 1] -> (..., 3, H, W) premultiplied RGB in [-1, 1]."""
    return (rgba[..., :3, :, :] * rgba[..., 3:4, :, :]) * 2.0 - 1.0


def _encode_stack(vae, images: torch.Tensor) -> torch.Tensor:
    b, f = images.shape[:2]
    with torch.no_grad():
        latents = encode_images(vae, images.reshape(b * f, *images.shape[2:]))
    return latents.reshape(b, f, *latents.shape[1:])


def _diffusion_loss(unet, scheduler_config, target_latents: torch.Tensor,
                    condition: torch.Tensor, generator: torch.Generator, **conditioning) -> torch.Tensor:
    noise_schedule = DDPMScheduler.from_config(scheduler_config)
    b = target_latents.shape[0]
    device = target_latents.device
    noise = torch.randn(target_latents.shape, generator=generator).to(device)
    t = torch.randint(0, noise_schedule.config.num_train_timesteps, (b,), generator=generator).to(device)
    noisy = noise_schedule.add_noise(target_latents, noise, t)
    if noise_schedule.config.prediction_type == "v_prediction":
        target = noise_schedule.get_velocity(target_latents, noise, t)
    else:
        target = noise
    dtype = unet.dtype
    cast = lambda x: None if x is None else x.to(dtype)
    prediction = unet(torch.cat([noisy, condition], dim=2).to(dtype), t,
                      cast(conditioning["encoder_hidden_states"]), slot_ids=conditioning.get("slot_ids"),
                      text_embeds=cast(conditioning.get("text_embeds")),
                      time_ids=cast(conditioning.get("time_ids")))
    return F.mse_loss(prediction.float(), target.float())


def layerdiff_loss(model: LayerDiffModel, image: torch.Tensor, parts: torch.Tensor,
                   tags: tuple[str, ...], generator: torch.Generator) -> torch.Tensor:
    """image (B, 3, H, W) in [-1, 1]; parts (B, F, 4, H, W) RGBA in [0, 1], one per tag."""
    device = model.unet.device
    b, f, _, h, w = parts.shape
    tokens, pooled = encode_tags_sdxl(list(tags), model.tokenizer, model.text_encoder,
                                      model.tokenizer_2, model.text_encoder_2)
    part_latents = _encode_stack(model.vae, premultiplied(parts)).to(device)
    image_latent = _encode_stack(model.vae, image[:, None]).to(device)
    slots = torch.tensor([ALL_SLOTS.index(t) for t in tags], device=device)
    time_ids = torch.tensor([[h, w, 0, 0, h, w]], dtype=torch.float32, device=device).repeat(b, 1)
    return _diffusion_loss(model.unet, model.scheduler.config, part_latents,
                           image_latent.expand(-1, f, -1, -1, -1), generator,
                           encoder_hidden_states=tokens.to(device)[None].expand(b, -1, -1, -1),
                           slot_ids=slots, text_embeds=pooled.to(device)[None].expand(b, -1, -1),
                           time_ids=time_ids)


def depth_loss(model: DepthModel, images: torch.Tensor, depth: torch.Tensor,
               generator: torch.Generator) -> torch.Tensor:
    """images (B, F, 3, H, W) in [-1, 1] (parts premultiplied, the full image last);
    depth (B, F, H, W) in [0, 1], 0 near."""
    device = model.unet.device
    b, f = depth.shape[:2]
    depth_images = (depth * 2.0 - 1.0)[:, :, None].expand(-1, -1, 3, -1, -1)
    targets = _encode_stack(model.vae, depth_images).to(device)
    condition = _encode_stack(model.vae, images).to(device)
    empty = encode_empty_prompt(model.tokenizer, model.text_encoder).to(device)
    return _diffusion_loss(model.unet, model.scheduler.config, targets, condition, generator,
                           encoder_hidden_states=empty[:, None].expand(b, f, -1, -1))


def transparency_loss(model: LayerDiffModel, parts: torch.Tensor) -> torch.Tensor:
    """parts (N, 4, H, W) RGBA in [0, 1]: L1 on alpha and on alpha-weighted colour."""
    with torch.no_grad():
        latents = encode_images(model.vae, premultiplied(parts))
        rgb = decode_latents(model.vae, latents)
    predicted = model.trans_vae(rgb.to(model.trans_vae.dtype), latents.to(model.trans_vae.dtype)).float()
    target = parts.to(predicted.device).float()
    alpha_term = F.l1_loss(predicted[:, 3], target[:, 3])
    colour_term = F.l1_loss(predicted[:, :3] * target[:, 3:4], target[:, :3] * target[:, 3:4])
    return alpha_term + colour_term


def train_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def _images(array: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, C) -> float (..., C, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(array)).movedim(-1, -3).float() / 255.0


def fine_tune_layerdiff(model_dir: str, samples: Iterable[tuple[np.ndarray, np.ndarray, tuple[str, ...]]],
                        out_dir: str, *, lr: float = 1e-5, device: str = "cpu",
                        seed: int = 0, train_transparency: bool = True) -> list[float]:
    """One optimiser step per sample (image uint8 (H, W, 3), parts uint8 (F, H, W, 4), tags);
    writes the fine-tuned model to ``out_dir`` in the published layout; returns the losses."""
    model = load_layerdiff(model_dir)
    for module in (model.unet, model.vae, model.trans_vae, model.text_encoder, model.text_encoder_2):
        module.to(device)
    model.unet.train()
    params = list(model.unet.parameters())
    if train_transparency:
        model.trans_vae.train()
        params += list(model.trans_vae.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr)
    generator = torch.Generator("cpu").manual_seed(seed)
    losses = []
    for image, parts, tags in samples:
        image_t = _images(image)[None] * 2.0 - 1.0
        parts_t = _images(parts)[None]
        loss = layerdiff_loss(model, image_t, parts_t, tuple(tags), generator)
        if train_transparency:
            loss = loss + transparency_loss(model, parts_t[0])
        losses.append(train_step(loss, optimizer))
    _save(model.path, Path(out_dir), {"unet": model.unet, "trans_vae": model.trans_vae})
    return losses


def fine_tune_depth(model_dir: str, samples: Iterable[tuple[np.ndarray, np.ndarray]],
                    out_dir: str, *, lr: float = 1e-5, device: str = "cpu", seed: int = 0) -> list[float]:
    """One step per sample (images uint8 (F, H, W, 3): parts over black then the full image;
    depth float (F, H, W) in [0, 1]); writes ``out_dir`` in the published layout."""
    model = load_depth(model_dir)
    for module in (model.unet, model.vae, model.text_encoder):
        module.to(device)
    model.unet.train()
    optimizer = torch.optim.AdamW(model.unet.parameters(), lr=lr)
    generator = torch.Generator("cpu").manual_seed(seed)
    losses = []
    for images, depth in samples:
        images_t = _images(images)[None] * 2.0 - 1.0
        depth_t = torch.from_numpy(np.asarray(depth, np.float32))[None]
        losses.append(train_step(depth_loss(model, images_t, depth_t, generator), optimizer))
    _save(model.path, Path(out_dir), {"unet": model.unet})
    return losses


def _save(source: Path, out_dir: Path, trained: dict[str, torch.nn.Module]) -> None:
    """Copy the untouched components, then write the trained ones over their folders."""
    if out_dir.resolve() != source.resolve():
        shutil.copytree(source, out_dir, dirs_exist_ok=True)
    for name, module in trained.items():
        module.eval()
        module.save_pretrained(out_dir / name)
