"""`seethrough-rig physics`: tune how hair, ribbons and skirts swing, and measure it.

Three ways in, one set of tuning edits:

* the window (default): the character in motion with a panel of sliders per chain group;
* ``--shake-test``: the standard shake motion headless, metrics (and a video with ``-o``);
* ``--no-window``: only the edits given on the command line (``--preset``, ``--set``).

``--save`` writes the tuning back into the rig, ``--export`` writes it alone as
``{"format": ..., "groups": {group: {parameter: value}}}``, the file `build --physics` reads
(or, with ``--format physics3``, as a Live2D physics3.json). ``--import`` starts from such a
file (ours or a physics3.json) before ``--preset`` and ``--set``.
"""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from rig.physics_file import EXPORT_FORMATS, apply_edits, export_physics, read_physics, tuning
from seethrough_core.character import InputError

from runtime.commands.process import show_progress

PROG = "seethrough-rig"


DESCRIPTION = (
    "Tune the spring chains of a rig (front hair, back hair, side strands, ribbons, skirt, "
    "sleeves ...) while the character moves: a window with the character swaying (or following "
    "a mouse drag of the head, or a webcam with --camera) and a panel with stiffness, damping, "
    "gravity, wind and gusts, inertia and root/tip stiffness per group, presets and reset. With "
    "--shake-test, play a standard motion (a quick head turn, a stop, a nod, rest, a fast turn "
    "at 750 deg/s) or, with --motion, a motion file headless and report how the chains "
    "respond.")
EXAMPLES = """\
examples:
  seethrough-rig physics char.rig                      tune in a window
  seethrough-rig physics char.rig --save               ... and keep the result
  seethrough-rig physics char.rig --export hair.json   ... or write it alone
  seethrough-rig physics char.rig --export hair.physics3.json --format physics3 --no-window
  seethrough-rig physics char.rig --import model.physics3.json --no-window --save
  seethrough-rig build char.psd --physics hair.json    apply it to a new rig
  seethrough-rig physics char.rig --shake-test -o hair.mp4 --json
  seethrough-rig physics char.rig --shake-test --motion idle.motion3.json
  seethrough-rig physics char.rig --preset 'back hair=heavy' \\
      --set 'back hair.damping=3' --no-window --save

"""
METRICS_HELP = (
    "Shake-test metrics per chain group and overall: settle_s (seconds after the stop until the "
    "tips stay within 5% of their swing of rest; null: not settled before the nod), overshoot "
    "(fraction of the swing past rest on the way back), max_stretch (relative), non_finite, "
    "frame_rate_consistency (largest difference of the tip paths at 30/60/144 fps, relative to "
    "the swing; the built-in motion's fast turn is left out: 30 fps cannot sample it), "
    "max_swing_deg (largest angle of a segment from its rest direction carried by the root), "
    "max_bend_deg (largest change of the angle between consecutive segments from the rest "
    "shape's). Budgets: consistency <= 0.05, stretch < 0.10, swing <= 120, bend <= 90, never "
    "non-finite (frame times 1/240 .. 1/15 s and a 0.5 s spike). With --motion, settle_s and "
    "overshoot count from the end of the motion, its last pose held for 2 s.")


def _wrap(text: str) -> str:
    return textwrap.fill(text, 88, break_on_hyphens=False)


def register(sub: argparse._SubParsersAction, formatter) -> None:
    p = sub.add_parser(
        "physics", formatter_class=formatter,
        help="tune hair/ribbon/skirt physics in a window, or run the shake test",
        description=_wrap(DESCRIPTION), epilog=EXAMPLES + _wrap(METRICS_HELP))
    p.add_argument("rig", metavar="CHAR.rig")
    p.add_argument("--preset", action="append", default=[], metavar="[GROUP=]NAME",
                   help="start from a preset (soft, normal, stiff, heavy) for one group or, "
                        "without GROUP=, for all; repeatable")
    p.add_argument("--set", action="append", default=[], dest="set_values",
                   metavar="GROUP.PARAM=VALUE",
                   help="set one value, e.g. 'back hair.gravity=900'; GROUP '*' means every "
                        "group; repeatable, applied after --preset")
    p.add_argument("--save", action="store_true",
                   help="write the tuned values back into CHAR.rig (atomically) when done")
    p.add_argument("--export", metavar="PHYSICS.json",
                   help="write the tuned values alone, for `build --physics`")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="seethrough", dest="format",
                   help="with --export: seethrough (ours, default) or physics3 (a Live2D "
                        "physics3.json; what it cannot hold is reported)")
    p.add_argument("--import", metavar="PHYSICS.json", dest="import_file", default=None,
                   help="start from a physics file: ours (from --export) or a Live2D "
                        "physics3.json; applied before --preset/--set, kept with --save")
    p.add_argument("--shake-test", action="store_true",
                   help="run the standard shake test headless and print its metrics")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="with --shake-test: render the motion to a video/GIF/PNG folder")
    p.add_argument("--json", action="store_true", help="with --shake-test: metrics as JSON")
    p.add_argument("--motion", metavar="MOTION.json", default=None,
                   help="with --shake-test: play this motion file (ours or a Live2D "
                        ".motion3.json) instead of the built-in motion, then hold its last "
                        "pose for 2 s (settle and overshoot are measured there)")
    p.add_argument("--size", default=None, metavar="WxH",
                   help="video size with -o (default: the canvas size)")
    p.add_argument("--fps", type=float, default=30.0, help="video frame rate (default: 30)")
    p.add_argument("--background", default="auto", metavar="transparent|#RRGGBB|green",
                   help="video background (default: white, transparent where the format can)")
    p.add_argument("--camera", metavar="INDEX|FILE", default=None,
                   help="drive the head from a webcam (0, 1 ...) or a video file of a face")
    p.add_argument("--mirror", action="store_true",
                   help="with --camera: move like your reflection")
    p.add_argument("--no-window", action="store_true",
                   help="apply --preset/--set (and --save/--export) without opening a window")
    p.add_argument("--window-size", default="1280x800", metavar="WxH",
                   help="window size (default: 1280x800)")
    p.add_argument("--frames", type=int, default=None, metavar="N",
                   help="close the window after N frames (scripts, tests)")
    p.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                   help="close the window after this many seconds")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rig.rigfile import load_rig

    _check_args(args)
    rig = load_rig(args.rig)
    groups = rig.chain_groups()
    if not groups:
        raise InputError(f"{args.rig}: this rig has no spring chains (hair strands, ribbons, "
                         f"skirts), so there is no physics to tune")
    current = tuning(rig)
    edited = apply_edits(_imported(current, args.import_file), args.preset, args.set_values)
    if edited != current:
        rig.set_chain_params(edited)

    if args.shake_test:
        _shake(rig, args)
    elif not args.no_window:
        _tune_in_window(rig, args)
    return _write_results(rig, args)


def _tune_in_window(rig, args: argparse.Namespace) -> None:
    """Open the tuner; its edits land in ``rig`` (applied on close)."""
    from runtime.sessions.physics_window import PhysicsWindow
    from runtime.sessions.render import parse_size
    size = parse_size(args.window_size)
    source = driver = window = None
    try:
        if args.camera is not None:
            from runtime.drivers.capture import open_source
            from runtime.drivers.tracking_driver import TrackingDriver
            source = open_source(args.camera, loop=True)
            driver = TrackingDriver(mirror=args.mirror)
        window = PhysicsWindow(rig, rig_path=Path(args.rig), size=size,
                               # The window exports our format; physics3 is written on close.
                               export_path=Path(args.export)
                               if args.export and args.format == "seethrough" else None,
                               camera=(source, driver) if source is not None else None)
        window.run(frames=args.frames, duration=args.duration)
    finally:
        for closer in (window, driver, source):
            if closer is not None:
                closer.close()


def _check_args(args: argparse.Namespace) -> None:
    if not args.shake_test:
        for flag, given in (("-o/--output", args.output), ("--json", args.json),
                            ("--motion", args.motion),
                            ("--size", args.size)):
            if given:
                raise InputError(f"{flag} only goes with --shake-test")
    if args.shake_test and args.no_window:
        raise InputError("--shake-test never opens a window; leave out --no-window")
    if args.camera is not None and (args.shake_test or args.no_window):
        raise InputError("--camera drives the window; it does not go with --shake-test or "
                         "--no-window")
    if args.mirror and args.camera is None:
        raise InputError("--mirror only goes with --camera")
    if args.frames is not None and not 1 <= args.frames <= 10_000_000:
        raise InputError(f"--frames {args.frames}: give at least 1 and at most 10000000")
    if args.duration is not None and not (0 < args.duration <= 86400):
        raise InputError(f"--duration {args.duration:g}: give a number of seconds above 0")
    if not (1 <= args.fps <= 240):
        raise InputError(f"--fps {args.fps:g}: must be between 1 and 240")
    if args.format != "seethrough" and not args.export:
        raise InputError(f"--format {args.format} only goes with --export")
    if args.export and not args.export.lower().endswith(".json"):
        raise InputError(f"--export {args.export}: the physics file should end in .json")


def _write_results(rig, args: argparse.Namespace) -> int:
    if args.save:
        from rig.rigfile import save_rig
        save_rig(rig, args.rig)
        if not args.quiet and not args.json:
            print(f"{args.rig}: physics saved ({', '.join(rig.chain_groups())})")
    if args.export:
        notes = export_physics(args.export, tuning(rig), fmt=args.format,
                               segments=_segment_counts(rig))
        for note in notes:
            print(f"{PROG}: warning: {args.export}: {note}", file=sys.stderr)
        if not args.quiet and not args.json:
            print(f"{args.export}: physics of {len(rig.chain_groups())} chain groups"
                  + (" (physics3)" if args.format == "physics3" else ""))
    return 0


def _imported(current: dict, path: str | None) -> dict:
    """``current`` {group: ChainParams} with the groups of the ``--import`` file replaced.
    What the file could not say, and groups this rig lacks, are warnings on stderr."""
    if path is None:
        return current
    params, notes = read_physics(path)
    missing = sorted(set(params) - set(current))
    if len(missing) == len(params):
        raise InputError(f"{path}: it tunes none of this rig's chain groups "
                         f"({', '.join(sorted(current))}); it has "
                         f"{', '.join(missing) or 'no usable groups'}")
    if missing:
        notes = [*notes, f"this rig has no {', '.join(missing)} chains; that tuning is not used"]
    for note in notes:
        print(f"{PROG}: warning: {path}: {note}", file=sys.stderr)
    return {**current, **{g: p for g, p in params.items() if g in current}}


def _segment_counts(rig) -> dict[str, int]:
    """Per chain group, the rig's mean number of chain segments (for physics3 pendulums)."""
    counts: dict[str, list[int]] = {}
    for spec in rig.chain_specs:
        counts.setdefault(spec.group, []).append(len(spec.rest) - 1)
    return {g: max(1, round(sum(n) / len(n))) for g, n in counts.items()}


# ------------------------------------------------------------------------------ shake test

def _shake(rig, args: argparse.Namespace) -> None:
    from benchmarks.shake import HeldMotion, ShakeMotion, shake_test

    motion = (HeldMotion(_load_motion(args.motion, rig), name=args.motion)
              if args.motion is not None else ShakeMotion())
    metrics = shake_test(rig, motion)
    if args.output:
        _render_shake(rig, motion, args)
    if args.json:
        json.dump(metrics, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not args.quiet:
        print(_motion_line(metrics["motion"], args.motion))
        print(format_metrics(metrics))
    if not metrics["within_budget"]:
        print(f"{PROG}: warning: the shake test is outside its budgets (see above)",
              file=sys.stderr)


def _load_motion(path: str, rig):
    """The --motion file, checked against the rig's parameters; what it ignores are warnings."""
    import warnings

    from runtime.drivers.motion import load_motion

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        motion = load_motion(path, known_ids=[p.id for p in rig.spec.params])
    for line in motion.warnings:
        print(f"{PROG}: warning: {line}", file=sys.stderr)
    return motion


def _motion_line(timeline: dict, path: str | None) -> str:
    """One line on what was played: the motion, its length and its fastest turn."""
    if path is None:
        what = f"motion: built-in shake ({timeline['duration']:.2f} s)"
    else:
        start, end = timeline["hold"]
        what = f"motion: {path} ({start:.2f} s, then its last pose held {end - start:g} s)"
    if timeline.get("peak_speed_param"):
        what += (f", fastest turn {timeline['peak_speed_deg_s']:.0f} deg/s "
                 f"({timeline['peak_speed_param']})")
    return what


def _render_shake(rig, motion, args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from runtime.sessions.render import RenderJob, parse_size, render_to_file

    size = parse_size(args.size) if args.size is not None else tuple(rig.size)
    job = RenderJob(output=Path(args.output), size=size, fps=args.fps, duration=motion.duration,
                    background=args.background, preroll=0.0)
    job.resolved_background()       # refuse impossible combinations before any work
    with tqdm(total=job.frames, unit="frame", desc="rendering",
              disable=not show_progress(args.quiet or args.json),
              leave=False) as bar:
        render_to_file(rig, motion, job, progress=bar.update)
    if not args.quiet and not args.json:
        print(f"{job.output}: {job.frames} frames, {size[0]}x{size[1]}, {args.fps:g} fps")


def format_metrics(metrics: dict) -> str:
    def cell(value, spec: str) -> str:
        if value is None:
            return "never" if spec == "s" else "inf"
        if isinstance(value, bool):
            return "YES" if value else "no"
        return format(value, ".3f") + (" s" if spec == "s" else "")

    def degrees(value) -> str:
        return "inf" if value is None else format(value, ".1f")

    rows = [("group", "settle", "overshoot", "stretch", "non-finite", "fps consistency",
             "swing px", "swing deg", "bend deg")]
    items = list(metrics["groups"].items()) + [("overall", metrics["overall"])]
    for name, m in items:
        rows.append((name, cell(m["settle_s"], "s"), cell(m["overshoot"], ""),
                     cell(m["max_stretch"], ""), cell(m["non_finite"], ""),
                     cell(m["frame_rate_consistency"], ""), cell(m["swing_px"], ""),
                     degrees(m.get("max_swing_deg")), degrees(m.get("max_bend_deg"))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    b = metrics["budgets"]
    lines.append(f"budgets: fps consistency <= {b['frame_rate_consistency']:g}, stretch < "
                 f"{b['max_stretch']:g}, swing <= {b['max_swing_deg']:g} deg, bend <= "
                 f"{b['max_bend_deg']:g} deg, finite: "
                 + ("all met" if metrics["within_budget"] else "NOT met"))
    return "\n".join(lines)
