"""The See-through model backend: image -> raw semantic parts with pseudo-depth.

Pipeline (Lin et al., See-through): pad the image to a square; the body pass generates 13
part latents at once from the image latent; the head pass does the same for 11 face parts on a
square crop around the body pass's ``head``; every part latent is decoded to RGB by the VAE and
to RGBA by the transparency decoder; the depth model then predicts a pseudo-depth map for all
parts together (plus the full image), normalised to 0 near .. 1 far over the visible pixels.

The result is the RAW parts: one layer per part tag (v3 names, no sides or strata), on the
input's canvas. The shared finishing step (left/right split, stratification, order, PSD)
is the dispatcher's. torch is imported inside the functions only, so importing this module
(or the runtime) never loads it.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import cv2
import numpy as np

from ..character import Character, InputError, Layer
from ..models import (ALL_SLOTS, BODY_PARTS, HEAD_PARTS, OUTPUT_PARTS, PUBLISHED_DEPTH,
                      PUBLISHED_LAYERDIFF)

DEFAULT_STEPS = 30          # DPM-Solver++ steps for each layer pass
DEPTH_STEPS = 4             # DDIM steps for depth (Marigold v1.1 uses 1-4)
HEAD_MARGIN = 0.15          # head crop = head box grown by this fraction on every side
PAD_COLOUR = 255            # transparent input and padding become white, as drawn on paper

Progress = Callable[[str, float], None]   # (stage, overall fraction done 0..1)

_cache: dict[tuple, object] = {}


def decompose_parts(image_rgba: np.ndarray, *, model: str = PUBLISHED_LAYERDIFF,
                    depth_model: str = PUBLISHED_DEPTH,
                    device: str = "cpu", dtype: str = "fp32", seed: int = 0,
                    steps: int | None = None, offload: bool = False,
                    attention_slicing: bool = False, progress: Progress | None = None) -> Character:
    """Raw See-through parts of one RGBA (or RGB) uint8 image; see the module docstring.

    ``model``/``depth_model``: folders in the published layout, or Hugging Face ids already
    in the local cache (the defaults: the published ids). ``offload`` keeps every model on the CPU and moves each to ``device``
    only while it runs; ``attention_slicing`` trades speed for peak memory.
    """
    try:
        import torch

        from ..models.loading import load_depth, load_layerdiff, torch_device
    except ModuleNotFoundError as exc:
        raise InputError(f"the seethrough backend needs {exc.name} (the [model] extra): "
                         f"pip install 'seethrough-rig[model]', or use --backend heuristic") from None

    image = _validated(image_rgba)
    if steps is not None and steps < 1:
        raise InputError(f"steps must be at least 1, got {steps}")
    report = progress or (lambda stage, fraction: None)
    dev = torch_device(device)
    report("loading models", 0.0)
    layers_model = _cached(("layerdiff", model, dtype), lambda: load_layerdiff(model, dtype=dtype))
    depth = _cached(("depth", depth_model, dtype), lambda: load_depth(depth_model, dtype=dtype))
    for bundle in (layers_model, depth):
        bundle.unet.unet.set_attention_slice("auto" if attention_slicing else None)
        bundle.unet.set_part_attention_slicing(1024 if attention_slicing else None)
    placer = _Placer(dev, offload)
    generator = torch.Generator("cpu").manual_seed(int(seed))
    n_steps = steps or DEFAULT_STEPS

    h, w = image.shape[:2]
    square, (ox, oy) = _pad_to_square(_flatten(image))
    side = square.shape[0]
    res = _model_resolution(layers_model)

    # Body pass on the whole square.
    def fraction(stage: str, start: float, end: float):
        return lambda i, n: report(stage, start * (1 - i / n) + end * i / n)

    body = _layer_pass(layers_model, placer, _resize(square, res), BODY_PARTS, n_steps, generator,
                       fraction("body pass", 0.02, 0.45))
    body_parts = {tag: _resize_rgba(rgba, side) for tag, rgba in zip(BODY_PARTS, body)}

    # Head pass on a square crop around the body pass's head.
    x0, y0, size = _head_box(body_parts["head"][..., 3], margin=HEAD_MARGIN)
    crop = square[y0:y0 + size, x0:x0 + size]
    head = _layer_pass(layers_model, placer, _resize(crop, res), HEAD_PARTS, n_steps, generator,
                       fraction("head pass", 0.5, 0.9))
    parts = {tag: rgba for tag, rgba in body_parts.items() if tag != "head"}
    for tag, rgba in zip(HEAD_PARTS, head):
        canvas = np.zeros((side, side, 4), np.uint8)
        canvas[y0:y0 + size, x0:x0 + size] = _resize_rgba(rgba, size)
        parts[tag] = canvas

    report("depth", 0.9)
    # Depth is a few-step model: a smaller `steps` also shortens it, a larger one does not.
    depth_maps = _depth_pass(depth, placer, square, [parts[tag] for tag in OUTPUT_PARTS],
                             min(steps or DEPTH_STEPS, DEPTH_STEPS), generator)
    report("assembling parts", 0.98)

    layers = []
    for tag, depth_map in zip(OUTPUT_PARTS, depth_maps):
        rgba = parts[tag][oy:oy + h, ox:ox + w]
        dmap = cv2.resize(depth_map, (side, side), interpolation=cv2.INTER_LINEAR)[oy:oy + h, ox:ox + w]
        layer = Layer(name=tag, rgba=np.ascontiguousarray(rgba), tag=tag,
                      depth=np.ascontiguousarray(dmap, dtype=np.float32)).cropped()
        if not layer.empty:
            layers.append(layer)
    character = Character(size=(w, h), layers=layers, source="seethrough model")
    character.sort_by_depth()
    report("done", 1.0)
    return character


# --- pieces --------------------------------------------------------------------------------

def _validated(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise InputError(f"the image must be (H, W, 4) or (H, W, 3) uint8, got {image.shape} "
                         f"{image.dtype}: load it with seethrough_core.decompose.load_image")
    if image.shape[0] < 8 or image.shape[1] < 8:
        raise InputError(f"image of {image.shape[1]}x{image.shape[0]} px is too small to "
                         f"decompose: use one at least 256 px on a side")
    if image.shape[2] == 3:
        image = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    if not image[..., 3].any():
        raise InputError("the image is fully transparent: nothing to decompose")
    return image


def _cached(key: tuple, load):
    # One model of each kind stays loaded: a second call (another image) reuses it.
    for old in [k for k in _cache if k[0] == key[0] and k != key]:
        del _cache[old]
    if key not in _cache:
        _cache[key] = load()
    return _cache[key]


class _Placer:
    """Moves models to the compute device: all at once, or (offload) one at a time."""

    def __init__(self, device, offload: bool):
        self.device, self.offload = device, offload

    @contextmanager
    def on_device(self, *modules):
        for module in modules:
            module.to(self.device)
        try:
            yield
        finally:
            if self.offload:
                for module in modules:
                    module.to("cpu")
                if self.device.type == "cuda":
                    import torch
                    torch.cuda.empty_cache()


def _flatten(image: np.ndarray) -> np.ndarray:
    """RGBA -> RGB over white (where the input is transparent, the model sees paper)."""
    a = image[..., 3:4].astype(np.float32) / 255.0
    rgb = image[..., :3].astype(np.float32) * a + PAD_COLOUR * (1.0 - a)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def _pad_to_square(rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    h, w = rgb.shape[:2]
    side = max(h, w)
    ox, oy = (side - w) // 2, (side - h) // 2
    out = np.full((side, side, 3), PAD_COLOUR, np.uint8)
    out[oy:oy + h, ox:ox + w] = rgb
    return out, (ox, oy)


def _resize(rgb: np.ndarray, size: int) -> np.ndarray:
    shrink = rgb.shape[0] > size
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def _resize_rgba(rgba: np.ndarray, size: int) -> np.ndarray:
    """float RGBA in [0, 1] (straight) -> uint8 straight RGBA at size x size, resampled
    premultiplied so colour from transparent pixels never bleeds into the edges."""
    premul = rgba.astype(np.float32).copy()
    premul[..., :3] *= premul[..., 3:4]
    interp = cv2.INTER_AREA if rgba.shape[0] > size else cv2.INTER_LINEAR
    premul = cv2.resize(premul, (size, size), interpolation=interp)
    alpha = np.clip(premul[..., 3:4], 0.0, 1.0)
    rgb = np.divide(premul[..., :3], alpha, out=np.zeros_like(premul[..., :3]), where=alpha > 1e-4)
    out = np.concatenate([np.clip(rgb, 0, 1), alpha], axis=-1)
    return (out * 255.0 + 0.5).astype(np.uint8)


def _model_resolution(bundle) -> int:
    scale = 2 ** (len(bundle.vae.config.block_out_channels) - 1)
    return int(bundle.unet.unet.config.sample_size) * scale


def _to_tensor(rgb: np.ndarray):
    import torch
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1.0


def _layer_pass(bundle, placer: _Placer, rgb: np.ndarray, tags: tuple[str, ...], steps: int,
                generator, on_step) -> list[np.ndarray]:
    """One layer-diffusion pass: float RGBA (res, res, 4) in [0, 1] per tag."""
    import torch

    from ..models.sampling import decode_latents, denoise_stack, encode_images
    from ..models.text import encode_tags_sdxl

    res = rgb.shape[0]
    with placer.on_device(bundle.text_encoder, bundle.text_encoder_2):
        tokens, pooled = encode_tags_sdxl(list(tags), bundle.tokenizer, bundle.text_encoder,
                                          bundle.tokenizer_2, bundle.text_encoder_2)
    with placer.on_device(bundle.vae):
        image_latent = encode_images(bundle.vae, _to_tensor(rgb))
    device = placer.device
    slots = torch.tensor([ALL_SLOTS.index(t) for t in tags], device=device)
    # SDXL micro-conditioning: original size, crop origin, target size.
    time_ids = torch.tensor([[res, res, 0, 0, res, res]], dtype=torch.float32, device=device)
    condition = image_latent.to(device)[:, None].expand(-1, len(tags), -1, -1, -1)
    with placer.on_device(bundle.unet):
        latents = denoise_stack(bundle.unet, bundle.scheduler, condition, steps, generator,
                                encoder_hidden_states=tokens.to(device)[None], slot_ids=slots,
                                text_embeds=pooled.to(device)[None], time_ids=time_ids,
                                on_step=on_step)
    out = []
    with placer.on_device(bundle.vae, bundle.trans_vae), torch.no_grad():
        for latent in latents[0]:          # one part at a time: bounded memory at 1024 px
            latent = latent[None].to(device=bundle.vae.device, dtype=bundle.vae.dtype)
            rgb_part = decode_latents(bundle.vae, latent)
            rgba = bundle.trans_vae(rgb_part.to(bundle.trans_vae.dtype),
                                    latent.to(bundle.trans_vae.dtype))
            out.append(rgba[0].permute(1, 2, 0).float().cpu().numpy())
    return out


def _head_box(alpha: np.ndarray, margin: float) -> tuple[int, int, int]:
    """(x0, y0, size) of a square crop around the head's opaque pixels, inside the canvas.
    No head found: the whole canvas (the head pass then sees the full figure)."""
    side = alpha.shape[0]
    ys, xs = np.nonzero(alpha >= 128)
    if xs.size == 0:
        return 0, 0, side
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    size = int(round(max(x1 - x0, y1 - y0) * (1 + 2 * margin)))
    size = min(max(size, 16), side)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    bx = int(np.clip(round(cx - size / 2), 0, side - size))
    by = int(np.clip(round(cy - size / 2), 0, side - size))
    return bx, by, size


def _depth_pass(bundle, placer: _Placer, square: np.ndarray, parts: list[np.ndarray], steps: int,
                generator) -> list[np.ndarray]:
    """Pseudo-depth (res, res) per part, jointly normalised to 0 near .. 1 far over the
    parts' visible pixels. The full image rides along as one more slot of the stack."""
    import torch

    from ..models.sampling import decode_latents, denoise_stack, encode_images
    from ..models.text import encode_empty_prompt

    res = _model_resolution(bundle)
    # Each part as the model sees it: its colour over black where it is transparent.
    small = [_resize_rgba(p.astype(np.float32) / 255.0, res) for p in parts]
    images = [(s[..., :3].astype(np.float32) * (s[..., 3:4] / 255.0)).astype(np.uint8) for s in small]
    images.append(_resize(square, res))
    batch = torch.cat([_to_tensor(im) for im in images])
    with placer.on_device(bundle.text_encoder):
        empty = encode_empty_prompt(bundle.tokenizer, bundle.text_encoder)
    with placer.on_device(bundle.vae):
        latents = torch.cat([encode_images(bundle.vae, im[None]) for im in batch])
    device = placer.device
    n = latents.shape[0]
    with placer.on_device(bundle.unet):
        depth_latents = denoise_stack(bundle.unet, bundle.scheduler, latents.to(device)[None],
                                      steps, generator,
                                      encoder_hidden_states=empty.to(device)[:, None].expand(1, n, -1, -1))
    with placer.on_device(bundle.vae):
        decoded = torch.cat([decode_latents(bundle.vae, d[None]) for d in depth_latents[0]])
    depth = ((decoded.float().mean(dim=1) + 1.0) / 2.0).clamp(0, 1).cpu().numpy()[:-1]
    visible = np.stack([s[..., 3] >= 128 for s in small])
    values = depth[visible] if visible.any() else depth.reshape(-1)
    lo, hi = float(values.min()), float(values.max())
    depth = (depth - lo) / (hi - lo) if hi - lo > 1e-6 else np.full_like(depth, 0.5)
    return [np.clip(d, 0, 1).astype(np.float32) for d in depth]
