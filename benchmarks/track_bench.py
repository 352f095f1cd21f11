"""Tracking benchmark: per-frame cost of MediaPipe against everything we add on top.

``benchmark_tracking(video)`` runs the tracking driver over every frame of a 640x480 video and
reports medians: ``mediapipe_ms_median`` (FaceMesh's own time per frame) and
``overhead_ms_median`` (the rest of the driver's frame: frame copy, solver, One Euro filter,
idle blend, dictionaries; rendering excluded). The budget: the overhead stays below MediaPipe.
Without a video, one is made in memory from the shared astronaut photograph (a head rolling and
drifting across a 640x480 frame, 300 frames). Timings are medians after a warm-up; the machine
is shared and noisy, which is why this runs in ``make bench`` and never in unit tests.
"""
from __future__ import annotations

import math
import os
import statistics
from pathlib import Path

import numpy as np

from seethrough_core.character import InputError

SHARED_FACE = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "astronaut.png"
FRAME_SIZE = (640, 480)
WARMUP_FRAMES = 10


def synthetic_frames(photo_path: str | os.PathLike = SHARED_FACE, count: int = 300,
                     size: tuple[int, int] = FRAME_SIZE) -> list[np.ndarray]:
    """A face photo rolling and drifting over a ``size`` frame: (h, w, 3) uint8 RGB frames."""
    import cv2

    bgr = cv2.imread(str(photo_path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"{photo_path}: cannot read the face photo for the tracking benchmark; "
                         "give a video of a face instead")
    photo = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    w, h = size
    k = 0.9 * h / photo.shape[0]
    frames = []
    for i in range(count):
        t = i / 30.0
        m = cv2.getRotationMatrix2D((photo.shape[1] / 2, photo.shape[0] / 2),
                                    15.0 * math.sin(1.3 * t), k)
        m[:, 2] += (w / 2 + 30 * math.sin(0.7 * t) - photo.shape[1] / 2,
                    h / 2 + 15 * math.sin(0.9 * t) - photo.shape[0] / 2)
        frames.append(cv2.warpAffine(photo, m, (w, h), borderMode=cv2.BORDER_REPLICATE))
    return frames


def benchmark_tracking(video_path: str | os.PathLike | None = None,
                       with_pose: bool = False) -> dict:
    """Per-frame medians (ms) of MediaPipe's face time and of our overhead on top of it."""
    from runtime.drivers.tracking_driver import TrackingDriver

    if video_path is None:
        frames = synthetic_frames()
        fps, source = 30.0, "astronaut.png, rolling (generated)"
    else:
        from runtime.sessions.video_render import iter_video_frames, probe_video
        info = probe_video(video_path)
        frames, fps, source = list(iter_video_frames(video_path)), float(info.fps), str(video_path)
    face_ms, pose_ms, overhead_ms = [], [], []
    found = 0
    with TrackingDriver(with_pose=with_pose) as driver:
        for i, frame in enumerate(frames):
            driver.update(frame, i / fps)
            if i < WARMUP_FRAMES:
                continue
            mp = driver.tracker.timings
            total = driver.timings["track_ms"] + driver.timings["solve_ms"]
            face_ms.append(mp["face_ms"])
            pose_ms.append(mp["pose_ms"])
            overhead_ms.append(total - mp["face_ms"] - mp["pose_ms"])
            found += driver.face_found
    if not face_ms:
        raise InputError(f"{source}: too few frames to benchmark (need more than "
                         f"{WARMUP_FRAMES})")
    h, w = frames[0].shape[:2]
    report = {
        "source": source, "size": [w, h], "frames": len(face_ms),
        "face_found_share": round(found / len(face_ms), 3),
        "mediapipe_ms_median": round(statistics.median(face_ms), 3),
        "overhead_ms_median": round(statistics.median(overhead_ms), 3),
        "overhead_ms_p90": round(float(np.percentile(overhead_ms, 90)), 3),
    }
    if with_pose:
        report["pose_ms_median"] = round(statistics.median(pose_ms), 3)
    report["overhead_vs_mediapipe"] = round(report["overhead_ms_median"]
                                            / max(report["mediapipe_ms_median"], 1e-9), 3)
    return report


if __name__ == "__main__":
    import json
    import sys

    json.dump(benchmark_tracking(sys.argv[1] if len(sys.argv) > 1 else None), sys.stdout,
              indent=2)
    sys.stdout.write("\n")
