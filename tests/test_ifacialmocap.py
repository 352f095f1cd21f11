"""`live --ifacialmocap`: the app's text frames (v1 and v2), its head angles, calibration and
mirroring, and a fake phone in another process over loopback, alone and driving `live`."""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime.drivers.ifacialmocap import (START_MESSAGE, IFacialMocapInput, IfmFrame,
                                          parse_frame, parse_phone)
from seethrough_core.character import InputError

SENDERS = Path(__file__).with_name("net_senders.py")

# The example frame of the app's developer page (https://www.ifacialmocap.com/for-developer/).
DOCUMENTED = (
    "mouthSmile_R-0|eyeLookOut_L-0|mouthUpperUp_L-11|eyeWide_R-0|mouthClose-8|mouthPucker-4|"
    "mouthRollLower-9|eyeBlink_R-7|eyeLookDown_L-17|cheekSquint_R-11|eyeBlink_L-7|tongueOut-0|"
    "jawRight-0|eyeLookIn_R-6|cheekSquint_L-11|mouthDimple_L-10|mouthPress_L-4|eyeSquint_L-11|"
    "mouthRight-0|mouthShrugLower-9|eyeLookUp_R-0|eyeLookOut_R-0|mouthPress_R-5|cheekPuff-2|"
    "jawForward-11|mouthLowerDown_L-9|mouthFrown_L-6|mouthShrugUpper-26|browOuterUp_L-4|"
    "browInnerUp-20|mouthDimple_R-10|browDown_R-0|mouthUpperUp_R-10|mouthRollUpper-8|"
    "mouthFunnel-12|mouthStretch_R-21|mouthFrown_R-13|eyeLookDown_R-17|jawOpen-12|jawLeft-0|"
    "browDown_L-0|mouthSmile_L-0|noseSneer_R-18|mouthLowerDown_R-8|noseSneer_L-21|eyeWide_L-0|"
    "mouthStretch_L-21|browOuterUp_R-4|eyeLookIn_L-4|eyeSquint_R-11|eyeLookUp_L-0|mouthLeft-1|"
    "=head#-21.488958,-6.038993,-6.6019735,-0.030653415,-0.10287084,-0.6584072|"
    "rightEye#6.0297494,2.4403017,0.25649446|leftEye#6.034903,-1.6660284,-0.17520553|")


def quiet_input(**kw) -> IFacialMocapInput:
    return IFacialMocapInput(host="127.0.0.1", port=0, log=open(os.devnull, "w"), **kw)


def test_the_documented_frame_parses():
    frame = parse_frame(DOCUMENTED)
    assert len(frame.blendshapes) == 52            # every ARKit name, _L/_R read as Left/Right
    assert frame.blendshapes["eyeBlinkLeft"] == pytest.approx(0.07)
    assert frame.blendshapes["browInnerUp"] == pytest.approx(0.20)
    assert frame.blendshapes["mouthShrugUpper"] == pytest.approx(0.26)
    assert frame.head == pytest.approx((-21.488958, -6.038993, -6.6019735))
    assert frame.tracked


def test_v2_frames_and_odd_spellings_parse_and_garbage_does_not():
    frame = parse_frame("jawOpen&55.5|eyeBlinkLeft&100|browDown_L--5|hapihapi&3|"
                        "head#1,2,3|trackingStatus&1|")
    assert frame.blendshapes == {"jawOpen": pytest.approx(0.555), "eyeBlinkLeft": 1.0,
                                 "browDownLeft": 0.0}       # a negative value is clamped
    assert frame.head == (1.0, 2.0, 3.0) and frame.tracked
    assert not parse_frame("trackingStatus-0|jawOpen-3|").tracked
    assert parse_frame("jawOpen-1=head#10.5,-20,30,0.1,0.2,-0.3").head == (10.5, -20.0, 30.0)
    # A bad field is skipped, the rest still counts.
    frame = parse_frame("jawOpen-nan|eyeBlink_L-x|mouthSmile_L-40|=head#1,2|rightEye#a,b|")
    assert frame.blendshapes == {"mouthSmileLeft": pytest.approx(0.4)} and frame.head is None
    for junk in ("", "{\"v\": 1}", "hapihapi-10|=head#a,b,c|", "jawOpen-|-5|&|||====|head#|",
                 "=head#nan,1,2,3,4,5|", "\x00\x01\x02"):
        with pytest.raises(ValueError):
            parse_frame(junk)


def test_head_angles_calibration_and_the_mirror():
    inp = quiet_input()
    try:
        # X pitch (+ nose down), Y yaw (+ toward the viewer's right), Z roll (+ to the left).
        p = inp.params(IfmFrame(head=(10.0, 20.0, 5.0)))
        assert (p["ParamAngleX"], p["ParamAngleY"], p["ParamAngleZ"]) == \
            pytest.approx((20.0, -10.0, -5.0))
        assert p["ParamBodyAngleX"] == pytest.approx(6.0)      # follows the head
        # A phone below the face sees it looking up: calibrate, then that is straight ahead.
        inp.calibrate()
        p = inp.params(IfmFrame(head=(-20.0, 0.0, 0.0)))
        assert p["ParamAngleY"] == pytest.approx(0.0, abs=1e-9)
        p = inp.params(IfmFrame(head=(-20.0, 15.0, 0.0)))
        assert p["ParamAngleX"] == pytest.approx(15.0, abs=0.5)
        assert p["ParamAngleY"] == pytest.approx(0.0, abs=0.5)
    finally:
        inp.close()
    mirrored = quiet_input(mirror=True)
    try:
        p = mirrored.params(IfmFrame({"eyeBlinkLeft": 1.0, "eyeBlinkRight": 0.0},
                                     head=(0.0, 20.0, 5.0)))
        assert p["ParamAngleX"] == pytest.approx(-20.0) and p["ParamAngleZ"] == pytest.approx(5.0)
        assert p["ParamEyeROpen"] == 0.0 and p["ParamEyeLOpen"] == 1.0   # your left: its right
    finally:
        mirrored.close()


def test_the_phone_option():
    assert parse_phone("") is None
    assert parse_phone("192.168.1.7") == ("192.168.1.7", 49983)
    assert parse_phone("192.168.1.7:50000") == ("192.168.1.7", 50000)
    assert parse_phone("[fe80::1]:50000") == ("fe80::1", 50000)
    assert parse_phone("fe80::1") == ("fe80::1", 49983)
    for bad in ("192.168.1.7:0", "192.168.1.7:http", ":5000"):
        with pytest.raises(InputError):
            parse_phone(bad)


def fake_phone(*extra, seconds=1.0):
    """The fake app: prints its port, waits for the start message, streams, stops."""
    proc = subprocess.Popen([sys.executable, str(SENDERS), "phone", "--seconds", str(seconds),
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    return proc, port


def test_a_fake_phone_is_asked_to_stream_and_drives_the_input_then_eases_back():
    proc, phone_port = fake_phone("--blend", "eyeBlink_L=97", "--blend", "eyeBlink_R=3",
                                  "--blend", "jawOpen=50", "--blend", "mouthSmile_L=40",
                                  "--blend", "mouthSmile_R=40", "--blend", "browInnerUp=40",
                                  "--head=-10,20,0", "--garbage", "--drop", "0.3",
                                  seconds=1.5)
    inp = quiet_input(phone=("127.0.0.1", phone_port))
    inp.start()
    try:
        end = time.perf_counter() + 10
        reading = None
        while time.perf_counter() < end:
            r = inp.read(time.perf_counter())
            if r is not None and "ParamAngleX" in r.values:
                reading = r
                break
            time.sleep(0.02)
        assert reading is not None, proc.communicate(timeout=10)
        v = reading.values
        assert v["ParamAngleX"] == pytest.approx(20.0, abs=1e-3)     # yaw to the viewer's right
        assert v["ParamAngleY"] == pytest.approx(10.0, abs=1e-3)     # pitch -10: looking up
        assert v["ParamEyeLOpen"] == 0.0 and v["ParamEyeROpen"] == 1.0
        assert v["ParamMouthOpenY"] == pytest.approx(0.6)
        assert v["ParamMouthForm"] == pytest.approx(0.6)
        assert v["ParamBrowLAngle"] == pytest.approx(0.4)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert f"start from 127.0.0.1:{inp.port}" in out    # asked from the listening port
        assert inp.bad_packets > 0
        time.sleep(1.3)
        assert inp.read(time.perf_counter()).weight == 0.0      # eased back
        assert inp._thread.is_alive()
    finally:
        inp.close()


def test_a_phone_that_loses_the_face_eases_back():
    proc, phone_port = fake_phone("--blend", "jawOpen=50", "--tracked", "0", seconds=1.0)
    inp = quiet_input(phone=("127.0.0.1", phone_port))
    inp.start()
    try:
        out, _ = proc.communicate(timeout=20)
        assert "start from" in out
        assert inp.packets > 10 and inp.read(time.perf_counter()) is None   # never drove
    finally:
        inp.close()


def test_the_start_message_is_sent_again_while_nothing_arrives():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
        phone.bind(("127.0.0.1", 0))
        phone.settimeout(5.0)
        inp = quiet_input(phone=("127.0.0.1", phone.getsockname()[1]))
        inp.start()
        try:
            t0 = time.perf_counter()
            assert phone.recvfrom(256)[0] == START_MESSAGE
            assert phone.recvfrom(256)[0] == START_MESSAGE          # no data came: again
            assert 1.5 < time.perf_counter() - t0 < 3.5
        finally:
            inp.close()


def test_live_with_a_fake_phone_end_to_end(rig_path, tmp_path, capsys):
    from runtime.commands.cli import main
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        listen = s.getsockname()[1]
    proc, phone_port = fake_phone("--version", "v2", "--blend", "jawOpen=50",
                                  "--blend", "eyeBlinkLeft=0", "--blend", "eyeBlinkRight=0",
                                  "--head=0,-12,4", "--garbage", seconds=1.2)
    log = tmp_path / "params.jsonl"
    try:
        code = main(["live", str(rig_path), "--ifacialmocap", f"127.0.0.1:{phone_port}",
                     "--ifacialmocap-host", "127.0.0.1", "--ifacialmocap-port", str(listen),
                     "--record", str(tmp_path / "o.mp4"), "--duration", "3.5",
                     "--size", "64x64", "--report-every", "0", "--log-params", str(log)])
    finally:
        out, err = proc.communicate(timeout=30)
    assert code == 0 and proc.returncode == 0, err
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    driven = [r for r in lines if r["sources"]["ParamAngleX"] == "ifacialmocap"
              and r["sources"]["ParamMouthOpenY"] == "ifacialmocap"
              and abs(r["params"]["ParamMouthOpenY"] - 0.6) < 1e-3]
    assert len(driven) > 5
    for r in driven:
        assert r["params"]["ParamAngleX"] == pytest.approx(-12.0, abs=1e-3)
        assert r["params"]["ParamAngleZ"] == pytest.approx(-4.0, abs=1e-3)
    assert lines[-1]["sources"]["ParamAngleX"] in ("idle", "default")
    printed = capsys.readouterr().out
    assert f"asking 127.0.0.1:{phone_port} to stream" in printed
    assert "ifacialmocap: data->output latency" in printed and "no data" not in printed


def test_bad_phone_addresses_are_one_line_errors(rig_path, tmp_path, capsys):
    from runtime.commands.cli import main
    from runtime.commands.live import IFM_PORT, _face_app_inputs
    from runtime.drivers import ifacialmocap
    assert IFM_PORT == ifacialmocap.IFM_PORT
    for value in ("not a host name!", "10.0.0.1:99999"):
        assert main(["live", str(rig_path), "--ifacialmocap", value, "--ifacialmocap-host",
                     "127.0.0.1", "--ifacialmocap-port", "49999",
                     "--record", str(tmp_path / "o.mp4"), "--duration", "1"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--ifacialmocap" in err[0]
    with pytest.raises(InputError, match="not an address of this machine"):
        _face_app_inputs(argparse.Namespace(ifacialmocap="", ifacialmocap_host="203.0.113.9",
                                            ifacialmocap_port=49998))


def test_recalibrating_the_session_recalibrates_the_phone(example_rig):
    import io

    from runtime.drivers.capture import ClockSource
    from runtime.drivers.idle import IdleDriver
    from runtime.sessions.live import IdleParamDriver, LiveOptions, LiveSession
    inp = quiet_input()
    try:
        session = LiveSession(example_rig, ClockSource(30.0), IdleParamDriver(IdleDriver()),
                              options=LiveOptions(calibrate_at_start=True), inputs=[inp],
                              log=io.StringIO())
        p = inp.params(IfmFrame(head=(-20.0, 10.0, 0.0)))     # --calibrate: this is neutral
        assert p["ParamAngleX"] == pytest.approx(0.0, abs=1e-9)
        session.recalibrate()                                 # the C key
        assert inp.params(IfmFrame(head=(0.0, 0.0, 0.0)))["ParamAngleX"] == \
            pytest.approx(0.0, abs=1e-9)
        assert inp.params(IfmFrame(head=(0.0, 10.0, 0.0)))["ParamAngleX"] == \
            pytest.approx(10.0, abs=1e-6)
    finally:
        inp.close()
