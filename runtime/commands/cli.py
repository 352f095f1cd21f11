"""The `seethrough-rig` command line.

Every command imports its heavy modules lazily, so `--help` is instant and the runtime never
pulls in torch. Bad input raises InputError anywhere below; it is printed as one line and the
process exits with code 2.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Callable, Sequence

from seethrough_core.character import InputError

from runtime.commands.options import whole
from runtime.commands.process import (StdoutFailed, Terminated, guarded_stdout,
                                      quiet_native_logs, show_progress, terminated_as_interrupt)

PROG = "seethrough-rig"

DESCRIPTION = """\
Turn one anime character illustration or layered PSD into a live 2.5D puppet.

Start with `inspect` to see how a PSD's layers are understood: which part each layer is
(front hair, face, irides ...), which side, which depth stratum, and the drawing order.
"""

EPILOG = """\
examples:
  seethrough-rig build char.png -o char.rig  one illustration -> layers -> rig
  seethrough-rig decompose char.png -o char.psd
                                             split an illustration into See-through layers
  seethrough-rig inspect char.psd            what the importer understood, as a table
  seethrough-rig inspect char.psd --json     the same as JSON, for scripts
  seethrough-rig build char.psd -o char.rig  rig it: meshes, deformers, spring chains
  seethrough-rig info char.rig               what is in a rig
  seethrough-rig render char.rig --idle 10 -o idle.mp4
                                             an idle animation as a video
  seethrough-rig live char.rig --virtualcam --window
                                             webcam -> puppet -> OBS
  seethrough-rig render char.rig --pose-sheet sheet.png
                                             the head in every standard pose, one picture
  seethrough-rig eval-motion char.psd --sheet sheet.png
                                             how a single-picture puppet holds up in motion
  seethrough-rig physics char.rig            tune how hair, ribbons and skirts swing
  seethrough-rig batch chars/ -o out/        many characters: layers, rig and pose sheet
                                             each (resumable; --ray for a cluster)

Run `seethrough-rig COMMAND --help` for a command's options. Bad input is one line on stderr
and exit code 2; --verbose (anywhere) also shows native libraries' log lines and tracebacks.
Limits: pictures up to 100 megapixels (used at 4096 px on the long side at most), motion files
up to 3600 s, rig files as their loader checks them (see the README: "Errors, limits and
interruptions").
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line + usage hint, exit code 2
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=_formatter)
    from importlib.metadata import PackageNotFoundError, version
    try:
        ver = version("seethrough-rig")
    except PackageNotFoundError:
        ver = "unknown"
    parser.add_argument("--version", action="version", version=f"{PROG} {ver}")
    parser.add_argument("--verbose", action="store_true",
                        help="show native libraries' log lines and full tracebacks (may come "
                             "anywhere on the line)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for register in COMMANDS:
        register(sub)
    return parser


# ---------------------------------------------------------------------------------- inspect

def _register_inspect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect", formatter_class=_formatter,
        help="show what the importer understood of a layered file",
        description="Read a layered character (a .psd/.psb from an artist or from See-through, "
                    "with its _depth.psd and .psd.json sidecars when present) and show every "
                    "layer: its part tag, side, depth stratum, expression variant, bounding box, "
                    "drawing order (0 = bottom) and median pseudo-depth (0 near, 1 far).",
        epilog="JSON: {\"size\": [W, H], \"layers\": [{\"name\", \"tag\", \"side\", \"stratum\", "
               "\"variant\", \"bbox\": [x0, y0, x1, y1], \"order\", \"depth\"}], \"warnings\": [...]}")
    p.add_argument("file", metavar="FILE", help="a .psd or .psb file")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--sides", choices=("auto", "character", "image"), default="auto",
                   help="how the file names left/right: the character's side (See-through, "
                        "Live2D), the image's side, or auto-detect from layer positions "
                        "(default: auto)")
    p.set_defaults(func=_cmd_inspect)


def inspect_report(character) -> dict:
    """The `inspect --json` document for a Character."""
    layers = []
    for order, layer in enumerate(character.layers):
        depth = layer.depth_median()
        layers.append({
            "name": layer.name, "tag": layer.tag, "side": layer.side, "stratum": layer.stratum,
            "variant": layer.variant, "bbox": list(layer.bbox), "order": order,
            "depth": None if depth is None else round(depth, 4),
        })
    return {"size": list(character.size), "layers": layers, "warnings": list(character.warnings)}


def _cmd_inspect(args: argparse.Namespace) -> int:
    from seethrough_core.loading import load_character
    character = load_character(args.file, side_convention=args.sides)
    report = inspect_report(character)
    if args.json:
        json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    print(format_inspect_table(report, args.file))
    return 0


def format_inspect_table(report: dict, title: str) -> str:
    w, h = report["size"]
    rows = [("order", "name", "tag", "side", "stratum", "variant", "bbox", "depth")]
    # Top of the stack first: that is how every paint program lists layers.
    for layer in reversed(report["layers"]):
        x0, y0, x1, y1 = layer["bbox"]
        rows.append((str(layer["order"]), layer["name"], layer["tag"], layer["side"] or "",
                     "" if layer["stratum"] is None else str(layer["stratum"]),
                     layer["variant"] or "", f"{x0},{y0} {x1 - x0}x{y1 - y0}",
                     "" if layer["depth"] is None else f"{layer['depth']:.3f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"{title}: {w}x{h}, {len(report['layers'])} layers (top first)"]
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * wd for wd in widths))
    for warning in report["warnings"]:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ build

def _register_build(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build", formatter_class=_formatter,
        help="rig a layered character (or an illustration): meshes, deformers, springs -> .rig",
        description="Build a posable rig from a layered character (an illustration is first "
                    "decomposed into layers, as `decompose` does): a quality triangle mesh per "
                    "layer, anchors for the face, eyes, mouth, neck and body, deformers for the "
                    "Live2D standard parameters, and spring chains for hair, skirts and sleeves. "
                    "The result is one .rig file (a zip) that `render`, `live` and `physics` use. "
                    "Pictures up to 100 megapixels (used at 4096 px on the long side at most).",
        epilog="example:\n  seethrough-rig build char.psd -o char.rig --mesh-density 1.5")
    p.add_argument("file", metavar="FILE", help="a layered .psd/.psb, or an image (.png, .jpg ...)")
    p.add_argument("-o", "--output", metavar="OUT.rig", help="output rig (default: FILE with .rig)")
    p.add_argument("--mesh-density", type=float, default=1.0, metavar="X",
                   help="mesh density multiplier: 2 = finer (smoother bends, slower), "
                        "0.5 = coarser (default: 1)")
    p.add_argument("--physics", metavar="PHYSICS.json",
                   help="apply a saved physics tuning (from `physics --export`) or a Live2D "
                        "physics3.json (mapped onto the chain groups; what cannot be mapped is "
                        "reported)")
    p.add_argument("--sides", choices=("auto", "character", "image"), default="auto",
                   help="how the file names left/right (default: auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_build)


def _cmd_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from rig.autorig import build_spec
    from rig.physics_file import read_physics
    from rig.rigfile import save_rig
    from seethrough_core.loading import load_character

    out = Path(args.output) if args.output else Path(args.file).with_suffix(".rig")
    if out.suffix.lower() != ".rig":
        raise InputError(f"{out}: the output should end in .rig")
    physics, physics_notes = read_physics(args.physics) if args.physics else (None, [])
    character = load_character(args.file, side_convention=args.sides)
    bar = tqdm(total=len(character.layers) + 2, unit="step", desc="rigging",
               disable=not show_progress(args.quiet), leave=False)

    def progress(msg: str) -> None:
        bar.set_postfix_str(msg[:32])
        if msg != "anchors":
            bar.update(1)

    try:
        spec = build_spec(character, mesh_density=args.mesh_density, physics=physics,
                          progress=progress)
        # A tuning for groups this character has no chains in is reported, not kept.
        missing = sorted(set(physics or {}) - {c.group for c in spec.chains})
        for group in missing:
            spec.chain_params.pop(group, None)
        bar.update(1)
        save_rig(spec, out)
    finally:
        bar.close()
    # Said once the rig exists: a run that fails prints its one error line alone.
    for warning in character.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    for note in physics_notes:
        print(f"{PROG}: warning: {args.physics}: {note}", file=sys.stderr)
    if missing:
        print(f"{PROG}: warning: {args.physics}: this character has no {', '.join(missing)} "
              f"chains; that tuning is not used", file=sys.stderr)
    if not args.quiet:
        verts = sum(len(l.mesh.vertices) for l in spec.layers)
        print(f"{out}: {len(spec.layers)} layers, {verts} vertices, {len(spec.chains)} spring "
              f"chains ({', '.join(sorted({c.group for c in spec.chains})) or 'none'})")
    return 0


# ------------------------------------------------------------------------------------- info

def _register_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info", formatter_class=_formatter, help="describe a .rig file",
        description="Show a rig's canvas, layers with their mesh sizes, parameters with their "
                    "ranges, and spring chains.",
        epilog="JSON: {\"format_version\", \"size\", \"layers\": [{\"name\", \"tag\", "
               "\"vertices\", \"triangles\"}], \"parameters\": [{\"id\", \"min\", \"max\", "
               "\"default\"}], \"chains\": [{\"name\", \"group\", \"particles\"}]}")
    p.add_argument("rig", metavar="CHAR.rig")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_info)


def rig_info(spec) -> dict:
    from rig.model import FORMAT_VERSION
    return {
        "format_version": FORMAT_VERSION,
        "size": list(spec.size),
        "layers": [{"name": l.name, "tag": l.tag, "vertices": int(len(l.mesh.vertices)),
                    "triangles": int(len(l.mesh.triangles))} for l in spec.layers],
        "parameters": [{"id": p.id, "min": p.min, "max": p.max, "default": p.default}
                       for p in spec.params],
        "chains": [{"name": c.name, "group": c.group, "particles": int(len(c.rest))}
                   for c in spec.chains],
    }


def _cmd_info(args: argparse.Namespace) -> int:
    from rig.rigfile import load_spec
    info = rig_info(load_spec(args.rig))
    if args.json:
        json.dump(info, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    w, h = info["size"]
    print(f"{args.rig}: rig format {info['format_version']}, canvas {w}x{h}")
    print(f"layers ({len(info['layers'])}):")
    for l in info["layers"]:
        print(f"  {l['name']:<28} {l['tag']:<12} {l['vertices']:>6} vertices {l['triangles']:>6} triangles")
    print(f"parameters ({len(info['parameters'])}):")
    for p in info["parameters"]:
        print(f"  {p['id']:<18} {p['min']:>6g} .. {p['max']:<6g} default {p['default']:g}")
    groups: dict[str, int] = {}
    for c in info["chains"]:
        groups[c["group"]] = groups.get(c["group"], 0) + 1
    print(f"spring chains ({len(info['chains'])}): " +
          (", ".join(f"{g} x{n}" for g, n in sorted(groups.items())) or "none"))
    return 0


# ------------------------------------------------------------------------------------ bench

def _register_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench", formatter_class=_formatter, help="time a rig's per-frame work",
        description="Time Rig.pose under a busy performance (median ms per frame) and each "
                    "layer mesh's ARAP solve, against libigl's when it is installed.")
    p.add_argument("rig", metavar="CHAR.rig")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--frames", type=whole(1, 100_000), default=600, help="frames to time (default: 600)")
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:
    from rig.rigfile import load_rig
    from benchmarks.suite import bench_rig
    if args.frames < 1:
        raise InputError("--frames must be at least 1")
    result = bench_rig(load_rig(args.rig), frames=args.frames)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"{args.rig}: {result['layers']} layers, {result['vertices']} vertices, "
          f"{result['chains']} chains")
    print(f"  pose: {result['pose_ms_median']:.3f} ms median, {result['pose_ms_p90']:.3f} ms p90")
    arap = result["arap"]
    line = f"  ARAP per layer mesh: {arap['arap_ms_median']:.4f} ms median"
    if "libigl_arap_ms_median" in arap:
        line += (f" (libigl {arap['libigl_arap_ms_median']:.4f} ms, "
                 f"{arap['speedup_vs_libigl']}x faster)")
    print(line)
    return 0


def _register_render(sub: argparse._SubParsersAction) -> None:
    from runtime.commands.render import register
    register(sub, _formatter)


def _register_eval_motion(sub: argparse._SubParsersAction) -> None:
    from runtime.commands.eval_motion import register
    register(sub, _formatter)


def _register_live(sub: argparse._SubParsersAction) -> None:
    from runtime.commands.live import register
    register(sub, _formatter)


def _register_decompose(sub: argparse._SubParsersAction) -> None:
    from runtime.commands.decompose import register
    register(sub, _formatter)   # decompose and eval-decompose


def _register_physics(sub: argparse._SubParsersAction) -> None:
    from runtime.commands.physics import register
    register(sub, _formatter)


def _register_batch(sub: argparse._SubParsersAction) -> None:
    from runtime.commands.batch import register
    register(sub, _formatter)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _register_inspect, _register_decompose, _register_build, _register_info, _register_render,
    _register_eval_motion, _register_live, _register_physics, _register_bench, _register_batch]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # --verbose may come anywhere: it shows the native libraries' log lines and tracebacks.
    verbose = "--verbose" in argv
    argv = [a for a in argv if a != "--verbose"]
    with terminated_as_interrupt(), quiet_native_logs(enabled=not verbose), guarded_stdout():
        try:
            args = _parse(argv)
            if args is None:
                return 0
            code = int(args.func(args) or 0)
            sys.stdout.flush()   # a full disk under stdout is an error of this run, not of exit
            return code
        except InputError as exc:
            return _fail(str(exc))
        except StdoutFailed as exc:
            from seethrough_core.outputs import stdout_error
            _silence_stdout()
            return _fail(str(stdout_error(exc.error)))
        except KeyboardInterrupt as exc:
            # Every output is written under a temporary name that is removed on the way out.
            terminated = isinstance(exc, Terminated)
            print(f"{PROG}: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
            return 128 + (exc.signum if terminated else signal.SIGINT)
        except BrokenPipeError:  # e.g. `seethrough-rig inspect x.psd --json | head`
            _silence_stdout()
            return 0
        except OSError as exc:
            if verbose:
                raise
            return _fail(_os_error_line(exc))
        except MemoryError:
            if verbose:
                raise
            return _fail("not enough memory for this input; give a smaller picture or rig")
        except RecursionError:
            if verbose:
                raise
            return _fail("the input is nested too deeply to read")
        except Exception as exc:       # a bug of ours: one line, the traceback on request
            if verbose:
                raise
            detail = " ".join(str(exc).split())[:200]
            print(f"{PROG}: internal error: {type(exc).__name__}"
                  f"{': ' + detail if detail else ''} (rerun with --verbose for the traceback, "
                  f"and please report it)", file=sys.stderr)
            return 1


def _parse(argv: list[str]) -> argparse.Namespace | None:
    """The parsed command line; None after printing the help. --help, --version and usage
    errors exit as argparse does, once what they printed has reached stdout."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit:
        sys.stdout.flush()          # a failure here is StdoutFailed: one line, exit 2
        raise
    if not getattr(args, "command", None):
        parser.print_help()
        sys.stdout.flush()
        return None
    return args


def _fail(line: str) -> int:
    print(f"{PROG}: error: {line}", file=sys.stderr)
    return 2


def _os_error_line(exc: OSError) -> str:
    what = exc.strerror or str(exc) or type(exc).__name__
    return f"{exc.filename}: {what}" if exc.filename is not None else what


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's own flush at exit does not fail again."""
    import os
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main())
