"""The live session: camera -> tracking -> rig -> renderer -> window / virtual camera / recording.

Three stages run at once so a slow one never stalls the others:

* a capture thread reads the source (webcam, or a file in real time) and leaves the newest frame
  in a one-slot mailbox; a frame the tracker had no time for is overwritten (a dropped frame);
* a tracking thread takes the newest frame, turns it into parameters with the active driver
  (face tracking, or the idle animation when tracking is toggled off) and leaves the result in a
  second one-slot mailbox;
* the render loop (the calling thread: OpenGL and the window live there) ticks at exactly
  ``fps`` on absolute deadlines, poses the rig with the newest parameters, draws, and writes the
  frame to every output. A tick that is missed is skipped, not made up in a burst.

Latency is measured from the instant a frame was captured to the instant the first output frame
that used its parameters was handed to the outputs. The session prints a report every few
seconds and returns a `LiveSummary` (median/p95 latency, render/tracking/capture fps, drops).

Keys in the window: C recalibrates (the next face is the neutral pose), T toggles tracking/idle,
Q or Esc quits. Switching between tracking and idle eases over `SWITCH_EASE` seconds so the head
does not jump. With expressions (Live2D .exp3.json, at most ten), the number keys 1..9 and 0
toggle them; each fades in and out over its own FadeInTime/FadeOutTime and is laid over whatever
drives the rig (tracking or idle). Keys need the window: a session without one (virtual camera,
recording) can still switch expressions through ``toggle_expression``.
"""
from __future__ import annotations

import math
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable, Protocol, Sequence, TextIO

import numpy as np

from rig.params import STANDARD_PARAMS

from runtime.drivers.capture import CapturedFrame, FrameSource
from runtime.drivers.expressions import ExpressionToggles, key_help
from runtime.drivers.inputs import ParamInput, overlay

SWITCH_EASE = 0.4            # seconds to blend from one parameter source to the other
MAX_POSE_DT = 0.25           # springs never see a longer step (a stall is not a fling)
KEY_HELP = "keys: C recalibrate, T toggle tracking/idle, Q or Esc quit"

_DEFAULTS = {p.id: float(p.default) for p in STANDARD_PARAMS}


# ------------------------------------------------------------------------------ protocols

class ParamDriver(Protocol):
    """What the tracking thread drives: frames in, Live2D parameters out."""

    face_found: bool
    timings: dict[str, float]

    def update(self, frame_rgb: np.ndarray, t: float) -> dict[str, float]: ...

    def calibrate(self) -> None: ...

    def close(self) -> None: ...


class FrameOutput(Protocol):
    """A sink for rendered (h, w, 4) straight-alpha RGBA frames: a video file, a virtual camera.

    An output with ``keeps_alpha = True`` (the browser source, an alpha-capable virtual camera)
    gets the puppet over transparency whatever the background; the others get it over the
    background (see `LiveSession.run`)."""

    def write(self, frame: np.ndarray) -> None: ...

    def close(self) -> None: ...


class IdleParamDriver:
    """The idle animation as a `ParamDriver`: ignores the frame, samples the idle at t."""

    face_found = False
    tracks_faces = False         # left out of the face-found share

    def __init__(self, idle) -> None:
        self.idle = idle
        self.timings: dict[str, float] = {}

    def update(self, frame_rgb: np.ndarray, t: float) -> dict[str, float]:
        return self.idle.sample(t)

    def calibrate(self) -> None:
        """Nothing to calibrate without a face."""

    def close(self) -> None:
        """Nothing to release."""


# ------------------------------------------------------------------------------ pure helpers

def blend_params(old: dict[str, float], new: dict[str, float], weight: float) -> dict[str, float]:
    """``old`` -> ``new`` by ``weight`` in [0, 1]; an id missing on one side takes its default."""
    w = min(max(float(weight), 0.0), 1.0)
    out = {}
    for pid in old.keys() | new.keys():
        default = _DEFAULTS.get(pid, 0.0)
        a, b = old.get(pid, default), new.get(pid, default)
        out[pid] = a + (b - a) * w
    return out


def key_help_line(expressions: Sequence = ()) -> str:
    """The key help printed when a window opens; with expressions, which number key is which."""
    if not expressions:
        return KEY_HELP
    return f"{KEY_HELP}; expressions (toggle): {key_help(expressions)}"


def expression_index(key: int) -> int | None:
    """The expression a glfw key code toggles: 1..9 -> 0..8, 0 -> 9 (top row or keypad)."""
    import glfw
    for zero in (glfw.KEY_0, glfw.KEY_KP_0):
        if zero <= key <= zero + 9:
            return (key - zero - 1) % 10
    return None


def ease(x: float) -> float:
    """Smoothstep on [0, 1]: starts and ends at rest."""
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def fit_frame(frame: np.ndarray, size: tuple[int, int],
              background: tuple[int, int, int, int]) -> np.ndarray:
    """``frame`` scaled into (w, h) = ``size`` keeping its aspect, centred over ``background``
    (RGBA). Used when the window was resized but the outputs need their fixed size."""
    import cv2

    w, h = size
    fh, fw = frame.shape[:2]
    if (fw, fh) == (w, h):
        return frame
    scale = min(w / fw, h / fh)
    sw, sh = max(1, round(fw * scale)), max(1, round(fh * scale))
    out = np.empty((h, w, 4), np.uint8)
    out[...] = background
    x0, y0 = (w - sw) // 2, (h - sh) // 2
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out[y0:y0 + sh, x0:x0 + sw] = cv2.resize(frame, (sw, sh), interpolation=interp)
    return out


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


# ------------------------------------------------------------------------------ mailboxes

class Mailbox:
    """A one-slot handoff between threads: ``put`` replaces what was not taken yet (and
    returns it, so the producer can count the drop), ``take`` waits for something new."""

    def __init__(self) -> None:
        self._item = None
        self._cond = threading.Condition()

    def put(self, item):
        with self._cond:
            replaced, self._item = self._item, item
            self._cond.notify_all()
        return replaced

    def take(self, timeout: float | None = None):
        with self._cond:
            if self._item is None and timeout:
                self._cond.wait(timeout)
            item, self._item = self._item, None
        return item

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


@dataclass(frozen=True)
class Tracked:
    """One tracking result: the parameters of one captured frame."""

    params: dict[str, float]
    frame_index: int
    t_captured: float
    t_tracked: float
    face_found: bool
    timings: dict[str, float]
    tracking: bool               # True: the tracking driver; False: the idle one
    tracks_faces: bool           # the driver looks for faces (the idle one does not)


# ------------------------------------------------------------------------------ statistics

@dataclass
class LiveSummary:
    seconds: float
    captured: int                # frames the source delivered
    tracked: int                 # frames the tracker processed
    rendered: int                # output frames drawn
    dropped_capture: int         # captured frames the tracker never saw
    dropped_tracked: int         # tracking results replaced before any output frame used them
    late_ticks: int              # output ticks missed because a frame took too long
    latency_ms_median: float | None
    latency_ms_p95: float | None
    render_fps: float
    tracking_fps: float
    capture_fps: float
    face_found_share: float | None
    track_ms_median: float | None
    render_ms_median: float | None
    stopped_by: str = "end"
    # Per extra input (mic, vmc ...): its data-to-output latency, median and p95, in ms.
    inputs: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        lat = ("n/a" if self.latency_ms_median is None else
               f"{self.latency_ms_median:.1f} ms median, {self.latency_ms_p95:.1f} ms p95")
        out = [f"live: {self.seconds:.1f} s ({self.stopped_by}); capture->output latency {lat}",
               f"  render {self.render_fps:.1f} fps ({self.rendered} frames, median "
               f"{_ms(self.render_ms_median)}), tracking {self.tracking_fps:.1f} fps "
               f"({self.tracked} frames, median {_ms(self.track_ms_median)}), capture "
               f"{self.capture_fps:.1f} fps ({self.captured} frames)",
               f"  dropped: {self.dropped_capture} captured frames not tracked, "
               f"{self.dropped_tracked} tracked frames not shown, {self.late_ticks} late output "
               f"ticks"]
        if self.face_found_share is not None:
            out.append(f"  face found in {100 * self.face_found_share:.0f}% of tracked frames")
        for name, figures in (self.inputs or {}).items():
            lat = ("no data" if figures["latency_ms_median"] is None else
                   f"{figures['latency_ms_median']:.1f} ms median, "
                   f"{figures['latency_ms_p95']:.1f} ms p95")
            out.append(f"  {name}: data->output latency {lat}, drove "
                       f"{figures['frames']} frames")
        return out


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


class LiveStats:
    """Counters and samples of a session; thread-safe where threads touch them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.captured = 0
        self.dropped_capture = 0
        self.tracked = 0
        self.dropped_tracked = 0
        self.faces = 0
        self.face_frames = 0          # frames tracked by the tracking (not idle) driver
        self.rendered = 0
        self.late_ticks = 0
        self.latencies_ms: list[float] = []
        self.track_ms: list[float] = []
        self.render_ms: list[float] = []
        self.input_latency_ms: dict[str, list[float]] = {}
        self.input_frames: dict[str, int] = {}

    def on_input(self, name: str, drove: bool, latency_ms: float | None) -> None:
        """Once per rendered frame per extra input: whether it drove the frame and, for fresh
        data, how long it took from capture to output."""
        with self._lock:
            self.input_frames[name] = self.input_frames.get(name, 0) + int(drove)
            samples = self.input_latency_ms.setdefault(name, [])
            if latency_ms is not None:
                samples.append(latency_ms)

    def on_capture(self, dropped: bool) -> None:
        with self._lock:
            self.captured += 1
            self.dropped_capture += int(dropped)

    def on_tracked(self, result: Tracked, ms: float, dropped: bool) -> None:
        with self._lock:
            self.tracked += 1
            self.dropped_tracked += int(dropped)
            self.track_ms.append(ms)
            if result.tracks_faces:
                self.face_frames += 1
                self.faces += int(result.face_found)

    def on_rendered(self, ms: float, latency_ms: float | None) -> None:
        with self._lock:
            self.rendered += 1
            self.render_ms.append(ms)
            if latency_ms is not None:
                self.latencies_ms.append(latency_ms)

    def latencies_between(self, start: int, stop: int) -> list[float]:
        with self._lock:
            return self.latencies_ms[start:stop]

    def snapshot(self) -> tuple[int, int, int, int, int]:
        with self._lock:
            return (self.captured, self.tracked, self.rendered, self.dropped_capture,
                    len(self.latencies_ms))

    def summary(self, seconds: float, stopped_by: str) -> LiveSummary:
        with self._lock:
            span = max(seconds, 1e-9)
            return LiveSummary(
                seconds=seconds, captured=self.captured, tracked=self.tracked,
                rendered=self.rendered, dropped_capture=self.dropped_capture,
                dropped_tracked=self.dropped_tracked, late_ticks=self.late_ticks,
                latency_ms_median=percentile(self.latencies_ms, 50),
                latency_ms_p95=percentile(self.latencies_ms, 95),
                render_fps=self.rendered / span, tracking_fps=self.tracked / span,
                capture_fps=self.captured / span,
                face_found_share=(self.faces / self.face_frames) if self.face_frames else None,
                track_ms_median=percentile(self.track_ms, 50),
                render_ms_median=percentile(self.render_ms, 50), stopped_by=stopped_by,
                inputs={name: {"latency_ms_median": percentile(v, 50),
                               "latency_ms_p95": percentile(v, 95),
                               "frames": self.input_frames.get(name, 0)}
                        for name, v in self.input_latency_ms.items()} or None)


# ------------------------------------------------------------------------------ the session

@dataclass
class LiveOptions:
    size: tuple[int, int] = (512, 512)
    fps: float = 30.0
    background: str = "green"
    quality: str = "normal"
    margin: float = 0.05
    fit: str = "canvas"
    window: bool = False
    duration: float | None = None      # seconds; None: until quit, Ctrl-C or the file ends
    report_every: float = 5.0          # seconds between progress lines; 0: summary only
    start_with_tracking: bool = True
    calibrate_at_start: bool = False


class LiveSession:
    """One live run. ``run()`` blocks on the calling thread (which owns OpenGL and the window)
    until the duration is over, the source ends, Q/Esc/the window's close button, Ctrl-C or
    ``stop()``; then it closes the driver, the outputs and the source and returns the summary.

    ``driver`` tracks faces; ``idle`` is what T switches to (and what a session without a
    tracker runs on). ``outputs`` receive every frame at ``options.size``. ``on_frame(session,
    frame_number)`` is called after each output frame on the render thread (overlays, tests).
    ``expressions`` (loaded .exp3.json files, at most ten) start off; the number keys or
    ``toggle_expression`` switch them. ``inputs`` (runtime.drivers.inputs: microphone
    lip-sync, VMC, iFacialMocap ...) are started with the session and laid over the tracked or
    idle parameters every frame, in order; a lost input eases back to what lies under it.
    Recalibrating (C, ``calibrate_at_start``) also calls an input's ``calibrate()`` if it has one.
    ``params_log`` receives one JSON line per rendered frame: ``frame``, ``t`` (s since the
    start), ``params`` (every parameter the rig was posed with) and ``sources`` (which input
    drove each id: ``tracking``, ``idle``, an input's name, or ``expression``).
    """

    def __init__(self, rig, source: FrameSource, driver: ParamDriver, *,
                 idle: ParamDriver | None = None, outputs: list[FrameOutput] | tuple = (),
                 options: LiveOptions | None = None, log: TextIO | None = None,
                 on_frame: Callable[["LiveSession", int], None] | None = None,
                 expressions: Sequence = (), inputs: Sequence[ParamInput] = (),
                 params_log: TextIO | None = None) -> None:
        self.rig = rig
        self.source = source
        self.driver = driver
        self.idle = idle
        self.outputs = list(outputs)
        self.options = options or LiveOptions()
        self.log = log if log is not None else sys.stdout
        self.on_frame = on_frame
        self.stats = LiveStats()
        self.renderer = None
        self.tracking_enabled = self.options.start_with_tracking or idle is None
        self._stop = threading.Event()
        self._stopped_by = "end"
        self._calibrate = threading.Event()
        self._source_ended = threading.Event()
        self._errors: list[BaseException] = []
        self._frames = Mailbox()
        self._results = Mailbox()
        self._t0 = 0.0
        self.expressions = ExpressionToggles(expressions)
        self.inputs = list(inputs)
        self.params_log = params_log
        self._last_captured: dict[str, float] = {}
        specs = getattr(getattr(rig, "spec", None), "params", STANDARD_PARAMS)
        self._defaults = {p.id: float(p.default) for p in specs}
        if self.options.calibrate_at_start:
            self._calibrate.set()
            self._calibrate_inputs()

    # ---------------------------------------------------------------------------- controls

    def stop(self, reason: str = "stopped") -> None:
        if not self._stop.is_set():
            self._stopped_by = reason
        self._stop.set()
        self._frames.wake()

    def recalibrate(self) -> None:
        self._calibrate.set()
        self._calibrate_inputs()
        self._say("calibrating: the next face seen is the neutral pose")

    def _calibrate_inputs(self) -> None:
        """Inputs that track a face themselves (iFacialMocap) take the next one as neutral."""
        for inp in self.inputs:
            calibrate = getattr(inp, "calibrate", None)
            if calibrate is not None:
                calibrate()

    def toggle_tracking(self) -> None:
        if self.idle is None:
            self._say("no idle animation to switch to; tracking stays on")
            return
        self.tracking_enabled = not self.tracking_enabled
        self._say("tracking on" if self.tracking_enabled else "tracking off: idle animation")

    def toggle_expression(self, index: int, now: float | None = None) -> None:
        """Switch expression ``index`` (0-based) on or off; it fades from where it is."""
        if not 0 <= index < len(self.expressions):
            self._say(f"no expression on key {(index + 1) % 10} ("
                      f"{len(self.expressions)} loaded; --expressions DIR loads them)")
            return
        now = time.perf_counter() if now is None else now
        on = self.expressions.toggle(index, now)
        name = self.expressions.expressions[index].name
        self._say(f"expression {name} {'on' if on else 'off'}")

    def handle_key(self, key: int, action: int, mods: int) -> None:
        """The window's key callback (glfw key codes): C, T, Q/Esc, 1..9 and 0."""
        import glfw
        if action != glfw.PRESS:
            return
        if key == glfw.KEY_C:
            self.recalibrate()
        elif key == glfw.KEY_T:
            self.toggle_tracking()
        elif key in (glfw.KEY_Q, glfw.KEY_ESCAPE):
            self.stop("quit key")
        elif (index := expression_index(key)) is not None:
            self.toggle_expression(index)

    # ---------------------------------------------------------------------------- threads

    def _capture_loop(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                if frame is None:
                    self._source_ended.set()
                    break
                replaced = self._frames.put(frame)
                self.stats.on_capture(dropped=replaced is not None)
        except BaseException as exc:  # reported on the render thread, which owns the exit
            self._errors.append(exc)
            self._stop.set()
        finally:
            self._frames.wake()

    def _tracking_loop(self) -> None:
        try:
            while not self._stop.is_set():
                frame: CapturedFrame | None = self._frames.take(timeout=0.05)
                if frame is None:
                    if self._source_ended.is_set():
                        break
                    continue
                tracking = self.tracking_enabled
                driver = self.driver if tracking else self.idle
                if tracking and self._calibrate.is_set():
                    self._calibrate.clear()
                    driver.calibrate()
                start = time.perf_counter()
                params = driver.update(frame.image, frame.t - self._t0)
                done = time.perf_counter()
                result = Tracked(dict(params), frame.index, frame.t, done,
                                 bool(driver.face_found), dict(driver.timings), tracking,
                                 bool(getattr(driver, "tracks_faces", True)))
                replaced = self._results.put(result)
                self.stats.on_tracked(result, 1000.0 * (done - start),
                                      dropped=replaced is not None)
        except BaseException as exc:
            self._errors.append(exc)
            self._stop.set()
        finally:
            self._tracking_done.set()

    # ---------------------------------------------------------------------------- render loop

    def run(self) -> LiveSummary:
        from runtime.drawing.renderer import Renderer, parse_background

        opts = self.options
        clear = parse_background(opts.background)
        self._fill = tuple(int(round(255 * c / clear[3])) if clear[3] else 0
                           for c in clear[:3]) + (int(round(255 * clear[3])),)
        # An output that keeps alpha (a browser source) gets the frame drawn over transparency;
        # the others (window, virtual camera, recording) get it laid over the background on the
        # GPU, a second readback, so they see what they would have without it.
        keeps = [o for o in self.outputs if getattr(o, "keeps_alpha", False)]
        split = bool(keeps) and clear[3] > 0
        if split:
            opaque = [o for o in self.outputs if o not in keeps]
            self._groups = [(keeps, None, (0, 0, 0, 0))] + \
                ([(opaque, opts.background, self._fill)] if opaque else [])
        else:
            self._groups = [(self.outputs, None, self._fill)]
        self._tracking_done = threading.Event()
        threads = [threading.Thread(target=self._capture_loop, name="live-capture", daemon=True),
                   threading.Thread(target=self._tracking_loop, name="live-tracking",
                                    daemon=True)]
        previous_sigint = self._catch_ctrl_c()
        outputs_ok = False
        try:
            with Renderer(self.rig, size=opts.size,
                          background="transparent" if split else opts.background,
                          quality=opts.quality, fit=opts.fit, margin=opts.margin,
                          window=opts.window, title="seethrough-rig live",
                          window_background=opts.background if split else None) as renderer:
                self.renderer = renderer
                renderer.on_key(self.handle_key)
                self._say(key_help_line(self.expressions.expressions) if opts.window
                          else "press Ctrl-C to stop")
                self.rig.reset()
                for inp in self.inputs:
                    inp.start()
                self._t0 = time.perf_counter()
                for thread in threads:
                    thread.start()
                self._render_loop(renderer)
                outputs_ok = not self._errors
        finally:
            self._stop.set()
            self._frames.wake()
            for thread in threads:
                if thread.is_alive() or thread.ident is not None:
                    thread.join(timeout=5.0)
            seconds = time.perf_counter() - self._t0 if self._t0 else 0.0
            self._close_all(outputs_ok)
            if previous_sigint is not None:
                signal.signal(signal.SIGINT, previous_sigint)
            self.renderer = None
        if self._errors:
            raise self._errors[0]
        summary = self.stats.summary(seconds, self._stopped_by)
        for line in summary.lines():
            self._say(line)
        return summary

    def _render_loop(self, renderer) -> None:
        opts = self.options
        period = 1.0 / opts.fps
        out_size = tuple(opts.size)
        need_pixels = bool(self.outputs)
        pixels: list[np.ndarray | None] = [None] * len(self._groups)
        current: Tracked | None = None
        params: dict[str, float] = {}
        blend_from: dict[str, float] | None = None
        blend_start = 0.0
        tick, advance = 0, 1
        next_report = self._t0 + opts.report_every if opts.report_every > 0 else math.inf
        report_base = (self._t0, self.stats.snapshot())
        while not self._stop.is_set():
            renderer.poll()
            if renderer.should_close():
                self.stop("window closed")
                break
            now = time.perf_counter()
            if opts.duration is not None and now - self._t0 >= opts.duration:
                self.stop("duration")
                break
            result: Tracked | None = self._results.take()
            if result is None and self._tracking_done.is_set():
                self.stop("end of video" if self._source_ended.is_set() else "stopped")
                break
            fresh = result is not None
            if fresh:
                if current is not None and result.tracking != current.tracking:
                    blend_from, blend_start = params, now
                current = result
            if current is not None:
                params = current.params
                if blend_from is not None:
                    weight = ease((now - blend_start) / SWITCH_EASE)
                    params = blend_params(blend_from, params, weight)
                    if weight >= 1.0:
                        blend_from = None
            self.stats.late_ticks += advance - 1    # counted when a frame stands in for them
            start = time.perf_counter()
            sources = None
            if self.params_log is not None:
                base = "tracking" if current is not None and current.tracking and \
                    current.tracks_faces else "idle"
                sources = {pid: base for pid in params}
            readings = [(inp.name, inp.read(now)) for inp in self.inputs]
            if readings:
                params_in = overlay(params, readings, sources, self._defaults)
            else:
                params_in = params
            # Expressions go over the blended parameters, never into them: a tracking/idle
            # switch must not blend an expression in twice.
            shown = self.expressions.apply(params_in, now, self._defaults) if \
                len(self.expressions) else params_in
            if sources is not None and shown is not params_in:
                for pid, value in shown.items():
                    if params_in.get(pid) != value:
                        sources[pid] = "expression"
            pose = self.rig.pose(shown, min(advance * period, MAX_POSE_DT) if tick else 0.0)
            if need_pixels:
                renderer.draw(pose)
                for k, (group, over, fill) in enumerate(self._groups):
                    pixels[k] = renderer.read(out=_reusable(pixels[k], renderer.size),
                                              background=over)
                    frame = fit_frame(pixels[k], out_size, fill)
                    for output in group:
                        self._write(output, frame, advance)
            else:
                renderer.draw(pose)
            done = time.perf_counter()
            self.stats.on_rendered(1000.0 * (done - start),
                                   1000.0 * (done - result.t_captured) if fresh else None)
            for name, reading in readings:
                drove = reading is not None and reading.weight > 0.0
                captured = reading.captured if drove else None
                new = captured is not None and captured != self._last_captured.get(name)
                if new:
                    self._last_captured[name] = captured
                self.stats.on_input(name, drove, 1000.0 * (done - captured) if new else None)
            if self.params_log is not None:
                self._log_params(done, sources)
            if self.on_frame is not None:
                self.on_frame(self, self.stats.rendered)
            if done >= next_report:
                report_base = self._report(report_base, done)
                next_report += opts.report_every
            # Pace on absolute deadlines; ticks already missed are skipped, not bunched up.
            tick += 1
            due = self._t0 + tick * period
            now = time.perf_counter()
            advance = 1
            if now > due + period:
                missed = int((now - due) / period)
                tick += missed
                advance += missed
                due = self._t0 + tick * period
            if due > now:
                self._stop.wait(due - now)

    def _log_params(self, now: float, sources: dict[str, str]) -> None:
        import json
        values = self.rig.params.as_dict()
        self.params_log.write(json.dumps({
            "frame": self.stats.rendered - 1, "t": round(now - self._t0, 6),
            "params": {k: round(v, 6) for k, v in values.items()},
            "sources": {pid: sources.get(pid, "default") for pid in values}}) + "\n")

    @staticmethod
    def _write(output: FrameOutput, frame: np.ndarray, ticks: int) -> None:
        """Files get a frame per tick (missed ticks repeat the frame, so a recording keeps
        real time); live outputs (a virtual camera) get each frame once."""
        from runtime.outputs.sinks import FrameSink
        repeats = ticks if isinstance(output, FrameSink) else 1
        for _ in range(repeats):
            output.write(frame)

    def _report(self, base, now: float):
        t_prev, (cap0, trk0, ren0, drop0, lat0) = base
        cap, trk, ren, drop, lat = self.stats.snapshot()
        span = max(now - t_prev, 1e-9)
        window = self.stats.latencies_between(lat0, lat)
        lat_text = ("latency n/a" if not window else
                    f"latency {percentile(window, 50):.0f}/{percentile(window, 95):.0f} ms "
                    "median/p95")
        tracking = self.tracking_enabled and getattr(self.driver, "tracks_faces", True)
        mode = "tracking" if tracking else "idle"
        self._say(f"live {now - self._t0:5.1f} s [{mode}]: render {(ren - ren0) / span:.1f} fps, "
                  f"tracking {(trk - trk0) / span:.1f} fps, capture {(cap - cap0) / span:.1f} "
                  f"fps, {lat_text}, dropped {drop - drop0}")
        return now, (cap, trk, ren, drop, lat)

    # ---------------------------------------------------------------------------- lifetime

    def _catch_ctrl_c(self):
        """Ctrl-C ends the session cleanly (outputs committed, summary printed); a second one
        interrupts for real. Only the main thread may install signal handlers."""
        if threading.current_thread() is not threading.main_thread():
            return None

        def on_sigint(signum, frame):
            if self._stop.is_set():
                raise KeyboardInterrupt
            self.stop("Ctrl-C")

        return signal.signal(signal.SIGINT, on_sigint)

    def _close_all(self, outputs_ok: bool) -> None:
        for output in self.outputs:
            try:
                if not outputs_ok and hasattr(output, "abort"):
                    output.abort()      # a failed session leaves no half-written file
                else:
                    output.close()
            except BaseException as exc:
                self._errors.append(exc)
        for closer in (self.driver, self.idle, self.source, *self.inputs):
            if closer is None:
                continue
            try:
                closer.close()
            except BaseException as exc:
                self._errors.append(exc)

    def _say(self, line: str) -> None:
        print(line, file=self.log, flush=True)


def _reusable(buffer: np.ndarray | None, size: tuple[int, int]) -> np.ndarray | None:
    """The previous read buffer when the renderer's size has not changed (window resizes)."""
    w, h = size
    return buffer if buffer is not None and buffer.shape[:2] == (h, w) else None
