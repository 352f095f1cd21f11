"""GLSL sources, shipped as package data and loaded by name.

``source("layer.frag", defines=("CLIPPED",))`` returns the text with ``#define`` lines inserted
right after the ``#version`` line, so one file can serve several program variants.
"""
from __future__ import annotations

from importlib import resources
from typing import Iterable


def source(name: str, defines: Iterable[str] = ()) -> str:
    """The text of shader file ``name`` in this package, with optional ``#define``s."""
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    extra = "".join(f"#define {d}\n" for d in defines)
    if not extra:
        return text
    head, sep, rest = text.partition("\n")
    if not head.startswith("#version"):
        raise ValueError(f"shader {name} must start with a #version line")
    return head + sep + extra + rest
