"""Extra live inputs: held values ease back when the data stops, overlays go in order, and the
live session lays them over the idle animation and logs which input drove each parameter."""
from __future__ import annotations

import io
import json

import pytest

from runtime.drivers.capture import ClockSource
from runtime.drivers.idle import IdleDriver
from runtime.drivers.inputs import HeldValues, InputReading, overlay
from runtime.sessions.live import IdleParamDriver, LiveOptions, LiveSession


def test_held_values_stay_then_ease_back_to_nothing():
    held = HeldValues(lost_after=0.5, ease_back=1.0)
    assert held.read(0.0) is None
    held.put({"ParamMouthOpenY": 0.8}, now=10.0)
    assert held.read(10.4).weight == 1.0
    assert held.read(11.0).weight == pytest.approx(0.5)      # half-way through the cosine ease
    assert held.read(11.5).weight == 0.0
    held.put({"ParamAngleX": 5.0}, now=12.0)                 # new data: full weight, merged
    r = held.read(12.1)
    assert r.weight == 1.0 and r.values == {"ParamMouthOpenY": 0.8, "ParamAngleX": 5.0}
    held.put({"ParamAngleX": float("nan")}, now=12.2)        # garbage never gets in
    assert held.read(12.3).values["ParamAngleX"] == 5.0


def test_overlay_blends_by_weight_in_order_and_names_the_source():
    base = {"ParamAngleX": 10.0, "ParamMouthOpenY": 0.0}
    sources = {k: "idle" for k in base}
    out = overlay(base, [("vmc", InputReading({"ParamAngleX": 20.0}, 0.5)),
                         ("mic", InputReading({"ParamMouthOpenY": 1.0}, 1.0)),
                         ("lost", InputReading({"ParamAngleX": -30.0}, 0.0)),
                         ("none", None)], sources)
    assert out == {"ParamAngleX": 15.0, "ParamMouthOpenY": 1.0}
    assert sources == {"ParamAngleX": "vmc", "ParamMouthOpenY": "mic"}


class ScriptedInput:
    """Drives the mouth for the session's first half second, then stops sending."""

    name = "script"

    def __init__(self):
        self.started = self.closed = False
        self.held = HeldValues(lost_after=0.2, ease_back=0.3)
        self.t0 = None

    def start(self):
        self.started = True

    def read(self, now):
        if self.t0 is None:
            self.t0 = now
        if now - self.t0 < 0.5:
            self.held.put({"ParamMouthOpenY": 1.0}, now=now, captured=now - 0.01)
        return self.held.read(now)

    def close(self):
        self.closed = True


def test_a_session_lays_inputs_over_the_idle_and_logs_the_sources(example_rig):
    log = io.StringIO()
    inp = ScriptedInput()
    session = LiveSession(example_rig, ClockSource(30.0), IdleParamDriver(IdleDriver(seed=1)),
                          options=LiveOptions(size=(64, 64), fps=30.0, duration=1.5,
                                              report_every=0.0),
                          log=io.StringIO(), inputs=[inp], params_log=log)
    summary = session.run()
    assert inp.started and inp.closed
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert len(lines) == summary.rendered and [r["frame"] for r in lines] == list(range(len(lines)))
    early = [r for r in lines if r["t"] < 0.45]
    late = [r for r in lines if r["t"] > 1.1]
    assert early and late
    for r in early:
        assert r["params"]["ParamMouthOpenY"] == pytest.approx(1.0)
        assert r["sources"]["ParamMouthOpenY"] == "script"
        # Before the first idle result arrives a frame may stand at the defaults.
        assert r["sources"]["ParamAngleX"] in ("idle", "default")
    assert sum(r["sources"]["ParamAngleX"] == "idle" for r in early) >= len(early) - 2
    for r in late:     # lost: eased back to the idle animation's mouth (closed: its default)
        assert r["params"]["ParamMouthOpenY"] < 0.05
        assert r["sources"]["ParamMouthOpenY"] in ("idle", "default")
    mouth = [r["params"]["ParamMouthOpenY"] for r in lines if 0.7 < r["t"] < 1.05]
    assert mouth == sorted(mouth, reverse=True)      # a glide back, no snap
    figures = summary.inputs["script"]
    assert figures["frames"] >= len(early) and figures["latency_ms_median"] >= 10.0
    assert any("script: data->output latency" in line for line in summary.lines())


def test_cli_log_params_for_an_idle_session(rig_path, tmp_path, capsys):
    from runtime.commands.cli import main
    log = tmp_path / "params.jsonl"
    assert main(["live", str(rig_path), "--idle-only", "--record", str(tmp_path / "o.mp4"),
                 "--duration", "1", "--size", "64x64", "--report-every", "0",
                 "--log-params", str(log)]) == 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert 25 <= len(lines) <= 31
    assert set(lines[-1]["sources"].values()) <= {"idle", "default"}
    assert list(tmp_path.glob(".*part")) == []
