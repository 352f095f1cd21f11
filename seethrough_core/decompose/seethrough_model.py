"""The See-through model backend: image -> raw semantic parts with pseudo-depth.

Pipeline (Lin et al., See-through, as the published checkpoints run it): pad the image to a
square; the body pass generates 13 part latents at once from the image latent (one shared
initial noise, DPM-Solver++ 2M SDE, no guidance); the head pass does the same for 11 face parts
on a square crop around the body pass's ``head``; every part latent is decoded to RGB by the VAE
and to RGBA by the transparent VAE, inside the input's silhouette. The depth model then predicts
a pseudo-depth map for the 19 v2-tag images (hair = back + front hair, eyes = eyewhite, irides,
eyelash, eyebrow) plus the full image together; each part takes its tag's map, normalised
jointly to 0 near .. 1 far over the visible pixels.

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
from ..models import (BODY_PARTS, DEPTH_COMPOSED, DEPTH_TAGS, HEAD_PARTS, OUTPUT_PARTS,
                      PUBLISHED_DEPTH, PUBLISHED_LAYERDIFF)

DEFAULT_STEPS = 30          # DPM-Solver++ steps for each layer pass
HEAD_MARGIN = 0.15          # head crop = head box grown by this fraction on every side
PAD_COLOUR = 255            # transparent input becomes white for the layer model, as on paper
MIN_ALPHA = 15 / 255        # fainter part pixels are dropped before depth (as published)
MIN_RESOLUTION = 64

Progress = Callable[[str, float], None]   # (stage, overall fraction done 0..1)

_cache: dict[tuple, object] = {}


def decompose_parts(image_rgba: np.ndarray, *, model: str = PUBLISHED_LAYERDIFF,
                    depth_model: str = PUBLISHED_DEPTH,
                    device: str = "cpu", dtype: str = "fp32", seed: int = 0,
                    steps: int | None = None, resolution: int | None = None,
                    offload: bool = False, attention_slicing: bool = False,
                    progress: Progress | None = None) -> Character:
    """Raw See-through parts of one RGBA (or RGB) uint8 image; see the module docstring.

    ``model``/``depth_model``: folders in the published layout, or Hugging Face ids already
    in the local cache (the defaults: the published ids). ``resolution``: working size of the
    layer passes (default: the model's, 1280 px for the published one). ``offload`` keeps every
    model on the CPU and moves each to ``device`` only while it runs; ``attention_slicing``
    trades speed for peak memory.
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
    return decompose_with(image, layers_model, depth, device=dev, seed=seed, steps=steps,
                          resolution=resolution, offload=offload,
                          attention_slicing=attention_slicing, progress=report)


def preload(*, model: str = PUBLISHED_LAYERDIFF, depth_model: str = PUBLISHED_DEPTH,
            dtype: str = "fp32") -> None:
    """Load both models into this process's cache now (a batch worker that serves many
    pictures loads them once, before the first one); :func:`decompose_parts` with the same
    ``model``, ``depth_model`` and ``dtype`` then reuses them. Raises InputError as it does."""
    try:
        from ..models.loading import load_depth, load_layerdiff
    except ModuleNotFoundError as exc:
        raise InputError(f"the seethrough backend needs {exc.name} (the [model] extra): "
                         f"pip install 'seethrough-rig[model]', or use --backend heuristic") from None
    _cached(("layerdiff", model, dtype), lambda: load_layerdiff(model, dtype=dtype))
    _cached(("depth", depth_model, dtype), lambda: load_depth(depth_model, dtype=dtype))


def decompose_with(image: np.ndarray, layers_model, depth, *, device, seed: int = 0,
                   steps: int | None = None, resolution: int | None = None,
                   offload: bool = False, attention_slicing: bool = False,
                   progress: Progress | None = None) -> Character:
    """:func:`decompose_parts` with the two models already loaded (a ``LayerDiffModel`` and a
    ``DepthModel`` from :mod:`seethrough_core.models.loading`); ``device`` a torch device."""
    import torch

    image = _validated(image)
    report = progress or (lambda stage, fraction: None)
    dev = torch.device(device)
    res = _checked_resolution(resolution, layers_model)
    for bundle in (layers_model, depth):
        bundle.unet.set_attention_slice("auto" if attention_slicing else None)
        bundle.unet.set_part_attention_slicing(1024 if attention_slicing else None)
    placer = _Placer(dev, offload)
    generator = torch.Generator("cpu").manual_seed(int(seed))
    n_steps = steps or DEFAULT_STEPS

    h, w = image.shape[:2]
    square, (ox, oy) = _pad_to_square(image.astype(np.float32) / 255.0)
    side = square.shape[0]

    def fraction(stage: str, start: float, end: float):
        return lambda i, n: report(stage, start * (1 - i / n) + end * i / n)

    # Body pass on the whole square.
    report("body pass", 0.02)
    body = _layer_pass(layers_model, placer, _resized(square, res), BODY_PARTS, 0, n_steps,
                       generator, fraction("body pass", 0.02, 0.45))
    body_parts = {tag: _resized(rgba, side) for tag, rgba in zip(BODY_PARTS, body)}

    # Head pass on a square crop around the body pass's head.
    x0, y0, size = _head_box(body_parts["head"][..., 3], margin=HEAD_MARGIN)
    crop = square[y0:y0 + size, x0:x0 + size]
    report("head pass", 0.5)
    head = _layer_pass(layers_model, placer, _resized(crop, res), HEAD_PARTS, 1, n_steps,
                       generator, fraction("head pass", 0.5, 0.9))
    parts = {tag: rgba for tag, rgba in body_parts.items() if tag != "head"}
    for tag, rgba in zip(HEAD_PARTS, head):
        canvas = np.zeros((side, side, 4), np.float32)
        canvas[y0:y0 + size, x0:x0 + size] = _resized(rgba, size)
        parts[tag] = canvas

    report("depth", 0.9)
    # Depth is a few-step model: a smaller `steps` also shortens it, a larger one does not.
    depth_maps = _depth_pass(depth, placer, square, parts, min(steps or depth.steps, depth.steps),
                             generator)
    report("assembling parts", 0.98)

    layers = []
    for tag in OUTPUT_PARTS:
        rgba = _to_uint8(parts[tag][oy:oy + h, ox:ox + w])
        dmap = cv2.resize(depth_maps[tag], (side, side), interpolation=cv2.INTER_LINEAR)
        layer = Layer(name=tag, rgba=np.ascontiguousarray(rgba), tag=tag,
                      depth=np.ascontiguousarray(dmap[oy:oy + h, ox:ox + w], dtype=np.float32)).cropped()
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


def _checked_resolution(resolution: int | None, bundle) -> int:
    if resolution is None:
        return bundle.resolution
    scale = 2 ** (len(bundle.vae.config.block_out_channels) - 1)
    multiple = scale * 2 ** (len(bundle.unet.config.block_out_channels) - 1)
    if resolution < MIN_RESOLUTION or resolution % multiple:
        raise InputError(f"resolution {resolution} must be a multiple of {multiple} of at least "
                         f"{MIN_RESOLUTION} px (the published model works best at 1024-1280)")
    return int(resolution)


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


def _pad_to_square(rgba: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Float RGBA -> a square canvas, the image centred, the margin transparent."""
    h, w = rgba.shape[:2]
    side = max(h, w)
    ox, oy = (side - w) // 2, (side - h) // 2
    out = np.zeros((side, side, 4), np.float32)
    out[oy:oy + h, ox:ox + w] = rgba
    return out, (ox, oy)


def _resized(rgba: np.ndarray, size: int) -> np.ndarray:
    """Float straight RGBA in [0, 1] at size x size, resampled premultiplied so colour from
    transparent pixels never bleeds into the edges."""
    if rgba.shape[0] == size and rgba.shape[1] == size:
        return rgba.astype(np.float32)
    premul = rgba.astype(np.float32).copy()
    premul[..., :3] *= premul[..., 3:4]
    interp = cv2.INTER_AREA if rgba.shape[0] > size else cv2.INTER_LINEAR
    premul = cv2.resize(premul, (size, size), interpolation=interp)
    alpha = np.clip(premul[..., 3:4], 0.0, 1.0)
    rgb = np.divide(premul[..., :3], alpha, out=np.zeros_like(premul[..., :3]), where=alpha > 1e-4)
    return np.concatenate([np.clip(rgb, 0, 1), alpha], axis=-1)


def _to_uint8(rgba: np.ndarray) -> np.ndarray:
    return (np.clip(rgba, 0, 1) * 255.0 + 0.5).astype(np.uint8)


def _over_white(rgba: np.ndarray) -> np.ndarray:
    """Where the input is transparent, the layer model sees paper."""
    a = rgba[..., 3:4]
    return rgba[..., :3] * a + (PAD_COLOUR / 255.0) * (1.0 - a)


def _to_tensor(rgb01: np.ndarray):
    """Float RGB (H, W, 3) in [0, 1] -> (1, 3, H, W) in [-1, 1]."""
    import torch
    return torch.from_numpy(np.ascontiguousarray(rgb01, np.float32)).permute(2, 0, 1)[None] * 2.0 - 1.0


def _layer_pass(bundle, placer: _Placer, page: np.ndarray, tags: tuple[str, ...],
                group_index: int, steps: int, generator, on_step) -> list[np.ndarray]:
    """One layer-diffusion pass over a square float RGBA page: float RGBA per tag, inside the
    page's silhouette."""
    import torch

    from ..models.sampling import denoise_stack, encode_images
    from ..models.text import encode_tags_sdxl

    res = page.shape[0]
    with placer.on_device(bundle.text_encoder, bundle.text_encoder_2):
        tokens, pooled = encode_tags_sdxl(list(tags), bundle.tokenizer, bundle.text_encoder,
                                          bundle.tokenizer_2, bundle.text_encoder_2)
    with placer.on_device(bundle.vae):
        image_latent = encode_images(bundle.vae, _to_tensor(_over_white(page)))
    device = placer.device
    # SDXL micro-conditioning: original size, crop origin, target size.
    time_ids = torch.tensor([[res, res, 0, 0, res, res]], dtype=torch.float32, device=device)
    condition = image_latent.to(device)[:, None].expand(-1, len(tags), -1, -1, -1)
    with placer.on_device(bundle.unet):
        latents = denoise_stack(bundle.unet, bundle.scheduler, condition, steps, generator,
                                condition_first=False, shared_noise=True,
                                encoder_hidden_states=tokens.to(device)[None],
                                text_embeds=pooled.to(device)[None], time_ids=time_ids,
                                group_index=group_index, on_step=on_step)
    silhouette = page[..., 3:4]
    out = []
    with placer.on_device(bundle.vae, bundle.trans_vae), torch.no_grad():
        for latent in latents[0]:          # one part at a time: bounded memory at 1280 px
            latent = latent[None].to(device=bundle.vae.device, dtype=bundle.vae.dtype)
            latent = latent / bundle.vae.config.scaling_factor
            pixel = (bundle.vae.decode(latent).sample.clamp(-1, 1) + 1.0) / 2.0
            rgba = bundle.trans_vae.decode_rgba(pixel, latent)[0].permute(1, 2, 0)
            rgba = rgba.float().cpu().numpy()
            rgba[..., 3:4] *= silhouette
            out.append(rgba)
    return out


def _head_box(alpha: np.ndarray, margin: float) -> tuple[int, int, int]:
    """(x0, y0, size) of a square crop around the head's opaque pixels, inside the canvas.
    No head found: the whole canvas (the head pass then sees the full figure)."""
    side = alpha.shape[0]
    ys, xs = np.nonzero(alpha >= 0.5)
    if xs.size == 0:
        return 0, 0, side
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    size = int(round(max(x1 - x0, y1 - y0) * (1 + 2 * margin)))
    size = min(max(size, 16), side)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    bx = int(np.clip(round(cx - size / 2), 0, side - size))
    by = int(np.clip(round(cy - size / 2), 0, side - size))
    return bx, by, size


def _over(layers: list[np.ndarray]) -> np.ndarray:
    """Straight float RGBA layers composited bottom to top."""
    out = np.zeros_like(layers[0])
    for layer in layers:
        a = layer[..., 3:4]
        alpha = a + out[..., 3:4] * (1 - a)
        rgb = layer[..., :3] * a + out[..., :3] * out[..., 3:4] * (1 - a)
        out = np.concatenate([np.divide(rgb, alpha, out=np.zeros_like(rgb), where=alpha > 1e-6),
                              alpha], axis=-1)
    return out


def _depth_images(square: np.ndarray, parts: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The depth model's inputs on the square canvas: one float RGBA per v2 tag (composed tags
    stacked), then the full image with the parts' summed coverage as alpha."""
    faint = {}
    for tag, part in parts.items():
        faint[tag] = part.copy()
        faint[tag][..., 3] = np.where(part[..., 3] < MIN_ALPHA, 0.0, part[..., 3])
    images = []
    for tag in DEPTH_TAGS:
        members = [faint[m] for m in DEPTH_COMPOSED.get(tag, (tag,)) if m in faint]
        images.append(_over(members).astype(np.float32) if members
                      else np.zeros_like(square))
    coverage = np.clip(sum(im[..., 3] for im in images), 0.0, 1.0)
    images.append(np.dstack([_over_white(square), coverage]).astype(np.float32))
    return images


def _depth_pass(bundle, placer: _Placer, square: np.ndarray, parts: dict[str, np.ndarray],
                steps: int, generator) -> dict[str, np.ndarray]:
    """Pseudo-depth (res, res) per output part, jointly normalised to 0 near .. 1 far over
    the parts' visible pixels."""
    import torch

    from ..models.images import pad_colour
    from ..models.sampling import decode_latents, denoise_stack, encode_images
    from ..models.text import encode_empty_prompt

    res = bundle.resolution
    images = [_resized(im, res) for im in _depth_images(square, parts)]
    with placer.on_device(bundle.text_encoder):
        empty = encode_empty_prompt(bundle.tokenizer, bundle.text_encoder)
    with placer.on_device(bundle.vae):
        latents = torch.cat([encode_images(bundle.vae, _to_tensor(pad_colour(im))) for im in images])
    device = placer.device
    n = latents.shape[0]
    # Each image is seen next to the full image: (full latent, own latent) per slot.
    condition = torch.cat([latents[-1:].expand(n, -1, -1, -1), latents], dim=1).to(device)[None]
    with placer.on_device(bundle.unet):
        depth_latents = denoise_stack(bundle.unet, bundle.scheduler, condition, steps, generator,
                                      condition_first=True, shared_noise=False,
                                      encoder_hidden_states=empty.to(device)[:, None].expand(1, n, -1, -1))
    with placer.on_device(bundle.vae):
        decoded = torch.cat([decode_latents(bundle.vae, d[None]) for d in depth_latents[0]])
    maps = ((decoded.float().mean(dim=1) + 1.0) / 2.0).clamp(0, 1).cpu().numpy()
    small = {tag: _resized(p, res) for tag, p in parts.items()}
    by_tag = _part_depths(dict(zip(DEPTH_TAGS, maps)), small)
    visible = [by_tag[tag][small[tag][..., 3] >= 0.5] for tag in by_tag]
    values = np.concatenate(visible) if sum(v.size for v in visible) else maps.reshape(-1)
    lo, hi = float(values.min()), float(values.max())
    scale = (lambda d: (d - lo) / (hi - lo)) if hi - lo > 1e-6 else (lambda d: np.full_like(d, 0.5))
    return {tag: np.clip(scale(d), 0, 1).astype(np.float32) for tag, d in by_tag.items()}


def _part_depths(maps: dict[str, np.ndarray], parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each output part's depth map from its v2 tag's. In a composed tag a part hidden under
    the ones stacked above it takes, there, the median depth of where it shows."""
    out = {}
    for tag, dmap in maps.items():
        members = DEPTH_COMPOSED.get(tag, (tag,))
        covered = np.zeros(dmap.shape, bool)
        for member in reversed(members):           # top first
            if member not in parts:
                continue
            own = parts[member][..., 3] >= MIN_ALPHA
            depth = dmap.copy()
            hidden, shown = own & covered, own & ~covered
            if hidden.any() and shown.any():
                depth[hidden] = np.median(dmap[shown])
            out[member] = depth
            covered |= own
    return out
