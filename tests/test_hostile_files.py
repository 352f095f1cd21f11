"""Hostile files: mutated rigs and motions, oversized claims, pictures too large. Every case is
either one InputError line (exit 2 at the command line) or a rig that poses to finite vertices;
nothing reads more than its limits allow."""
from __future__ import annotations

import copy
import io
import json
import math
import struct
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig.rigfile import load_rig, load_spec
from runtime.drivers.motion import load_motion
from seethrough_core.character import InputError

HOSTILE_VALUES = [float("nan"), float("inf"), -float("inf"), "x", [], {}, None, True, 1e300,
                  -1e300, -1, 0, [1, 2, 3], [[[[]]]], "NaN"]


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i.filename) for i in zf.infolist()}


def _write_zip(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _json_text(doc) -> bytes:
    # allow_nan: NaN and Infinity go in as the bare tokens a hostile file would hold
    return json.dumps(doc, allow_nan=True).encode()


def _paths(doc, prefix=()):
    """Every (path, value) leaf and inner node of a JSON document."""
    yield prefix, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):          # the first few entries of long lists
            yield from _paths(v, prefix + (i,))


def _set(doc, path, value):
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _delete(doc, path):
    node = doc
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]


def _loads_or_refuses(path) -> None:
    """The contract: a clean one-line InputError, or a rig whose poses are finite."""
    try:
        rig = load_rig(path)
    except InputError as exc:
        text = str(exc)
        assert text and "\n" not in text and str(path) in text
        return
    for params in ({}, {"ParamAngleX": 30, "ParamAngleY": -30, "ParamMouthOpenY": 1},
                   {"ParamBodyAngleZ": -10, "ParamEyeLOpen": 0}):
        pose = rig.pose(params, 1 / 30)
        assert np.isfinite(pose.vertices).all()


@pytest.fixture(scope="module")
def good(rig_path):
    members = _members(rig_path)
    return members, json.loads(members["rig.json"])


@pytest.fixture(scope="module")
def field_paths(good):
    return [p for p, _ in _paths(good[1]) if p]


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mutated_rig_json_fields_are_refused_in_one_line_or_pose_finite(good, field_paths,
                                                                          tmp_path_factory,
                                                                          data):
    members, doc = good
    doc = json.loads(json.dumps(doc))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(field_paths))
        try:
            if data.draw(st.booleans()) and len(path) > 0:
                _delete(doc, path)
            else:
                _set(doc, path, copy.deepcopy(data.draw(st.sampled_from(HOSTILE_VALUES))))
        except (KeyError, IndexError, TypeError):
            pass                                  # an earlier mutation removed the parent
    out = tmp_path_factory.mktemp("mut") / "m.rig"
    _write_zip(out, {**members, "rig.json": _json_text(doc)})
    _loads_or_refuses(out)


@pytest.mark.parametrize("field, value, message", [
    (("parameters",), [], None),                                  # standard ones filled in
    (("anchors", "head_radius"), float("nan"), "NaN"),
    (("anchors", "face_center"), "centre", "anchors.face_center"),
    (("layers", 0, "depth"), float("inf"), "Infinity"),
    (("layers", 0, "offset"), [1e300, 0], "offset"),
    (("layers", 0, "clip_to"), "eyes", "clip_to"),
    (("size",), [float("inf"), 512], "Infinity"),
    (("physics",), [], "physics"),
    (("mesh_density",), "dense", "mesh_density"),
    (("parameters", 0, "min"), "low", "min"),
    (("parameters", 0, "default"), float("nan"), "NaN"),
    (("chains", 0, "rest"), [[0, 0], [1e12, 1e12]], "rest"),
])
def test_named_hostile_fields(good, tmp_path, field, value, message):
    members, doc = good
    doc = json.loads(json.dumps(doc))
    _set(doc, field, value)
    out = tmp_path / "bad.rig"
    _write_zip(out, {**members, "rig.json": _json_text(doc)})
    if message is None:
        rig = load_rig(out)
        assert np.isfinite(rig.pose({"ParamAngleX": 30}, 1 / 30).vertices).all()
        return
    with pytest.raises(InputError) as err:
        load_rig(out)
    assert message in str(err.value) and "\n" not in str(err.value)


def _png_header(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


def _npy_claiming(rows: int) -> bytes:
    buf = io.BytesIO()
    header = {"descr": "<f4", "fortran_order": False, "shape": (rows, 2)}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + b"\0" * 64            # the claim, and almost no data


def test_oversized_claims_are_refused_before_decompressing(good, tmp_path):
    members, _ = good
    texture = next(n for n in members if n.startswith("textures/"))
    vertices = next(n for n in members if n.endswith("_vertices.npy"))
    cases = {
        "texture": ({texture: _png_header(30000, 30000) + b"\0" * 100}, "30000x30000"),
        "vertices": ({vertices: _npy_claiming(30_000_000)}, "rows"),
        "json": ({"rig.json": b" " * (65 << 20) + b"{}"}, "MiB"),
        "nested": ({"rig.json": b"[" * 100_000 + b"]" * 100_000}, "nested"),
        "not utf-8": ({"rig.json": b"\xff\xfe{}"}, "UTF-8"),
    }
    for name, (replace, message) in cases.items():
        out = tmp_path / f"{name.replace(' ', '_')}.rig"
        _write_zip(out, {**members, **replace})
        with pytest.raises(InputError) as err:
            load_spec(out)
        assert message in str(err.value), (name, str(err.value))
        assert "\n" not in str(err.value)


def test_a_flipped_byte_in_a_deflated_member_is_one_line(rig_path, tmp_path):
    raw = bytearray(rig_path.read_bytes())
    with zipfile.ZipFile(rig_path) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("_vertices.npy")
                    and i.compress_type == zipfile.ZIP_DEFLATED)
    # The member's data starts after its local header (30 bytes + name + extra).
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    for k in range(0, info.compress_size, max(1, info.compress_size // 7)):
        bad = bytearray(raw)
        bad[start + k] ^= 0xFF
        out = tmp_path / f"flip{k}.rig"
        out.write_bytes(bytes(bad))
        _loads_or_refuses(out)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mutated_zip_members_are_refused_in_one_line_or_pose_finite(good, tmp_path_factory,
                                                                     data):
    members, _ = good
    members = dict(members)
    for _ in range(data.draw(st.integers(1, 2))):
        name = data.draw(st.sampled_from(sorted(members)))
        blob = members[name]
        how = data.draw(st.sampled_from(["truncate", "flip", "random", "drop", "empty"]))
        if how == "truncate":
            members[name] = blob[:data.draw(st.integers(0, max(len(blob) - 1, 0)))]
        elif how == "flip" and blob:
            i = data.draw(st.integers(0, len(blob) - 1))
            members[name] = blob[:i] + bytes([blob[i] ^ data.draw(st.integers(1, 255))]) + \
                blob[i + 1:]
        elif how == "random":
            members[name] = data.draw(st.binary(min_size=0, max_size=256))
        elif how == "drop":
            members.pop(name)
        else:
            members[name] = b""
    out = tmp_path_factory.mktemp("zip") / "z.rig"
    _write_zip(out, members)
    _loads_or_refuses(out)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04", b"not a zip at all", b"PK" * 1000])
def test_garbage_rig_files(tmp_path, content):
    out = tmp_path / "g.rig"
    out.write_bytes(content)
    with pytest.raises(InputError) as err:
        load_spec(out)
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------------- motions

MOTION = {"format": "seethrough-motion", "version": 1, "duration": 2.0, "loop": True,
          "curves": {"ParamAngleX": {"keys": [[0, 0], [1, 20], [2, 0]]}}}


def _motion_fields():
    return [p for p, _ in _paths(MOTION) if p]


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mutated_motion_files_are_refused_in_one_line_or_sample_finite(tmp_path_factory, data):
    doc = json.loads(json.dumps(MOTION))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_motion_fields()))
        try:
            if data.draw(st.booleans()):
                _delete(doc, path)
            else:
                _set(doc, path, copy.deepcopy(data.draw(st.sampled_from(HOSTILE_VALUES))))
        except (KeyError, IndexError, TypeError):
            pass
    out = tmp_path_factory.mktemp("motion") / "m.json"
    out.write_bytes(_json_text(doc))
    try:
        motion = load_motion(out)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    for t in (0.0, 0.5, 1.7, 1e6):
        assert all(math.isfinite(v) for v in motion.sample(t).values())


@pytest.mark.parametrize("doc, message", [
    ({**MOTION, "duration": 1e9}, "at most 3600"),
    ("[" * 100_000 + "]" * 100_000, "nested"),
])
def test_motion_limits(tmp_path, doc, message):
    out = tmp_path / "m.json"
    out.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(InputError, match=message):
        load_motion(out)


# -------------------------------------------------------------------------------- pictures

def test_a_picture_over_the_pixel_limit_is_refused_from_its_header(tmp_path):
    from seethrough_core.decompose.images import MAX_INPUT_PIXELS, load_image
    side = int(math.isqrt(MAX_INPUT_PIXELS)) + 100
    path = tmp_path / "huge.png"
    # A real PNG of zeros: tiny on disk, 400 MB if it were decoded.
    raw = zlib.compress(b"\0" * (side * 4 + 1) * 16)     # only a few rows: the header decides
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw)
                     + chunk(b"IEND", b""))
    with pytest.raises(InputError, match="megapixel limit"):
        load_image(path)


def test_a_large_picture_is_read_at_the_bounded_size_with_a_note(tmp_path):
    from PIL import Image

    from seethrough_core.decompose.images import load_image
    path = tmp_path / "large.png"
    img = np.zeros((900, 1500, 4), np.uint8)
    img[200:700, 500:1000] = (200, 120, 80, 255)          # an opaque block on transparency
    Image.fromarray(img, "RGBA").save(path)
    notes: list[str] = []
    out = load_image(path, notes, max_side=600)
    assert out.shape == (360, 600, 4)
    assert notes and "1500x900" in notes[0]
    # Premultiplied resampling: no dark fringe where the block meets transparency.
    edge = out[80:280, 198:202]
    assert (edge[..., 3] > 0).any()
    assert edge[edge[..., 3] > 30][:, 0].min() >= 190


def test_a_psd_given_to_decompose_says_what_to_do(tmp_path):
    from seethrough_core.decompose.images import load_image
    path = tmp_path / "layers.psd"
    path.write_bytes(b"8BPS" + b"\0" * 100)
    with pytest.raises(InputError, match="rig it directly"):
        load_image(path)
