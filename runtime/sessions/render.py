"""Offline renders: drive a rig with a parameter source, draw every frame, write a file.

A *driver* is anything with ``sample(t) -> dict[str, float]`` (a motion file, the idle driver,
the rest pose). Frames are timed at exactly ``1 / fps`` so the springs see the same steps a
live session would; a pre-roll at the first frame's parameters lets the hair settle before
recording starts, so a motion that begins with the head turned does not open with a jolt.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from seethrough_core.character import InputError

ALPHA_FORMATS = {".webm", ".mov", ".png", ".gif", ""}   # "" = a directory of PNGs


class Driver(Protocol):
    def sample(self, t: float) -> dict[str, float]: ...


class RestDriver:
    """The default parameters: eyes open, mouth closed, facing the viewer."""

    def sample(self, t: float) -> dict[str, float]:
        return {}


@dataclass
class RenderJob:
    output: Path
    size: tuple[int, int]
    fps: float
    duration: float              # seconds; a single frame when 0
    background: str = "auto"     # "auto" | "transparent" | "#RRGGBB" | "green"
    quality: str = "normal"
    preroll: float = 1.0
    margin: float = 0.05
    fit: str = "canvas"

    @property
    def frames(self) -> int:
        return max(1, int(round(self.duration * self.fps)))

    def resolved_background(self) -> str:
        suffix = self.output.suffix.lower()
        if self.background == "auto":
            return "transparent" if suffix in ALPHA_FORMATS else "#ffffff"
        if self.background == "transparent" and suffix not in ALPHA_FORMATS:
            raise InputError(f"{self.output.name}: {suffix} cannot carry transparency; use .webm, "
                             f".mov, .png or a folder, or give --background '#RRGGBB'")
        return self.background


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 1080x1080") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise InputError(f"--size {text!r}: each side must be between 16 and 8192 px")
    return w, h


def render_to_file(rig, driver: Driver, job: RenderJob,
                   progress: Callable[[int], None] | None = None) -> int:
    """Render ``job.frames`` frames of ``driver`` through ``rig`` into ``job.output``."""
    from runtime.drawing.renderer import Renderer
    from runtime.outputs.sinks import open_sink

    background = job.resolved_background()
    dt = 1.0 / job.fps
    rig.reset()
    first = driver.sample(0.0)
    for _ in range(int(round(job.preroll * job.fps))):
        rig.pose(first, dt)
    transparent = background == "transparent"
    with Renderer(rig, size=job.size, background=background, quality=job.quality,
                  fit=job.fit, margin=job.margin) as renderer:
        frame = None
        with open_sink(job.output, size=job.size, fps=job.fps,
                       background_is_transparent=transparent) as sink:
            for i in range(job.frames):
                pose = rig.pose(driver.sample(i * dt), dt if i else 0.0)
                frame = renderer.render(pose, out=frame)
                sink.write(frame)
                if progress:
                    progress(1)
    return job.frames
