"""The parameter registry: Live2D Cubism's standard ids, ranges, defaults and directions.

Users already know these names, and motion files from other tools map onto them directly.
Directions follow Cubism's standard parameter list: AngleX/Z and EyeBallX are positive toward
the *screen's* right, AngleY and EyeBallY positive upward, MouthForm positive is a smile.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Mapping

import numpy as np


@dataclass(frozen=True)
class ParamSpec:
    id: str
    min: float
    max: float
    default: float
    description: str

    def to_dict(self) -> dict:
        return asdict(self)


STANDARD_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("ParamAngleX", -30, 30, 0, "head turn, degrees; + faces the screen's right"),
    ParamSpec("ParamAngleY", -30, 30, 0, "head pitch, degrees; + looks up"),
    ParamSpec("ParamAngleZ", -30, 30, 0, "head roll, degrees; + tilts toward the screen's right"),
    ParamSpec("ParamEyeLOpen", 0, 1, 1, "left eye (character's) openness; 0 closed, 1 open"),
    ParamSpec("ParamEyeROpen", 0, 1, 1, "right eye (character's) openness; 0 closed, 1 open"),
    ParamSpec("ParamEyeBallX", -1, 1, 0, "gaze; + looks toward the screen's right"),
    ParamSpec("ParamEyeBallY", -1, 1, 0, "gaze; + looks up"),
    ParamSpec("ParamBrowLY", -1, 1, 0, "left brow height; + raised"),
    ParamSpec("ParamBrowRY", -1, 1, 0, "right brow height; + raised"),
    ParamSpec("ParamMouthOpenY", 0, 1, 0, "mouth opening; 0 closed, 1 wide open"),
    ParamSpec("ParamMouthForm", -1, 1, 0, "mouth shape; + smile, - frown"),
    ParamSpec("ParamBodyAngleX", -10, 10, 0, "body turn, degrees; + faces the screen's right"),
    ParamSpec("ParamBodyAngleY", -10, 10, 0, "body lean, degrees; + leans back (chest up)"),
    ParamSpec("ParamBodyAngleZ", -10, 10, 0, "body sway, degrees; + leans toward the screen's right"),
    ParamSpec("ParamBreath", 0, 1, 0, "breathing cycle; 1 = full inhale"),
    # The rest of Cubism's standard list that motion files commonly use.
    ParamSpec("ParamEyeLSmile", 0, 1, 0, "left eye smile; 1 = the lower lid rises into a smile"),
    ParamSpec("ParamEyeRSmile", 0, 1, 0, "right eye smile; 1 = the lower lid rises into a smile"),
    ParamSpec("ParamEyeBallForm", -1, 1, 0, "iris size; -1 smaller, +1 larger"),
    ParamSpec("ParamBrowLX", -1, 1, 0, "left brow across; - draws it toward the face's middle"),
    ParamSpec("ParamBrowRX", -1, 1, 0, "right brow across; - draws it toward the face's middle"),
    ParamSpec("ParamBrowLAngle", -1, 1, 0, "left brow angle; - lowers its inner end (angry)"),
    ParamSpec("ParamBrowRAngle", -1, 1, 0, "right brow angle; - lowers its inner end (angry)"),
    ParamSpec("ParamBrowLForm", -1, 1, 0, "left brow shape; - bent down in the middle (angry), "
              "+ arched"),
    ParamSpec("ParamBrowRForm", -1, 1, 0, "right brow shape; - bent down in the middle (angry), "
              "+ arched"),
    ParamSpec("ParamCheek", 0, 1, 0, "blush; 1 = cheeks fully flushed"),
    ParamSpec("ParamArmLA", -30, 30, 0, "left arm (character's) swing from the shoulder, "
              "degrees; + raises it outward"),
    ParamSpec("ParamArmRA", -30, 30, 0, "right arm (character's) swing from the shoulder, "
              "degrees; + raises it outward"),
    ParamSpec("ParamArmLB", -30, 30, 0, "left forearm bend at the elbow, degrees; + outward"),
    ParamSpec("ParamArmRB", -30, 30, 0, "right forearm bend at the elbow, degrees; + outward"),
    ParamSpec("ParamShoulderY", -10, 10, 0, "shoulders; + shrugs them up"),
    ParamSpec("ParamHairFront", -1, 1, 0, "front hair swing; + toward the screen's right"),
    ParamSpec("ParamHairSide", -1, 1, 0, "side hair swing; + toward the screen's right"),
    ParamSpec("ParamHairBack", -1, 1, 0, "back hair swing; + toward the screen's right"),
)

PARAM_IDS: tuple[str, ...] = tuple(p.id for p in STANDARD_PARAMS)
_BY_ID = {p.id: p for p in STANDARD_PARAMS}


def spec(param_id: str) -> ParamSpec:
    return _BY_ID[param_id]


def defaults() -> dict[str, float]:
    return {p.id: float(p.default) for p in STANDARD_PARAMS}


class ParamVector:
    """Parameter values packed in a fixed-order float64 array, clamped to their ranges.

    The per-frame path reads parameters by index (no dict lookups); `update` accepts the
    dict form drivers and motion files produce and ignores ids it does not know.
    """

    __slots__ = ("values", "_lo", "_hi", "_index")

    def __init__(self, specs: Iterable[ParamSpec] = STANDARD_PARAMS) -> None:
        specs = tuple(specs)
        self._index = {p.id: i for i, p in enumerate(specs)}
        self._lo = np.array([p.min for p in specs], np.float64)
        self._hi = np.array([p.max for p in specs], np.float64)
        self.values = np.array([p.default for p in specs], np.float64)

    def index(self, param_id: str) -> int:
        return self._index[param_id]

    def update(self, params: Mapping[str, float]) -> None:
        index = self._index
        for key, value in params.items():
            i = index.get(key)
            if i is not None:
                v = float(value)
                if v == v:  # NaN from a driver is ignored, never propagated into the rig
                    self.values[i] = min(max(v, self._lo[i]), self._hi[i])

    def as_dict(self) -> dict[str, float]:
        return {k: float(self.values[i]) for k, i in self._index.items()}
