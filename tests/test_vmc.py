"""`live --vmc`: Unity quaternions -> Live2D angles, blendshapes applied per Apply, garbage
ignored, and a real VMC sender in another process over loopback, alone and driving `live`."""
from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from runtime.drivers.vmc import VmcInput, VmcState, osc_messages, unity_rotation

SENDERS = Path(__file__).with_name("net_senders.py")
sys.path.insert(0, str(SENDERS.parent))
from net_senders import quaternion  # noqa: E402  (Unity's Quaternion.Euler)


def message(address, *values):
    from pythonosc.osc_message_builder import OscMessageBuilder
    b = OscMessageBuilder(address)
    for v in values:
        b.add_arg(v)
    return b.build()


def bundle(*messages) -> bytes:
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
    b = OscBundleBuilder(IMMEDIATELY)
    for m in messages:
        b.add_content(m)
    return b.build().dgram


def bone(name, yaw=0.0, pitch=0.0, roll=0.0):
    return message("/VMC/Ext/Bone/Pos", name, 0.0, 0.1, 0.0, *quaternion(yaw, pitch, roll))


def head_angles(p):
    return p["ParamAngleX"], p["ParamAngleY"], p["ParamAngleZ"]


def sender(port, *extra, seconds=1.0):
    return subprocess.Popen([sys.executable, str(SENDERS), "vmc", "--port", str(port),
                             "--seconds", str(seconds), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------ conversion

def test_unity_rotations_read_as_seen_from_the_front():
    # Unity: x is the avatar's right, y up, z its forward (toward a camera in front of it).
    forward, up = np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0])
    turned = np.array(unity_rotation(*quaternion(20, 0, 0))) @ forward
    assert turned[0] > 0.3              # a +yaw turns the face toward the avatar's right ...
    tipped = np.array(unity_rotation(*quaternion(0, 10, 0))) @ forward
    assert tipped[1] < -0.1             # ... a +pitch tips the nose down ...
    rolled = np.array(unity_rotation(*quaternion(0, 0, 15))) @ up
    assert rolled[0] < -0.2             # ... a +roll takes the top of the head to its left.
    state = VmcState()
    # The avatar's right is the screen's left: AngleX -20; nose down: AngleY -10; the top of
    # the head to the avatar's left, the screen's right: AngleZ +15.
    assert head_angles(state.feed(osc_messages(bundle(bone("Head", 20, 0, 0))))) == \
        pytest.approx((-20, 0, 0), abs=1e-4)
    assert head_angles(state.feed(osc_messages(bundle(bone("Head", 0, 10, 0))))) == \
        pytest.approx((0, -10, 0), abs=1e-4)
    assert head_angles(state.feed(osc_messages(bundle(bone("Head", 0, 0, 15))))) == \
        pytest.approx((0, 0, 15), abs=1e-4)
    # Unity's Euler order (z, then x, then y) is the solver's: all three come back exactly.
    assert head_angles(state.feed(osc_messages(bundle(bone("Head", 20, 10, 5))))) == \
        pytest.approx((-20, -10, 5), abs=1e-4)


def test_the_head_is_the_neck_then_the_head_and_the_chest_turns_the_body():
    state = VmcState()
    p = state.feed(osc_messages(bundle(bone("Neck", 8, 0, 0), bone("Head", 12, 0, 0))))
    assert head_angles(p) == pytest.approx((-20, 0, 0), abs=1e-4)
    assert p["ParamBodyAngleX"] == pytest.approx(-6.0, abs=1e-4)     # follows: 0.3 * -20
    p = state.feed(osc_messages(bundle(bone("Chest", -6, -4, 3), bone("Spine", -2, 0, 0),
                                       bone("LeftHand", 90, 0, 0), bone("Tail", 50, 0, 0))))
    assert p["ParamBodyAngleX"] == pytest.approx(8.0, abs=1e-3)      # spine then chest
    assert p["ParamBodyAngleY"] == pytest.approx(4.0, abs=0.2)       # chest up: + leans back
    assert p["ParamBodyAngleZ"] == pytest.approx(3.0, abs=0.2)
    assert head_angles(p) == pytest.approx((-20, 0, 0), abs=1e-4)    # the head kept its bones


def test_blendshapes_count_only_when_apply_arrives():
    state = VmcState()
    assert state.feed(osc_messages(bundle(message("/VMC/Ext/Blend/Val", "jawOpen", 0.5),
                                          message("/VMC/Ext/Blend/Val", "Blink_L", 1.0)))) == {}
    p = state.feed(osc_messages(bundle(message("/VMC/Ext/Blend/Val", "eyeBlinkLeft", 1.0),
                                       message("/VMC/Ext/Blend/Apply"))))
    # Perfect sync: the ARKit names win over the VRM preset sent with them.
    assert p == {"ParamMouthOpenY": pytest.approx(0.6), "ParamEyeLOpen": 0.0,
                 "ParamEyeROpen": 1.0}
    # Messages one by one (no bundle): a name not sent again keeps its applied value.
    assert state.feed(osc_messages(message("/VMC/Ext/Blend/Val", "jawOpen", 0.25).dgram)) == {}
    p = state.feed(osc_messages(message("/VMC/Ext/Blend/Apply").dgram))
    assert p["ParamMouthOpenY"] == pytest.approx(0.3) and p["ParamEyeLOpen"] == 0.0


def test_garbage_is_skipped_and_never_changes_the_pose():
    with pytest.raises(ValueError):
        osc_messages(b"\x00\x01 not osc at all")
    with pytest.raises(ValueError):
        osc_messages(bundle(bone("Head", 20))[:30])
    state = VmcState()
    good = state.feed(osc_messages(bundle(bone("Head", 20, 0, 0))))
    for junk in (bundle(message("/VMC/Ext/Bone/Pos", "Head", 0.0, 0.0, 0.0,
                                math.nan, math.nan, math.nan, math.nan)),
                 bundle(message("/VMC/Ext/Bone/Pos", "Head", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)),
                 bundle(message("/VMC/Ext/Bone/Pos", "Head", "a", "b", "c", "d", "e", "f", "g")),
                 bundle(message("/VMC/Ext/Bone/Pos", "Head")),
                 bundle(message("/VMC/Ext/Bone/Pos", 3.0, 1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 1.0)),
                 bundle(message("/VMC/Ext/Bone/Pos", "Tail", 0.0, 0.0, 0.0, 0.0, 0.7, 0.0, 0.7)),
                 bundle(message("/VMC/Ext/OK", 1), message("/VMC/Ext/T", 1.5),
                        message("/some/other/app", "x"))):
        assert state.feed(osc_messages(junk)) == {}
    assert state.pose() == pytest.approx(good)
    p = state.feed(osc_messages(bundle(message("/VMC/Ext/Blend/Val", "jawOpen", math.nan),
                                       message("/VMC/Ext/Blend/Val", 5, "jawOpen"),
                                       message("/VMC/Ext/Blend/Apply"))))
    assert p == {}                      # nothing readable was sent: nothing to drive


# ------------------------------------------------------------------------------ over loopback

def wait_for(predicate, timeout=10.0, step=0.02):
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def test_a_vmc_sender_in_another_process_drives_the_input_then_eases_back():
    inp = VmcInput(port=0, host="127.0.0.1", log=open(__import__("os").devnull, "w"))
    inp.start()
    try:
        proc = sender(inp.port, "--head=15,-8,6", "--neck=5,0,0", "--chest=-4,0,0",
                      "--blend", "jawOpen=0.5", "--blend", "eyeBlink_L=0.95",
                      "--blend", "eyeBlinkRight=0.05", "--blend", "mouthSmileLeft=0.4",
                      "--blend", "mouthSmileRight=0.4", "--blend", "Joy=1.0",
                      "--garbage", "--drop", "0.3", seconds=1.5)

        def driven():
            r = inp.read(time.perf_counter())
            return r if r is not None and "ParamMouthOpenY" in r.values and r.weight == 1 \
                and "ParamAngleX" in r.values else None

        reading = wait_for(driven)
        assert reading is not None, proc.communicate(timeout=10)
        v = reading.values
        # Neck 5 + head 15 of yaw toward the avatar's right: the screen's left.
        assert v["ParamAngleX"] == pytest.approx(-20.0, abs=0.5)
        assert v["ParamAngleY"] == pytest.approx(8.0, abs=1.0)       # pitch -8: nose up
        assert v["ParamAngleZ"] == pytest.approx(6.0, abs=1.0)
        assert v["ParamBodyAngleX"] == pytest.approx(4.0, abs=0.1)   # the chest's own turn
        assert v["ParamMouthOpenY"] == pytest.approx(0.6)            # never the stray 1.0
        assert v["ParamEyeLOpen"] == 0.0 and v["ParamEyeROpen"] == 1.0
        assert v["ParamMouthForm"] == pytest.approx(0.6)             # ARKit over Joy
        assert reading.captured is not None and reading.captured <= time.perf_counter()
        # Every frame, whatever garbage came between, says the same.
        for _ in range(20):
            r = inp.read(time.perf_counter())
            assert r.values["ParamMouthOpenY"] == pytest.approx(0.6)
            assert r.values["ParamAngleX"] == pytest.approx(-20.0, abs=0.5)
            time.sleep(0.02)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        stopped = time.perf_counter()
        assert inp.bad_packets > 0 and inp.packets > inp.bad_packets
        weights = []
        while time.perf_counter() - stopped < 1.4:
            weights.append(inp.read(time.perf_counter()).weight)
            time.sleep(0.02)
        assert weights[-1] == 0.0                     # the sender stopped: eased back ...
        assert weights == sorted(weights, reverse=True)   # ... gliding, not snapping
        assert any(0.0 < w < 1.0 for w in weights)
        assert inp._thread.is_alive()                 # and the receiver lives on
    finally:
        inp.close()
    assert not inp._thread.is_alive()


def test_a_port_in_use_is_one_line_and_exit_2(rig_path, tmp_path, capsys):
    from runtime.commands.cli import main
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        code = main(["live", str(rig_path), "--vmc", str(port), "--record",
                     str(tmp_path / "o.mp4"), "--duration", "1", "--size", "64x64"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert f"--vmc: UDP port {port} on 127.0.0.1 is in use" in err[0]
    assert not (tmp_path / "o.mp4").exists()
    with pytest.raises(SystemExit) as exit_:     # argparse's own one-line error
        main(["live", str(rig_path), "--vmc", "70000", "--record", str(tmp_path / "o.mp4")])
    assert exit_.value.code == 2
    assert "--vmc: '70000': give a whole number from 1 to 65535" in capsys.readouterr().err


def test_listening_beyond_this_computer_warns(capsys):
    import argparse

    from runtime.commands.live import VMC_PORT, _face_app_inputs
    from runtime.drivers import vmc
    assert VMC_PORT == vmc.VMC_PORT
    inputs = _face_app_inputs(argparse.Namespace(vmc=free_port(), vmc_host="0.0.0.0"))
    try:
        assert [i.name for i in inputs] == ["vmc"] and inputs[0].host == "0.0.0.0"
    finally:
        for i in inputs:
            i.close()
    captured = capsys.readouterr()
    assert "--vmc-host 0.0.0.0: any computer on the network" in captured.err
    assert "receiving VMC (OSC) on 0.0.0.0" in captured.out
    _face_app_inputs(argparse.Namespace(vmc=free_port(), vmc_host="127.0.0.1"))[0].close()
    assert "warning" not in capsys.readouterr().err


def test_live_with_a_vmc_sender_end_to_end(rig_path, tmp_path, capsys):
    from runtime.commands.cli import main
    port = free_port()
    log = tmp_path / "params.jsonl"
    # The sender starts once the session listens, sends for 1.2 s and stops.
    proc = sender(port, "--wait", "--head=-15,5,0", "--blend", "jawOpen=0.5",
                  "--blend", "Blink=1.0", "--blend", "eyeBlinkLeft=0.0",
                  "--blend", "eyeBlinkRight=0.0", "--garbage", "--drop", "0.2", seconds=1.2)
    try:
        code = main(["live", str(rig_path), "--vmc", str(port), "--record",
                     str(tmp_path / "o.mp4"), "--duration", "3.5", "--size", "64x64",
                     "--report-every", "0", "--log-params", str(log)])
    finally:
        out, err = proc.communicate(timeout=30)
    assert code == 0 and proc.returncode == 0, err
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    driven = [r for r in lines if r["sources"]["ParamAngleX"] == "vmc"]
    assert len(driven) > 10
    full = [r for r in driven if r["sources"]["ParamMouthOpenY"] == "vmc"
            and abs(r["params"]["ParamMouthOpenY"] - 0.6) < 1e-3]
    assert len(full) > 5
    for r in full:
        p = r["params"]
        assert p["ParamAngleX"] == pytest.approx(15.0, abs=0.5)     # the avatar's left
        assert p["ParamAngleY"] == pytest.approx(-5.0, abs=0.5)
        assert p["ParamEyeLOpen"] == 1.0 and p["ParamEyeROpen"] == 1.0   # ARKit over Blink
        assert r["sources"]["ParamEyeLOpen"] == "vmc"
    last = lines[-1]            # 1.1 s after the sender stopped: back on the idle animation
    assert last["sources"]["ParamAngleX"] in ("idle", "default")
    assert last["sources"]["ParamMouthOpenY"] in ("idle", "default")
    printed = capsys.readouterr().out
    assert f"vmc: receiving VMC (OSC) on 127.0.0.1 UDP port {port}" in printed
    assert "vmc: data->output latency" in printed and "no data" not in printed
