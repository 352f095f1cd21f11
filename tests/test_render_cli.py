"""`seethrough-rig render` end to end: drivers, formats, transparency, the rest pose."""
import json

import av
import numpy as np
import pytest

from runtime.commands.cli import main


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def decode(path, fmt="rgba", codec=None):
    """Decoded frames; ``codec`` forces a decoder (libvpx-vp9 keeps the webm alpha layer)."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        if codec is None:
            return [f.to_ndarray(format=fmt) for f in c.decode(stream)], stream
        ctx = av.CodecContext.create(codec, "r")
        return [f.to_ndarray(format=fmt) for packet in c.demux(stream)
                for f in ctx.decode(packet)], stream


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
    frames, stream = decode(out, "rgb24")
    assert len(frames) == 30 and frames[0].shape == (256, 256, 3)
    assert stream.codec_context.name == "h264"
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
    frames, _ = decode(out, "rgba", codec)
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
                 "CurveCount": 2, "TotalSegmentCount": 2, "TotalPointCount": 4,
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
