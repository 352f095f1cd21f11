"""Extra parameter inputs of a live session: sources that drive some parameters over whatever the
camera (or the idle animation) drives: the microphone's lip-sync, VMC and iFacialMocap trackers.

Each input runs on its own (a socket or audio thread) and is read once per rendered frame:
``read(now)`` gives the parameters it drives, how much they count (``weight``: 1 while data
arrives, easing to 0 once it stops, so lost input eases back to what lies under it), and when
the newest data behind them was captured (for the latency report). The session lays the inputs
over the base parameters in order: ``value = base + (input - base) * weight``.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Mapping, Protocol

LOST_AFTER = 0.5       # s without data before an input counts as lost
EASE_BACK = 0.6        # s to ease from a lost input back to what lies under it


@dataclass
class InputReading:
    values: dict[str, float]
    weight: float                      # 0..1
    captured: float | None = None      # perf_counter time of the newest data, if known


class ParamInput(Protocol):
    """What a live session reads every frame (see the module docstring)."""

    name: str

    def start(self) -> None: ...

    def read(self, now: float) -> InputReading | None: ...

    def close(self) -> None: ...


def _ease(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * x)


@dataclass
class HeldValues:
    """The newest values an input received, read with the lost-input easing.

    Thread-safe: a receiver thread calls ``put``; the render thread calls ``read``. Values stay
    at full weight for ``lost_after`` seconds after the last ``put``, then ease to weight 0 over
    ``ease_back`` seconds (a cosine ease, so the puppet glides back instead of snapping)."""

    lost_after: float = LOST_AFTER
    ease_back: float = EASE_BACK
    values: dict[str, float] = field(default_factory=dict)
    received: float | None = None
    captured: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def put(self, values: Mapping[str, float], now: float | None = None,
            captured: float | None = None, merge: bool = True) -> None:
        now = time.perf_counter() if now is None else now
        clean = {k: float(v) for k, v in values.items() if math.isfinite(float(v))}
        with self._lock:
            if merge:
                self.values.update(clean)
            else:
                self.values = clean
            self.received = now
            self.captured = now if captured is None else captured

    def weight(self, now: float) -> float:
        if self.received is None:
            return 0.0
        late = now - self.received - self.lost_after
        return 1.0 if late <= 0 else 1.0 - _ease(late / max(self.ease_back, 1e-9))

    def read(self, now: float) -> InputReading | None:
        with self._lock:
            if self.received is None:
                return None
            return InputReading(dict(self.values), self.weight(now), self.captured)


def overlay(base: Mapping[str, float], readings: list[tuple[str, InputReading | None]],
            sources: dict[str, str] | None = None,
            defaults: Mapping[str, float] | None = None) -> dict[str, float]:
    """``base`` with each reading laid over it in order (see the module docstring); an id the
    base lacks lies over its default (``defaults``, e.g. the rig's). ``sources`` (id -> name),
    when given, is updated with the input that drove each id (weight > 0)."""
    out = dict(base)
    defaults = defaults or {}
    for name, reading in readings:
        if reading is None or reading.weight <= 0.0:
            continue
        w = min(reading.weight, 1.0)
        for pid, value in reading.values.items():
            under = out.get(pid, defaults.get(pid, value))
            out[pid] = under + (value - under) * w
            if sources is not None:
                sources[pid] = name
    return out
