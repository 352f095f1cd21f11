"""`seethrough-rig live`: the puppet follows a face from a webcam (or a video) in real time, into
a window, a virtual camera (OBS) and/or a recording."""
from __future__ import annotations

import argparse
import sys

from seethrough_core.character import InputError

from runtime.commands.options import number, seed

PROG = "seethrough-rig"


def register(sub: argparse._SubParsersAction, formatter) -> None:
    p = sub.add_parser(
        "live", formatter_class=formatter,
        help="drive a rig live from a webcam or video: window, virtual camera (OBS), recording",
        description="Track a face in a webcam (or a video file played in real time) and drive "
                    "the rig with it. Capture, tracking and rendering run at the same time; "
                    "frames are paced to --fps and the capture-to-output latency is reported "
                    "every few seconds and at the end. Without --virtualcam, --window or "
                    "--record a window is opened.",
        epilog="keys in the window: C recalibrate (look straight ahead), T toggle tracking/idle, "
               "Q or Esc quit; with --expressions DIR, 1..9 and 0 toggle its .exp3.json files in "
               "name order (1 the first, 0 the tenth; the key line printed at the start names "
               "them). Keys need the window: with --virtualcam or --record and no --window the "
               "expressions stay off. Ctrl-C stops cleanly.\n\n"
               "examples:\n"
               "  seethrough-rig live char.rig --virtualcam --window       webcam 0 into OBS\n"
               "  seethrough-rig live char.rig --camera 1 --mirror --calibrate --window\n"
               "  seethrough-rig live char.rig --camera talk.mp4 --record puppet.mp4\n\n"
               "The virtual camera is OBS Virtual Camera on Windows and macOS (install OBS and "
               "start its virtual camera once) and v4l2loopback on Linux (sudo modprobe "
               "v4l2loopback devices=1 exclusive_caps=1). Virtual cameras carry no alpha: the "
               "background is green (for OBS's chroma key) unless --background says otherwise.")
    p.add_argument("rig", metavar="CHAR.rig")
    p.add_argument("--camera", default=None, metavar="INDEX|FILE",
                   help="webcam index (default: 0; none with --idle-only) or a video file "
                        "played in real time")
    p.add_argument("--loop", action="store_true", help="start a --camera FILE over at its end")
    p.add_argument("--virtualcam", action="store_true",
                   help="send the frames to a virtual camera (OBS, v4l2loopback)")
    p.add_argument("--window", action="store_true", help="show the puppet in a window")
    p.add_argument("--record", metavar="OUT",
                   help="also write what is shown to a file (.mp4, .webm, .mov, .gif, folder)")
    p.add_argument("--mirror", action="store_true",
                   help="mirror the tracking: your right is the puppet's left, like a mirror")
    p.add_argument("--size", default="1280x720", metavar="WxH",
                   help="output size (default: 1280x720); the character is fitted with a margin")
    p.add_argument("--fps", type=float, default=30.0, help="output frames per second "
                   "(default: 30)")
    p.add_argument("--background", default="auto", metavar="green|#RRGGBB|transparent",
                   help="background (default: green with --virtualcam, for chroma keying, "
                        "white otherwise); transparent only for a recording with alpha")
    p.add_argument("--quality", choices=("draft", "normal", "high"), default="normal",
                   help="anti-aliasing: draft (none), normal (4x MSAA), high (supersampled)")
    p.add_argument("--margin", type=float, default=0.05,
                   help="margin around the canvas, as a fraction of the output (default: 0.05)")
    p.add_argument("--calibrate", action="store_true",
                   help="take the first face seen as the neutral pose (look straight ahead)")
    p.add_argument("--face-model", metavar="face_landmarker.task",
                   help="MediaPipe Tasks face landmarker (blendshapes) instead of FaceMesh")
    p.add_argument("--body", action="store_true",
                   help="also track the shoulders (MediaPipe Pose) for the body angles")
    p.add_argument("--idle-only", action="store_true",
                   help="no tracking: the idle animation only (T does nothing)")
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="stop after this many seconds (default: until Q, Esc or Ctrl-C)")
    p.add_argument("--report-every", type=number(0.0, 86400.0), default=5.0, metavar="SECONDS",
                   help="seconds between progress lines (default: 5; 0: only the summary)")
    p.add_argument("--seed", type=seed, default=0, help="random seed of the idle animation")
    p.add_argument("--expressions", metavar="DIR",
                   help="a folder of Live2D .exp3.json expressions (at most 10, sorted by name): "
                        "keys 1..9 and 0 in the window toggle them, each fading in and out "
                        "over its own FadeInTime/FadeOutTime")
    p.add_argument("--log-params", metavar="FILE.jsonl",
                   help="write one line per rendered frame: every parameter and which input "
                        "drove it (tracking, idle, an extra input such as mic or vmc, "
                        "expression)")
    p.set_defaults(func=run)


def open_inputs(args: argparse.Namespace) -> list:
    """The extra parameter inputs the options ask for (runtime.drivers.inputs), in the order
    they are laid over the tracked or idle parameters. Each is started by the session."""
    inputs: list = []
    return inputs


def face_from_another_app(args: argparse.Namespace) -> bool:
    """The face comes from a tracker another app runs (VMC, iFacialMocap): no camera is opened
    unless one is named."""
    return bool(getattr(args, "vmc", None) is not None
                or getattr(args, "ifacialmocap", None) is not None)


def resolve_background(background: str, virtualcam: bool, record: str | None) -> str:
    """'auto' -> green for a virtual camera, white otherwise; refuse transparency where no
    output can carry it."""
    from pathlib import Path

    from runtime.sessions.render import ALPHA_FORMATS

    if background == "auto":
        return "green" if virtualcam else "#ffffff"
    if background == "transparent":
        if virtualcam:
            raise InputError("virtual cameras carry no alpha; use --background green (chroma "
                             "key in OBS) or '#RRGGBB'")
        suffix = Path(record).suffix.lower() if record else None
        if suffix is None or suffix not in ALPHA_FORMATS:
            raise InputError("--background transparent needs a --record file that keeps alpha "
                             "(.webm, .mov, .png, a folder); use green or '#RRGGBB' otherwise")
    return background


def run(args: argparse.Namespace) -> int:
    from rig.rigfile import load_rig
    from runtime.drivers.capture import ClockSource, open_source
    from runtime.drivers.idle import IdleDriver
    from runtime.sessions.live import IdleParamDriver, LiveOptions, LiveSession
    from runtime.sessions.render import parse_size
    from runtime.drawing.renderer import parse_background

    if not (1 <= args.fps <= 240):
        raise InputError(f"--fps {args.fps:g}: must be between 1 and 240")
    if not (0 <= args.margin < 0.5):
        raise InputError(f"--margin {args.margin:g}: must be at least 0 and below 0.5")
    if args.duration is not None and not (0 < args.duration <= 86400):
        raise InputError(f"--duration {args.duration:g}: give seconds (0 < s <= 86400)")
    if args.report_every < 0:
        raise InputError(f"--report-every {args.report_every:g}: must be 0 or more seconds")
    size = parse_size(args.size)
    background = resolve_background(args.background, args.virtualcam, args.record)
    clear = parse_background(background)
    rgb = tuple(int(round(255 * c)) for c in clear[:3])
    window = args.window or not (args.virtualcam or args.record)

    rig = load_rig(args.rig)
    folder = getattr(args, "expressions", None)   # a Namespace built by hand may lack it
    expressions = _load_expressions(folder, rig) if folder else []
    if expressions and not window:
        print(f"{PROG}: warning: --expressions: the number keys that toggle them need the "
              "window; add --window (without it the expressions stay off)", file=sys.stderr)
    outputs: list = []
    inputs: list = []
    source = driver = log = None
    log_path = getattr(args, "log_params", None)
    # Without tracking there is nothing to look at: no camera is opened unless one was named
    # (a file then paces the session and ends it).
    no_camera = args.camera is None and (args.idle_only or face_from_another_app(args))
    try:
        inputs = open_inputs(args)
        source = ClockSource(args.fps) if no_camera else \
            open_source("0" if args.camera is None else args.camera, loop=args.loop)
        if args.virtualcam:
            outputs.extend(_open_virtualcam(size, args.fps, rgb, fallback=window or args.record))
        if args.record:
            from runtime.outputs.sinks import open_sink
            outputs.append(open_sink(args.record, size=size, fps=args.fps,
                                     background_is_transparent=background == "transparent",
                                     background=rgb))
        idle = IdleParamDriver(IdleDriver(seed=args.seed))
        if args.idle_only or no_camera:
            driver, idle = idle, None
        else:
            from runtime.drivers.tracking_driver import TrackingDriver
            driver = TrackingDriver(face_model=args.face_model, with_pose=args.body,
                                    mirror=args.mirror, idle=idle.idle)
        options = LiveOptions(size=size, fps=args.fps, background=background,
                              quality=args.quality, margin=args.margin, window=window,
                              duration=args.duration, report_every=args.report_every,
                              calibrate_at_start=args.calibrate)
        shown = [_describe(o) for o in outputs] + (["window"] if window else [])
        where = source.name if isinstance(source, ClockSource) else \
            f"{source.name} ({source.size[0]}x{source.size[1]}, {source.fps:g} fps)"
        print(f"live: {where} -> {', '.join(shown)}, {size[0]}x{size[1]} at {args.fps:g} fps")
        if args.calibrate and not args.idle_only:
            print("calibrating: look straight at the camera with a neutral face")
        if log_path:
            log = _ParamsLog(log_path)
        session = LiveSession(rig, source, driver, idle=idle, outputs=outputs, options=options,
                              expressions=expressions, inputs=inputs,
                              params_log=log.file if log else None)
    except BaseException:
        for output in outputs:
            getattr(output, "abort", output.close)()
        for closer in (driver, source, *inputs):
            if closer is not None:
                closer.close()
        if log is not None:
            log.abort()
        raise
    try:
        session.run()   # closes the source, the driver, the inputs and the outputs
    except BaseException:
        if log is not None:
            log.abort()
        raise
    if log is not None:
        log.commit()
        print(f"{log_path}: {session.stats.rendered} frames of parameters")
    if args.record:
        print(f"{args.record}: recorded")
    return 0


class _ParamsLog:
    """``--log-params``: written under a temporary name, renamed when the session ends well."""

    def __init__(self, path: str) -> None:
        from pathlib import Path

        from seethrough_core.outputs import prepare_target, temp_path, write_error
        self.path = Path(path)
        prepare_target(self.path)
        self.temp = temp_path(self.path)
        try:
            self.file = open(self.temp, "w", encoding="utf-8")
        except OSError as exc:
            raise write_error(self.path, exc) from None

    def commit(self) -> None:
        from seethrough_core.outputs import commit, write_error
        try:
            self.file.close()
        except OSError as exc:
            self.abort()
            raise write_error(self.path, exc) from None
        commit(self.temp, self.path)

    def abort(self) -> None:
        from seethrough_core.outputs import remove
        try:
            self.file.close()
        except OSError:
            pass
        remove(self.temp)


def _load_expressions(folder: str, rig) -> list:
    """The folder's .exp3.json files for the number keys; their warnings printed."""
    import warnings

    from runtime.drivers.expressions import key_help, load_expression_folder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expressions = load_expression_folder(folder, known_ids=[p.id for p in rig.spec.params])
    for e in expressions:
        for line in e.warnings:
            print(f"{PROG}: warning: {line}", file=sys.stderr)
    print(f"expressions: {key_help(expressions)}")
    return expressions


def _open_virtualcam(size, fps, rgb, fallback) -> list:
    """The virtual camera, or nothing (with a warning) when it is missing but another output
    was asked for; without one the missing camera is the error."""
    from runtime.outputs.virtualcam import VirtualCamera, VirtualCameraUnavailable
    try:
        return [VirtualCamera(size, fps, rgb)]
    except VirtualCameraUnavailable as exc:
        if not fallback:
            raise
        print(f"{PROG}: warning: {exc}; continuing without it", file=sys.stderr)
        return []


def _describe(output) -> str:
    name = getattr(output, "name", None)
    if name is not None:
        return f"virtual camera {name}"
    return f"recording {output.path}"
