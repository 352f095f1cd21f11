"""Live2D expressions (``.exp3.json``): parameter offsets laid over whatever drives the rig.

The public format::

    {
      "Type": "Live2D Expression",
      "FadeInTime": 0.5,               seconds, default 1.0
      "FadeOutTime": 0.5,              seconds, default 1.0
      "Parameters": [
        {"Id": "ParamMouthForm", "Value": 1.0, "Blend": "Add"},
        {"Id": "ParamEyeLOpen", "Value": 0.5, "Blend": "Multiply"},
        {"Id": "ParamCheek", "Value": 1.0, "Blend": "Overwrite"}
      ]
    }

``Blend`` defaults to ``Add``. An expression at weight w (0..1) changes a parameter's value v
(what the driver gave, or the rig's default where it gave none) to: Add ``v + Value * w``;
Multiply ``v * (1 + (Value - 1) * w)``; Overwrite ``v + (Value - v) * w``. Several expressions
apply one after the other, in the order given. Switching one on or off eases its weight with the
Cubism SDK's sine easing over its FadeInTime or FadeOutTime (:class:`ExpressionToggles`).
Cubism 2 ids (``PARAM_TERE``) are read as the standard ones, as in motion files; ids the rig
does not have are dropped with one warning.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from rig.params import PARAM_IDS, STANDARD_PARAMS
from runtime.drivers.motion import easing_sine, read_json_file, standard_id
from seethrough_core.character import InputError

TYPE = "Live2D Expression"
BLENDS = ("Add", "Multiply", "Overwrite")
DEFAULT_FADE = 1.0                 # seconds, the SDK's when a file gives none
MAX_FILE_BYTES = 1 << 20           # expressions are a few lines; anything bigger is not one
MAX_FADE = 3600.0
MAX_PARAMETERS = 4096
MAX_EXPRESSIONS = 10               # the number keys 1..9 and 0
SUFFIX = ".exp3.json"
_DEFAULTS = {p.id: float(p.default) for p in STANDARD_PARAMS}


class ExpressionWarning(UserWarning):
    """Something in an expression file was ignored (unknown ids) or renamed (Cubism 2 ids)."""


@dataclass(frozen=True)
class ExpressionParam:
    id: str
    value: float
    blend: str = "Add"


@dataclass(frozen=True)
class Expression:
    name: str
    params: tuple[ExpressionParam, ...]
    fade_in: float = DEFAULT_FADE
    fade_out: float = DEFAULT_FADE
    unknown_ids: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False)
    source: str | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.id for p in self.params))


def expression_name(path: str | os.PathLike) -> str:
    """``smile.exp3.json`` -> ``smile``."""
    name = Path(path).name
    return name[:-len(SUFFIX)] if name.lower().endswith(SUFFIX) else Path(path).stem


def load_expression(path: str | os.PathLike,
                    known_ids: Iterable[str] | None = PARAM_IDS) -> Expression:
    """Read one .exp3.json; anything wrong with it is a one-line InputError naming the file."""
    path = Path(path)
    data = read_json_file(path, "expression file", MAX_FILE_BYTES, f"a Live2D {SUFFIX} file")
    return expression_from_dict(data, known_ids=known_ids, source=str(path),
                                name=expression_name(path))


def expression_from_dict(data: Any, known_ids: Iterable[str] | None = PARAM_IDS,
                         source: str | None = None, name: str | None = None) -> Expression:
    """An Expression from parsed exp3 JSON. Ids not in ``known_ids`` are dropped with one
    warning (``None`` keeps every id)."""
    where = source or "expression"
    if not isinstance(data, dict):
        raise InputError(f"{where}: an expression file holds a JSON object, not "
                         f"{type(data).__name__}")
    kind = data.get("Type", TYPE)
    if kind != TYPE:
        raise InputError(f"{where}: Type is {kind!r}, not {TYPE!r}; give a Live2D {SUFFIX}")
    if "Parameters" not in data:
        hint = (" (this looks like a Cubism 2 .exp.json; re-export it from Cubism 3 or later)"
                if "params" in data else "")
        raise InputError(f"{where}: no \"Parameters\" list{hint}")
    raw = data["Parameters"]
    if not isinstance(raw, list):
        raise InputError(f"{where}: \"Parameters\" must be a list of {{Id, Value, Blend}}")
    if len(raw) > MAX_PARAMETERS:
        raise InputError(f"{where}: {len(raw)} parameters; an expression may have at most "
                         f"{MAX_PARAMETERS}")
    fade_in = _fade(data, "FadeInTime", where)
    fade_out = _fade(data, "FadeOutTime", where)
    known = None if known_ids is None else frozenset(known_ids)
    params, renamed, unknown = [], {}, []
    for i, p in enumerate(raw):
        what = f"Parameters[{i}]"
        if not isinstance(p, dict):
            raise InputError(f"{where}: {what} must be an object with Id, Value and Blend")
        pid = p.get("Id")
        if not isinstance(pid, str) or not pid:
            raise InputError(f"{where}: {what} has no Id")
        value = _number(p.get("Value"), f"{what} ({pid}) Value", where)
        blend = p.get("Blend", "Add")
        if blend not in BLENDS:
            raise InputError(f"{where}: {what} ({pid}): unknown Blend {blend!r}; use "
                             f"{', '.join(BLENDS)}")
        new = standard_id(pid)
        if new != pid:
            renamed[pid] = new
        if known is not None and new not in known:
            if pid not in unknown:
                unknown.append(pid)
            continue
        params.append(ExpressionParam(new, value, blend))
    notes = []
    if renamed:
        notes.append(f"{where}: Cubism 2 ids read as the standard ones: "
                     + ", ".join(f"{a} -> {b}" for a, b in renamed.items()))
    if unknown:
        notes.append(f"{where}: ignoring {len(unknown)} parameter(s) this rig does not have: "
                     f"{', '.join(unknown)}")
    for note in notes:
        warnings.warn(note, ExpressionWarning, stacklevel=2)
    return Expression(name or expression_name(where), tuple(params), fade_in, fade_out,
                      tuple(unknown), tuple(notes), source)


def _number(value: Any, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: {what} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{where}: {what} must be finite, got {value}")
    return value


def _fade(data: Mapping, key: str, where: str) -> float:
    if data.get(key) is None:
        return DEFAULT_FADE
    seconds = _number(data[key], key, where)
    if not 0 <= seconds <= MAX_FADE:
        raise InputError(f"{where}: {key} must be between 0 and {MAX_FADE:g} seconds, got "
                         f"{seconds:g}")
    return seconds


def load_expression_folder(folder: str | os.PathLike,
                           known_ids: Iterable[str] | None = PARAM_IDS) -> list[Expression]:
    """Every ``*.exp3.json`` in ``folder``, sorted by name: at most ten (keys 1..9, 0)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder; give the folder holding the {SUFFIX} files")
    files = sorted(p for p in folder.iterdir() if p.name.lower().endswith(SUFFIX))
    if not files:
        raise InputError(f"{folder}: holds no {SUFFIX} files")
    if len(files) > MAX_EXPRESSIONS:
        raise InputError(f"{folder}: holds {len(files)} {SUFFIX} files; the keys 1..9 and 0 "
                         f"fit at most {MAX_EXPRESSIONS}: move the others out")
    return [load_expression(p, known_ids) for p in files]


# ------------------------------------------------------------------------------ applying

def fade_weight(elapsed: float, seconds: float) -> float:
    """How far a fade of ``seconds`` is after ``elapsed`` seconds (sine eased; 0 s: done)."""
    if seconds <= 0:
        return 1.0
    return easing_sine(elapsed / seconds)


def apply_expressions(params: Mapping[str, float],
                      layers: Sequence[tuple[Expression, float]],
                      defaults: Mapping[str, float] | None = None) -> dict[str, float]:
    """``params`` with each (expression, weight) applied in order. A parameter the driver did
    not give starts from ``defaults`` (the standard defaults when None). Every id of every
    expression is written, even at weight 0, so one that fades out hands the value back."""
    defaults = _DEFAULTS if defaults is None else defaults
    out = dict(params)
    for expression, weight in layers:
        w = min(max(float(weight), 0.0), 1.0)
        for p in expression.params:
            v = out.get(p.id, defaults.get(p.id, _DEFAULTS.get(p.id, 0.0)))
            if p.blend == "Add":
                v = v + p.value * w
            elif p.blend == "Multiply":
                v = v * (1.0 + (p.value - 1.0) * w)
            else:
                v = v + (p.value - v) * w
            out[p.id] = v
    return out


class WithExpressions:
    """A driver with expressions laid over it at fixed weights (``render --expression``): the
    same ``sample(t)`` / ``update(frame, t)`` as the driver it wraps; anything else (face_found,
    timings, events_between, close ...) is the wrapped driver's."""

    def __init__(self, driver, expressions: Sequence[Expression],
                 defaults: Mapping[str, float] | None = None, weight: float = 1.0) -> None:
        self.driver = driver
        self.layers = [(e, weight) for e in expressions]
        self.defaults = dict(_DEFAULTS if defaults is None else defaults)

    def sample(self, t: float) -> dict[str, float]:
        return apply_expressions(self.driver.sample(t), self.layers, self.defaults)

    def update(self, frame, t: float) -> dict[str, float]:
        return apply_expressions(self.driver.update(frame, t), self.layers, self.defaults)

    def __getattr__(self, name: str):
        return getattr(self.driver, name)


class ExpressionToggles:
    """Which expressions are on, for a live session: ``toggle(i, now)`` switches one, and its
    weight eases from where it is to 1 over its FadeInTime (or to 0 over its FadeOutTime), so
    a key pressed mid-fade turns back without a jump. Times are seconds on any one clock."""

    def __init__(self, expressions: Sequence[Expression]) -> None:
        self.expressions = list(expressions)
        # Per expression: (on, when it last switched, its weight then).
        self._state = [(False, 0.0, 0.0) for _ in self.expressions]

    def __len__(self) -> int:
        return len(self.expressions)

    def is_on(self, index: int) -> bool:
        return self._state[index][0]

    def weight(self, index: int, now: float) -> float:
        on, since, start = self._state[index]
        e = self.expressions[index]
        target, seconds = (1.0, e.fade_in) if on else (0.0, e.fade_out)
        return start + (target - start) * fade_weight(now - since, seconds)

    def weights(self, now: float) -> list[float]:
        return [self.weight(i, now) for i in range(len(self.expressions))]

    def toggle(self, index: int, now: float) -> bool:
        """Switch expression ``index``; returns whether it is now on."""
        current = self.weight(index, now)
        on = not self._state[index][0]
        self._state[index] = (on, now, current)
        return on

    def apply(self, params: Mapping[str, float], now: float,
              defaults: Mapping[str, float] | None = None) -> dict[str, float]:
        if not self.expressions:
            return dict(params)
        return apply_expressions(params, list(zip(self.expressions, self.weights(now))),
                                 defaults)


def key_label(index: int) -> str:
    """The number key of expression ``index``: 1..9, then 0 for the tenth."""
    return str((index + 1) % 10)


def key_help(expressions: Sequence[Expression]) -> str:
    """``1 smile, 2 angry, ...``: which number key toggles which expression."""
    return ", ".join(f"{key_label(i)} {e.name}" for i, e in enumerate(expressions))
