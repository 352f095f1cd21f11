"""Live mode: capture sources, the virtual camera sink, the threaded session and `live` CLI.

No webcam and no v4l2loopback here: sessions are driven by generated video files played in real
time, the virtual camera is a pyvirtualcam backend registered by the test that keeps what it is
sent, and the window runs under Xvfb.
"""
from __future__ import annotations

import argparse
import io
import os
import signal
import threading

import av
import numpy as np
import pytest

from cli_helpers import run_registered
from runtime.drivers.capture import VideoFileSource, camera_missing_message, open_source
from runtime.drivers.idle import IdleDriver
from runtime.sessions.live import (IdleParamDriver, LiveOptions, LiveSession, Mailbox, blend_params,
                          ease, fit_frame)
from runtime.outputs.virtualcam import (LINUX_FIX, VirtualCamera, VirtualCameraUnavailable,
                                no_virtualcam_message)
from seethrough_core.character import InputError

GREEN = (0, 255, 0)


# ------------------------------------------------------------------------------ helpers

def write_clip(path, frames, fps=30):
    """Frames (h, w, 3) uint8 RGB -> an H.264 file."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "12",
                                                                     "preset": "ultrafast"})
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


COLOURS = [(220, 40, 40), (40, 200, 60), (40, 60, 220)]


def colour_frames(n=30, size=(640, 480)):
    """A moving square over a background whose colour says which third of the clip it is."""
    w, h = size
    frames = []
    for k in range(n):
        frame = np.empty((h, w, 3), np.uint8)
        frame[...] = COLOURS[(3 * k) // n]
        x = 20 + (k * 13) % (w - 100)
        frame[200:280, x:x + 80] = 255
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clip") / "colours.mp4", colour_frames())


@pytest.fixture(scope="module")
def rest_frame(example_rig_spec):
    """The rest pose at 256x256 over green: what every live frame should roughly look like."""
    from rig.model import Rig
    from runtime.drawing.renderer import Renderer
    rig = Rig(example_rig_spec)
    with Renderer(rig, size=(256, 256), background="green") as renderer:
        return renderer.render(rig.pose({}, 0.0))[..., :3].copy()


def character_share(rgb, background=GREEN):
    """Share of pixels that are not the background colour."""
    return float(np.mean(np.any(np.abs(rgb.astype(int) - background) > 30, axis=-1)))


class RecordingBackend:
    """A pyvirtualcam backend that keeps every frame it is sent (the protocol of
    pyvirtualcam.camera.Backend: keyword-only constructor, send, close, device, native_fourcc)."""

    instances: list["RecordingBackend"] = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        from pyvirtualcam.util import encode_fourcc
        if fourcc != encode_fourcc("raw "):       # we only ever send RGB
            raise RuntimeError("only RGB")
        self.width, self.height, self.fps = width, height, fps
        self.frames: list[np.ndarray] = []
        self.closed = False
        RecordingBackend.instances.append(self)

    def send(self, frame):
        self.frames.append(frame.reshape(self.height, self.width, 3).copy())

    def close(self):
        self.closed = True

    def device(self):
        return "test camera"

    def native_fourcc(self):
        return None


class BrokenBackend:
    def __init__(self, **kw):
        raise RuntimeError("device not found")


@pytest.fixture()
def fake_virtualcam(monkeypatch):
    """Only our recording backend (after one that fails, as v4l2loopback does here)."""
    import pyvirtualcam.camera
    RecordingBackend.instances = []
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS",
                        {"broken": BrokenBackend, "recording": RecordingBackend})
    return RecordingBackend.instances


@pytest.fixture()
def no_virtualcam(monkeypatch):
    import pyvirtualcam.camera
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {"v4l2loopback": BrokenBackend})


class ListOutput:
    """An output that keeps copies of the frames."""

    def __init__(self):
        self.frames = []
        self.closed = False

    def write(self, frame):
        self.frames.append(frame.copy())

    def close(self):
        self.closed = True


class FakeTracker:
    """A tracking driver with a known answer: the head turned fully to one side."""

    def __init__(self):
        self.face_found = False
        self.timings = {}
        self.calibrations = 0
        self.updates = []
        self.closed = False

    def update(self, frame_rgb, t):
        self.updates.append((frame_rgb.shape, t))
        self.face_found = True
        self.timings = {"track_ms": 1.0, "solve_ms": 0.1}
        return {"ParamAngleX": 30.0, "ParamEyeLOpen": 0.0}

    def calibrate(self):
        self.calibrations += 1

    def close(self):
        self.closed = True


def cli(argv, capsys=None):
    """`seethrough-rig live ...` through live's own parser (without capsys: the exit code)."""
    from runtime.commands.cli import _Parser, _formatter
    from runtime.commands.live import register
    return run_registered(register, argv, capsys, _Parser, _formatter)


# ------------------------------------------------------------------------------ pure pieces

def test_blend_and_ease():
    old = {"ParamAngleX": 10.0, "ParamEyeLOpen": 0.0}
    new = {"ParamAngleX": -10.0, "ParamMouthOpenY": 1.0}
    mid = blend_params(old, new, 0.5)
    assert mid["ParamAngleX"] == pytest.approx(0.0)
    assert mid["ParamEyeLOpen"] == pytest.approx(0.5)     # missing on the new side: default 1
    assert mid["ParamMouthOpenY"] == pytest.approx(0.5)   # missing on the old side: default 0
    assert blend_params(old, new, 1.0)["ParamAngleX"] == -10.0
    assert blend_params(old, new, 7.0)["ParamAngleX"] == -10.0
    assert (ease(0.0), ease(0.5), ease(1.0), ease(2.0)) == (0.0, 0.5, 1.0, 1.0)


def test_fit_frame_keeps_aspect_over_the_background():
    frame = np.zeros((50, 100, 4), np.uint8)
    frame[...] = (255, 0, 0, 255)
    out = fit_frame(frame, (80, 80), (0, 0, 255, 255))
    assert out.shape == (80, 80, 4)
    assert tuple(out[40, 40]) == (255, 0, 0, 255)         # the frame, scaled into the middle
    assert tuple(out[5, 40]) == (0, 0, 255, 255)          # letterbox above it
    assert (out[:, :, 0] == 255).sum() == 80 * 40
    assert fit_frame(frame, (100, 50), (0, 0, 0, 0)) is frame


def test_mailbox_keeps_the_newest_and_reports_drops():
    box = Mailbox()
    assert box.take() is None
    assert box.put(1) is None
    assert box.put(2) == 1                                # 1 was never taken: a drop
    assert box.take(timeout=0.01) == 2
    assert box.take() is None
    threading.Timer(0.05, box.put, (3,)).start()
    assert box.take(timeout=5.0) == 3                     # waits for the producer


@pytest.mark.parametrize("system, needle", [
    ("Linux", "/dev/video3"), ("Darwin", "Privacy & Security"), ("Windows", "Settings")])
def test_camera_message_names_the_fix_per_os(system, needle):
    text = camera_missing_message(3, system)
    assert needle in text and "--camera FILE" in text and "\n" not in text


@pytest.mark.parametrize("system, needle", [
    ("Linux", "sudo modprobe v4l2loopback devices=1 exclusive_caps=1"),
    ("Linux", "v4l2loopback-dkms"), ("Windows", "OBS"), ("Darwin", "start its virtual camera")])
def test_virtualcam_message_names_the_fix_per_os(system, needle):
    text = no_virtualcam_message(system, detail="device not found")
    assert needle in text and "device not found" in text and "\n" not in text


# ------------------------------------------------------------------------------ capture

def test_file_source_plays_every_frame_in_order_and_loops(clip):
    source = open_source(str(clip), loop=True)
    assert isinstance(source, VideoFileSource)
    assert source.size == (640, 480) and source.fps == pytest.approx(30.0)
    frames = [source.read() for _ in range(35)]
    source.close()
    assert [f.index for f in frames] == list(range(35))
    times = [f.t for f in frames]
    assert all(b >= a for a, b in zip(times, times[1:]))
    assert frames[-1].t - frames[0].t >= 34 / 30 - 1e-3   # real time: never ahead of the clock
    # Background colours say where in the clip a frame is; frame 30 is frame 0 again.
    for k in (0, 12, 25, 30, 34):
        expected = COLOURS[(3 * (k % 30)) // 30]
        assert np.abs(frames[k].image[10, 10].astype(int) - expected).max() < 12
    assert frames[0].image.dtype == np.uint8 and frames[0].image.shape == (480, 640, 3)


def test_file_source_ends_without_loop(tmp_path):
    path = write_clip(tmp_path / "short.mp4", colour_frames(n=4, size=(64, 48)), fps=60)
    source = VideoFileSource(path)
    got = [source.read() for _ in range(5)]
    source.close()
    assert [f is None for f in got] == [False] * 4 + [True]


def test_bad_sources_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="no such video file") as err:
        open_source(str(tmp_path / "missing.mp4"))
    assert "\n" not in str(err.value)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(InputError, match="cannot read video frames"):
        open_source(str(text))
    with pytest.raises(InputError, match="no camera at index 63") as err:
        open_source("63")
    assert "--camera FILE" in str(err.value) and "\n" not in str(err.value)


# ------------------------------------------------------------------------------ virtual camera

def test_virtual_camera_sends_rgb_over_the_background(fake_virtualcam):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[5:10, 5:10] = (200, 100, 50, 255)
    with VirtualCamera((30, 20), 30, background=GREEN) as cam:
        assert cam.name == "recording test camera"
        cam.write(rgba)
        with pytest.raises(ValueError, match="30x20"):
            cam.write(np.zeros((10, 10, 4), np.uint8))
    backend = fake_virtualcam[0]
    assert backend.closed and len(backend.frames) == 1
    sent = backend.frames[0]
    assert sent.shape == (20, 30, 3)
    assert tuple(sent[7, 7]) == (200, 100, 50) and tuple(sent[0, 0]) == GREEN


def test_missing_virtual_camera_is_one_line_with_the_fix(no_virtualcam):
    with pytest.raises(VirtualCameraUnavailable) as err:
        VirtualCamera((64, 64), 30)
    text = str(err.value)
    assert "\n" not in text and "device not found" in text
    assert isinstance(err.value, InputError)


class AlphaBackend(RecordingBackend):
    """Unity Capture's shape: takes RGBA (fourcc 'ABGR', pyvirtualcam's PixelFormat.RGBA) as
    well as RGB, and keeps what it is sent."""

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        from pyvirtualcam.util import encode_fourcc
        if fourcc not in (encode_fourcc("raw "), encode_fourcc("ABGR")):
            raise RuntimeError("RGB or RGBA only")
        self.channels = 4 if fourcc == encode_fourcc("ABGR") else 3
        self.width, self.height, self.fps = width, height, fps
        self.frames: list[np.ndarray] = []
        self.closed = False
        RecordingBackend.instances.append(self)

    def send(self, frame):
        self.frames.append(frame.reshape(self.height, self.width, self.channels).copy())


@pytest.fixture()
def alpha_virtualcam(monkeypatch):
    """A failing backend, then one that keeps alpha under Unity Capture's name."""
    import pyvirtualcam.camera
    RecordingBackend.instances = []
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS",
                        {"broken": BrokenBackend, "unitycapture": AlphaBackend})
    return RecordingBackend.instances


def test_camera_attempts_ask_rgba_only_of_backends_that_keep_it():
    from runtime.outputs.virtualcam import camera_attempts
    assert camera_attempts(["obs", "unitycapture"], alpha=True) == \
        [("obs", "RGB"), ("unitycapture", "RGBA")]
    assert camera_attempts(["obs", "unitycapture"], alpha=False) == \
        [("obs", "RGB"), ("unitycapture", "RGB")]
    assert camera_attempts(["v4l2loopback"], alpha=True) == [("v4l2loopback", "RGB")]


def test_unity_capture_gets_the_alpha_when_asked(alpha_virtualcam):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[5:10, 5:10] = (200, 100, 50, 128)
    with VirtualCamera((30, 20), 30, background=GREEN, alpha=True) as cam:
        assert cam.keeps_alpha and cam.name == "unitycapture test camera"
        cam.write(rgba)
    with VirtualCamera((30, 20), 30, background=GREEN) as cam:    # not asked: green as ever
        assert not cam.keeps_alpha
        cam.write(rgba)
    with_alpha, without = alpha_virtualcam
    assert with_alpha.channels == 4 and np.array_equal(with_alpha.frames[0], rgba)
    assert without.channels == 3 and tuple(without.frames[0][0, 0]) == GREEN
    assert tuple(without.frames[0][7, 7]) == (100, 177, 25)        # half over green


def test_asking_for_alpha_keeps_the_backend_order(monkeypatch, fake_virtualcam):
    import pyvirtualcam.camera
    # An RGB-only camera that opens first stays the camera; alpha does not move the frames.
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS",
                        {"obs": RecordingBackend, "unitycapture": AlphaBackend})
    rgba = np.zeros((20, 30, 4), np.uint8)
    with VirtualCamera((30, 20), 30, background=GREEN, alpha=True) as cam:
        assert not cam.keeps_alpha and cam.name.startswith("obs ")
        cam.write(rgba)
    assert len(fake_virtualcam) == 1 and tuple(fake_virtualcam[0].frames[0][0, 0]) == GREEN


def test_cli_virtualcam_on_unity_capture_is_see_through(rig_path, clip, capsys,
                                                        alpha_virtualcam, monkeypatch):
    code, stdout, stderr = cli(["live", str(rig_path), "--camera", str(clip), "--loop",
                                "--idle-only", "--virtualcam", "--size", "64x48",
                                "--duration", "0.5", "--report-every", "0"], capsys)
    assert code == 0, stderr
    frames = alpha_virtualcam[0].frames
    assert frames and frames[0].shape == (48, 64, 4)
    assert tuple(frames[0][0, 0]) == (0, 0, 0, 0) and frames[0][..., 3].max() == 255
    # --background transparent needs such a camera: on Windows it is looked for ...
    monkeypatch.setattr("platform.system", lambda: "Windows")
    code, _, stderr = cli(["live", str(rig_path), "--camera", str(clip), "--idle-only",
                           "--virtualcam", "--background", "transparent", "--size", "64x48",
                           "--duration", "0.3", "--report-every", "0"], capsys)
    assert code == 0, stderr
    # ... and a camera without alpha is refused in one line.
    import pyvirtualcam.camera
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {"obs": RecordingBackend})
    code, _, stderr = cli(["live", str(rig_path), "--camera", str(clip), "--idle-only",
                           "--virtualcam", "--background", "transparent"], capsys)
    assert code == 2 and stderr.count("\n") == 1 and "carries no alpha" in stderr
    assert RecordingBackend.instances[-1].closed


# ------------------------------------------------------------------------------ the session

def test_session_from_a_file_into_virtualcam_and_recording(example_rig, clip, tmp_path,
                                                           fake_virtualcam, rest_frame):
    from runtime.outputs.sinks import open_sink
    cam = VirtualCamera((256, 256), 30, background=GREEN)
    record = open_sink(tmp_path / "live.mp4", size=(256, 256), fps=30,
                       background_is_transparent=False, background=GREEN)
    log = io.StringIO()
    options = LiveOptions(size=(256, 256), fps=30, background="green", duration=1.5,
                          report_every=0.5)
    session = LiveSession(example_rig, VideoFileSource(clip, loop=True),
                          IdleParamDriver(IdleDriver(seed=3)), outputs=[cam, record],
                          options=options, log=log)
    summary = session.run()

    assert summary.stopped_by == "duration"
    # At most one frame per tick (46 in 1.5 s); how many fewer depends on the machine's load.
    assert 5 <= summary.rendered <= 46
    assert summary.captured >= 5 and summary.tracked >= 5
    assert summary.latency_ms_median is not None and summary.latency_ms_p95 >= 0
    assert summary.face_found_share is None               # the idle driver never tracks
    frames = fake_virtualcam[0].frames
    assert len(frames) == summary.rendered and fake_virtualcam[0].closed
    for frame in (frames[0], frames[-1]):
        assert frame.shape == (256, 256, 3)
        assert tuple(frame[2, 2]) == GREEN                # chroma-key background
        share = character_share(frame)
        assert 0.8 * character_share(rest_frame) < share < 1.2 * character_share(rest_frame)
    # The whole session in the file, one frame per tick (late ticks repeat a frame).
    with av.open(str(tmp_path / "live.mp4")) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == summary.rendered + summary.late_ticks
    assert character_share(decoded[len(decoded) // 2]) > 0.5 * character_share(rest_frame)
    text = log.getvalue()
    assert "press Ctrl-C to stop" in text and "render" in text and "latency" in text
    assert "capture->output latency" in text and "dropped:" in text


def test_session_ends_with_the_video_and_uses_the_tracker(example_rig, tmp_path):
    path = write_clip(tmp_path / "six.mp4", colour_frames(n=6, size=(96, 64)), fps=30)
    tracker = FakeTracker()
    out = ListOutput()
    options = LiveOptions(size=(128, 128), fps=30, background="#ffffff", report_every=0,
                          calibrate_at_start=True)
    summary = LiveSession(example_rig, VideoFileSource(path), tracker,
                          idle=IdleParamDriver(IdleDriver()), outputs=[out], options=options,
                          log=io.StringIO()).run()
    assert summary.stopped_by == "end of video"
    assert summary.captured == 6
    assert summary.tracked + summary.dropped_capture == 6
    assert tracker.calibrations == 1 and tracker.closed and out.closed
    assert all(shape == (64, 96, 3) for shape, _ in tracker.updates)
    assert [t for _, t in tracker.updates] == sorted(t for _, t in tracker.updates)
    assert summary.face_found_share == 1.0
    assert len(out.frames) >= summary.tracked - summary.dropped_tracked
    assert out.frames[-1].shape == (128, 128, 4)


def test_driver_errors_stop_the_session_and_discard_the_recording(example_rig, clip, tmp_path):
    from runtime.outputs.sinks import open_sink

    class Failing(FakeTracker):
        def update(self, frame_rgb, t):
            raise InputError("tracker broke")

    record = open_sink(tmp_path / "never.mp4", size=(64, 64), fps=30,
                       background_is_transparent=False)
    session = LiveSession(example_rig, VideoFileSource(clip, loop=True), Failing(),
                          outputs=[record], options=LiveOptions(size=(64, 64), duration=5,
                                                                report_every=0),
                          log=io.StringIO())
    with pytest.raises(InputError, match="tracker broke"):
        session.run()
    assert not (tmp_path / "never.mp4").exists()
    assert list(tmp_path.iterdir()) == []                 # no temporary file left either


def test_ctrl_c_stops_cleanly_with_the_summary(example_rig, clip, tmp_path):
    from runtime.outputs.sinks import open_sink
    record = open_sink(tmp_path / "kept.mp4", size=(64, 64), fps=30,
                       background_is_transparent=False)
    log = io.StringIO()
    session = LiveSession(example_rig, VideoFileSource(clip, loop=True),
                          IdleParamDriver(IdleDriver()), outputs=[record],
                          options=LiveOptions(size=(64, 64), duration=20, report_every=0),
                          log=log)
    before = signal.getsignal(signal.SIGINT)
    timer = threading.Timer(0.8, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        summary = session.run()
    finally:
        timer.cancel()
    assert summary.stopped_by == "Ctrl-C"
    assert (tmp_path / "kept.mp4").is_file()
    assert "live:" in log.getvalue()
    assert signal.getsignal(signal.SIGINT) is before      # the caller's handler is back


# ------------------------------------------------------------------------------ the window


def test_window_keys_recalibrate_toggle_and_quit(example_rig, clip, display, rest_frame):
    import glfw
    tracker = FakeTracker()
    log = io.StringIO()
    seen = {}

    def press(session, key):
        window = session.renderer._window          # through the window's registered callbacks
        window._on_key(window.handle, key, 0, glfw.PRESS, 0)

    def on_frame(session, n):
        if n == 3:
            seen["shot"] = session.renderer.screenshot()
            press(session, glfw.KEY_C)
        elif n == 8:
            seen["tracking_before"] = session.tracking_enabled
            press(session, glfw.KEY_T)
            seen["tracked_at_toggle"] = len(tracker.updates)
        elif n == 25:
            seen["tracking_after"] = session.tracking_enabled
            press(session, glfw.KEY_Q)
        elif n > 60:
            session.stop("test gave up")

    session = LiveSession(example_rig, VideoFileSource(clip, loop=True), tracker,
                          idle=IdleParamDriver(IdleDriver()), outputs=[],
                          options=LiveOptions(size=(256, 256), window=True, duration=20,
                                              report_every=0),
                          log=log, on_frame=on_frame)
    summary = session.run()
    assert summary.stopped_by == "quit key"
    assert seen["tracking_before"] is True and seen["tracking_after"] is False
    assert tracker.calibrations == 1
    # After T the tracker gets no more frames (at most the one in flight at the key press).
    assert len(tracker.updates) <= seen["tracked_at_toggle"] + 1
    text = log.getvalue()
    assert "keys: C recalibrate, T toggle tracking/idle, Q or Esc quit" in text
    assert "tracking off" in text and "calibrating" in text
    shot = seen["shot"]
    assert shot.shape == (256, 256, 4)
    assert character_share(shot[..., :3]) > 0.5 * character_share(rest_frame)


# ------------------------------------------------------------------------------ the command

def test_cli_records_a_file_driven_session(rig_path, clip, tmp_path, capsys):
    out = tmp_path / "rec.mp4"
    code, stdout, stderr = cli(["live", str(rig_path), "--camera", str(clip), "--loop",
                                "--idle-only", "--record", str(out), "--size", "96x96",
                                "--duration", "1", "--report-every", "0"], capsys)
    assert code == 0, stderr
    assert out.is_file()
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert 10 <= len(frames) <= 31 and frames[0].shape == (96, 96, 3)
    assert tuple(frames[0][1, 1]) == pytest.approx((255, 255, 255), abs=3)   # white by default
    assert "capture->output latency" in stdout and "rec.mp4: recorded" in stdout


def test_cli_sends_to_the_virtual_camera(rig_path, clip, capsys, fake_virtualcam):
    code, stdout, stderr = cli(["live", str(rig_path), "--camera", str(clip), "--loop",
                                "--idle-only", "--virtualcam", "--size", "64x48",
                                "--duration", "0.7", "--report-every", "0"], capsys)
    assert code == 0, stderr
    frames = fake_virtualcam[0].frames
    assert len(frames) >= 2 and frames[0].shape == (48, 64, 3)
    assert tuple(frames[0][0, 0]) == GREEN                # green by default for the camera
    assert "virtual camera recording test camera" in stdout


def test_cli_missing_camera_and_virtualcam_errors(rig_path, clip, tmp_path, capsys,
                                                  no_virtualcam):
    code, _, stderr = cli(["live", str(rig_path), "--camera", "63", "--idle-only",
                           "--record", str(tmp_path / "x.mp4")], capsys)
    assert code == 2 and stderr.count("\n") == 1 and "no camera at index 63" in stderr
    assert not (tmp_path / "x.mp4").exists()

    code, _, stderr = cli(["live", str(rig_path), "--camera", str(clip), "--idle-only",
                           "--virtualcam"], capsys)
    assert code == 2 and stderr.count("\n") == 1 and "no virtual camera available" in stderr

    # With a recording as well: a warning, and the session runs.
    out = tmp_path / "fallback.mp4"
    code, stdout, stderr = cli(["live", str(rig_path), "--camera", str(clip), "--idle-only",
                                "--virtualcam", "--record", str(out), "--size", "64x64",
                                "--duration", "0.5", "--report-every", "0"], capsys)
    assert code == 0
    assert "warning: no virtual camera available" in stderr and "continuing without it" in stderr
    assert out.is_file()
    if os.uname().sysname == "Linux":
        assert LINUX_FIX in stderr


@pytest.mark.parametrize("args, needle", [
    (["--fps", "0"], "--fps"), (["--duration", "-1"], "--duration"),
    (["--size", "big"], "--size"), (["--virtualcam", "--background", "transparent"], "no alpha"),
    (["--record", "x.mp4", "--background", "transparent"], "keeps alpha")])
def test_cli_bad_options(rig_path, clip, capsys, args, needle, fake_virtualcam):
    code, _, stderr = cli(["live", str(rig_path), "--camera", str(clip), "--idle-only"] + args,
                          capsys)
    assert code == 2 and needle in stderr and stderr.count("\n") == 1


def test_argparse_namespace_runs_directly(rig_path, clip, tmp_path):
    from runtime.commands.live import run
    args = argparse.Namespace(
        rig=str(rig_path), camera=str(clip), loop=True, virtualcam=False, window=False,
        record=str(tmp_path / "ns.gif"), mirror=False, size="48x48", fps=10.0,
        background="auto", quality="draft", margin=0.05, calibrate=False, face_model=None,
        body=False, idle_only=True, duration=0.5, report_every=0.0, seed=1)
    assert run(args) == 0
    assert (tmp_path / "ns.gif").is_file()


# ------------------------------------------------------------------------------ the real tracker

@pytest.mark.slow
def test_session_with_the_real_tracker_follows_a_rolled_face(example_rig, shared_data, tmp_path):
    """A 640x480 clip of the astronaut photo rolled by 20 degrees, then covered: the tracker
    finds the face and reads the roll, then loses it; the session ends with the video."""
    import cv2
    tracking_driver = pytest.importorskip("runtime.drivers.tracking_driver")
    face_path = shared_data / "faces" / "astronaut.png"
    if not face_path.is_file():
        pytest.skip("astronaut.png not available")
    face = cv2.cvtColor(cv2.imread(str(face_path)), cv2.COLOR_BGR2RGB)
    rotate = cv2.getRotationMatrix2D((256, 200), 20.0, 0.8)
    rotate[:, 2] += (64, 40)
    rolled = cv2.warpAffine(face, rotate, (640, 480), borderValue=(90, 90, 90))
    covered = np.full_like(rolled, 90)
    path = write_clip(tmp_path / "astronaut.mp4", [rolled] * 24 + [covered] * 18)

    class Recording(tracking_driver.TrackingDriver):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.seen = []

        def update(self, frame_rgb, t):
            params = super().update(frame_rgb, t)
            self.seen.append((self.face_found, params["ParamAngleZ"]))
            return params

    driver = Recording(idle=IdleDriver(seed=0))
    out = ListOutput()
    summary = LiveSession(example_rig, VideoFileSource(path), driver,
                          idle=IdleParamDriver(IdleDriver()), outputs=[out],
                          options=LiveOptions(size=(128, 128), report_every=0),
                          log=io.StringIO()).run()
    assert summary.stopped_by == "end of video"
    found = [angle for ok, angle in driver.seen if ok]
    assert len(found) >= 6                                 # of 24 (a busy machine drops some)
    assert abs(np.median(found[-4:])) > 10.0               # the roll is read, not lost in noise
    assert [ok for ok, _ in driver.seen[-3:]] == [False] * 3
    assert 0.1 < summary.face_found_share < 0.95
    assert summary.latency_ms_median is not None and len(out.frames) >= 5
