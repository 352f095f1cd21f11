"""Browser source benchmark (`live --browser-source`): frames delivered to a real page and the
latency the output adds, at 720x720, in headless Debian chromium driven by Playwright.

Latency runs from the frame handed to the output (`BrowserSource.write`) to the page's answer
that it drew it (after ``putImageData``), received back in Python: it includes the answer's
trip back, so it is an upper bound of write-to-drawn. Two runs:

- ``isolated``: frames of the character rendered beforehand, written at 30 fps from a thread:
  the output alone (packing, the server thread, the socket, the page);
- ``live_session``: a real `LiveSession` (idle animation) rendering at 720x720 and writing to
  the browser source, so the figures include the machine being busy rendering; with the same
  session's render rate into an output that drops the frames (``render_fps_without_page``):
  without a GPU, rendering (llvmpipe) and the page share the same cores.

Without chromium or Playwright the section says why and measures nothing.

    python -m benchmarks.browser_source_bench [--size 720] [--seconds 6]
"""
from __future__ import annotations

import argparse
import io
import json
import math
import shutil
import sys
import threading
import time

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
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright is not installed (pip install playwright)"}
    from runtime.outputs.browser_source import BrowserSource, pack_frame

    if rig is None:
        from examples.character import draw_example_character
        from rig.autorig import autorig
        rig = autorig(draw_example_character())
    frames = _frames(rig, size)
    report: dict = {"size": list(size), "target_fps": TARGET_FPS, "transport":
                    "raw RGBA cropped to the visible box, putImageData",
                    "bytes_per_frame_median": int(np.median([len(pack_frame(f, 0))
                                                             for f in frames]))}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True)
        report["chromium"] = browser.version
        try:
            report["isolated"] = _isolated(browser, frames, size, seconds, BrowserSource)
            report["live_session"] = _live(browser, rig, size, seconds, BrowserSource)
        finally:
            browser.close()
    return report


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


def _open_page(browser, source, size):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.goto(source.url)
    deadline = time.monotonic() + 15
    while source.clients < 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the page did not connect to the browser source")
        time.sleep(0.01)
    return context


def _figures(delivery: dict, span: float) -> dict:
    return {"delivered_fps": round(delivery["frames_drawn"] / span, 2),
            "latency_ms_median": _round(delivery["latency_ms_median"]),
            "latency_ms_p95": _round(delivery["latency_ms_p95"]),
            "page_draw_ms_median": _round(delivery["page_draw_ms_median"]),
            "frames_drawn": delivery["frames_drawn"]}


def _isolated(browser, frames, size, seconds, BrowserSource) -> dict:
    with BrowserSource(size, TARGET_FPS, port=0) as source:
        context = _open_page(browser, source, size)
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
            written0, t0 = source.frames_written, time.perf_counter()
            time.sleep(seconds)
            span = time.perf_counter() - t0
            figures = _figures(source.delivery(), span)
            figures["written_fps"] = round((source.frames_written - written0) / span, 2)
        finally:
            stop.set()
            thread.join()
            context.close()
    return figures


def _live(browser, rig, size, seconds, BrowserSource) -> dict:
    from runtime.drivers.capture import ClockSource
    from runtime.drivers.idle import IdleDriver
    from runtime.sessions.live import IdleParamDriver, LiveOptions, LiveSession

    source = BrowserSource(size, TARGET_FPS, port=0)
    try:
        context = _open_page(browser, source, size)
    except BaseException:
        source.close()
        raise
    marks: dict = {}

    def on_frame(session, n):
        if "t0" not in marks and time.perf_counter() - session._t0 >= WARMUP_S:
            source.reset_delivery()
            marks["t0"], marks["n0"] = time.perf_counter(), n

    session = LiveSession(rig, ClockSource(TARGET_FPS), IdleParamDriver(IdleDriver(seed=0)),
                          outputs=[source], options=LiveOptions(
                              size=size, fps=TARGET_FPS, background="transparent",
                              duration=WARMUP_S + seconds, report_every=0),
                          log=io.StringIO(), on_frame=on_frame)
    try:
        summary = session.run()          # closes the source at the end
        span = time.perf_counter() - marks["t0"]
    finally:
        source.close()
        context.close()
    figures = _figures(source.delivery(), span)
    figures["render_fps"] = round((summary.rendered - marks["n0"]) / span, 2)
    figures["render_ms_median"] = _round(summary.render_ms_median)
    alone = LiveSession(rig, ClockSource(TARGET_FPS), IdleParamDriver(IdleDriver(seed=0)),
                        outputs=[_Dropped()], options=LiveOptions(
                            size=size, fps=TARGET_FPS, background="transparent",
                            duration=seconds, report_every=0), log=io.StringIO()).run()
    figures["render_fps_without_page"] = round(alone.render_fps, 2)
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
