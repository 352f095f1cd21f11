"""PSD/PSB export in the See-through convention: our own writer, built on Adobe's public spec.

``write_psd(char, "char.psd")`` writes up to three files:

- ``char.psd``: 8-bit RGB. One pixel layer per :class:`Layer`, bottom layer first (as Photoshop
  stores them), each at its canvas offset, normal blend, opacity 255, visible, not clipped, with
  channels -1 (transparency), 0, 1, 2. Names go in both the Pascal field (ASCII stand-in) and the
  ``luni`` block (full Unicode). The merged image section holds ``Character.composite()`` so viewers
  that read only the composite show the picture.
- ``char_depth.psd``: 8-bit grayscale, the same layers (names, order, offsets) holding
  ``round(depth * 255)``; layers without depth hold 255 (far).
- ``char.psd.json``: ``{"parts": {name: {"tag", "xyxy", "depth_median"?}}, "frame_size": [H, W]}``.

The two sidecars are written only when some layer has depth (See-through's convention).

Choices the spec leaves to the writer, fixed here so readers can rely on them:

- Layers are stored trimmed to their visible pixels (as Photoshop itself stores them); a layer with
  no visible pixel becomes a valid empty (0x0) layer at its offset.
- Offsets may be negative or reach past the canvas: layers keep every pixel, as PSD allows.
- Colour under alpha 0 is written as 0 (black): it is invisible, and zeros compress best.
- The merged image is matted on white, as Photoshop writes it for transparent documents
  (stored = colour * a + 255 * (1 - a)), with the transparency as a fourth channel and a negative
  layer count, the spec's flag for "the merged image carries transparency".
- PSB ("version 2") is written when the path ends in .psb, when the canvas or a layer exceeds
  30000 px on a side, or when the layer data outgrows the PSD's 4-byte lengths.
- Sidecars are named ``<stem>_depth<suffix>`` and ``<name>.json`` (see :func:`sidecar_paths`) and
  written when some layer has depth; sidecars left from an earlier export are removed when the new
  character has none, so a file and its sidecars never disagree.
- Duplicate layer names are kept in the PSDs; in the json (a dict keyed by name) same-named
  layers share one entry: the tag of the first, the union of their boxes, the median over all
  their visible depth pixels.
"""
from __future__ import annotations

import json
import os
import struct
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from . import taxonomy
from .character import Character, InputError, Layer
from .outputs import atomic_group

PSD_MAX_SIDE = 30_000     # PSD (version 1) limit on canvas width/height
PSB_MAX_SIDE = 300_000    # PSB (version 2) limit
MAX_LAYERS = 32_767       # the layer count is a signed 16-bit field
COMPRESSIONS = ("rle", "raw")

_RAW, _RLE = 0, 1
_MODE_GRAYSCALE, _MODE_RGB = 1, 3
_INT32 = (-(2 ** 31), 2 ** 31 - 1)
_U32_MAX = 2 ** 32 - 1
# Layer flags: bit 3 says bit 4 is meaningful (0: pixel data matters); bit 1 clear: visible.
_LAYER_FLAGS = 0x08
# "Blend if" ranges, all fully open (0..255 source and destination) for composite gray and four
# channels: the 40 bytes Photoshop itself writes for RGB and grayscale layers alike.
_BLENDING_RANGES = struct.pack(">I", 40) + b"\x00\x00\xff\xff" * 10
# Resolution info (resource 1005): 72 dpi both ways, so print size comes out sane everywhere.
_RESOLUTION = struct.pack(">IHHIHH", 72 << 16, 1, 1, 72 << 16, 1, 1)
# PackBits packets carry at most 128 bytes; runs shorter than 3 are cheaper left in literals.
_PACKET_MAX = 128
_MIN_REPEAT = 3
# Bytes per vectorised PackBits pass: bounds temporary memory on huge layers.
_PACKBITS_BLOCK = 1 << 20


# --------------------------------------------------------------------------- public API

def write_psd(character: Character, path: str | os.PathLike, *, sidecars: bool = True,
              compression: str = "rle", extra: dict[Path, bytes] | None = None) -> None:
    """Write ``character`` as a layered PSD (PSB when needed), plus See-through sidecars.

    With ``sidecars`` (default) and any layer carrying depth, also writes ``<stem>_depth<suffix>``
    (:func:`write_depth_psd`) and ``<name>.json`` (:func:`seethrough_json`); without depth, sidecars
    left by an earlier export are removed so they cannot describe the wrong layers. Every file is
    written to a temporary file beside its target and renamed into place; on error nothing is left
    behind and existing files are untouched. ``extra``: more files (path -> bytes) that belong
    with the PSD and appear together with it. Bad input raises :class:`InputError`.
    """
    path = Path(path)
    _check_compression(compression)
    _check_target(path)
    layers = _prepared_layers(character)
    has_depth = any(layer.depth is not None for layer in character.layers)

    jobs: list[tuple[Path, Callable[[BinaryIO], None]]] = []
    depth_path, json_path = sidecar_paths(path)
    if sidecars and has_depth:
        _check_target(depth_path)
        _check_target(json_path)
        payload = _json_bytes(character, layers)
        jobs.append((json_path, lambda out: out.write(payload)))
        jobs.append((depth_path,
                     lambda out: _write_depth_document(out, character, layers, depth_path)))
    for extra_path, data in (extra or {}).items():
        _check_target(Path(extra_path))
        jobs.append((Path(extra_path), lambda out, data=data: out.write(data)))
    # The main file goes last: once it is in place, its sidecars are already fresh.
    jobs.append((path, lambda out: _write_rgb_document(out, character, layers, path, compression)))
    _write_atomically(jobs)
    if sidecars and not has_depth:
        _remove_stale(depth_path, json_path)


def write_depth_psd(character: Character, path: str | os.PathLike) -> None:
    """Write the See-through depth sidecar: grayscale layers holding ``round(depth * 255)``.

    Same layer names, order and offsets as :func:`write_psd` writes; a layer without depth holds
    255 (far). No transparency channel: every pixel of a layer's box carries a depth value.
    """
    path = Path(path)
    _check_target(path)
    layers = _prepared_layers(character)
    _write_atomically([(path, lambda out: _write_depth_document(out, character, layers, path))])


def seethrough_json(character: Character) -> dict:
    """The ``.psd.json`` payload: per-part tag, box and median depth, and the frame size.

    ``xyxy`` is the part's visible box on the canvas, x1/y1 exclusive (the box its PSD layer is
    stored at). ``depth_median`` is omitted for parts without depth.
    """
    return _json_payload(character, _prepared_layers(character))


def _json_payload(character: Character, stored: list[Layer]) -> dict:
    groups: dict[str, list[tuple[Layer, Layer]]] = {}
    for layer, trimmed in zip(character.layers, stored):
        groups.setdefault(layer.name, []).append((layer, trimmed))
    parts = {}
    for name, pairs in groups.items():
        same_named = [layer for layer, _ in pairs]
        boxes = [trimmed.bbox for _, trimmed in pairs]
        part: dict = {
            "tag": same_named[0].tag,
            "xyxy": [min(b[0] for b in boxes), min(b[1] for b in boxes),
                     max(b[2] for b in boxes), max(b[3] for b in boxes)],
        }
        median = _depth_median(same_named)
        if median is not None:
            part["depth_median"] = median
        parts[name] = part
    width, height = character.size
    return {"parts": parts, "frame_size": [height, width]}


def sidecar_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """(depth PSD, json) paths beside a main file.

    ``char.psd`` -> ``char_depth.psd``, ``char.psd.json``; ``char.psb`` -> ``char_depth.psb``,
    ``char.psb.json``.
    """
    path = Path(path)
    return path.with_name(f"{path.stem}_depth{path.suffix}"), path.with_name(path.name + ".json")


def packbits_rows(plane: np.ndarray) -> tuple[np.ndarray, bytes]:
    """PackBits-encode each row of a (h, w) uint8 plane separately, as PSD RLE channels need.

    Returns the per-row encoded byte counts (int64, shape (h,)) and the rows' packed bytes
    concatenated. Runs of 3+ equal bytes become repeat packets, everything else literal packets;
    no packet crosses a row or exceeds 128 bytes. Vectorised: no Python loop over pixels.
    """
    plane = np.asarray(plane)
    if plane.ndim != 2 or plane.dtype != np.uint8:
        raise ValueError(f"packbits_rows needs a (h, w) uint8 plane, got {plane.shape} "
                         f"{plane.dtype}")
    height, width = plane.shape
    counts = np.zeros(height, np.int64)
    if height == 0 or width == 0:
        return counts, b""
    rows_per_pass = max(1, _PACKBITS_BLOCK // width)
    pieces = []
    for y0 in range(0, height, rows_per_pass):
        block = np.ascontiguousarray(plane[y0:y0 + rows_per_pass])
        block_counts, block_bytes = _packbits_block(block)
        counts[y0:y0 + block_counts.size] = block_counts
        pieces.append(block_bytes)
    return counts, b"".join(pieces)


# --------------------------------------------------------------------------- PackBits

def _packbits_block(block: np.ndarray) -> tuple[np.ndarray, bytes]:
    # Works on byte masks rather than run lists: on noisy rows nearly every byte is its own
    # run, and boolean passes over the block are far cheaper than index arrays of that size.
    height, width = block.shape
    flat = block.reshape(-1)
    n = flat.size
    row_first = np.zeros(n, bool)
    row_first[::width] = True
    row_last = np.zeros(n, bool)
    row_last[width - 1::width] = True
    # same[i]: byte i+1 repeats byte i in the same row.
    same = np.zeros(n, bool)
    np.equal(flat[1:], flat[:-1], out=same[:-1])
    same &= ~row_last
    # A byte belongs to a repeat run (3+ equal bytes) iff some equal triple covers it.
    triple = np.zeros(n, bool)
    np.logical_and(same[:-1], same[1:], out=triple[:-1])
    in_repeat = triple.copy()
    in_repeat[1:] |= triple[:-1]
    in_repeat[2:] |= triple[:-2]
    run_first = np.ones(n, bool)
    run_first[1:] = ~same[:-1]
    rep_start = np.flatnonzero(in_repeat & run_first)
    rep_len = np.flatnonzero(in_repeat & ~same) + 1 - rep_start
    # Literal stretches: maximal spans of the other bytes inside one row.
    literal = ~in_repeat
    after_repeat = np.zeros(n, bool)
    after_repeat[1:] = in_repeat[:-1]
    before_repeat = np.zeros(n, bool)
    before_repeat[:-1] = in_repeat[1:]
    lit_start = np.flatnonzero(literal & (row_first | after_repeat))
    lit_len = np.flatnonzero(literal & (row_last | before_repeat)) + 1 - lit_start

    rep_start, rep_len = _split_packets(rep_start, rep_len)
    lit_start, lit_len = _split_packets(lit_start, lit_len)
    starts = np.concatenate([rep_start, lit_start])
    lengths = np.concatenate([rep_len, lit_len])
    is_repeat = np.concatenate([np.ones(rep_start.size, bool), np.zeros(lit_start.size, bool)])
    order = np.argsort(starts, kind="stable")
    starts, lengths, is_repeat = starts[order], lengths[order], is_repeat[order]

    out_size = np.where(is_repeat, 2, lengths + 1)
    out_off = np.cumsum(out_size) - out_size
    out = np.empty(int(out_size.sum()), np.uint8)
    # Header: n-1 announces n literal bytes; 1-n (as a signed byte) n repeats. A 1-byte "repeat"
    # thus reads as a 1-byte literal, which is the same thing.
    out[out_off] = np.where(is_repeat, (257 - lengths) & 0xFF, lengths - 1)
    # Payload, in data order: every literal byte and the first byte of each repeat packet.
    keep = literal
    keep[starts[is_repeat]] = True
    payload = np.ones(out.size, bool)
    payload[out_off] = False
    out[payload] = flat[keep]

    # Packets are in data order and every row has at least one, so rows are contiguous groups.
    row = starts // width
    first_in_row = np.flatnonzero(np.diff(row, prepend=-1))
    return np.add.reduceat(out_size, first_in_row).astype(np.int64), out.tobytes()


def _split_packets(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut each (start, length) span into consecutive pieces of at most 128 bytes."""
    pieces = (lengths + _PACKET_MAX - 1) // _PACKET_MAX
    owner = np.repeat(np.arange(starts.size), pieces)
    k = np.arange(owner.size) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    offset = k * _PACKET_MAX
    return starts[owner] + offset, np.minimum(_PACKET_MAX, lengths[owner] - offset)


# --------------------------------------------------------------------------- channels and layers

@dataclass(frozen=True)
class _Channel:
    id: int                    # -1 transparency, 0.. colour
    compression: int           # _RAW or _RLE
    row_counts: np.ndarray     # per-row packed sizes (RLE); empty for raw
    data: bytes

    def size(self, version: int) -> int:
        """Bytes in the file: compression flag, row byte counts (RLE), data."""
        return 2 + self.row_counts.size * _count_bytes(version) + len(self.data)

    def write(self, out: BinaryIO, version: int) -> None:
        out.write(struct.pack(">H", self.compression))
        if self.compression == _RLE:
            out.write(self.row_counts.astype(_count_dtype(version)).tobytes())
        out.write(self.data)


@dataclass(frozen=True)
class _Record:
    name: str
    rect: tuple[int, int, int, int]    # top, left, bottom, right
    channels: list[_Channel]


def _count_bytes(version: int) -> int:
    return 2 if version == 1 else 4


def _count_dtype(version: int) -> str:
    return ">u2" if version == 1 else ">u4"


def _encode_plane(channel_id: int, plane: np.ndarray, compression: str) -> _Channel:
    if plane.size == 0:
        return _Channel(channel_id, _RAW, np.zeros(0, np.int64), b"")
    if compression == "raw":
        data = np.ascontiguousarray(plane).tobytes()
        return _Channel(channel_id, _RAW, np.zeros(0, np.int64), data)
    counts, data = packbits_rows(plane)
    return _Channel(channel_id, _RLE, counts, data)


def _rect(layer: Layer) -> tuple[int, int, int, int]:
    x, y = layer.offset
    if layer.rgba.size == 0:
        return (y, x, y, x)
    return (y, x, y + layer.height, x + layer.width)


def _rgb_record(layer: Layer, compression: str) -> _Record:
    alpha = layer.rgba[..., 3]
    hidden = alpha == 0
    channels = [_encode_plane(-1, alpha, compression)]
    for k in range(3):
        # Colour under alpha 0 is invisible; zeros make it deterministic and compress best.
        plane = layer.rgba[..., k]
        if hidden.any():
            plane = np.where(hidden, np.uint8(0), plane)
        channels.append(_encode_plane(k, plane, compression))
    return _Record(layer.name, _rect(layer), channels)


def _depth_plane(layer: Layer) -> np.ndarray:
    if layer.depth is None:
        return np.full(layer.rgba.shape[:2], 255, np.uint8)
    # round(depth * 255), halves up, in float64 so float32 error cannot move a value across a half.
    depth = np.clip(layer.depth.astype(np.float64), 0.0, 1.0)
    return np.floor(depth * 255.0 + 0.5).astype(np.uint8)


def _depth_record(layer: Layer, compression: str) -> _Record:
    return _Record(layer.name, _rect(layer), [_encode_plane(0, _depth_plane(layer), compression)])


def _layer_record_bytes(record: _Record, version: int) -> bytes:
    top, left, bottom, right = record.rect
    head = [struct.pack(">iiiiH", top, left, bottom, right, len(record.channels))]
    length_fmt = ">hI" if version == 1 else ">hQ"
    head += [struct.pack(length_fmt, ch.id, ch.size(version)) for ch in record.channels]
    head.append(b"8BIMnorm" + struct.pack(">BBBB", 255, 0, _LAYER_FLAGS, 0))
    extra = b"".join([
        struct.pack(">I", 0),                 # no layer mask
        _BLENDING_RANGES,
        _pascal_name(record.name),
        _unicode_name_block(record.name),     # 'luni' keeps a 4-byte length in PSB too
    ])
    return b"".join(head) + struct.pack(">I", len(extra)) + extra


def _pascal_name(name: str) -> bytes:
    """ASCII stand-in for the name (Unicode lives in 'luni'), padded to a multiple of 4 bytes."""
    chars = []
    for ch in name:
        if ch.isascii() and ch.isprintable():
            chars.append(ch)
            continue
        # Keep the ASCII base of accented and full-width letters ('é' -> 'e', 'Ａ' -> 'A').
        base = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode("ascii")
        chars.append(base if base and base.isprintable() else "?")
    raw = "".join(chars).encode("ascii")[:255]
    return _pad(bytes([len(raw)]) + raw, 4)


def _unicode_name_block(name: str) -> bytes:
    utf16 = name.encode("utf-16-be")
    data = _pad(struct.pack(">I", len(utf16) // 2) + utf16, 4)
    return b"8BIMluni" + struct.pack(">I", len(data)) + data


def _pad(data: bytes, multiple: int) -> bytes:
    return data + b"\x00" * (-len(data) % multiple)


# --------------------------------------------------------------------------- documents

def _write_rgb_document(out: BinaryIO, character: Character, layers: list[Layer], path: Path,
                        compression: str) -> None:
    records = [_rgb_record(layer, compression) for layer in layers]
    composite = character.composite()
    alpha = composite[..., 3].astype(np.uint32)
    # Photoshop stores the merged image of a transparent document matted on white.
    merged = [((composite[..., k] * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
              for k in range(3)]
    merged.append(composite[..., 3])
    _write_document(out, path, character.size, _MODE_RGB, records, merged, compression,
                    merged_has_alpha=True)


def _write_depth_document(out: BinaryIO, character: Character, layers: list[Layer],
                          path: Path) -> None:
    records = [_depth_record(layer, "rle") for layer in layers]
    # Depth layers are opaque over their boxes, so the composite is each box pasted in order
    # over 255 (far), which is what Photoshop would show.
    width, height = character.size
    merged = np.full((height, width), 255, np.uint8)
    for layer in layers:
        x0, y0, x1, y1 = layer.bbox
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if cx1 > cx0 and cy1 > cy0:
            merged[cy0:cy1, cx0:cx1] = _depth_plane(layer)[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    _write_document(out, path, character.size, _MODE_GRAYSCALE, records, [merged], "rle",
                    merged_has_alpha=False)


def _write_document(out: BinaryIO, path: Path, size: tuple[int, int], mode: int,
                    records: list[_Record], merged: list[np.ndarray], compression: str, *,
                    merged_has_alpha: bool) -> None:
    version = _choose_version(path, size, records)
    width, height = size
    out.write(b"8BPS" + struct.pack(">H6xHIIHH", version, len(merged), height, width, 8, mode))
    out.write(struct.pack(">I", 0))                                  # colour mode data: none
    resource = b"8BIM" + struct.pack(">H", 1005) + b"\x00\x00" + struct.pack(">I", len(_RESOLUTION))
    resources = resource + _pad(_RESOLUTION, 2)
    out.write(struct.pack(">I", len(resources)) + resources)
    _write_layer_and_mask(out, records, version, merged_has_alpha)
    _write_image_data(out, merged, compression, version)


def _choose_version(path: Path, size: tuple[int, int], records: list[_Record]) -> int:
    sides = [size[0], size[1]]
    for record in records:
        top, left, bottom, right = record.rect
        sides += [bottom - top, right - left]
    if path.suffix.lower() == ".psb" or max(sides) > PSD_MAX_SIDE:
        return 2
    channel_sizes = [ch.size(1) for record in records for ch in record.channels]
    section_length = 4 + _layer_info_length(records, 1) + 4
    if max(channel_sizes, default=0) > _U32_MAX or section_length > _U32_MAX:
        return 2
    return 1


def _layer_info_length(records: list[_Record], version: int) -> int:
    if not records:
        return 0
    body = 2 + sum(len(_layer_record_bytes(r, version)) for r in records)
    body += sum(ch.size(version) for r in records for ch in r.channels)
    return body + (-body % 4)          # the spec asks for even; 4 satisfies every reader


def _write_layer_and_mask(out: BinaryIO, records: list[_Record], version: int,
                          merged_has_alpha: bool) -> None:
    length_fmt = ">I" if version == 1 else ">Q"
    info_length = _layer_info_length(records, version)
    length_bytes = struct.calcsize(length_fmt)
    out.write(struct.pack(length_fmt, length_bytes + info_length + 4))
    out.write(struct.pack(length_fmt, info_length))
    if records:
        # Negative count: "the merged image's first alpha channel is its transparency".
        count = -len(records) if merged_has_alpha else len(records)
        written = 2
        out.write(struct.pack(">h", count))
        for record in records:
            raw = _layer_record_bytes(record, version)
            out.write(raw)
            written += len(raw)
        for record in records:
            for channel in record.channels:
                channel.write(out, version)
                written += channel.size(version)
        out.write(b"\x00" * (info_length - written))
    out.write(struct.pack(">I", 0))                                  # global layer mask: none


def _write_image_data(out: BinaryIO, planes: list[np.ndarray], compression: str,
                      version: int) -> None:
    if compression == "raw":
        out.write(struct.pack(">H", _RAW))
        for plane in planes:
            out.write(np.ascontiguousarray(plane).tobytes())
        return
    encoded = [packbits_rows(plane) for plane in planes]
    out.write(struct.pack(">H", _RLE))
    for counts, _ in encoded:                 # every channel's row counts first, then the data
        out.write(counts.astype(_count_dtype(version)).tobytes())
    for _, data in encoded:
        out.write(data)


# --------------------------------------------------------------------------- json

def _depth_median(layers: list[Layer]) -> float | None:
    """Layer.depth_median over one or more same-named layers (visible pixels, else all)."""
    with_depth = [layer for layer in layers if layer.depth is not None]
    if not with_depth:
        return None
    visible = np.concatenate([layer.depth[layer.alpha > 0] for layer in with_depth])
    if visible.size:
        return float(np.median(visible))
    everything = np.concatenate([layer.depth.ravel() for layer in with_depth])
    return float(np.median(everything)) if everything.size else None


def _remove_stale(*paths: Path) -> None:
    for stale in paths:
        if stale.is_file():
            try:
                stale.unlink()
            except OSError as exc:
                raise InputError(f"{stale}: stale sidecar could not be removed ({exc.strerror}); "
                                 f"delete it by hand") from exc


def _json_bytes(character: Character, stored: list[Layer]) -> bytes:
    payload = _json_payload(character, stored)
    return (json.dumps(payload, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# --------------------------------------------------------------------------- validation

def _check_compression(compression: str) -> None:
    if compression not in COMPRESSIONS:
        raise InputError(f"unknown PSD compression {compression!r}; use one of "
                         f"{', '.join(COMPRESSIONS)}")


def _check_target(path: Path) -> None:
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give a file name such as character.psd")
    parent = path.parent
    if not parent.is_dir():
        raise InputError(f"{path}: folder {parent} does not exist; create it first")


def _validate(character: Character) -> None:
    if not isinstance(character, Character):
        raise InputError(f"expected a Character to export, got {type(character).__name__}")
    size = character.size
    if (len(size) != 2 or not all(isinstance(v, (int, np.integer)) for v in size)
            or min(size) <= 0):
        raise InputError(f"canvas size must be two positive integers (W, H), got {size!r}")
    if max(size) > PSB_MAX_SIDE:
        raise InputError(f"canvas {size[0]}x{size[1]} exceeds the PSB limit of {PSB_MAX_SIDE} px "
                         f"per side; scale the character down")
    if len(character.layers) > MAX_LAYERS:
        raise InputError(f"{len(character.layers)} layers exceed the PSD limit of {MAX_LAYERS}; "
                         f"merge some layers")
    for index, layer in enumerate(character.layers):
        _validate_layer(index, layer)


def _validate_layer(index: int, layer: Layer) -> None:
    what = f"layer {index} {getattr(layer, 'name', '?')!r}"
    if not isinstance(layer, Layer):
        raise InputError(f"{what}: expected a Layer, got {type(layer).__name__}")
    if not isinstance(layer.name, str):
        raise InputError(f"{what}: name must be text, got {type(layer.name).__name__}")
    try:
        layer.name.encode("utf-16-be")
    except UnicodeEncodeError:
        raise InputError(f"{what}: name holds characters that are not valid Unicode "
                         f"(lone surrogates); rename the layer") from None
    rgba = layer.rgba
    if not isinstance(rgba, np.ndarray) or rgba.ndim != 3 or rgba.shape[2] != 4 \
            or rgba.dtype != np.uint8:
        shape = getattr(rgba, "shape", None)
        dtype = getattr(rgba, "dtype", type(rgba).__name__)
        raise InputError(f"{what}: pixels must be (h, w, 4) uint8 straight-alpha RGBA, got "
                         f"{shape} {dtype}; convert the layer first")
    if layer.tag not in taxonomy.ALL_TAGS:
        raise InputError(f"{what}: unknown tag {layer.tag!r}; use a See-through tag")
    if max(rgba.shape[:2]) > PSB_MAX_SIDE:
        raise InputError(f"{what}: {rgba.shape[1]}x{rgba.shape[0]} px exceeds the PSB limit of "
                         f"{PSB_MAX_SIDE} px per side; crop the layer")
    x, y = layer.offset
    if not (_INT32[0] <= x and x + rgba.shape[1] <= _INT32[1]
            and _INT32[0] <= y and y + rgba.shape[0] <= _INT32[1]):
        raise InputError(f"{what}: offset {layer.offset} is outside the range a PSD can store; "
                         f"move the layer near the canvas")
    if layer.depth is not None:
        depth = layer.depth
        if not isinstance(depth, np.ndarray) or depth.shape != rgba.shape[:2]:
            raise InputError(f"{what}: depth shape {getattr(depth, 'shape', None)} does not match "
                             f"its pixels {rgba.shape[:2]}; recompute the depth map")
        if depth.size:
            if not np.isfinite(depth).all():
                raise InputError(f"{what}: depth has NaN or infinite values; recompute the "
                                 f"depth map")
            low, high = float(depth.min()), float(depth.max())
            if low < -1e-4 or high > 1 + 1e-4:
                raise InputError(f"{what}: pseudo-depth must lie in 0..1 (0 near, 1 far), found "
                                 f"{low:.4g}..{high:.4g}; normalise the depth map")


def _prepared_layers(character: Character) -> list[Layer]:
    """The validated layers, trimmed to their visible pixels as they are stored."""
    _validate(character)
    return [layer.cropped() for layer in character.layers]


# --------------------------------------------------------------------------- atomic files

def _write_atomically(jobs: list[tuple[Path, Callable[[BinaryIO], None]]]) -> None:
    """Write every target to a temporary file beside it, then move them all into place
    together (:func:`outputs.atomic_group`); on error or interruption nothing is left behind
    and existing files are untouched."""
    with atomic_group([target for target, _ in jobs]) as temps:
        for temp, (_, write) in zip(temps, jobs):
            # Exclusive create honours the umask: the final file gets ordinary permissions.
            with open(temp, "xb") as out:
                write(out)


