"""`seethrough-rig live`: the puppet follows a face from a webcam (or a video) in real time, into
a window, a virtual camera (OBS) and/or a recording."""
from __future__ import annotations

import argparse
import sys

from seethrough_core.character import InputError

from runtime.commands.options import number, seed, whole

IFM_PORT = 49983     # runtime.drivers.ifacialmocap.IFM_PORT (kept here: --help imports nothing)
VMC_PORT = 39539     # runtime.drivers.vmc.VMC_PORT
BROWSER_PORT = 8790  # runtime.outputs.browser_source.DEFAULT_PORT

PROG = "seethrough-rig"


def register(sub: argparse._SubParsersAction, formatter) -> None:
    p = sub.add_parser(
        "live", formatter_class=formatter,
        help="drive a rig live from a webcam or video: window, virtual camera (OBS), recording",
        description="Track a face in a webcam (or a video file played in real time) and drive "
                    "the rig with it. Capture, tracking and rendering run at the same time; "
                    "frames are paced to --fps and the capture-to-output latency is reported "
                    "every few seconds and at the end. Without --virtualcam, --browser-source, "
                    "--window or --record a window is opened.",
        epilog="keys in the window: C recalibrate (look straight ahead), T toggle tracking/idle, "
               "Q or Esc quit; with --expressions DIR, 1..9 and 0 toggle its .exp3.json files in "
               "name order (1 the first, 0 the tenth; the key line printed at the start names "
               "them). Keys need the window: with --virtualcam or --record and no --window the "
               "expressions stay off. Ctrl-C stops cleanly.\n\n"
               "examples:\n"
               "  seethrough-rig live char.rig --virtualcam --window       webcam 0 into OBS\n"
               "  seethrough-rig live char.rig --camera 1 --mirror --calibrate --window\n"
               "  seethrough-rig live char.rig --camera talk.mp4 --record puppet.mp4\n"
               "  seethrough-rig live char.rig --browser-source      OBS Browser Source, with "
               "alpha\n"
               "  seethrough-rig live char.rig --window --mic             lip-sync from the "
               "microphone\n"
               "  seethrough-rig live char.rig --vmc --window       VSeeFace's (VMC) tracking\n"
               "  seethrough-rig live char.rig --ifacialmocap 192.168.1.7 --calibrate --window\n"
               "\n"
               "The virtual camera is OBS Virtual Camera on Windows and macOS (install OBS and "
               "start its virtual camera once) and v4l2loopback on Linux (sudo modprobe "
               "v4l2loopback devices=1 exclusive_caps=1). Virtual cameras carry no alpha (but "
               "Unity Capture on Windows): the background is green (for OBS's chroma key) unless "
               "--background says otherwise. For real transparency in OBS add "
               f"http://127.0.0.1:{BROWSER_PORT}/ as a Browser Source with --browser-source.")
    p.add_argument("rig", metavar="CHAR.rig")
    p.add_argument("--camera", default=None, metavar="INDEX|FILE",
                   help="webcam index (default: 0; none with --idle-only) or a video file "
                        "played in real time")
    p.add_argument("--loop", action="store_true", help="start a --camera FILE over at its end")
    p.add_argument("--virtualcam", action="store_true",
                   help="send the frames to a virtual camera (OBS, v4l2loopback)")
    p.add_argument("--browser-source", nargs="?", const=BROWSER_PORT, default=None,
                   type=whole(1, 65535), metavar="PORT",
                   help="serve the frames with their alpha to an OBS Browser Source at "
                        f"http://127.0.0.1:PORT/ (default port: {BROWSER_PORT}; this machine "
                        "only); put it after CHAR.rig")
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
                   help="background (default: green with --virtualcam, for chroma keying; "
                        "transparent when --browser-source is the only output; white "
                        "otherwise); transparent needs an output with alpha. A browser "
                        "source always gets the alpha: the background is for the others")
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
    p.add_argument("--mic", nargs="?", const="", default=None, metavar="DEVICE",
                   help="lip-sync: the microphone drives the mouth (ParamMouthOpenY and "
                        "ParamMouthForm, vowel-aware) over the camera or idle; DEVICE is an "
                        "index or part of a name (`python -m sounddevice` lists them; default: "
                        "the system's input). Without one the session goes on without it")
    p.add_argument("--lip-sync-gain", type=number(0.01, 100.0), default=None, metavar="X",
                   help="--mic sensitivity: a factor on the sound (2 = +6 dB opens the mouth "
                        "wider for a quiet voice; default: 1)")
    p.add_argument("--vmc", nargs="?", type=whole(1, 65535), const=VMC_PORT, default=None,
                   metavar="PORT",
                   help="the face (and body) from a VMC sender: VSeeFace, VMagicMirror, Virtual "
                        "Motion Capture, phone-tracker bridges (OSC over UDP, default port "
                        f"{VMC_PORT}); head from the Neck/Head bones, expressions from VRM or "
                        "perfect-sync (ARKit) blendshapes. No camera is opened unless --camera "
                        "names one; put it after CHAR.rig")
    p.add_argument("--vmc-host", default="127.0.0.1", metavar="ADDRESS",
                   help="where --vmc listens (default: 127.0.0.1, senders on this computer; "
                        "0.0.0.0 accepts any computer on the network)")
    p.add_argument("--ifacialmocap", nargs="?", const="", default=None,
                   metavar="PHONE_IP[:PORT]",
                   help="the face from the iFacialMocap iPhone app over Wi-Fi (UDP 49983): "
                        "with the phone's address (shown in the app) it is asked to stream "
                        "here; without one, enter this computer's address in the app. No "
                        "camera is opened unless --camera names one; --mirror and --calibrate "
                        "apply to it; put it after CHAR.rig")
    p.add_argument("--ifacialmocap-host", default="0.0.0.0", metavar="ADDRESS",
                   help="where --ifacialmocap listens (default: 0.0.0.0, every network "
                        "interface, so the phone can reach it)")
    p.add_argument("--ifacialmocap-port", type=whole(1, 65535), default=IFM_PORT, metavar="PORT",
                   help=f"the UDP port --ifacialmocap listens on (default: {IFM_PORT}, where "
                        "the app sends)")
    p.set_defaults(func=run)


def open_inputs(args: argparse.Namespace) -> list:
    """The extra parameter inputs the options ask for (runtime.drivers.inputs), in the order
    they are laid over the tracked or idle parameters. Each is started by the session."""
    gain = getattr(args, "lip_sync_gain", None)
    if gain is not None and getattr(args, "mic", None) is None:
        raise InputError("--lip-sync-gain: only with --mic (it is the microphone's sensitivity)")
    inputs: list = _face_app_inputs(args)      # first: lip-sync lays over their mouth
    try:
        if getattr(args, "mic", None) is not None:
            from runtime.drivers.audio import MicUnavailable, open_mic
            try:
                mic = open_mic(args.mic or None, gain=gain or 1.0)
            except MicUnavailable as exc:
                print(f"{PROG}: warning: {exc}; continuing without the microphone",
                      file=sys.stderr)
            else:
                print(f"mic: {mic.label} ({mic.rate} Hz) drives the mouth")
                inputs.append(mic)
    except BaseException:
        for inp in inputs:     # sockets already bound are let go
            inp.close()
        raise
    return inputs


def _face_app_inputs(args: argparse.Namespace) -> list:
    """``--vmc`` and ``--ifacialmocap``: their receivers, bound (a port in use is an
    InputError) but not started."""
    inputs: list = []
    try:
        if getattr(args, "vmc", None) is not None:
            from runtime.drivers.udp_input import is_loopback
            from runtime.drivers.vmc import VmcInput
            host = getattr(args, "vmc_host", "127.0.0.1")
            inputs.append(VmcInput(args.vmc, host))
            if not is_loopback(host):
                print(f"{PROG}: warning: --vmc-host {host}: any computer on the network can "
                      "drive the puppet (VMC has no authentication); keep 127.0.0.1 when the "
                      "sender runs on this computer", file=sys.stderr)
            print(inputs[-1].describe())
        if getattr(args, "ifacialmocap", None) is not None:
            from runtime.drivers.ifacialmocap import IFacialMocapInput, parse_phone
            inputs.append(IFacialMocapInput(
                parse_phone(args.ifacialmocap), getattr(args, "ifacialmocap_host", "0.0.0.0"),
                getattr(args, "ifacialmocap_port", IFM_PORT),
                mirror=bool(getattr(args, "mirror", False))))
            print(inputs[-1].describe())
    except BaseException:
        for inp in inputs:
            inp.close()
        raise
    return inputs


def face_from_another_app(args: argparse.Namespace) -> bool:
    """The face comes from a tracker another app runs (VMC, iFacialMocap): no camera is opened
    unless one is named."""
    return bool(getattr(args, "vmc", None) is not None
                or getattr(args, "ifacialmocap", None) is not None)


def resolve_background(background: str, virtualcam: bool, record: str | None,
                       browser_source: bool = False) -> str:
    """'auto' -> green for a virtual camera, transparent when a browser source is the only
    output, white otherwise; refuse transparency where an output cannot carry it. (A browser
    source keeps the alpha whatever this says: the background is for the other outputs.)"""
    import platform
    from pathlib import Path

    from runtime.sessions.render import ALPHA_FORMATS

    if background == "auto":
        if virtualcam:
            return "green"
        return "transparent" if browser_source and not record else "#ffffff"
    if background == "transparent":
        # Unity Capture (Windows only) keeps alpha; whether it is the camera that opens is
        # checked when it does.
        if virtualcam and platform.system() != "Windows":
            raise InputError("virtual cameras carry no alpha here (only Unity Capture on "
                             "Windows does); use --background green (chroma key in OBS) or "
                             "'#RRGGBB', or --browser-source for transparency in OBS")
        suffix = Path(record).suffix.lower() if record else None
        if suffix is not None and suffix not in ALPHA_FORMATS or \
                suffix is None and not (browser_source or virtualcam):
            raise InputError("--background transparent needs a --record file that keeps alpha "
                             "(.webm, .mov, .png, a folder) or --browser-source; use green or "
                             "'#RRGGBB' otherwise")
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
    browser_port = getattr(args, "browser_source", None)   # a hand-built Namespace may lack it
    background = resolve_background(args.background, args.virtualcam, args.record,
                                    browser_source=browser_port is not None)
    clear = parse_background(background)
    rgb = tuple(int(round(255 * c)) for c in clear[:3])
    window = args.window or not (args.virtualcam or args.record or browser_port is not None)

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
        if browser_port is not None:      # first: a port in use fails before the camera opens
            from runtime.outputs.browser_source import BrowserSource
            outputs.append(BrowserSource(size, args.fps, browser_port))
        source = ClockSource(args.fps) if no_camera else \
            open_source("0" if args.camera is None else args.camera, loop=args.loop)
        if args.virtualcam:
            outputs.extend(_open_virtualcam(
                size, args.fps, rgb, fallback=window or args.record or browser_port is not None,
                alpha=args.background in ("auto", "transparent"),
                need_alpha=background == "transparent"))
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
    for output in outputs:
        if hasattr(output, "summary_line"):     # the browser source: what the pages drew
            print(output.summary_line())
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


def _open_virtualcam(size, fps, rgb, fallback, alpha: bool = False,
                     need_alpha: bool = False) -> list:
    """The virtual camera, or nothing (with a warning) when it is missing but another output
    was asked for; without one the missing camera is the error. ``alpha``: keep the alpha
    where the camera can (Unity Capture); ``need_alpha``: refuse one that cannot."""
    from runtime.outputs.virtualcam import VirtualCamera, VirtualCameraUnavailable
    try:
        camera = VirtualCamera(size, fps, rgb, alpha=alpha or need_alpha)
    except VirtualCameraUnavailable as exc:
        if not fallback:
            raise
        print(f"{PROG}: warning: {exc}; continuing without it", file=sys.stderr)
        return []
    if need_alpha and not camera.keeps_alpha:
        name = camera.name
        camera.close()
        raise InputError(f"virtual camera {name} carries no alpha (only Unity Capture does); "
                         "use --background green (chroma key in OBS) or '#RRGGBB', or "
                         "--browser-source for transparency in OBS")
    return [camera]


def _describe(output) -> str:
    url = getattr(output, "url", None)
    if url is not None:
        return f"browser source {url} (add it to OBS as a Browser Source)"
    name = getattr(output, "name", None)
    if name is not None:
        return f"virtual camera {name}"
    return f"recording {output.path}"
