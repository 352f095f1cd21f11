"""One entry point from a file on disk to a Character, whatever the file is."""
from __future__ import annotations

import os
from pathlib import Path

from .character import Character, InputError

PSD_SUFFIXES = {".psd", ".psb"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def load_character(path: str | os.PathLike, *, side_convention: str = "auto",
                   progress: bool = False) -> Character:
    """Read a layered character from a PSD/PSB (See-through output or an artist's file), or
    decompose a single illustration (PNG, JPEG, WebP...) with the default (heuristic) backend."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give a .psd/.psb or an image file")
    suffix = path.suffix.lower()
    if suffix in PSD_SUFFIXES:
        from .psd_read import read_psd
        return read_psd(path, side_convention=side_convention, progress=progress)
    if suffix in IMAGE_SUFFIXES:
        from .decompose import decompose, load_image
        notes: list[str] = []
        character = decompose(load_image(path, notes))
        character.source = str(path)
        character.warnings[:0] = notes
        return character
    raise InputError(f"{path}: unsupported file type {suffix or '(none)'!r}; give a layered "
                     f".psd/.psb or an image ({', '.join(sorted(IMAGE_SUFFIXES))})")
