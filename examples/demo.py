"""`make demo`: the whole job on the bundled example character, nothing downloaded.

1. draw the example character and save it as a See-through-convention PSD (with its depth
   sidecar and json);
2. read that PSD back and show what the importer understood (`seethrough-rig inspect`);
3. rig it (`seethrough-rig build`) and describe the rig (`seethrough-rig info`);
4. render a short idle animation (breathing, blinking, swaying hair) as an MP4, a transparent
   WebM, a PNG of the rest pose, the example greeting motion and a pose sheet
   (`seethrough-rig render`).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

MOTIONS = Path(__file__).resolve().parent / "motions"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo-out", help="output folder (default: demo-out)")
    parser.add_argument("--size", type=int, default=1024, help="character canvas size in px")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of the animation")
    parser.add_argument("--video-size", default="720x720", help="animation size, WxH")
    args = parser.parse_args(argv)

    from examples.character import write_example_psd
    from runtime.commands.cli import main as cli

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    psd = out / "example.psd"
    rig = out / "example.rig"

    t0 = time.perf_counter()
    write_example_psd(psd, size=args.size)
    print(f"== 1. drew the example character -> {psd} ({time.perf_counter() - t0:.1f} s)\n")

    print(f"== 2. what the importer understood (seethrough-rig inspect {psd})\n")
    if cli(["inspect", str(psd)]) != 0:
        return 1

    print(f"\n== 3. rigging (seethrough-rig build {psd} -o {rig})\n")
    if cli(["build", str(psd), "-o", str(rig)]) != 0:
        return 1
    print()
    if cli(["info", str(rig)]) != 0:
        return 1

    print(f"\n== 4. rendering a {args.seconds:g} s idle animation (seethrough-rig render)\n")
    renders = [
        ["render", str(rig), "--rest", "-o", str(out / "rest.png")],
        ["render", str(rig), "--idle", str(args.seconds), "-o", str(out / "idle.mp4"),
         "--size", args.video_size],
        ["render", str(rig), "--idle", str(args.seconds), "-o", str(out / "idle.webm"),
         "--size", args.video_size, "--background", "transparent"],
        ["render", str(rig), "--motion", str(MOTIONS / "greeting.motion.json"),
         "-o", str(out / "greeting.mp4"), "--size", args.video_size],
        ["render", str(rig), "--pose-sheet", str(out / "poses.png")],
    ]
    for command in renders:
        if cli(command) != 0:
            return 1
    print(f"\nDone. Files are in {out}/: example.psd (open it in any paint program), "
          f"example.rig, rest.png, idle.mp4, idle.webm (transparent, for OBS), "
          f"greeting.mp4 (driven by examples/motions/greeting.motion.json), poses.png (the "
          f"head in every standard pose).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
