"""Physics files: the tuned spring parameters of a rig's chain groups, apart from the rig.

``physics --export`` writes one, ``build --physics`` reads one; ``--preset`` and ``--set`` edit
the parameters by group. Shared by the physics command and its window.
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


def export_physics(path: str | os.PathLike, params: dict) -> None:
    """Write {group: ChainParams} as a physics file, atomically (temp file + rename)."""
    path = Path(path)
    text = json.dumps(physics_document(params), indent=2) + "\n"
    if not (path.parent if str(path.parent) else Path(".")).is_dir():
        raise InputError(f"{path}: the folder {path.parent} does not exist")
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def load_physics(path: str | os.PathLike) -> dict:
    """{group: ChainParams} from a physics file (or a bare {group: {param: value}})."""
    from rig.springs import ChainParams
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except OSError as exc:
        raise InputError(f"{path}: cannot read physics file ({exc.strerror})") from None
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise InputError(f"{path}: not a physics file (JSON nested too deeply)") from None
    groups = doc.get("groups", doc) if isinstance(doc, dict) else None
    if not isinstance(groups, dict):
        raise InputError(f"{path}: expected {{\"groups\": {{group: {{parameter: value}}}}}}")
    try:
        return {str(g): ChainParams.from_dict(p) for g, p in groups.items()}
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
