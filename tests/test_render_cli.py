"""`seethrough-rig render` end to end: drivers, formats, transparency, the rest pose."""
import json

import numpy as np
import pytest

from cli_helpers import fake_tracking_driver
from cli_helpers import run_cli as run
from video_files import decode


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def premultiplied(rgba):
    a = rgba[..., 3:4].astype(np.float64) / 255
    return np.concatenate([rgba[..., :3] * a, rgba[..., 3:4]], axis=-1)


def test_rest_render_reproduces_the_example_character(rig_path, example_character, tmp_path, capsys):
    out = tmp_path / "rest.png"
    w, h = example_character.size
    code, _, err = run(["render", str(rig_path), "--rest", "-o", str(out), "--margin", "0",
                        "--quiet"], capsys)
    assert code == 0, err
    import cv2
    img = cv2.cvtColor(cv2.imread(str(out), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
    assert img.shape == (h, w, 4)
    ref = example_character.rest_composite()
    assert psnr(premultiplied(img), premultiplied(ref)) >= 35.0


def test_idle_mp4_has_the_right_frames_and_moves(rig_path, tmp_path, capsys):
    out = tmp_path / "idle.mp4"
    code, stdout, err = run(["render", str(rig_path), "--idle", "2", "-o", str(out),
                             "--size", "256x256", "--fps", "15", "--quiet"], capsys)
    assert code == 0, err
    frames, stream = decode(out, fmt="rgb24")
    assert len(frames) == 30 and frames[0].shape == (256, 256, 3)
    assert stream.codec == "h264"
    # The idle is alive: frames differ, but the background stays white.
    assert max(np.abs(f.astype(int) - frames[0]).max() for f in frames[1:]) > 30
    assert frames[0][2, 2].min() > 240


@pytest.mark.parametrize("ext, codec", [(".webm", "libvpx-vp9"), (".mov", None)])
def test_transparent_video_really_carries_alpha(rig_path, tmp_path, capsys, ext, codec):
    out = tmp_path / f"clip{ext}"
    code, _, err = run(["render", str(rig_path), "--idle", "0.4", "-o", str(out),
                        "--size", "192x192", "--fps", "10", "--background", "transparent",
                        "--quiet"], capsys)
    assert code == 0, err
    frames, _ = decode(out, codec)
    assert len(frames) == 4
    alpha = frames[0][..., 3]
    assert alpha[2, 2] < 8 and alpha[96, 96] > 247


def test_png_sequence_and_gif(rig_path, tmp_path, capsys):
    folder = tmp_path / "frames"
    code, _, err = run(["render", str(rig_path), "--idle", "0.5", "-o", str(folder),
                        "--size", "128x160", "--fps", "10", "--quiet"], capsys)
    assert code == 0, err
    pngs = sorted(folder.glob("*.png"))
    assert len(pngs) == 5
    import cv2
    img = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)
    assert img.shape == (160, 128, 4) and img[0, 0, 3] == 0 and img[80, 64, 3] == 255
    gif = tmp_path / "clip.gif"
    code, _, err = run(["render", str(rig_path), "--idle", "0.5", "-o", str(gif),
                        "--size", "128x128", "--fps", "10", "--quiet"], capsys)
    assert code == 0, err
    from PIL import Image
    with Image.open(gif) as im:
        assert im.n_frames >= 2 and im.size == (128, 128)


def test_motion3_drives_the_rig_and_unknown_ids_are_listed(rig_path, tmp_path, capsys):
    motion = {
        "Version": 3,
        "Meta": {"Duration": 1.0, "Fps": 10.0, "Loop": False, "AreBeziersRestricted": True,
                 "FadeInTime": 0.0, "FadeOutTime": 0.0, "CurveCount": 2, "TotalSegmentCount": 2, "TotalPointCount": 4,
                 "UserDataCount": 0, "TotalUserDataSize": 0},
        "Curves": [
            {"Target": "Parameter", "Id": "ParamAngleX", "Segments": [0, 0, 0, 1.0, 30]},
            {"Target": "Parameter", "Id": "ParamTentacles", "Segments": [0, 0, 0, 1.0, 1]},
        ],
    }
    path = tmp_path / "turn.motion3.json"
    path.write_text(json.dumps(motion))
    out = tmp_path / "turn"
    code, _, err = run(["render", str(rig_path), "--motion", str(path), "-o", str(out),
                        "--size", "160x160", "--fps", "10", "--quiet"], capsys)
    assert code == 0, err
    assert "ParamTentacles" in err
    import cv2
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 10
    first = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)[..., 3].astype(float)
    last = cv2.imread(str(pngs[-1]), cv2.IMREAD_UNCHANGED)[..., 3].astype(float)
    head = slice(0, 80)  # the upper half holds the head: it turned toward the screen's right
    xs = np.arange(160)
    cx_first = (first[head] * xs).sum() / first[head].sum()
    cx_last = (last[head] * xs).sum() / last[head].sum()
    assert cx_last > cx_first + 0.5


@pytest.mark.parametrize("args, needle", [
    (["--rest", "-o", "x.mp4", "--background", "transparent"], "cannot carry transparency"),
    (["--idle", "-3", "-o", "x.mp4"], "--idle"),
    (["--rest", "-o", "x.mp4", "--size", "big"], "--size"),
    (["--rest", "-o", "x.xyz"], "cannot write"),
    (["--motion", "missing.json", "-o", "x.mp4"], "missing.json"),
])
def test_bad_render_requests_are_one_line_errors(rig_path, tmp_path, capsys, args, needle,
                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["render", str(rig_path), "--quiet", *args], capsys)
    assert code == 2 and needle in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_every_example_motion_loads_and_drives_the_rig(example_rig):
    from pathlib import Path

    from rig.params import PARAM_IDS
    from runtime.drivers.motion import load_motion
    folder = Path(__file__).resolve().parents[1] / "examples" / "motions"
    files = sorted(p for p in folder.iterdir() if p.name.endswith(".json"))
    assert len(files) >= 2
    for path in files:
        motion = load_motion(path, known_ids=PARAM_IDS)
        assert motion.duration > 0 and not motion.unknown_ids, path.name
        example_rig.reset()
        rest = example_rig.pose({}, 0).vertices.copy()
        moved = 0.0
        for i in range(int(motion.duration * 30)):
            pose = example_rig.pose(motion.sample(i / 30), 1 / 30)
            assert np.isfinite(pose.vertices).all()
            moved = max(moved, float(np.abs(pose.vertices - rest).max()))
        assert moved > 5.0, path.name


# ------------------------------------------------- motions as the Cubism SDK plays them

def motion3_doc(curves, duration=1.0, fps=10.0, user_data=(), **meta):
    """A motion3.json with the Meta counts Cubism writes (linear and constant curves here)."""
    segments = sum((len(c["Segments"]) - 2) // 3 for c in curves)
    return {"Version": 3,
            "Meta": {"Duration": duration, "Fps": fps, "Loop": False,
                     # No fades unless a test asks (without them the SDK fades over 1 s).
                     "FadeInTime": 0.0, "FadeOutTime": 0.0,
                     "AreBeziersRestricted": False, "CurveCount": len(curves),
                     "TotalSegmentCount": segments, "TotalPointCount": len(curves) + segments,
                     "UserDataCount": len(user_data),
                     "TotalUserDataSize": sum(len(u["Value"]) + 1 for u in user_data), **meta},
            "Curves": list(curves), "UserData": list(user_data)}


def curve(pid, segments, target="Parameter"):
    return {"Target": target, "Id": pid, "Segments": segments}


def render_logged(rig_path, tmp_path, capsys, doc, *extra, out="frames"):
    """Render a motion into a PNG folder with --log-params; (code, stderr, log records)."""
    path = tmp_path / "m.motion3.json"
    path.write_text(json.dumps(doc))
    log = tmp_path / "params.jsonl"
    code, _, err = run(["render", str(rig_path), "--motion", str(path), "-o",
                        str(tmp_path / out), "--size", "64x64", "--quality", "draft",
                        "--log-params", str(log), "--quiet", *extra], capsys)
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return code, err, records


def sine_ease(x):
    return 0.5 - 0.5 * np.cos(np.pi * min(max(x, 0.0), 1.0))


def test_a_motion_fades_in_from_rest_at_its_own_frame_rate(rig_path, tmp_path, capsys):
    # Posed at AngleX 20 from the first key, fading in over 0.5 s; Meta.Fps 10, no --fps.
    doc = motion3_doc([curve("ParamAngleX", [0, 20])], duration=1.0, fps=10.0, FadeInTime=0.5)
    code, err, log = render_logged(rig_path, tmp_path, capsys, doc)
    assert code == 0, err
    assert len(sorted((tmp_path / "frames").glob("*.png"))) == 10      # 1 s at Meta.Fps 10
    assert [r["t"] for r in log] == pytest.approx([i / 10 for i in range(10)])
    got = [r["params"]["ParamAngleX"] for r in log]
    # e(t / 0.5): 0, e(0.2) = 0.0954915, e(0.4) = 0.3454915, ... then 1 from t = 0.5.
    expected = [20 * sine_ease(i / 10 / 0.5) for i in range(10)]
    assert got == pytest.approx(expected, abs=1e-9)
    assert got[0] == 0.0 and got[1] == pytest.approx(1.909830056, abs=1e-6)
    assert got[5:] == pytest.approx([20.0] * 5)


def test_meta_fps_is_the_default_rate_and_is_kept_in_range(rig_path, tmp_path, capsys):
    path = tmp_path / "m.motion3.json"
    path.write_text(json.dumps(motion3_doc([curve("ParamAngleX", [0, 0, 0, 0.5, 10])],
                                           duration=0.5, fps=12.0)))
    out = tmp_path / "m.mp4"
    code, stdout, err = run(["render", str(rig_path), "--motion", str(path), "-o", str(out),
                             "--size", "64x64", "--quality", "draft"], capsys)
    assert code == 0, err
    frames, stream = decode(out, fmt="rgb24")
    assert len(frames) == 6 and stream.rate == 12 and "12 fps" in stdout
    code, _, err = run(["render", str(rig_path), "--motion", str(path), "-o", str(out),
                        "--size", "64x64", "--quality", "draft", "--fps", "10", "--quiet"],
                       capsys)
    assert code == 0, err
    frames, stream = decode(out, fmt="rgb24")
    assert len(frames) == 5 and stream.rate == 10          # --fps wins
    path.write_text(json.dumps(motion3_doc([curve("ParamAngleX", [0, 0, 0, 0.5, 10])],
                                           duration=0.025, fps=1000.0)))
    code, _, err = run(["render", str(rig_path), "--motion", str(path), "-o",
                        str(tmp_path / "fast"), "--size", "64x64", "--quality", "draft",
                        "--quiet"], capsys)
    assert code == 0, err
    assert len(list((tmp_path / "fast").glob("*.png"))) == 6      # 0.025 s at 240 fps
    assert "frame rate 1000 fps is outside 1..240; rendering at 240 fps" in err


def test_motion_events_are_printed_once_and_logged_on_their_frame(rig_path, tmp_path, capsys):
    events = [{"Time": 0.0, "Value": "start"}, {"Time": 0.25, "Value": "wave"},
              {"Time": 0.3, "Value": "nod"}, {"Time": 0.5, "Value": "end"}]
    doc = motion3_doc([curve("ParamAngleX", [0, 0, 0, 0.5, 10])], duration=0.5,
                      user_data=events)
    code, err, log = render_logged(rig_path, tmp_path, capsys, doc)
    assert code == 0, err
    lines = [line for line in err.splitlines() if "motion event" in line]
    assert lines == ["seethrough-rig: motion event at 0.00 s: start",
                     "seethrough-rig: motion event at 0.25 s: wave",
                     "seethrough-rig: motion event at 0.30 s: nod",
                     "seethrough-rig: motion event at 0.50 s: end"]
    # Frame i shows [i/10, (i+1)/10); the last frame also takes the end of the motion.
    assert [r["events"] for r in log] == [["start"], [], ["wave"], ["nod"], ["end"]]


def test_out_of_range_values_are_reported_once_per_parameter(rig_path, tmp_path, capsys):
    doc = motion3_doc([curve("ParamAngleX", [0, 0, 0, 1.0, 45]),
                       curve("ParamEyeLOpen", [0, -0.5])], duration=1.0)
    code, err, log = render_logged(rig_path, tmp_path, capsys, doc)
    assert code == 0, err
    warned = [line for line in err.splitlines() if "outside its range" in line]
    assert warned == [
        "seethrough-rig: warning: ParamAngleX reached 40.5 (at 0.90 s), outside its range "
        "-30..30; the rig clamped it",
        "seethrough-rig: warning: ParamEyeLOpen reached -0.5 (at 0.00 s), outside its range "
        "0..1; the rig clamped it"]
    assert log[9]["params"]["ParamAngleX"] == 30.0 and log[3]["params"]["ParamAngleX"] == 13.5
    assert log[0]["params"]["ParamEyeLOpen"] == 0.0


def test_cubism2_ids_drive_the_rig_with_one_warning(rig_path, tmp_path, capsys):
    doc = motion3_doc([curve("PARAM_ANGLE_X", [0, 12]), curve("PARAM_TERE", [0, 0.5])])
    code, err, log = render_logged(rig_path, tmp_path, capsys, doc)
    assert code == 0, err
    mapped = [line for line in err.splitlines() if "Cubism 2" in line]
    assert len(mapped) == 1
    assert "PARAM_ANGLE_X -> ParamAngleX, PARAM_TERE -> ParamCheek" in mapped[0]
    assert log[4]["params"]["ParamAngleX"] == 12.0 and log[4]["params"]["ParamCheek"] == 0.5


def test_a_motion_that_drives_nothing_exits_2_and_writes_nothing(rig_path, tmp_path, capsys):
    doc = motion3_doc([curve("ParamTentacles", [0, 1]),
                       curve("PartArm", [0, 1], target="PartOpacity")])
    code, err, log = render_logged(rig_path, tmp_path, capsys, doc, out="still.mp4")
    assert code == 2 and "Traceback" not in err
    assert "m.motion3.json: drives no parameter" in err and "ParamTentacles, PartArm" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.motion3.json"]


def test_eye_blink_and_lip_sync_curves_with_and_without_a_model3(rig_path, tmp_path, capsys):
    doc = motion3_doc([curve("ParamMouthOpenY", [0, 0.25]), curve("EyeBlink", [0, 0.25], "Model"),
                       curve("LipSync", [0, 0.5], "Model")])
    code, err, log = render_logged(rig_path, tmp_path, capsys, doc)
    assert code == 0, err
    p = log[2]["params"]
    # Default groups: both eyes set to the blink, the mouth curve plus the lip sync.
    assert (p["ParamEyeLOpen"], p["ParamEyeROpen"], p["ParamMouthOpenY"]) == (0.25, 0.25, 0.75)
    model3 = tmp_path / "char.model3.json"
    model3.write_text(json.dumps({"Version": 3, "Groups": [
        {"Target": "Parameter", "Name": "EyeBlink", "Ids": ["ParamEyeLOpen"]},
        {"Target": "Parameter", "Name": "LipSync", "Ids": ["ParamMouthForm"]}]}))
    code, err, log = render_logged(rig_path, tmp_path, capsys, doc, "--model3", str(model3))
    assert code == 0, err
    p = log[2]["params"]
    assert (p["ParamEyeLOpen"], p["ParamEyeROpen"]) == (0.25, 1.0)
    assert (p["ParamMouthOpenY"], p["ParamMouthForm"]) == (0.25, 0.5)
    code, _, err = run(["render", str(rig_path), "--rest", "-o", str(tmp_path / "r.png"),
                        "--model3", str(model3)], capsys)
    assert code == 2 and "--model3: only with --motion" in err


# -------------------------------------------------------------------------- expressions

def write_exp3(tmp_path, name, params, **fades):
    path = tmp_path / f"{name}.exp3.json"
    path.write_text(json.dumps({"Type": "Live2D Expression", **fades, "Parameters": params}))
    return path


def test_an_expression_changes_the_rest_pose_render(rig_path, tmp_path, capsys):
    smile = write_exp3(tmp_path, "smile", [{"Id": "ParamMouthOpenY", "Value": 1,
                                            "Blend": "Overwrite"},
                                           {"Id": "ParamAngleX", "Value": 10}],
                       FadeInTime=2.0)
    plain, posed, log = tmp_path / "rest.png", tmp_path / "smile.png", tmp_path / "p.jsonl"
    code, _, err = run(["render", str(rig_path), "--rest", "-o", str(plain), "--size",
                        "128x128", "--quiet"], capsys)
    assert code == 0, err
    code, _, err = run(["render", str(rig_path), "--rest", "-o", str(posed), "--size",
                        "128x128", "--expression", str(smile), "--log-params", str(log),
                        "--quiet"], capsys)
    assert code == 0, err
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    # Full weight on the first frame, whatever the file's FadeInTime.
    assert record["params"]["ParamMouthOpenY"] == 1.0 and record["params"]["ParamAngleX"] == 10.0
    import cv2
    a = cv2.imread(str(plain), cv2.IMREAD_UNCHANGED).astype(int)
    b = cv2.imread(str(posed), cv2.IMREAD_UNCHANGED).astype(int)
    assert np.abs(a - b).max() > 100


def test_expressions_go_over_a_motion_and_the_idle_in_order(rig_path, tmp_path, capsys):
    plus = write_exp3(tmp_path, "plus", [{"Id": "ParamAngleX", "Value": 5}])
    double = write_exp3(tmp_path, "double", [{"Id": "ParamAngleX", "Value": 2,
                                              "Blend": "Multiply"}])
    doc = motion3_doc([curve("ParamAngleX", [0, 0, 0, 1.0, 10])])
    code, err, log = render_logged(rig_path, tmp_path, capsys, doc, "--expression", str(plus),
                                   "--expression", str(double))
    assert code == 0, err
    # (t * 10 + 5) * 2 at t = 0.4: 18.
    assert log[4]["params"]["ParamAngleX"] == pytest.approx(18.0)
    from runtime.drivers.idle import IdleDriver
    log_path = tmp_path / "idle.jsonl"
    code, _, err = run(["render", str(rig_path), "--idle", "0.3", "-o", str(tmp_path / "idle"),
                        "--size", "64x64", "--quality", "draft", "--fps", "10",
                        "--expression", str(plus), "--log-params", str(log_path), "--quiet"],
                       capsys)
    assert code == 0, err
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    idle = IdleDriver(seed=0)
    for r in records:
        assert r["params"]["ParamAngleX"] == pytest.approx(idle.sample(r["t"])["ParamAngleX"] + 5)


def test_an_expression_over_a_driver_video(rig_path, tmp_path, capsys, monkeypatch):
    import av

    fake_tracking_driver(monkeypatch, {"ParamAngleX": 5.0, "ParamMouthOpenY": 0.2})
    video = tmp_path / "face.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(4):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 128, np.uint8), "rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    wide = write_exp3(tmp_path, "wide", [{"Id": "ParamMouthOpenY", "Value": 3,
                                          "Blend": "Multiply"}])
    log = tmp_path / "p.jsonl"
    code, _, err = run(["render", str(rig_path), "--driver", str(video), "-o",
                        str(tmp_path / "out"), "--size", "64x64", "--quality", "draft",
                        "--expression", str(wide), "--log-params", str(log), "--quiet"], capsys)
    assert code == 0, err
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 4
    assert all(r["params"]["ParamMouthOpenY"] == pytest.approx(0.6) for r in records)
    assert all(r["params"]["ParamAngleX"] == 5.0 for r in records)


@pytest.mark.parametrize("args, needle", [
    (["--rest", "-o", "x.png", "--expression", "missing.exp3.json"], "missing.exp3.json"),
    (["--rest", "-o", "x.png", "--expression", "bad.exp3.json"], "unknown Blend"),
    (["--pose-sheet", "s.png", "--expression", "bad.exp3.json"], "--expression"),
    (["--rest", "-o", "x.png", "--log-params", "x.png"], "different file"),
    (["--rest", "-o", "x.png", "--fps", "500"], "between 1 and 240"),
])
def test_bad_expression_requests_are_one_line_errors(rig_path, tmp_path, capsys, monkeypatch,
                                                     args, needle):
    monkeypatch.chdir(tmp_path)
    write_exp3(tmp_path, "bad", [{"Id": "ParamCheek", "Value": 1, "Blend": "Lighten"}])
    code, _, err = run(["render", str(rig_path), "--quiet", *args], capsys)
    assert code == 2 and needle in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.exp3.json"]
