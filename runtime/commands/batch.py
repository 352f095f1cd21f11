"""`seethrough-rig batch`: many characters at once, on a local worker pool or a Ray cluster."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from seethrough_core.character import InputError

from runtime.commands.options import number, seed, whole
from runtime.commands.process import show_progress

PROG = "seethrough-rig"


def register(sub: argparse._SubParsersAction, formatter) -> None:
    from runtime.batch.items import BACKENDS, DTYPES, PREVIEWS, SIDES, STEPS
    p = sub.add_parser(
        "batch", formatter_class=formatter,
        help="many characters at once: decompose, build and preview each, resumably",
        description="Run the per-picture steps over many characters: decompose (a layered "
                    "PSD with its sidecars), build (the rig) and preview (a pose sheet or a "
                    "short idle video). SRC is a folder of pictures and PSDs, a glob (quoted), "
                    "or a JSONL manifest with per-item options, one JSON object per line, "
                    "e.g. {\"input\": \"a.png\", \"backend\": \"heuristic\", \"mesh_density\": "
                    "0.8, \"steps\": [\"decompose\", \"build\"]} (keys: input, name, steps, "
                    "backend, mesh_density, sides, preview, preview_seconds, seed, model, "
                    "depth_model, device, dtype, sampling_steps, resolution). Each item gets "
                    "its own folder in OUT_DIR, named after its input, written under a hidden "
                    "temporary name and renamed when complete; OUT_DIR/results.jsonl gets one "
                    "line per item (input, status ok/failed/skipped, sha256 of the input, "
                    "options, timings per step, outputs, the error line). A failing item never "
                    "stops the batch. Rerunning skips the items already done with the same "
                    "input and options, so an interrupted batch resumes where it stopped.",
        epilog="exit status: 0 when every item is ok or skipped, 1 when any item failed (its\n"
               "error is in results.jsonl and on stderr), 2 for bad arguments or a bad manifest\n"
               "line (nothing is run), 130/143 when interrupted.\n\n"
               "examples:\n"
               "  seethrough-rig batch chars/ -o out/\n"
               "  seethrough-rig batch 'art/**/*.png' -o out/ --steps decompose,build --workers 2\n"
               "  seethrough-rig batch list.jsonl -o out/ --preview video\n"
               "  seethrough-rig batch /shared/chars -o /shared/out --ray ray://HEAD:10001 \\\n"
               "      --backend seethrough --model /shared/models/layerdiff \\\n"
               "      --depth-model /shared/models/marigold\n\n"
               "Engines: by default a pool of worker processes on this machine; a worker that\n"
               "dies (killed, out of memory) has its item retried once, alone, then failed.\n"
               "--ray runs the same work on Ray (pip install 'seethrough-rig[ray]'): plain tasks\n"
               "for the CPU steps, and Ray Data actors that load the diffusion model once for\n"
               "--backend seethrough. Every node must see SRC's files and OUT_DIR at the same\n"
               "paths (a shared file system) and have seethrough-rig installed.")
    p.add_argument("src", metavar="SRC", help="a folder, a quoted glob, or a .jsonl manifest")
    p.add_argument("-o", "--output", metavar="OUT_DIR", required=True,
                   help="the folder that gets one folder per item and results.jsonl")
    p.add_argument("--steps", default=",".join(STEPS), metavar="LIST",
                   help="comma-separated, from " + ", ".join(STEPS) + " (default: all; each "
                        "step brings the ones it needs; a PSD is never decomposed)")
    p.add_argument("--preview", choices=PREVIEWS, default="sheet",
                   help="sheet: a pose sheet (preview.png, default); video: an idle "
                        "animation (preview.mp4)")
    p.add_argument("--preview-seconds", type=number(0.1, 3600), default=3.0, metavar="S",
                   help="length of --preview video (default: 3)")
    p.add_argument("--backend", choices=BACKENDS, default="heuristic",
                   help="decomposition backend (default: heuristic; seethrough needs the "
                        "model's weights)")
    p.add_argument("--mesh-density", type=number(0.05, 20), default=1.0, metavar="X",
                   help="mesh density multiplier of the rigs (default: 1)")
    p.add_argument("--sides", choices=SIDES, default="auto",
                   help="how PSDs name left/right (default: auto)")
    p.add_argument("--seed", type=seed, default=0,
                   help="random seed of the model's sampling and the idle preview (default: 0)")
    model = p.add_argument_group("the diffusion backend (--backend seethrough)")
    model.add_argument("--model", metavar="DIR", help="layer model weights folder")
    model.add_argument("--depth-model", metavar="DIR", help="depth model weights folder")
    model.add_argument("--device", metavar="cpu|cuda|cuda:N",
                       help="where the model runs (default: cpu; cuda on Ray with GPUs)")
    model.add_argument("--dtype", choices=DTYPES, help="model precision")
    model.add_argument("--sampling-steps", type=whole(1, 1000), metavar="N",
                       help="sampling steps of the layer passes (decompose --steps; default 30)")
    model.add_argument("--resolution", type=whole(64, 8192), metavar="PX",
                       help="working size of the layer passes")
    engine = p.add_argument_group("engines")
    engine.add_argument("--workers", type=whole(1, 256), default=None, metavar="N",
                        help="worker processes (default: min(CPUs, 4); 1 with --backend "
                             "seethrough, as each worker loads its own model); with --ray "
                             "auto/local, the CPUs of a Ray instance started here")
    engine.add_argument("--ray", metavar="auto|local|ray://HOST:PORT",
                        help="run on Ray: auto = the cluster started here with `ray start`, "
                             "else a private local one; local = always a private one; "
                             "ray://HEAD:10001 = a remote cluster (shared file system needed)")
    engine.add_argument("--ray-gpus", type=number(0, 64), default=1.0, metavar="G",
                        help="GPUs per model actor (default: 1; 0 runs the model on CPU actors)")
    engine.add_argument("--ray-actors", type=whole(1, 1024), default=None, metavar="N",
                        help="model actors (default: the cluster's GPUs / --ray-gpus, at "
                             "least 1)")
    p.add_argument("--force", action="store_true",
                   help="redo every item, even those already done")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from runtime.batch.items import MODEL_OPTIONS, merged_options, parse_steps
    from runtime.batch.pool import default_workers
    from runtime.batch.runner import BatchConfig, run_batch, summary_line

    steps = parse_steps(args.steps, "--steps")
    given = {"backend": args.backend, "mesh_density": args.mesh_density, "sides": args.sides,
             "preview": args.preview, "preview_seconds": args.preview_seconds, "seed": args.seed}
    for key in MODEL_OPTIONS:
        value = getattr(args, key, None)
        if key in ("model", "depth_model") and value is not None and Path(value).exists():
            value = str(Path(value).resolve())
        given[key] = value
    flag = next((k for k in MODEL_OPTIONS if given[k] is not None), None)
    if args.backend == "heuristic" and flag:
        raise InputError(f"--{flag.replace('_', '-')} applies to --backend seethrough only; "
                         "the heuristic backend needs no model")
    options = merged_options({}, given, "options")
    if args.ray is None and (args.ray_actors is not None or args.ray_gpus != 1.0):
        raise InputError("--ray-gpus and --ray-actors apply to --ray only")
    if args.ray is not None and args.ray not in ("auto", "local") and not re.fullmatch(
            r"(ray://)?[\w.\-\[\]:]+:\d{1,5}", args.ray):
        raise InputError(f"--ray {args.ray}: give auto, local or ray://HOST:PORT")
    workers = args.workers or (1 if args.backend == "seethrough" and not args.ray
                               else default_workers())
    config = BatchConfig(src=args.src, out_dir=Path(args.output), steps=steps,
                         options=options, workers=workers, ray=args.ray,
                         ray_gpus=args.ray_gpus, ray_actors=args.ray_actors, force=args.force,
                         quiet=args.quiet, progress=show_progress(args.quiet))
    summary = run_batch(config)
    if not args.quiet:
        print(summary_line(summary, Path(args.output)))
    return summary.exit_code
