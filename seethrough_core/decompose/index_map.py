"""The per-pixel layer-index map ("Illustrator's Depth"): which layer is on top at each pixel.

Index 0 means no layer; index i + 1 is ``character.layers[i]`` (drawing order, 0 = bottom), so
one globally consistent order is readable pixel by pixel. Stored as an RGB PNG with the base-256
code index = R + 256 * G + 65536 * B.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..character import Character, InputError
from ..outputs import atomic_output

REST_VARIANTS = {"mouth_close"}


def index_map(character: Character, threshold: int = 128) -> np.ndarray:
    """(H, W) int32: 1 + index of the topmost rest-pose layer with alpha >= threshold, else 0."""
    w, h = character.size
    out = np.zeros((h, w), np.int32)
    for i, layer in enumerate(character.layers):
        if layer.variant is not None and layer.variant not in REST_VARIANTS:
            continue
        x0, y0, x1, y1 = layer.bbox
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        on = layer.alpha[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] >= threshold
        out[cy0:cy1, cx0:cx1][on] = i + 1
    return out


def encode_index(index: np.ndarray) -> np.ndarray:
    """(H, W) non-negative ints -> (H, W, 3) uint8 RGB, index = R + 256 G + 65536 B."""
    index = np.asarray(index, np.int64)
    if index.min(initial=0) < 0 or index.max(initial=0) >= 1 << 24:
        raise ValueError("layer indices must lie in 0 .. 2**24 - 1")
    return np.stack([index & 255, (index >> 8) & 255, (index >> 16) & 255], -1).astype(np.uint8)


def decode_index(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb, np.int32)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def index_png_path(psd_path: str | os.PathLike) -> Path:
    """``char.psd`` -> ``char_index.png`` beside it."""
    p = Path(psd_path)
    return p.with_name(p.stem + "_index.png")


def index_png_bytes(index: np.ndarray, what: str = "layer-index map") -> bytes:
    """The index map as a lossless RGB PNG (index = R + 256 G + 65536 B)."""
    ok, data = cv2.imencode(".png", encode_index(index)[..., ::-1])
    if not ok:
        raise InputError(f"{what}: could not encode the layer-index map as PNG")
    return data.tobytes()


def write_index_png(index: np.ndarray, path: str | os.PathLike) -> None:
    """Write the index map as a lossless PNG, atomically (temporary file, then rename)."""
    data = index_png_bytes(index, str(path))
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def read_index_png(path: str | os.PathLike) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim != 3:
        raise InputError(f"{path}: not a layer-index PNG")
    return decode_index(img[..., 2::-1])
