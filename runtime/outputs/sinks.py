"""Frame sinks: where rendered frames go. ``open_sink(path, size, fps)`` picks one by extension.

    .mp4       H.264 (libx264), yuv420p, BT.709; no alpha: frames are laid over ``background``.
               4:2:0 needs even sizes: an odd width or height is padded by repeating the last
               column/row (``sink.encoded_size`` tells).
    .webm      VP9 (libvpx-vp9) with alpha: yuva420p. FFmpeg's own vp9 decoder drops the alpha
               (libvpx keeps it as side data); decode with the libvpx-vp9 decoder to get it.
    .mov       ProRes 4444 (prores_ks, profile 4444) with alpha: yuva444p10le.
    .gif       Pillow: one palette per frame (no dithering, so flat anime colours stay flat and
               do not crawl), alpha below 128 becomes the transparent index. Delays are whole
               centiseconds; they alternate so the average rate is right. Identical
               consecutive frames become one longer frame. Frames wait in memory (one byte a
               pixel) until close: GIF is for short clips.
    .png       one RGBA image: the first frame written (later ones are ignored).
    a folder   (no extension, or an existing folder) a PNG sequence with alpha:
               frame_00000.png, frame_00001.png ...

Each sink takes ``write(frame)`` with (h, w, 4) straight-alpha uint8 RGBA (or (h, w, 3) RGB)
and ``close()``, and is a context manager. Output is written under a temporary name in the
target's folder and renamed over the target only by a successful ``close()``; an exception
inside ``with`` (or ``abort()``, or a sink dropped without closing) removes it, so there is
never half a file. With ``background_is_transparent=False`` every format gets opaque frames
laid over ``background``.

``audio_from=PATH`` (mp4, mov, webm) copies the first audio stream of another media file,
keeping its timing relative to that file's start: remuxed when the codec fits the container,
otherwise transcoded (AAC for mp4/mov, Opus for webm; mono or stereo). Audio is interleaved
with the video as frames are written and cut at the end of the video (to within one audio
frame).
"""
from __future__ import annotations

import math
import os
import re
import shutil
import weakref
from abc import ABC, abstractmethod
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from seethrough_core.character import InputError
from seethrough_core.outputs import prepare_target, temp_path, write_error

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mov")
SUPPORTED = VIDEO_EXTENSIONS + (".gif", ".png")
FRAME_NAME = "frame_{:05d}.png"
_FRAME_RE = re.compile(r"^frame_\d{5,}\.png$")
GIF_MAX_FPS = 50  # browsers slow down frames shorter than 2 cs to 10 cs
PNG_COMPRESS_LEVEL = 3  # zlib level: most of level 9's size at a fraction of its time


class VideoFormat:
    """How one container is encoded."""

    def __init__(self, container: str, codec: str, pix_fmt: str, opaque_pix_fmt: str,
                 options: dict[str, str], container_options: dict[str, str],
                 audio_codecs: frozenset[str], audio_encoder: str, even_size: bool) -> None:
        self.container = container
        self.codec = codec
        self.pix_fmt = pix_fmt                  # with alpha when the format has it
        self.opaque_pix_fmt = opaque_pix_fmt    # for background_is_transparent=False
        self.options = options
        self.container_options = container_options
        self.audio_codecs = audio_codecs        # remuxed as they are
        self.audio_encoder = audio_encoder      # for everything else
        self.even_size = even_size

    @property
    def has_alpha(self) -> bool:
        return self.pix_fmt != self.opaque_pix_fmt


VIDEO_FORMATS: dict[str, VideoFormat] = {
    ".mp4": VideoFormat(
        "mp4", "libx264", "yuv420p", "yuv420p",
        # crf 18: visually lossless for flat-shaded art; faststart: playable while downloading.
        {"crf": "18", "preset": "medium"}, {"movflags": "+faststart"},
        frozenset({"aac", "mp3", "alac", "ac3", "eac3"}), "aac", even_size=True),
    ".webm": VideoFormat(
        "webm", "libvpx-vp9", "yuva420p", "yuv420p",
        # Constant quality (b=0 + crf); cpu-used 4 and row-mt keep encoding near real time.
        {"crf": "30", "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"}, {},
        frozenset({"opus", "vorbis"}), "libopus", even_size=False),
    ".mov": VideoFormat(
        "mov", "prores_ks", "yuva444p10le", "yuv444p10le",
        # vendor apl0: Apple's editors trust ProRes files that say they come from Apple.
        {"profile": "4444", "vendor": "apl0"}, {},
        frozenset({"aac", "alac", "mp3", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be",
                   "pcm_f32le"}), "aac", even_size=False),
}
_OPUS_RATES = (48000, 24000, 16000, 12000, 8000)


def open_sink(path: str | os.PathLike, size: tuple[int, int], fps: float = 30,
              background_is_transparent: bool = True,
              background: tuple[int, int, int] = (0, 0, 0),
              audio_from: str | os.PathLike | None = None) -> "FrameSink":
    """A sink for ``path``, chosen by its extension (see the module docstring).

    ``size`` is (width, height) of the frames that will be written; ``background`` is the RGB
    colour under transparent pixels wherever the output is opaque (always for mp4).
    """
    raw = os.fspath(path)
    path = Path(raw)
    size = _check_size(size)
    fps = _check_fps(fps)
    background = _check_background(background)
    kind = _sink_kind(path, trailing_separator=raw.endswith(("/", os.sep)))
    if audio_from is not None and kind not in VIDEO_EXTENSIONS:
        raise InputError(f"{path}: a {kind if kind != 'dir' else 'PNG sequence'} cannot carry "
                         f"audio; write .mp4, .mov or .webm to keep the sound of {audio_from}")
    options = dict(size=size, fps=fps, transparent=bool(background_is_transparent),
                   background=background)
    try:
        if kind in VIDEO_EXTENSIONS:
            return VideoSink(path, VIDEO_FORMATS[kind], audio_from=audio_from, **options)
        if kind == ".gif":
            return GifSink(path, **options)
        if kind == ".png":
            return PngSink(path, **options)
        return PngSequenceSink(path, **options)
    except OSError as exc:   # no such drive, read-only folder, permission denied ...
        raise write_error(path, exc) from None


def _sink_kind(path: Path, trailing_separator: bool) -> str:
    if trailing_separator or path.is_dir() or not path.suffix:
        return "dir"
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise InputError(f"{path}: cannot write {suffix!r} files; use one of "
                         f"{', '.join(SUPPORTED)}, or a folder name for a PNG sequence")
    return suffix


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in size)
    except (TypeError, ValueError):
        raise InputError(f"frame size must be (width, height), got {size!r}") from None
    if w <= 0 or h <= 0:
        raise InputError(f"frame size must be positive, got {w}x{h}")
    return w, h


def _check_fps(fps: float) -> Fraction:
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise InputError(f"fps must be a number, got {fps!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"fps must be a positive number, got {fps!r}")
    if isinstance(fps, Fraction):
        return fps
    # NTSC rates written as 23.976 / 29.97 / 59.94 mean 24000/1001 ...: the exact rate keeps
    # long videos in step with audio.
    for base in (24, 30, 48, 60, 120):
        if abs(value - base * 1000 / 1001) < 0.005:
            return Fraction(base * 1000, 1001)
    return Fraction(value).limit_denominator(1000)


def _check_background(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    try:
        rgb = tuple(int(c) for c in colour)
    except (TypeError, ValueError):
        raise InputError(f"background must be an (r, g, b) colour, got {colour!r}") from None
    if len(rgb) != 3 or any(c < 0 or c > 255 for c in rgb):
        raise InputError(f"background must be three numbers 0-255, got {colour!r}")
    return rgb  # type: ignore[return-value]


def over_background(rgba: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """Straight-alpha RGBA laid over an opaque colour: (h, w, 3) uint8, rounded."""
    a = rgba[..., 3:4].astype(np.uint32)
    rgb = rgba[..., :3].astype(np.uint32) * a + np.array(background, np.uint32) * (255 - a)
    return ((rgb + 127) // 255).astype(np.uint8)


# ---------------------------------------------------------------------------------- the base

class FrameSink(ABC):
    """Base of every sink: frame checks, the temporary output and the atomic commit."""

    def __init__(self, path: Path, size: tuple[int, int], fps: Fraction, transparent: bool,
                 background: tuple[int, int, int], temp_is_dir: bool = False) -> None:
        self.path = path
        self.size = size
        self.fps = fps
        self.transparent = transparent
        self.background = background
        self.frames_written = 0
        self._closed = False
        prepare_target(path, folder=temp_is_dir)
        self._temp = temp_path(path)
        # Removes the temporary output if this sink is dropped without close() or abort().
        self._cleanup = weakref.finalize(self, _remove, self._temp)
        if temp_is_dir:
            self._temp.mkdir()

    # ------------------------------------------------------------------------- public API

    def write(self, frame: np.ndarray) -> None:
        """Add one frame: (h, w, 4) straight-alpha uint8 RGBA, or (h, w, 3) RGB."""
        if self._closed:
            raise ValueError(f"{self.path}: sink is closed")
        try:
            self._write(self._prepare(frame))
        except OSError as exc:      # disk full, folder removed, device gone ...
            raise write_error(self.path, exc) from None
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file and move it into place. Safe to call twice."""
        if self._closed:
            return
        try:
            if self.frames_written == 0:
                raise ValueError(f"{self.path}: no frames were written; nothing saved")
            try:
                self._finish()
                self._commit()
            except OSError as exc:
                raise write_error(self.path, exc) from None
        except BaseException:
            self.abort()
            raise
        self._closed = True
        self._cleanup.detach()

    def abort(self) -> None:
        """Drop everything written so far: no file appears at ``path``."""
        self._closed = True
        try:
            self._release()
        finally:
            self._cleanup()

    def __enter__(self) -> "FrameSink":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # ---------------------------------------------------------------------- for subclasses

    @abstractmethod
    def _write(self, rgba: np.ndarray) -> None:
        """Store one prepared frame."""

    def _finish(self) -> None:
        """Flush and close the temporary output."""

    def _release(self) -> None:
        """Close open handles without finishing (after an error)."""

    def _commit(self) -> None:
        os.replace(self._temp, self.path)

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        frame = np.asarray(frame)
        w, h = self.size
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] not in (3, 4):
            raise ValueError(f"frames must be (h, w, 4) uint8 RGBA, got {frame.shape} "
                             f"{frame.dtype}")
        if frame.shape[:2] != (h, w):
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, this sink was opened "
                             f"for {w}x{h}")
        if frame.shape[2] == 3:
            return np.concatenate([frame, np.full((h, w, 1), 255, np.uint8)], axis=2)
        if not self.transparent:
            out = np.empty_like(frame)
            out[..., :3] = over_background(frame, self.background)
            out[..., 3] = 255
            return out
        return np.ascontiguousarray(frame)


def _remove(path: Path) -> None:
    try:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass  # nothing better to do while cleaning up after a failure


# ---------------------------------------------------------------------------------- videos

class VideoSink(FrameSink):
    """mp4 / webm / mov through PyAV."""

    def __init__(self, path: Path, fmt: VideoFormat, size: tuple[int, int], fps: Fraction,
                 transparent: bool, background: tuple[int, int, int],
                 audio_from: str | os.PathLike | None = None) -> None:
        import av  # PyAV is heavy: only video sinks pay for importing it

        if fmt.codec not in av.codecs_available:
            raise InputError(f"{path}: this PyAV build has no {fmt.codec} encoder; install the "
                             "PyPI wheel of av (it bundles FFmpeg with it)")
        super().__init__(path, size, fps, transparent, background)
        self.format = fmt
        self.keeps_alpha = fmt.has_alpha and transparent
        w, h = size
        self.encoded_size = (w + w % 2, h + h % 2) if fmt.even_size else (w, h)
        self._av = av
        self._container = None
        self._audio: _AudioPass | None = None
        try:
            self._container = av.open(str(self._temp), "w", format=fmt.container,
                                      container_options=fmt.container_options)
            stream = self._container.add_stream(fmt.codec, rate=fps, options=dict(fmt.options))
            stream.width, stream.height = self.encoded_size
            stream.pix_fmt = fmt.pix_fmt if self.keeps_alpha else fmt.opaque_pix_fmt
            # Tag BT.709 and convert with it: untagged video is guessed differently by players.
            ctx = stream.codec_context
            ctx.colorspace = ctx.color_primaries = ctx.color_trc = 1   # AVCOL_*_BT709
            ctx.color_range = 1                                        # limited (MPEG) range
            self._stream = stream
            if audio_from is not None:
                self._audio = _AudioPass(self._container, Path(audio_from), fmt)
        except BaseException:
            self.abort()
            raise

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        """RGBA for formats with alpha, RGB laid over the background for mp4; padded even."""
        pixels = super()._prepare(frame)
        if not self.format.has_alpha:
            pixels = over_background(pixels, self.background)
        w, h = self.size
        ew, eh = self.encoded_size
        if (ew, eh) != (w, h):
            pixels = np.pad(pixels, ((0, eh - h), (0, ew - w), (0, 0)), mode="edge")
        return pixels

    def _write(self, pixels: np.ndarray) -> None:
        av = self._av
        layout = "rgba" if pixels.shape[2] == 4 else "rgb24"
        frame = av.VideoFrame.from_ndarray(pixels, format=layout)
        frame = frame.reformat(format=self._stream.pix_fmt, dst_colorspace="ITU709",
                               dst_color_range="MPEG")
        frame.pts = self.frames_written
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        if self._audio is not None:
            self._audio.pump((self.frames_written + 1) / self.fps)

    def _finish(self) -> None:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        if self._audio is not None:
            self._audio.finish(self.frames_written / self.fps)
            self._audio.close()
            self._audio = None
        self._container.close()
        self._container = None

    def _release(self) -> None:
        if self._audio is not None:
            self._audio.close()
            self._audio = None
        if self._container is not None:
            try:
                self._container.close()
            except Exception:
                pass  # the file is being thrown away; a failing trailer does not matter
            self._container = None


class _AudioPass:
    """Copies one audio stream from a media file into an output container, in time order."""

    def __init__(self, container, source: Path, fmt: VideoFormat) -> None:
        import av

        if not source.is_file():
            raise InputError(f"{source}: no such file to take the audio from")
        try:
            self._input = av.open(str(source))
        except av.FFmpegError as exc:
            raise InputError(f"{source}: cannot read it as audio or video ({exc}); "
                             "give a media file with an audio track") from None
        try:
            if not self._input.streams.audio:
                raise InputError(f"{source}: has no audio stream to copy; leave out the "
                                 "audio option or give a file with sound")
            self._in = self._input.streams.audio[0]
            # Times relative to the file's start: audio stays in sync with the video it came with.
            start = self._input.start_time
            self._offset = 0.0 if start is None else start / 1_000_000
            self.remux = self._in.codec_context.name in fmt.audio_codecs
            self._container = container
            if self.remux:
                self._out = container.add_stream_from_template(self._in)
                self._source: Iterator = (p for p in self._input.demux(self._in)
                                          if p.size and (p.pts is not None or p.dts is not None))
            else:
                if fmt.audio_encoder not in av.codecs_available:
                    raise InputError(f"this PyAV build has no {fmt.audio_encoder} encoder to "
                                     f"convert the audio of {source}")
                channels = self._in.codec_context.channels or 2
                layout = "mono" if channels == 1 else "stereo"
                rate = self._in.codec_context.sample_rate or 48000
                if fmt.audio_encoder == "libopus" and rate not in _OPUS_RATES:
                    rate = 48000  # Opus only runs at these rates
                self._out = container.add_stream(fmt.audio_encoder, rate=rate, layout=layout)
                self._out.codec_context.open()   # fixes frame_size for the resampler
                ctx = self._out.codec_context
                self._resampler = av.AudioResampler(format=ctx.format, layout=ctx.layout,
                                                    rate=ctx.sample_rate,
                                                    frame_size=ctx.frame_size or None)
                self._rate = ctx.sample_rate
                self._next_pts: int | None = None
                self._source = iter(self._input.decode(self._in))
        except BaseException:
            self._input.close()
            raise
        self._pending = None
        self._done = False

    def _time(self, item) -> float:
        if self.remux:
            ts = item.pts if item.pts is not None else item.dts
            return float(ts * item.time_base) - self._offset
        return (item.time if item.time is not None else 0.0) - self._offset

    def pump(self, until: float) -> None:
        """Copy everything that starts before ``until`` seconds."""
        while not self._done:
            if self._pending is None:
                self._pending = next(self._source, None)
                if self._pending is None:
                    self._done = True
                    return
            if self._time(self._pending) >= until:
                return
            item, self._pending = self._pending, None
            self._emit(item)

    def _emit(self, item) -> None:
        t = self._time(item)
        if self.remux:
            # Packets before the start are kept: AAC's priming packet sits at negative time and
            # the decoder needs it; the muxer records them as skipped samples.
            shift = round(self._offset / item.time_base)
            if item.pts is not None:
                item.pts -= shift
            if item.dts is not None:
                item.dts -= shift
            item.stream = self._out
            self._container.mux(item)
            return
        if t < 0:
            return
        if self._next_pts is None:
            self._next_pts = round(t * self._rate)  # keep a late start late
        for frame in self._resampler.resample(item):
            self._encode(frame)

    def _encode(self, frame) -> None:
        frame.pts = self._next_pts
        frame.time_base = Fraction(1, self._rate)
        self._next_pts += frame.samples
        for packet in self._out.encode(frame):
            self._container.mux(packet)

    def finish(self, until: float) -> None:
        """Copy up to ``until`` seconds, then flush the encoder."""
        self.pump(until)
        if not self.remux:
            if self._next_pts is not None:
                for frame in self._resampler.resample(None):
                    self._encode(frame)
            for packet in self._out.encode(None):
                self._container.mux(packet)

    def close(self) -> None:
        self._input.close()


# ------------------------------------------------------------------------------------ GIF

class GifSink(FrameSink):
    """Animated GIF through Pillow; frames are kept (as 1-byte palette images) until close."""

    def __init__(self, path: Path, size: tuple[int, int], fps: Fraction, transparent: bool,
                 background: tuple[int, int, int]) -> None:
        if fps > GIF_MAX_FPS:
            raise InputError(f"{path}: GIF players slow down frames shorter than 20 ms; use "
                             f"fps {GIF_MAX_FPS} or less for .gif (asked for {float(fps):g})")
        super().__init__(path, size, fps, transparent, background)
        self._frames: list = []

    def _write(self, rgba: np.ndarray) -> None:
        from PIL import Image

        if self.transparent:
            clear = rgba[..., 3] < 128
            rgb = rgba[..., :3].copy()
            rgb[clear] = 0  # one palette entry for whatever lies under the transparent pixels
            image = Image.fromarray(rgb, "RGB").quantize(
                colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
            index = np.asarray(image).copy()
            index[clear] = 255   # the reserved transparent entry
            palette = (image.getpalette() or [])[:255 * 3]
            palette += [0] * (255 * 3 - len(palette)) + [0, 0, 0]
            frame = Image.fromarray(index, "P")
            frame.putpalette(palette)
            frame.info["transparency"] = 255
        else:
            frame = Image.fromarray(np.ascontiguousarray(rgba[..., :3]), "RGB").quantize(
                colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        self._frames.append(frame)

    def _delays_ms(self) -> list[int]:
        """Whole-centisecond delays whose running sum tracks the true frame times."""
        n = len(self._frames)
        edges = [round(100 * k / self.fps) for k in range(n + 1)]
        return [10 * max(1, edges[k + 1] - edges[k]) for k in range(n)]

    def _finish(self) -> None:
        first, rest = self._frames[0], self._frames[1:]
        options = dict(format="GIF", save_all=True, append_images=rest, loop=0,
                       duration=self._delays_ms(), optimize=False)
        if self.transparent:
            # disposal 2: clear each frame to transparent before drawing the next one, so
            # moving parts leave no trail over the see-through background.
            options.update(disposal=2, transparency=255)
        first.save(self._temp, **options)
        self._frames = []

    def _release(self) -> None:
        self._frames = []


# ------------------------------------------------------------------------------------ PNG

class PngSink(FrameSink):
    """One RGBA PNG: the first frame written. Later frames are counted but not stored."""

    def _write(self, rgba: np.ndarray) -> None:
        if self.frames_written == 0:
            _save_png(rgba, self._temp)


class PngSequenceSink(FrameSink):
    """A folder of RGBA PNGs, frame_00000.png, frame_00001.png ... built in a temporary folder
    beside the target and renamed into place on close.

    An existing target folder is replaced only when it is empty or holds nothing but frames
    from an earlier sequence; any other folder is refused, never deleted.
    """

    def __init__(self, path: Path, size: tuple[int, int], fps: Fraction, transparent: bool,
                 background: tuple[int, int, int]) -> None:
        path = Path(str(path).rstrip("/" + os.sep) or str(path))
        if path.exists() and not path.is_dir():
            raise InputError(f"{path}: exists and is not a folder; choose a folder name for the "
                             "PNG sequence")
        if path.is_dir():
            others = [p.name for p in path.iterdir() if not _FRAME_RE.match(p.name)]
            if others:
                raise InputError(f"{path}: folder already holds other files ({others[0]} ...); "
                                 "choose an empty or new folder for the PNG sequence")
        super().__init__(path, size, fps, transparent, background, temp_is_dir=True)

    def _write(self, rgba: np.ndarray) -> None:
        _save_png(rgba, self._temp / FRAME_NAME.format(self.frames_written))

    def _commit(self) -> None:
        if self.path.is_dir():
            # Swap: old frames aside, new folder in, old frames gone.
            old = temp_path(self.path, "old")
            os.replace(self.path, old)
            try:
                os.replace(self._temp, self.path)
            except BaseException:
                os.replace(old, self.path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self._temp, self.path)


def _save_png(rgba: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(rgba, "RGBA").save(path, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
