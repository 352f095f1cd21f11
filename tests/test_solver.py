"""Solver: landmarks -> Live2D parameters, on a real face's landmarks moved by known amounts."""
import json

import numpy as np
import pytest

from runtime.drivers.solver import (CANONICAL_POINTS, IMAGE_LEFT_EYE, IMAGE_RIGHT_EYE, Calibration,
                            FaceSolver, euler_from_rotation, fit_similarity, measure,
                            rotation_from_euler)
from runtime.drivers.tracking import FaceObservation
from seethrough_core.character import InputError


@pytest.fixture(scope="module")
def landmarks(shared_data):
    from face_videos import load_photo, photo_landmarks
    return photo_landmarks(load_photo(shared_data / "faces" / "astronaut.png"))


def observe(points):
    return FaceObservation(np.asarray(points, np.float32), (512, 512))


def calibrated(points):
    solver = FaceSolver()
    solver.calibration = solver.calibration.captured(measure(observe(points)))
    return solver


def rotated(points, angle_x=0.0, angle_y=0.0, angle_z=0.0):
    r = rotation_from_euler(angle_x, angle_y, angle_z)
    centre = points.mean(0)
    return (points - centre) @ r.T + centre


def test_similarity_fit_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    r = rotation_from_euler(12.0, -7.0, 20.0)
    target = 3.5 * CANONICAL_POINTS @ r.T + np.array([10.0, -4.0, 2.0])
    scale, rotation, shift = fit_similarity(CANONICAL_POINTS, target + rng.normal(0, 1e-9, target.shape))
    assert scale == pytest.approx(3.5)
    np.testing.assert_allclose(rotation, r, atol=1e-9)
    np.testing.assert_allclose(shift, [10.0, -4.0, 2.0], atol=1e-8)


@pytest.mark.parametrize("angles", [(10, 0, 0), (0, -15, 0), (0, 0, 25), (20, 10, -8)])
def test_euler_round_trip(angles):
    np.testing.assert_allclose(euler_from_rotation(rotation_from_euler(*angles)), angles,
                               atol=1e-9)


def test_directions_follow_live2d():
    # Face normal (toward the camera, -z) turned toward +x: the face looks at the screen's right.
    normal = rotation_from_euler(20, 0, 0) @ np.array([0.0, 0.0, -1.0])
    assert normal[0] > 0
    up = rotation_from_euler(0, 20, 0) @ np.array([0.0, 0.0, -1.0])
    assert up[1] < 0                                  # y is down: the face points up
    top = rotation_from_euler(0, 0, 20) @ np.array([0.0, -1.0, 0.0])
    assert top[0] > 0                                 # the top of the head toward the right


@pytest.mark.parametrize("angles", [(15, 0, 0), (-20, 0, 0), (0, 12, 0), (0, -12, 0),
                                    (0, 0, 18), (10, -8, 5)])
def test_head_rotation_is_recovered_relative_to_the_neutral(landmarks, angles):
    solver = calibrated(landmarks)
    params = solver.solve(measure(observe(rotated(landmarks, *angles))))
    got = (params["ParamAngleX"], params["ParamAngleY"], params["ParamAngleZ"])
    np.testing.assert_allclose(got, angles, atol=0.5)
    # Without a face model of its own the body follows 30 % of the head.
    assert params["ParamBodyAngleX"] == pytest.approx(0.3 * got[0], abs=1e-6)
    assert params["ParamBodyAngleZ"] == pytest.approx(0.3 * got[2], abs=1e-6)


def test_rotation_and_scale_do_not_change_expression_readings(landmarks):
    solver = calibrated(landmarks)
    moved = rotated(landmarks, 18, -10, 12) * 0.6 + 40.0
    params = solver.solve(measure(observe(moved)))
    for pid in ("ParamEyeLOpen", "ParamEyeROpen"):
        assert params[pid] == pytest.approx(1.0)
    for pid in ("ParamMouthOpenY", "ParamBrowLY", "ParamBrowRY", "ParamEyeBallX",
                "ParamEyeBallY", "ParamMouthForm"):
        assert abs(params[pid]) < 0.05, pid


def close_eye(points, eye, amount):
    """Lids moved toward each other by ``amount`` (0..1) of their gap."""
    p = points.copy()
    for u, d in list(zip(eye.upper, eye.lower)) + [(eye.lid_top, eye.lid_bottom)]:
        mid = 0.5 * (p[u] + p[d])
        p[u] += amount * (mid - p[u])
        p[d] += amount * (mid - p[d])
    return p


def test_blinks_winks_and_linked_eyes(landmarks):
    solver = calibrated(landmarks)
    shut = close_eye(close_eye(landmarks, IMAGE_LEFT_EYE, 1.0), IMAGE_RIGHT_EYE, 1.0)
    p = solver.solve(measure(observe(shut)))
    assert p["ParamEyeLOpen"] == p["ParamEyeROpen"] == 0.0
    half = solver.solve(measure(observe(close_eye(close_eye(landmarks, IMAGE_LEFT_EYE, 0.5),
                                                  IMAGE_RIGHT_EYE, 0.6))))
    assert 0.2 < half["ParamEyeLOpen"] == half["ParamEyeROpen"] < 0.8   # linked: one value
    # A wink of the eye on the image's right: the character's LEFT eye closes.
    wink = solver.solve(measure(observe(close_eye(landmarks, IMAGE_RIGHT_EYE, 1.0))))
    assert wink["ParamEyeLOpen"] == 0.0 and wink["ParamEyeROpen"] == 1.0


def test_looking_down_is_not_read_as_a_blink(landmarks):
    solver = calibrated(landmarks)
    # Looking down 25 degrees, the lids come down by a third of their gap.
    down = close_eye(close_eye(landmarks, IMAGE_LEFT_EYE, 0.33), IMAGE_RIGHT_EYE, 0.33)
    p = solver.solve(measure(observe(rotated(down, 0, -25, 0))))
    assert p["ParamAngleY"] == pytest.approx(-25, abs=0.5)
    assert p["ParamEyeLOpen"] > 0.85
    level = solver.solve(measure(observe(down)))       # the same lids with the head level
    assert level["ParamEyeLOpen"] < p["ParamEyeLOpen"]


def test_gaze_mouth_and_brows(landmarks):
    solver = calibrated(landmarks)
    width = np.linalg.norm(landmarks[263] - landmarks[33])
    p = landmarks.copy()
    p[468:478, 0] += 0.05 * width                      # both irises toward the image's right
    p[468:478, 1] -= 0.02 * width                      # and up
    g = solver.solve(measure(observe(p)))
    assert g["ParamEyeBallX"] > 0.5 and g["ParamEyeBallY"] > 0.3
    m = landmarks.copy()
    m[14, 1] += 0.25 * width                           # lower inner lip drops
    assert solver.solve(measure(observe(m)))["ParamMouthOpenY"] > 0.5
    s = landmarks.copy()
    s[[61, 291], 1] -= 0.06 * width                    # mouth corners up
    assert solver.solve(measure(observe(s)))["ParamMouthForm"] > 0.5
    b = landmarks.copy()
    b[list(IMAGE_RIGHT_EYE.brow), 1] -= 0.05 * width   # the image-right brow raised
    brows = solver.solve(measure(observe(b)))
    assert brows["ParamBrowLY"] > 0.5 and abs(brows["ParamBrowRY"]) < 0.05


def test_parameters_stay_in_range(landmarks):
    solver = calibrated(landmarks)
    p = solver.solve(measure(observe(rotated(landmarks, 70, -60, 50))))
    assert -30 <= p["ParamAngleX"] <= 30 and -30 <= p["ParamAngleY"] <= 30
    assert -10 <= p["ParamBodyAngleX"] <= 10


def test_calibration_round_trip_and_bad_files(landmarks, tmp_path):
    cal = Calibration().captured(measure(observe(rotated(landmarks, 5, 3, 2))))
    path = tmp_path / "me.json"
    cal.save(path)
    assert Calibration.load(path) == cal
    assert json.loads(path.read_text())["neutral_rotation"] == cal.neutral_rotation
    with pytest.raises(InputError, match="no such calibration"):
        Calibration.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{\"eye_open\": 3}")
    with pytest.raises(InputError, match="calibrat"):
        Calibration.load(tmp_path / "bad.json")
    # The captured neutral reads as zero.
    solver = FaceSolver(cal)
    p = solver.solve(measure(observe(rotated(landmarks, 5, 3, 2))))
    assert max(abs(p[k]) for k in ("ParamAngleX", "ParamAngleY", "ParamAngleZ")) < 1e-6


def test_blendshapes_drive_the_expression(landmarks):
    solver = calibrated(landmarks)
    obs = observe(landmarks)
    obs.blendshapes = {"eyeBlinkLeft": 0.95, "eyeBlinkRight": 0.05, "jawOpen": 0.6,
                       "mouthSmileLeft": 0.5, "mouthSmileRight": 0.5,
                       "eyeLookOutLeft": 0.4, "eyeLookInRight": 0.4}
    p = solver.solve(measure(obs))
    assert p["ParamEyeLOpen"] == 0.0 and p["ParamEyeROpen"] == 1.0
    assert p["ParamMouthOpenY"] == pytest.approx(0.72)
    assert p["ParamMouthForm"] == pytest.approx(0.75)
    assert p["ParamEyeBallX"] == pytest.approx(0.8)
    assert p["ParamEyeLSmile"] == 0.0 and p["ParamBrowLAngle"] == 0.0

    obs.blendshapes = {"eyeSquintLeft": 0.55, "eyeSquintRight": 0.1, "browInnerUp": 0.3,
                       "browDownLeft": 0.9}
    p = solver.solve(measure(obs))
    assert p["ParamEyeLSmile"] == pytest.approx(0.8) and p["ParamEyeRSmile"] == 0.0
    assert p["ParamBrowLAngle"] == pytest.approx(-0.6)      # pulled down: angry
    assert p["ParamBrowRAngle"] == pytest.approx(0.3)       # inner end raised: worried


def test_tasks_matrix_gives_the_rotation(landmarks):
    # The Tasks matrix is in OpenGL axes (y up, z toward the viewer).
    flip = np.diag([1.0, -1.0, -1.0])
    matrix = np.eye(4)
    matrix[:3, :3] = flip @ rotation_from_euler(14, -6, 9) @ flip * 1.3   # with a scale
    obs = observe(landmarks)
    obs.matrix = matrix
    p = FaceSolver().solve(measure(obs))
    np.testing.assert_allclose([p["ParamAngleX"], p["ParamAngleY"], p["ParamAngleZ"]],
                               [14, -6, 9], atol=1e-6)


def test_a_squint_drives_the_eye_smile_and_a_tilted_brow_the_brow_angle(landmarks):
    solver = calibrated(landmarks)
    neutral = solver.solve(measure(observe(landmarks)))
    for pid in ("ParamEyeLSmile", "ParamEyeRSmile", "ParamBrowLAngle", "ParamBrowRAngle"):
        assert neutral[pid] == pytest.approx(0.0, abs=1e-6)
    points = np.array(landmarks, np.float64)
    eye = IMAGE_LEFT_EYE                       # the subject's right eye: the character's right
    corners_y = 0.5 * (points[eye.outer, 1] + points[eye.inner, 1])
    for d in eye.lower:                        # the lower lid rises most of the way up
        points[d, 1] = corners_y + 0.2 * (points[d, 1] - corners_y)
    out = solver.solve(measure(observe(points)))
    assert out["ParamEyeRSmile"] > 0.8
    assert out["ParamEyeLSmile"] == pytest.approx(0.0, abs=1e-6)

    points = np.array(landmarks, np.float64)
    width = np.linalg.norm(points[eye.outer, :2] - points[eye.inner, :2])
    points[eye.brow[-1], 1] += 0.15 * width    # the inner end pulled down: an angry brow
    out = solver.solve(measure(observe(points)))
    assert out["ParamBrowRAngle"] < -0.5
    assert out["ParamBrowLAngle"] == pytest.approx(0.0, abs=1e-6)
