"""Browser source benchmark (`live --browser-source`): frames delivered to a real page and the
latency the output adds, at 720x720, in Debian's chromium, headless.

Chromium is started directly on the page's URL, as OBS's browser does, not through Playwright:
Playwright's DevTools connection copies every WebSocket frame to its driver, which here tripled
the browser's CPU use and nearly doubled the latency. The figures come from the page itself:
it answers every frame it drew, and the latency runs from the frame handed to the output
(`BrowserSource.write`) to that answer arriving back in Python (so it includes the answer's
trip back: an upper bound of write-to-drawn). Two runs:

- ``isolated``: frames of the character rendered beforehand, written at 30 fps from a thread:
  the output alone (packing, the server thread, the socket, the page);
- ``live_session``: a real `LiveSession` (idle animation) rendering at 720x720 and writing to
  the browser source, so the figures include the machine being busy rendering; with the same
  session's render rate into an output that drops the frames (``render_fps_without_page``):
  without a GPU, rendering (llvmpipe) and the page share the same cores.

``browser_cores``: CPU the browser's processes used, in cores (Linux, from /proc). Without
chromium the section says why and measures nothing.

    python -m benchmarks.browser_source_bench [--size 720] [--seconds 6]
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

TARGET_FPS = 30.0
WARMUP_S = 1.5


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def benchmark_browser_source(size: tuple[int, int] = (720, 720), seconds: float = 6.0,
                             rig=None) -> dict:
    path = chromium_path()
    if path is None:
        return {"skipped": "no chromium on PATH (apt-get install -y chromium)"}
    from runtime.outputs.browser_source import pack_frame

    if rig is None:
        from examples.character import draw_example_character
        from rig.autorig import autorig
        rig = autorig(draw_example_character())
    frames = _frames(rig, size)
    version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    return {"size": list(size), "target_fps": TARGET_FPS,
            "transport": "raw RGBA cropped to the visible box, putImageData",
            "chromium": version.stdout.strip() or None,
            "bytes_per_frame_median": int(np.median([len(pack_frame(f, 0)) for f in frames])),
            "isolated": _isolated(path, frames, size, seconds),
            "live_session": _live(path, rig, size, seconds)}


def _frames(rig, size: tuple[int, int], n: int = 30) -> list[np.ndarray]:
    """The character moving, over transparency."""
    from runtime.drawing.renderer import Renderer
    out = []
    with Renderer(rig, size=size, background="transparent") as renderer:
        for k in range(n):
            t = k / TARGET_FPS
            pose = rig.pose({"ParamAngleX": 25 * math.sin(1.3 * t),
                             "ParamAngleZ": 10 * math.sin(0.7 * t),
                             "ParamBodyAngleX": 6 * math.sin(0.5 * t)}, 1 / TARGET_FPS)
            out.append(renderer.render(pose).copy())
    return out


class _Page:
    """Headless chromium on the browser source's page (its own throw-away profile)."""

    def __init__(self, chromium: str, source, size: tuple[int, int]) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="bench-chromium-",
                                                    ignore_cleanup_errors=True)
        args = [chromium, "--headless", f"--user-data-dir={self._profile.name}",
                "--no-first-run", "--mute-audio", f"--window-size={size[0]},{size[1]}",
                "--disable-background-timer-throttling", "--disable-renderer-backgrounding"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--no-sandbox")          # chromium refuses to run as root otherwise
        self.proc = subprocess.Popen(args + [source.url], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while source.clients < 1:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open the browser source page")
            time.sleep(0.02)

    def cpu_seconds(self) -> float | None:
        return _tree_cpu_seconds(self.proc.pid)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Chromium's helper processes outlive the browser by a moment and still write to the
        # profile: removing it at once failed now and then ("Directory not empty").
        for _ in range(20):
            shutil.rmtree(self._profile.name, ignore_errors=True)
            if not os.path.exists(self._profile.name):
                break
            time.sleep(0.1)
        self._profile.cleanup()


def _tree_cpu_seconds(root: int) -> float | None:
    """User + system CPU seconds of ``root`` and its descendants, from /proc (Linux)."""
    proc = Path("/proc")
    if not (proc / str(root) / "stat").is_file():
        return None
    parents, times = {}, {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue                                  # gone meanwhile
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    for pid in times:
        p = pid
        while p > 1 and p != root:
            p = parents.get(p, 0)
        if p == root:
            total += times[pid]
    return total


def _figures(delivery: dict, span: float, cpu: float | None) -> dict:
    return {"delivered_fps": round(delivery["frames_drawn"] / span, 2),
            "latency_ms_median": _round(delivery["latency_ms_median"]),
            "latency_ms_p95": _round(delivery["latency_ms_p95"]),
            "page_draw_ms_median": _round(delivery["page_draw_ms_median"]),
            "frames_drawn": delivery["frames_drawn"],
            "browser_cores": None if cpu is None else round(cpu / span, 3)}


def _isolated(chromium: str, frames, size, seconds) -> dict:
    from runtime.outputs.browser_source import BrowserSource

    with BrowserSource(size, TARGET_FPS, port=0) as source:
        page = _Page(chromium, source, size)
        stop = threading.Event()

        def feed():
            k, t0 = 0, time.perf_counter()
            while not stop.is_set():
                source.write(frames[k % len(frames)])
                k += 1
                stop.wait(max(0.0, t0 + k / TARGET_FPS - time.perf_counter()))

        thread = threading.Thread(target=feed, daemon=True)
        thread.start()
        try:
            time.sleep(WARMUP_S)
            source.reset_delivery()
            written0, cpu0, t0 = source.frames_written, page.cpu_seconds(), time.perf_counter()
            time.sleep(seconds)
            span, cpu1 = time.perf_counter() - t0, page.cpu_seconds()
            figures = _figures(source.delivery(), span,
                               None if cpu0 is None or cpu1 is None else cpu1 - cpu0)
            figures["written_fps"] = round((source.frames_written - written0) / span, 2)
        finally:
            stop.set()
            thread.join()
            page.close()
    return figures


def _live(chromium: str, rig, size, seconds) -> dict:
    from runtime.drivers.capture import ClockSource
    from runtime.drivers.idle import IdleDriver
    from runtime.outputs.browser_source import BrowserSource
    from runtime.sessions.live import IdleParamDriver, LiveOptions, LiveSession

    def session(outputs, duration, on_frame=None):
        return LiveSession(rig, ClockSource(TARGET_FPS), IdleParamDriver(IdleDriver(seed=0)),
                           outputs=outputs, options=LiveOptions(
                               size=size, fps=TARGET_FPS, background="transparent",
                               duration=duration, report_every=0),
                           log=io.StringIO(), on_frame=on_frame)

    source = BrowserSource(size, TARGET_FPS, port=0)
    try:
        page = _Page(chromium, source, size)
    except BaseException:
        source.close()
        raise
    marks: dict = {}

    def on_frame(live, n):
        now = time.perf_counter()
        if "t0" not in marks and now - live._t0 >= WARMUP_S:
            source.reset_delivery()
            marks.update(t0=now, n0=n, cpu0=page.cpu_seconds())
        elif "t0" in marks and now - marks["t0"] >= seconds:
            # Measured up to here: the session's own shutdown is not part of it.
            marks.update(t1=now, n1=n, cpu1=page.cpu_seconds(), delivery=source.delivery())
            live.stop("measured")

    try:
        summary = session([source], WARMUP_S + 2 * seconds, on_frame).run()  # closes the source
    finally:
        source.close()
        page.close()
    span = marks["t1"] - marks["t0"]
    cpu0, cpu1 = marks["cpu0"], marks["cpu1"]
    figures = _figures(marks["delivery"], span,
                       None if cpu0 is None or cpu1 is None else cpu1 - cpu0)
    figures["render_fps"] = round((marks["n1"] - marks["n0"]) / span, 2)
    figures["render_ms_median"] = _round(summary.render_ms_median)
    figures["render_fps_without_page"] = round(session([_Dropped()], seconds).run().render_fps, 2)
    return figures


class _Dropped:
    """An output that keeps alpha (the browser source's path through the session) and drops
    every frame."""

    keeps_alpha = True

    def write(self, frame: np.ndarray) -> None:
        pass

    def close(self) -> None:
        pass


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=720)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args(argv)
    json.dump(benchmark_browser_source((args.size, args.size), args.seconds), sys.stdout,
              indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
