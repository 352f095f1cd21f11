"""Training entry points for both stages, so users with layered data can fine-tune.

Layer diffusion: the part stack (B, F) of a character is encoded part by part through the
transparent VAE (the VAE posterior of the colour over mid-grey, moved by the learned alpha
offset), noised at ONE timestep per stack (the parts are denoised together at inference), and
the UNet learns the noise (epsilon-prediction; v-prediction when the scheduler says so), given
the image latent, the tag embeddings and the pass's slot embeddings. Depth: the same on the
stack of depth latents, each slot conditioned on the full image's and its own image's latents.
The transparent VAE learns alpha and colour from the VAE's reconstruction of a part's latent.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler

from . import BODY_PARTS, HEAD_PARTS
from .images import pad_colour
from .loading import DepthModel, LayerDiffModel, load_depth, load_layerdiff
from .sampling import encode_images
from .text import encode_empty_prompt, encode_tags_sdxl


def padded_colour(rgba: torch.Tensor) -> torch.Tensor:
    """(N, 4, H, W) straight RGBA in [0, 1] -> (N, 3, H, W) colour padded under transparency."""
    arrays = rgba.detach().permute(0, 2, 3, 1).float().cpu().numpy()
    return torch.from_numpy(np.stack([pad_colour(a) for a in arrays])).permute(0, 3, 1, 2)


def part_latents(model: LayerDiffModel, rgba: torch.Tensor) -> torch.Tensor:
    """(N, 4, H, W) RGBA parts -> unscaled latents through the transparent VAE's encoder."""
    return model.trans_vae.encode_latent(model.vae, rgba, padded_colour(rgba))


def pass_of(tags: tuple[str, ...]) -> tuple[int, torch.Tensor]:
    """(group index, slot of each tag): all tags must come from one pass."""
    for group, names in enumerate((BODY_PARTS, HEAD_PARTS)):
        if all(t in names for t in tags):
            return group, torch.tensor([names.index(t) for t in tags])
    raise ValueError(f"tags {tags} mix the body and head passes (or are not See-through tags)")


def _diffusion_loss(unet, scheduler_config, target_latents: torch.Tensor, condition: torch.Tensor,
                    generator: torch.Generator, *, condition_first: bool, **unet_inputs) -> torch.Tensor:
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
    inputs = {k: (v.to(dtype) if torch.is_tensor(v) and v.is_floating_point() else v)
              for k, v in unet_inputs.items()}
    pieces = [condition, noisy] if condition_first else [noisy, condition]
    prediction = unet(torch.cat(pieces, dim=2).to(dtype), t, **inputs)
    return F.mse_loss(prediction.float(), target.float())


def layerdiff_loss(model: LayerDiffModel, image: torch.Tensor, parts: torch.Tensor,
                   tags: tuple[str, ...], generator: torch.Generator) -> torch.Tensor:
    """image (B, 3, H, W) in [-1, 1]; parts (B, F, 4, H, W) RGBA in [0, 1], one per tag (all
    from the body pass or all from the head pass)."""
    device = model.unet.device
    b, f, _, h, w = parts.shape
    group, slots = pass_of(tags)
    tokens, pooled = encode_tags_sdxl(list(tags), model.tokenizer, model.text_encoder,
                                      model.tokenizer_2, model.text_encoder_2)
    with torch.no_grad():
        targets = part_latents(model, parts.reshape(b * f, *parts.shape[2:]))
    targets = (targets * model.vae.config.scaling_factor).reshape(b, f, *targets.shape[1:]).to(device)
    image_latent = encode_images(model.vae, image).to(device)[:, None]
    time_ids = torch.tensor([[h, w, 0, 0, h, w]], dtype=torch.float32, device=device).repeat(b, 1)
    return _diffusion_loss(model.unet, model.scheduler.config, targets,
                           image_latent.expand(-1, f, -1, -1, -1), generator, condition_first=False,
                           encoder_hidden_states=tokens.to(device)[None].expand(b, -1, -1, -1),
                           text_embeds=pooled.to(device)[None].expand(b, -1, -1),
                           time_ids=time_ids, group_index=group, slots=slots)


def depth_loss(model: DepthModel, images: torch.Tensor, depth: torch.Tensor,
               generator: torch.Generator) -> torch.Tensor:
    """images (B, F, 4, H, W) straight RGBA in [0, 1] (the parts, then the full image);
    depth (B, F, H, W) in [0, 1], 0 near."""
    device = model.unet.device
    b, f = depth.shape[:2]
    with torch.no_grad():
        colour = padded_colour(images.reshape(b * f, *images.shape[2:])) * 2.0 - 1.0
        latents = encode_images(model.vae, colour)
        latents = latents.reshape(b, f, *latents.shape[1:]).to(device)
        depth_images = (depth * 2.0 - 1.0).reshape(b * f, 1, *depth.shape[2:]).expand(-1, 3, -1, -1)
        targets = encode_images(model.vae, depth_images)
        targets = targets.reshape(b, f, *targets.shape[1:]).to(device)
    condition = torch.cat([latents[:, -1:].expand(-1, f, -1, -1, -1), latents], dim=2)
    empty = encode_empty_prompt(model.tokenizer, model.text_encoder).to(device)
    return _diffusion_loss(model.unet, model.scheduler.config, targets, condition, generator,
                           condition_first=True,
                           encoder_hidden_states=empty[:, None].expand(b, f, -1, -1))


def transparency_loss(model: LayerDiffModel, parts: torch.Tensor) -> torch.Tensor:
    """parts (N, 4, H, W) RGBA in [0, 1]: L1 on alpha and on alpha-weighted colour of what the
    transparent VAE makes of the part's own latent (its encoder learns through that latent)."""
    latents = part_latents(model, parts)
    with torch.no_grad():
        pixel = (model.vae.decode(latents.detach().to(model.vae.dtype)).sample.clamp(-1, 1) + 1) / 2
    argb = model.trans_vae.decoder.model(pixel.to(model.trans_vae.dtype),
                                         latents.to(model.trans_vae.dtype)).float()
    target = parts.to(argb.device).float()
    alpha = target[:, 3:4]
    alpha_term = F.l1_loss(argb[:, :1], alpha)
    colour_term = F.l1_loss(argb[:, 1:] * alpha, target[:, :3] * alpha)
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
    """One step per sample (images uint8 RGBA (F, H, W, 4): the parts, then the full image;
    depth float (F, H, W) in [0, 1], 0 near); writes ``out_dir`` in the published layout."""
    model = load_depth(model_dir)
    for module in (model.unet, model.vae, model.text_encoder):
        module.to(device)
    model.unet.train()
    optimizer = torch.optim.AdamW(model.unet.parameters(), lr=lr)
    generator = torch.Generator("cpu").manual_seed(seed)
    losses = []
    for images, depth in samples:
        images_t = _images(images)[None]
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
