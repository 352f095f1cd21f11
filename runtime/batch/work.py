"""One item's work: its steps, written into its own folder, all or nothing.

``run_item(task)`` runs in a worker (a pool process or a Ray task) and returns the item's
record; it never raises for a bad item (its record says ``failed`` with one error line). Every
file goes into ``OUT_DIR/.NAME.PID-TOKEN.part/`` and that folder is renamed to ``OUT_DIR/NAME``
when the last step is done, with ``item.json`` (the record) inside and every file flushed to
disk first: a folder under the real name is always complete, and ``item.json`` is how a rerun
knows it is done. A worker killed halfway
leaves only its hidden temporary, which the next writer of that item removes.

What an item's folder holds: ``NAME.psd`` with ``NAME_depth.psd``, ``NAME.psd.json`` and
``NAME_index.png`` (decompose), ``NAME.rig`` (build), ``preview.png`` (a pose sheet) or
``preview.mp4`` (an idle animation) (preview), and ``item.json``.

A task is a plain dict (it crosses process and machine boundaries): ``input``, ``name``,
``out_dir``, ``steps``, ``options``, ``input_sha256``, ``sidecars_sha256``, ``line``,
optionally ``decomposed`` (the decompose step's files, already made elsewhere: see
:func:`decompose_files`) and ``test_hook`` (tests only).
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

from seethrough_core.character import InputError

ITEM_RECORD = "item.json"
HOOK_ENV = "SEETHROUGH_BATCH_TEST_HOOK"
_CHUNK = 1 << 20


class StepFailed(Exception):
    """A step of an item failed: ``step`` and one ``line`` saying why."""

    def __init__(self, step: str, line: str) -> None:
        super().__init__(f"{step}: {line}")
        self.step, self.line = step, line


# ---------------------------------------------------------------------------------- hashing

def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a regular file's bytes. Anything else (a folder, a FIFO, a device, a broken
    link) or an unreadable file is InputError with one line, and is never opened for reading
    when it is not a regular file (a FIFO would block)."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file" if not path.is_symlink()
                         else f"{path}: a link to a file that does not exist") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path}: is a folder, not a picture or PSD")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{path}: not a regular file (a pipe, socket or device); give a "
                         "picture or PSD file")
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return digest.hexdigest()


def input_hashes(path: Path, psd: bool) -> tuple[str, dict[str, str]]:
    """(sha256 of the input, {sidecar file name: sha256}) - a PSD's ``_depth.psd`` and
    ``.psd.json`` change its rig too."""
    sha = file_sha256(path)
    sidecars: dict[str, str] = {}
    if psd:
        from seethrough_core.psd_write import sidecar_paths
        for side in sidecar_paths(path):
            if side.is_file():
                sidecars[side.name] = file_sha256(side)
    return sha, sidecars


# -------------------------------------------------------------------------------- done check

def finished_record(out_dir: Path, name: str, sha: str, sidecars: dict[str, str],
                    options: dict, steps: list[str]) -> dict | None:
    """The record in ``OUT_DIR/NAME/item.json`` when it is of this very input (hash, sidecars),
    options and steps and every output it lists is there; None otherwise."""
    try:
        record = json.loads((out_dir / name / ITEM_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("status") != "ok":
        return None
    if (record.get("input_sha256") != sha or record.get("sidecars_sha256", {}) != sidecars
            or record.get("options") != options or record.get("steps") != list(steps)):
        return None
    outputs = record.get("outputs")
    if not isinstance(outputs, dict):
        return None
    for rel in outputs.values():
        if not isinstance(rel, str):
            return None
        target = out_dir / rel
        try:
            if not target.is_file() or target.stat().st_size == 0:
                return None
        except OSError:
            return None
    return record


# --------------------------------------------------------------------------------- the steps

def base_record(task: dict) -> dict:
    record: dict[str, Any] = {"input": task["input"], "name": task["name"]}
    if task.get("line") is not None:
        record["line"] = task["line"]
    record.update({"input_sha256": task.get("input_sha256"),
                   "sidecars_sha256": task.get("sidecars_sha256") or {},
                   "options": task["options"], "steps": list(task["steps"])})
    return record


def failed_record(task: dict, line: str, timings: dict | None = None) -> dict:
    return {**base_record(task), "status": "failed", "error": line, "timings": timings or {},
            "outputs": {}}


def run_item(task: dict) -> dict:
    """Run an item's steps into its folder; its record (``status`` ok or failed)."""
    from seethrough_core.outputs import atomic_output, fsync_paths

    started = time.perf_counter()
    timings: dict[str, float] = {}
    warnings: list[str] = []
    out_dir = Path(task["out_dir"])
    name = task["name"]
    options = task["options"]
    steps = list(task["steps"])
    outputs: dict[str, str] = {}
    try:
        with atomic_output(out_dir / name, folder=True) as tmp:
            source = Path(task["input"])
            spec = None
            if "decompose" in steps:
                with _step("decompose", timings):
                    decomposed = task.get("decomposed")
                    if decomposed is None:
                        decomposed = decompose_files(task)
                    if decomposed.get("error"):
                        raise StepFailed("decompose", decomposed["error"])
                    for file_name, data in decomposed["files"].items():
                        (tmp / file_name).write_bytes(data)
                        outputs[_output_key(name, file_name)] = f"{name}/{file_name}"
                    warnings += decomposed.get("warnings", [])
                timings["decompose"] = round(decomposed["seconds"], 3)
                if task.get("decomposed") is not None:     # made elsewhere (a model actor)
                    started -= decomposed["seconds"]
                source = tmp / f"{name}.psd"
                _test_hook(task, "decompose")
            if "build" in steps:
                with _step("build", timings):
                    spec = _build(source, tmp / f"{name}.rig", options, warnings)
                    outputs["rig"] = f"{name}/{name}.rig"
                _test_hook(task, "build")
            if "preview" in steps:
                with _step("preview", timings):
                    outputs["preview"] = f"{name}/{_preview(spec, tmp, options)}"
            timings["total"] = round(time.perf_counter() - started, 3)
            record = {**base_record(task), "status": "ok", "timings": timings,
                      "outputs": outputs, "warnings": warnings}
            (tmp / ITEM_RECORD).write_text(json.dumps(record, ensure_ascii=False, indent=1),
                                           encoding="utf-8")
            # On disk before the rename: a power cut cannot tear it.
            fsync_paths([*(p for p in tmp.iterdir() if p.is_file()), tmp])
        fsync_paths([out_dir])
        return record
    except StepFailed as exc:
        line = f"{exc.step}: {exc.line}"
    except InputError as exc:           # writing the folder itself (a full disk, read-only)
        line = f"writing: {exc}"
    timings["total"] = round(time.perf_counter() - started, 3)
    return failed_record(task, line, timings)


def _output_key(name: str, file_name: str) -> str:
    if file_name == f"{name}.psd":
        return "psd"
    if file_name == f"{name}_depth.psd":
        return "depth_psd"
    if file_name == f"{name}.psd.json":
        return "psd_json"
    if file_name == f"{name}_index.png":
        return "index_png"
    return file_name


class _step:
    """Times a step and turns any error in it into :class:`StepFailed` with one line
    (an OSError of an input must not read as a failure to write the item's folder)."""

    def __init__(self, name: str, timings: dict[str, float]) -> None:
        self.name, self.timings = name, timings

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, kind, exc, tb) -> bool:
        self.timings[self.name] = round(time.perf_counter() - self.t0, 3)
        if exc is None or not isinstance(exc, Exception):
            return False             # success, or Ctrl-C / SIGTERM: let it through
        if isinstance(exc, StepFailed):
            return False
        raise StepFailed(self.name, error_line(exc)) from None


def error_line(exc: BaseException) -> str:
    """One line for an exception, as the command line would print it."""
    if isinstance(exc, InputError):
        return str(exc)
    if isinstance(exc, OSError):
        what = exc.strerror or str(exc) or type(exc).__name__
        return f"{exc.filename}: {what}" if exc.filename is not None else what
    if isinstance(exc, MemoryError):
        return "not enough memory for this input"
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to read"
    detail = " ".join(str(exc).split())[:200]
    return f"internal error: {type(exc).__name__}{': ' + detail if detail else ''}"


def decompose_files(task: dict) -> dict:
    """The decompose step's files as bytes, made in a private temporary folder:
    ``{"files": {name: bytes}, "seconds", "warnings"}``, or ``{"error": line}``. A model actor
    runs this and hands the bytes on to the task that writes the item's folder."""
    t0 = time.perf_counter()
    name, options = task["name"], task["options"]
    try:
        from seethrough_core.decompose import decompose, load_image
        from seethrough_core.decompose.index_map import (index_map, index_png_bytes,
                                                        index_png_path)
        from seethrough_core.psd_write import write_psd

        notes: list[str] = []
        image = load_image(Path(task["input"]), notes)
        character = decompose(image, backend=options.get("backend", "heuristic"),
                              **model_kwargs(options))
        character.source = task["input"]
        with tempfile.TemporaryDirectory(prefix="seethrough-batch-") as folder:
            psd = Path(folder) / f"{name}.psd"
            write_psd(character, psd, extra={index_png_path(psd): index_png_bytes(
                index_map(character))})
            files = {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())
                     if not p.name.startswith(".")}
        return {"files": files, "seconds": round(time.perf_counter() - t0, 3),
                "warnings": notes + list(character.warnings)}
    except Exception as exc:                                 # noqa: BLE001 - one line per item
        return {"error": error_line(exc), "seconds": round(time.perf_counter() - t0, 3)}


def model_kwargs(options: dict) -> dict:
    """The diffusion backend's keyword arguments from an item's options."""
    if options.get("backend") != "seethrough":
        return {}
    names = {"model": "model", "depth_model": "depth_model", "device": "device",
             "dtype": "dtype", "seed": "seed", "sampling_steps": "steps",
             "resolution": "resolution"}
    return {arg: options[key] for key, arg in names.items() if options.get(key) is not None}


def _build(source: Path, out: Path, options: dict, warnings: list[str]):
    from rig.autorig import build_spec
    from rig.rigfile import save_rig
    from seethrough_core.loading import load_character

    character = load_character(source, side_convention=options.get("sides", "auto"))
    spec = build_spec(character, mesh_density=float(options.get("mesh_density", 1.0)))
    save_rig(spec, out)
    warnings += [w for w in character.warnings if w not in warnings]
    return spec


def _preview(spec, folder: Path, options: dict) -> str:
    from rig.model import Rig

    rig = Rig(spec)
    if options.get("preview", "sheet") == "video":
        from runtime.drivers.idle import IdleDriver
        from runtime.sessions.render import RenderJob, render_to_file
        out = folder / "preview.mp4"
        job = RenderJob(output=out, size=_even(rig.size), fps=30.0,
                        duration=float(options.get("preview_seconds", 3.0)))
        render_to_file(rig, IdleDriver(seed=int(options.get("seed", 0))), job)
        return out.name
    from runtime.sessions import motion_eval as me
    out = folder / "preview.png"
    frames = me.render_poses(rig, me.SHEET_POSES)
    box = me.face_box(rig) or (0, 0, *rig.size)
    me.write_png(out, me.pose_sheet([("", frames)], me.SHEET_POSES, box))
    return out.name


def _even(size) -> tuple[int, int]:
    """H.264 wants even sides; a canvas of odd size is rendered one pixel smaller."""
    w, h = (int(v) for v in size)
    return max(16, w - w % 2), max(16, h - h % 2)


# ---------------------------------------------------------------------------------- testing

def hook_from_env() -> dict | None:
    """The test hook (``SEETHROUGH_BATCH_TEST_HOOK``, JSON), read by the batch's driver and
    carried in each task: ``{"kill": [names], "times": 1, "marker": DIR, "at": "decompose",
    "sleep": SECONDS}`` SIGKILLs the worker running one of ``names`` at step ``at`` the first
    ``times`` times (counted by marker files in DIR, so across processes); ``sleep`` holds
    every item there first. Tests only."""
    text = os.environ.get(HOOK_ENV)
    if not text:
        return None
    try:
        hook = json.loads(text)
    except ValueError:
        return None
    return hook if isinstance(hook, dict) else None


def _test_hook(task: dict, step: str) -> None:
    hook = task.get("test_hook")
    if not hook or hook.get("at", step) != step:
        return
    if hook.get("sleep"):
        time.sleep(float(hook["sleep"]))
    if task["name"] not in hook.get("kill", ()):
        return
    marker = Path(hook["marker"])
    marker.mkdir(parents=True, exist_ok=True)
    done = len(list(marker.glob(f"{task['name']}.killed.*")))
    if done < int(hook.get("times", 1)):
        (marker / f"{task['name']}.killed.{done}").touch()
        os.kill(os.getpid(), signal.SIGKILL)
