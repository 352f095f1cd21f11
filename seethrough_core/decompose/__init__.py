"""Single-image decomposition: one illustration -> a layered, depth-ordered Character.

``decompose(image, backend="heuristic")`` scales the image into the backend's working range,
asks the backend for raw parts (one layer per See-through tag, with per-pixel pseudo-depth), runs
the shared finishing (left/right split, depth-guided stratification, drawing order from depth,
occlusion completion; :mod:`.finish`), scales the result back to the image's size and, for a
picture on a plain page, keeps what else the page holds as a static backdrop (:mod:`.backdrop`).

Backends, loaded lazily (the default needs no weights):

- ``heuristic``: :mod:`seethrough_core.decompose.heuristic` (colour, shape, MediaPipe pose).
- ``seethrough``: :mod:`seethrough_core.decompose.seethrough_model` (the diffusion model).

Each exposes ``decompose_parts(image_rgba, *, progress=None, **options) -> Character`` and may
set ``MEASURES_DEPTH = False`` when its pseudo-depth only restates the parts (no strata then).
``progress``, when given, is called as ``progress(stage, fraction)`` with ``fraction`` in 0..1.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np

from ..character import Character, InputError
from .backdrop import add_backdrop
from .foreground import fit_background, has_real_alpha
from .images import load_image, rescale_character, resize_rgba, to_rgba
from .restore import restore_picture

__all__ = ["BACKENDS", "decompose", "load_image", "missing_parts", "to_rgba"]

BACKENDS = ("heuristic", "seethrough")
_MODULES = {"heuristic": "seethrough_core.decompose.heuristic",
            "seethrough": "seethrough_core.decompose.seethrough_model"}
MAX_SIDE = 1280     # larger images are decomposed at this size, then the layers scaled up
MIN_SIDE = 256      # smaller ones are scaled up to this first (a 48 px icon still decomposes)


def decompose(image_rgba: np.ndarray, *, backend: str = "heuristic",
              progress: Callable[[str, float], None] | None = None,
              max_side: int = MAX_SIDE, min_side: int = MIN_SIDE, **options) -> Character:
    """Decompose an RGBA uint8 image (H, W, 4) into a finished Character of the same size."""
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    image = to_rgba(image_rgba)
    h, w = image.shape[:2]
    side = max(h, w)
    scale = max_side / side if side > max_side else (min_side / side if side < min_side else 1.0)
    work = image
    if scale != 1.0:
        work = resize_rgba(image, (max(1, round(w * scale)), max(1, round(h * scale))))
    try:
        module = importlib.import_module(_MODULES[backend])
    except ModuleNotFoundError as exc:
        if exc.name and _MODULES[backend].startswith(exc.name):
            raise InputError(f"the {backend!r} backend is not available in this installation; "
                             f"use --backend heuristic") from None
        raise
    raw = module.decompose_parts(work, progress=progress, **options)
    from .finish import finish_parts
    character = finish_parts(raw, progress=progress,
                             stratify_depth=getattr(module, "MEASURES_DEPTH", True))
    # An opaque picture's page, fitted once at full size for the restoring and the backdrop.
    page = None if has_real_alpha(image[..., 3]) else \
        fit_background(np.ascontiguousarray(image[..., :3]))
    if scale != 1.0:
        character = rescale_character(character, (w, h))
        restore_picture(character, image, page)
    if page is not None:
        add_backdrop(character, image, page)
    character.warnings.extend(missing_parts(character, had_mouth=any(
        l.tag == "mouth" for l in raw.layers)))
    if progress:
        progress("done", 1.0)
    return character


def missing_parts(character: Character, had_mouth: bool = True) -> list[str]:
    """One line per part a puppet expects that the picture did not yield, saying what that
    means for the puppet."""
    tags = {l.tag for l in character.layers if l.variant is None}
    out = []
    if not tags & {"front hair", "back hair", "hair"}:
        out.append("no hair found: nothing will swing and nothing passes behind the face")
    if "face" not in tags:
        out.append("no face found: the head turns as one flat piece")
    for side, word in (("l", "left"), ("r", "right")):
        if not any(l.tag in ("eyewhite", "irides") and l.side in (side, None)
                   for l in character.layers):
            out.append(f"no {word} eye found: it will not blink or look around")
    if not had_mouth:
        out.append("no mouth line found: the open mouth is drawn where anime faces have it")
    if "neck" not in tags:
        out.append("no neck found: the head turns on the body without one")
    return out
