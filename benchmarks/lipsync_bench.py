"""Lip-sync cost and latency (`make bench`, section "lipsync").

The speech is synthetic (a 120 Hz glottal pulse train through the five vowels' formant
resonances, syllable by syllable, each 200 ms voiced and 50 ms near-silent), the same on every
machine; four hops in five pay for the whole analysis (level, gate, voicing, LPC + roots), the
gated ones only for the level, so the p95 is a voiced hop's cost.

- hop_ms: processing time per 20 ms hop (median, p95, max), fed hop by hop as a microphone
  delivers it, at 16 kHz and at 48 kHz (a device's own rate: resampled per window).
- cpu_share: processing time / audio time (1 = all of one core).
- latency_ms: the audio-to-parameter delay of a live session: the hop being filled (20 ms) +
  half the formant window (16 ms) + the median processing. step_ms: measured: a vowel starting
  after silence, from its first sample to the mouth passing half its settled opening (the
  hop, the level rising within it and the attack smoothing together).
"""
from __future__ import annotations

import time

import numpy as np


def synthetic_speech(seconds: float, rate: int = 16000, f0: float = 120.0,
                     seed: int = 0) -> np.ndarray:
    """Syllables of the five vowels (A I U E O), 200 ms each and 50 ms of near-silence, all at
    the same level (-20 dBFS while voiced)."""
    from scipy.signal import lfilter

    from runtime.drivers.lipsync import VOWELS

    rng = np.random.default_rng(seed)
    n_syl = int(rate * 0.25)
    out = []
    for i in range(int(np.ceil(seconds / 0.25))):
        vowel = VOWELS[i % len(VOWELS)]
        pulses = np.zeros(n_syl)
        period = rate / (f0 * (1 + 0.03 * rng.standard_normal()))
        pulses[(np.arange(0, n_syl, period)).astype(int)] = 1.0
        x = pulses
        for fc, bw in ((vowel.f1, 80.0), (vowel.f2, 100.0), (2600.0, 150.0)):
            r = np.exp(-np.pi * bw / rate)
            x = lfilter([1.0 - r], [1.0, -2 * r * np.cos(2 * np.pi * fc / rate), r * r], x)
        x = x / np.sqrt(np.mean(x ** 2)) * 0.1
        x[-int(0.05 * rate):] *= 0.001
        out.append(x)
    return np.concatenate(out)[:int(seconds * rate)]


def _hop_times(rate: int, seconds: float) -> tuple[np.ndarray, float]:
    from scipy.signal import resample_poly

    from runtime.drivers.lipsync import LipSync

    x = synthetic_speech(seconds)
    if rate != 16000:
        x = resample_poly(x, rate // 1000, 16)
    sync = LipSync(rate)
    hop = sync.hop
    sync.push(x[:hop * 50])                       # warm-up: caches, the floor's window
    times = []
    for start in range(hop * 50, len(x) - hop + 1, hop):
        t0 = time.perf_counter()
        sync.push(x[start:start + hop])
        times.append(time.perf_counter() - t0)
    return np.array(times) * 1e3, sync.window_delay_s * 1e3


def step_latency_ms(rate: int = 16000) -> float:
    """From the first sample of a vowel after silence to half the settled opening (ms)."""
    from runtime.drivers.lipsync import LipSync

    onset = 1.0
    voice = synthetic_speech(1.0, rate)
    # One steady vowel (A), no near-silence: the settled opening is well defined.
    voice = np.tile(voice[:int(0.2 * rate)], 5)
    x = np.concatenate((np.zeros(int(onset * rate)), voice))
    frames = LipSync(rate).push(x)
    settled = np.median([f.open for f in frames if f.t > onset + 0.3])
    crossed = next(f.t for f in frames if f.t > onset and f.open >= 0.5 * settled)
    return (crossed - onset) * 1e3


def benchmark_lipsync(seconds: float = 30.0) -> dict:
    from runtime.drivers.lipsync import HOP_S

    out: dict = {"budget_hop_ms": 50.0, "hop_s": HOP_S}
    for rate in (16000, 48000):
        ms, window_delay = _hop_times(rate, seconds)
        out[f"{rate // 1000}k"] = {
            "hop_ms_median": round(float(np.median(ms)), 4),
            "hop_ms_p95": round(float(np.percentile(ms, 95)), 4),
            "hop_ms_max": round(float(ms.max()), 4),
            "cpu_share": round(float(ms.sum() / 1e3 / (len(ms) * HOP_S)), 5),
            "hops": int(len(ms)),
        }
    main = out["16k"]
    out["hop_ms_median"] = main["hop_ms_median"]
    out["hop_ms_p95"] = main["hop_ms_p95"]
    out["cpu_share"] = main["cpu_share"]
    out["within_budget"] = bool(max(out["16k"]["hop_ms_p95"], out["48k"]["hop_ms_p95"]) <
                                out["budget_hop_ms"])
    out["window_delay_ms"] = round(window_delay, 2)
    out["latency_ms"] = round(HOP_S * 1e3 + window_delay + main["hop_ms_median"], 2)
    out["step_ms"] = round(step_latency_ms(), 1)
    return out
