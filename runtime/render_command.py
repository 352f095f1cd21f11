"""`seethrough-rig render`: animate a rig offline into a video, GIF, PNG or PNG sequence."""
from __future__ import annotations

import argparse
import sys

from seethrough_core.character import InputError

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
               "  seethrough-rig render char.rig --rest -o rest.png\n\n"
               "Motion files: Live2D .motion3.json (linear, bezier, stepped curves) or our own "
               "JSON (see runtime/motion.py). Parameters the rig does not know are listed and "
               "ignored.")
    p.add_argument("rig", metavar="CHAR.rig")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--idle", type=float, metavar="SECONDS",
                     help="a living idle: breathing, blinking, small head drift, swinging hair")
    src.add_argument("--motion", metavar="FILE", help="a .motion3.json or seethrough motion file")
    src.add_argument("--rest", action="store_true", help="the rest pose (one frame)")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output file (by extension) or folder")
    p.add_argument("--size", default=None, metavar="WxH",
                   help="output size (default: the canvas size); the character is fitted "
                        "with a margin, whatever the aspect")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second (default: 30)")
    p.add_argument("--background", default="auto", metavar="transparent|#RRGGBB|green",
                   help="background (default: transparent where the format carries alpha, "
                        "white otherwise)")
    p.add_argument("--quality", choices=("draft", "normal", "high"), default="normal",
                   help="anti-aliasing: draft (none), normal (4x MSAA), high (supersampled)")
    p.add_argument("--margin", type=float, default=0.05, help="margin around the canvas, as a "
                   "fraction of the output (default: 0.05)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the idle animation")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from rig.params import PARAM_IDS
    from rig.rigfile import load_rig
    from runtime.render import RenderJob, RestDriver, parse_size, render_to_file

    if not (1 <= args.fps <= 240):
        raise InputError(f"--fps {args.fps:g}: must be between 1 and 240")
    if not (0 <= args.margin < 0.5):
        raise InputError(f"--margin {args.margin:g}: must be at least 0 and below 0.5")
    rig = load_rig(args.rig)
    size = parse_size(args.size) if args.size else tuple(rig.size)
    if args.idle is not None:
        if not (0 < args.idle <= 3600):
            raise InputError(f"--idle {args.idle:g}: give a duration in seconds (0 < s <= 3600)")
        from runtime.idle import IdleDriver
        driver, duration = IdleDriver(seed=args.seed), args.idle
    elif args.motion:
        import warnings

        from runtime.motion import load_motion
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            motion = load_motion(args.motion, known_ids=PARAM_IDS)
        for line in motion.warnings:
            print(f"{PROG}: warning: {line}", file=sys.stderr)
        driver, duration = motion, motion.duration
    else:
        driver, duration = RestDriver(), 0.0
    job = RenderJob(output=Path(args.output), size=size, fps=args.fps, duration=duration,
                    background=args.background, quality=args.quality, margin=args.margin,
                    preroll=0.0 if args.rest else 1.0)
    job.resolved_background()   # refuse impossible combinations before any work
    with tqdm(total=job.frames, unit="frame", desc="rendering", disable=args.quiet,
              leave=False) as bar:
        frames = render_to_file(rig, driver, job, progress=bar.update)
    if not args.quiet:
        print(f"{job.output}: {frames} frame{'s' if frames != 1 else ''}, {size[0]}x{size[1]}, "
              f"{args.fps:g} fps")
    return 0
