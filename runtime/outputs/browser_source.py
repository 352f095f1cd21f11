"""The OBS Browser Source output: live frames with real transparency, no driver, no green screen.

`BrowserSource` serves, on 127.0.0.1 only, one page (``http://127.0.0.1:PORT/``) that OBS adds
as a Browser Source, and streams the frames to it over a WebSocket (``/ws``). A server thread
runs its own asyncio event loop; ``write`` (the render thread) only packs the frame and hands
it over, so a slow page can never stall the render loop.

Transport: raw straight-alpha RGBA, cropped to the box of the visible pixels, one binary
message per frame::

    16-byte header, little-endian: u32 frame id, u16 frame width, u16 frame height,
                                   u16 x, u16 y, u16 box width, u16 box height
    then box width x box height x 4 bytes RGBA (rows top first)

The page draws it with ``putImageData``, which takes exactly this layout: no encode here and no
decode there. PNG or WebP would cut the bytes ~5x but cost 8-15 ms to encode at 720x720 on one
core plus an asynchronous decode in the page, which alone would blow the 20 ms latency budget;
on the loopback interface the ~1 MB a frame (30 MB/s at 30 fps) is nothing.

Flow control: each page answers every drawn frame with ``{"drawn": id, "ms": draw time}``; the
server sends a page its next frame only after that answer (or ``ACK_TIMEOUT``), and keeps one
pending frame per page, replaced by newer ones. A page that falls behind skips frames instead of
queueing them, so what it shows is never older than one frame in flight. The answers also give
the delivery figures (`delivery()`): frames drawn and the time from ``write`` to drawn.

Security: the listening socket is bound to 127.0.0.1 only. The page and the socket answer only
requests whose Host is 127.0.0.1:PORT or localhost:PORT (DNS rebinding); the WebSocket refuses
with 403 any Origin that is not the page's own (an absent Origin, as some embedders send, is
accepted); at most ``max_clients`` pages at once, further ones get 503 and retry later.
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import errno
import json
import logging
import struct
import threading
import time
from urllib.parse import urlsplit

import numpy as np

from seethrough_core.character import InputError

DEFAULT_PORT = 8790
HOST = "127.0.0.1"
MAX_CLIENTS = 4
ACK_TIMEOUT = 0.5            # s; a page that never answers still gets frames, just slowly
OPEN_TIMEOUT = 2.0           # s for a WebSocket handshake; also bounds close()
HEADER = struct.Struct("<IHHHHHH")
WS_PATH = "/ws"
_LOG = logging.getLogger("seethrough.browser_source")
_LOG.addHandler(logging.NullHandler())   # refused foreign pages are routine, not errors
_LOG.propagate = False


def pack_frame(frame: np.ndarray, frame_id: int) -> bytearray:
    """One message: the header and the RGBA of the box around the pixels with alpha > 0."""
    h, w = frame.shape[:2]
    if frame.ndim != 3 or frame.shape[2] != 4 or frame.dtype != np.uint8:
        raise ValueError(f"frames must be (h, w, 4) uint8 RGBA, got {frame.shape} {frame.dtype}")
    if w > 0xFFFF or h > 0xFFFF:
        raise ValueError(f"frame {w}x{h} is too large for the browser source")
    visible = frame[..., 3] != 0
    rows = np.flatnonzero(visible.any(axis=1))
    if rows.size == 0:
        x = y = bw = bh = 0
    else:
        cols = np.flatnonzero(visible[rows[0]:rows[-1] + 1].any(axis=0))
        y, bh = int(rows[0]), int(rows[-1] - rows[0] + 1)
        x, bw = int(cols[0]), int(cols[-1] - cols[0] + 1)
    message = bytearray(HEADER.size + bw * bh * 4)
    HEADER.pack_into(message, 0, frame_id & 0xFFFFFFFF, w, h, x, y, bw, bh)
    if bw:
        box = np.frombuffer(message, np.uint8, offset=HEADER.size).reshape(bh, bw, 4)
        box[...] = frame[y:y + bh, x:x + bw]     # the one copy: the caller reuses its buffer
    return message


def unpack_frame(message: bytes) -> tuple[int, np.ndarray]:
    """(frame id, (h, w, 4) RGBA) of a message, transparent outside the box (for tests)."""
    frame_id, w, h, x, y, bw, bh = HEADER.unpack_from(message, 0)
    frame = np.zeros((h, w, 4), np.uint8)
    if bw:
        frame[y:y + bh, x:x + bw] = np.frombuffer(message, np.uint8,
                                                  offset=HEADER.size).reshape(bh, bw, 4)
    return frame_id, frame


class _Client:
    """One connected page: its newest unsent frame and whether its last one was drawn."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self.pending: bytearray | None = None
        self.wake = asyncio.Event()
        self.drawn = asyncio.Event()
        self.drawn.set()


class BrowserSource:
    """A `FrameOutput` that streams (h, w, 4) straight-alpha RGBA frames of ``size`` to pages
    at ``http://127.0.0.1:PORT/``. ``port=0`` takes any free port (``.port`` tells which).
    Bad ports and a port in use are `InputError`; ``close()`` stops the server."""

    keeps_alpha = True       # the live session keeps the alpha for this output

    def __init__(self, size: tuple[int, int], fps: float, port: int = DEFAULT_PORT, *,
                 max_clients: int = MAX_CLIENTS) -> None:
        if not (0 <= int(port) <= 65535):
            raise InputError(f"--browser-source {port}: give a port from 1 to 65535")
        self.size = (int(size[0]), int(size[1]))
        if not all(0 < n <= 0xFFFF for n in self.size):
            raise InputError(f"browser source: {self.size[0]}x{self.size[1]} frames do not fit "
                             "the page's 16-bit sizes")
        self.fps = float(fps)
        self.max_clients = int(max_clients)
        self.frames_written = 0
        self.frames_dropped = 0          # frames replaced before a page was sent them
        self._clients: set[_Client] = set()
        self._latest: bytearray | None = None
        self._handed: dict[int, float] = {}            # frame id -> perf_counter at write
        self._lock = threading.Lock()
        self._latency_ms: collections.deque[float] = collections.deque(maxlen=100_000)
        self._draw_ms: collections.deque[float] = collections.deque(maxlen=100_000)
        self._drawn_at: collections.deque[float] = collections.deque(maxlen=100_000)
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        started: concurrent.futures.Future = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._serve, args=(int(port), started),
                                        name="browser-source", daemon=True)
        self._thread.start()
        try:
            self.port = started.result(timeout=15)
        except OSError as exc:
            self._thread.join(timeout=5)
            self._loop.close()
            raise InputError(_bind_error(int(port), exc)) from None
        self.url = f"http://{HOST}:{self.port}/"

    # ------------------------------------------------------------------ the render thread

    @property
    def clients(self) -> int:
        return len(self._clients)

    def write(self, frame: np.ndarray) -> None:
        handed = time.perf_counter()
        h, w = frame.shape[:2]
        if (w, h) != self.size:
            raise ValueError(f"frame is {w}x{h}, the browser source {self.size[0]}x"
                             f"{self.size[1]}")
        frame_id = self.frames_written
        self.frames_written += 1
        if not self._clients:
            return                      # nobody watching: nothing to pack
        message = pack_frame(frame, frame_id)
        with self._lock:
            self._handed[frame_id] = handed
            if len(self._handed) > 256:  # frames no page answered for (dropped, closed)
                for old in sorted(self._handed)[:-128]:
                    del self._handed[old]
        try:
            self._loop.call_soon_threadsafe(self._publish, message)
        except RuntimeError:
            pass                        # the server is shutting down

    def delivery(self) -> dict:
        """What the pages drew: frames, their rate over the last span, and the time from
        ``write`` to drawn in the page (median/p95, ms), with the page's own draw time."""
        with self._lock:
            latency, draw, drawn = list(self._latency_ms), list(self._draw_ms), \
                list(self._drawn_at)
        span = drawn[-1] - drawn[0] if len(drawn) > 1 else 0.0
        return {"frames_written": self.frames_written, "frames_drawn": len(drawn),
                "frames_dropped": self.frames_dropped,
                "drawn_fps": (len(drawn) - 1) / span if span > 0 else None,
                "latency_ms_median": _pct(latency, 50), "latency_ms_p95": _pct(latency, 95),
                "page_draw_ms_median": _pct(draw, 50)}

    def summary_line(self) -> str:
        d = self.delivery()
        if not d["frames_drawn"] or d["latency_ms_median"] is None:
            return f"browser source {self.url}: pages drew {d['frames_drawn']} frames"
        return (f"browser source {self.url}: pages drew {d['frames_drawn']} frames, write->drawn "
                f"{d['latency_ms_median']:.1f} ms median, {d['latency_ms_p95']:.1f} ms p95")

    def reset_delivery(self) -> None:
        with self._lock:
            self._latency_ms.clear()
            self._draw_ms.clear()
            self._drawn_at.clear()

    def close(self) -> None:
        """Stop serving: pages see the socket close, go blank and retry."""
        if not self._thread.is_alive():
            return
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> "BrowserSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ the server thread

    def _serve(self, port: int, started: concurrent.futures.Future) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main(port, started))
        finally:
            if not started.done():
                started.set_exception(OSError("the browser source server did not start"))

    async def _main(self, port: int, started: concurrent.futures.Future) -> None:
        from websockets.asyncio.server import serve

        self._stop = asyncio.Event()
        try:
            # open_timeout: chromium opens a spare connection ahead of time and may never use
            # it; closing the server waits for it until then (a real handshake takes ms).
            server = await serve(self._handle, HOST, port, process_request=self._request,
                                 compression=None, max_size=4096, logger=_LOG,
                                 open_timeout=OPEN_TIMEOUT, ping_interval=20, ping_timeout=20)
        except OSError as exc:
            started.set_exception(exc)
            return
        bound = server.sockets[0].getsockname()[1]
        # Known only now (port 0 picks one); set before the first request can be answered.
        self._hosts = {f"{HOST}:{bound}", f"localhost:{bound}"}
        self._origins = {f"http://{host}" for host in self._hosts}
        started.set_result(bound)
        try:
            await self._stop.wait()
        finally:
            server.close()
            await server.wait_closed()

    def _request(self, connection, request):
        """Plain HTTP: the page; /ws: the WebSocket, once Host, Origin and room are right."""
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        if request.headers.get("Host") not in self._hosts:
            return connection.respond(403, "unknown host\n")
        path = urlsplit(request.path).path
        if path == WS_PATH:
            origin = request.headers.get("Origin")
            if origin is not None and origin not in self._origins:
                return connection.respond(403, "foreign origin\n")
            if len(self._clients) >= self.max_clients:
                return connection.respond(503, f"at most {self.max_clients} pages at once\n")
            return None                  # the WebSocket handshake goes on
        if path not in ("/", "/index.html"):
            return connection.respond(404, "not found\n")
        body = PAGE.encode()
        return Response(200, "OK", Headers([
            ("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"), ("Connection", "close")]), body)

    async def _handle(self, connection) -> None:
        if len(self._clients) >= self.max_clients:    # two handshakes raced for the last slot
            await connection.close(1013, "too many pages")
            return
        client = _Client(connection)
        self._clients.add(client)
        if self._latest is not None:
            client.pending = self._latest        # show the puppet at once, not next frame
            client.wake.set()
        sender = asyncio.create_task(self._send_loop(client))
        try:
            async for message in connection:
                self._on_answer(client, message)
        except Exception:
            pass                                 # a page that went away mid-message
        finally:
            self._clients.discard(client)
            sender.cancel()
            if not self._clients:
                self._latest = None              # the next page starts with a fresh frame

    async def _send_loop(self, client: _Client) -> None:
        try:
            while True:
                await client.wake.wait()
                client.wake.clear()
                message, client.pending = client.pending, None
                if message is None:
                    continue
                client.drawn.clear()
                await client.connection.send(message)
                try:
                    await asyncio.wait_for(client.drawn.wait(), ACK_TIMEOUT)
                except asyncio.TimeoutError:
                    pass
        except asyncio.CancelledError:
            raise
        except Exception:
            pass                                 # closed while sending: _handle cleans up

    def _publish(self, message: bytearray) -> None:
        self._latest = message
        for client in self._clients:
            if client.pending is not None:
                self.frames_dropped += 1
            client.pending = message
            client.wake.set()

    def _on_answer(self, client: _Client, message) -> None:
        now = time.perf_counter()
        try:
            answer = json.loads(message)
            frame_id, draw_ms = int(answer["drawn"]), float(answer.get("ms", 0.0))
        except (ValueError, TypeError, KeyError, OverflowError):
            return                               # not our page's answer: ignored
        client.drawn.set()
        with self._lock:
            handed = self._handed.get(frame_id)
            if handed is not None:
                self._latency_ms.append(1000.0 * (now - handed))
            self._draw_ms.append(draw_ms)
            self._drawn_at.append(now)


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _bind_error(port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"--browser-source {port}: port {port} on {HOST} is already in use (another "
                f"live session?); pick another port, e.g. --browser-source {port + 1}")
    if exc.errno == errno.EACCES:
        return (f"--browser-source {port}: not allowed to listen on port {port}; use a port "
                "above 1023")
    return f"--browser-source {port}: cannot listen on {HOST}:{port} ({exc.strerror or exc})"


# The page OBS loads. Frames are drawn as they arrive; the canvas is sized to the frame and
# scaled by CSS to fit the source keeping its aspect; while disconnected it is blank and it
# reconnects with backoff (0.25 s doubling to 4 s). `window.seethrough` is for tests.
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>seethrough-rig</title>
<style>
html, body { margin: 0; width: 100%; height: 100%; overflow: hidden; background: transparent; }
body { display: flex; align-items: center; justify-content: center; }
canvas { display: block; }
</style></head>
<body><canvas id="puppet" width="0" height="0"></canvas>
<script>
"use strict";
const canvas = document.getElementById("puppet");
const ctx = canvas.getContext("2d", { alpha: true });
const state = window.seethrough = { frame: -1, drawn: 0, connects: 0, connected: false };
let retry = 250;

function fit() {
  if (!canvas.width || !canvas.height) return;
  const scale = Math.min(innerWidth / canvas.width, innerHeight / canvas.height);
  canvas.style.width = canvas.width * scale + "px";
  canvas.style.height = canvas.height * scale + "px";
}
addEventListener("resize", fit);

function draw(data) {
  const t0 = performance.now();
  const head = new DataView(data, 0, 16);
  const id = head.getUint32(0, true), fw = head.getUint16(4, true), fh = head.getUint16(6, true);
  const x = head.getUint16(8, true), y = head.getUint16(10, true);
  const w = head.getUint16(12, true), h = head.getUint16(14, true);
  if (canvas.width !== fw || canvas.height !== fh) {
    canvas.width = fw; canvas.height = fh; fit();     // resizing also clears
  } else {
    ctx.clearRect(0, 0, fw, fh);
  }
  if (w && h) ctx.putImageData(new ImageData(new Uint8ClampedArray(data, 16, w * h * 4), w, h), x, y);
  state.frame = id; state.drawn++;
  return { drawn: id, ms: performance.now() - t0 };
}

function connect() {
  const ws = new WebSocket("ws://" + location.host + "/ws");
  ws.binaryType = "arraybuffer";
  ws.onopen = () => { retry = 250; state.connected = true; state.connects++; };
  ws.onmessage = (event) => {
    if (typeof event.data === "string") return;
    ws.send(JSON.stringify(draw(event.data)));
  };
  ws.onclose = () => {
    state.connected = false;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    setTimeout(connect, retry);
    retry = Math.min(2 * retry, 4000);
  };
}
connect();
</script></body></html>
"""
