"""Shared by the command tests: running a command as the console script would, a tracker with a
known answer in place of MediaPipe, and sound written in any codec PyAV can encode."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import av
import numpy as np

from seethrough_core.character import InputError


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """`seethrough-rig ARGS` through the real entry point: (exit code, stdout, stderr)."""
    from runtime.commands.cli import main
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def run_registered(register: Callable, argv: list[str], capsys=None,
                   parser_class: type = argparse.ArgumentParser,
                   formatter: type = argparse.HelpFormatter):
    """One command's own parser (``register`` from its module), errors reported as the entry
    point reports them. With capsys: (exit code, stdout, stderr); without: the exit code."""
    parser = parser_class(prog="seethrough-rig")
    register(parser.add_subparsers(dest="command"), formatter)
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except InputError as exc:
        print(f"seethrough-rig: error: {exc}", file=sys.stderr)
        code = 2
    if capsys is None:
        return code
    out = capsys.readouterr()
    return code, out.out, out.err


def fake_tracking_driver(monkeypatch, params: dict[str, float]) -> None:
    """Replace MediaPipe tracking with a driver that sees a face every frame and answers
    ``params``: the render's video path is tested without the models' run time."""
    import runtime.drivers.tracking_driver as tracking

    class FakeTrackingDriver:
        face_found = True
        timings = {"track_ms": 1.0, "solve_ms": 0.1}

        def __init__(self, **kw):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, rgb, t):
            return dict(params)

        def calibrate(self):
            pass

        def close(self):
            pass

    monkeypatch.setattr(tracking, "TrackingDriver", FakeTrackingDriver)


# (codec, sample format, samples per frame) for the sound files the tests write.
AUDIO_CODECS = {".m4a": ("aac", "s16", 1024), ".mp3": ("libmp3lame", "s16p", 1152)}


def write_sound(path: Path, x: np.ndarray, rate: int) -> Path:
    """Mono float samples ``x`` in [-1, 1] as a compressed sound file (codec by suffix)."""
    codec, fmt, size = AUDIO_CODECS[path.suffix]
    samples = (np.clip(x, -1, 1) * 32767).astype(np.int16)
    with av.open(str(path), "w") as c:
        stream = c.add_stream(codec, rate=rate, layout="mono")
        for i in range(0, len(samples), size):
            frame = av.AudioFrame.from_ndarray(samples[None, i:i + size], format=fmt,
                                               layout="mono")
            frame.rate = rate
            for packet in stream.encode(frame):
                c.mux(packet)
        for packet in stream.encode(None):
            c.mux(packet)
    return path
