"""Reading any image into RGBA uint8, and moving images and characters between scales."""
from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from ..character import Character, InputError


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Any raster image (PNG, JPEG, WebP, TIFF, BMP, GIF...; gray, RGB, RGBA, 8/16-bit or float)
    -> (H, W, 4) uint8 straight RGBA. Not an image -> InputError."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give an image file (.png, .jpg, .webp ...)")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        img = _read_with_pillow(path)
    else:
        img = _cv2_to_rgba(img)
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise InputError(f"{path}: the image is empty")
    return img


def to_rgba(image: np.ndarray) -> np.ndarray:
    """A gray, RGB or RGBA array (uint8, uint16 or float 0..1) -> (H, W, 4) uint8 RGBA."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 2, 3, 4) or min(img.shape[:2]) < 1:
        raise InputError(f"not an image: array of shape {img.shape}")
    img = _to_uint8(img)
    c = img.shape[2]
    if c == 1:
        img = np.concatenate([img, img, img, np.full_like(img, 255)], -1)
    elif c == 2:
        img = np.concatenate([img[..., :1]] * 3 + [img[..., 1:]], -1)
    elif c == 3:
        img = np.concatenate([img, np.full(img.shape[:2] + (1,), 255, np.uint8)], -1)
    return np.ascontiguousarray(img)


def _to_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if np.issubdtype(img.dtype, np.floating):
        return np.clip(np.nan_to_num(img) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if img.dtype == bool:
        return img.astype(np.uint8) * 255
    return np.clip(img, 0, 255).astype(np.uint8)


def _cv2_to_rgba(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3 and img.shape[2] == 3:
        img = img[..., ::-1]
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[..., [2, 1, 0, 3]]
    return to_rgba(img)


def _read_with_pillow(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            im.seek(0)
            return to_rgba(np.asarray(im.convert("RGBA")))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{path}: not an image this tool can read ({exc.__class__.__name__}); "
                         f"give a PNG, JPEG, WebP, TIFF, BMP or GIF") from None


def resize_rgba(rgba: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resample straight RGBA through premultiplied alpha (no dark fringes)."""
    w, h = size
    if rgba.shape[1] == w and rgba.shape[0] == h:
        return rgba
    interp = cv2.INTER_AREA if w < rgba.shape[1] else cv2.INTER_LINEAR
    f = rgba.astype(np.float32)
    f[..., :3] *= f[..., 3:4] / 255.0
    r = cv2.resize(f, (w, h), interpolation=interp)
    a = r[..., 3:4]
    r[..., :3] = np.where(a > 0.5, r[..., :3] * 255.0 / np.maximum(a, 1e-6), 0)
    return np.clip(r + 0.5, 0, 255).astype(np.uint8)


def rescale_character(character: Character, size: tuple[int, int]) -> Character:
    """The same layers on a canvas of ``size`` (W, H): each layer's box scaled and resampled."""
    sx = size[0] / character.size[0]
    sy = size[1] / character.size[1]
    layers = []
    for layer in character.layers:
        x0, y0, x1, y1 = layer.bbox
        nx0, ny0 = math.floor(x0 * sx), math.floor(y0 * sy)
        nx1, ny1 = max(nx0 + 1, math.ceil(x1 * sx)), max(ny0 + 1, math.ceil(y1 * sy))
        if layer.rgba.size == 0:
            layers.append(replace(layer, offset=(nx0, ny0)))
            continue
        rgba = resize_rgba(layer.rgba, (nx1 - nx0, ny1 - ny0))
        depth = None
        if layer.depth is not None:
            depth = cv2.resize(layer.depth, (nx1 - nx0, ny1 - ny0),
                               interpolation=cv2.INTER_LINEAR).reshape(rgba.shape[:2])
        layers.append(replace(layer, rgba=rgba, offset=(nx0, ny0), depth=depth).cropped())
    return replace(character, size=size, layers=layers)
