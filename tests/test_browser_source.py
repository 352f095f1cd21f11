"""`live --browser-source`: the OBS Browser Source output.

The page is checked in a real headless browser: Debian's chromium driven by Playwright (its own
browser downloads are never used). Tests that need it skip cleanly when chromium or Playwright is
missing; the rest (the wire format, the server's refusals, the alpha split in the session, the
CLI) run everywhere.
"""
from __future__ import annotations

import base64
import contextlib
import io
import json
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import run_registered
from runtime.outputs.browser_source import BrowserSource, pack_frame, unpack_frame
from runtime.outputs.sinks import over_background
from seethrough_core.character import InputError

GREEN = (0, 255, 0)


# ------------------------------------------------------------------------------ helpers

def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium through Playwright, one per module."""
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 400, "height": 300})
    page = context.new_page()
    yield page
    context.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def frames(example_rig_spec):
    """Rendered frames of the example character over transparency, 200x150, moving."""
    from rig.model import Rig
    from runtime.drawing.renderer import Renderer
    rig = Rig(example_rig_spec)
    out = []
    with Renderer(rig, size=(200, 150), background="transparent") as renderer:
        for k in range(8):
            pose = rig.pose({"ParamAngleX": 25 * np.sin(k), "ParamAngleZ": 10 * np.cos(k)}, 1 / 30)
            out.append(renderer.render(pose).copy())
    return out


def canvas(page) -> dict:
    """The page's state and its canvas pixels, read in one go (no frame lands in between)."""
    got = page.evaluate("""() => {
        const c = document.getElementById("puppet");
        const d = c.width ? c.getContext("2d").getImageData(0, 0, c.width, c.height).data : [];
        let s = ""; for (let i = 0; i < d.length; i += 8192)
            s += String.fromCharCode.apply(null, d.subarray(i, i + 8192));
        return {state: window.seethrough, w: c.width, h: c.height, data: btoa(s)};
    }""")
    pixels = np.frombuffer(base64.b64decode(got["data"]), np.uint8)
    got["pixels"] = pixels.reshape(got["h"], got["w"], 4) if got["w"] else pixels
    return got


def wait_for(page, condition: str, timeout: float = 10.0) -> None:
    page.wait_for_function(condition, timeout=timeout * 1000)


def wait_clients(source: BrowserSource, n: int = 1, timeout: float = 10.0) -> None:
    """Until the server has ``n`` pages registered: a page's socket opens a moment before the
    server counts it, and frames written before then are not packed for anyone."""
    deadline = time.monotonic() + timeout
    while source.clients != n:
        assert time.monotonic() < deadline, f"{source.clients} pages, waited for {n}"
        time.sleep(0.01)


def premultiplied(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., 3:4].astype(np.float64) / 255.0
    return np.concatenate([rgba[..., :3] * a, rgba[..., 3:4]], axis=-1)


def assert_page_matches(pixels: np.ndarray, frame: np.ndarray) -> None:
    """Transparent where the frame is, the frame's colours where it is not. A 2D canvas keeps
    premultiplied pixels, so colours are compared premultiplied (within 2 levels)."""
    assert pixels.shape == frame.shape
    clear = frame[..., 3] == 0
    assert 0.2 < clear.mean() < 0.95                         # both kinds of pixel are there
    assert np.all(pixels[clear][:, 3] == 0)
    diff = np.abs(premultiplied(pixels) - premultiplied(frame))
    assert diff.max() <= 2.0, diff.max()


def feed(source: BrowserSource, frames, fps: float, stop: threading.Event,
         longest: list[float] | None = None) -> threading.Thread:
    """Writes the frames round and round at ``fps`` until ``stop``; the longest ``write`` (s)
    goes into ``longest``."""
    def run():
        k, t0 = 0, time.perf_counter()
        while not stop.is_set():
            start = time.perf_counter()
            source.write(frames[k % len(frames)])
            if longest is not None:
                longest[0] = max(longest[0], time.perf_counter() - start)
            k += 1
            stop.wait(max(0.0, t0 + k / fps - time.perf_counter()))
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# ------------------------------------------------------------------------------ wire format

def test_pack_crops_to_the_visible_box_and_unpacks_to_the_frame():
    frame = np.zeros((40, 60, 4), np.uint8)
    frame[10:20, 5:30] = (200, 100, 50, 255)
    frame[25, 40] = (9, 8, 7, 1)                         # one faint pixel widens the box
    message = pack_frame(frame, 7)
    assert len(message) == 16 + (26 - 10) * (41 - 5) * 4
    frame_id, back = unpack_frame(bytes(message))
    assert frame_id == 7 and np.array_equal(back, frame)
    empty = pack_frame(np.zeros((40, 60, 4), np.uint8), 8)
    assert len(empty) == 16
    assert np.array_equal(unpack_frame(bytes(empty))[1], np.zeros((40, 60, 4), np.uint8))
    with pytest.raises(ValueError, match="RGBA"):
        pack_frame(np.zeros((4, 4, 3), np.uint8), 0)


# ------------------------------------------------------------------------------ server

def test_page_host_origin_and_client_limit():
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect
    import http.client

    with BrowserSource((64, 48), 30, port=0, max_clients=4) as source:
        ws = f"ws://127.0.0.1:{source.port}/ws"
        conn = http.client.HTTPConnection("127.0.0.1", source.port, timeout=5)
        conn.request("GET", "/")
        reply = conn.getresponse()
        assert reply.status == 200 and "text/html" in reply.getheader("Content-Type")
        assert b"new WebSocket" in reply.read()
        conn.close()
        # DNS rebinding: a name that resolves here but is not ours gets nothing.
        conn = http.client.HTTPConnection("127.0.0.1", source.port, timeout=5)
        conn.request("GET", "/", headers={"Host": f"evil.example:{source.port}"})
        assert conn.getresponse().status == 403
        conn.close()

        with pytest.raises(InvalidStatus) as err:
            connect(ws, origin="http://evil.example", open_timeout=5)
        assert err.value.response.status_code == 403
        with pytest.raises(InvalidStatus) as err:   # another port on this machine is foreign too
            connect(ws, origin=f"http://127.0.0.1:{source.port + 1}", open_timeout=5)
        assert err.value.response.status_code == 403

        # The page's own origin, and none at all, are let in: four of them, not a fifth.
        with contextlib.ExitStack() as stack:
            for origin in (f"http://127.0.0.1:{source.port}", f"http://localhost:{source.port}",
                           None, None):
                stack.enter_context(connect(ws, origin=origin, open_timeout=5))
            wait_clients(source, 4)
            with pytest.raises(InvalidStatus) as err:
                connect(ws, open_timeout=5)
            assert err.value.response.status_code == 503
        wait_clients(source, 0)
        with connect(ws, open_timeout=5) as late:           # room again
            wait_clients(source, 1)
            source.write(np.full((48, 64, 4), 255, np.uint8))
            frame_id, frame = unpack_frame(late.recv(timeout=5))
        assert frame_id == 0 and frame.shape == (48, 64, 4) and frame.min() == 255


def test_listens_on_127_0_0_1_only():
    with BrowserSource((64, 48), 30, port=0) as source:
        listening = _listening_addresses(source.port)
        if listening is None:
            pytest.skip("no /proc/net/tcp here")
        assert listening == {"127.0.0.1"}
        other = _other_local_address()
        if other is not None:                            # reachable from the network? no
            with pytest.raises(OSError):
                socket.create_connection((other, source.port), timeout=2).close()


def _listening_addresses(port: int) -> set[str] | None:
    """Local addresses of the sockets listening on ``port``, from the kernel's own tables."""
    found: set[str] = set()
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].is_file():
        return None
    for table in tables:
        if not table.is_file():
            continue
        for line in table.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:        # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            if len(raw) == 4:
                found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:           # IPv6: four little-endian 32-bit words
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def _other_local_address() -> str | None:
    """This machine's address on its default route, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))          # no packet is sent for UDP connect
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_port_in_use_is_a_one_line_input_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InputError) as err:
            BrowserSource((64, 48), 30, port=port)
    text = str(err.value)
    assert "already in use" in text and str(port) in text and "\n" not in text


# ------------------------------------------------------------------------------ in the browser

def test_page_draws_the_frame_with_real_transparency(page, frames):
    with BrowserSource((200, 150), 30, port=0) as source:
        page.goto(source.url)
        wait_clients(source)
        for k, frame in enumerate(frames[:3]):
            source.write(frame)
            wait_for(page, f"window.seethrough.frame === {k}")
        got = canvas(page)
        assert (got["w"], got["h"]) == (200, 150)
        assert_page_matches(got["pixels"], frames[2])
        # The page itself is see-through: nothing but the canvas paints.
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == \
            "rgba(0, 0, 0, 0)"
        # The aspect is kept: a 400x300 view holds the 200x150 frame at 2x, centred.
        box = page.evaluate("JSON.stringify(document.getElementById('puppet')"
                            ".getBoundingClientRect())")
        box = json.loads(box)
        assert (box["width"], box["height"], box["x"], box["y"]) == (400, 300, 0, 0)
        page.set_viewport_size({"width": 500, "height": 200})
        wait_for(page, "document.getElementById('puppet').getBoundingClientRect().height "
                       "=== 200")
        box = json.loads(page.evaluate("JSON.stringify(document.getElementById('puppet')"
                                       ".getBoundingClientRect())"))
        assert box["width"] == pytest.approx(200 * 200 / 150, abs=0.5)
        assert box["x"] == pytest.approx((500 - box["width"]) / 2, abs=0.5)


def test_frames_keep_arriving_and_a_slow_page_skips_instead_of_queueing(page, frames):
    with BrowserSource((200, 150), 30, port=0) as source:
        page.goto(source.url)
        wait_clients(source)
        stop = threading.Event()
        longest = [0.0]
        thread = feed(source, frames, 30.0, stop, longest)
        try:
            wait_for(page, "window.seethrough.drawn > 3")
            before = page.evaluate("window.seethrough.drawn")
            time.sleep(2.0)
            after = page.evaluate("window.seethrough.drawn")
            # About 60 in 2 s; a loaded 2-core machine may drop some, never most.
            assert after - before >= 30, (before, after)
            # The page hangs for 1 s: writing goes on (nothing waits for the page), the frames
            # it misses are skipped, and it comes back to the newest one.
            written = source.frames_written
            longest[0] = 0.0
            page.evaluate("(() => { const t = performance.now() + 1000; "
                          "while (performance.now() < t) {} })()")
            assert source.frames_written - written >= 15
            assert longest[0] < 0.5            # a write that waited for the page: >= 1 s
            written = source.frames_written
            wait_for(page, f"window.seethrough.frame >= {written}")
        finally:
            stop.set()
            thread.join()
        assert source.frames_dropped >= 10
        delivery = source.delivery()
        assert delivery["frames_drawn"] >= after - before
        assert delivery["latency_ms_median"] is not None and delivery["latency_ms_median"] > 0


def test_page_goes_blank_when_the_server_stops_and_reconnects(page, frames):
    port = free_port()
    with BrowserSource((200, 150), 30, port=port) as source:
        page.goto(source.url)
        wait_clients(source)
        source.write(frames[0])
        wait_for(page, "window.seethrough.frame === 0")
        assert canvas(page)["pixels"][..., 3].max() == 255
    wait_for(page, "!window.seethrough.connected")
    assert canvas(page)["pixels"][..., 3].max() == 0          # nothing shown while away
    time.sleep(0.6)                                             # a retry or two fails meanwhile
    with BrowserSource((200, 150), 30, port=port) as source:
        wait_for(page, "window.seethrough.connects === 2", timeout=15)
        wait_clients(source)
        source.write(frames[1])
        wait_for(page, "window.seethrough.frame === 0 && window.seethrough.drawn === 2")
        assert_page_matches(canvas(page)["pixels"], frames[1])


def test_a_page_from_another_origin_cannot_connect(page, frames):
    with BrowserSource((200, 150), 30, port=0) as ours, \
            BrowserSource((200, 150), 30, port=0) as other:
        page.goto(other.url)                       # a page served from another origin
        result = page.evaluate("""port => new Promise(done => {
            const ws = new WebSocket("ws://127.0.0.1:" + port + "/ws");
            ws.onopen = () => done("open");
            ws.onclose = () => done("closed");
        })""", ours.port)
        assert result == "closed" and ours.clients == 0


# ------------------------------------------------------------------------------ live session

class ListOutput:
    def __init__(self, keeps_alpha: bool = False):
        self.keeps_alpha = keeps_alpha
        self.frames: list[np.ndarray] = []

    def write(self, frame):
        self.frames.append(frame.copy())

    def close(self):
        pass


def _session(rig, outputs, background="green", duration=1.0, size=(160, 120), on_frame=None):
    from runtime.drivers.capture import ClockSource
    from runtime.drivers.idle import IdleDriver
    from runtime.sessions.live import IdleParamDriver, LiveOptions, LiveSession
    options = LiveOptions(size=size, fps=30, background=background, duration=duration,
                          report_every=0)
    return LiveSession(rig, ClockSource(30), IdleParamDriver(IdleDriver(seed=2)),
                       outputs=outputs, options=options, log=io.StringIO(), on_frame=on_frame)


def test_session_keeps_the_alpha_for_alpha_outputs_and_the_green_for_the_others(example_rig):
    keeps, opaque = ListOutput(keeps_alpha=True), ListOutput()
    _session(example_rig, [keeps, opaque]).run()
    assert len(keeps.frames) == len(opaque.frames) >= 5
    for alpha, flat in zip(keeps.frames[::4], opaque.frames[::4]):
        assert alpha[0, 0, 3] == 0 and 0.2 < (alpha[..., 3] == 0).mean() < 0.95
        assert np.all(flat[..., 3] == 255) and tuple(flat[0, 0, :3]) == GREEN
        # The opaque frame is the alpha one laid over green (on the GPU: within rounding).
        diff = np.abs(flat[..., :3].astype(int) - over_background(alpha, GREEN))
        assert diff.max() <= 2
    # Without an alpha output nothing changes: one opaque frame, drawn over green.
    only = ListOutput()
    _session(example_rig, [only], duration=0.3).run()
    assert tuple(only.frames[0][0, 0]) == (*GREEN, 255)


def test_session_into_a_page_and_the_virtual_camera(browser, example_rig, monkeypatch):
    """The page gets the puppet with alpha, the virtual camera (RGB) keeps its green, from the
    same frames; the pixels the page shows are the ones the session sent."""
    import pyvirtualcam.camera
    from test_live import RecordingBackend
    from runtime.outputs.virtualcam import VirtualCamera
    RecordingBackend.instances = []
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {"recording": RecordingBackend})

    class Keeping(BrowserSource):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.sent: list[np.ndarray] = []

        def write(self, frame):
            self.sent.append(frame.copy())
            super().write(frame)

    source = Keeping((160, 120), 30, port=0)
    camera = VirtualCamera((160, 120), 30, background=GREEN, alpha=True)
    assert not camera.keeps_alpha
    context = browser.new_context(viewport={"width": 160, "height": 120})
    page = context.new_page()
    page.goto(source.url)
    wait_clients(source)
    session = _session(example_rig, [source, camera], duration=30)
    runner = threading.Thread(target=session.run, daemon=True)
    runner.start()
    try:
        wait_for(page, "window.seethrough.drawn > 5")
        got = canvas(page)
    finally:
        session.stop("test")
        runner.join(timeout=20)
        context.close()
    frame_id = got["state"]["frame"]
    assert_page_matches(got["pixels"], source.sent[frame_id])
    sent_rgb = RecordingBackend.instances[0].frames[frame_id]
    assert tuple(sent_rgb[0, 0]) == GREEN
    diff = np.abs(sent_rgb.astype(int) - over_background(source.sent[frame_id], GREEN))
    assert diff.max() <= 2


# ------------------------------------------------------------------------------ the command

@pytest.mark.parametrize("background, virtualcam, record, browser, expected", [
    ("auto", False, None, True, "transparent"),           # the only output: see-through
    ("auto", True, None, True, "green"),                  # the camera keeps its green
    ("auto", False, "x.mp4", True, "#ffffff"),
    ("auto", False, None, False, "#ffffff"),
    ("transparent", False, None, True, "transparent"),
    ("transparent", False, "x.webm", True, "transparent"),
])
def test_background_defaults_with_a_browser_source(background, virtualcam, record, browser,
                                                    expected):
    from runtime.commands.live import resolve_background
    assert resolve_background(background, virtualcam, record, browser_source=browser) == \
        expected


@pytest.mark.parametrize("virtualcam, record, needle", [
    (False, None, "--browser-source"), (False, "x.mp4", "keeps alpha"),
])
def test_transparent_without_an_alpha_output_is_refused(virtualcam, record, needle):
    from runtime.commands.live import resolve_background
    with pytest.raises(InputError, match=needle):
        resolve_background("transparent", virtualcam, record, browser_source=False)
    with pytest.raises(InputError, match="keeps alpha"):
        resolve_background("transparent", False, "x.mp4", browser_source=True)


def _cli(argv, capsys):
    from test_live import cli
    return cli(argv, capsys)


def test_cli_port_in_use_exits_2_with_one_line(rig_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, stderr = _cli(["live", str(rig_path), "--idle-only", "--browser-source",
                                str(port), "--duration", "1"], capsys)
    assert code == 2 and stderr.count("\n") == 1
    assert f"port {port} on 127.0.0.1 is already in use" in stderr


def test_cli_bad_port_is_a_usage_error(rig_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        _cli(["live", str(rig_path), "--idle-only", "--browser-source", "70000"], capsys)
    assert exit_.value.code == 2
    assert "--browser-source" in capsys.readouterr().err


def test_cli_serves_the_page_and_reports_what_it_drew(rig_path, browser, capsys):
    port = free_port()
    result: dict = {}
    argv = ["live", str(rig_path), "--idle-only", "--browser-source", str(port),
            "--size", "160x120", "--duration", "5", "--report-every", "0"]
    # The command blocks, and Playwright's sync API belongs to this thread: the command runs
    # on another one.
    thread = threading.Thread(target=lambda: result.update(code=_cli_no_capture(argv)),
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    context = browser.new_context(viewport={"width": 160, "height": 120})
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        wait_for(page, "window.seethrough.drawn > 5", timeout=20)
        pixels = canvas(page)["pixels"]
    finally:
        thread.join(timeout=30)
        context.close()
    assert result["code"] == 0
    assert pixels.shape == (120, 160, 4)
    assert pixels[0, 0, 3] == 0 and pixels[..., 3].max() == 255   # transparent by default
    out = capsys.readouterr().out
    assert f"browser source http://127.0.0.1:{port}/" in out and "pages drew" in out


def _cli_no_capture(argv) -> int:
    from runtime.commands.cli import _Parser, _formatter
    from runtime.commands.live import register
    return run_registered(register, argv, None, _Parser, _formatter)
