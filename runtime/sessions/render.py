"""Offline renders: drive a rig with a parameter source, draw every frame, write a file.

A *driver* is anything with ``sample(t) -> dict[str, float]`` (a motion played from the rest
pose, the idle driver, the rest pose), optionally with ``events_between(t0, t1)`` (a motion's
UserData events). Frame i is at ``t = i / fps`` so the springs see the same steps a live session
would; a pre-roll at the first frame's parameters lets the hair settle before recording starts.

Frame i reports the events playback passes while it is shown, ``[t_i, t_i+1)`` (the last frame
also takes those at the very end), each once. Values outside a parameter's range are clamped by
the rig; the render reports each such parameter once, at the end, with the furthest value.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Protocol

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


class RangeWatch:
    """Driver values outside their parameter's range (the rig clamps them): the furthest one
    per parameter, so a render can name each once."""

    def __init__(self, specs: Iterable) -> None:
        self._ranges = {p.id: (float(p.min), float(p.max)) for p in specs}
        self.worst: dict[str, tuple[float, float, float]] = {}   # id -> (excess, value, t)

    def check(self, params: Mapping[str, float], t: float) -> None:
        for pid, value in params.items():
            bounds = self._ranges.get(pid)
            if bounds is None or not math.isfinite(value):
                continue
            lo, hi = bounds
            excess = lo - value if value < lo else value - hi
            if excess > 0 and excess > self.worst.get(pid, (0.0,))[0]:
                self.worst[pid] = (excess, float(value), t)

    def lines(self) -> list[str]:
        out = []
        for pid, (lo, hi) in self._ranges.items():     # in the rig's parameter order
            if pid not in self.worst:
                continue
            _, value, t = self.worst[pid]
            out.append(f"{pid} reached {value:g} (at {t:.2f} s), outside its range "
                       f"{lo:g}..{hi:g}; the rig clamped it")
        return out


def render_to_file(rig, driver: Driver, job: RenderJob,
                   progress: Callable[[int], None] | None = None, *,
                   log_path: str | os.PathLike | None = None,
                   on_event: Callable[[float, str], None] | None = None,
                   warn: Callable[[str], None] | None = None,
                   audio_from: str | os.PathLike | None = None) -> int:
    """Render ``job.frames`` frames of ``driver`` through ``rig`` into ``job.output``.

    ``log_path``: one JSON line per frame, ``{"frame", "t", "params" (every parameter as
    rendered, after the rig's clamping), "events"}``, written only when the render succeeds.
    ``on_event(t, text)``: each motion event as playback passes it. ``warn(line)``: each
    parameter a driver pushed outside its range, once, after the last frame.
    ``audio_from``: a sound (or video) file whose first audio stream is muxed into the output
    (mp4, webm, mov), from its start, cut at the last frame (``render --audio``).
    """
    import contextlib

    from seethrough_core.outputs import atomic_output, write_error

    watch = RangeWatch(rig.spec.params)
    with contextlib.ExitStack() as stack:
        log = None
        if log_path is not None:
            temp = stack.enter_context(atomic_output(log_path))
            try:
                log = stack.enter_context(open(temp, "w", encoding="utf-8"))
            except OSError as exc:
                raise write_error(log_path, exc) from None
        _render_frames(rig, driver, job, progress, log, on_event, watch, audio_from)
    if warn is not None:
        for line in watch.lines():
            warn(line)
    return job.frames


def _render_frames(rig, driver: Driver, job: RenderJob, progress, log, on_event,
                   watch: RangeWatch, audio_from=None) -> None:
    from runtime.drawing.renderer import Renderer
    from runtime.outputs.sinks import open_sink

    background = job.resolved_background()
    dt = 1.0 / job.fps
    events_between = getattr(driver, "events_between", None)
    rig.reset()
    first = driver.sample(0.0)
    for _ in range(int(round(job.preroll * job.fps))):
        rig.pose(first, dt)
    transparent = background == "transparent"
    with Renderer(rig, size=job.size, background=background, quality=job.quality,
                  fit=job.fit, margin=job.margin) as renderer:
        frame = None
        with open_sink(job.output, size=job.size, fps=job.fps,
                       background_is_transparent=transparent, audio_from=audio_from) as sink:
            for i in range(job.frames):
                t = i / job.fps
                params = driver.sample(t)
                watch.check(params, t)
                pose = rig.pose(params, dt if i else 0.0)
                frame = renderer.render(pose, out=frame)
                sink.write(frame)
                events = []
                if events_between is not None:
                    last = i == job.frames - 1
                    # The last frame also takes the events at the very end of playback.
                    t_next = max((i + 1) / job.fps, job.duration) + 1e-9 if last else \
                        (i + 1) / job.fps
                    events = events_between(t, t_next)
                for event in events:
                    if on_event is not None:
                        on_event(event.time, event.value)
                if log is not None:   # a failed write is reported by atomic_output
                    log.write(json.dumps({"frame": i, "t": round(t, 6),
                                          "params": rig.params.as_dict(),
                                          "physics": {k: round(v, 4) for k, v
                                                      in rig.hair_swing().items()},
                                          "events": [e.value for e in events]}) + "\n")
                if progress:
                    progress(1)
