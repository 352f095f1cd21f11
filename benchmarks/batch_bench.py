"""Many characters at once (`batch`): items per minute on this machine, on the local worker pool
and on a local Ray instance, and what Ray costs per item on top of the pool.

The items are small drawn characters (the example at 256 px, as PNG: decompose with the
heuristic backend, build, pose sheet), so the figures are about the engines, not about one big
picture. Both runs are timed from the first item handed out to the last record written, with
their workers started cold (the pool spawns its processes, Ray its workers); starting the Ray
instance itself is reported apart (``ray_init_s``).

    python -m benchmarks.batch_bench [--items N] [--workers N]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

SIZE = 256


def _make_inputs(folder: Path, items: int) -> None:
    import cv2

    from examples.character import draw_example_character
    rgba = draw_example_character(size=SIZE).rest_composite()
    for i in range(items):
        # Each a different picture (a shifted copy), so no two items share a hash.
        shifted = rgba.copy()
        shifted[:, : SIZE - i] = rgba[:, i:]
        cv2.imwrite(str(folder / f"char{i:02d}.png"), shifted[..., [2, 1, 0, 3]])


def _timed_run(src: Path, out: Path, workers: int, ray: str | None) -> tuple[float, int]:
    from runtime.batch.runner import BatchConfig, run_batch
    t0 = time.perf_counter()
    summary = run_batch(BatchConfig(src=str(src), out_dir=out, workers=workers, ray=ray))
    return time.perf_counter() - t0, summary.ok


def benchmark_batch(items: int = 4, workers: int | None = None) -> dict:
    from runtime.batch.pool import default_workers
    workers = workers or default_workers()
    report: dict = {"items": items, "workers": workers, "backend": "heuristic",
                    "size": [SIZE, SIZE], "steps": ["decompose", "build", "preview"]}
    root = Path(tempfile.mkdtemp(prefix="seethrough-batch-bench-"))
    try:
        src = root / "src"
        src.mkdir()
        _make_inputs(src, items)
        pool_s, pool_ok = _timed_run(src, root / "pool", workers, None)
        report["pool"] = {"seconds": round(pool_s, 2), "ok": pool_ok,
                          "items_per_min": round(items / pool_s * 60, 2)}
        try:
            import ray
        except ImportError:
            report["ray"] = None
            report["ray_note"] = "ray is not installed (pip install 'seethrough-rig[ray]')"
            return report
        import logging
        t0 = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, object_store_memory=256 * 2**20,
                 log_to_driver=False, logging_level=logging.WARNING)
        init_s = time.perf_counter() - t0
        try:
            ray_s, ray_ok = _timed_run(src, root / "ray", workers, "auto")
        finally:
            ray.shutdown()
        report["ray"] = {"seconds": round(ray_s, 2), "ok": ray_ok,
                         "items_per_min": round(items / ray_s * 60, 2),
                         "ray_init_s": round(init_s, 2)}
        report["ray_overhead_s_per_item"] = round((ray_s - pool_s) / items, 3)
        report["ray_overhead_s_per_item_with_init"] = round((ray_s + init_s - pool_s) / items, 3)
        return report
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="batch engines: items per minute (JSON)")
    parser.add_argument("--items", type=int, default=4)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    json.dump(benchmark_batch(args.items, args.workers), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    from runtime.commands.process import one_blas_thread
    one_blas_thread()
    sys.exit(main())
