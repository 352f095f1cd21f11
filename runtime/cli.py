"""The `seethrough-rig` command line.

Every command imports its heavy modules lazily, so `--help` is instant and the runtime never
pulls in torch. Bad input raises InputError anywhere below; it is printed as one line and the
process exits with code 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Sequence

from seethrough_core.character import InputError

PROG = "seethrough-rig"

DESCRIPTION = """\
Turn one anime character illustration or layered PSD into a live 2.5D puppet.

Start with `inspect` to see how a PSD's layers are understood: which part each layer is
(front hair, face, irides ...), which side, which depth stratum, and the drawing order.
"""

EPILOG = """\
examples:
  seethrough-rig inspect char.psd            what the importer understood, as a table
  seethrough-rig inspect char.psd --json     the same as JSON, for scripts

Run `seethrough-rig COMMAND --help` for a command's options.
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


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_register_inspect]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `seethrough-rig inspect x.psd --json | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
