"""The rig file: one zip holding `rig.json`, textures as PNG and mesh arrays as .npy.

    rig.json            format_version, canvas size, anchors, parameters, layers, chains, physics
    textures/NNN.png    layer NNN's straight-alpha RGBA pixels
    meshes/NNN_vertices.npy, NNN_triangles.npy, NNN_uvs.npy, NNN_boundary.npy

The JSON stores what the rig *is* (a config); everything derived (deformer tables, warp bindings,
ARAP factorisations) is rebuilt on load, the way a diffusers config rebuilds a model. Files are
written to a temporary name and renamed, so a crash never leaves half a rig; loading validates
everything and turns any problem into one InputError line.
"""
from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np

from seethrough_core.character import InputError
from seethrough_core.outputs import atomic_output

from . import rigcheck
from .mesh import Mesh
from .model import FORMAT_VERSION, LayerSpec, Rig, RigSpec

GENERATOR = "seethrough-rig"
MAX_LAYERS = 4096


def save_rig(rig_or_spec: Rig | RigSpec, path: str | os.PathLike) -> None:
    spec = rig_or_spec.spec if isinstance(rig_or_spec, Rig) else rig_or_spec
    path = Path(path)
    doc = {
        "format_version": FORMAT_VERSION,
        "generator": GENERATOR,
        "size": list(spec.size),
        "source": spec.source,
        "mesh_density": spec.mesh_density,
        "anchors": _jsonable(spec.anchors.to_dict()),
        "parameters": [p.to_dict() for p in spec.params],
        "layers": [],
        "chains": [c.to_dict() for c in spec.chains],
        "physics": {g: p.to_dict() for g, p in sorted(spec.chain_params.items())},
    }
    files: dict[str, bytes] = {}
    for i, layer in enumerate(spec.layers):
        tex = f"textures/{i:03d}.png"
        files[tex] = _encode_png(layer.texture)
        mesh_files = {}
        for key in ("vertices", "triangles", "uvs", "boundary"):
            name = f"meshes/{i:03d}_{key}.npy"
            files[name] = _encode_npy(getattr(layer.mesh, key))
            mesh_files[key] = name
        doc["layers"].append({
            "name": layer.name, "tag": layer.tag, "side": layer.side, "stratum": layer.stratum,
            "group": layer.group, "variant": layer.variant, "offset": list(layer.offset),
            "depth": layer.depth, "clip_to": layer.clip_to, "texture": tex, "mesh": mesh_files,
        })
    with atomic_output(path) as tmp:
        # Exclusive create honours the umask: a rig is an ordinary document.
        with open(tmp, "xb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("rig.json", json.dumps(doc, ensure_ascii=False, indent=1))
            for name, data in files.items():
                # PNGs are compressed already; storing them saves time for nothing lost.
                zf.writestr(name, data, compress_type=zipfile.ZIP_STORED if name.endswith(".png")
                            else zipfile.ZIP_DEFLATED)


def load_spec(path: str | os.PathLike) -> RigSpec:
    """Read and check a rig file. Any problem is one InputError naming the file and the field;
    sizes are checked before anything is decompressed, so a hostile file cannot take more
    memory or time than the limits below allow."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a rig file; build one with "
                         f"`seethrough-rig build`")
    if not path.is_file():
        raise InputError(f"{path}: no such rig file")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: not a rig file (not a zip archive: {exc}); build one with "
                         f"`seethrough-rig build`") from None
    with zf:
        try:
            return _parse(_read_json(zf), zf)
        except _NotARig as exc:
            raise InputError(f"{path}: not a rig file ({exc})") from None
        except _TooNew as exc:
            raise InputError(f"{path}: {exc}") from None
        except InputError as exc:        # a part's own check (spring parameters ...)
            raise InputError(f"{path}: corrupt rig file ({_one_line(exc)})") from None
        except (ValueError, KeyError, TypeError, IndexError, EOFError, OSError, RuntimeError,
                NotImplementedError, zipfile.BadZipFile, zlib.error) as exc:
            # RecursionError is a RuntimeError: JSON nested deeper than any rig needs.
            raise InputError(f"{path}: corrupt rig file ({_one_line(exc)})") from None


def load_rig(path: str | os.PathLike) -> Rig:
    """A posable Rig from a rig file; it is posed once at rest and at its parameters' extremes,
    so a rig that loads never produces a non-finite vertex."""
    spec = load_spec(path)
    try:
        rig = Rig(spec)
        _probe(rig)
    except InputError:
        raise
    except (ValueError, IndexError, KeyError, TypeError, ZeroDivisionError, ArithmeticError,
            np.linalg.LinAlgError, RuntimeError) as exc:
        raise InputError(f"{path}: corrupt rig file (its parts do not fit together: "
                         f"{_one_line(exc)})") from None
    return rig


def _probe(rig: Rig) -> None:
    corners = [{p.id: p.default for p in rig.spec.params}, {p.id: p.min for p in rig.spec.params},
               {p.id: p.max for p in rig.spec.params}]
    for params in corners:
        pose = rig.pose(params, 1.0 / 30.0)
        if not np.isfinite(pose.vertices).all():
            raise ValueError("posing it gives non-finite vertices")
    rig.reset()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


class _NotARig(ValueError):
    pass


class _TooNew(ValueError):
    pass


# ------------------------------------------------------------------------------ limits

MAX_MEMBERS = 8 * MAX_LAYERS + 16
MAX_JSON_BYTES = 64 << 20
MAX_PNG_BYTES = 256 << 20
MAX_TEXTURE_PIXELS = 256 << 20          # all textures together (1 GiB as RGBA)
MAX_LAYER_VERTICES = 250_000
MAX_TOTAL_VERTICES = 1_000_000
MAX_LAYER_TRIANGLES = 600_000
MAX_TOTAL_TRIANGLES = 2_400_000


def _member(zf: zipfile.ZipFile, name) -> zipfile.ZipInfo:
    if not isinstance(name, str):
        raise ValueError(f"member name must be text, got {type(name).__name__}")
    try:
        return zf.getinfo(name)
    except KeyError:
        raise ValueError(f"{name} missing") from None


def _read_member(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """A member's bytes, never more than ``limit`` of them decompressed (zip bombs stop here)."""
    info = _member(zf, name)
    if info.file_size > limit:
        raise ValueError(f"{name} is {info.file_size >> 20} MiB, over the {limit >> 20} MiB limit")
    with zf.open(info) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{name} is over the {limit >> 20} MiB limit")
    return data


def _read_json(zf: zipfile.ZipFile):
    if len(zf.infolist()) > MAX_MEMBERS:
        raise ValueError(f"{len(zf.infolist())} members, more than a rig can have")
    try:
        raw = _read_member(zf, "rig.json", MAX_JSON_BYTES)
    except ValueError as exc:
        if "missing" in str(exc):
            raise _NotARig("no rig.json inside") from None
        raise
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise ValueError("rig.json is not UTF-8 text") from None
    except RecursionError:
        raise ValueError("rig.json is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"rig.json is not valid JSON: {exc}") from None


def _no_constant(name: str):
    raise ValueError(f"rig.json holds {name}; every number must be finite")


# ------------------------------------------------------------------------------ parsing

def _parse(doc, zf: zipfile.ZipFile) -> RigSpec:
    if not isinstance(doc, dict):
        raise ValueError("rig.json is not an object")
    version = doc.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise _NotARig("missing format_version")
    if version > FORMAT_VERSION:
        raise _TooNew(f"rig format {version} is newer than this seethrough-rig understands "
                         f"({FORMAT_VERSION}); upgrade seethrough-rig to open it")
    if version < 1:
        raise ValueError(f"format_version {version}")
    size = rigcheck.canvas_size(doc.get("size"))
    anchors = rigcheck.anchors(doc.get("anchors"))
    params = rigcheck.parameters(doc.get("parameters"))
    raw_layers = rigcheck.sequence(doc.get("layers"), "layers", MAX_LAYERS)
    budget = {"pixels": MAX_TEXTURE_PIXELS, "vertices": MAX_TOTAL_VERTICES,
              "triangles": MAX_TOTAL_TRIANGLES}
    layers = [_layer(d, i, len(raw_layers), zf, budget) for i, d in enumerate(raw_layers)]
    chains = rigcheck.chains(doc.get("chains", []), len(layers))
    physics = rigcheck.physics(doc.get("physics", {}))
    return RigSpec(size=size, anchors=anchors, layers=layers, chains=chains, chain_params=physics,
                   params=params, mesh_density=rigcheck.mesh_density(doc.get("mesh_density", 1.0)),
                   source=rigcheck.text(doc.get("source"), "source", optional=True))


def _layer(d, i: int, n_layers: int, zf: zipfile.ZipFile, budget: dict) -> LayerSpec:
    fields = rigcheck.layer_fields(d, i, n_layers)
    where = f"layer {i}"
    texture = _read_png(zf, d.get("texture"), budget, where)
    m = rigcheck.mapping(d.get("mesh"), f"{where} mesh")
    vertices = _read_npy(zf, m.get("vertices"), np.float32, (None, 2), MAX_LAYER_VERTICES,
                         budget, "vertices", where)
    n = len(vertices)
    mesh = Mesh(vertices=vertices,
                triangles=_read_npy(zf, m.get("triangles"), np.int32, (None, 3),
                                    MAX_LAYER_TRIANGLES, budget, "triangles", where),
                uvs=_read_npy(zf, m.get("uvs"), np.float32, (n, 2), MAX_LAYER_VERTICES,
                              None, None, where),
                boundary=_read_npy(zf, m.get("boundary"), np.int32, (None,), MAX_LAYER_VERTICES,
                                   None, None, where))
    if mesh.triangles.size and (mesh.triangles.min() < 0 or mesh.triangles.max() >= n):
        raise ValueError(f"{where}: triangle index out of range")
    if mesh.boundary.size and (mesh.boundary.min() < 0 or mesh.boundary.max() >= n):
        raise ValueError(f"{where}: boundary index out of range")
    for key in ("vertices", "uvs"):
        arr = getattr(mesh, key)
        if not np.isfinite(arr).all() or (np.abs(arr) > rigcheck.COORD_LIMIT).any():
            raise ValueError(f"{where}: {key} hold non-finite or far-off values")
    return LayerSpec(texture=texture, mesh=mesh, **fields)


def _read_png(zf: zipfile.ZipFile, name, budget: dict, where: str) -> np.ndarray:
    """A texture, its size read from the PNG header before any pixel is decoded."""
    try:
        data = _read_member(zf, name, MAX_PNG_BYTES)
    except ValueError as exc:
        raise ValueError(f"{where}: texture {exc}") from None
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError(f"{where}: texture {name} is not a PNG")
    w, h = struct.unpack(">II", data[16:24])
    if not (0 < w <= rigcheck.MAX_CANVAS and 0 < h <= rigcheck.MAX_CANVAS):
        raise ValueError(f"{where}: texture {name} is {w}x{h}; the limit is "
                         f"{rigcheck.MAX_CANVAS} px a side")
    budget["pixels"] -= w * h
    if budget["pixels"] < 0:
        raise ValueError(f"{where}: the textures hold more than {MAX_TEXTURE_PIXELS >> 20} "
                         "megapixels together")
    try:
        return _decode_png(data)
    except ValueError as exc:
        raise ValueError(f"{where}: texture {name}: {exc}") from None


def _read_npy(zf: zipfile.ZipFile, name, dtype, shape: tuple, limit: int, budget: dict | None,
              budget_key: str | None, where: str) -> np.ndarray:
    """A mesh array, its shape read from the .npy header before its data is decompressed."""
    if not isinstance(name, str):
        raise ValueError(f"{where}: mesh array name missing")
    try:
        info = _member(zf, name)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    with zf.open(info) as fh:
        try:
            major, _ = np.lib.format.read_magic(fh)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else \
                np.lib.format.read_array_header_2_0
            arr_shape, fortran, arr_dtype = read_header(fh)
        except Exception as exc:       # numpy parses the header as Python literals: anything
            raise ValueError(f"{where}: {name} is not a .npy array ({_one_line(exc)})") from None
        if arr_dtype.kind not in "fiu" or arr_dtype.itemsize > 8 or arr_dtype.hasobject:
            raise ValueError(f"{where}: {name} has dtype {arr_dtype}")
        if len(arr_shape) != len(shape) or any(s is not None and a != s
                                               for a, s in zip(arr_shape, shape)):
            raise ValueError(f"{where}: {name} has shape {arr_shape}")
        count = arr_shape[0] if arr_shape else 0
        if count > limit:
            raise ValueError(f"{where}: {name} has {count} rows, over the limit of {limit}")
        if budget is not None:
            budget[budget_key] -= count
            if budget[budget_key] < 0:
                raise ValueError(f"{where}: the rig holds more {budget_key} than the limit")
        nbytes = int(np.prod(arr_shape, dtype=np.int64)) * arr_dtype.itemsize
        data = fh.read(nbytes)
    if len(data) != nbytes:
        raise ValueError(f"{where}: {name} is truncated")
    arr = np.frombuffer(data, arr_dtype).reshape(arr_shape, order="F" if fortran else "C")
    return arr.astype(dtype)


# --------------------------------------------------------------------------- encodings

def _encode_png(rgba: np.ndarray) -> bytes:
    if rgba.size == 0:
        rgba = np.zeros((1, 1, 4), np.uint8)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgba), cv2.COLOR_RGBA2BGRA),
                           [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def _decode_png(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim != 3 or img.shape[2] != 4 or img.dtype != np.uint8:
        raise ValueError("texture is not an 8-bit RGBA PNG")
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)


def _encode_npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
