"""One item of a batch: its input, the folder it is written to, its steps and its options.

Options are checked here, once, whether they come from the command line or from a manifest
line, and reduced to the ones its steps use: that reduced set is what a rerun compares to decide
whether an item is already done.
"""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seethrough_core.character import InputError

STEPS = ("decompose", "build", "preview")
PREVIEWS = ("sheet", "video")
SIDES = ("auto", "character", "image")
DTYPES = ("fp32", "fp16", "bf16")
BACKENDS = ("heuristic", "seethrough")
SEED_MAX = 2**32 - 1
# The diffusion backend's options (``sampling_steps`` is `decompose --steps`: here --steps
# names the batch's steps).
MODEL_OPTIONS = ("model", "depth_model", "device", "dtype", "sampling_steps", "resolution")
OPTIONS = ("backend", "mesh_density", "sides", "preview", "preview_seconds", "seed",
           *MODEL_OPTIONS)
DEFAULTS: dict[str, Any] = {"backend": "heuristic", "mesh_density": 1.0, "sides": "auto",
                            "preview": "sheet", "preview_seconds": 3.0, "seed": 0}
RESERVED_NAMES = {"results.jsonl"}
MAX_NAME = 100


@dataclass(frozen=True)
class Item:
    """One picture or PSD to process: ``input`` absolute, ``name`` its folder in OUT_DIR,
    ``steps`` in order, ``options`` only those its steps use; ``line`` its manifest line."""
    input: Path
    name: str
    steps: tuple[str, ...]
    options: dict = field(hash=False)
    line: int | None = None

    @property
    def is_psd(self) -> bool:
        return is_psd(self.input)


def is_psd(path: Path) -> bool:
    return path.suffix.lower() in (".psd", ".psb")


# ------------------------------------------------------------------------------------ checks

def check_option(key: str, value: Any, where: str) -> Any:
    """``value`` for option ``key``, checked (JSON types: a bool is not a number); InputError
    naming ``where`` (a flag, or ``manifest:LINE: "key"``) otherwise."""
    def fail(what: str) -> InputError:
        return InputError(f"{where}: {what}")

    def number(lo: float, hi: float, *, whole: bool = False, open_lo: bool = False):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(f"{value!r} is not a number")
        if whole and (isinstance(value, float) and not value.is_integer()):
            raise fail(f"{value!r} is not a whole number")
        if not math.isfinite(value) or value < lo or value > hi or (open_lo and value <= lo):
            raise fail(f"{value!r}: give a {'whole ' if whole else ''}number "
                       f"{'above' if open_lo else 'from'} {lo:g} {'up ' if open_lo else ''}to {hi:g}")
        return int(value) if whole else float(value)

    def choice(options: tuple[str, ...]):
        if value not in options:
            raise fail(f"{value!r}: choose one of {', '.join(options)}")
        return value

    if key == "backend":
        return choice(BACKENDS)
    if key == "mesh_density":
        return number(0.05, 20)
    if key == "sides":
        return choice(SIDES)
    if key == "preview":
        return choice(PREVIEWS)
    if key == "preview_seconds":
        return number(0, 3600, open_lo=True)
    if key == "seed":
        return number(0, SEED_MAX, whole=True)
    if key == "dtype":
        return choice(DTYPES)
    if key == "sampling_steps":
        return number(1, 1000, whole=True)
    if key == "resolution":
        return number(64, 8192, whole=True)
    if key in ("model", "depth_model", "device"):
        if not isinstance(value, str) or not value.strip():
            raise fail(f"{value!r}: give a non-empty string")
        return value
    raise fail(f"unknown option (known: {', '.join(OPTIONS)})")


def parse_steps(value: Any, where: str) -> tuple[str, ...]:
    """``"decompose,build"`` or ``["decompose", "build"]`` -> the steps, checked."""
    if isinstance(value, str):
        names = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        names = [v.strip() for v in value]
    else:
        raise InputError(f"{where}: give the steps as a list of names or one comma-separated "
                         f"string ({', '.join(STEPS)})")
    if not names:
        raise InputError(f"{where}: no steps given (choose from {', '.join(STEPS)})")
    for name in names:
        if name not in STEPS:
            raise InputError(f"{where}: unknown step {name!r} (choose from {', '.join(STEPS)})")
    return tuple(s for s in STEPS if s in names)


def steps_for(requested: tuple[str, ...], psd: bool) -> tuple[str, ...]:
    """The steps an item runs: each requested step brings the ones it needs (a preview needs
    the rig; a rig of a picture needs its layers), and a PSD is never decomposed."""
    wanted = set(requested)
    if "preview" in wanted:
        wanted.add("build")
    if "build" in wanted and not psd:
        wanted.add("decompose")
    if psd:
        wanted.discard("decompose")
    return tuple(s for s in STEPS if s in wanted)


def merged_options(defaults: dict, given: dict, where: str) -> dict:
    """The command line's options with a manifest line's over them; the model options only
    with the seethrough backend."""
    options = {**defaults, **{k: v for k, v in given.items() if v is not None}}
    if options.get("backend", "heuristic") == "heuristic":
        extra = [k for k in MODEL_OPTIONS if options.get(k) is not None]
        if extra:
            raise InputError(f"{where}: {extra[0]!r} applies to the seethrough backend only; "
                             "the heuristic backend needs no model")
    return options


def options_used(options: dict, steps: tuple[str, ...]) -> dict:
    """The options that change what ``steps`` write, defaults filled in: the item's identity
    together with its input's hash."""
    full = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    used: dict[str, Any] = {}
    seethrough = False
    if "decompose" in steps:
        used["backend"] = full["backend"]
        if full["backend"] == "seethrough":
            seethrough = True
            for key in MODEL_OPTIONS:
                if full.get(key) is not None:
                    used[key] = full[key]
    if "build" in steps:
        used["mesh_density"] = float(full["mesh_density"])
        used["sides"] = full["sides"]
    if "preview" in steps:
        used["preview"] = full["preview"]
        if full["preview"] == "video":
            used["preview_seconds"] = float(full["preview_seconds"])
    if seethrough or used.get("preview") == "video":
        used["seed"] = int(full["seed"])
    return used


# ------------------------------------------------------------------------------------- names

_UNSAFE = re.compile(r"[^\w.\-]+")


def safe_name(text: str) -> str:
    """A folder name from an input's stem: letters, digits, ``_ . -`` only, never hidden."""
    name = _UNSAFE.sub("_", text).lstrip(".")[:MAX_NAME].rstrip(".") or "item"
    if name.casefold() in RESERVED_NAMES:
        name += "_"
    return name


def check_name(name: Any, where: str) -> str:
    """A folder name given in a manifest: used as it is, so it must already be safe."""
    if not isinstance(name, str) or not name or safe_name(name) != name:
        raise InputError(f"{where}: {name!r}: a folder name of letters, digits, '_', '.' and "
                         f"'-' (not starting with '.', at most {MAX_NAME} characters)")
    return name


def folder_names(inputs: list[Path], given: list[str | None]) -> list[str]:
    """A distinct folder name per input, the same on every run of the same source: the
    input's stem; where stems collide, stem and suffix (``a-png``, ``a-psd``); where those
    still collide, a short hash of the full path; then a counter. Names compare without
    case (the output folder may live on a case-insensitive file system)."""
    taken = {n.casefold() for n in given if n}
    names: list[str | None] = list(given)
    auto = [i for i, n in enumerate(given) if not n]

    def key(i: int, level: int) -> str:
        path = inputs[i]
        if level == 0:
            return safe_name(path.stem)
        name = safe_name(f"{path.stem}-{path.suffix.lstrip('.').lower()}")
        if level == 1:
            return name
        digest = hashlib.sha1(str(path).encode("utf-8", "surrogateescape")).hexdigest()[:8]
        return f"{name[:MAX_NAME - 9]}-{digest}"

    pending = auto
    for level in range(3):
        counts: dict[str, int] = {}
        for i in pending:
            k = key(i, level).casefold()
            counts[k] = counts.get(k, 0) + 1
        still = []
        for i in pending:
            k = key(i, level)
            if counts[k.casefold()] == 1 and k.casefold() not in taken:
                names[i] = k
                taken.add(k.casefold())
            else:
                still.append(i)
        pending = still
    for i in pending:                    # the same path twice (a manifest may list it twice)
        base, n = key(i, 2), 2
        while f"{base}-{n}".casefold() in taken:
            n += 1
        names[i] = f"{base}-{n}"
        taken.add(names[i].casefold())
    return [n for n in names if n is not None]
