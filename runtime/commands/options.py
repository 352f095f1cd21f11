"""Checked types for numeric command-line options: a bad value is argparse's one-line usage
error (exit 2) before any work starts, never a NaN or an overflow deep inside a run."""
from __future__ import annotations

import argparse
import math
from typing import Callable

SEED_MAX = 2**32 - 1


def number(lo: float, hi: float) -> Callable[[str], float]:
    """A finite float in [lo, hi]."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{text!r}: give a number from {lo:g} to {hi:g}")
        return value
    return parse


def whole(lo: int, hi: int) -> Callable[[str], int]:
    """A whole number in [lo, hi]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{text!r}: give a whole number from {lo} to {hi}")
        return value
    return parse


seed = whole(0, SEED_MAX)
