"""The local engine: a pool of worker processes on this machine, one item per worker at a time.

Worker deaths. When a worker is killed (the OOM killer, a crash in native code, SIGKILL),
``concurrent.futures`` breaks the whole pool and every item in flight fails with it, so which
item killed it is not known. Every item in flight then counts one death, the pool is rebuilt,
and each of them runs again *alone* before the others go on: an innocent item finishes alone,
and an item that dies alone is the one killing its worker. An item that died twice is failed
(so an item is retried once), and the batch goes on.

At most ``workers`` items are submitted at a time, so "in flight" means running (nothing waits
in the executor's queue to be failed with a broken pool).
"""
from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable

from . import worker
from .work import failed_record

MAX_DEATHS = 2
DIED = ("the worker process died while working on it, twice (killed, out of memory, or a "
        "crash in native code); rerun the batch to try it again")


def default_workers() -> int:
    return max(1, min(available_cpus(), 4))


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class LocalPool:
    """``LocalPool(workers).run(tasks, report)``: ``report(record, attempts)`` is called in
    this thread for every task, as each finishes."""

    name = "pool"

    def __init__(self, workers: int, *, start_method: str = "spawn") -> None:
        self.workers = max(1, int(workers))
        self.threads = max(1, available_cpus() // self.workers)
        self.context = multiprocessing.get_context(start_method)
        self.pools_started = 0

    def _executor(self) -> ProcessPoolExecutor:
        self.pools_started += 1
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=self.context,
                                   initializer=worker.init, initargs=(self.threads,))

    def run(self, tasks: list[dict], report: Callable[[dict, int | None], None]) -> None:
        if not tasks:
            return
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # inherited by the workers
        pending = deque(tasks)
        alone: deque[dict] = deque()           # in flight when a worker died: run one by one
        deaths: dict[str, int] = {}
        running: dict[Future, dict] = {}
        executor = self._executor()
        try:
            while pending or alone or running:
                broken = False
                if alone:
                    if not running:
                        broken = not self._submit(executor, alone, running)
                else:
                    while pending and len(running) < self.workers and not broken:
                        broken = not self._submit(executor, pending, running)
                died: list[dict] = []
                if running and not broken:
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in done:
                        task = running.pop(future)
                        self._collect(future, task, deaths, report, died)
                if died or broken:
                    # The pool is broken: the futures still running fail with it too.
                    for future, task in list(running.items()):
                        running.pop(future)
                        self._collect(future, task, deaths, report, died)
                    executor.shutdown(wait=True)
                    executor = self._executor()
                    for task in died:
                        name = task["name"]
                        deaths[name] = deaths.get(name, 0) + 1
                        if deaths[name] >= MAX_DEATHS:
                            report(failed_record(task, DIED), deaths[name])
                        else:
                            alone.append(task)
        except BaseException:
            _stop(executor)
            raise
        executor.shutdown(wait=True)

    @staticmethod
    def _submit(executor: ProcessPoolExecutor, queue: deque, running: dict) -> bool:
        """Submit the next task of ``queue``; False (the task put back) when the pool turned
        out to be broken already (a worker died since the last look)."""
        task = queue.popleft()
        try:
            running[executor.submit(worker.call, task)] = task
        except BrokenProcessPool:
            queue.appendleft(task)
            return False
        return True

    @staticmethod
    def _collect(future: Future, task: dict, deaths: dict[str, int],
                 report: Callable[[dict, int | None], None], died: list[dict]) -> None:
        try:
            record = future.result()
        except BrokenProcessPool:
            died.append(task)
            return
        except Exception as exc:          # noqa: BLE001 - e.g. a task that cannot be pickled
            from .work import error_line
            record = failed_record(task, error_line(exc))
        report(record, deaths.get(task["name"], 0) + 1)


def _stop(executor: ProcessPoolExecutor) -> None:
    """Stop now (Ctrl-C, SIGTERM): cancel what has not started, tell the workers to stop (an
    item in progress removes its temporary folder) and wait for them."""
    executor.shutdown(wait=False, cancel_futures=True)
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    for child in children:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
            child.join(timeout=5)
    executor.shutdown(wait=True)
