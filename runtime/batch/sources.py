"""Where a batch's items come from: a folder, a glob, or a JSONL manifest.

- **A folder**: its pictures and PSDs (not recursive; hidden names skipped). A PSD's own
  sidecars (``X_depth.psd``, ``X.psd.json``) and index map (``X_index.png``) are not items.
- **A glob** (``'chars/**/*.png'``, quoted so the shell leaves it alone): the same filter.
- **A manifest** (``*.jsonl``): one JSON object per line, ``{"input": "a.png", ...}`` with any
  of the per-item options (``backend``, ``mesh_density``, ``sides``, ``steps``, ``preview``,
  ``preview_seconds``, ``seed``, ``model``, ``depth_model``, ``device``, ``dtype``,
  ``sampling_steps``, ``resolution``) and an optional folder ``name``; relative inputs are
  relative to the manifest. Every line is checked before any work starts: a bad one is one
  error naming the line.

Entries are listed whatever they turn out to be (a folder named like a picture, a FIFO): such
an item fails with its own error line, it does not stop the batch.
"""
from __future__ import annotations

import glob
import json
import os
from pathlib import Path
from typing import Any

from seethrough_core.character import InputError
from seethrough_core.loading import IMAGE_SUFFIXES, PSD_SUFFIXES

from .items import (OPTIONS, Item, check_name, check_option, folder_names, merged_options,
                    options_used, parse_steps, steps_for)

SUFFIXES = IMAGE_SUFFIXES | PSD_SUFFIXES
MANIFEST_KEYS = ("input", "name", "steps", *OPTIONS)
MAX_MANIFEST_BYTES = 64 * 2**20


def collect(src: str, out_dir: Path, defaults: dict, steps: tuple[str, ...]) -> list[Item]:
    """The items of ``src`` with the command line's ``defaults`` and ``steps``; inputs inside
    ``out_dir`` (a batch's own outputs) are left out. InputError when ``src`` names nothing
    usable or a manifest line is bad."""
    path = Path(src)
    if path.is_file() and path.suffix.lower() == ".jsonl":
        return _from_manifest(path, out_dir, defaults, steps)
    if path.is_dir():
        found = [Path(e.path) for e in os.scandir(path)]
        inputs = _pictures(found, out_dir)
        if not inputs:
            raise InputError(f"{src}: no pictures or PSDs in this folder "
                             f"({', '.join(sorted(SUFFIXES))})")
    elif glob.has_magic(src):
        inputs = _pictures([Path(p) for p in glob.glob(src, recursive=True)], out_dir)
        if not inputs:
            raise InputError(f"{src}: matches no pictures or PSDs")
    elif path.exists() or path.is_symlink():
        if path.suffix.lower() not in SUFFIXES:
            raise InputError(f"{src}: give a folder, a glob, a .jsonl manifest, or a picture "
                             "or PSD")
        inputs = [_absolute(path)]
    else:
        raise InputError(f"{src}: no such folder or file, and no glob pattern")
    names = folder_names(inputs, [None] * len(inputs))
    return [_item(p, n, defaults, steps, None) for p, n in zip(inputs, names)]


def _absolute(path: Path) -> Path:
    # Not resolve(): a symlink stays itself, so a dangling one is reported as that input.
    return Path(os.path.abspath(path))


def _pictures(paths: list[Path], out_dir: Path) -> list[Path]:
    out = _absolute(out_dir)
    candidates = sorted({_absolute(p) for p in paths
                         if p.suffix.lower() in SUFFIXES and not p.name.startswith(".")})
    present = set(candidates)
    kept = []
    for p in candidates:
        if p == out or out in p.parents:
            continue
        if _belongs_to_a_psd(p, present):
            continue
        kept.append(p)
    return kept


def _belongs_to_a_psd(path: Path, present: set[Path]) -> bool:
    """``X_depth.psd`` and ``X_index.png`` beside ``X.psd`` are parts of that PSD."""
    stem, suffix = path.stem, path.suffix.lower()
    for tail in ("_depth", "_index"):
        if stem.endswith(tail) and (tail == "_depth") == (suffix in PSD_SUFFIXES):
            base = stem[: -len(tail)]
            if any(path.with_name(base + s) in present or path.with_name(base + s).is_file()
                   for s in (".psd", ".psb", ".PSD", ".PSB")):
                return True
    return False


def _item(path: Path, name: str, options: dict, steps: tuple[str, ...],
          line: int | None) -> Item:
    chosen = steps_for(steps, path.suffix.lower() in PSD_SUFFIXES)
    return Item(input=path, name=name, steps=chosen, options=options_used(options, chosen),
                line=line)


def _from_manifest(path: Path, out_dir: Path, defaults: dict,
                   steps: tuple[str, ...]) -> list[Item]:
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise InputError(f"{path}: the manifest is over {MAX_MANIFEST_BYTES >> 20} MiB")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: the manifest is not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from None
    base = _absolute(path).parent
    rows: list[tuple[int, Path, str | None, dict, tuple[str, ...]]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        rows.append((number, *_manifest_line(raw, where, base, defaults, steps)))
    if not rows:
        raise InputError(f"{path}: the manifest lists no items (one JSON object per line, "
                         "e.g. {\"input\": \"a.png\"})")
    given = [r[2] for r in rows]
    seen: dict[str, int] = {}
    for number, _, name, _, _ in rows:
        if name is not None:
            if name.casefold() in seen:
                raise InputError(f"{path}:{number}: folder name {name!r} is already used on "
                                 f"line {seen[name.casefold()]}")
            seen[name.casefold()] = number
    names = folder_names([r[1] for r in rows], given)
    out = _absolute(out_dir)
    items = []
    for (number, input_path, _, options, item_steps), name in zip(rows, names):
        if input_path == out or out in input_path.parents:
            raise InputError(f"{path}:{number}: {input_path} is inside the output folder")
        items.append(_item(input_path, name, options, item_steps, number))
    return items


def _manifest_line(raw: str, where: str, base: Path, defaults: dict, steps: tuple[str, ...]
                   ) -> tuple[Path, str | None, dict, tuple[str, ...]]:
    try:
        entry = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(entry, dict):
        raise InputError(f"{where}: each line must be a JSON object, e.g. {{\"input\": \"a.png\"}}")
    unknown = [k for k in entry if k not in MANIFEST_KEYS]
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(MANIFEST_KEYS)})")
    source = entry.get("input")
    if not isinstance(source, str) or not source.strip():
        raise InputError(f"{where}: \"input\" is missing or empty (the picture or PSD to process)")
    input_path = Path(os.path.expanduser(source))
    if not input_path.is_absolute():
        input_path = base / input_path
    input_path = _absolute(input_path)
    if input_path.suffix.lower() not in SUFFIXES:
        raise InputError(f"{where}: {source}: not a picture or PSD "
                         f"({', '.join(sorted(SUFFIXES))})")
    name = check_name(entry["name"], f"{where}: \"name\"") if "name" in entry else None
    given: dict[str, Any] = {}
    for key in OPTIONS:
        if key in entry:
            value = check_option(key, entry[key], f"{where}: \"{key}\"")
            if key in ("model", "depth_model"):
                value = _model_path(value, base)
            given[key] = value
    item_steps = parse_steps(entry["steps"], f"{where}: \"steps\"") if "steps" in entry else steps
    options = merged_options(defaults, given, where)
    if not steps_for(item_steps, input_path.suffix.lower() in PSD_SUFFIXES):
        raise InputError(f"{where}: a PSD has no decompose step to run; ask for build or "
                         "preview")
    return input_path, name, options, item_steps


def _model_path(value: str, base: Path) -> str:
    """A model folder relative to the manifest becomes absolute; a Hugging Face id (no such
    folder) stays as it is."""
    candidate = Path(os.path.expanduser(value))
    if not candidate.is_absolute():
        candidate = base / candidate
    return str(_absolute(candidate)) if candidate.exists() else value
