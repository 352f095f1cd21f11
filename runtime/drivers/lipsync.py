"""Lip-sync from audio: speech in, ParamMouthOpenY (0..1) and ParamMouthForm (-1..1) out.

Pure numpy/scipy DSP, no devices and no files (those are in ``runtime.drivers.audio``). The
same analyser runs live (a microphone, block by block) and offline (a whole file at once).

Method, per 20 ms hop of mono audio (any rate; the analysis runs at 16 kHz):

* **Loudness.** The RMS level of the newest hop in dBFS, after a 1st-order DC/rumble high-pass
  (~80 Hz) and the sensitivity gain (``gain``; x2 = +6 dB). Only the newest 20 ms counts, so
  the mouth reacts within a hop.
* **Noise gate.** A noise-floor tracker follows the *minimum* of the level (smoothed over
  60 ms) over the last 3 s (minimum statistics): steady noise (a fan, hiss, hum) sits at the
  floor, speech rises far above it and dips to it between syllables, so the floor stays at the
  noise however long one talks. The gate opens 9 dB above the floor and closes 5 dB above it
  (hysteresis against flutter), and never opens below -60 dBFS (digital silence). A live
  stream starts with the floor at its first hop; an offline analysis primes it with the first
  3 s, so a file that starts mid-word is not gated.
* **Opening.** While the gate is open the level maps linearly in dB from the gate threshold
  (0) to -20 dBFS (1; raised to 12 dB above the threshold in loud rooms), times the vowel's
  opening. Attack moves 70% of the way per hop, release 75% per hop once the gate closes, so
  the mouth is shut (< 0.1) two or three hops after the sound stops (under 100 ms).
* **Vowel.** Formants by LPC on the newest 32 ms: pre-emphasis (0.97), a Hamming window, an
  order-18 autocorrelation LPC (Levinson-Durbin), the polynomial's roots -> frequencies and
  bandwidths; F1 and F2 are the two lowest resonances in 180..5000 Hz narrower than 400 Hz.
  Voicing is the normalised autocorrelation peak at pitch lags (70..400 Hz); an unvoiced hop
  (a fricative, a breath) gets a neutral consonant shape instead of a vowel.
* **Templates.** The five vowels of Japanese lip-sync (A, I, U, E, O) as F1/F2 targets of an
  adult male voice, near the usual five-vowel averages (A 780/1300 Hz, I 300/2250, U 350/820,
  E 480/1900, O 530/880), also tried scaled by 1.1 and 1.2 for shorter (female) vocal tracts
  at a small cost (0.25, 0.5 in d^2), so a point that a male A and a female O could both be is
  read as the unscaled one. The distance d is Euclidean in natural-log frequency, F1 in units of
  0.15 and F2 of 0.25 (F1 tells U from O, F2 only front from back); soft weights exp(-d^2/2)
  normalised over the vowels give smooth transitions, smoothed again over about two hops.
* **Shape.** Each vowel has an opening and a form, as the common Live2D tools map them:
  A wide open (1.0, 0), I small and wide (0.35, +1), U small and round (0.4, -1), E medium and
  wide (0.6, +0.6), O medium-large and round (0.8, -0.7). ParamMouthOpenY = loudness x the
  weighted opening; ParamMouthForm = the weighted form, easing back to 0 in silence.

Timing: a frame's ``t`` is the time just after its newest sample (causal, as live). The
audio-to-parameter latency is the hop being filled (<= 20 ms) + the analysis window's lag
(16 ms to its centre) + the processing (about a millisecond); `make bench` measures it.
Offline renders sample the track ``OFFLINE_LEAD`` later than the video time, which takes that
lag back out so the mouth moves with the sound.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping

import numpy as np
from scipy.linalg import solve_toeplitz
from scipy.signal import lfilter, resample_poly

RATE = 16000                  # the analysis rate (Hz)
HOP_S = 0.020                 # one parameter frame per hop
WINDOW_S = 0.032              # the formant window (512 samples at 16 kHz)
LPC_ORDER = 18                # ~ rate/1000 + 2: two poles per kHz plus the source's tilt
PRE_EMPHASIS = 0.97
HIGHPASS_HZ = 80.0            # below the lowest voice; removes DC, rumble, most hum
F1_RANGE = (180.0, 1300.0)
FORMANT_MAX_HZ = 5000.0
MAX_BANDWIDTH_HZ = 400.0
PITCH_RANGE = (70.0, 400.0)
VOICED_AT = 0.35              # normalised autocorrelation peak of a voiced hop

FLOOR_WINDOW_S = 3.0          # the noise floor is the minimum level over this long
FLOOR_SMOOTH_HOPS = 3         # levels are power-averaged over this many hops for the floor
GATE_OPEN_DB = 9.0            # above the floor
GATE_CLOSE_DB = 5.0
SILENCE_DBFS = -60.0          # never open below this, whatever the floor
FULL_DBFS = -20.0             # loud speech: fully open (times the vowel's opening)
MIN_SPAN_DB = 12.0
MIN_DBFS = -120.0             # the level of digital silence

ATTACK = 0.7                  # share of the way to the target per hop, opening
RELEASE = 0.75                # ... closing
VOWEL_SMOOTH = 0.5
FORM_RELAX = 0.3              # per hop toward 0 in silence
VOICING_SMOOTH = 0.5

OFFLINE_LEAD = HOP_S          # offline: sample the track this much later (takes the lag out)

MOUTH_OPEN = "ParamMouthOpenY"
MOUTH_FORM = "ParamMouthForm"


@dataclass(frozen=True)
class Vowel:
    name: str
    f1: float                 # Hz, adult male
    f2: float
    open: float               # 0..1: how far this vowel opens the mouth at full loudness
    form: float               # -1 round .. +1 wide


VOWELS: tuple[Vowel, ...] = (
    Vowel("A", 780.0, 1300.0, 1.0, 0.0),
    Vowel("I", 300.0, 2250.0, 0.35, 1.0),
    Vowel("U", 350.0, 820.0, 0.4, -1.0),
    Vowel("E", 480.0, 1900.0, 0.6, 0.6),
    Vowel("O", 530.0, 880.0, 0.8, -0.7),
)
VOWEL_NAMES = tuple(v.name for v in VOWELS)
SPEAKER_SCALES = ((1.0, 0.0), (1.1, 0.25), (1.2, 0.5))   # (scale, cost): male .. female
LOG_SPREAD = (0.15, 0.25)            # of ln F1, ln F2: how far a formant may stray
CONSONANT_SHAPE = (0.3, 0.0)         # opening, form of an unvoiced hop

_TEMPLATES = np.log(np.array([[v.f1, v.f2] for v in VOWELS]))          # (5, 2)
_OPENINGS = np.array([v.open for v in VOWELS])
_FORMS = np.array([v.form for v in VOWELS])


# ------------------------------------------------------------------------------ features

def level_dbfs(samples: np.ndarray) -> float:
    """RMS level in dB relative to full scale (a full-scale sine is -3 dBFS)."""
    if len(samples) == 0:
        return MIN_DBFS
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    return max(10.0 * math.log10(power) if power > 0 else MIN_DBFS, MIN_DBFS)


def lpc(frame: np.ndarray, order: int = LPC_ORDER) -> np.ndarray | None:
    """Prediction polynomial [1, a1..ap] of a windowed frame (autocorrelation method,
    Levinson-Durbin); None for a silent or degenerate frame."""
    n = len(frame)
    spectrum = np.fft.rfft(frame, 2 * n)
    r = np.fft.irfft(np.abs(spectrum) ** 2)[:order + 1]
    if not r[0] > 1e-12:
        return None
    r[0] *= 1.0 + 1e-9          # a little white noise keeps the system well conditioned
    try:
        a = solve_toeplitz(r[:order], -r[1:order + 1])
    except np.linalg.LinAlgError:
        return None
    return np.concatenate(([1.0], a)) if np.all(np.isfinite(a)) else None


def formants(frame: np.ndarray, rate: int = RATE) -> tuple[float, float] | None:
    """F1, F2 (Hz) of a frame of speech at ``rate``, or None where LPC finds no two formants."""
    x = lfilter([1.0, -PRE_EMPHASIS], [1.0], frame) * np.hamming(len(frame))
    a = lpc(x)
    if a is None:
        return None
    roots = np.roots(a)
    roots = roots[np.imag(roots) > 0]
    freqs = np.angle(roots) * rate / (2 * np.pi)
    bands = -np.log(np.maximum(np.abs(roots), 1e-12)) * rate / np.pi
    keep = (freqs >= F1_RANGE[0]) & (freqs <= FORMANT_MAX_HZ) & (bands <= MAX_BANDWIDTH_HZ)
    found = np.sort(freqs[keep])
    if len(found) < 2 or found[0] > F1_RANGE[1]:
        return None
    return float(found[0]), float(found[1])


def voicing(frame: np.ndarray, rate: int = RATE) -> float:
    """Periodicity 0..1: the normalised autocorrelation's highest peak at pitch lags."""
    x = frame - frame.mean()
    n = len(x)
    r = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * n)) ** 2)[:n]
    if not r[0] > 1e-12:
        return 0.0
    lo, hi = int(rate / PITCH_RANGE[1]), min(int(rate / PITCH_RANGE[0]), n - 1)
    # Unbiased: a lag of k only overlaps n - k samples.
    lags = np.arange(lo, hi + 1)
    norm = r[lags] / r[0] * n / (n - lags)
    return float(np.clip(norm.max(), 0.0, 1.0))


def vowel_weights(f1: float, f2: float) -> np.ndarray:
    """Soft weights (sum 1) of A, I, U, E, O for the formants, over the speaker scales."""
    point = np.log([f1, f2])
    best = np.full(len(VOWELS), np.inf)
    for scale, cost in SPEAKER_SCALES:
        d = (point - (_TEMPLATES + math.log(scale))) / LOG_SPREAD
        best = np.minimum(best, np.einsum("ij,ij->i", d, d) + cost)
    w = np.exp(-0.5 * (best - best.min()))
    return w / w.sum()


def shape(weights: np.ndarray) -> tuple[float, float]:
    """(opening, form) of a vowel mix."""
    return float(weights @ _OPENINGS), float(weights @ _FORMS)


# ------------------------------------------------------------------------------ the gate

class NoiseFloor:
    """Minimum statistics: the lowest smoothed level of the last ``FLOOR_WINDOW_S`` seconds."""

    def __init__(self, hop_s: float = HOP_S, window_s: float = FLOOR_WINDOW_S) -> None:
        self._powers: deque[float] = deque(maxlen=FLOOR_SMOOTH_HOPS)
        self._levels: deque[float] = deque(maxlen=max(1, int(round(window_s / hop_s))))

    def update(self, level_db: float) -> float:
        self._powers.append(10.0 ** (level_db / 10.0))
        smooth = 10.0 * math.log10(max(sum(self._powers) / len(self._powers), 1e-12))
        self._levels.append(max(smooth, MIN_DBFS))
        return min(self._levels)

    def prime(self, levels_db: np.ndarray) -> None:
        """Start as if these levels (the first seconds of a file) had been heard."""
        for level in levels_db:
            self.update(float(level))
        self._powers.clear()


# ------------------------------------------------------------------------------ analyser

@dataclass(frozen=True)
class LipSyncFrame:
    t: float                  # s, just after the newest sample of the hop
    open: float               # ParamMouthOpenY
    form: float               # ParamMouthForm
    vowel: str | None         # the leading vowel while the gate is open and the hop voiced
    level_db: float           # the hop's level (with the gain), dBFS
    floor_db: float           # the noise floor, dBFS
    gate: bool
    activity: float           # 0..1: how much a voiced vowel shapes the mouth now

    def params(self) -> dict[str, float]:
        return {MOUTH_OPEN: self.open, MOUTH_FORM: self.form}


class LipSync:
    """The streaming analyser: ``push(samples)`` -> a frame per completed 20 ms hop.

    ``rate``: the input's sample rate (anything from 8 kHz; the formants are measured at
    16 kHz). ``gain``: the sensitivity, a factor on the input (2 = +6 dB).
    """

    def __init__(self, rate: int = RATE, gain: float = 1.0) -> None:
        if rate < 8000:
            raise ValueError(f"sample rate {rate} Hz: lip-sync needs at least 8000 Hz")
        if not (gain > 0 and math.isfinite(gain)):
            raise ValueError(f"gain {gain}: must be a positive number")
        self.rate = int(rate)
        self.gain_db = 20.0 * math.log10(gain)
        self.hop = int(round(rate * HOP_S))
        self.window = int(round(rate * WINDOW_S))
        ratio = Fraction(RATE, self.rate).limit_denominator(1000)
        self._resample = None if ratio == 1 else (ratio.numerator, ratio.denominator)
        # 1st-order high-pass (bilinear), its state carried across pushes.
        k = math.tan(math.pi * HIGHPASS_HZ / rate)
        self._hp_b = np.array([1.0, -1.0]) / (1.0 + k)
        self._hp_a = np.array([1.0, (k - 1.0) / (1.0 + k)])
        self._hp_state = np.zeros(1)
        self._buffer = np.zeros(self.window, np.float64)    # the newest window of samples
        self._pending = np.zeros(0, np.float64)              # samples of an unfinished hop
        self._consumed = 0
        self.floor = NoiseFloor()
        self._gate = False
        self._open = 0.0
        self._form = 0.0
        self._weights = np.full(len(VOWELS), 1.0 / len(VOWELS))
        self._voiced = 0.0

    @property
    def window_delay_s(self) -> float:
        return self.window / self.rate / 2.0

    def push(self, samples: np.ndarray) -> list[LipSyncFrame]:
        """Feed mono samples (float, full scale 1.0); every hop they complete gives a frame."""
        x = np.asarray(samples, np.float64).reshape(-1)
        x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
        x, self._hp_state = lfilter(self._hp_b, self._hp_a, x, zi=self._hp_state)
        data = np.concatenate((self._pending, x)) if len(self._pending) else x
        frames = []
        start = 0
        while len(data) - start >= self.hop:
            hop = data[start:start + self.hop]
            start += self.hop
            self._buffer = np.concatenate((self._buffer[self.hop:], hop)) \
                if self.hop < self.window else hop[-self.window:].copy()
            self._consumed += self.hop
            frames.append(self._analyse(hop))
        self._pending = data[start:].copy()
        return frames

    def prime(self, samples: np.ndarray) -> None:
        """Offline: start the noise floor from these samples (typically the first 3 s)."""
        x = np.asarray(samples, np.float64).reshape(-1)
        x = lfilter(self._hp_b, self._hp_a, x)
        n = len(x) // self.hop
        levels = [level_dbfs(x[i * self.hop:(i + 1) * self.hop]) + self.gain_db
                  for i in range(n)]
        self.floor.prime(np.array(levels))

    def _analyse(self, hop: np.ndarray) -> LipSyncFrame:
        level = level_dbfs(hop) + self.gain_db
        floor = self.floor.update(level)
        threshold = max(floor + (GATE_CLOSE_DB if self._gate else GATE_OPEN_DB), SILENCE_DBFS)
        self._gate = level > threshold
        vowel = None
        if self._gate:
            lo = max(floor + GATE_OPEN_DB, SILENCE_DBFS)
            hi = max(FULL_DBFS, lo + MIN_SPAN_DB)
            loud = min(max((level - lo) / (hi - lo), 0.0), 1.0)
            frame = self._buffer if self._resample is None else \
                resample_poly(self._buffer, *self._resample)
            voiced = voicing(frame) >= VOICED_AT
            found = formants(frame) if voiced else None
            if found is not None:
                self._weights += VOWEL_SMOOTH * (vowel_weights(*found) - self._weights)
                vowel = VOWEL_NAMES[int(np.argmax(self._weights))]
            voiced = found is not None
            self._voiced += VOICING_SMOOTH * (float(voiced) - self._voiced)
            v_open, v_form = shape(self._weights)
            c_open, c_form = CONSONANT_SHAPE
            target_open = loud * (self._voiced * v_open + (1.0 - self._voiced) * c_open)
            target_form = self._voiced * v_form + (1.0 - self._voiced) * c_form
            rate = ATTACK if target_open > self._open else RELEASE
            self._open += rate * (target_open - self._open)
            self._form += VOWEL_SMOOTH * (target_form - self._form)
        else:
            self._open -= RELEASE * self._open
            self._form -= FORM_RELAX * self._form
            self._voiced -= VOICING_SMOOTH * self._voiced
        activity = self._voiced if self._gate else 0.0
        return LipSyncFrame(self._consumed / self.rate, self._open, self._form, vowel, level,
                            floor, self._gate, activity)


# ------------------------------------------------------------------------------ offline

@dataclass
class LipSyncTrack:
    """Lip-sync of a whole recording: a frame per hop, sampled at any time."""

    times: np.ndarray          # s, each frame's t (causal: just after its newest sample)
    open: np.ndarray
    form: np.ndarray
    activity: np.ndarray
    vowels: list[str | None]
    duration: float            # s of audio analysed
    lead: float = OFFLINE_LEAD

    def at(self, t: float) -> tuple[float, float, float]:
        """(opening, form, activity) at video time ``t`` (interpolated, lag taken out)."""
        if len(self.times) == 0:
            return 0.0, 0.0, 0.0
        q = t + self.lead
        return (float(np.interp(q, self.times, self.open, left=0.0, right=0.0)),
                float(np.interp(q, self.times, self.form, left=0.0, right=0.0)),
                float(np.interp(q, self.times, self.activity, left=0.0, right=0.0)))

    def sample(self, t: float) -> dict[str, float]:
        o, f, _ = self.at(t)
        return {MOUTH_OPEN: o, MOUTH_FORM: f}


def analyze(samples: np.ndarray, rate: int = RATE, gain: float = 1.0) -> LipSyncTrack:
    """The lip-sync of a whole mono recording (the noise floor primed with its first 3 s)."""
    x = np.asarray(samples, np.float64).reshape(-1)
    sync = LipSync(rate, gain)
    sync.prime(x[:int(FLOOR_WINDOW_S * rate)])
    # A last partial hop is padded with silence so the track covers the whole recording.
    tail = (-len(x)) % sync.hop
    frames = sync.push(np.concatenate((x, np.zeros(tail))) if tail else x)
    return LipSyncTrack(times=np.array([f.t for f in frames]),
                        open=np.array([f.open for f in frames]),
                        form=np.array([f.form for f in frames]),
                        activity=np.array([f.activity for f in frames]),
                        vowels=[f.vowel for f in frames], duration=len(x) / rate)


# ------------------------------------------------------------------------------ drivers

LIP_SYNC_MODES = ("face", "audio", "both")


def mix_mouth(params: Mapping[str, float], track: LipSyncTrack, t: float,
              mode: str = "audio") -> dict[str, float]:
    """``params`` with the mouth from ``track`` at ``t``: ``audio`` replaces it, ``both`` keeps
    the larger opening of the two and takes the form from the audio while it carries a vowel."""
    out = dict(params)
    if mode == "face":
        return out
    a_open, a_form, activity = track.at(t)
    if mode == "audio":
        out[MOUTH_OPEN], out[MOUTH_FORM] = a_open, a_form
        return out
    if mode != "both":
        raise ValueError(f"lip-sync mode {mode!r}: one of {', '.join(LIP_SYNC_MODES)}")
    face_open = float(out.get(MOUTH_OPEN, 0.0))
    face_form = float(out.get(MOUTH_FORM, 0.0))
    out[MOUTH_OPEN] = max(face_open, a_open)
    out[MOUTH_FORM] = face_form + (a_form - face_form) * activity
    return out


class WithLipSync:
    """A driver whose mouth follows an audio track: the same ``sample(t)`` (offline drivers) /
    ``update(frame, t)`` (video tracking) as the driver it wraps; anything else (face_found,
    timings, events_between ...) is the wrapped driver's."""

    def __init__(self, driver, track: LipSyncTrack, mode: str = "audio") -> None:
        if mode not in LIP_SYNC_MODES:
            raise ValueError(f"lip-sync mode {mode!r}: one of {', '.join(LIP_SYNC_MODES)}")
        self.driver = driver
        self.track = track
        self.mode = mode

    def sample(self, t: float) -> dict[str, float]:
        return mix_mouth(self.driver.sample(t), self.track, t, self.mode)

    def update(self, frame, t: float) -> dict[str, float]:
        return mix_mouth(self.driver.update(frame, t), self.track, t, self.mode)

    def __getattr__(self, name: str):
        return getattr(self.driver, name)
