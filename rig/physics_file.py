"""Physics files: the tuned spring parameters of a rig's chain groups, apart from the rig.

``physics --export`` writes one, ``build --physics`` and ``physics --import`` read one;
``--preset`` and ``--set`` edit the parameters by group. Shared by the physics command and its
window. Live2D physics3.json files are read and written too (rig.physics3), told apart by content.
"""
from __future__ import annotations

import json
import os
from dataclasses import fields, replace
from pathlib import Path

from seethrough_core.character import InputError
from seethrough_core.outputs import atomic_output

PHYSICS_FORMAT = "seethrough-rig physics"
PHYSICS_FORMAT_VERSION = 1
MAX_PHYSICS_BYTES = 4 << 20      # physics files are kilobytes; refuse a huge one before parsing
EXPORT_FORMATS = ("seethrough", "physics3")


def tuning(rig) -> dict:
    """The rig's chain physics per group (values for the reference head size)."""
    return {g: rig.chain_params(g) for g in rig.chain_groups()}


def apply_edits(params: dict, presets: list[str], settings: list[str]) -> dict:
    """``params`` {group: ChainParams} with ``--preset`` and ``--set`` edits applied, in that
    order. Unknown groups, presets, parameters and bad values are InputErrors."""
    from rig.springs import PRESETS, ChainParams
    out = dict(params)
    names = {f.name for f in fields(ChainParams)}

    def targets(group: str, what: str) -> list[str]:
        if group in ("", "*"):
            return list(out)
        if group not in out:
            raise InputError(f"{what}: no chain group {group!r}; this rig has "
                             f"{', '.join(sorted(out))}")
        return [group]

    for text in presets:
        group, _, name = text.rpartition("=")
        name = name.strip()
        if name not in PRESETS:
            raise InputError(f"--preset {text!r}: unknown preset {name!r}; choose one of "
                             f"{', '.join(PRESETS)}")
        for g in targets(group.strip(), f"--preset {text!r}"):
            out[g] = PRESETS[name]
    for text in settings:
        key, eq, value = text.rpartition("=")
        group, dot, name = key.rpartition(".")
        if not eq or not dot:
            raise InputError(f"--set {text!r}: expected GROUP.PARAM=VALUE, e.g. "
                             f"'back hair.gravity=900'")
        name = name.strip()
        if name not in names:
            raise InputError(f"--set {text!r}: unknown parameter {name!r}; known: "
                             f"{', '.join(sorted(names))}")
        try:
            number = float(value)
        except ValueError:
            raise InputError(f"--set {text!r}: {value!r} is not a number") from None
        for g in targets(group.strip(), f"--set {text!r}"):
            out[g] = replace(out[g], **{name: number})     # ChainParams validates the value
    return out


def physics_document(params: dict) -> dict:
    """The JSON document `--export` writes and `build --physics` reads."""
    return {"format": PHYSICS_FORMAT, "format_version": PHYSICS_FORMAT_VERSION,
            "groups": {g: p.to_dict() for g, p in sorted(params.items())}}


def export_physics(path: str | os.PathLike, params: dict, *, fmt: str = "seethrough",
                   segments: dict[str, int] | None = None) -> list[str]:
    """Write {group: ChainParams} as a physics file, atomically (temp file + rename).

    ``fmt``: "seethrough" (ours) or "physics3" (Live2D; ``segments``: per group, how many
    pendulum segments, e.g. from the rig's chains). Returns notes on what the format could not
    hold (none for ours)."""
    from rig.physics3 import physics3_document
    path = Path(path)
    if fmt == "physics3":
        doc, notes = physics3_document(params, segments)
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    elif fmt == "seethrough":
        notes, text = [], json.dumps(physics_document(params), indent=2) + "\n"
    else:
        raise InputError(f"unknown physics format {fmt!r}; choose {' or '.join(EXPORT_FORMATS)}")
    if not (path.parent if str(path.parent) else Path(".")).is_dir():
        raise InputError(f"{path}: the folder {path.parent} does not exist")
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return notes


def load_physics(path: str | os.PathLike) -> dict:
    """{group: ChainParams} from a physics file (ours, a bare {group: {param: value}}, or a
    physics3.json); see ``read_physics`` for the notes on what a physics3 file could not say."""
    return read_physics(path)[0]


def read_physics(path: str | os.PathLike) -> tuple[dict, list[str]]:
    """({group: ChainParams}, notes) from a physics file, its format told by its content: a
    Live2D physics3.json (``Version`` + ``PhysicsSettings``) or ours. Notes (physics3 only) say
    what could not be mapped."""
    from rig.physics3 import import_physics3, is_physics3
    from rig.springs import ChainParams
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_PHYSICS_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read physics file ({exc.strerror})") from None
    if len(data) > MAX_PHYSICS_BYTES:
        raise InputError(f"{path}: over {MAX_PHYSICS_BYTES >> 20} MiB, too large for a physics "
                         f"file; give the physics3.json or `physics --export` file")
    try:
        doc = json.loads(data.decode("utf-8-sig"))     # Cubism Editor may write a BOM
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a physics file (not UTF-8 text)") from None
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise InputError(f"{path}: not a physics file (JSON nested too deeply)") from None
    if is_physics3(doc):
        return import_physics3(doc, str(path))
    groups = doc.get("groups", doc) if isinstance(doc, dict) else None
    if not isinstance(groups, dict):
        raise InputError(f"{path}: expected {{\"groups\": {{group: {{parameter: value}}}}}} "
                         f"(from `physics --export`) or a Live2D physics3.json")
    out = {}
    for g, p in groups.items():
        try:
            out[str(g)] = ChainParams.from_dict(p)
        except InputError as exc:
            raise InputError(f"{path}: group {g!r}: {exc} (expected a `physics --export` file "
                             f"or a Live2D physics3.json)") from None
    return out, []
