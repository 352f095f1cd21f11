"""Reading the tests' video files back: decoded frames and what the stream says of itself."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np


class StreamInfo(NamedTuple):
    codec: str
    width: int
    height: int
    rate: Fraction | None
    metadata: dict
    profile: str | None
    tag: str


def decode(path: Path, codec: str | None = None,
           fmt: str = "rgba") -> tuple[list[np.ndarray], StreamInfo]:
    """Decoded frames as arrays; ``codec`` forces a decoder (libvpx-vp9 keeps webm alpha)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if codec is None:
            frames = [f.to_ndarray(format=fmt) for f in container.decode(stream)]
        else:
            ctx = av.CodecContext.create(codec, "r")
            frames = [f.to_ndarray(format=fmt)
                      for packet in container.demux(stream) for f in ctx.decode(packet)]
        info = StreamInfo(stream.codec_context.name, stream.width, stream.height,
                          stream.average_rate, dict(stream.metadata),
                          stream.codec_context.profile, stream.codec_tag)
    return frames, info
