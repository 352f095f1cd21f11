"""Video-driven renders: a performer's video tracked frame by frame drives the rig.

Every decoded input frame is tracked and rendered, at the input's frame rate, so the output has
exactly as many frames as the input and stays in step with its audio, which is copied over when
there is some (and the output format can carry it). ``side_by_side`` puts the input frame (scaled
to the output height) left of the puppet. ``log_path`` receives one JSON object per input frame:
``frame``, ``t``, ``params`` (every parameter id), ``face_found``, ``track_ms``, ``solve_ms``,
``render_ms`` (pose + draw + read back), ``frame_ms`` (the whole frame: decode to written) and
``physics``: the hair chains' swing as Live2D's physics would output it (ParamHairFront/Side/Back,
-1..1, for the groups the rig has; see ``Rig.hair_swing``).
The log, like the video, is written under a temporary name and renamed at the end.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from seethrough_core.character import InputError
from seethrough_core.outputs import commit, prepare_target, remove, temp_path, write_error

from runtime.sessions.render import RenderJob
from runtime.outputs.sinks import VIDEO_EXTENSIONS, open_sink

PREROLL_SECONDS = 1.0   # springs settle on the first frame's pose before recording


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: Fraction
    size: tuple[int, int]          # (width, height)
    frames: int | None             # as the container says; None when it does not know
    has_audio: bool


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame rate, size, frame count and audio presence of a driving video."""
    import av

    path = Path(path)
    if not path.is_file():
        raise InputError(f"--driver {path}: no such file; give a video of a face (.mp4, .mov, "
                         ".webm, .mkv ...)")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"--driver {path}: has no video stream; give a video of a face")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            if not rate or rate <= 0:
                raise InputError(f"--driver {path}: the video has no frame rate; re-encode it "
                                 "with a constant frame rate (ffmpeg -r 30)")
            frames = int(stream.frames) if stream.frames else None
            return VideoInfo(path, Fraction(rate), (stream.width, stream.height), frames,
                             bool(container.streams.audio))
    except av.FFmpegError as exc:
        raise InputError(f"--driver {path}: not a readable video ({exc}); give an .mp4, .mov, "
                         ".webm or .mkv file") from None


def iter_video_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """Every frame of the first video stream as (h, w, 3) uint8 RGB."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="rgb24")
    except av.FFmpegError as exc:
        raise InputError(f"--driver {path}: decoding failed ({exc}); re-encode the video "
                         "(ffmpeg -i IN -c:v libx264 OUT.mp4)") from None


def side_by_side_width(input_size: tuple[int, int], height: int) -> int:
    """Width of the input panel scaled to ``height``."""
    w, h = input_size
    return max(1, int(round(w * height / h)))


def _log(fh, path: Path, record: dict) -> None:
    try:
        fh.write(json.dumps(record) + "\n")
    except OSError as exc:
        raise write_error(path, exc) from None


@dataclass
class VideoRenderResult:
    frames: int
    fps: Fraction
    size: tuple[int, int]
    audio_copied: bool
    audio_dropped: bool            # the input had audio the output format cannot carry


def render_video_driven(rig, driver, video: VideoInfo, job: RenderJob,
                        side_by_side: bool = False, log_path: str | os.PathLike | None = None,
                        progress: Callable[[int], None] | None = None) -> VideoRenderResult:
    """Track every frame of ``video`` with ``driver`` (a TrackingDriver), pose ``rig`` and
    write the frames into ``job.output``; ``job.fps`` is ignored (the input's rate is used)."""
    from runtime.drawing.renderer import Renderer

    background = job.resolved_background()
    transparent = background == "transparent"
    fps = video.fps
    dt = 1.0 / float(fps)
    puppet_w, puppet_h = job.size
    panel_w = side_by_side_width(video.size, puppet_h) if side_by_side else 0
    out_size = (panel_w + puppet_w, puppet_h)
    carries_audio = job.output.suffix.lower() in VIDEO_EXTENSIONS
    audio_from = video.path if (video.has_audio and carries_audio) else None
    log_temp = log_file = None
    if log_path is not None:
        log_path = Path(log_path)
        prepare_target(log_path)
        log_temp = temp_path(log_path)
        try:
            log_file = open(log_temp, "w")
        except OSError as exc:
            raise write_error(log_path, exc) from None
    count = faces = 0
    try:
        rig.reset()
        with Renderer(rig, size=job.size, background=background, quality=job.quality,
                      fit=job.fit, margin=job.margin) as renderer, \
                open_sink(job.output, size=out_size, fps=fps,
                          background_is_transparent=transparent,
                          audio_from=audio_from) as sink:
            canvas = np.zeros((out_size[1], out_size[0], 4), np.uint8)
            canvas[:, :panel_w, 3] = 255
            puppet = None
            frames = iter_video_frames(video.path)
            while True:
                start = time.perf_counter()
                rgb = next(frames, None)
                if rgb is None:
                    break
                t = count * dt
                params = driver.update(rgb, t)
                r0 = time.perf_counter()
                if count == 0:
                    for _ in range(int(round(PREROLL_SECONDS / dt))):
                        rig.pose(params, dt)
                pose = rig.pose(params, dt if count else 0.0)
                puppet = renderer.render(pose, out=puppet)
                render_ms = (time.perf_counter() - r0) * 1e3
                if panel_w:
                    canvas[:, :panel_w, :3] = cv2.resize(rgb, (panel_w, puppet_h),
                                                         interpolation=cv2.INTER_AREA)
                    canvas[:, panel_w:] = puppet
                    sink.write(canvas)
                else:
                    sink.write(puppet)
                frame_ms = (time.perf_counter() - start) * 1e3
                if log_file is not None:
                    _log(log_file, log_path, {
                        "frame": count, "t": round(t, 6), "params": params,
                        "face_found": bool(driver.face_found),
                        "track_ms": round(driver.timings["track_ms"], 3),
                        "solve_ms": round(driver.timings["solve_ms"], 3),
                        "render_ms": round(render_ms, 3), "frame_ms": round(frame_ms, 3),
                        "physics": {k: round(v, 4) for k, v in rig.hair_swing().items()},
                    })
                count += 1
                faces += bool(driver.face_found)
                if progress:
                    progress(1)
            if count == 0:
                raise InputError(f"--driver {video.path}: the video has no frames")
            if faces == 0:
                # Nothing to follow: the puppet would stand still for the whole video.
                raise InputError(f"--driver {video.path}: no face found in any of its {count} "
                                 "frames; give a video with the performer's face in view, "
                                 "lit and not too small")
        if log_file is not None:
            try:
                log_file.close()
            except OSError as exc:
                raise write_error(log_path, exc) from None
            log_file = None
            commit(log_temp, log_path)
    finally:
        if log_file is not None:
            with contextlib.suppress(OSError):
                log_file.close()
        if log_temp is not None:
            remove(log_temp)
    return VideoRenderResult(count, fps, out_size, audio_from is not None,
                             video.has_audio and not carries_audio)
