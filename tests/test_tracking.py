"""Tracking on generated driving videos with known motion (no webcam on the build machines)."""
import numpy as np
import pytest

from face_videos import FaceTurner, covered, load_photo, photo_landmarks, transformed
from rig.params import PARAM_IDS
from runtime.drivers.idle import IdleDriver
from runtime.drivers.solver import FaceSolver, measure
from runtime.drivers.tracking import FaceTracker
from runtime.drivers.tracking_driver import LOST_BLEND_SECONDS, TrackingDriver
from seethrough_core.character import InputError

SIZE = 320
FPS = 30.0


@pytest.fixture(scope="module")
def photo(shared_data):
    return load_photo(shared_data / "faces" / "astronaut.png")


@pytest.fixture(scope="module")
def landmarks(photo):
    return photo_landmarks(photo)


@pytest.fixture(scope="module")
def centre(landmarks):
    return tuple(float(v) for v in landmarks[:, :2].mean(0))


@pytest.fixture(scope="module")
def turner(photo, landmarks):
    return FaceTurner(photo, landmarks)


def small(frame):
    import cv2
    return cv2.resize(frame, (SIZE, SIZE), interpolation=cv2.INTER_AREA)


def test_observation_layout(photo):
    with FaceTracker(with_pose=True) as tracker:
        face, pose = tracker.process(photo, 0.0)
    assert face.landmarks.shape == (478, 3) and face.landmarks.dtype == np.float32
    assert face.image_size == (512, 512)
    assert face.blendshapes is None and face.matrix is None
    xy = face.landmarks[:, :2]
    assert (xy > 0).all() and (xy < 512).all()                       # pixels
    eyes = np.linalg.norm(face.landmarks[263, :2] - face.landmarks[33, :2])
    assert 40 < eyes < 120                                           # a face about 1/4 wide
    assert face.landmarks[1, 2] < face.landmarks[234, 2]             # nose nearer than cheeks
    assert pose is not None and pose.landmarks.shape == (33, 3)
    assert pose.landmarks[12, 0] < pose.landmarks[11, 0]             # her right shoulder left


def test_roll_translation_and_scale_follow_the_known_angles(photo, centre):
    # A smooth performance: the head rolls both ways while the frame pans and zooms.
    n = 45
    rolls = 22.0 * np.sin(np.linspace(0, 2 * np.pi, n))
    shifts = np.stack([25 * np.sin(np.linspace(0, 3, n)), 15 * np.cos(np.linspace(0, 2, n))], 1)
    scales = 1.0 + 0.15 * np.sin(np.linspace(0, 4, n))
    solver = FaceSolver()
    tracked = []
    with FaceTracker() as tracker:
        for i in range(n):
            frame = transformed(photo, centre, SIZE, rolls[i], tuple(shifts[i]), scales[i])
            face, _ = tracker.process(frame, i / FPS)
            assert face is not None, f"face lost at frame {i}"
            features = measure(face)
            if i == 0:
                solver.calibration = solver.calibration.captured(features)
            tracked.append(solver.solve(features)["ParamAngleZ"])
    # Counter-clockwise on screen tips the head toward the screen's left: AngleZ = -roll.
    error = np.array(tracked) + (rolls - rolls[0])
    assert np.sqrt(np.mean(error ** 2)) <= 3.0


@pytest.mark.parametrize("axis", ["ParamAngleX", "ParamAngleY"])
def test_yaw_and_pitch_follow_in_sign_and_magnitude(turner, axis):
    truths = [0.0, 8.0, 16.0, 24.0, 16.0, 8.0, 0.0, -8.0, -16.0, -24.0, -16.0, -8.0, 0.0]
    if axis == "ParamAngleY":
        truths = [0.6 * v for v in truths]          # a head pitches less far than it turns
    solver = FaceSolver()
    got = []
    with FaceTracker() as tracker:
        for i, truth in enumerate(truths):
            ax, ay = (truth, 0.0) if axis == "ParamAngleX" else (0.0, truth)
            face, _ = tracker.process(small(turner.render(ax, ay)), i / FPS)
            assert face is not None
            features = measure(face)
            if i == 0:
                solver.calibration = solver.calibration.captured(features)
            got.append(solver.solve(features)[axis])
    truths, got = np.array(truths), np.array(got)
    moving = np.abs(truths) >= 8
    assert (np.sign(got[moving]) == np.sign(truths[moving])).all()
    gain = np.polyfit(truths, got, 1)[0]              # tracked degrees per true degree
    assert 0.4 < gain < 1.5
    assert np.corrcoef(truths, got)[0, 1] > 0.95


def test_mirror_flips_left_and_right(turner):
    frame = small(turner.render(20.0, 0.0))
    values = {}
    for mirror in (False, True):
        with TrackingDriver(mirror=mirror) as driver:
            # The filter glides from the idle pose on screen to the face: give it a second.
            values[mirror] = [driver.update(frame, k / FPS) for k in range(30)][-1]
            assert driver.face_found
    assert values[False]["ParamAngleX"] > 5.0
    assert values[True]["ParamAngleX"] < -5.0


def test_lost_face_eases_to_idle_and_tracking_resumes(photo, centre):
    idle = IdleDriver(seed=3)
    face_frames = 20
    lost_frames = int(0.8 * FPS)
    frames = ([transformed(photo, centre, SIZE, 15.0)] * face_frames
              + [covered(transformed(photo, centre, SIZE, 15.0))] * lost_frames
              + [transformed(photo, centre, SIZE, 15.0)] * 30)
    out, found = [], []
    with TrackingDriver(idle=idle) as driver:
        for i, frame in enumerate(frames):
            out.append(driver.update(frame, i / FPS))
            found.append(driver.face_found)
            assert set(out[-1]) == set(PARAM_IDS)
            assert set(driver.timings) == {"track_ms", "solve_ms"}
            assert driver.timings["track_ms"] > 0
    assert all(found[:face_frames]) and not any(found[face_frames:face_frames + lost_frames])
    assert all(found[face_frames + lost_frames + 2:])      # resumes on its own
    tracked_z = out[face_frames - 1]["ParamAngleZ"]
    assert tracked_z < -8.0                                 # rolled 15 deg counter-clockwise
    first_lost = face_frames
    for k in range(first_lost, first_lost + lost_frames):
        t = k / FPS
        gap = abs(out[k]["ParamAngleZ"] - idle.sample(t)["ParamAngleZ"])
        if t - first_lost / FPS >= LOST_BLEND_SECONDS:      # fully back to idle after 0.5 s
            for pid, value in idle.sample(t).items():
                assert out[k][pid] == pytest.approx(value), pid
        elif k > first_lost:                                # and easing toward it before
            assert gap <= abs(out[k - 1]["ParamAngleZ"] - idle.sample((k - 1) / FPS)["ParamAngleZ"]) + 1e-9
    back = [o["ParamAngleZ"] for o in out[face_frames + lost_frames:]]
    assert abs(back[-1] - tracked_z) < 1.0                  # back on the tracked pose
    steps = np.abs(np.diff([o["ParamAngleZ"] for o in out]))
    assert steps.max() < 6.0                                # no jumps at loss or return


def test_calibrate_zeroes_the_next_face(photo, centre):
    frame = transformed(photo, centre, SIZE, 10.0)
    with TrackingDriver() as driver:
        before = [driver.update(frame, k / FPS) for k in range(30)][-1]
        driver.calibrate()
        driver.update(frame, 30 / FPS)
        assert driver.calibration.neutral_rotation != np.eye(3).tolist()
        after = [driver.update(frame, k / FPS) for k in range(31, 70)][-1]
    assert before["ParamAngleZ"] < -5.0
    assert abs(after["ParamAngleZ"]) < 1.0
    assert after["ParamEyeLOpen"] == pytest.approx(1.0, abs=0.05)


def test_face_model_errors_are_one_line(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        FaceTracker(face_model=tmp_path / "missing.task")
    bad = tmp_path / "face_landmarker.task"
    bad.write_bytes(b"this is not a model")
    with pytest.raises(InputError, match="not a MediaPipe FaceLandmarker"):
        FaceTracker(face_model=bad)
