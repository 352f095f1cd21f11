"""One entry point from a file on disk to a Character, whatever the file is."""
from __future__ import annotations

import os
from pathlib import Path

from .character import Character, InputError

PSD_SUFFIXES = {".psd", ".psb"}


def load_character(path: str | os.PathLike, *, side_convention: str = "auto",
                   progress: bool = False) -> Character:
    """Read a layered character from a PSD/PSB (See-through output or an artist's file)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give a .psd or .psb file")
    suffix = path.suffix.lower()
    if suffix in PSD_SUFFIXES:
        from .psd_read import read_psd
        return read_psd(path, side_convention=side_convention, progress=progress)
    raise InputError(f"{path}: unsupported file type {suffix or '(none)'!r}; "
                     f"give a layered .psd or .psb")
