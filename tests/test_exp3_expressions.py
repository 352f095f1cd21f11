"""Live2D .exp3.json expressions: blends, fades, hostile files, and the live number keys.

(tests/test_expressions.py is about the decomposer's synthesized expression art.)
"""
from __future__ import annotations

import io
import json
import math
import warnings
from pathlib import Path

import pytest

from runtime.drivers.expressions import (Expression, ExpressionParam, ExpressionToggles,
                                         ExpressionWarning, WithExpressions, apply_expressions,
                                         key_help, load_expression, load_expression_folder)
from seethrough_core.character import InputError

E_QUARTER = 0.5 - 0.5 * math.cos(math.pi / 4)      # the SDK easing at 1/4: 0.1464466...


def exp3(params: list[dict], **fades) -> dict:
    return {"Type": "Live2D Expression", **fades, "Parameters": params}


def write(tmp_path: Path, doc, name: str = "x.exp3.json") -> Path:
    path = tmp_path / name
    if isinstance(doc, bytes):
        path.write_bytes(doc)
    else:
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def expression(*params: tuple, fade_in: float = 1.0, fade_out: float = 1.0,
               name: str = "e") -> Expression:
    return Expression(name, tuple(ExpressionParam(*p) for p in params), fade_in, fade_out)


# ------------------------------------------------------------------------------ reading

def test_reading_an_exp3_file_with_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, exp3([{"Id": "ParamMouthForm", "Value": 1},
                                 {"Id": "ParamEyeLOpen", "Value": 0.5, "Blend": "Multiply"},
                                 {"Id": "ParamCheek", "Value": 1, "Blend": "Overwrite"}]),
                 "smile.exp3.json")
    e = load_expression(path)
    assert e.name == "smile" and (e.fade_in, e.fade_out) == (1.0, 1.0)   # SDK default 1 s
    assert e.params == (ExpressionParam("ParamMouthForm", 1.0, "Add"),   # Blend default Add
                        ExpressionParam("ParamEyeLOpen", 0.5, "Multiply"),
                        ExpressionParam("ParamCheek", 1.0, "Overwrite"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # a clean file warns about nothing
        timed = load_expression(write(tmp_path, exp3([{"Id": "ParamCheek", "Value": 1}],
                                                     FadeInTime=0.25, FadeOutTime=0)))
    assert (timed.fade_in, timed.fade_out) == (0.25, 0.0)


def test_cubism2_ids_map_and_unknown_ids_warn_once(tmp_path: Path) -> None:
    path = write(tmp_path, exp3([{"Id": "PARAM_TERE", "Value": 1},
                                 {"Id": "PARAM_MOUTH_FORM", "Value": 0.5},
                                 {"Id": "ParamTail", "Value": 1},
                                 {"Id": "ParamTail", "Value": 2, "Blend": "Overwrite"}]))
    with pytest.warns(ExpressionWarning) as record:
        e = load_expression(path)
    assert e.ids == ("ParamCheek", "ParamMouthForm") and e.unknown_ids == ("ParamTail",)
    lines = [str(r.message) for r in record]
    assert len(lines) == 2
    assert "PARAM_TERE -> ParamCheek" in lines[0]
    assert "PARAM_MOUTH_FORM -> ParamMouthForm" in lines[0]
    assert lines[1].count("ParamTail") == 1


@pytest.mark.parametrize("doc, message", [
    ("{nope", "not valid JSON"),
    ('{"Type": "Live2D Expression", "Parameters": [{"Id": "ParamCheek", "Value": NaN}]}', "NaN"),
    (b"\xff\xfe\x00junk", "not UTF-8"),
    ([1, 2], "JSON object"),
    ({"Type": "Live2D Motion", "Parameters": []}, "Type"),
    ({"Type": "Live2D Expression"}, "no \"Parameters\""),
    ({"type": "Live2D Expression", "params": [{"id": "PARAM_TERE", "val": 1}]}, "Cubism 2"),
    (exp3({"Id": "ParamCheek"}), "must be a list"),
    (exp3(["ParamCheek"]), r"Parameters\[0\] must be an object"),
    (exp3([{"Value": 1}]), r"Parameters\[0\] has no Id"),
    (exp3([{"Id": "ParamCheek", "Value": "1"}]), "must be a number"),
    (exp3([{"Id": "ParamCheek", "Value": True}]), "must be a number"),
    ('{"Parameters": [{"Id": "ParamCheek", "Value": 1e999}]}', "finite"),
    ('{"Parameters": [{"Id": "ParamCheek", "Value": -Infinity}]}', "-Infinity is not a number"),
    (exp3([{"Id": "ParamCheek", "Value": 1, "Blend": "Screen"}]), "unknown Blend 'Screen'"),
    (exp3([{"Id": "ParamCheek", "Value": 1}], FadeInTime=-1), "FadeInTime"),
    (exp3([{"Id": "ParamCheek", "Value": 1}], FadeOutTime="slow"), "FadeOutTime"),
    (exp3([{"Id": "ParamCheek", "Value": 1}] * 5000), "at most"),
])
def test_hostile_expression_files_are_one_line_errors(tmp_path: Path, doc, message) -> None:
    path = write(tmp_path, doc)
    with pytest.raises(InputError, match=message) as info:
        load_expression(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_huge_missing_and_folder_paths_are_refused(tmp_path: Path) -> None:
    huge = write(tmp_path, " " * (1 << 20) + json.dumps(exp3([])), "huge.exp3.json")
    with pytest.raises(InputError, match="too large"):
        load_expression(huge)
    with pytest.raises(InputError, match="no such expression file"):
        load_expression(tmp_path / "gone.exp3.json")
    with pytest.raises(InputError, match="is a folder"):
        load_expression(tmp_path)


def test_a_folder_loads_sorted_and_at_most_ten(tmp_path: Path) -> None:
    for name in ("smile", "angry", "blush"):
        write(tmp_path, exp3([{"Id": "ParamCheek", "Value": 1}]), f"{name}.exp3.json")
    write(tmp_path, "not an expression", "notes.txt")
    found = load_expression_folder(tmp_path)
    assert [e.name for e in found] == ["angry", "blush", "smile"]
    assert key_help(found) == "1 angry, 2 blush, 3 smile"
    for i in range(8):
        write(tmp_path, exp3([]), f"z{i}.exp3.json")
    with pytest.raises(InputError, match="11 .exp3.json files.*at most 10"):
        load_expression_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .exp3.json"):
        load_expression_folder(tmp_path / "empty")
    with pytest.raises(InputError, match="not a folder"):
        load_expression_folder(tmp_path / "notes.txt")
    ten = [expression(name=f"e{i}") for i in range(10)]
    assert key_help(ten).endswith("9 e8, 0 e9")


# ------------------------------------------------------------------------------ blends

def test_the_three_blends_at_full_and_half_weight() -> None:
    add = expression(("ParamAngleX", 6.0, "Add"))
    mul = expression(("ParamEyeLOpen", 0.5, "Multiply"))
    over = expression(("ParamMouthForm", 1.0, "Overwrite"))
    driver = {"ParamAngleX": 10.0, "ParamEyeLOpen": 0.8, "ParamMouthForm": -0.5}
    full = apply_expressions(driver, [(add, 1.0), (mul, 1.0), (over, 1.0)])
    assert full == pytest.approx({"ParamAngleX": 16.0, "ParamEyeLOpen": 0.4,
                                  "ParamMouthForm": 1.0})
    half = apply_expressions(driver, [(add, 0.5), (mul, 0.5), (over, 0.5)])
    # 10 + 6/2; 0.8 (1 + (0.5 - 1)/2) = 0.6; -0.5 + (1 + 0.5)/2 = 0.25.
    assert half == pytest.approx({"ParamAngleX": 13.0, "ParamEyeLOpen": 0.6,
                                  "ParamMouthForm": 0.25})
    zero = apply_expressions(driver, [(add, 0.0), (mul, 0.0), (over, 0.0)])
    assert zero == pytest.approx(driver)
    assert driver["ParamAngleX"] == 10.0                        # the input is not changed


def test_ids_the_driver_did_not_give_start_from_the_defaults() -> None:
    blush = expression(("ParamCheek", 1.0, "Overwrite"), ("ParamEyeROpen", 0.5, "Multiply"))
    assert apply_expressions({}, [(blush, 0.5)]) == pytest.approx(
        {"ParamCheek": 0.5, "ParamEyeROpen": 0.75})             # from 0 and from 1 (open)
    own = apply_expressions({}, [(blush, 1.0)], defaults={"ParamCheek": 0.25,
                                                          "ParamEyeROpen": 0.5})
    assert own == pytest.approx({"ParamCheek": 1.0, "ParamEyeROpen": 0.25})


def test_expressions_apply_in_the_order_given() -> None:
    plus = expression(("ParamAngleX", 10.0, "Add"))
    double = expression(("ParamAngleX", 2.0, "Multiply"))
    assert apply_expressions({"ParamAngleX": 5.0}, [(plus, 1), (double, 1)]) == {
        "ParamAngleX": 30.0}
    assert apply_expressions({"ParamAngleX": 5.0}, [(double, 1), (plus, 1)]) == {
        "ParamAngleX": 20.0}


def test_with_expressions_wraps_sampled_and_tracked_drivers() -> None:
    class Sampled:
        events = "passed through"

        def sample(self, t):
            return {"ParamAngleX": t}

    class Tracked:
        face_found = True

        def update(self, frame, t):
            return {"ParamMouthOpenY": 0.2}

    smile = expression(("ParamMouthForm", 1.0, "Overwrite"), ("ParamAngleX", 1.0, "Add"))
    wrapped = WithExpressions(Sampled(), [smile])
    assert wrapped.sample(3.0) == {"ParamAngleX": 4.0, "ParamMouthForm": 1.0}
    assert wrapped.events == "passed through"
    tracked = WithExpressions(Tracked(), [smile])
    assert tracked.update(None, 0.0) == {"ParamMouthOpenY": 0.2, "ParamMouthForm": 1.0,
                                         "ParamAngleX": 1.0}
    assert tracked.face_found is True


# ------------------------------------------------------------------------------ fades

def test_toggles_fade_in_and_out_with_the_sdk_easing() -> None:
    toggles = ExpressionToggles([expression(("ParamCheek", 1.0, "Overwrite"),
                                            fade_in=0.5, fade_out=1.0)])
    assert toggles.weight(0, 3.0) == 0.0 and not toggles.is_on(0)
    assert toggles.toggle(0, 10.0) is True
    assert [toggles.weight(0, t) for t in (10.0, 10.125, 10.25, 10.5, 12.0)] == pytest.approx(
        [0.0, E_QUARTER, 0.5, 1.0, 1.0])
    assert toggles.apply({}, 10.25) == pytest.approx({"ParamCheek": 0.5})
    assert toggles.toggle(0, 20.0) is False
    assert [toggles.weight(0, t) for t in (20.0, 20.25, 20.5, 21.0)] == pytest.approx(
        [1.0, 1 - E_QUARTER, 0.5, 0.0])
    assert toggles.apply({}, 21.0) == pytest.approx({"ParamCheek": 0.0})   # handed back
    # Turned back mid-fade: from where it is (0.5 at 30.25), no jump, down over 1 s.
    toggles.toggle(0, 30.0)
    toggles.toggle(0, 30.25)
    assert toggles.weight(0, 30.25) == pytest.approx(0.5)
    assert toggles.weight(0, 30.75) == pytest.approx(0.25)


def test_zero_fade_time_switches_at_once() -> None:
    toggles = ExpressionToggles([expression(("ParamCheek", 1.0, "Overwrite"), fade_in=0.0,
                                            fade_out=0.0)])
    toggles.toggle(0, 1.0)
    assert toggles.weight(0, 1.0) == 1.0
    toggles.toggle(0, 2.0)
    assert toggles.weight(0, 2.0) == 0.0


# ------------------------------------------------------------------------------ live keys

class _Idle:
    face_found = False
    timings: dict = {}

    def update(self, frame, t):
        return {}

    def calibrate(self):
        pass

    def close(self):
        pass


def _session(expressions, log, **kw):
    from runtime.drivers.capture import ClockSource
    from runtime.sessions.live import LiveSession
    return LiveSession(object(), ClockSource(30), _Idle(), log=log, expressions=expressions,
                       **kw)


def test_number_keys_toggle_expressions_without_a_window() -> None:
    import glfw

    from runtime.sessions.live import KEY_HELP, key_help_line
    smile = expression(("ParamMouthForm", 1.0, "Overwrite"), name="smile")
    angry = expression(("ParamBrowLY", -1.0, "Overwrite"), name="angry")
    log = io.StringIO()
    session = _session([smile, angry], log)
    session.handle_key(glfw.KEY_1, glfw.PRESS, 0)
    assert session.expressions.is_on(0) and not session.expressions.is_on(1)
    session.handle_key(glfw.KEY_KP_2, glfw.PRESS, 0)
    session.handle_key(glfw.KEY_2, glfw.REPEAT, 0)              # held keys do not flicker
    assert session.expressions.is_on(1)
    session.handle_key(glfw.KEY_1, glfw.PRESS, 0)
    assert not session.expressions.is_on(0)
    session.handle_key(glfw.KEY_0, glfw.PRESS, 0)               # the tenth: none loaded
    assert log.getvalue().splitlines() == ["expression smile on", "expression angry on",
                                           "expression smile off",
                                           "no expression on key 0 (2 loaded; --expressions "
                                           "DIR loads them)"]
    line = key_help_line([smile, angry])
    assert line.startswith(KEY_HELP) and line.endswith("expressions (toggle): 1 smile, 2 angry")
    assert key_help_line([]) == KEY_HELP


def test_a_live_session_lays_a_toggled_expression_over_the_idle(example_rig) -> None:
    from runtime.sessions.live import IdleParamDriver, LiveOptions
    from runtime.drivers.idle import IdleDriver
    from runtime.drivers.capture import ClockSource
    from runtime.sessions.live import LiveSession
    blush = expression(("ParamCheek", 0.75, "Overwrite"), fade_in=0.0, fade_out=0.0,
                       name="blush")
    seen: list[tuple[int, float]] = []

    def on_frame(session, n):
        seen.append((n, session.rig.params.as_dict()["ParamCheek"]))
        if n == 3:
            session.toggle_expression(0)
        elif n >= 6:
            session.stop("test done")

    session = LiveSession(example_rig, ClockSource(30), IdleParamDriver(IdleDriver(seed=1)),
                          options=LiveOptions(size=(64, 64), duration=10, report_every=0),
                          log=io.StringIO(), on_frame=on_frame, expressions=[blush])
    session.run()
    cheek = dict(seen)
    assert [cheek[n] for n in (1, 2, 3)] == [0.0, 0.0, 0.0]       # off: the rig's default
    assert [cheek[n] for n in (4, 5, 6)] == [0.75, 0.75, 0.75]    # on, no fade time: at once


def test_live_cli_loads_a_folder_and_names_the_keys(rig_path, tmp_path, capsys) -> None:
    from runtime.commands.cli import main
    folder = tmp_path / "faces"
    folder.mkdir()
    write(folder, exp3([{"Id": "ParamCheek", "Value": 1}]), "blush.exp3.json")
    write(folder, exp3([{"Id": "ParamMouthForm", "Value": 1}]), "smile.exp3.json")
    out = tmp_path / "rec.mp4"
    code = main(["live", str(rig_path), "--idle-only", "--record", str(out), "--size", "64x64",
                 "--duration", "0.5", "--report-every", "0", "--expressions", str(folder)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "expressions: 1 blush, 2 smile" in captured.out
    assert "need the window" in captured.err and out.is_file()
    code = main(["live", str(rig_path), "--idle-only", "--record", str(out), "--duration", "0.5",
                 "--expressions", str(tmp_path / "nowhere")])
    captured = capsys.readouterr()
    assert code == 2 and "not a folder" in captured.err and "Traceback" not in captured.err
