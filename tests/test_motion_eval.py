"""Motion evaluation (eval-motion) and pose sheets: the measures on known answers, the command
end to end."""
from __future__ import annotations

import json

import numpy as np
import pytest

from runtime.sessions import motion_eval as me
from runtime.commands.cli import main


def _rgba(mask: np.ndarray, colour=(0.5, 0.4, 0.3)) -> np.ndarray:
    out = np.zeros(mask.shape + (4,), np.float32)
    out[mask, :3] = colour
    out[mask, 3] = 1.0
    return out


def test_cracks_are_the_gaps_a_5px_closing_fills():
    m = np.zeros((60, 60), bool)
    m[10:50, 10:29] = True
    m[10:50, 31:50] = True                  # a 2 px crack between two halves
    cracks = me.crack_pixels(_rgba(m))
    assert cracks[10:50, 29:31].sum() >= 0.9 * 80
    assert not cracks[:, :28].any() and not cracks[:, 32:].any()
    whole = m.copy()
    whole[10:50, 29:31] = True
    assert not me.crack_pixels(_rgba(whole)).any()
    # New cracks are counted against the face box's area, beyond those at rest.
    assert me.new_share(cracks, np.zeros_like(cracks), 400.0) == pytest.approx(cracks.sum() / 400)
    assert me.new_share(cracks, cracks, 400.0) == 0.0


def test_holes_are_enclosed_background_of_any_size():
    m = np.zeros((60, 60), bool)
    m[5:55, 5:55] = True
    m[20:40, 20:40] = False
    holes = me.hole_pixels(_rgba(m))
    assert holes.sum() == 400 and not me.crack_pixels(_rgba(m))[25:35, 25:35].any()


def test_head_crop_is_a_square_16x_the_face_centred_on_it():
    x0, y0, x1, y1 = me.head_crop_box((100, 50, 200, 175))
    assert x1 - x0 == y1 - y0 == 200
    assert (x0 + x1) / 2 == pytest.approx(150, abs=1) and (y0 + y1) / 2 == pytest.approx(112.5, abs=1)
    img = np.ones((10, 10, 4), np.float32)
    out = me.crop(img, (-5, -5, 5, 5))
    assert out.shape == (10, 10, 4) and out[:5].sum() == 0 and out[5:, 5:].min() == 1


def test_closed_eye_check_counts_unchanged_and_skin_pixels():
    skin = np.array([0.9, 0.8, 0.7], np.float32)
    rest = _rgba(np.ones((4, 4), bool), colour=(0.2, 0.3, 0.6))        # an iris
    closed = rest.copy()
    closed[:2, :, :3] = skin                                             # half covered by skin
    iris = np.ones((4, 4), bool)
    check = me.eye_check(rest, closed, iris, skin)
    assert check["iris_pixels"] == 16
    assert check["iris_unchanged"] == pytest.approx(0.5)
    assert check["iris_skin"] == pytest.approx(0.5)
    assert me.eye_check(rest, closed, np.zeros_like(iris), skin)["iris_unchanged"] is None


def test_psnr_known_answers():
    a = np.zeros((4, 4, 3), np.float32)
    assert me.psnr(a, a) == 99.0
    assert me.psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-3)


def test_pose_sheet_lays_out_every_pose_labelled():
    frames = {p.name: _rgba(np.ones((40, 40), bool)) for p in me.SHEET_POSES}
    one = me.pose_sheet([("", frames)], me.SHEET_POSES, (10, 10, 30, 30), cell=64)
    assert one.shape == (3 * (64 + 28), 3 * 64, 3)          # 9 poses: a 3 x 3 grid
    two = me.pose_sheet([("a", frames), ("b", frames)], me.SHEET_POSES, (10, 10, 30, 30), cell=64)
    assert two.shape == (2 * (64 + 28), 150 + 9 * 64, 3)
    assert (one[64:64 + 28, :64] < 60).any()                 # a label was written


@pytest.fixture(scope="module")
def example_psd(tmp_path_factory):
    from examples.character import draw_example_character
    from seethrough_core.psd_write import write_psd
    path = tmp_path_factory.mktemp("motion") / "example.psd"
    write_psd(draw_example_character(size=512), path, sidecars=False)
    return path


def test_eval_motion_on_a_layered_file(example_psd, tmp_path, capsys):
    sheet = tmp_path / "sheet.png"
    assert main(["eval-motion", str(example_psd), "--json", "--quiet", "--sheet", str(sheet)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["poses"]) == {p.name for p in me.EVAL_POSES}
    for name in me.MOVING:
        pose = report["poses"][name]
        assert pose["psnr"] > pose["static_psnr"]             # it moves like the true puppet
        assert pose["face_travel"] >= 0.05                    # and moves honestly
    closed = report["poses"]["eyes_closed"]
    assert closed["iris_unchanged"] <= 0.25 and closed["iris_skin"] >= 0.45
    assert report["summary"]["max_cracks"] <= 0.006
    assert report["summary"]["rest_head_psnr"] >= 38
    assert report["summary"]["hair_layers"] >= 1 and report["summary"]["hair_chains"] >= 2
    assert isinstance(report["targets"], dict) and "max_cracks" in report["targets"]
    import cv2
    img = cv2.imread(str(sheet))
    assert img is not None and img.shape[1] == 150 + 9 * me.SHEET_CELL


def test_eval_motion_bad_input_is_one_line(tmp_path, capsys):
    assert main(["eval-motion", str(tmp_path / "missing.psd")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["eval-motion", str(tmp_path / "x.psd"), "--sheet", str(tmp_path / "s.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ".png" in err


def test_render_pose_sheet(rig_path, tmp_path, capsys):
    out = tmp_path / "sheet.png"
    assert main(["render", str(rig_path), "--pose-sheet", str(out), "--quiet"]) == 0
    import cv2
    img = cv2.imread(str(out))
    assert img.shape == (3 * (me.SHEET_CELL + 28), 3 * me.SHEET_CELL, 3)
    assert main(["render", str(rig_path), "--pose-sheet", str(out), "-o", "x.mp4"]) == 2
    assert main(["render", str(rig_path), "--pose-sheet", str(tmp_path / "nope" / "s.png")]) == 2
    capsys.readouterr()
    assert main(["render", str(rig_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing to render" in err
