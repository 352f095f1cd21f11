"""`seethrough-rig decompose` (one image -> a layered See-through PSD) and
`seethrough-rig eval-decompose` (decomposition metrics against a layered ground truth)."""
from __future__ import annotations

import argparse
import json
import sys

from seethrough_core.character import InputError

from runtime.commands.options import seed, whole
from runtime.commands.process import show_progress

PROG = "seethrough-rig"
_MODEL_FLAGS = ("model", "depth_model", "device", "dtype", "seed", "steps", "resolution",
                "offload", "attention_slicing")


def register(sub: argparse._SubParsersAction, formatter) -> None:
    p = sub.add_parser(
        "decompose", formatter_class=formatter,
        help="split one illustration into See-through layers (a layered PSD)",
        description="Decompose a single character illustration into semantic layers (front/back "
                    "hair, face, eyes, mouth, clothes...) with pseudo-depth, drawing order and "
                    "painted-in hidden regions. Writes a See-through-convention PSD with its "
                    "<name>_depth.psd and <name>.psd.json sidecars, and the per-pixel layer-index "
                    "map as <name>_index.png (index = R + 256 G + 65536 B; 0 = no layer, i + 1 = "
                    "layer i from the bottom); all of them appear together or not at all. "
                    "Pictures up to 100 megapixels; one larger than 4096 px on its long side is "
                    "used at 4096 px.",
        epilog="examples:\n"
               "  seethrough-rig decompose char.png -o char.psd\n"
               "  seethrough-rig decompose char.png -o char.psd --backend seethrough "
               "--model ~/models/seethrough --device cuda\n"
               "  seethrough-rig build char.png -o char.rig   (decomposes, then rigs)")
    p.add_argument("image", metavar="IMAGE", help="a PNG, JPEG, WebP, TIFF, BMP or GIF")
    p.add_argument("-o", "--output", metavar="OUT.psd",
                   help="output PSD (default: IMAGE with the .psd suffix)")
    _add_backend_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.set_defaults(func=run, decompose_command="decompose")

    e = sub.add_parser(
        "eval-decompose", formatter_class=formatter,
        help="measure decomposition against a layered ground-truth PSD",
        description="Composite a layered PSD (the ground truth), decompose that single image, "
                    "and report the See-through paper's metrics: per-class and mean Dice of the "
                    "layer masks, mask MSE, reconstruction PSNR/SSIM, per-layer PSNR including "
                    "hidden parts, pairwise drawing-order accuracy, and the decomposition time.",
        epilog="JSON keys: psnr, ssim, mean_dice, dice {class: value}, visible_mean_dice, "
               "mask_mse, layer_psnr {class: dB}, mean_layer_psnr, order_accuracy, seconds, ...")
    e.add_argument("truth", metavar="GROUND_TRUTH.psd")
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_backend_options(e)
    e.set_defaults(func=run, decompose_command="eval-decompose")


def _add_backend_options(p: argparse.ArgumentParser) -> None:
    from seethrough_core.decompose import BACKENDS
    p.add_argument("--backend", choices=BACKENDS, default="heuristic",
                   help="heuristic: no model weights, CPU, seconds (default); seethrough: the "
                        "See-through diffusion model (needs its weights)")
    p.add_argument("--model", metavar="DIR", help="model weights folder (--backend seethrough)")
    p.add_argument("--depth-model", metavar="DIR",
                   help="depth model weights folder (--backend seethrough)")
    p.add_argument("--device", metavar="cpu|cuda|cuda:N|mps", help="where the model runs")
    p.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), help="model precision")
    p.add_argument("--seed", type=seed, help="random seed of the model's sampling")
    p.add_argument("--steps", type=whole(1, 1000), help="sampling steps of the layer passes (default 30)")
    p.add_argument("--resolution", type=int, metavar="PX",
                   help="working size of the layer passes (default 1280 for the published "
                        "model; 1024 needs less memory)")
    p.add_argument("--offload", action="store_true", default=None,
                   help="keep models on the CPU, moving each to the device only while it runs")
    p.add_argument("--attention-slicing", action="store_true", default=None,
                   help="compute attention in slices: less memory, a little slower")


def _backend_options(args: argparse.Namespace) -> dict:
    """Model options exactly as given (absent ones left out), for the backend to judge."""
    return {name: getattr(args, name) for name in _MODEL_FLAGS
            if getattr(args, name, None) is not None}


def run(args: argparse.Namespace) -> int:
    if getattr(args, "decompose_command", "decompose") == "eval-decompose":
        return _run_eval(args)
    return _run_decompose(args)


def _progress(quiet: bool):
    if not show_progress(quiet):
        return None

    def report(stage: str, fraction: float) -> None:
        print(f"{PROG}: [{int(round(fraction * 100)):3d}%] {stage}", file=sys.stderr, flush=True)
    return report


def _run_decompose(args: argparse.Namespace) -> int:
    from pathlib import Path

    from seethrough_core.decompose import decompose, load_image
    from seethrough_core.decompose.index_map import index_map, index_png_bytes, index_png_path
    from seethrough_core.psd_write import write_psd

    source = Path(args.image)
    out = Path(args.output) if args.output else source.with_suffix(".psd")
    if out.suffix.lower() not in (".psd", ".psb"):
        raise InputError(f"{out}: the output must be a .psd or .psb file")
    if out.resolve() == source.resolve():
        raise InputError(f"{out}: the output would overwrite the input; choose another name")
    if not out.parent.is_dir():
        raise InputError(f"{out.parent}: no such folder for the output")
    if args.backend == "heuristic":
        model_only = [n for n in _MODEL_FLAGS if n != "seed" and getattr(args, n, None) is not None]
        if model_only:
            flag = "--" + model_only[0].replace("_", "-")
            raise InputError(f"{flag} applies to --backend seethrough only; the heuristic "
                             f"backend needs no model")
    notes: list[str] = []
    image = load_image(source, notes)
    character = decompose(image, backend=args.backend, progress=_progress(args.quiet),
                          **_backend_options(args))
    character.source = str(source)
    # The PSD, its sidecars and the index map appear together or not at all.
    index_path = index_png_path(out)
    write_psd(character, out, extra={index_path: index_png_bytes(index_map(character))})
    for note in notes:
        print(f"{PROG}: note: {note}", file=sys.stderr)
    if not args.quiet:
        print(f"{PROG}: wrote {out} ({len(character.layers)} layers), its sidecars and "
              f"{index_path.name}", file=sys.stderr)
    return 0


def _run_eval(args: argparse.Namespace) -> int:
    from seethrough_core.evaluate import evaluate_psd

    metrics = evaluate_psd(args.truth, backend=args.backend, **_backend_options(args))
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    print(f"reconstruction  PSNR {metrics['psnr']:.2f} dB   SSIM {metrics['ssim']:.4f}")
    print(f"masks           mean Dice {metrics['mean_dice']:.3f}   (visible {metrics['visible_mean_dice']:.3f})"
          f"   MSE {metrics['mask_mse']:.4f}")
    print(f"layers          mean PSNR {metrics['mean_layer_psnr']:.2f} dB (hidden parts included)")
    print(f"drawing order   pairwise accuracy {metrics['order_accuracy']:.3f}")
    print(f"time            {metrics['seconds']:.2f} s ({metrics['backend']} backend, "
          f"{metrics['size'][0]}x{metrics['size'][1]})")
    print()
    print(f"{'class':<12} {'Dice':>6} {'MSE':>8} {'PSNR':>7}")
    for cls, dice in metrics["dice"].items():
        print(f"{cls:<12} {dice:6.3f} {metrics['mask_mse_per_class'][cls]:8.4f} "
              f"{metrics['layer_psnr'][cls]:7.2f}")
    if metrics["extra_classes"]:
        print(f"predicted classes the truth lacks: {', '.join(metrics['extra_classes'])}")
    return 0
