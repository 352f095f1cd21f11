"""PSD/PSB import: a layered file (See-through output or an artist's file) -> :class:`Character`.

What an artist's file holds is reduced to what a rig needs: one straight-alpha RGBA layer per
visible part, in drawing order, with its name parsed by the taxonomy.

- Groups are flattened to their leaf layers; the group path stays in the name
  ("Head/Eyes/白目 L").
- Hidden layers and groups, adjustment layers and fill layers are skipped (and listed in warnings).
- Layer masks, vector masks, opacity and fill opacity go into alpha. Clipped layers are painted
  onto their clip base (with their blend mode) and disappear as layers of their own: the base
  carries the art, e.g. shading clipped onto skin.
- Every colour mode and bit depth becomes 8-bit sRGB-ish RGBA (embedded ICC profiles applied).
- A file with no usable layers imports its merged image as one layer.
- See-through sidecars beside ``char.psd``: ``char_depth.psd`` (per-layer depth maps) and
  ``char.psd.json`` (per-part median depth) give :attr:`Layer.depth`.

Anything wrong with the file itself becomes one :class:`InputError` line; anything wrong with a
sidecar becomes a warning.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import struct
import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np
from psd_tools import PSDImage
from psd_tools.api.layers import AdjustmentLayer, FillLayer, ShapeLayer, SmartObjectLayer, TypeLayer
from psd_tools.api.utils import has_transparency
from psd_tools.compression import PSDDecompressionWarning
from psd_tools.constants import BlendMode, ChannelID, Compression
from tqdm import tqdm

from . import taxonomy
from .character import Character, InputError, Layer

# Canvases beyond these are refused before anything is decoded (a corrupt or hostile header can
# declare 300000 x 300000 pixels).
MAX_SIDE = 30000
MAX_PIXELS = 400_000_000

SIDE_CONVENTIONS = ("auto", "character", "image")

# Colour modes as the PSD header numbers them.
_BITMAP, _GRAYSCALE, _INDEXED, _RGB, _CMYK, _MULTICHANNEL, _DUOTONE, _LAB = 0, 1, 2, 3, 4, 7, 8, 9
_SUPPORTED_MODES = frozenset({_BITMAP, _GRAYSCALE, _INDEXED, _RGB, _CMYK, _DUOTONE, _LAB})
_COLOUR_CHANNELS = {_BITMAP: 1, _GRAYSCALE: 1, _INDEXED: 1, _RGB: 3, _CMYK: 4, _DUOTONE: 1,
                    _LAB: 3}

_MAX_LISTED = 20  # names listed in one warning before "... and N more"


# ------------------------------------------------------------------------------- entry point

def read_psd(path: str | os.PathLike, *, side_convention: str = "auto",
             progress: bool = False) -> Character:
    """Read a PSD/PSB file into a :class:`Character` (layers bottom first).

    ``side_convention``: ``"character"`` when ``-l`` means the character's left (See-through,
    Live2D), ``"image"`` when it means the image's left, ``"auto"`` to decide from where paired
    layers sit. ``Layer.side`` is always the character's side.
    ``progress``: show a progress bar on stderr.
    """
    if side_convention not in SIDE_CONVENTIONS:
        raise InputError(f"side convention must be one of {', '.join(SIDE_CONVENTIONS)}, "
                         f"not {side_convention!r}")
    path = Path(path)
    header = _read_header(path)
    with _psd_tools_quiet() as messages:
        psd = _open(path)
        _check_merged_image_complete(path, psd, header)
        report = _Report()
        try:
            pieces = _Flattener(psd, header, report, path.name, progress).run()
        except InputError:
            raise
        except Exception as exc:  # psd-tools parses some layer data lazily (effects, paths ...)
            raise InputError(f"{path.name}: cannot read the layers ({_one_line(exc)}); the file "
                             f"is damaged or uses something unsupported: save it again from "
                             f"your editor") from None
        layers = _to_layers(pieces, report)
        if not layers:
            layers = [_merged_image_layer(path, psd, header, report)]
        report.psd_tools_messages = list(messages)
    warnings_out = report.warnings()

    if side_convention == "auto":
        convention = _detect_side_convention(layers)
        if convention == "image":
            warnings_out.append(
                "left/right layer names follow the image's sides (the '-l' parts sit on the "
                "image's left), so sides were flipped to the character's; pass "
                "side_convention='character' to keep them as named")
    else:
        convention = side_convention
    if convention == "image":
        layers = [replace(layer, side=_flip(layer.side)) for layer in layers]

    _attach_sidecar_depth(path, layers, header, warnings_out)
    return Character(size=(header.width, header.height), layers=layers, warnings=warnings_out,
                     source=str(path), side_convention=convention)


# ----------------------------------------------------------------------------- file checks

@dataclass(frozen=True)
class _Header:
    version: int      # 1 PSD, 2 PSB
    channels: int
    height: int
    width: int
    depth: int
    mode: int


def _read_header(path: Path) -> _Header:
    """Check the 26-byte file header before psd-tools allocates anything."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            raw = f.read(26)
    except OSError as exc:
        raise InputError(f"{path.name}: cannot read the file ({exc.strerror or exc})") from None
    if len(raw) < 4 or raw[:4] != b"8BPS":
        raise InputError(f"{path.name}: not a PSD/PSB file (it does not start with the '8BPS' "
                         f"signature); export the layers from your editor as .psd")
    if len(raw) < 26:
        raise InputError(f"{path.name}: the file is truncated (it ends inside the header); "
                         f"save it again from your editor")
    _, version, _, channels, height, width, depth, mode = struct.unpack(">4sH6sHIIHH", raw)
    name = path.name
    if version not in (1, 2):
        raise InputError(f"{name}: unsupported PSD version {version} (only PSD 1 and PSB 2 exist)")
    if width == 0 or height == 0:
        raise InputError(f"{name}: the canvas is empty ({width}x{height} pixels)")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise InputError(f"{name}: the canvas is {width}x{height} pixels, more than this tool "
                         f"accepts ({MAX_SIDE} px per side, {MAX_PIXELS // 1_000_000} megapixels); "
                         f"reduce the image size in your editor")
    if depth not in (1, 8, 16, 32):
        raise InputError(f"{name}: unsupported bit depth {depth}; the file may be damaged")
    if mode == _MULTICHANNEL:
        raise InputError(f"{name}: multichannel colour mode is not supported; convert the file to "
                         f"RGB in your editor (Image > Mode > RGB Color)")
    if mode not in _SUPPORTED_MODES:
        raise InputError(f"{name}: unknown colour mode {mode}; convert the file to RGB")
    if not 1 <= channels <= 56:
        raise InputError(f"{name}: the header declares {channels} channels; the file is damaged")
    return _Header(version, channels, height, width, depth, mode)


def _open(path: Path):
    try:
        return PSDImage.open(path)
    except Exception as exc:  # psd-tools raises anything from struct.error to OSError
        raise InputError(f"{path.name}: cannot parse the file ({_one_line(exc)}); it is truncated "
                         f"or damaged: save it again from your editor") from None


def _check_merged_image_complete(path: Path, psd, header: _Header) -> None:
    """psd-tools reads a truncated merged image without complaint; measure it instead."""
    image_data = psd._record.image_data
    data, compression = image_data.data, image_data.compression
    rows = header.height * header.channels
    if compression == Compression.RAW:
        expected = rows * ((header.width * header.depth + 7) // 8)
    elif compression == Compression.RLE:
        size = 2 if header.version == 1 else 4
        if len(data) < rows * size:
            expected = rows * size
        else:
            counts = np.frombuffer(data, f">u{size}", count=rows)
            expected = rows * size + int(counts.sum(dtype=np.int64))
    else:  # zip streams are checked when (if ever) they are decoded
        return
    if len(data) < expected:
        raise InputError(f"{path.name}: the file is truncated ({expected - len(data)} bytes of the "
                         f"merged image are missing); save it again from your editor")


@contextlib.contextmanager
def _psd_tools_quiet() -> Iterator[list[str]]:
    """Collect psd-tools' log messages instead of printing them; damaged pixel data is an error.

    psd-tools replaces a channel that fails to decompress by black and only warns: that would be
    a silently wrong import, so the warning is raised as an exception and reported by the caller.
    """
    messages: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = _one_line(record.getMessage())
            if text not in messages:
                messages.append(text)

    logger = logging.getLogger("psd_tools")
    handler = _Collect(level=logging.WARNING)
    saved_propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings():
            # The later filter is checked first: damaged data raises, other chatter is dropped.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("error", PSDDecompressionWarning)
            yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = saved_propagate


# ------------------------------------------------------------------------------ the report

@dataclass
class _Report:
    """What the importer skipped or could not honour, turned into warnings at the end."""

    hidden: list[str] = field(default_factory=list)
    adjustments: list[str] = field(default_factory=list)
    fills: list[str] = field(default_factory=list)
    orphan_clips: list[str] = field(default_factory=list)
    unhonoured_modes: list[str] = field(default_factory=list)
    group_modes: list[str] = field(default_factory=list)
    effects: list[str] = field(default_factory=list)
    no_pixels: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    psd_tools_messages: list[str] = field(default_factory=list)

    def warnings(self) -> list[str]:
        out = []
        if self.hidden:
            hidden = _count(self.hidden, "hidden layer/group", "hidden layers/groups")
            out.append(f"skipped {hidden}: {_names(self.hidden)}")
        if self.adjustments:
            out.append(f"skipped {_count(self.adjustments, 'adjustment layer')} (colour changes "
                       f"are not applied to the art): {_names(self.adjustments)}")
        if self.fills:
            out.append(f"skipped {_count(self.fills, 'fill layer')}: {_names(self.fills)}")
        if self.orphan_clips:
            out.append(f"skipped {_count(self.orphan_clips, 'clipped layer')} whose clip base is "
                       f"hidden, empty or not imported: {_names(self.orphan_clips)}")
        if self.unhonoured_modes:
            out.append(f"blend modes that cannot be honoured on a layer of their own, kept as "
                       f"normal on {_count(self.unhonoured_modes, 'layer')}: "
                       f"{_names(self.unhonoured_modes)}")
        if self.group_modes:
            out.append(f"group blend modes not honoured ({_count(self.group_modes, 'group')}; "
                       f"their layers were kept as normal, with the group opacity): "
                       f"{_names(self.group_modes)}")
        if self.effects:
            out.append(f"layer effects (shadows, strokes, glows ...) are not rendered on "
                       f"{_count(self.effects, 'layer')}: {_names(self.effects)}")
        if self.no_pixels:
            out.append(f"{_count(self.no_pixels, 'vector/text layer')} without rasterised pixels "
                       f"in the file left out (rasterise them in your editor): "
                       f"{_names(self.no_pixels)}")
        if self.empty:
            out.append(f"{_count(self.empty, 'empty layer')} left out: {_names(self.empty)}")
        if self.unknown:
            out.append(f"{_count(self.unknown, 'layer')} with unknown names kept as 'objects': "
                       f"{_names(self.unknown)}")
        if self.duplicates:
            out.append(f"several layers share a name (look-ups by name find the bottom one): "
                       f"{_names(self.duplicates)}")
        out.extend(self.notes)
        out.extend(f"psd-tools: {m}" for m in self.psd_tools_messages)
        return out


def _count(items: list, singular: str, plural: str | None = None) -> str:
    n = len(items)
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    if len(items) > _MAX_LISTED:
        shown += f" ... and {len(items) - _MAX_LISTED} more"
    return shown


def _one_line(value: object) -> str:
    text = " ".join(str(value).split())
    return text or type(value).__name__


# ------------------------------------------------------------------------ layer flattening

@dataclass
class _Piece:
    """A leaf layer on its way to becoming a :class:`Layer`: float straight RGBA on the canvas."""

    name: str
    rgba: np.ndarray          # (h, w, 4) float32 in 0..1, straight alpha
    x: int
    y: int
    blend: object             # psd_tools BlendMode

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        h, w = self.rgba.shape[:2]
        return self.x, self.y, self.x + w, self.y + h


class _Flattener:
    """Walks the layer tree bottom to top and returns the leaf pieces in drawing order."""

    def __init__(self, psd, header: _Header, report: _Report, file_name: str,
                 progress: bool) -> None:
        self.psd = psd
        self.header = header
        self.report = report
        self.file_name = file_name
        self.progress = progress
        self._bar = None

    def run(self) -> list[_Piece]:
        total = sum(1 for layer in self.psd.descendants() if not layer.is_group())
        with tqdm(total=total, disable=not self.progress or total == 0, unit="layer",
                  desc=f"reading {self.file_name}", leave=False, file=sys.stderr) as bar:
            self._bar = bar
            return self._group(self.psd, ())

    # A clip base is what the clipped layers directly above it paint onto: the pieces of a
    # pixel layer (one) or of a group (all its leaves); SKIPPED when the base is hidden or not
    # imported, so its clipped layers go too (as in Photoshop, where they clip to nothing). A
    # clipped layer at the bottom of a group has no base and is drawn as a normal layer.
    _SKIPPED = object()

    def _group(self, group, path: tuple[str, ...]) -> list[_Piece]:
        out: list[_Piece] = []
        base: object | list[_Piece] | None = None
        for child in group:
            name = "/".join(path + (_component(child.name),))
            clipped = bool(child.clipping) and base is not None
            if not child.visible:
                self.report.hidden.append(_describe(child, name))
                self._advance(child)
                if not clipped:
                    base = self._SKIPPED
                continue
            is_fill = isinstance(child, FillLayer) and not isinstance(child, ShapeLayer)
            if isinstance(child, AdjustmentLayer) or is_fill:
                (self.report.fills if is_fill else self.report.adjustments).append(
                    f"{name} ({_kind_name(child)})")
                self._advance(child)
                if not clipped:
                    base = self._SKIPPED
                continue
            if child.is_group():
                pieces = self._group(child, path + (_component(child.name),))
                self._apply_group_settings(child, name, pieces)
                if child.blend_mode not in (BlendMode.NORMAL, BlendMode.PASS_THROUGH):
                    self.report.group_modes.append(f"{name} ({_mode_name(child.blend_mode)})")
            else:
                pieces = self._leaf(child, name)
                self._advance(child)
            if clipped:
                if base is self._SKIPPED or not base:
                    self.report.orphan_clips.extend(p.name for p in pieces)
                    continue
                for piece in pieces:
                    for target in base:  # type: ignore[union-attr]
                        _paint_clipped(target, piece, self.report)
            else:
                base = pieces
                out.extend(pieces)
        return out

    def _advance(self, layer) -> None:
        if self._bar is not None:
            count = 1 if not layer.is_group() else sum(1 for d in layer.descendants()
                                                       if not d.is_group())
            self._bar.update(count)

    def _leaf(self, layer, name: str) -> list[_Piece]:
        w, h = layer.width, layer.height
        if w > 3 * MAX_SIDE or h > 3 * MAX_SIDE or w * h > MAX_PIXELS:
            raise InputError(f"{self.file_name}: layer {name!r} declares {w}x{h} pixels, more "
                             f"than this tool accepts; the file may be damaged")
        if not layer.has_pixels() or w <= 0 or h <= 0:
            if isinstance(layer, (ShapeLayer, SmartObjectLayer, TypeLayer)):
                self.report.no_pixels.append(name)
            else:
                self.report.empty.append(name)
            return []
        rgba = self._pixels(layer, name)
        piece = _Piece(name, rgba, layer.left, layer.top, layer.blend_mode)
        piece = _crop_to_canvas(piece, self.header.width, self.header.height)
        if piece is None:
            self.report.empty.append(name)
            return []
        # A shape layer's stored pixels are already cut out by its vector mask.
        _apply_masks(layer, [piece], self, vector=not isinstance(layer, ShapeLayer))
        alpha_scale = (layer.opacity / 255.0) * (layer.fill_opacity / 255.0)
        if alpha_scale < 1.0:
            piece.rgba[..., 3] *= alpha_scale
        if layer.has_effects():
            self.report.effects.append(name)
        return [piece]

    def _pixels(self, layer, name: str) -> np.ndarray:
        try:
            return _layer_rgba(layer, self.header)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{self.file_name}: cannot decode the pixels of layer {name!r} "
                             f"({_one_line(exc)}); the file is damaged: save it again from "
                             f"your editor") from None

    def _apply_group_settings(self, group, name: str, pieces: list[_Piece]) -> None:
        """Group masks and group opacity go into every leaf of the group."""
        if not pieces:
            return
        _apply_masks(group, pieces, self, vector=True)
        if group.opacity < 255:
            scale = group.opacity / 255.0
            for piece in pieces:
                piece.rgba[..., 3] *= scale


def _component(name: str | None) -> str:
    """One path component: a '/' inside a layer name must not read as a group separator."""
    text = (name or "").replace("/", "\uff0f").strip()
    return text or "unnamed"


def _describe(layer, name: str) -> str:
    if layer.is_group():
        count = sum(1 for d in layer.descendants() if not d.is_group())
        return f"{name} (group, {count} layer{'' if count == 1 else 's'})"
    return name


def _kind_name(layer) -> str:
    names = {"solidcolorfill": "solid color fill", "gradientfill": "gradient fill",
             "patternfill": "pattern fill", "huesaturation": "hue/saturation",
             "brightnesscontrast": "brightness/contrast", "colorbalance": "color balance",
             "blackandwhite": "black & white", "photofilter": "photo filter",
             "channelmixer": "channel mixer", "colorlookup": "color lookup",
             "selectivecolor": "selective color", "gradientmap": "gradient map"}
    return names.get(layer.kind, layer.kind)


def _mode_name(mode) -> str:
    return mode.name.lower().replace("_", " ")


def _crop_to_canvas(piece: _Piece, width: int, height: int) -> _Piece | None:
    x0, y0, x1, y1 = piece.bbox
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    if (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1):
        piece.rgba = piece.rgba[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        piece.x, piece.y = cx0, cy0
    return piece


# ----------------------------------------------------------------------------------- pixels

def _layer_rgba(layer, header: _Header) -> np.ndarray:
    """The layer's stored pixels as float32 straight RGBA in 0..1, colours converted to sRGB."""
    if header.mode == _LAB or header.depth == 32:
        colour = layer.numpy("color")
        rgb = _lab_to_srgb(colour) if header.mode == _LAB else _linear_to_srgb_rgb(colour)
    else:
        # topil applies the file's ICC profile (CMYK, gray gamma, Adobe RGB ... -> sRGB).
        image = layer.topil(apply_icc=header.mode != _INDEXED)
        rgb = _pil_rgb(image)
    alpha = layer.numpy("shape")
    out = np.empty(rgb.shape[:2] + (4,), np.float32)
    out[..., :3] = rgb
    out[..., 3] = 1.0 if alpha is None else alpha[..., 0]
    return out


def _pil_rgb(image) -> np.ndarray:
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.float32)[..., :3] / 255.0


def _linear_to_srgb(values: np.ndarray) -> np.ndarray:
    v = np.clip(values, 0.0, 1.0)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(v, 1.0 / 2.4) - 0.055)


def _linear_to_srgb_rgb(colour: np.ndarray) -> np.ndarray:
    """32-bit documents hold linear light; grayscale ones one channel of it."""
    rgb = _linear_to_srgb(colour.astype(np.float32))
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    return rgb[..., :3].astype(np.float32)


# CIE Lab (D50, as Photoshop stores it) -> XYZ -> linear sRGB with the Bradford-adapted matrix.
_D50_WHITE = np.array([0.96422, 1.0, 0.82521], np.float32)
_XYZ_D50_TO_LINEAR_SRGB = np.array([
    [3.1338561, -1.6168667, -0.4906146],
    [-0.9787684, 1.9161415, 0.0334540],
    [0.0719453, -0.2289914, 1.4052427],
], np.float32)


def _lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """Photoshop Lab channels in 0..1 (L* scaled, a*/b* offset by 128) -> sRGB in 0..1."""
    lightness = lab[..., 0] * 100.0
    a = lab[..., 1] * 255.0 - 128.0
    b = lab[..., 2] * 255.0 - 128.0
    fy = (lightness + 16.0) / 116.0
    f = np.stack([fy + a / 500.0, fy, fy - b / 200.0], axis=-1)
    epsilon, kappa = 216.0 / 24389.0, 24389.0 / 27.0
    xyz = np.where(f ** 3 > epsilon, f ** 3, (116.0 * f - 16.0) / kappa) * _D50_WHITE
    linear = xyz @ _XYZ_D50_TO_LINEAR_SRGB.T
    return _linear_to_srgb(linear).astype(np.float32)


# ------------------------------------------------------------------------------------ masks

@dataclass
class _Mask:
    """Mask values over a canvas rectangle; ``outside`` holds everywhere else."""

    x: int
    y: int
    values: np.ndarray        # (h, w) float32 in 0..1
    outside: float

    def over(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        out = np.full((y1 - y0, x1 - x0), self.outside, np.float32)
        h, w = self.values.shape
        ix0, iy0 = max(x0, self.x), max(y0, self.y)
        ix1, iy1 = min(x1, self.x + w), min(y1, self.y + h)
        if ix1 > ix0 and iy1 > iy0:
            out[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = \
                self.values[iy0 - self.y:iy1 - self.y, ix0 - self.x:ix1 - self.x]
        return out


def _apply_masks(layer, pieces: list[_Piece], flattener: _Flattener, *, vector: bool) -> None:
    """Multiply the layer's (or group's) pixel mask and vector mask into the pieces' alpha."""
    masks = _pixel_masks(layer, flattener, vector=vector)
    for piece in pieces:
        x0, y0, x1, y1 = piece.bbox
        for mask in masks:
            piece.rgba[..., 3] *= mask.over(x0, y0, x1, y1)
        if vector and not _masks_include_vector(layer) and _has_live_vector_mask(layer):
            rendered = _draw_vector_mask(layer, piece.bbox, flattener)
            if rendered is not None:
                piece.rgba[..., 3] *= rendered


def _masks_include_vector(layer) -> bool:
    """Photoshop stores a rendering of the vector mask in the user-mask channel (flag bit 3)."""
    mask = layer.mask
    return mask is not None and bool(mask.data.flags.user_mask_from_render)


def _has_live_vector_mask(layer) -> bool:
    return layer.has_vector_mask() and not layer.vector_mask.disabled


def _pixel_masks(layer, flattener: _Flattener, *, vector: bool) -> list[_Mask]:
    """The pixel masks to apply, from the layer's mask channels.

    Channel -2 is the user's mask, or (flag bit 3) Photoshop's rendering of the vector mask;
    with both a user mask and a vector mask, channel -3 ("real") is the user's mask.
    """
    mask = layer.mask
    if mask is None:
        return []
    data = mask.data
    out = []
    rendered_vector = bool(data.flags.user_mask_from_render)
    if not rendered_vector or (vector and _has_live_vector_mask(layer)):
        if not data.flags.mask_disabled:
            out.append(_read_mask(layer, ChannelID.USER_LAYER_MASK,
                                  (data.left, data.top, data.right, data.bottom),
                                  data.background_color,
                                  "vector" if rendered_vector else "user", flattener))
    real_flags = data.real_flags
    if rendered_vector and real_flags is not None and not real_flags.mask_disabled \
            and data.real_left is not None:
        background = data.real_background_color
        out.append(_read_mask(layer, ChannelID.REAL_USER_LAYER_MASK,
                              (data.real_left, data.real_top, data.real_right, data.real_bottom),
                              data.background_color if background is None else background,
                              "user", flattener))
    return out


def _read_mask(layer, channel: ChannelID, bbox: tuple[int, int, int, int], background: int,
               kind: str, flattener: _Flattener) -> _Mask:
    """One mask channel over its box; ``kind`` ('user' or 'vector') picks its parameters."""
    x0, y0, x1, y1 = bbox
    outside = background / 255.0
    values = np.zeros((0, 0), np.float32)
    if x1 > x0 and y1 > y0:
        try:
            image = layer.topil(channel)
        except Exception as exc:
            image, problem = None, _one_line(exc)
        else:
            problem = "no data" if image is None else None
        if image is not None:
            values = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
            if values.shape != (y1 - y0, x1 - x0):
                h, w = values.shape
                problem = f"{w}x{h} pixels for a {x1 - x0}x{y1 - y0} box"
        if problem:
            raise InputError(f"{flattener.file_name}: cannot decode the mask of layer "
                             f"{layer.name!r} ({problem}); the file is damaged: save it again "
                             f"from your editor")
    parameters = layer.mask.parameters
    density = getattr(parameters, f"{kind}_mask_density", None)
    if density is not None and density < 255:
        # A mask at density d lets (1 - d) through where it is black.
        d = density / 255.0
        values = 1.0 - d * (1.0 - values)
        outside = 1.0 - d * (1.0 - outside)
    if getattr(parameters, f"{kind}_mask_feather", None):
        flattener.report.notes.append(f"the {kind} mask feather of layer {layer.name!r} is not "
                                      f"applied (apply the mask in your editor for an exact edge)")
    return _Mask(x0, y0, values.astype(np.float32), float(outside))


def _draw_vector_mask(layer, bbox: tuple[int, int, int, int],
                      flattener: _Flattener) -> np.ndarray | None:
    """Rasterise a vector mask that the file stores no rendering of (psd-tools' rasteriser)."""
    from psd_tools.composite.vector import draw_vector_mask
    try:
        values = np.asarray(draw_vector_mask(layer, bbox), dtype=np.float32)
    except Exception as exc:
        flattener.report.notes.append(f"vector mask of layer {layer.name!r} could not be "
                                      f"applied ({_one_line(exc)})")
        return None
    if values.ndim == 3:
        values = values[..., 0]
    x0, y0, x1, y1 = bbox
    if values.shape != (y1 - y0, x1 - x0):
        flattener.report.notes.append(f"vector mask of layer {layer.name!r} could not be applied")
        return None
    return np.clip(values, 0.0, 1.0)


# ------------------------------------------------------------------------------ blend modes
# Separable modes on straight colours in 0..1: b = backdrop (the clip base), s = source.

def _colour_dodge(b: np.ndarray, s: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.minimum(1.0, b / np.maximum(1.0 - s, 1e-12))
    return np.where(b <= 0.0, 0.0, np.where(s >= 1.0, 1.0, out))


def _colour_burn(b: np.ndarray, s: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1.0 - np.minimum(1.0, (1.0 - b) / np.maximum(s, 1e-12))
    return np.where(b >= 1.0, 1.0, np.where(s <= 0.0, 0.0, out))


def _hard_light(b: np.ndarray, s: np.ndarray) -> np.ndarray:
    return np.where(s <= 0.5, b * 2.0 * s, 1.0 - (1.0 - b) * (1.0 - (2.0 * s - 1.0)))


def _soft_light(b: np.ndarray, s: np.ndarray) -> np.ndarray:
    d = np.where(b <= 0.25, ((16.0 * b - 12.0) * b + 4.0) * b, np.sqrt(b))
    return np.where(s <= 0.5, b - (1.0 - 2.0 * s) * b * (1.0 - b), b + (2.0 * s - 1.0) * (d - b))


def _vivid_light(b: np.ndarray, s: np.ndarray) -> np.ndarray:
    return np.where(s <= 0.5, _colour_burn(b, 2.0 * s), _colour_dodge(b, 2.0 * s - 1.0))


def _pin_light(b: np.ndarray, s: np.ndarray) -> np.ndarray:
    return np.where(s <= 0.5, np.minimum(b, 2.0 * s), np.maximum(b, 2.0 * s - 1.0))


def _divide(b: np.ndarray, s: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.minimum(1.0, b / np.maximum(s, 1e-12))
    return np.where(s <= 0.0, np.where(b <= 0.0, 0.0, 1.0), out)


# Non-separable modes (hue, saturation, color, luminosity) work on luminosity and saturation.
def _lum(c: np.ndarray) -> np.ndarray:
    return c[..., 0:1] * 0.3 + c[..., 1:2] * 0.59 + c[..., 2:3] * 0.11


def _clip_colour(c: np.ndarray) -> np.ndarray:
    lum = _lum(c)
    lo = c.min(axis=-1, keepdims=True)
    hi = c.max(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(lo < 0.0, lum + (c - lum) * lum / np.maximum(lum - lo, 1e-12), c)
        c = np.where(hi > 1.0, lum + (c - lum) * (1.0 - lum) / np.maximum(hi - lum, 1e-12), c)
    return c


def _set_lum(c: np.ndarray, lum: np.ndarray) -> np.ndarray:
    return _clip_colour(c + (lum - _lum(c)))


def _sat(c: np.ndarray) -> np.ndarray:
    return c.max(axis=-1, keepdims=True) - c.min(axis=-1, keepdims=True)


def _set_sat(c: np.ndarray, sat: np.ndarray) -> np.ndarray:
    lo = c.min(axis=-1, keepdims=True)
    span = c.max(axis=-1, keepdims=True) - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(span > 1e-12, (c - lo) * sat / np.maximum(span, 1e-12), 0.0)
    return scaled


_BLEND_FUNCTIONS = {
    BlendMode.NORMAL: lambda b, s: s,
    BlendMode.MULTIPLY: lambda b, s: b * s,
    BlendMode.SCREEN: lambda b, s: b + s - b * s,
    BlendMode.OVERLAY: lambda b, s: _hard_light(s, b),
    BlendMode.DARKEN: np.minimum,
    BlendMode.LIGHTEN: np.maximum,
    BlendMode.COLOR_DODGE: _colour_dodge,
    BlendMode.COLOR_BURN: _colour_burn,
    BlendMode.LINEAR_DODGE: lambda b, s: np.minimum(1.0, b + s),
    BlendMode.LINEAR_BURN: lambda b, s: np.maximum(0.0, b + s - 1.0),
    BlendMode.HARD_LIGHT: _hard_light,
    BlendMode.SOFT_LIGHT: _soft_light,
    BlendMode.VIVID_LIGHT: _vivid_light,
    BlendMode.LINEAR_LIGHT: lambda b, s: np.clip(b + 2.0 * s - 1.0, 0.0, 1.0),
    BlendMode.PIN_LIGHT: _pin_light,
    BlendMode.HARD_MIX: lambda b, s: (b + s >= 1.0).astype(np.float32),
    BlendMode.DIFFERENCE: lambda b, s: np.abs(b - s),
    BlendMode.EXCLUSION: lambda b, s: b + s - 2.0 * b * s,
    BlendMode.SUBTRACT: lambda b, s: np.maximum(0.0, b - s),
    BlendMode.DIVIDE: _divide,
    BlendMode.HUE: lambda b, s: _set_lum(_set_sat(s, _sat(b)), _lum(b)),
    BlendMode.SATURATION: lambda b, s: _set_lum(_set_sat(b, _sat(s)), _lum(b)),
    BlendMode.COLOR: lambda b, s: _set_lum(s, _lum(b)),
    BlendMode.LUMINOSITY: lambda b, s: _set_lum(b, _lum(s)),
    BlendMode.DARKER_COLOR: lambda b, s: np.where(_lum(s) < _lum(b), s, b),
    BlendMode.LIGHTER_COLOR: lambda b, s: np.where(_lum(s) > _lum(b), s, b),
}


def blend(mode: BlendMode, backdrop: np.ndarray, source: np.ndarray) -> np.ndarray | None:
    """B(backdrop, source) for a Photoshop blend mode on straight RGB in 0..1.

    None for a mode with no formula here (dissolve). Colours are (..., 3) arrays.
    """
    func = _BLEND_FUNCTIONS.get(mode)
    if func is None:
        return None
    return np.clip(func(backdrop, source), 0.0, 1.0).astype(np.float32)


def _paint_clipped(base: _Piece, clip: _Piece, report: _Report) -> None:
    """Paint a clipped layer onto its base, in place: the base's alpha is the limit.

    Within the base, the clip group is opaque backdrop, so with source alpha a the colour
    becomes (1 - a) * Cb + a * B(Cb, Cs); the base's alpha is unchanged.
    """
    bx0, by0, bx1, by1 = base.bbox
    cx0, cy0, cx1, cy1 = clip.bbox
    x0, y0, x1, y1 = max(bx0, cx0), max(by0, cy0), min(bx1, cx1), min(by1, cy1)
    if x1 <= x0 or y1 <= y0:
        return
    dst = base.rgba[y0 - base.y:y1 - base.y, x0 - base.x:x1 - base.x]
    src = clip.rgba[y0 - clip.y:y1 - clip.y, x0 - clip.x:x1 - clip.x]
    backdrop, colour, alpha = dst[..., :3], src[..., :3], src[..., 3:4]
    blended = blend(clip.blend, backdrop, colour)
    if blended is None:
        entry = f"{clip.name} ({_mode_name(clip.blend)}, clipped)"
        if entry not in report.unhonoured_modes:
            report.unhonoured_modes.append(entry)
        blended = colour
    dst[..., :3] = backdrop + alpha * (blended - backdrop)


# ---------------------------------------------------------------------------- to Character

def _to_layers(pieces: list[_Piece], report: _Report) -> list[Layer]:
    layers: list[Layer] = []
    seen: set[str] = set()
    for piece in pieces:
        rgba = np.clip(piece.rgba * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)
        parsed = taxonomy.parse_name(piece.name)
        layer = Layer(name=piece.name, rgba=rgba, offset=(piece.x, piece.y), tag=parsed.tag,
                      side=parsed.side, stratum=parsed.stratum, group=parsed.group,
                      variant=parsed.variant).cropped()
        if layer.empty:
            report.empty.append(piece.name)
            continue
        if piece.blend not in (BlendMode.NORMAL, BlendMode.PASS_THROUGH):
            report.unhonoured_modes.append(f"{piece.name} ({_mode_name(piece.blend)})")
        if not parsed.known:
            report.unknown.append(piece.name)
        if piece.name in seen and piece.name not in report.duplicates:
            report.duplicates.append(piece.name)
        seen.add(piece.name)
        layers.append(layer)
    return layers


def _merged_image_layer(path: Path, psd, header: _Header, report: _Report) -> Layer:
    """A file with no usable layers: its merged (flattened) image becomes the one layer."""
    name = path.stem or "image"
    leaves = [layer for layer in psd.descendants() if not layer.is_group()]
    if leaves and not any(layer.is_visible() for layer in leaves):
        raise InputError(f"{path.name}: nothing to import: every layer is hidden; show the layers "
                         f"to import in your editor")
    why = "it has no layers" if not leaves else "none of its layers could be used"
    details = "" if not leaves else f" ({'; '.join(report.warnings())})"
    if not psd.has_preview():
        raise InputError(f"{path.name}: nothing to import: {why}{details} and the file stores no "
                         f"merged image; save it with visible, non-empty pixel layers")
    try:
        rgba = _merged_rgba(psd, header)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path.name}: cannot decode the merged image ({_one_line(exc)}); the "
                         f"file is damaged: save it again from your editor") from None
    rgba8 = np.clip(rgba * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)
    layer = Layer(name=name, rgba=rgba8, offset=(0, 0), tag="objects").cropped()
    if layer.empty:
        raise InputError(f"{path.name}: nothing to import: {why}{details} and the merged image "
                         f"has no visible pixels")
    report.notes.insert(0, f"{why}; imported the file's merged image as one layer {name!r} "
                           f"(tag 'objects')")
    return layer


def _merged_rgba(psd, header: _Header) -> np.ndarray:
    n = _COLOUR_CHANNELS[header.mode]
    if header.mode == _LAB or header.depth == 32:
        array = psd.numpy()
        colour = array[..., :3] if header.mode == _LAB else array[..., :n]
        rgb = _lab_to_srgb(colour) if header.mode == _LAB else _linear_to_srgb_rgb(colour)
        alpha = array[..., n] if has_transparency(psd) and array.shape[2] > n else None
    else:
        image = psd.topil(apply_icc=header.mode != _INDEXED)
        rgb = _pil_rgb(image)
        alpha = None
        if image.mode in ("RGBA", "LA"):
            alpha = np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0
    out = np.empty(rgb.shape[:2] + (4,), np.float32)
    out[..., :3] = rgb
    out[..., 3] = 1.0 if alpha is None else alpha
    return out


# --------------------------------------------------------------------------- side convention

def _flip(side: str | None) -> str | None:
    return {"l": "r", "r": "l"}.get(side, side) if side else side


def _centroid_x(layer: Layer) -> float | None:
    alpha = layer.alpha.astype(np.float64)
    total = alpha.sum()
    if total <= 0:
        return None
    return layer.offset[0] + float((alpha.sum(axis=0) * np.arange(layer.width)).sum() / total)


def _detect_side_convention(layers: list[Layer]) -> str:
    """'image' when, for most left/right pairs, the '-l' part sits on the image's left.

    In the character convention the character's left eye is drawn on the image's right, so
    the '-l' layer's centroid lies right of its '-r' partner.
    """
    sides: dict[tuple, dict[str, list[float]]] = {}
    for layer in layers:
        if layer.side is None:
            continue
        x = _centroid_x(layer)
        if x is None:
            continue
        key = (layer.tag, layer.stratum, layer.group, layer.variant)
        sides.setdefault(key, {"l": [], "r": []})[layer.side].append(x)
    image_votes = character_votes = 0
    for pair in sides.values():
        if not pair["l"] or not pair["r"]:
            continue
        left_x, right_x = float(np.mean(pair["l"])), float(np.mean(pair["r"]))
        if left_x < right_x:
            image_votes += 1
        elif left_x > right_x:
            character_votes += 1
    return "image" if image_votes > character_votes else "character"


# ---------------------------------------------------------------------------------- sidecars

class _SidecarError(Exception):
    """A sidecar file that cannot be used; reported as a warning, never fatal."""


def _sidecar_paths(path: Path) -> tuple[Path, Path]:
    """``char.psd`` -> ``char_depth.psd`` and ``char.psd.json`` (a .psb may pair with either)."""
    depth = path.with_name(path.stem + "_depth" + path.suffix)
    if not depth.is_file():
        depth = path.with_name(path.stem + "_depth.psd")
    return depth, path.with_name(path.name + ".json")


def _attach_sidecar_depth(path: Path, layers: list[Layer], header: _Header,
                          warnings_out: list[str]) -> None:
    """Give layers See-through's depth: per-pixel from ``_depth.psd``, else the json median."""
    depth_path, json_path = _sidecar_paths(path)
    depth_list: list[tuple[str, int, int, np.ndarray]] = []
    if depth_path.is_file():
        try:
            depth_list = _read_depth_psd(depth_path, header)
        except (InputError, _SidecarError) as exc:
            warnings_out.append(f"depth sidecar {depth_path.name} ignored: {exc}")
    medians: dict[str, float] = {}
    if json_path.is_file():
        try:
            medians = _read_depth_medians(json_path, header, warnings_out)
        except _SidecarError as exc:
            warnings_out.append(f"sidecar {json_path.name} ignored: {exc}")

    # Our writer (and See-through) keeps the depth file's layers in the main file's order: match
    # by position when the names line up, so duplicate names still get their own depth.
    depth_maps = {name: (x, y, v) for name, x, y, v in reversed(depth_list)}
    by_position = [name for name, *_ in depth_list] == [layer.name for layer in layers]
    leaf_names: dict[str, list[str]] = {}
    for name in depth_maps:
        leaf_names.setdefault(name.rsplit("/", 1)[-1], []).append(name)
    for i, layer in enumerate(layers):
        depth = None
        if by_position:
            depth = _depth_for(layer, *depth_list[i][1:])
        else:
            key = layer.name if layer.name in depth_maps else None
            if key is None:
                candidates = leaf_names.get(layer.name.rsplit("/", 1)[-1], [])
                key = candidates[0] if len(candidates) == 1 else None
            if key is not None:
                depth = _depth_for(layer, *depth_maps[key])
        if depth is None and layer.name in medians:
            depth = np.full(layer.rgba.shape[:2], medians[layer.name], np.float32)
        if depth is not None:
            layers[i] = replace(layer, depth=depth)
    missing = [layer.name for layer in layers if layer.depth is None]
    if (depth_maps or medians) and missing:
        warnings_out.append(f"{_count(missing, 'layer')} without depth in the See-through "
                            f"sidecars: {_names(missing)}")


def _depth_for(layer: Layer, x: int, y: int, values: np.ndarray) -> np.ndarray:
    """The depth map over the layer's pixels: the sidecar's values, 1.0 (far) outside them."""
    out = np.ones(layer.rgba.shape[:2], np.float32)
    lx0, ly0, lx1, ly1 = layer.bbox
    h, w = values.shape
    x0, y0, x1, y1 = max(lx0, x), max(ly0, y), min(lx1, x + w), min(ly1, y + h)
    if x1 > x0 and y1 > y0:
        region = values[y0 - y:y1 - y, x0 - x:x1 - x]
        out[y0 - ly0:y1 - ly0, x0 - lx0:x1 - lx0] = np.where(np.isnan(region), 1.0, region)
    return out


def _read_depth_psd(path: Path, header: _Header) -> list[tuple[str, int, int, np.ndarray]]:
    """(layer name, x, y, depth values with NaN where the depth layer is transparent), bottom
    layer first."""
    depth_header = _read_header(path)
    if (depth_header.width, depth_header.height) != (header.width, header.height):
        raise _SidecarError(f"its canvas is {depth_header.width}x{depth_header.height}, the "
                           f"character's is {header.width}x{header.height}")
    out: list[tuple[str, int, int, np.ndarray]] = []
    with _psd_tools_quiet():
        psd = _open(path)
        try:
            for name, layer in _leaves(psd, ()):
                if not layer.has_pixels() or layer.width <= 0 or layer.height <= 0:
                    continue
                colour = layer.numpy("color")
                # The raw stored value is the depth: no colour management on data.
                values = colour[..., 0].astype(np.float32)
                alpha = layer.numpy("shape")
                if alpha is not None:
                    values = np.where(alpha[..., 0] > 0, values, np.nan).astype(np.float32)
                out.append((name, layer.left, layer.top, values))
        except Exception as exc:
            raise _SidecarError(f"cannot decode it ({_one_line(exc)})") from None
    return out


def _leaves(group, path: tuple[str, ...]) -> Iterator[tuple[str, object]]:
    for child in group:
        component = _component(child.name)
        if child.is_group():
            yield from _leaves(child, path + (component,))
        else:
            yield "/".join(path + (component,)), child


def _read_depth_medians(path: Path, header: _Header, warnings_out: list[str]) -> dict[str, float]:
    """See-through's ``.psd.json``: part name -> its median depth (0 near .. 1 far)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _SidecarError(f"not readable JSON ({_one_line(exc)})") from None
    except RecursionError:
        raise _SidecarError("not readable JSON (nested too deeply)") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("parts"), dict):
        raise _SidecarError("it has no 'parts' object")
    frame = doc.get("frame_size")
    if (isinstance(frame, list) and len(frame) == 2
            and all(isinstance(v, (int, float)) for v in frame)
            and (int(frame[0]), int(frame[1])) != (header.height, header.width)):
        warnings_out.append(f"sidecar {path.name}: frame_size {frame[0]}x{frame[1]} (HxW) differs "
                            f"from the canvas {header.height}x{header.width}")
    medians: dict[str, float] = {}
    bad: list[str] = []
    for name, entry in doc["parts"].items():
        median = entry.get("depth_median") if isinstance(entry, dict) else "not an object"
        if median is None:
            continue
        if isinstance(median, (int, float)) and not isinstance(median, bool) \
                and math.isfinite(median) and 0.0 <= median <= 1.0:
            medians[str(name)] = float(median)
        else:
            bad.append(str(name))
    if bad:
        warnings_out.append(f"sidecar {path.name}: unusable entries ignored (depth_median must be "
                            f"a number in 0..1): {_names(bad)}")
    return medians
