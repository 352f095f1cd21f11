"""`seethrough-rig render CHAR.rig --driver VIDEO`: every frame tracked and rendered, audio kept."""
import json

import av
import numpy as np
import pytest

from cli_helpers import run_cli as run
from face_videos import covered, load_photo, photo_landmarks, transformed, write_video
from rig.params import PARAM_IDS

SIZE = 320
FPS = 15
COVERED = range(12, 16)


@pytest.fixture(scope="module")
def frames(shared_data):
    photo = load_photo(shared_data / "faces" / "astronaut.png")
    centre = tuple(photo_landmarks(photo)[:, :2].mean(0))
    out = []
    for i in range(30):                      # 2 s: the head rolls, a hand covers it briefly
        frame = transformed(photo, centre, SIZE, roll=15.0 * np.sin(i / 5.0))
        out.append(covered(frame) if i in COVERED else frame)
    return out


@pytest.fixture(scope="module")
def video_with_audio(frames, tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("in") / "performance.mp4", frames, FPS,
                       tone_hz=440.0)


@pytest.fixture(scope="module")
def silent_video(frames, tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("in") / "silent.mp4", frames[:10], FPS)




def probe(path):
    with av.open(str(path)) as c:
        video = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video)]
        rate = video.average_rate
    with av.open(str(path)) as c:
        audio = c.streams.audio[0] if c.streams.audio else None
        samples = sum(f.samples for f in c.decode(audio)) if audio else 0
        audio_rate = audio.sample_rate if audio else None
    return frames, rate, samples, audio_rate


def test_every_frame_rendered_with_audio_and_a_log(rig_path, video_with_audio, frames, tmp_path,
                                                   capsys):
    out, log = tmp_path / "puppet.mp4", tmp_path / "params.jsonl"
    code, stdout, err = run(["render", str(rig_path), "--driver", str(video_with_audio),
                             "-o", str(out), "--size", "128x128", "--log-params", str(log),
                             "--quiet"], capsys)
    assert code == 0, err
    rendered, rate, samples, audio_rate = probe(out)
    assert len(rendered) == len(frames)                     # no dropped frames
    assert rate == FPS
    assert rendered[0].shape == (128, 128, 3)
    assert audio_rate == 48000
    assert abs(samples / audio_rate - len(frames) / FPS) < 0.05   # the tone, the whole length
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(len(frames)))
    for r in lines:
        assert set(r) == {"frame", "t", "params", "face_found", "track_ms", "solve_ms",
                          "render_ms", "frame_ms", "physics"}
        assert set(r["params"]) == set(PARAM_IDS)
        # The hair chains' own swing, as Live2D physics would output it.
        assert set(r["physics"]) == {"ParamHairFront", "ParamHairSide", "ParamHairBack"}
        assert all(-1.0 <= v <= 1.0 for v in r["physics"].values())
        assert r["t"] == pytest.approx(r["frame"] / FPS, abs=1e-6)
        assert r["frame_ms"] >= r["render_ms"] >= 0 and r["track_ms"] > 0
    assert [r["face_found"] for r in lines] == [i not in COVERED for i in range(len(frames))]
    # The tracked roll follows the performance (AngleZ = -roll): rolled one way, then the other.
    z = np.array([r["params"]["ParamAngleZ"] for r in lines])
    assert z[6:12].mean() < -5.0          # rolled 11-15 deg counter-clockwise
    assert z[25:].mean() > 3.0            # rolled 7-11 deg clockwise
    # The puppet moved.
    assert np.abs(rendered[0].astype(int) - rendered[8].astype(int)).mean() > 0.5
    assert not list(tmp_path.glob(".*part"))


def test_side_by_side_puts_the_input_left(rig_path, silent_video, frames, tmp_path, capsys):
    import cv2

    out = tmp_path / "sbs.mp4"
    code, _, err = run(["render", str(rig_path), "--driver", str(silent_video), "-o", str(out),
                        "--size", "96x128", "--side-by-side", "--quiet"], capsys)
    assert code == 0, err
    rendered, rate, samples, _ = probe(out)
    assert len(rendered) == 10 and samples == 0               # no audio in, none out
    assert rendered[0].shape == (128, 128 + 96, 3)            # 320x320 input scaled to 128
    panel = rendered[3][:, :128].astype(np.float64)
    expected = cv2.resize(frames[3], (128, 128), interpolation=cv2.INTER_AREA).astype(np.float64)
    assert np.abs(panel - expected).mean() < 6.0
    puppet = rendered[3][:, 128:].astype(np.float64)
    assert np.abs(puppet - expected[:, :96]).mean() > 20.0   # the right side is the puppet


def test_audio_dropped_with_a_warning_for_formats_without_it(rig_path, video_with_audio,
                                                            tmp_path, capsys):
    out = tmp_path / "frames"
    code, _, err = run(["render", str(rig_path), "--driver", str(video_with_audio), "-o",
                        str(out), "--size", "64x64", "--quiet"], capsys)
    assert code == 0
    assert "cannot carry audio" in err
    assert len(list(out.glob("frame_*.png"))) == 30


@pytest.mark.parametrize("extra, message", [
    (["--fps", "24"], "video's frame rate"),
    (["--face-model", "nowhere.task"], "no such file"),
])
def test_bad_driven_options(rig_path, silent_video, tmp_path, capsys, extra, message):
    out = tmp_path / "x.mp4"
    code, _, err = run(["render", str(rig_path), "--driver", str(silent_video), "-o", str(out),
                        "--quiet", *extra], capsys)
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.iterdir())


def test_bad_driver_inputs(rig_path, tmp_path, capsys):
    out = tmp_path / "x.mp4"
    code, _, err = run(["render", str(rig_path), "--driver", str(tmp_path / "none.mp4"), "-o",
                        str(out)], capsys)
    assert code == 2 and "no such file" in err
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    code, _, err = run(["render", str(rig_path), "--driver", str(junk), "-o", str(out)], capsys)
    assert code == 2 and "not a readable video" in err
    code, _, err = run(["render", str(rig_path), "--idle", "1", "--side-by-side", "-o",
                        str(out)], capsys)
    assert code == 2 and "--side-by-side" in err and "--driver" in err
    assert not out.exists()


def test_a_video_without_a_face_says_so_and_writes_nothing(rig_path, tmp_path, capsys):
    from face_videos import write_video
    yy, xx = np.mgrid[0:120, 0:160]
    frames = [np.stack([(xx + 7 * i) % 256, yy * 2, np.full_like(xx, 90)], -1).astype(np.uint8)
              for i in range(8)]
    video = write_video(tmp_path / "empty_room.mp4", frames, 10)
    out = tmp_path / "puppet.mp4"
    code, _, err = run(["render", str(rig_path), "--driver", str(video), "-o", str(out),
                        "--quiet"], capsys)
    assert code == 2 and "no face found in any of its 8 frames" in err
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty_room.mp4"]
