"""A whole batch run: plan it, run what is not done yet, log every item as it finishes.

1. The source's items are listed and checked (:mod:`.sources`); a bad manifest line stops the
   run before any work (exit 2).
2. Each input is hashed (sha256). An item whose folder holds an ``item.json`` for the same
   input hash, sidecars, options and steps, with every output present, is ``skipped``; an input
   that cannot be read (a folder, a FIFO, a broken link) is ``failed`` on the spot.
3. The rest go to the engine (the local pool, or Ray); each record is appended to
   ``results.jsonl`` as it arrives, with the run's id, the engine, and the attempts taken.

Returns 0 when every item is ok or skipped, 1 when any failed.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from seethrough_core.character import InputError

from .items import Item
from .results import RESULTS_NAME, ResultsLog
from .sources import collect
from .work import base_record, failed_record, finished_record, hook_from_env, input_hashes

PROG = "seethrough-rig"


@dataclass
class BatchConfig:
    src: str
    out_dir: Path
    steps: tuple[str, ...] = ("decompose", "build", "preview")
    options: dict = field(default_factory=dict)      # the command line's per-item defaults
    workers: int = 1
    ray: str | None = None                            # None: the local pool
    ray_gpus: float = 1.0
    ray_actors: int | None = None
    force: bool = False
    quiet: bool = False
    progress: bool = False                            # draw a progress bar (a terminal)


@dataclass
class Summary:
    ok: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    records: list[dict] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def prepare_out_dir(out_dir: Path) -> Path:
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: -o must be a folder, and a file is in the way")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from seethrough_core.outputs import write_error
        raise write_error(out_dir, exc) from None
    return out_dir


def make_engine(config: BatchConfig):
    if config.ray:
        from .ray_engine import RayEngine, import_ray
        import_ray()                   # a missing Ray is one line before any work
        model = {k: v for k, v in config.options.items()
                 if k in ("model", "depth_model", "dtype", "device") and v is not None}
        return RayEngine(config.ray, workers=config.workers, gpus=config.ray_gpus,
                         actors=config.ray_actors, model_defaults=model)
    from .pool import LocalPool
    return LocalPool(config.workers)


def run_batch(config: BatchConfig) -> Summary:
    """Run the batch ``config`` describes; see the module docstring."""
    out_dir = prepare_out_dir(Path(os.path.abspath(config.out_dir)))
    items = collect(config.src, out_dir, config.options, config.steps)
    engine = make_engine(config)
    device = "cuda" if config.ray and config.ray_gpus > 0 else "cpu"
    items = [_with_device(item, device) for item in items]
    run_id = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
    hook = hook_from_env()
    summary = Summary()
    started = time.perf_counter()
    from tqdm import tqdm
    bar = tqdm(total=len(items), unit="item", desc="batch", disable=not config.progress,
               leave=False, file=sys.stderr, dynamic_ncols=True)

    with ResultsLog(out_dir / RESULTS_NAME) as log:
        def report(record: dict, attempts: int | None) -> None:
            record = dict(record)
            if attempts is not None:
                record["attempts"] = attempts
            record.update(engine=engine.name, run=run_id,
                          finished=_dt.datetime.now(_dt.timezone.utc).isoformat(
                              timespec="seconds"))
            log.append(record)
            status = record["status"]
            setattr(summary, status, getattr(summary, status) + 1)
            summary.records.append(record)
            if status == "failed":
                bar.write(f"{PROG}: failed: {record['name']} ({record['input']}): "
                          f"{record['error']}", file=sys.stderr)
            bar.update(1)
            bar.set_postfix(failed=summary.failed, refresh=False)

        tasks: list[dict] = []
        try:
            for item in items:
                task = _plan(item, out_dir, config.force, hook, report)
                if task is not None:
                    tasks.append(task)
            engine.run(tasks, report)
        finally:
            bar.close()
            # A worker killed on an item's last attempt (or stopped with the batch) may leave
            # its hidden temporary folder behind; one killed a moment ago may still be exiting.
            from seethrough_core.outputs import sweep_stale
            for task in tasks:
                sweep_stale(out_dir / task["name"], wait=2.0)
    summary.seconds = time.perf_counter() - started
    return summary


def _with_device(item: Item, device: str) -> Item:
    """The diffusion backend runs where the engine has its accelerator unless told."""
    if item.options.get("backend") == "seethrough" and "device" not in item.options:
        return dataclasses.replace(item, options={**item.options, "device": device})
    return item


def _plan(item: Item, out_dir: Path, force: bool, hook: dict | None,
          report: Callable[[dict, int | None], None]) -> dict | None:
    """The item's task, or None when it was settled here (done already, or unreadable)."""
    task = {"input": str(item.input), "name": item.name, "out_dir": str(out_dir),
            "steps": list(item.steps), "options": item.options, "line": item.line,
            "input_sha256": None, "sidecars_sha256": {}}
    if hook:
        task["test_hook"] = hook
    if not item.steps:
        report({**base_record(task), "status": "skipped", "timings": {}, "outputs": {},
                "note": "a PSD has no decompose step to run"}, 0)
        return None
    try:
        sha, sidecars = input_hashes(item.input, item.is_psd)
    except InputError as exc:
        report(failed_record(task, f"reading: {exc}"), 0)
        return None
    task.update(input_sha256=sha, sidecars_sha256=sidecars)
    if not force:
        done = finished_record(out_dir, item.name, sha, sidecars, item.options, item.steps)
        if done is not None:
            report({**base_record(task), "status": "skipped", "timings": {},
                    "outputs": done["outputs"], "note": "already done (same input and options)"},
                   0)
            return None
    return task


def summary_line(summary: Summary, out_dir: Path) -> str:
    total = summary.ok + summary.skipped + summary.failed
    return (f"{total} item{'s' if total != 1 else ''}: {summary.ok} ok, {summary.skipped} "
            f"skipped, {summary.failed} failed in {summary.seconds:.1f} s; results in "
            f"{out_dir / RESULTS_NAME}")
