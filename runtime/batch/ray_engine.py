"""The Ray engine: the same per-item work on a Ray cluster (``batch --ray``).

- Items whose steps are all CPU work (build, preview, the heuristic decomposition) run as plain
  Ray tasks, one per item, each :func:`runtime.batch.work.run_item`; a worker that dies is
  retried once by Ray (``max_retries=1``), then the item is failed.
- Items with ``--backend seethrough`` are decomposed by Ray Data batch inference:
  ``ray.data.from_items(items).map_batches(ModelDecomposer, concurrency=N, num_gpus=G,
  batch_size=1)``, an actor pool whose actors load the diffusion model once, in
  ``__init__``. Each actor hands the decomposed PSD's files back as bytes, and a plain task
  then writes the item's folder and runs build and preview on a CPU.
- Outputs are written by the tasks themselves, straight into OUT_DIR: every node must see the
  inputs and OUT_DIR at the same paths (a shared file system), and have seethrough-rig
  installed. (Fetching results back to the driver as bytes is not implemented.)

Ray is imported only here and only when ``--ray`` is given; it is the optional ``[ray]`` extra.
"""
from __future__ import annotations

import json
import logging
import pickle
import queue
import threading
from typing import Callable

from seethrough_core.character import InputError

from .work import decompose_files, error_line, failed_record, run_item

LOCAL_OBJECT_STORE = 256 * 2**20
DIED = ("the Ray worker died while working on it, twice (killed, out of memory, or a crash in "
        "native code); rerun the batch to try it again")


def import_ray():
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'seethrough-rig[ray]'") from None
    return ray


def needs_model(task: dict) -> bool:
    return "decompose" in task["steps"] and task["options"].get("backend") == "seethrough"


class ModelDecomposer:
    """A Ray Data actor: loads the diffusion model once (``__init__``) and decomposes one item
    per batch into the decompose step's files. A model that cannot be loaded fails each item
    with that line instead of failing the whole dataset."""

    def __init__(self, preload: dict, threads: int = 1) -> None:
        self.error: str | None = None
        try:
            if preload.get("device", "cpu") == "cpu":
                import torch
                torch.set_num_threads(max(1, int(threads)))
            from seethrough_core.decompose.seethrough_model import preload as load
            load(**{k: preload[k] for k in ("model", "depth_model", "dtype") if k in preload})
        except Exception as exc:          # noqa: BLE001 - reported per item
            self.error = error_line(exc)

    def __call__(self, batch: dict) -> dict:
        import numpy as np
        results = []
        for text in batch["task"]:
            task = json.loads(str(text))
            if self.error:
                result = {"error": self.error}
            else:
                result = decompose_files(task)
            results.append(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        out = np.empty(len(results), dtype=object)
        out[:] = results
        return {"task": np.asarray(batch["task"]), "result": out}


class RayEngine:
    """``RayEngine(address, ...).run(tasks, report)``, like :class:`LocalPool`. ``address``:
    ``auto`` (the cluster `ray start` runs here, else a private local instance), ``local``
    (always a private local instance), or ``ray://HOST:PORT``/``HOST:PORT``. When Ray is
    already initialised in this process (a test), that instance is used."""

    name = "ray"

    def __init__(self, address: str, *, workers: int, gpus: float = 1.0,
                 actors: int | None = None, model_defaults: dict | None = None) -> None:
        self.address = address
        self.workers = max(1, int(workers))
        self.gpus = float(gpus)
        self.actors = actors
        self.model_defaults = dict(model_defaults or {})

    # --------------------------------------------------------------------------- connect
    def _connect(self, ray) -> bool:
        """Connect (or start); True when this run started the instance it must shut down."""
        if ray.is_initialized():
            return False
        quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
        if self.address in ("auto", "local"):
            if self.address == "auto":
                try:
                    ray.init(address="auto", **quiet)
                    return True
                except (ConnectionError, RuntimeError, ValueError):
                    pass
            ray.init(num_cpus=self.workers, include_dashboard=False,
                     object_store_memory=LOCAL_OBJECT_STORE, **quiet)
            return True
        try:
            ray.init(address=self.address, **quiet)
        except Exception as exc:                # noqa: BLE001 - one line, exit 2
            raise InputError(f"--ray {self.address}: cannot connect "
                             f"({' '.join(str(exc).split())[:200]}); is the cluster's head "
                             "running (ray start --head) and its client port open?") from None
        return True

    # ------------------------------------------------------------------------------- run
    def run(self, tasks: list[dict], report: Callable[[dict, int | None], None]) -> None:
        if not tasks:
            return
        ray = import_ray()
        started = self._connect(ray)
        try:
            self._run(ray, tasks, report)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray, tasks: list[dict], report: Callable[[dict, int | None], None]) -> None:
        remote_item = ray.remote(num_cpus=1, max_retries=1, retry_exceptions=False)(run_item)
        model_tasks = [t for t in tasks if needs_model(t)]
        refs: dict = {}
        for task in tasks:
            if not needs_model(task):
                refs[remote_item.remote(task)] = task
        rows: queue.Queue = queue.Queue()
        feeder = None
        waiting = {t["name"]: t for t in model_tasks}
        if model_tasks:
            feeder = threading.Thread(target=self._feed, args=(ray, model_tasks, rows),
                                      daemon=True, name="batch-ray-data")
            feeder.start()
        try:
            while refs or waiting:
                self._drain(rows, waiting, refs, remote_item, report)
                if not refs:
                    continue
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.2)
                for ref in ready:
                    task = refs.pop(ref)
                    record, attempts = self._result(ray, ref, task)
                    report(record, attempts)
        except BaseException:
            for ref in refs:
                try:
                    ray.cancel(ref, force=True)
                except Exception:           # noqa: BLE001 - stopping anyway
                    pass
            raise

    def _drain(self, rows: queue.Queue, waiting: dict, refs: dict, remote_item,
               report: Callable[[dict, int | None], None]) -> None:
        """Hand decomposed items on to their CPU tasks; fail them when the model failed."""
        block = not refs and bool(waiting)
        while True:
            try:
                kind, task, payload = rows.get(timeout=0.2) if block else rows.get_nowait()
            except queue.Empty:
                return
            block = False
            if kind == "row":
                task = waiting.pop(task["name"], task)
                if payload.get("error"):
                    report(failed_record(task, f"decompose: {payload['error']}",
                                         {"decompose": payload.get("seconds", 0.0)}), 1)
                else:
                    refs[remote_item.remote({**task, "decomposed": payload})] = task
            else:          # the dataset failed or ended: what it did not yield fails with it
                line = payload if kind == "error" else "the model actors returned no result"
                for left in list(waiting.values()):
                    report(failed_record(left, f"decompose: {line}"), 1)
                waiting.clear()

    def _feed(self, ray, model_tasks: list[dict], rows: queue.Queue) -> None:
        try:
            import ray.data
            context = ray.data.DataContext.get_current()
            context.enable_progress_bars = False
            context.print_on_execution_start = False
            logging.getLogger("ray.data").setLevel(logging.WARNING)
            gpus = self.gpus
            actors = self.actors or max(1, int(ray.cluster_resources().get("GPU", 0) // gpus)
                                         if gpus > 0 else 1)
            actors = min(actors, len(model_tasks))
            preload = {k: v for k, v in self.model_defaults.items()
                       if k in ("model", "depth_model", "dtype", "device")}
            first = model_tasks[0]["options"]
            for key in ("model", "depth_model", "dtype", "device"):
                if key not in preload and key in first:
                    preload[key] = first[key]
            ds = ray.data.from_items([{"task": json.dumps(t)} for t in model_tasks])
            ds = ds.map_batches(ModelDecomposer, fn_constructor_kwargs={"preload": preload},
                                concurrency=actors, num_gpus=gpus, num_cpus=1, batch_size=1,
                                batch_format="numpy")
            for row in ds.iter_rows():
                task = json.loads(str(row["task"]))
                result = row["result"]
                rows.put(("row", task, pickle.loads(result) if isinstance(result, bytes)
                          else result))
        except BaseException as exc:            # noqa: BLE001 - reported on the main thread
            rows.put(("error", None, error_line(exc)))
        finally:
            rows.put(("end", None, None))

    @staticmethod
    def _result(ray, ref, task: dict) -> tuple[dict, int | None]:
        """The record and how many attempts it took (None: Ray retried it or not, unseen)."""
        try:
            return ray.get(ref), None
        except ray.exceptions.WorkerCrashedError:
            return failed_record(task, DIED), 2
        except ray.exceptions.RayError as exc:
            cause = getattr(exc, "cause", None)
            return failed_record(task, error_line(cause) if isinstance(cause, BaseException)
                                 else " ".join(str(exc).split())[:200]), 1

