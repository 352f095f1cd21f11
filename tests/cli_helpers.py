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


# (sample format, samples per frame) of the audio codecs the tests write.
AUDIO_CODECS = {"aac": ("s16", 1024), "libmp3lame": ("s16p", 1152)}
CODEC_OF_SUFFIX = {".m4a": "aac", ".mp3": "libmp3lame"}


def mux_sound(container, x: np.ndarray, rate: int, codec: str = "aac") -> None:
    """Mono float samples ``x`` in [-1, 1] as a new audio stream of an open output container."""
    fmt, size = AUDIO_CODECS[codec]
    stream = container.add_stream(codec, rate=rate, layout="mono")
    samples = (np.clip(x, -1, 1) * 32767).astype(np.int16)
    for i in range(0, len(samples), size):
        frame = av.AudioFrame.from_ndarray(samples[None, i:i + size], format=fmt, layout="mono")
        frame.rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def write_sound(path: Path, x: np.ndarray, rate: int) -> Path:
    """A compressed sound file of ``x`` (codec by suffix: .m4a or .mp3)."""
    with av.open(str(path), "w") as c:
        mux_sound(c, x, rate, CODEC_OF_SUFFIX[path.suffix])
    return path
