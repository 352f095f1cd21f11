"""Reading any image into RGBA uint8, and moving images and characters between scales."""
from __future__ import annotations

import contextlib
import math
import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from ..character import Character, InputError


# Inputs are bounded, so memory is: a picture over MAX_INPUT_PIXELS is refused before it is
# decoded, and one larger than MAX_SIDE on its long side is read straight into that size (the
# decomposition works at a smaller size still, and its layers come back at this one).
MAX_INPUT_PIXELS = 100_000_000
MAX_SIDE = 4096


def load_image(path: str | os.PathLike, notes: list[str] | None = None,
               max_side: int = MAX_SIDE) -> np.ndarray:
    """Any raster image (PNG, JPEG, WebP, TIFF, BMP, GIF...; gray, RGB, RGBA, 8/16-bit or float)
    -> (H, W, 4) uint8 straight RGBA, at most ``max_side`` px on its long side (``notes`` gets a
    line when a larger picture was scaled down). Not an image, or over MAX_INPUT_PIXELS ->
    InputError."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give an image file (.png, .jpg, .webp ...)")
    if path.suffix.lower() in (".psd", ".psb"):
        raise InputError(f"{path}: is a layered PSD, not a flat picture; rig it directly with "
                         f"`seethrough-rig build {path.name}`")
    size, fmt = _peek(path)
    if size is not None:
        w, h = size
        if w * h > MAX_INPUT_PIXELS:
            raise InputError(f"{path}: the picture is {w}x{h} ({w * h / 1e6:.0f} megapixels), "
                             f"over the {MAX_INPUT_PIXELS // 1_000_000} megapixel limit; scale it "
                             f"down first (to {MAX_SIDE} px on its long side is plenty)")
        if max(w, h) > max_side:
            img = _read_reduced(path, max_side)
            if notes is not None:
                notes.append(f"{path.name} is {w}x{h}; it is used at {img.shape[1]}x"
                             f"{img.shape[0]} (the limit is {max_side} px on the long side)")
            return img
    # JPEG through Pillow: OpenCV decodes a truncated JPEG into a grey half without a word.
    img = None if fmt == "JPEG" else cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        img = _read_with_pillow(path)
    else:
        img = _cv2_to_rgba(img)
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise InputError(f"{path}: the image is empty")
    if img.shape[0] * img.shape[1] > MAX_INPUT_PIXELS:
        raise InputError(f"{path}: the picture is {img.shape[1]}x{img.shape[0]}, over the "
                         f"{MAX_INPUT_PIXELS // 1_000_000} megapixel limit; scale it down first")
    if max(img.shape[:2]) > max_side:
        scale = max_side / max(img.shape[:2])
        img = resize_rgba(img, (max(1, round(img.shape[1] * scale)),
                                max(1, round(img.shape[0] * scale))))
    return img


def _peek(path: Path) -> tuple[tuple[int, int] | None, str | None]:
    """((W, H), format) from the file's header, decoding no pixels; (None, None) when Pillow
    cannot tell."""
    from PIL import Image
    try:
        with _our_pixel_limit(), Image.open(path) as im:
            return im.size, im.format
    except Exception:        # any failure here only means "decode it the ordinary way"
        return None, None


@contextlib.contextmanager
def _our_pixel_limit():
    """Pillow's own decompression-bomb guard off: MAX_INPUT_PIXELS, checked from the header
    before anything is decoded, is the limit here."""
    from PIL import Image
    old, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def _read_reduced(path: Path, max_side: int) -> np.ndarray:
    """A large picture read and scaled down without a full-size float copy: Pillow decodes
    (JPEG already at a reduced scale), premultiplies in 8 bits and box-filters down in steps."""
    from PIL import Image
    try:
        with _our_pixel_limit(), Image.open(path) as im:
            im.seek(0)
            w, h = im.size
            scale = max_side / max(w, h)
            target = (max(1, round(w * scale)), max(1, round(h * scale)))
            if im.format == "JPEG":
                im.draft("RGB", target)
            rgba = im.convert("RGBA")
        small = rgba.convert("RGBa").resize(target, Image.Resampling.BOX, reducing_gap=2.0)
        return to_rgba(np.asarray(small.convert("RGBA")))
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise _unreadable(path, exc) from None


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
        with _our_pixel_limit(), Image.open(path) as im:
            im.seek(0)
            return to_rgba(np.asarray(im.convert("RGBA")))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError,
            Image.DecompressionBombError) as exc:
        raise _unreadable(path, exc) from None


def _unreadable(path: Path, exc: BaseException) -> InputError:
    reason = " ".join(str(exc).split())
    if not reason or len(reason) > 80 or str(path) in reason:
        reason = exc.__class__.__name__
    return InputError(f"{path}: not an image this tool can read ({reason}); give a PNG, JPEG, "
                      f"WebP, TIFF, BMP or GIF")


def _premultiplied(rgba: np.ndarray) -> np.ndarray:
    """uint8 straight RGBA -> float32 premultiplied (0..255)."""
    f = rgba.astype(np.float32)
    f[..., :3] *= f[..., 3:4] / 255.0
    return f


def _straight(pre: np.ndarray, clear: float) -> np.ndarray:
    """float32 premultiplied RGBA (0..255) -> uint8 straight; alpha at most ``clear`` is
    taken as nothing (colour 0)."""
    a = pre[..., 3:4]
    pre[..., :3] = np.where(a > clear, pre[..., :3] * 255.0 / np.maximum(a, 1e-6), 0)
    return np.clip(pre + 0.5, 0, 255).astype(np.uint8)


def resize_rgba(rgba: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resample straight RGBA through premultiplied alpha (no dark fringes)."""
    w, h = size
    if rgba.shape[1] == w and rgba.shape[0] == h:
        return rgba
    interp = cv2.INTER_AREA if w < rgba.shape[1] else cv2.INTER_LINEAR
    return _straight(cv2.resize(_premultiplied(rgba), (w, h), interpolation=interp), 0.5)


def warp_rgba(rgba: np.ndarray, m: np.ndarray, size: tuple[int, int],
              inverse: bool = False) -> np.ndarray:
    """Straight RGBA moved by the 2x3 affine map ``m`` (or by its inverse) onto a canvas of
    ``size`` (w, h), resampled through premultiplied alpha: edges fade to clear, not black."""
    flags = cv2.INTER_LINEAR | (cv2.WARP_INVERSE_MAP if inverse else 0)
    moved = cv2.warpAffine(_premultiplied(rgba), m, size, flags=flags,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return _straight(moved, 0.255)


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
