"""`seethrough-rig render`: animate a rig offline into a video, GIF, PNG or PNG sequence."""
from __future__ import annotations

import argparse
import sys

from seethrough_core.character import InputError

from runtime.commands.options import number, seed
from runtime.commands.process import show_progress

PROG = "seethrough-rig"


def register(sub: argparse._SubParsersAction, formatter) -> None:
    p = sub.add_parser(
        "render", formatter_class=formatter,
        help="render a rig to a video, GIF, PNG or PNG sequence",
        description="Animate a rig offline and write the frames to a file. The output format "
                    "follows OUT's extension: .mp4 (H.264), .webm (VP9 with alpha), .mov "
                    "(ProRes 4444 with alpha), .gif, .png (one frame), or a folder (a PNG "
                    "sequence with alpha).",
        epilog="examples:\n"
               "  seethrough-rig render char.rig --idle 10 -o idle.webm --background transparent\n"
               "  seethrough-rig render char.rig --motion wave.motion3.json -o wave.mp4 --size 1080x1080\n"
               "  seethrough-rig render char.rig --motion tap.motion3.json "
               "--model3 char.model3.json --expression smile.exp3.json -o tap.webm\n"
               "  seethrough-rig render char.rig --audio speech.wav -o talk.mp4\n"
               "  seethrough-rig render char.rig --rest -o rest.png\n"
               "  seethrough-rig render char.rig --pose-sheet sheet.png\n"
               "  seethrough-rig render char.rig --driver performance.mp4 -o puppet.mp4 "
               "--side-by-side\n\n"
               "With --driver, every frame of the video is tracked (MediaPipe face landmarks) "
               "and rendered at the video's frame rate; its audio is copied to the output.\n"
               "Motion files: Live2D .motion3.json (linear, bezier, stepped curves) or our own "
               "JSON (see runtime/drivers/motion.py), played as the Cubism SDK plays them: "
               "from the rest pose, with the motion's fade-in/fade-out (sine eased), Model "
               "EyeBlink/LipSync curves, Cubism 2 ids (PARAM_ANGLE_X) read as the standard "
               "ones and each UserData event printed when playback passes it. Parameters the "
               "rig does not know are listed and ignored; values beyond a parameter's range "
               "are clamped and reported once.\n"
               "Expressions (--expression, Live2D .exp3.json) are laid over any source at full "
               "weight from the first frame: no fade-in in a render.")
    p.add_argument("rig", metavar="CHAR.rig")
    # Not required: --audio alone is a talking idle (checked in run).
    src = p.add_mutually_exclusive_group()
    src.add_argument("--idle", type=float, metavar="SECONDS",
                     help="a living idle: breathing, blinking, small head drift, swinging hair")
    src.add_argument("--motion", metavar="FILE",
                     help="a .motion3.json or seethrough motion file (at most 3600 s, 64 MiB)")
    src.add_argument("--rest", action="store_true", help="the rest pose (one frame)")
    src.add_argument("--driver", metavar="VIDEO",
                     help="a video of a performer's face: every frame tracked and rendered, "
                          "at its frame rate, with its audio")
    src.add_argument("--pose-sheet", metavar="SHEET.png",
                     help="one labelled picture of the head in the standard poses (rest, "
                          "turns, look up, nod, tilt, blink, mouth open, gaze), each held "
                          "until the hair settles")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="output file (by extension) or folder (not with --pose-sheet)")
    p.add_argument("--audio", metavar="SOUND",
                   help="lip-sync: a sound file (wav, mp3, m4a, ogg, flac or a video's sound) "
                        "drives the mouth, vowel-aware, and is muxed into the output (mp4, webm, "
                        "mov); the render lasts as long as the sound. On its own the rest idles "
                        "(as --idle); with --motion or --rest the sound's mouth goes over theirs; "
                        "--idle SECONDS sets another length")
    p.add_argument("--lip-sync-gain", type=number(0.01, 100.0), default=None, metavar="X",
                   help="lip-sync sensitivity (--audio, --lip-sync audio|both): a factor on the "
                        "sound (2 = +6 dB opens the mouth wider for a quiet voice; default: 1)")
    p.add_argument("--size", default=None, metavar="WxH",
                   help="output size (default: the canvas size); the character is fitted "
                        "with a margin, whatever the aspect")
    p.add_argument("--fps", type=float, default=None,
                   help="frames per second, 1..240 (default: 30; with --motion, the motion's "
                        "Meta.Fps; with --driver, the video's)")
    p.add_argument("--expression", action="append", default=[], metavar="FILE.exp3.json",
                   help="a Live2D expression over the animation, at full weight from the first "
                        "frame (no fade-in); repeat for several, applied in the order given "
                        "(with --motion, --idle, --driver or --rest; at most 1 MiB each)")
    p.add_argument("--model3", metavar="FILE.model3.json",
                   help="with --motion: the Live2D model whose Groups name the parameters the "
                        "motion's EyeBlink and LipSync curves drive (default: ParamEyeLOpen, "
                        "ParamEyeROpen and ParamMouthOpenY)")
    p.add_argument("--log-params", metavar="FILE.jsonl",
                   help="one JSON line per frame with every parameter it was rendered with (with "
                        "--motion also the events it passed; with --driver also face found and "
                        "timings)")
    p.add_argument("--background", default="auto", metavar="transparent|#RRGGBB|green",
                   help="background (default: transparent where the format carries alpha, "
                        "white otherwise)")
    p.add_argument("--quality", choices=("draft", "normal", "high"), default="normal",
                   help="anti-aliasing: draft (none), normal (4x MSAA), high (supersampled)")
    p.add_argument("--margin", type=float, default=0.05, help="margin around the canvas, as a "
                   "fraction of the output (default: 0.05)")
    p.add_argument("--seed", type=seed, default=0, help="random seed of the idle animation")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    video = p.add_argument_group("video-driven renders (--driver)")
    video.add_argument("--side-by-side", action="store_true",
                       help="the input video left of the puppet, in one output")
    video.add_argument("--mirror", action="store_true",
                       help="flip the video first: the puppet moves like the performer's "
                            "reflection instead of copying the camera's view")
    video.add_argument("--face-model", metavar="FACE_LANDMARKER.task",
                       help="use MediaPipe's Tasks FaceLandmarker from this local file "
                            "(blendshapes) instead of the bundled FaceMesh")
    video.add_argument("--body", action="store_true",
                       help="track the shoulders too (MediaPipe Pose) for the body angles")
    video.add_argument("--calibration", metavar="FILE.json",
                       help="a saved neutral pose (from the live command's calibration)")
    video.add_argument("--calibrate", action="store_true",
                       help="use the video's first face as the neutral pose")
    video.add_argument("--lip-sync", choices=("face", "audio", "both"), default=None,
                       help="what drives the mouth: the tracked face (default), the video's own "
                            "sound (vowel-aware lip-sync), or both (the larger opening of the "
                            "two, the form from the sound's vowel)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from rig.rigfile import load_rig
    from runtime.sessions.render import RenderJob, RestDriver, parse_size, render_to_file

    video_options = [name for name, on in (
        ("--side-by-side", getattr(args, "side_by_side", False)),
        ("--mirror", getattr(args, "mirror", False)),
        ("--face-model", getattr(args, "face_model", None)),
        ("--body", getattr(args, "body", False)),
        ("--calibration", getattr(args, "calibration", None)),
        ("--calibrate", getattr(args, "calibrate", False)),
        ("--lip-sync", getattr(args, "lip_sync", None))) if on]
    audio = getattr(args, "audio", None)
    if getattr(args, "pose_sheet", None):
        return _run_pose_sheet(args, video_options)
    if not any((args.idle is not None, args.motion, args.rest, getattr(args, "driver", None),
                audio)):
        raise InputError("nothing to render: give --idle SECONDS, --motion FILE, --rest, "
                         "--driver VIDEO, --pose-sheet SHEET.png or --audio SOUND")
    if not args.output:
        raise InputError("-o/--output: give the file or folder to write")
    if getattr(args, "model3", None) and not getattr(args, "motion", None):
        raise InputError("--model3: only with --motion (it names the parameters a motion's "
                         "EyeBlink and LipSync curves drive)")
    log_params = getattr(args, "log_params", None)
    if log_params and Path(log_params).resolve() == Path(args.output).resolve():
        raise InputError("--log-params: give a different file than the output video")
    if getattr(args, "driver", None):
        if audio:
            raise InputError("--audio: a video-driven render takes the sound of its video; "
                             "use --lip-sync audio (or both) instead")
        if args.fps is not None:
            raise InputError("--fps: a video-driven render runs at the video's frame rate; "
                             "leave --fps out")
        return _run_driven(args)
    if video_options:
        raise InputError(f"{video_options[0]}: only for video-driven renders; add "
                         "--driver VIDEO")
    if getattr(args, "lip_sync_gain", None) is not None and not audio:
        raise InputError("--lip-sync-gain: only with --audio SOUND or --driver VIDEO "
                         "--lip-sync audio|both")
    if args.fps is not None and not (1 <= args.fps <= 240):
        raise InputError(f"--fps {args.fps:g}: must be between 1 and 240")
    if not (0 <= args.margin < 0.5):
        raise InputError(f"--margin {args.margin:g}: must be at least 0 and below 0.5")
    rig = load_rig(args.rig)
    size = parse_size(args.size) if args.size is not None else tuple(rig.size)
    defaults = {p.id: float(p.default) for p in rig.spec.params}
    expressions = _load_expressions(args, rig)
    fps = args.fps
    track = None
    if audio:
        from runtime.drivers.audio import load_audio
        from runtime.drivers.lipsync import RATE, analyze
        samples = load_audio(audio, "--audio")
        track = analyze(samples, RATE, args.lip_sync_gain or 1.0)
    if args.idle is not None:
        if not (0 < args.idle <= 3600):
            raise InputError(f"--idle {args.idle:g}: give a duration in seconds (0 < s <= 3600)")
        from runtime.drivers.idle import IdleDriver
        driver, duration = IdleDriver(seed=args.seed), args.idle
    elif args.motion:
        from runtime.drivers.motion import MotionDriver
        motion = _load_motion(args, rig)
        if fps is None:
            fps = _motion_fps(motion, args.motion)
        driver, duration = MotionDriver(motion, defaults), motion.duration
    elif args.rest:
        driver, duration = RestDriver(), 0.0
    else:   # --audio alone: a talking idle
        from runtime.drivers.idle import IdleDriver
        driver, duration = IdleDriver(seed=args.seed), 0.0
    if track is not None:
        from runtime.drivers.lipsync import WithLipSync
        driver = WithLipSync(driver, track, "audio")
        if args.idle is None:   # as long as the sound, unless --idle says otherwise
            duration = track.duration
    if fps is None:
        fps = 30.0
    if expressions:
        from runtime.drivers.expressions import WithExpressions
        driver = WithExpressions(driver, expressions, defaults)
    job = RenderJob(output=Path(args.output), size=size, fps=fps, duration=duration,
                    background=args.background, quality=args.quality, margin=args.margin,
                    preroll=0.0 if args.rest and track is None else 1.0)
    job.resolved_background()   # refuse impossible combinations before any work
    audio_from = None
    if audio:
        from runtime.outputs.sinks import VIDEO_EXTENSIONS
        if job.output.suffix.lower() in VIDEO_EXTENSIONS:
            audio_from = audio
        else:
            _warn(f"{job.output.suffix or 'a PNG sequence'} cannot carry sound; the sound of "
                  f"{Path(audio).name} was left out (write .mp4, .mov or .webm to keep it)")

    def on_event(t: float, text: str) -> None:
        tqdm.write(f"{PROG}: motion event at {t:.2f} s: {text}", file=sys.stderr)

    with tqdm(total=job.frames, unit="frame", desc="rendering",
              disable=not show_progress(args.quiet),
              leave=False) as bar:
        frames = render_to_file(rig, driver, job, progress=bar.update, log_path=log_params,
                                on_event=on_event, warn=_warn, audio_from=audio_from)
    if not args.quiet:
        sound = ", with sound" if audio_from else ""
        print(f"{job.output}: {frames} frame{'s' if frames != 1 else ''}, {size[0]}x{size[1]}, "
              f"{fps:g} fps{sound}")
    return 0


def _warn(line: str) -> None:
    print(f"{PROG}: warning: {line}", file=sys.stderr)


def _load_expressions(args: argparse.Namespace, rig) -> list:
    """The --expression files, checked against the rig's parameters; warnings printed."""
    import warnings

    from runtime.drivers.expressions import load_expression

    ids = [p.id for p in rig.spec.params]
    out = []
    for path in getattr(args, "expression", None) or []:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expression = load_expression(path, known_ids=ids)
        for line in expression.warnings:
            _warn(line)
        out.append(expression)
    return out


def _load_motion(args: argparse.Namespace, rig):
    """The --motion file with the --model3 groups, checked against the rig's parameters."""
    import warnings

    from runtime.drivers.motion import EYE_BLINK, LIP_SYNC, load_model3_groups, load_motion

    ids = [p.id for p in rig.spec.params]
    groups = load_model3_groups(args.model3) if getattr(args, "model3", None) else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        motion = load_motion(args.motion, known_ids=ids, groups=groups)
    for line in motion.warnings:
        _warn(line)
    if groups is not None:
        for name, group in ((EYE_BLINK, motion.eye_blink_ids), (LIP_SYNC, motion.lip_sync_ids)):
            if name not in motion.model_curves:
                continue
            missing = [pid for pid in group if pid not in ids]
            if not group:
                _warn(f"{args.model3}: no {name} group: the motion's {name} curve drives "
                      "nothing")
            elif missing:
                _warn(f"{args.model3}: {name} group ids this rig does not have (ignored): "
                      f"{', '.join(missing)}")
    return motion


def _motion_fps(motion, path: str) -> float:
    """The motion's own frame rate (Meta.Fps), kept inside the 1..240 that --fps allows."""
    if motion.fps is None:
        return 30.0
    if 1 <= motion.fps <= 240:
        return float(motion.fps)
    fps = min(max(float(motion.fps), 1.0), 240.0)
    _warn(f"{path}: its frame rate {motion.fps:g} fps is outside 1..240; rendering at "
          f"{fps:g} fps (give --fps to choose)")
    return fps


def _run_pose_sheet(args: argparse.Namespace, video_options: list[str]) -> int:
    """``render --pose-sheet SHEET.png``: the head in every standard pose, one picture."""
    from pathlib import Path

    from rig.rigfile import load_rig
    from runtime.sessions import motion_eval as me
    from runtime.commands.eval_motion import _check_writable_png

    ignored = video_options + [flag for flag, on in (
        ("-o/--output", args.output), ("--size", args.size), ("--fps", args.fps),
        ("--log-params", getattr(args, "log_params", None)),
        ("--expression", getattr(args, "expression", None)),
        ("--model3", getattr(args, "model3", None)), ("--audio", getattr(args, "audio", None)),
        ("--lip-sync-gain", getattr(args, "lip_sync_gain", None))) if on]
    if ignored:
        raise InputError(f"{ignored[0]}: not used with --pose-sheet (it writes SHEET.png at "
                         "the head's own scale)")
    out = Path(args.pose_sheet)
    _check_writable_png(out)
    rig = load_rig(args.rig)
    frames = me.render_poses(rig, me.SHEET_POSES, quality=args.quality)
    box = me.face_box(rig) or (0, 0, *rig.size)
    try:
        me.write_png(out, me.pose_sheet([("", frames)], me.SHEET_POSES, box))
    except OSError as exc:
        raise InputError(f"{out}: cannot write ({exc.strerror or exc})") from None
    if not args.quiet:
        print(f"{out}: {len(me.SHEET_POSES)} poses")
    return 0


def _run_driven(args: argparse.Namespace) -> int:
    """``render --driver VIDEO``: track every frame of a performer's video, render the rig."""
    from pathlib import Path

    from tqdm import tqdm

    from rig.rigfile import load_rig
    from runtime.drivers.idle import IdleDriver
    from runtime.sessions.render import RenderJob, parse_size
    from runtime.drivers.solver import Calibration
    from runtime.drivers.tracking_driver import TrackingDriver
    from runtime.sessions.video_render import probe_video, render_video_driven

    if not (0 <= args.margin < 0.5):
        raise InputError(f"--margin {args.margin:g}: must be at least 0 and below 0.5")
    video = probe_video(args.driver)
    rig = load_rig(args.rig)
    size = parse_size(args.size) if args.size is not None else tuple(rig.size)
    calibration = Calibration.load(args.calibration) if args.calibration else None
    job = RenderJob(output=Path(args.output), size=size, fps=float(video.fps), duration=0.0,
                    background=args.background, quality=args.quality, margin=args.margin)
    job.resolved_background()   # refuse impossible combinations before any work
    expressions = _load_expressions(args, rig)
    mode = getattr(args, "lip_sync", None) or "face"
    gain = getattr(args, "lip_sync_gain", None)
    if gain is not None and mode == "face":
        raise InputError("--lip-sync-gain: only with --lip-sync audio or both (the face drives "
                         "the mouth otherwise)")
    track = None
    if mode != "face":
        if not video.has_audio:
            raise InputError(f"--lip-sync {mode}: {video.path} has no sound; leave --lip-sync "
                             "out (the face drives the mouth) or give a video with sound")
        from runtime.drivers.audio import load_audio
        from runtime.drivers.lipsync import RATE, analyze
        track = analyze(load_audio(video.path, "--driver"), RATE, gain or 1.0)
    with TrackingDriver(face_model=args.face_model, with_pose=args.body,
                        calibration=calibration, mirror=args.mirror,
                        idle=IdleDriver(seed=args.seed)) as tracker:
        if args.calibrate:
            tracker.calibrate()
        driver = tracker
        if track is not None:
            from runtime.drivers.lipsync import WithLipSync
            driver = WithLipSync(tracker, track, mode)
        if expressions:
            from runtime.drivers.expressions import WithExpressions
            driver = WithExpressions(driver, expressions,
                                     {p.id: float(p.default) for p in rig.spec.params})
        with tqdm(total=video.frames, unit="frame", desc="tracking + rendering",
                  disable=not show_progress(args.quiet), leave=False) as bar:
            result = render_video_driven(rig, driver, video, job,
                                         side_by_side=args.side_by_side,
                                         log_path=args.log_params, progress=bar.update)
    if result.audio_dropped:
        print(f"{PROG}: warning: {job.output.suffix or 'a PNG sequence'} cannot carry audio; "
              f"the sound of {video.path.name} was left out (write .mp4, .mov or .webm to "
              "keep it)", file=sys.stderr)
    if not args.quiet:
        w, h = result.size
        audio = ", audio copied" if result.audio_copied else ""
        print(f"{job.output}: {result.frames} frame{'s' if result.frames != 1 else ''}, {w}x{h}, "
              f"{float(result.fps):g} fps{audio}")
    return 0
