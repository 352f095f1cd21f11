"""A local pool worker process: how it starts, runs an item, and stops.

- One BLAS thread (as the command line runs), and the item's native threads capped to the
  worker's share of the machine's cores.
- Ctrl-C at a terminal reaches the whole process group: workers ignore SIGINT and let the
  batch decide. SIGTERM (the batch stopping them) during an item raises inside it, so the
  item's temporary folder is removed on the way out; between items it exits at once.
- If the batch process itself dies (SIGKILL, a crash), a watchdog thread sees its parent go and
  stops the worker the same way: no orphan keeps working on an item nobody will record.

This module imports nothing heavy at module level: it is what a fresh worker unpickles first.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading

_busy = False
_threads = 1


class Stopped(BaseException):
    """Raised inside an item when the worker is told to stop."""


def _on_stop(signum, frame) -> None:
    if _busy:
        raise Stopped(signum)
    os._exit(128 + signum)


def init(threads: int) -> None:
    """ProcessPoolExecutor's initializer."""
    global _threads
    _threads = max(1, int(threads))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(_threads))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            signal.signal(sig, _on_stop)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_watch, args=(parent,), daemon=True,
                         name="batch-parent-watch").start()


def _watch(parent) -> None:
    parent.join()
    os.kill(os.getpid(), signal.SIGTERM)


def _cap_threads() -> None:
    try:
        import cv2
        cv2.setNumThreads(_threads)
    except Exception:            # noqa: BLE001 - a missing or odd OpenCV only loses the cap
        pass
    import sys
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            torch.set_num_threads(_threads)
        except Exception:        # noqa: BLE001
            pass


def call(task: dict) -> dict:
    """Run one item (see :func:`runtime.batch.work.run_item`) in this worker."""
    global _busy
    from runtime.batch.work import run_item
    _cap_threads()
    _busy = True
    try:
        return run_item(task)
    except Stopped as exc:
        os._exit(128 + int(exc.args[0]))
    finally:
        _busy = False
