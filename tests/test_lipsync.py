"""Lip-sync from audio: vowels from formants, the noise gate, closing on silence, loudness, the
microphone input (a fake PortAudio stream fed from real speech) and `render --audio`.

The speech is real synthetic speech from espeak-ng (sustained vowels as phoneme input, e.g.
``[[a:a:a:]]``); the tests that need it skip when espeak-ng is not installed
(``apt-get install espeak-ng``).
"""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import threading
import time
import types
import wave

import av
import numpy as np
import pytest
from scipy.signal import resample_poly

from cli_helpers import fake_tracking_driver, mux_sound, run_cli, write_sound
from runtime.drivers.lipsync import (FLOOR_WINDOW_S, HOP_S, LipSync, RATE, analyze, formants,
                                     mix_mouth, vowel_weights, VOWEL_NAMES)

ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed "
                                  "(apt-get install espeak-ng)")
VOWEL_PHONEMES = {"A": "a", "I": "i", "U": "u", "E": "e", "O": "o"}


# ------------------------------------------------------------------------------ helpers

def espeak(text: str, voice: str = "es", speed: int = 100, folder=None) -> tuple[np.ndarray, int]:
    """espeak-ng's speech for ``text`` as float samples and their rate (22050 Hz)."""
    import tempfile
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = f"{tmp}/speech.wav"
        subprocess.run([ESPEAK, "-v", voice, "-s", str(speed), "-w", path, text], check=True,
                       capture_output=True, timeout=60)
        with wave.open(path) as w:
            rate = w.getframerate()
            data = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    return data.astype(np.float64) / 32768.0, rate


def to_16k(x: np.ndarray, rate: int) -> np.ndarray:
    if rate == RATE:
        return x
    from fractions import Fraction
    r = Fraction(RATE, rate)
    return resample_poly(x, r.numerator, r.denominator)


def silence(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.zeros(int(round(seconds * rate)))


def write_wav(path, samples: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "w") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def speech_spans(x: np.ndarray, rate: int, gap: float = 0.1) -> list[tuple[float, float]]:
    """(start, end) seconds of the stretches where the signal is above 1% of its peak,
    stretches closer than ``gap`` joined."""
    loud = np.flatnonzero(np.abs(x) > 0.01 * np.abs(x).max())
    spans = []
    start = prev = loud[0]
    for i in loud[1:]:
        if i - prev > gap * rate:
            spans.append((start / rate, prev / rate))
            start = i
        prev = i
    spans.append((start / rate, prev / rate))
    return spans


def noise(kind: str, seconds: float, dbfs: float, seed: int = 0) -> np.ndarray:
    """White or pink (1/f power) noise at a steady RMS level."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    x = rng.standard_normal(n)
    if kind == "pink":
        spectrum = np.fft.rfft(x)
        f = np.arange(len(spectrum))
        spectrum[1:] /= np.sqrt(f[1:])
        spectrum[0] = 0
        x = np.fft.irfft(spectrum, n)
    return x / np.sqrt(np.mean(x ** 2)) * 10 ** (dbfs / 20)


@pytest.fixture(scope="module")
def vowels():
    """Sustained vowels, (voice, vowel) -> 16 kHz samples with 0.3 s of silence around."""
    if ESPEAK is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    out = {}
    for voice in ("es", "es+f3"):
        for name, ph in VOWEL_PHONEMES.items():
            x, rate = espeak(f"[[{ph}:{ph}:{ph}:]]", voice)
            out[voice, name] = np.concatenate((silence(0.3), to_16k(x, rate), silence(0.3)))
    return out


# ------------------------------------------------------------------------------ the DSP

@needs_espeak
@pytest.mark.parametrize("voice", ["es", "es+f3"])
@pytest.mark.parametrize("vowel", list(VOWEL_PHONEMES))
def test_sustained_vowels_are_classified(vowels, voice, vowel):
    frames = LipSync(RATE).push(vowels[voice, vowel])
    voiced = [f.vowel for f in frames if f.gate and f.vowel is not None]
    assert len(voiced) >= 20                  # ~0.9 s of vowel: most of its hops count
    share = voiced.count(vowel) / len(voiced)
    assert share >= 0.8, f"{voice} {vowel}: {share:.0%} of {len(voiced)} voiced frames " \
                         f"({''.join(voiced)})"


@needs_espeak
def test_each_vowel_shapes_the_mouth_as_the_lip_sync_tools_do(vowels):
    shape = {}
    for name in VOWEL_PHONEMES:
        frames = [f for f in LipSync(RATE).push(vowels["es", name]) if f.vowel is not None]
        middle = frames[len(frames) // 4: 3 * len(frames) // 4]
        shape[name] = (np.median([f.open for f in middle]), np.median([f.form for f in middle]))
    assert shape["A"][0] > 0.8                                    # A: wide open
    assert shape["O"][0] > shape["E"][0] > shape["U"][0] > 0.2    # O medium-large, E medium
    assert shape["I"][0] < 0.5 and shape["U"][0] < 0.5            # I, U: small
    assert shape["I"][1] > 0.8 and shape["E"][1] > 0.4            # wide
    assert shape["U"][1] < -0.8 and shape["O"][1] < -0.5          # round
    assert abs(shape["A"][1]) < 0.2


def test_formants_of_a_synthetic_vowel_are_found():
    """A glottal pulse train through two known resonances: LPC finds them within 8%."""
    from scipy.signal import lfilter
    rate, f0 = RATE, 110.0
    n = int(0.032 * rate)
    pulses = np.zeros(n * 4)
    pulses[::int(rate / f0)] = 1.0
    x = pulses
    for fc, bw in ((700.0, 80.0), (1200.0, 90.0), (2600.0, 150.0)):
        r = np.exp(-np.pi * bw / rate)
        x = lfilter([1.0], [1.0, -2 * r * np.cos(2 * np.pi * fc / rate), r * r], x)
    f1, f2 = formants(x[-n:], rate)
    assert f1 == pytest.approx(700, rel=0.08) and f2 == pytest.approx(1200, rel=0.08)
    assert VOWEL_NAMES[int(np.argmax(vowel_weights(f1, f2)))] == "A"


@needs_espeak
def test_the_mouth_closes_within_100_ms_of_silence(vowels):
    a, o = vowels["es", "A"], vowels["es", "O"]
    hola, rate = espeak("hola", "es", 140)
    x = np.concatenate((a, silence(0.5), o, silence(0.5), to_16k(hola, rate), silence(0.5)))
    frames = LipSync(RATE).push(x)
    times = np.array([f.t for f in frames])
    opening = np.array([f.open for f in frames])
    spans = speech_spans(x, RATE)
    assert len(spans) == 3
    for (start, end), next_start in zip(spans, [s for s, _ in spans[1:]] + [len(x) / RATE]):
        during = opening[(times > start + 0.05) & (times <= end)]
        assert during.max() > 0.4                            # it did open
        closed_at = times[(times > end) & (opening < 0.1)][0]
        assert closed_at - end <= 0.100, f"closed {1000 * (closed_at - end):.0f} ms late"
        # ... and stays closed until the next word.
        assert np.all(opening[(times >= closed_at) & (times < next_start)] < 0.1)


@needs_espeak
def test_the_opening_follows_the_loudness(vowels):
    a = vowels["es", "A"]
    gains_db = np.arange(-30, 1, 3.0)
    x = np.concatenate([silence(0.5)] + [np.concatenate((a * 10 ** (g / 20), silence(0.2)))
                                         for g in gains_db])
    frames = LipSync(RATE).push(x)
    speaking = [f for f in frames if f.gate and f.vowel is not None]
    levels = np.array([f.level_db for f in speaking])
    opening = np.array([f.open for f in speaking])
    r = np.corrcoef(levels, opening)[0, 1]
    assert r > 0.8, f"Pearson r {r:.3f} between level and opening"
    # Per take: the same vowel opens wider the louder it is said.
    seg = (len(a) + int(0.2 * RATE)) / RATE
    means = []
    for i in range(len(gains_db)):
        t0 = 0.5 + i * seg
        inside = [f.open for f in speaking if t0 + 0.4 < f.t < t0 + 0.8]
        means.append(np.mean(inside) if inside else 0.0)
    assert np.corrcoef(gains_db, means)[0, 1] > 0.9
    assert means[-1] > 0.8 and means[0] < 0.5


@pytest.mark.parametrize("kind", ["white", "pink"])
def test_steady_noise_keeps_the_mouth_closed(kind):
    # From the first hop: the floor starts at the noise.
    frames = LipSync(RATE).push(noise(kind, 4.0, -30.0))
    assert max(f.open for f in frames) < 0.1
    # Noise switched on after a quiet second: the gate adapts within the floor's window.
    quiet = noise("white", 1.0, -75.0, seed=1)
    frames = LipSync(RATE).push(np.concatenate((quiet, noise(kind, 6.0, -30.0))))
    adapted = [f for f in frames if f.t > 1.0 + FLOOR_WINDOW_S + 0.1]
    assert len(adapted) > 50 and max(f.open for f in adapted) < 0.02
    assert not any(f.gate for f in adapted)


@needs_espeak
def test_speech_over_steady_noise_still_opens_and_closes(vowels):
    a, i = vowels["es", "A"], vowels["es", "I"]
    speech = np.concatenate((silence(3.5), a, silence(0.8), i, silence(0.8)))
    bed = noise("pink", len(speech) / RATE, -40.0, seed=2)        # ~20 dB below the voice
    frames = LipSync(RATE).push(speech + bed)
    times = np.array([f.t for f in frames])
    opening = np.array([f.open for f in frames])
    spans = speech_spans(speech, RATE)
    assert len(spans) == 2
    for start, end in spans:
        assert opening[(times > start) & (times <= end)].max() > 0.3
        after = opening[(times > end + 0.1) & (times < end + 0.7)]
        assert after.max() < 0.1
    assert opening[times < 3.4].max() < 0.1                      # the noise alone: closed


@needs_espeak
def test_the_gain_is_the_sensitivity(vowels):
    quiet = vowels["es", "A"] * 10 ** (-24 / 20)
    plain = np.mean([f.open for f in LipSync(RATE, gain=1.0).push(quiet)])
    louder = np.mean([f.open for f in LipSync(RATE, gain=4.0).push(quiet)])
    assert louder > plain + 0.1


@needs_espeak
@pytest.mark.parametrize("rate", [22050, 48000])
def test_other_sample_rates_give_the_same_vowels(rate):
    x, native = espeak("[[i:i:i:]]", "es")
    if rate != native:
        x = resample_poly(x, rate, native)
    frames = LipSync(rate).push(np.concatenate((silence(0.3, rate), x, silence(0.3, rate))))
    voiced = [f.vowel for f in frames if f.vowel is not None]
    assert len(voiced) >= 20 and voiced.count("I") / len(voiced) >= 0.8


def test_a_track_and_the_mouth_modes():
    t = np.arange(1, 6) * HOP_S
    from runtime.drivers.lipsync import LipSyncTrack
    track = LipSyncTrack(times=t, open=np.array([0, 0.5, 1.0, 0.5, 0]),
                         form=np.array([0, 1.0, 1.0, 1.0, 0]),
                         activity=np.array([0, 1.0, 1.0, 1.0, 0]), vowels=[None] * 5,
                         duration=0.1, lead=0.0)
    assert track.sample(0.06) == {"ParamMouthOpenY": 1.0, "ParamMouthForm": 1.0}
    assert track.sample(0.05)["ParamMouthOpenY"] == pytest.approx(0.75)
    face = {"ParamMouthOpenY": 0.7, "ParamMouthForm": -0.5, "ParamAngleX": 3.0}
    assert mix_mouth(face, track, 0.06, "face") == face
    assert mix_mouth(face, track, 0.06, "audio") == {"ParamMouthOpenY": 1.0,
                                                     "ParamMouthForm": 1.0, "ParamAngleX": 3.0}
    both = mix_mouth(face, track, 0.04, "both")
    assert both["ParamMouthOpenY"] == 0.7 and both["ParamMouthForm"] == 1.0
    silent = mix_mouth(face, track, 0.2, "both")        # no vowel: the face's mouth
    assert silent["ParamMouthOpenY"] == 0.7 and silent["ParamMouthForm"] == -0.5


@needs_espeak
def test_an_offline_analysis_does_not_gate_a_file_that_starts_talking(vowels):
    x = vowels["es", "A"][int(0.3 * RATE):]            # speech from the first sample
    track = analyze(x)
    assert track.open[:10].max() > 0.5
    assert track.duration == pytest.approx(len(x) / RATE)


# ------------------------------------------------------------------------------ microphone

class FakeStream:
    """Stands in for a PortAudio input stream: plays a recording into the callback in real
    time, ``blocksize`` frames at a time, from a thread, like PortAudio's."""

    def __init__(self, samples: np.ndarray, rate: int, blocksize: int, callback,
                 fail_start: bool = False) -> None:
        self.samples, self.rate, self.blocksize, self.callback = samples, rate, blocksize, callback
        self.fail_start = fail_start
        self.started = self.stopped = self.closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.fail_start:
            raise RuntimeError("Error starting stream: Device unavailable [PaErrorCode -9985]")
        self.started = True
        self._thread = threading.Thread(target=self._play, daemon=True)
        self._thread.start()

    def _play(self) -> None:
        t0 = time.perf_counter()
        for i, start in enumerate(range(0, len(self.samples), self.blocksize)):
            due = t0 + (i + 1) * self.blocksize / self.rate      # a block exists once recorded
            if self._stop.wait(max(0.0, due - time.perf_counter())):
                return
            block = self.samples[start:start + self.blocksize].astype(np.float32)[:, None]
            self.callback(block, len(block), None, None)

    def stop(self) -> None:
        self.stopped = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def close(self) -> None:
        self.closed = True


@needs_espeak
def test_the_microphone_drives_the_mouth_in_a_live_session(example_rig):
    from runtime.drivers.audio import open_mic
    from runtime.drivers.capture import ClockSource
    from runtime.drivers.idle import IdleDriver
    from runtime.sessions.live import IdleParamDriver, LiveOptions, LiveSession

    speech, rate = espeak("[[a:a:a:]]", "es")                  # 22050 Hz, as a device might
    recording = np.concatenate((silence(0.6, rate), speech, silence(1.2, rate)))
    start, end = speech_spans(recording, rate)[0]
    streams = []

    def factory(device, samplerate, blocksize, callback):
        assert samplerate == rate and blocksize == int(round(rate * HOP_S))
        streams.append(FakeStream(recording, samplerate, blocksize, callback))
        return streams[-1]

    mic = open_mic(None, stream_factory=factory, rate=rate)
    log = io.StringIO()
    session = LiveSession(example_rig, ClockSource(30.0), IdleParamDriver(IdleDriver(seed=1)),
                          options=LiveOptions(size=(64, 64), fps=30.0,
                                              duration=len(recording) / rate - 0.1,
                                              report_every=0.0),
                          log=io.StringIO(), inputs=[mic], params_log=log)
    summary = session.run()
    assert streams[0].started and streams[0].stopped and streams[0].closed
    rows = [json.loads(line) for line in log.getvalue().splitlines()]
    mouth = {r["t"]: r["params"]["ParamMouthOpenY"] for r in rows}
    assert all(r["sources"]["ParamMouthOpenY"] == "mic" for r in rows if r["t"] > 0.1)
    assert all(r["sources"]["ParamAngleX"] == "idle" for r in rows if r["t"] > 0.1)
    # Session time and recording time start together (within a frame or two of scheduling).
    assert max(v for t, v in mouth.items() if t < start - 0.1) < 0.1
    assert max(v for t, v in mouth.items() if start + 0.1 < t < end) > 0.6
    assert max(v for t, v in mouth.items() if t > end + 0.2) < 0.1
    figures = summary.inputs["mic"]
    assert figures["frames"] > 0.8 * summary.rendered
    assert 0 < figures["latency_ms_median"] < 200


def _fake_sounddevice(query):
    module = types.ModuleType("sounddevice")

    class PortAudioError(Exception):
        pass

    module.PortAudioError = PortAudioError
    module.query_devices = lambda device=None, kind=None: query(module, device)
    return module


def test_missing_portaudio_is_one_line_with_the_fix(monkeypatch):
    from runtime.drivers.audio import MicUnavailable, open_mic
    monkeypatch.setitem(sys.modules, "sounddevice", None)          # import fails
    with pytest.raises(MicUnavailable) as info:
        open_mic(None)
    text = str(info.value)
    assert "\n" not in text and "PortAudio" in text
    if sys.platform.startswith("linux"):
        assert "apt-get install libportaudio2" in text


def test_no_microphone_and_an_unknown_one_are_one_line_with_the_fix(monkeypatch):
    from runtime.drivers.audio import MicUnavailable, open_mic

    def query(sd, device):
        if device is None:
            raise sd.PortAudioError("Error querying device -1")
        raise ValueError(f"No input device matching {device!r}")

    monkeypatch.setitem(sys.modules, "sounddevice", _fake_sounddevice(query))
    with pytest.raises(MicUnavailable) as info:
        open_mic(None)
    assert "no microphone found" in str(info.value) and "--mic DEVICE" in str(info.value)
    with pytest.raises(MicUnavailable) as info:
        open_mic("Blue Yeti")
    assert "--mic Blue Yeti: no input device matches it" in str(info.value)
    assert "python -m sounddevice" in str(info.value)


def test_this_machines_portaudio_without_a_microphone_says_so():
    """Here there is no microphone: through the real library, the same one line."""
    from runtime.drivers.audio import MicUnavailable, open_mic
    try:
        import sounddevice
        has_input = any(d["max_input_channels"] > 0 for d in sounddevice.query_devices())
    except (ImportError, OSError):
        has_input = False
    if has_input:
        pytest.skip("this machine has a microphone")
    with pytest.raises(MicUnavailable) as info:
        open_mic(None)
    assert "\n" not in str(info.value)
    assert "no microphone found" in str(info.value) or "PortAudio" in str(info.value)


def test_a_device_that_will_not_open_or_start(capsys):
    from runtime.drivers.audio import MicUnavailable, open_mic

    def broken(device, samplerate, blocksize, callback):
        raise RuntimeError("Error opening InputStream: Invalid sample rate\n[PaErrorCode -9997]")

    with pytest.raises(MicUnavailable) as info:
        open_mic("2", stream_factory=broken)
    assert "--mic 2: cannot open it" in str(info.value) and "\n" not in str(info.value)
    log = io.StringIO()
    mic = open_mic(None, stream_factory=lambda d, r, b, cb: FakeStream(np.zeros(10), r, b, cb,
                                                                       fail_start=True),
                   log=log)
    mic.start()                                       # the session goes on without it
    assert "cannot start it" in log.getvalue() and "continuing without it" in log.getvalue()
    assert mic.read(time.perf_counter()) is None
    mic.close()


def test_live_without_a_microphone_goes_on(rig_path, tmp_path, capsys, monkeypatch):
    from runtime.commands.cli import main

    def query(sd, device):
        raise sd.PortAudioError("Error querying device -1")

    monkeypatch.setitem(sys.modules, "sounddevice", _fake_sounddevice(query))
    out = tmp_path / "o.mp4"
    assert main(["live", str(rig_path), "--idle-only", "--record", str(out), "--duration",
                 "0.5", "--size", "64x64", "--report-every", "0", "--mic"]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "--mic" in line]
    assert len(warnings) == 1 and "no microphone found" in warnings[0]
    assert "continuing without the microphone" in warnings[0]
    assert out.is_file()


def test_live_gain_without_a_microphone_is_an_error(rig_path, tmp_path, capsys):
    from runtime.commands.cli import main
    out = tmp_path / "o.mp4"
    assert main(["live", str(rig_path), "--idle-only", "--record", str(out), "--duration",
                 "0.5", "--lip-sync-gain", "2"]) == 2
    err = capsys.readouterr().err
    assert "--lip-sync-gain: only with --mic" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ render

@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    """Two phrases with a 0.8 s pause: a wav file, its samples and the spans of speech."""
    if ESPEAK is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    first, rate = espeak("hola, me llamo Ana", "es", 150)
    second, _ = espeak("[[a:o:]]", "es", 150)
    x = np.concatenate((silence(0.2, rate), first, silence(0.8, rate), second,
                        silence(0.4, rate)))
    path = tmp_path_factory.mktemp("talk") / "talk.wav"
    write_wav(path, x, rate)
    return path, x, rate, speech_spans(x, rate, gap=0.3)


def _streams(path):
    with av.open(str(path)) as c:
        video = c.streams.video[0]
        frames = sum(1 for _ in c.decode(video))
        audio = c.streams.audio[0] if c.streams.audio else None
        seconds = None if audio is None or audio.duration is None else \
            float(audio.duration * audio.time_base)     # webm keeps no stream duration
        return frames, video, audio and (audio.codec_context.name, seconds)


def test_render_audio_talks_for_as_long_as_the_sound(rig_path, tmp_path, capsys, talk):
    path, x, rate, spans = talk
    assert len(spans) == 2
    out, log = tmp_path / "talk.mp4", tmp_path / "talk.jsonl"
    code, stdout, err = run_cli(["render", str(rig_path), "--audio", str(path), "-o", str(out),
                                 "--size", "64x64", "--quality", "draft", "--fps", "25",
                                 "--log-params", str(log)], capsys)
    assert code == 0, err
    assert "with sound" in stdout
    seconds = len(x) / rate
    frames, _, audio = _streams(out)
    assert abs(frames / 25 - seconds) <= 1 / 25                # as long as the sound
    assert audio is not None and audio[0] == "aac"
    assert audio[1] == pytest.approx(seconds, abs=0.05)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) == frames
    mouth = np.array([r["params"]["ParamMouthOpenY"] for r in rows])
    t = np.array([r["t"] for r in rows])
    for start, end in spans:                                    # open while it speaks
        assert mouth[(t > start) & (t < end)].max() > 0.4
    sentence = mouth[(t > spans[0][0]) & (t < spans[0][1])]
    assert sentence.std() > 0.1                                 # syllables: it moves
    gap = (t > spans[0][1] + 0.1) & (t < spans[1][0] - 0.05)   # closed in the pause
    assert gap.sum() >= 10 and mouth[gap].max() < 0.1
    assert mouth[t > spans[1][1] + 0.1].max() < 0.1
    angle = [r["params"]["ParamAngleX"] for r in rows]          # the rest idles
    assert np.ptp(angle) > 0.1


def test_render_audio_over_a_motion_keeps_its_body_and_takes_its_mouth(rig_path, tmp_path,
                                                                       capsys, talk):
    path, x, rate, spans = talk
    # The sound as AAC in .m4a (decoded by PyAV like any other file).
    m4a = write_sound(tmp_path / "talk.m4a", x, rate)
    motion = {"Version": 3, "Meta": {"Duration": 1.0, "Fps": 20.0, "Loop": False,
                                     "AreBeziersRestricted": True, "FadeInTime": 0.0,
                                     "FadeOutTime": 0.0, "CurveCount": 2,
                                     "TotalSegmentCount": 2, "TotalPointCount": 4,
                                     "UserDataCount": 0, "TotalUserDataSize": 0},
              "Curves": [{"Target": "Parameter", "Id": "ParamAngleX",
                          "Segments": [0, 20, 0, 1.0, 20]},
                         {"Target": "Parameter", "Id": "ParamMouthOpenY",
                          "Segments": [0, 1, 0, 1.0, 1]}]}
    mpath = tmp_path / "m.motion3.json"
    mpath.write_text(json.dumps(motion))
    out, log = tmp_path / "talk.mov", tmp_path / "p.jsonl"
    code, _, err = run_cli(["render", str(rig_path), "--motion", str(mpath), "--audio", str(m4a),
                            "-o", str(out), "--size", "64x64", "--quality", "draft",
                            "--log-params", str(log), "--quiet"], capsys)
    assert code == 0, err
    frames, _, audio = _streams(out)
    assert abs(frames / 20 - len(x) / rate) <= 0.1             # the sound's length (+ AAC pad)
    assert audio is not None
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    t = np.array([r["t"] for r in rows])
    mouth = np.array([r["params"]["ParamMouthOpenY"] for r in rows])
    assert all(r["params"]["ParamAngleX"] == pytest.approx(20) for r in rows)
    gap = (t > spans[0][1] + 0.15) & (t < spans[1][0] - 0.05)
    assert mouth[gap].max() < 0.1                               # not the motion's 1.0
    assert mouth[(t > spans[1][0]) & (t < spans[1][1])].max() > 0.4
    # A GIF cannot carry the sound: rendered with a warning.
    code, _, err = run_cli(["render", str(rig_path), "--audio", str(path), "-o",
                            str(tmp_path / "t.gif"), "--size", "32x32", "--quality", "draft",
                            "--fps", "5", "--quiet"], capsys)
    assert code == 0 and "cannot carry sound" in err


def test_render_audio_from_an_mp3_into_a_webm_over_the_rest_pose(rig_path, tmp_path, capsys,
                                                                  talk):
    path, x, rate, spans = talk
    mp3 = write_sound(tmp_path / "talk.mp3", x, rate)
    out, log = tmp_path / "talk.webm", tmp_path / "p.jsonl"
    code, _, err = run_cli(["render", str(rig_path), "--rest", "--audio", str(mp3), "-o",
                            str(out), "--size", "32x32", "--quality", "draft", "--fps", "10",
                            "--log-params", str(log), "--quiet"], capsys)
    assert code == 0, err
    frames, _, audio = _streams(out)
    assert abs(frames / 10 - len(x) / rate) <= 0.1 + 0.06     # mp3 pads its ends a little
    assert audio is not None and audio[0] == "opus"
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    t = np.array([r["t"] for r in rows])
    mouth = np.array([r["params"]["ParamMouthOpenY"] for r in rows])
    assert mouth[(t > spans[0][0]) & (t < spans[0][1])].max() > 0.4
    assert all(r["params"]["ParamAngleX"] == 0.0 for r in rows)     # the rest pose


def _video_with_sound(path, sound: np.ndarray | None, rate: int, fps: int = 10) -> int:
    """A grey H.264 clip as long as ``sound`` (AAC) or 1 s without sound; its frame count."""
    seconds = len(sound) / rate if sound is not None else 1.0
    count = int(round(seconds * fps))
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        if sound is not None:
            mux_sound(c, sound, rate)       # both streams exist before the first packet
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 128, np.uint8), "rgb24")
            frame.pts = i
            for packet in v.encode(frame):
                c.mux(packet)
        for packet in v.encode(None):
            c.mux(packet)
    return count


@pytest.fixture()
def fake_tracker(monkeypatch):
    fake_tracking_driver(monkeypatch, {"ParamAngleX": 5.0, "ParamMouthOpenY": 0.2,
                                       "ParamMouthForm": -0.5})


@pytest.mark.parametrize("mode", ["face", "audio", "both"])
def test_a_driver_video_lip_syncs_to_its_own_sound(rig_path, tmp_path, capsys, talk,
                                                   fake_tracker, mode):
    _, x, rate, spans = talk
    video = tmp_path / "face.mp4"
    count = _video_with_sound(video, x, rate)
    log = tmp_path / "p.jsonl"
    code, _, err = run_cli(["render", str(rig_path), "--driver", str(video), "-o",
                            str(tmp_path / "out.mp4"), "--size", "64x64", "--quality", "draft",
                            "--lip-sync", mode, "--log-params", str(log), "--quiet"], capsys)
    assert code == 0, err
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) == count
    t = np.array([r["t"] for r in rows])
    mouth = np.array([r["params"]["ParamMouthOpenY"] for r in rows])
    form = np.array([r["params"]["ParamMouthForm"] for r in rows])
    speaking = (t > spans[1][0]) & (t < spans[1][1])
    gap = (t > spans[0][1] + 0.15) & (t < spans[1][0] - 0.05)
    assert all(r["params"]["ParamAngleX"] == 5.0 for r in rows)
    if mode == "face":
        assert np.all(mouth == 0.2) and np.all(form == -0.5)
    elif mode == "audio":
        assert mouth[speaking].max() > 0.4 and mouth[gap].max() < 0.1
    else:   # the larger opening; the audio's form while it voices a vowel, the face's in pauses
        assert mouth.min() >= 0.2 and mouth[speaking].max() > 0.4
        assert np.allclose(mouth[gap], 0.2) and np.allclose(form[gap], -0.5, atol=0.02)
        assert np.abs(form[speaking] + 0.5).max() > 0.2


@pytest.mark.parametrize("args, needle", [
    (["--audio", "missing.wav", "-o", "x.mp4"], "missing.wav: no such file"),
    (["--audio", "silent.mp4", "-o", "x.mp4"], "has no audio stream"),
    (["--audio", "notes.txt", "-o", "x.mp4"], "not a readable sound file"),
    (["--driver", "silent.mp4", "--lip-sync", "audio", "-o", "x.mp4"], "has no sound"),
    (["--driver", "silent.mp4", "--audio", "speech.wav", "-o", "x.mp4"], "--lip-sync audio"),
    (["--idle", "1", "--lip-sync", "both", "-o", "x.mp4"], "--lip-sync: only for video-driven"),
    (["--idle", "1", "--lip-sync-gain", "2", "-o", "x.mp4"], "--lip-sync-gain: only with"),
    (["--pose-sheet", "s.png", "--audio", "speech.wav"], "--audio: not used with --pose-sheet"),
    (["-o", "x.mp4"], "nothing to render"),
])
def test_bad_lip_sync_requests_are_one_line_errors(rig_path, tmp_path, capsys, monkeypatch,
                                                   fake_tracker, args, needle):
    monkeypatch.chdir(tmp_path)
    _video_with_sound(tmp_path / "silent.mp4", None, 16000)
    write_wav(tmp_path / "speech.wav", np.zeros(16000), 16000)
    (tmp_path / "notes.txt").write_text("not a sound")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run_cli(["render", str(rig_path), "--quiet", *args], capsys)
    assert code == 2 and needle in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before
