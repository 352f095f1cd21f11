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
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

from seethrough_core.character import InputError

from . import springs
from .anchors import Anchors
from .chains import ChainSpec
from .mesh import Mesh
from .model import FORMAT_VERSION, LayerSpec, Rig, RigSpec
from .params import ParamSpec

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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("rig.json", json.dumps(doc, ensure_ascii=False, indent=1))
            for name, data in files.items():
                # PNGs are compressed already; storing them saves time for nothing lost.
                zf.writestr(name, data, compress_type=zipfile.ZIP_STORED if name.endswith(".png")
                            else zipfile.ZIP_DEFLATED)
        # mkstemp makes 0600 files; a rig is an ordinary document: honour the umask instead.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_spec(path: str | os.PathLike) -> RigSpec:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such rig file")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path}: not a rig file (not a zip archive: {exc}); build one with "
                         f"`seethrough-rig build`") from None
    with zf:
        try:
            doc = json.loads(zf.read("rig.json").decode("utf-8"))
        except KeyError:
            raise InputError(f"{path}: not a rig file (no rig.json inside)") from None
        except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, OSError) as exc:
            raise InputError(f"{path}: corrupt rig file (rig.json unreadable: {exc})") from None
        return _parse(doc, zf, path)


def load_rig(path: str | os.PathLike) -> Rig:
    spec = load_spec(path)
    try:
        return Rig(spec)
    except InputError:
        raise
    except (ValueError, IndexError) as exc:
        raise InputError(f"{path}: corrupt rig file (its meshes do not fit together: {exc})") from None


# ------------------------------------------------------------------------------ parsing

def _parse(doc, zf: zipfile.ZipFile, path: Path) -> RigSpec:
    def bad(msg: str) -> InputError:
        return InputError(f"{path}: corrupt rig file ({msg})")

    if not isinstance(doc, dict):
        raise bad("rig.json is not an object")
    version = doc.get("format_version")
    if not isinstance(version, int):
        raise bad("missing format_version")
    if version > FORMAT_VERSION:
        raise InputError(f"{path}: rig format {version} is newer than this seethrough-rig "
                         f"understands ({FORMAT_VERSION}); upgrade seethrough-rig to open it")
    if version < 1:
        raise bad(f"format_version {version}")
    try:
        size = tuple(int(v) for v in doc["size"])
        if len(size) != 2 or min(size) <= 0:
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise bad("size must be [W, H] with positive integers") from None
    try:
        anchors = Anchors.from_dict(doc["anchors"])
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(f"anchors: {exc}") from None
    try:
        params = tuple(ParamSpec(**p) for p in doc["parameters"])
    except (KeyError, TypeError) as exc:
        raise bad(f"parameters: {exc}") from None

    raw_layers = doc.get("layers")
    if not isinstance(raw_layers, list) or len(raw_layers) > MAX_LAYERS:
        raise bad("layers must be a list")
    layers = []
    for i, d in enumerate(raw_layers):
        try:
            texture = _decode_png(zf.read(d["texture"]))
            m = d["mesh"]
            mesh = Mesh(vertices=_read_npy(zf, m["vertices"], np.float32, (None, 2)),
                        triangles=_read_npy(zf, m["triangles"], np.int32, (None, 3)),
                        uvs=_read_npy(zf, m["uvs"], np.float32, (None, 2)),
                        boundary=_read_npy(zf, m["boundary"], np.int32, (None,)))
            n = len(mesh.vertices)
            if len(mesh.uvs) != n:
                raise ValueError("uvs and vertices differ in count")
            if mesh.triangles.size and (mesh.triangles.min() < 0 or mesh.triangles.max() >= n):
                raise ValueError("triangle index out of range")
            if mesh.boundary.size and (mesh.boundary.min() < 0 or mesh.boundary.max() >= n):
                raise ValueError("boundary index out of range")
            if not np.isfinite(mesh.vertices).all() or not np.isfinite(mesh.uvs).all():
                raise ValueError("non-finite vertex data")
            clip = d.get("clip_to")
            if clip is not None and not (0 <= int(clip) < len(raw_layers)):
                raise ValueError("clip_to out of range")
            layers.append(LayerSpec(
                name=str(d["name"]), tag=str(d["tag"]), texture=texture,
                offset=(int(d["offset"][0]), int(d["offset"][1])), mesh=mesh, side=d.get("side"),
                stratum=d.get("stratum"), group=d.get("group"), variant=d.get("variant"),
                depth=None if d.get("depth") is None else float(d["depth"]),
                clip_to=None if clip is None else int(clip)))
        except KeyError as exc:
            raise bad(f"layer {i}: missing {exc}") from None
        except (TypeError, ValueError, zipfile.BadZipFile, OSError) as exc:
            raise bad(f"layer {i}: {exc}") from None
    try:
        chains = [ChainSpec.from_dict(c) for c in doc.get("chains", [])]
        for c in chains:
            if not (0 <= c.layer < len(layers)) or c.rest.ndim != 2 or c.rest.shape[1] != 2 \
                    or len(c.rest) < 2 or not np.isfinite(c.rest).all():
                raise ValueError(f"chain {c.name!r} is malformed")
        physics = {g: springs.ChainParams.from_dict(p) for g, p in doc.get("physics", {}).items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise bad(f"chains: {exc}") from None
    return RigSpec(size=size, anchors=anchors, layers=layers, chains=chains, chain_params=physics,
                   params=params, mesh_density=float(doc.get("mesh_density", 1.0)),
                   source=doc.get("source"))


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


def _read_npy(zf: zipfile.ZipFile, name: str, dtype, shape: tuple) -> np.ndarray:
    try:
        arr = np.load(io.BytesIO(zf.read(name)), allow_pickle=False)
    except KeyError:
        raise ValueError(f"{name} missing") from None
    except (ValueError, OSError) as exc:
        raise ValueError(f"{name} unreadable: {exc}") from None
    if arr.ndim != len(shape) or any(s is not None and a != s for a, s in zip(arr.shape, shape)):
        raise ValueError(f"{name} has shape {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name} has dtype {arr.dtype}")
    return arr.astype(dtype, copy=False)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
