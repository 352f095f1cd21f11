"""The layered character: canvas, semantic RGBA layers, pseudo-depth and drawing order.

Everything upstream of a rig produces a :class:`Character`; everything downstream reads one.
Pixels are straight-alpha uint8 RGBA, cropped to each layer's bounding box and placed on the
canvas by an integer offset (image pixels, origin top-left, y down).

Drawing order is the order of ``Character.layers``: index 0 is drawn first (bottom, farthest).
Pseudo-depth (0 nearest, 1 farthest) is optional per layer; when present, the order can be
re-derived from it (:meth:`Character.sort_by_depth`) so the two never disagree.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from . import taxonomy


@dataclass
class Layer:
    name: str
    rgba: np.ndarray                      # (h, w, 4) uint8, straight alpha
    offset: tuple[int, int] = (0, 0)      # (x, y) of rgba[0, 0] on the canvas
    tag: str = "objects"
    side: str | None = None               # character's side: 'l', 'r' or None
    stratum: int | None = None            # 0 near, 1 far (See-through stratification)
    group: int | None = None              # `_N` extra group index
    variant: str | None = None            # 'mouth_open' | 'mouth_close' | 'eye_close' | None
    depth: np.ndarray | None = None       # (h, w) float32 pseudo-depth, 0 near .. 1 far

    def __post_init__(self) -> None:
        rgba = np.asarray(self.rgba)
        if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
            raise ValueError(f"layer {self.name!r}: rgba must be (h, w, 4) uint8, got "
                             f"{rgba.shape} {rgba.dtype}")
        self.rgba = rgba
        self.offset = (int(self.offset[0]), int(self.offset[1]))
        if self.tag not in taxonomy.ALL_TAGS:
            raise ValueError(f"layer {self.name!r}: unknown tag {self.tag!r}")
        if self.side not in (None, "l", "r"):
            raise ValueError(f"layer {self.name!r}: side must be 'l', 'r' or None")
        if self.variant not in (None, *taxonomy.VARIANTS):
            raise ValueError(f"layer {self.name!r}: unknown variant {self.variant!r}")
        if self.depth is not None:
            depth = np.asarray(self.depth, dtype=np.float32)
            if depth.shape != rgba.shape[:2]:
                raise ValueError(f"layer {self.name!r}: depth shape {depth.shape} != pixels "
                                 f"{rgba.shape[:2]}")
            self.depth = depth

    @property
    def width(self) -> int:
        return int(self.rgba.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgba.shape[0])

    @property
    def alpha(self) -> np.ndarray:
        return self.rgba[..., 3]

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) on the canvas, x1/y1 exclusive."""
        x, y = self.offset
        return (x, y, x + self.width, y + self.height)

    @property
    def empty(self) -> bool:
        return self.rgba.size == 0 or not self.alpha.any()

    def depth_median(self) -> float | None:
        """Median pseudo-depth over the layer's visible pixels (See-through's per-part depth)."""
        if self.depth is None:
            return None
        visible = self.alpha > 0
        if not visible.any():
            return float(np.median(self.depth)) if self.depth.size else None
        return float(np.median(self.depth[visible]))

    def cropped(self) -> "Layer":
        """The same layer trimmed to its non-transparent pixels (an empty layer becomes 0x0)."""
        alpha = self.alpha
        rows = np.flatnonzero(alpha.any(axis=1))
        if rows.size == 0:
            return replace(self, rgba=np.zeros((0, 0, 4), np.uint8),
                           depth=None if self.depth is None else np.zeros((0, 0), np.float32))
        cols = np.flatnonzero(alpha[rows[0]:rows[-1] + 1].any(axis=0))
        y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        if (y0, x0, y1, x1) == (0, 0, self.height, self.width):
            return self
        return replace(self, rgba=self.rgba[y0:y1, x0:x1].copy(),
                       offset=(self.offset[0] + int(x0), self.offset[1] + int(y0)),
                       depth=None if self.depth is None else self.depth[y0:y1, x0:x1].copy())

    def on_canvas(self, size: tuple[int, int]) -> np.ndarray:
        """The layer's RGBA placed on a transparent (H, W, 4) canvas, clipped to it."""
        w, h = size
        out = np.zeros((h, w, 4), np.uint8)
        x0, y0, x1, y1 = self.bbox
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if cx1 > cx0 and cy1 > cy0:
            out[cy0:cy1, cx0:cx1] = self.rgba[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        return out


@dataclass
class Character:
    size: tuple[int, int]                       # (W, H) canvas
    layers: list[Layer] = field(default_factory=list)   # drawing order, 0 = bottom
    warnings: list[str] = field(default_factory=list)
    source: str | None = None
    side_convention: str = "character"          # how the source file named sides

    def __post_init__(self) -> None:
        self.size = (int(self.size[0]), int(self.size[1]))
        if self.size[0] <= 0 or self.size[1] <= 0:
            raise ValueError(f"canvas size must be positive, got {self.size}")

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def find(self, tag: str | None = None, *, side: str | None = None,
             variant: str | None | type(...) = ..., name: str | None = None) -> list[Layer]:
        """Layers matching every given criterion (``variant=None`` means 'no variant')."""
        out = []
        for layer in self.layers:
            if tag is not None and layer.tag != tag:
                continue
            if side is not None and layer.side != side:
                continue
            if variant is not ... and layer.variant != variant:
                continue
            if name is not None and layer.name != name:
                continue
            out.append(layer)
        return out

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def composite(self, include_variants: bool | set[str] = True,
                  layers: list[Layer] | None = None) -> np.ndarray:
        """Straight-alpha (H, W, 4) uint8 'over' composite of the layers in drawing order.

        ``include_variants``: True for every layer, False to leave out all expression variants,
        or a set naming the variants to keep (e.g. {"mouth_close"} for the rest pose).
        """
        w, h = self.size
        acc = np.zeros((h, w, 4), np.float32)  # premultiplied accumulator
        for layer in layers if layers is not None else self.layers:
            if layer.variant is not None:
                if include_variants is False:
                    continue
                if isinstance(include_variants, (set, frozenset)) and layer.variant not in include_variants:
                    continue
            x0, y0, x1, y1 = layer.bbox
            cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            if cx1 <= cx0 or cy1 <= cy0:
                continue
            src = layer.rgba[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0].astype(np.float32)
            src *= 1.0 / 255.0
            a = src[..., 3:4]
            src[..., :3] *= a                      # premultiply the source
            dst = acc[cy0:cy1, cx0:cx1]
            dst *= 1.0 - a                         # dst = src + dst (1 - a), all four channels
            dst += src
        return premultiplied_to_straight(acc)

    def rest_composite(self) -> np.ndarray:
        """The character at rest: eyes open, mouth closed (no mouth_open / eye_close art)."""
        return self.composite(include_variants={"mouth_close"})

    def sort_by_depth(self) -> None:
        """Re-derive drawing order from pseudo-depth: far (1) first, near (0) last.

        Layers without depth keep their relative position; ties keep the current order.
        """
        medians = [layer.depth_median() for layer in self.layers]
        if all(m is None for m in medians):
            return
        # Layers without depth borrow the depth of the nearest layer below them that has one.
        filled, last = [], 1.0
        for m in medians:
            last = m if m is not None else last
            filled.append(last)
        order = sorted(range(len(self.layers)), key=lambda i: (-filled[i], i))
        self.layers = [self.layers[i] for i in order]


def premultiplied_to_straight(acc: np.ndarray) -> np.ndarray:
    """float premultiplied RGBA in 0..1 -> uint8 straight RGBA, rounding to nearest."""
    a = acc[..., 3:4]
    # 255 / a where a > 0, else 0: one division per pixel instead of three boolean gathers.
    scale = np.divide(255.0, a, out=np.zeros_like(a), where=a > 1e-6)
    out = np.empty(acc.shape, np.uint8)
    rgb = acc[..., :3] * scale
    rgb += 0.5
    np.clip(rgb, 0, 255, out=rgb)
    out[..., :3] = rgb
    alpha = a[..., 0] * 255.0 + 0.5
    np.clip(alpha, 0, 255, out=alpha)
    out[..., 3] = alpha
    return out


class InputError(Exception):
    """Bad input the user can fix: reported as one line with exit code 2, never a traceback."""
