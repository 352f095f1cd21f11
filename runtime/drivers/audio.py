"""Audio in for lip-sync: sound files decoded with PyAV, and the microphone through sounddevice
(PortAudio). The DSP lives in ``runtime.drivers.lipsync``; this module only moves samples.

``load_audio(path)`` decodes the first audio stream of any file FFmpeg reads (wav, mp3, m4a,
ogg, flac, or a video's sound track) to mono float32 at 16 kHz, placed on the file's own clock
(a track that starts late is padded with silence), as the sinks place it when they mux it.

``open_mic(device, gain)`` is the live session's microphone input (``name = "mic"``): a
PortAudio input stream delivers blocks on its own thread, a worker thread runs the lip-sync on
them and leaves the newest mouth in a `HeldValues`, read once per rendered frame. Everything
that can go wrong with the device (no PortAudio, no microphone, an unknown name, a device that
will not open) is a `MicUnavailable` with one line that says the fix; the live command prints
it and goes on without the microphone. ``stream_factory`` replaces PortAudio (tests feed a
recording through it).
"""
from __future__ import annotations

import os
import platform
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Protocol, TextIO

import numpy as np

from seethrough_core.character import InputError

from runtime.drivers.inputs import HeldValues, InputReading
from runtime.drivers.lipsync import HOP_S, RATE, LipSync

MAX_AUDIO_SECONDS = 3600.0


# ------------------------------------------------------------------------------ files

def load_audio(path: str | os.PathLike, option: str = "--audio", rate: int = RATE,
               max_seconds: float = MAX_AUDIO_SECONDS) -> np.ndarray:
    """The first audio stream of ``path`` as mono float32 at ``rate``, from the file's start."""
    import av

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{option} {path}: no such file; give a sound file (.wav, .mp3, .m4a "
                         "...) or a video with sound")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise InputError(f"{option} {path}: not a readable sound file ({exc}); give a .wav, "
                         ".mp3, .m4a, .ogg, .flac or a video with sound") from None
    with container:
        if not container.streams.audio:
            raise InputError(f"{option} {path}: has no audio stream; give a file with sound")
        stream = container.streams.audio[0]
        start = container.start_time / 1_000_000 if container.start_time is not None else 0.0
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks: list[np.ndarray] = []
        count = 0
        offset: float | None = None
        limit = int(max_seconds * rate)
        try:
            for frame in container.decode(stream):
                if offset is None and frame.time is not None:
                    offset = frame.time - start
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    count += len(chunk)
                if count > limit:
                    raise InputError(f"{option} {path}: longer than {max_seconds:g} s; cut it "
                                     f"(ffmpeg -i IN -t {max_seconds:g} OUT.wav)")
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.FFmpegError as exc:
            raise InputError(f"{option} {path}: decoding its sound failed ({exc}); convert it "
                             "(ffmpeg -i IN OUT.wav)") from None
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    # On the file's clock: a late start is silence first, a start before zero is cut.
    shift = int(round((offset or 0.0) * rate))
    if shift > 0:
        samples = np.concatenate((np.zeros(shift, np.float32), samples))
    elif shift < 0:
        samples = samples[-shift:]
    if len(samples) < int(HOP_S * rate):
        raise InputError(f"{option} {path}: its sound is too short to lip-sync (under "
                         f"{HOP_S * 1000:.0f} ms)")
    return samples


# ------------------------------------------------------------------------------ microphone

class MicUnavailable(InputError):
    """No microphone input could be opened: the message says why and what to do."""


class AudioStream(Protocol):
    """What the microphone input needs of a stream (sounddevice.InputStream has it)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


# stream_factory(device, samplerate, blocksize, callback) -> a stream, not started. The callback
# takes sounddevice's (indata (frames, channels) float32, frames, time, status).
StreamFactory = Callable[[object, int, int, Callable], AudioStream]


def portaudio_missing_message(system: str | None = None) -> str:
    system = system or platform.system()
    if system == "Linux":
        fix = ("install it (Debian/Ubuntu: sudo apt-get install libportaudio2; Fedora: sudo dnf "
               "install portaudio)")
    elif system == "Darwin":
        fix = "reinstall sounddevice (pip install --force-reinstall sounddevice) or brew install portaudio"
    else:
        fix = "reinstall sounddevice (pip install --force-reinstall sounddevice)"
    return f"--mic: the PortAudio library is missing: {fix}"


NO_MIC_FIX = ("plug one in or enable it in the system's sound settings; "
              "`python -m sounddevice` lists the inputs, --mic DEVICE picks one")


def _sounddevice():
    try:
        import sounddevice
    except (ImportError, OSError):     # OSError: the module loads, libportaudio does not
        raise MicUnavailable(portaudio_missing_message()) from None
    return sounddevice


def _device_arg(device: str | int | None) -> str | int | None:
    if isinstance(device, str):
        device = device.strip()
        if not device:
            return None
        if device.isdigit():
            return int(device)
    return device


def _portaudio_stream(device, samplerate: int, blocksize: int, callback) -> AudioStream:
    sd = _sounddevice()
    return sd.InputStream(device=device, samplerate=samplerate, blocksize=blocksize,
                          channels=1, dtype="float32", callback=callback, latency="low")


def find_mic(device: str | int | None) -> tuple[int | str | None, str, int]:
    """(device to open, its name, a sample rate it takes) for ``--mic [DEVICE]``, through
    PortAudio; a `MicUnavailable` with the fix when there is none."""
    sd = _sounddevice()
    device = _device_arg(device)
    try:
        info = sd.query_devices(device, "input")
    except (ValueError, sd.PortAudioError):
        if device is None:
            raise MicUnavailable(f"--mic: no microphone found: {NO_MIC_FIX}") from None
        raise MicUnavailable(f"--mic {device}: no input device matches it; `python -m "
                             "sounddevice` lists them (give an index or part of a name)") \
            from None
    if not info or info.get("max_input_channels", 0) < 1:
        raise MicUnavailable(f"--mic: no microphone found: {NO_MIC_FIX}")
    index = info.get("index", device)
    rate = RATE
    try:   # 16 kHz saves resampling; many devices only run at their own rate
        sd.check_input_settings(device=index, samplerate=RATE, channels=1, dtype="float32")
    except Exception:
        rate = int(info.get("default_samplerate") or 48000)
    return index, str(info.get("name", device)), rate


class MicInput:
    """The microphone as a live input: lip-sync of the newest audio, read once per frame."""

    name = "mic"

    def __init__(self, stream_factory: StreamFactory, device=None, rate: int = RATE,
                 gain: float = 1.0, label: str = "microphone", log: TextIO | None = None) -> None:
        self.label = label
        self.rate = int(rate)
        self.log = log if log is not None else sys.stderr
        try:
            self.sync = LipSync(self.rate, gain)
        except ValueError as exc:
            raise MicUnavailable(f"--mic {label}: {exc}; pick another device with --mic "
                                 "DEVICE") from None
        self.held = HeldValues()
        self.frames = 0                 # lip-sync frames made (one per 20 ms hop)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._samples = 0
        self._running = False
        try:
            self._stream = stream_factory(device, self.rate, self.sync.hop, self._callback)
        except MicUnavailable:
            raise
        except Exception as exc:
            raise MicUnavailable(f"--mic {label}: cannot open it ({_one_line(exc)}); close other "
                                 "apps that use it or pick another with --mic DEVICE") from None

    def _callback(self, indata, frames, time_info, status) -> None:
        # PortAudio's thread: copy and hand over, nothing more (never block the audio).
        try:
            block = np.asarray(indata, np.float32)
            mono = block.mean(axis=1) if block.ndim == 2 else block.reshape(-1)
            self._queue.put((mono.copy(), time.perf_counter()))
        except Exception:
            pass

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            block, arrived = item
            self._samples += len(block)
            for frame in self.sync.push(block):
                # When the hop's newest sample came in: the block's arrival, less what follows it.
                captured = arrived - (self._samples - frame.t * self.rate) / self.rate
                self.held.put(frame.params(), captured=captured, merge=False)
                self.frames += 1

    def start(self) -> None:
        self._worker = threading.Thread(target=self._work, name="mic-lipsync", daemon=True)
        self._worker.start()
        try:
            self._stream.start()
            self._running = True
        except Exception as exc:    # the session goes on without the microphone
            print(f"seethrough-rig: warning: --mic {self.label}: cannot start it "
                  f"({_one_line(exc)}); continuing without it", file=self.log, flush=True)

    def read(self, now: float) -> InputReading | None:
        return self.held.read(now)

    def close(self) -> None:
        try:
            if self._running:
                self._stream.stop()
            self._stream.close()
        finally:
            self._running = False
            if self._worker is not None:
                self._queue.put(None)
                self._worker.join(timeout=2.0)
                self._worker = None


def open_mic(device: str | int | None = None, gain: float = 1.0,
             stream_factory: StreamFactory | None = None, rate: int | None = None,
             log: TextIO | None = None) -> MicInput:
    """The ``--mic [DEVICE]`` input. Without ``stream_factory`` the device is looked up and
    opened through PortAudio (`MicUnavailable` when that cannot be done)."""
    if stream_factory is None:
        index, name, found_rate = find_mic(device)
        return MicInput(_portaudio_stream, index, rate or found_rate, gain, name, log)
    label = str(device) if device not in (None, "") else "microphone"
    return MicInput(stream_factory, _device_arg(device), rate or RATE, gain, label, log)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
