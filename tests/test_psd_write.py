"""PSD export: PackBits, file structure to the byte, and what real readers see in our files.

Three independent readers check each file: a strict parser written here from the spec (every
length, padding and RLE row must come out exact: psd-tools and Pillow forgive errors silently),
psd-tools (layers, names, composite), and Pillow (the merged image). Round trips through our own
``psd_read`` run as soon as that module exists.
"""
from __future__ import annotations

import json
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from psd_tools import PSDImage
from psd_tools.compression import decode_rle

from seethrough_core import taxonomy
from seethrough_core.character import Character, InputError, Layer
from seethrough_core import psd_write
from seethrough_core.psd_write import (packbits_rows, seethrough_json, sidecar_paths,
                                       write_depth_psd, write_psd)


# ------------------------------------------------------------------------ strict reference reader

def unpack_row(packed: bytes, width: int) -> bytes:
    """Strict PackBits decoder: any overrun, truncation or no-op header is an error."""
    out, i = bytearray(), 0
    while i < len(packed):
        header = packed[i]
        i += 1
        assert header != 128, "no-op header 0x80 written"
        if header < 128:
            chunk = packed[i:i + header + 1]
            assert len(chunk) == header + 1, "literal packet truncated"
            out += chunk
            i += header + 1
        else:
            assert i < len(packed), "repeat packet truncated"
            out += bytes([packed[i]]) * (257 - header)
            i += 1
    assert len(out) == width, f"row decodes to {len(out)} bytes, expected {width}"
    return bytes(out)


class Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        assert self.pos + n <= len(self.data), "read past the end of a section"
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str):
        values = struct.unpack(fmt, self.take(struct.calcsize(fmt)))
        return values if len(values) > 1 else values[0]


def read_channel(r: Reader, height: int, width: int, version: int, length: int) -> np.ndarray:
    end = r.pos + length
    compression = r.unpack(">H")
    if compression == 0:
        plane = np.frombuffer(r.take(height * width), np.uint8).reshape(height, width)
    else:
        assert compression == 1, f"unexpected compression {compression}"
        counts = [r.unpack(">H" if version == 1 else ">I") for _ in range(height)]
        plane = np.array([np.frombuffer(unpack_row(r.take(c), width), np.uint8) for c in counts],
                         np.uint8).reshape(height, width)
    assert r.pos == end, "channel length in the layer record does not match its data"
    return plane


def parse_psd(path: Path) -> dict:
    """Parse a PSD/PSB strictly, asserting every length and padding the spec fixes."""
    r = Reader(Path(path).read_bytes())
    sig, version, reserved, channels, height, width, depth, mode = r.unpack(">4sH6sHIIHH")
    assert sig == b"8BPS" and version in (1, 2) and reserved == bytes(6) and depth == 8
    doc = {"version": version, "channels": channels, "height": height, "width": width,
           "mode": mode, "resources": {}, "layers": []}
    wide = ">I" if version == 1 else ">Q"
    doc["color_mode_data"] = r.take(r.unpack(">I"))

    res = Reader(r.take(r.unpack(">I")))
    while res.pos < len(res.data):
        assert res.take(4) == b"8BIM"
        rid = res.unpack(">H")
        name_len = res.unpack(">B")
        res.take(name_len + (name_len + 1) % 2)      # name, padded to an even size
        size = res.unpack(">I")
        doc["resources"][rid] = res.take(size)
        res.take(size % 2)

    section = Reader(r.take(r.unpack(wide)))
    info_length = section.unpack(wide)
    assert info_length % 2 == 0, "layer info length must be even"
    doc["layer_info_length"] = info_length
    if info_length:
        info = Reader(section.take(info_length))
        count = info.unpack(">h")
        doc["layer_count"] = count
        records = []
        for _ in range(abs(count)):
            top, left, bottom, right, nchan = info.unpack(">iiiiH")
            chans = [info.unpack(">hI" if version == 1 else ">hQ") for _ in range(nchan)]
            sig, blend, opacity, clipping, flags, filler = info.unpack(">4s4sBBBB")
            assert sig == b"8BIM"
            extra = Reader(info.take(info.unpack(">I")))
            mask = extra.take(extra.unpack(">I"))
            ranges = extra.take(extra.unpack(">I"))
            name_len = extra.unpack(">B")
            pascal = extra.take(name_len)
            extra.take((-(name_len + 1)) % 4)
            blocks = []
            while extra.pos < len(extra.data):
                assert extra.take(4) in (b"8BIM", b"8B64")
                key = extra.take(4)
                big = version == 2 and key in (b"LMsk", b"Lr16", b"Lr32", b"Layr", b"Mt16",
                                                b"Mt32", b"Mtrn", b"Alph", b"FMsk", b"lnk2",
                                                b"FEid", b"FXid", b"PxSD")
                blocks.append((key, extra.take(extra.unpack(">Q" if big else ">I"))))
            records.append({"rect": (top, left, bottom, right), "chans": chans, "blend": blend,
                            "opacity": opacity, "clipping": clipping, "flags": flags,
                            "filler": filler, "mask": mask, "ranges": ranges,
                            "pascal": pascal, "blocks": blocks})
        for rec in records:
            top, left, bottom, right = rec["rect"]
            h, w = max(bottom - top, 0), max(right - left, 0)
            rec["planes"] = {cid: read_channel(info, h, w, version, length)
                             for cid, length in rec["chans"]}
        padding = info.take(len(info.data) - info.pos)
        assert padding == bytes(len(padding)) and len(padding) < 4, "layer info padding"
        doc["layers"] = records
    # Some writers end the section here; ours must write the (empty) global mask info.
    at_end = section.pos == len(section.data)
    doc["global_mask"] = None if at_end else section.take(section.unpack(">I"))
    doc["global_blocks"] = section.take(len(section.data) - section.pos)

    compression = r.unpack(">H")
    if compression == 0:
        planes = [np.frombuffer(r.take(height * width), np.uint8).reshape(height, width)
                  for _ in range(channels)]
    else:
        counts = [r.unpack(">H" if version == 1 else ">I") for _ in range(channels * height)]
        rows = [np.frombuffer(unpack_row(r.take(c), width), np.uint8) for c in counts]
        planes = [np.array(rows[k * height:(k + 1) * height]).reshape(height, width)
                  for k in range(channels)]
    doc["merged"] = planes
    assert r.pos == len(r.data), "bytes left after the image data"
    return doc


def luni(record: dict) -> str:
    data = dict(record["blocks"])[b"luni"]
    n = struct.unpack(">I", data[:4])[0]
    assert data[4 + 2 * n:] == bytes(len(data) - 4 - 2 * n)
    return data[4:4 + 2 * n].decode("utf-16-be")


# --------------------------------------------------------------------------- helpers

def layer(name: str, h: int, w: int, offset=(0, 0), tag: str = "objects", *, seed: int = 0,
          depth: bool = False, **kw) -> Layer:
    rng = np.random.default_rng(seed)
    rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    rgba[..., 3][rgba[..., 3] < 70] = 0
    rgba[..., 3][rgba[..., 3] > 200] = 255
    d = rng.random((h, w)).astype(np.float32) if depth else None
    return Layer(name, rgba, offset, tag=tag, depth=d, **kw)


def stored(src: Layer) -> Layer:
    """What the writer stores for a layer: trimmed, colour zero under alpha 0."""
    out = src.cropped()
    rgba = out.rgba.copy()
    rgba[rgba[..., 3] == 0] = 0
    return Layer(out.name, rgba, out.offset, tag=out.tag, depth=out.depth)


def matte_on_white(rgba: np.ndarray) -> list[np.ndarray]:
    a = rgba[..., 3].astype(np.int64)
    planes = [((rgba[..., k].astype(np.int64) * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)
              for k in range(3)]
    return planes + [rgba[..., 3]]


def assert_colour_close(got: np.ndarray, want: np.ndarray, slack: int = 0) -> None:
    """Straight-alpha colour recovered from 8-bit matted data: exact alpha, colour within the
    quantisation a matte at alpha a allows (127.5 / a levels, +1 for the reader's rounding).
    ``slack`` widens both for a reader that re-renders the layers in floating point."""
    assert np.abs(got[..., 3].astype(int) - want[..., 3]).max(initial=0) <= slack
    a = want[..., 3].astype(float)
    visible = a > 0
    err = np.abs(got[..., :3].astype(float) - want[..., :3]).max(axis=-1)
    bound = 127.5 / np.maximum(a, 1) + 1 + slack
    assert (err[visible] <= bound[visible]).all()
    opaque = a == 255
    assert (err[opaque] <= 1 + slack).all()


def small_character() -> Character:
    return Character((48, 40), [
        layer("back hair", 30, 20, (5, -4), "back hair", seed=1, depth=True),
        layer("顔", 20, 18, (14, 8), "face", seed=2, depth=True),
        layer("empty", 0, 0, (3, 3), seed=3),
        layer("irides-l 👁", 4, 5, (20, 14), "irides", side="l", seed=4),
        layer("topwear", 12, 60, (-6, 32), "topwear", seed=5, depth=True),
        layer("topwear", 3, 3, (40, 1), "topwear", seed=6),
    ])


# --------------------------------------------------------------------------- PackBits

def packed(row: list[int]) -> bytes:
    counts, data = packbits_rows(np.array([row], np.uint8))
    assert counts.tolist() == [len(data)]
    return data


def test_packbits_apple_example():
    # Apple Technical Note TN1023's worked example.
    raw = bytes.fromhex("AAAAAA80002AAAAAAAAA80002A22AAAAAAAAAAAAAAAAAAAA")
    assert packed(list(raw)) == bytes.fromhex("FEAA0280002AFDAA0380002A22F7AA")


@pytest.mark.parametrize("row, expected", [
    ([7], "0007"),
    ([7, 7], "010707"),
    ([7, 7, 7], "FE07"),
    ([1, 2, 3], "02010203"),
    ([0] * 128, "8100"),
    ([0] * 129, "81000000"),
    ([0] * 130, "8100FF00"),
    ([0] * 256, "81008100"),
    ([1, 2] * 64 + [9], "7F" + "0102" * 64 + "0009"),
    ([5, 5, 1, 2, 2, 2, 2], "02050501FD02"),
])
def test_packbits_known_answers(row, expected):
    assert packed(row) == bytes.fromhex(expected)


def test_packbits_rows_are_independent():
    plane = np.array([[3, 3, 3, 3], [3, 3, 3, 3], [1, 3, 3, 3]], np.uint8)
    counts, data = packbits_rows(plane)
    assert counts.tolist() == [2, 2, 4]
    assert data == bytes.fromhex("FD03" "FD03" "0001FE03")


def test_packbits_empty_and_bad_input():
    assert packbits_rows(np.zeros((0, 5), np.uint8))[1] == b""
    counts, data = packbits_rows(np.zeros((3, 0), np.uint8))
    assert counts.tolist() == [0, 0, 0] and data == b""
    with pytest.raises(ValueError):
        packbits_rows(np.zeros((2, 2), np.float32))


def test_packbits_block_size_does_not_change_output(monkeypatch):
    rng = np.random.default_rng(3)
    plane = np.repeat(rng.integers(0, 4, (37, 50), dtype=np.uint8), 3, axis=1)
    whole = packbits_rows(plane)
    monkeypatch.setattr(psd_write, "_PACKBITS_BLOCK", 200)     # 1 row per pass
    split = packbits_rows(plane)
    assert whole[0].tolist() == split[0].tolist() and whole[1] == split[1]


segments = st.lists(st.tuples(st.integers(0, 255), st.integers(1, 300)), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(segments, min_size=1, max_size=4), width=st.integers(1, 700))
def test_packbits_round_trip(rows, width):
    """Rows built from runs (incl. 128+, length 1, alternating) decode exactly, row by row."""
    plane = np.zeros((len(rows), width), np.uint8)
    for y, segs in enumerate(rows):
        row = np.concatenate([np.full(n, v, np.uint8) for v, n in segs])
        plane[y] = np.resize(row, width)
    plane[-1, ::2] ^= 0x55  # one row of alternating bytes
    counts, data = packbits_rows(plane)
    assert counts.sum() == len(data)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    for y in range(plane.shape[0]):
        row_bytes = data[offsets[y]:offsets[y + 1]]
        assert unpack_row(row_bytes, width) == plane[y].tobytes()
        assert len(row_bytes) <= width + width // 128 + 2   # PackBits' worst case
    # psd-tools' own decoder (a different implementation) agrees.
    table = counts.astype(">u2").tobytes()
    assert decode_rle(table + data, width, plane.shape[0], 8, 1) == plane.tobytes()


def test_packbits_compresses_real_runs_and_large_planes():
    rng = np.random.default_rng(0)
    plane = np.zeros((300, 2000), np.uint8)
    plane[100:200, 500:1500] = rng.integers(0, 256, (100, 1000), dtype=np.uint8)
    plane[:, 1800:] = 7
    counts, data = packbits_rows(plane)
    assert len(data) < plane.size // 5
    table = counts.astype(">u2").tobytes()
    assert decode_rle(table + data, 2000, 300, 8, 1) == plane.tobytes()


# --------------------------------------------------------------------------- main file structure

@pytest.fixture()
def written(tmp_path):
    char = small_character()
    path = tmp_path / "char.psd"
    write_psd(char, path)
    return char, path


def test_file_structure_is_exact(written):
    char, path = written
    doc = parse_psd(path)
    assert (doc["version"], doc["mode"], doc["channels"]) == (1, 3, 4)
    assert (doc["width"], doc["height"]) == char.size
    assert doc["color_mode_data"] == b""
    assert doc["layer_info_length"] % 4 == 0
    assert doc["layer_count"] == -len(char.layers)          # merged image carries alpha
    assert doc["global_mask"] == b"" and doc["global_blocks"] == b""
    assert struct.unpack(">IHHIHH", doc["resources"][1005]) == (72 << 16, 1, 1, 72 << 16, 1, 1)
    for rec, src in zip(doc["layers"], char.layers):
        want = stored(src)
        x0, y0, x1, y1 = want.bbox
        assert rec["rect"] == (y0, x0, y0 + want.height, x0 + want.width)
        assert [cid for cid, _ in rec["chans"]] == [-1, 0, 1, 2]
        assert (rec["blend"], rec["opacity"]) == (b"norm", 255)
        assert (rec["clipping"], rec["filler"]) == (0, 0)
        assert rec["flags"] & 0b10 == 0                         # visible
        assert rec["mask"] == b"" and len(rec["ranges"]) == 40
        assert luni(rec) == src.name
        assert rec["pascal"].isascii() and len(rec["pascal"]) <= 255
        planes = rec["planes"]
        for k in range(3):
            np.testing.assert_array_equal(planes[k], want.rgba[..., k])
        np.testing.assert_array_equal(planes[-1], want.rgba[..., 3])
    merged = doc["merged"]
    for got, want in zip(merged, matte_on_white(char.composite())):
        np.testing.assert_array_equal(got, want)


def test_pascal_names_are_ascii_stand_ins(written):
    _, path = written
    names = [rec["pascal"] for rec in parse_psd(path)["layers"]]
    assert names == [b"back hair", b"?", b"empty", b"irides-l ?", b"topwear", b"topwear"]
    long_name = "é" * 300
    assert psd_write._pascal_name(long_name) == _pad4(bytes([255]) + b"e" * 255)
    assert psd_write._pascal_name("Ｆｒｏｎｔ") == _pad4(b"\x05Front")


def _pad4(b: bytes) -> bytes:
    return b + bytes(-len(b) % 4)


def test_psd_tools_reads_layers_and_composite(written):
    char, path = written
    with warnings.catch_warnings():
        warnings.simplefilter("error")       # psd-tools warns instead of failing on bad data
        psd = PSDImage.open(path)
        tops = list(psd)
        assert [l.name for l in tops] == [l.name for l in char.layers]
        for got, src in zip(tops, char.layers):
            want = stored(src)
            assert got.kind == "pixel" and got.is_visible() and got.opacity == 255
            assert got.blend_mode.name == "NORMAL" and not got.clipping
            if want.rgba.size == 0:
                assert got.width == 0 and got.height == 0
                continue
            assert got.bbox == want.bbox
            np.testing.assert_array_equal(np.asarray(got.topil()), want.rgba)
        # The stored merged image, as viewers that read only the composite see it ...
        assert_colour_close(np.asarray(psd.composite()), char.composite())
        # ... and psd-tools' own rendering of the layers agrees with it.
        rendered = np.asarray(psd.composite(ignore_preview=True))
        assert_colour_close(rendered, char.composite(), slack=1)


def test_pillow_reads_the_merged_image(written):
    char, path = written
    with Image.open(path) as im:
        assert im.format == "PSD" and im.mode == "RGBA" and im.size == char.size
        got = np.asarray(im)
    np.testing.assert_array_equal(got, np.dstack(matte_on_white(char.composite())))


def test_raw_compression_gives_the_same_pixels(written, tmp_path):
    char, rle_path = written
    raw_path = tmp_path / "raw.psd"
    write_psd(char, raw_path, compression="raw", sidecars=False)
    rle, raw = parse_psd(rle_path), parse_psd(raw_path)
    for a, b in zip(rle["layers"], raw["layers"]):
        assert a["rect"] == b["rect"]
        for cid in (-1, 0, 1, 2):
            np.testing.assert_array_equal(a["planes"][cid], b["planes"][cid])
    for a, b in zip(rle["merged"], raw["merged"]):
        np.testing.assert_array_equal(a, b)
    assert raw_path.stat().st_size > rle_path.stat().st_size


def test_no_temp_files_left(written):
    _, path = written
    assert sorted(p.name for p in path.parent.iterdir()) == \
        ["char.psd", "char.psd.json", "char_depth.psd"]


def test_parser_agrees_with_photoshop_files(edge_case_dir):
    """Our strict reader accepts Photoshop's own PSD and PSB: the spec as we read it is the one
    Photoshop writes."""
    for name in ("2layers.psd", "2layers.psb", "layer-name-emoji.psd"):
        doc = parse_psd(edge_case_dir / name)
        psd = PSDImage.open(edge_case_dir / name)
        assert doc["version"] == psd.version
        assert [luni(rec) for rec in doc["layers"]] == [l.name for l in psd]
        for rec, got in zip(doc["layers"], psd):
            top, left, bottom, right = rec["rect"]
            if bottom > top and right > left:
                np.testing.assert_array_equal(rec["planes"][0], np.asarray(got.topil())[..., 0])


# --------------------------------------------------------------------------- PSB

def test_psb_by_suffix(tmp_path):
    char = small_character()
    path = tmp_path / "char.psb"
    write_psd(char, path)
    doc = parse_psd(path)
    assert doc["version"] == 2
    depth_path, json_path = sidecar_paths(path)
    assert depth_path.name == "char_depth.psb" and json_path.name == "char.psb.json"
    assert parse_psd(depth_path)["version"] == 2
    psd = PSDImage.open(path)
    assert psd.version == 2 and [l.name for l in psd] == [l.name for l in char.layers]
    for got, src in zip(psd, char.layers):
        want = stored(src)
        if want.rgba.size:
            np.testing.assert_array_equal(np.asarray(got.topil()), want.rgba)


def test_psb_when_canvas_exceeds_psd_limit(tmp_path):
    char = Character((30_001, 2), [layer("objects", 2, 5, (29_998, 0), seed=7, depth=True)])
    path = tmp_path / "wide.psd"
    write_psd(char, path)
    doc = parse_psd(path)
    assert doc["version"] == 2 and doc["width"] == 30_001
    np.testing.assert_array_equal(doc["layers"][0]["planes"][-1], stored(char.layers[0]).alpha)
    assert parse_psd(tmp_path / "wide_depth.psd")["version"] == 2
    narrow = Character((30_000, 2), char.layers)
    write_psd(narrow, tmp_path / "narrow.psd", sidecars=False)
    assert parse_psd(tmp_path / "narrow.psd")["version"] == 1


# --------------------------------------------------------------------------- depth sidecar and json

def test_depth_sidecar(written):
    char, path = written
    doc = parse_psd(path.with_name("char_depth.psd"))
    main = parse_psd(path)
    assert (doc["mode"], doc["channels"], doc["layer_count"]) == (1, 1, len(char.layers))
    assert [luni(r) for r in doc["layers"]] == [l.name for l in char.layers]
    assert [r["rect"] for r in doc["layers"]] == [r["rect"] for r in main["layers"]]
    canvas = np.full((char.size[1], char.size[0]), 255, np.uint8)
    for rec, src in zip(doc["layers"], char.layers):
        want = stored(src)
        assert [cid for cid, _ in rec["chans"]] == [0]
        expected = (np.full(want.rgba.shape[:2], 255, np.uint8) if want.depth is None
                    else np.floor(want.depth.astype(np.float64) * 255 + 0.5).astype(np.uint8))
        np.testing.assert_array_equal(rec["planes"][0], expected)
        if want.depth is not None and want.depth.size:
            assert np.abs(rec["planes"][0] / 255.0 - want.depth).max() <= 0.5 / 255 + 1e-6
        canvas = _paste(canvas, expected, want.offset)
    np.testing.assert_array_equal(doc["merged"][0], canvas)
    psd = PSDImage.open(path.with_name("char_depth.psd"))
    for got, rec in zip(psd, doc["layers"]):
        if got.width:
            np.testing.assert_array_equal(np.asarray(got.topil().convert("L")), rec["planes"][0])


def _paste(canvas: np.ndarray, plane: np.ndarray, offset) -> np.ndarray:
    h, w = canvas.shape
    x, y = offset
    ys = slice(max(y, 0), min(y + plane.shape[0], h))
    xs = slice(max(x, 0), min(x + plane.shape[1], w))
    if ys.stop > ys.start and xs.stop > xs.start:
        canvas[ys, xs] = plane[ys.start - y:ys.stop - y, xs.start - x:xs.stop - x]
    return canvas


def test_write_depth_psd_alone(tmp_path):
    char = Character((8, 6), [layer("face", 3, 4, (1, 1), "face", seed=1)])
    write_depth_psd(char, tmp_path / "d.psd")
    doc = parse_psd(tmp_path / "d.psd")
    np.testing.assert_array_equal(doc["layers"][0]["planes"][0], np.full((3, 4), 255, np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.psd"]


def test_seethrough_json_known_answer():
    face = np.zeros((4, 6, 4), np.uint8)
    face[1:3, 2:5, 3] = 255                          # visible box: x 2..5, y 1..3
    depth = np.full((4, 6), 0.9, np.float32)
    depth[1:3, 2:5] = [[0.2, 0.4, 0.6], [0.2, 0.4, 0.4]]
    # Same-named parts share one entry: union box, median over all their pixels (0.25 here,
    # neither part's own median).
    hair_a = Layer("front hair-l-0", np.full((1, 2, 4), 255, np.uint8), (0, 0), "front hair",
                   side="l", stratum=0, depth=np.array([[0.1, 0.2]], np.float32))
    hair_b = Layer("front hair-l-0", np.full((1, 3, 4), 255, np.uint8), (7, 5), "front hair",
                   side="l", stratum=0, depth=np.array([[0.25, 0.5, 0.6]], np.float32))
    char = Character((10, 8), [
        Layer("face", face, (10, 20), "face", depth=depth),
        Layer("mouth_open", np.full((2, 2, 4), 200, np.uint8), (3, 4), "mouth",
              variant="mouth_open"),
        hair_a, hair_b,
    ])
    assert seethrough_json(char) == {
        "parts": {
            "face": {"tag": "face", "xyxy": [12, 21, 15, 23], "depth_median": pytest.approx(0.4)},
            "mouth_open": {"tag": "mouth", "xyxy": [3, 4, 5, 6]},
            "front hair-l-0": {"tag": "front hair", "xyxy": [0, 0, 10, 6],
                               "depth_median": pytest.approx(0.25)},
        },
        "frame_size": [8, 10],
    }


def test_json_file_matches_payload(written):
    char, path = written
    on_disk = json.loads(path.with_name("char.psd.json").read_text("utf-8"))
    assert on_disk == json.loads(json.dumps(seethrough_json(char)))
    assert list(on_disk["parts"]) == ["back hair", "顔", "empty", "irides-l 👁", "topwear"]
    assert "depth_median" not in on_disk["parts"]["irides-l 👁"]
    assert on_disk["parts"]["empty"]["xyxy"] == [3, 3, 3, 3]


def test_sidecar_switches(tmp_path):
    char = small_character()
    write_psd(char, tmp_path / "a.psd", sidecars=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.psd"]
    write_psd(char, tmp_path / "a.psd")
    assert (tmp_path / "a_depth.psd").is_file()
    assert (tmp_path / "a.psd.json").is_file()
    flat = Character(char.size, [Layer(l.name, l.rgba, l.offset, l.tag) for l in char.layers])
    write_psd(flat, tmp_path / "a.psd")          # no depth now: the stale sidecars go
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.psd"]
    assert parse_psd(tmp_path / "a.psd")["layer_count"] == -len(char.layers)


# --------------------------------------------------------------------------- errors and atomicity

def test_bad_compression(tmp_path):
    with pytest.raises(InputError, match="compression"):
        write_psd(small_character(), tmp_path / "x.psd", compression="zip")
    assert list(tmp_path.iterdir()) == []


def test_bad_targets(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        write_psd(small_character(), tmp_path / "missing" / "x.psd")
    (tmp_path / "dir.psd").mkdir()
    with pytest.raises(InputError, match="directory"):
        write_psd(small_character(), tmp_path / "dir.psd")


@pytest.mark.parametrize("spoil, message", [
    (lambda c: setattr(c.layers[0], "rgba", c.layers[0].rgba.astype(np.float32)), "uint8"),
    (lambda c: setattr(c.layers[0], "rgba", c.layers[0].rgba[..., :3]), "uint8"),
    (lambda c: c.layers[0].depth.__setitem__((0, 0), np.nan), "NaN"),
    (lambda c: c.layers[0].depth.__setitem__((0, 0), 1.5), "0..1"),
    (lambda c: setattr(c.layers[0], "depth", np.zeros((2, 2), np.float32)), "shape"),
    (lambda c: setattr(c.layers[0], "tag", "hat"), "tag"),
    (lambda c: setattr(c.layers[0], "name", "bad \udc80 name"), "Unicode"),
    (lambda c: setattr(c.layers[0], "offset", (2 ** 31 - 5, 0)), "offset"),
    (lambda c: setattr(c, "size", (0, 10)), "positive"),
    (lambda c: setattr(c, "size", (300_001, 10)), "PSB limit"),
])
def test_bad_characters_are_input_errors(tmp_path, spoil, message):
    char = small_character()
    spoil(char)
    with pytest.raises(InputError, match=message):
        write_psd(char, tmp_path / "x.psd")
    assert list(tmp_path.iterdir()) == []


def test_failure_midway_keeps_old_files(tmp_path, monkeypatch):
    char = small_character()
    path = tmp_path / "char.psd"
    write_psd(char, path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken(out, *args, **kwargs):
        out.write(b"8BPS half a file")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(psd_write, "_write_rgb_document", broken)
    other = Character(char.size, char.layers[:2])
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_psd(other, path)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before                      # no temp files, sidecars untouched too


def test_os_errors_are_input_errors(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(psd_write, "open", refuse, raising=False)
    with pytest.raises(InputError, match="cannot write .permission denied"):
        write_psd(small_character(), tmp_path / "x.psd")
    monkeypatch.undo()

    def disk_full(out, *args, **kwargs):
        out.write(b"8BPS")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(psd_write, "_write_rgb_document", disk_full)
    with pytest.raises(InputError, match="cannot write .the disk is full"):
        write_psd(small_character(), tmp_path / "x.psd")
    assert list(tmp_path.iterdir()) == []


def test_sidecar_target_that_is_a_folder(tmp_path):
    (tmp_path / "c.psd.json").mkdir()
    with pytest.raises(InputError, match="directory"):
        write_psd(small_character(), tmp_path / "c.psd")
    assert [p.name for p in tmp_path.iterdir()] == ["c.psd.json"]


def test_character_without_layers(tmp_path):
    char = Character((5, 3), [])
    write_psd(char, tmp_path / "blank.psd")
    doc = parse_psd(tmp_path / "blank.psd")
    assert doc["layer_info_length"] == 0 and doc["layers"] == []
    assert [p.max() for p in doc["merged"]] == [255, 255, 255, 0]   # white, fully transparent
    psd = PSDImage.open(tmp_path / "blank.psd")
    assert len(psd) == 0 and np.asarray(psd.composite())[..., 3].max() == 0


# --------------------------------------------------------------------------- property tests

names = st.text(max_size=10)
tags = st.sampled_from(taxonomy.ALL_TAGS)


@st.composite
def layers_strategy(draw, index: int):
    h = draw(st.integers(0, 6))
    w = draw(st.integers(0, 6)) if h else 0
    rows = []
    for _ in range(h):
        kind = draw(st.sampled_from(["random", "transparent", "flat", "alternating"]))
        if kind == "random":
            row = draw(st.lists(st.integers(0, 255), min_size=4 * w, max_size=4 * w))
        elif kind == "transparent":
            row = [0] * (4 * w)
        elif kind == "flat":
            row = draw(st.lists(st.integers(0, 255), min_size=4, max_size=4)) * w
        else:
            a, b = draw(st.integers(0, 255)), draw(st.integers(0, 255))
            row = [a, b, a, 255] * w
        rows.append(row)
    rgba = np.array(rows, np.uint8).reshape(h, w, 4)
    offset = (draw(st.integers(-8, 14)), draw(st.integers(-8, 14)))
    depth = None
    if draw(st.booleans()):
        depth = np.array(draw(st.lists(st.floats(0, 1, width=32), min_size=h * w, max_size=h * w)),
                         np.float32).reshape(h, w)
    return Layer(draw(names), rgba, offset, tag=draw(tags), depth=depth)


@st.composite
def characters(draw):
    size = (draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    n = draw(st.integers(0, 4))
    return Character(size, [draw(layers_strategy(i)) for i in range(n)])


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(char=characters(), compression=st.sampled_from(["rle", "raw"]), psb=st.booleans())
def test_random_stacks_round_trip(tmp_path, char, compression, psb):
    path = tmp_path / ("r.psb" if psb else "r.psd")
    write_psd(char, path, compression=compression)
    doc = parse_psd(path)
    assert doc["version"] == (2 if psb else 1)
    assert len(doc["layers"]) == len(char.layers)
    for rec, src in zip(doc["layers"], char.layers):
        want = stored(src)
        assert luni(rec) == src.name
        if want.rgba.size:
            x, y = want.offset
            assert rec["rect"] == (y, x, y + want.height, x + want.width)
            for k, cid in enumerate((0, 1, 2, -1)):
                np.testing.assert_array_equal(rec["planes"][cid], want.rgba[..., k])
        else:
            top, left, bottom, right = rec["rect"]
            assert bottom == top and right == left
    for got, want in zip(doc["merged"], matte_on_white(char.composite())):
        np.testing.assert_array_equal(got, want)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        psd = PSDImage.open(path)
        assert [l.name for l in psd] == [l.name for l in char.layers]
        for got, src in zip(psd, char.layers):
            want = stored(src)
            if want.rgba.size:
                assert got.bbox == want.bbox
                np.testing.assert_array_equal(np.asarray(got.topil()), want.rgba)
        assert_colour_close(np.asarray(psd.composite()), char.composite())

    depth_path, json_path = sidecar_paths(path)
    if any(l.depth is not None for l in char.layers):
        payload = json.loads(json_path.read_text("utf-8"))
        assert payload["frame_size"] == [char.size[1], char.size[0]]
        assert set(payload["parts"]) == {l.name for l in char.layers}
        ddoc = parse_psd(depth_path)
        for rec, src in zip(ddoc["layers"], char.layers):
            want = stored(src)
            if want.depth is not None and want.depth.size:
                assert np.abs(rec["planes"][0] / 255.0 - want.depth).max() <= 0.5 / 255 + 1e-6
            elif want.rgba.size:
                assert (rec["planes"][0] == 255).all()
    else:
        assert not depth_path.exists() and not json_path.exists()
    for p in list(tmp_path.iterdir()):
        p.unlink()


# ------------------------------------------------------------------- round trip through psd_read
# psd_read is the colleague module that reads these files back. By its own contract it clips
# layers to the canvas, drops empty layers and lets a name the taxonomy knows decide the tag, so
# these tests use unique, taxonomy-consistent names and expect canvas-clipped layers.

def after_import(src: Layer, size: tuple[int, int]) -> Layer | None:
    """The stored layer as an importer that keeps only on-canvas pixels sees it."""
    want = stored(src)
    x0, y0, x1, y1 = want.bbox
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, size[0]), min(y1, size[1])
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    sub = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
    clipped = Layer(want.name, want.rgba[sub], (cx0, cy0), tag=want.tag,
                    depth=None if want.depth is None else want.depth[sub]).cropped()
    return None if clipped.empty else clipped


def assert_read_back(char: Character, back: Character) -> None:
    expected = [e for e in (after_import(l, char.size) for l in char.layers) if e is not None]
    assert back.size == char.size
    assert [l.name for l in back.layers] == [l.name for l in expected]
    for got, want in zip(back.layers, expected):
        assert got.tag == want.tag
        assert got.offset == want.offset
        assert got.rgba.shape == want.rgba.shape
        np.testing.assert_array_equal(got.alpha, want.alpha)
        visible = want.alpha > 0
        np.testing.assert_array_equal(got.rgba[visible], want.rgba[visible])
        if want.depth is not None:
            assert got.depth is not None
            assert np.abs(got.depth - want.depth).max(initial=0) <= 1 / 255 + 1e-6


def test_round_trip_through_psd_read(tmp_path):
    psd_read = pytest.importorskip("seethrough_core.psd_read")
    char = Character((48, 40), [
        layer("back hair", 30, 20, (5, 2), "back hair", seed=1, depth=True),
        layer("face", 20, 18, (14, 8), "face", seed=2, depth=True),
        layer("irides-l", 4, 5, (20, 14), "irides", side="l", seed=4),
        layer("前髪 👧", 10, 12, (30, 3), "front hair", seed=8, depth=True),
        layer("mouth_open", 3, 4, (22, 22), "mouth", variant="mouth_open", seed=9),
        layer("topwear", 12, 40, (4, 27), "topwear", seed=5, depth=True),
        layer("handwear", 8, 20, (-6, 30), "handwear", seed=6, depth=True),  # partly off-canvas
    ])
    path = tmp_path / "char.psd"
    write_psd(char, path)
    back = psd_read.read_psd(path, side_convention="character")
    assert_read_back(char, back)
    assert back.layer("irides-l").side == "l" and back.layer("mouth_open").variant == "mouth_open"


def test_example_character_round_trip(example_character, tmp_path):
    psd_read = pytest.importorskip("seethrough_core.psd_read")
    path = tmp_path / "example.psd"
    write_psd(example_character, path)
    back = psd_read.read_psd(path)
    assert_read_back(example_character, back)
    for got, want in zip(back.layers, example_character.layers):
        assert (got.side, got.stratum, got.group, got.variant) == \
            (want.side, want.stratum, want.group, want.variant)


words = st.text(alphabet=st.sampled_from("前髪顔目ñéß한글😀👽🎀"), min_size=1, max_size=3)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(char=characters(), data=st.data())
def test_random_stacks_through_psd_read(tmp_path, char, data):
    psd_read = pytest.importorskip("seethrough_core.psd_read")
    for i, lay in enumerate(char.layers):
        lay.name = f"{lay.tag} {data.draw(words)}_{i}"
    if all(after_import(l, char.size) is None for l in char.layers):
        return          # nothing visible on the canvas: the importer rightly refuses such a file
    path = tmp_path / "r.psd"
    write_psd(char, path)
    assert_read_back(char, psd_read.read_psd(path, side_convention="character"))
    for p in list(tmp_path.iterdir()):
        p.unlink()


# --------------------------------------------------------------------------- the real sample

def test_sample_psd_survives_export(sample_psd, tmp_path):
    src = PSDImage.open(sample_psd)
    layers = []
    for lay in src:
        parsed = taxonomy.parse_name(lay.name)
        x0, y0, _, _ = lay.bbox
        layers.append(Layer(lay.name, np.asarray(lay.topil().convert("RGBA")), (x0, y0),
                            tag=parsed.tag, variant=parsed.variant))
    char = Character((src.width, src.height), layers)
    path = tmp_path / "sample.psd"
    write_psd(char, path)
    psd = PSDImage.open(path)
    assert [l.name for l in psd] == [l.name for l in src]
    for got, want in zip(psd, char.layers):
        expected = stored(want)
        assert got.bbox == expected.bbox
        np.testing.assert_array_equal(np.asarray(got.topil()), expected.rgba)
    assert_colour_close(np.asarray(psd.composite()), char.composite())
    assert path.stat().st_size < 2 * sample_psd.stat().st_size
