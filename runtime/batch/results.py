"""The results manifest, ``OUT_DIR/results.jsonl``: one JSON line per item and run.

Only the batch's driver writes it, one whole line per ``os.write`` on a file opened for
appending, flushed to disk (fsync) before the next item is reported, so a crash or Ctrl-C loses
at most the line being written. A torn last line (no newline at its end) is cut off when the
next run opens the file, and readers skip it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

from seethrough_core.outputs import fsync_paths, write_error

RESULTS_NAME = "results.jsonl"


class ResultsLog:
    """Append-only JSONL writer: ``with ResultsLog(path) as log: log.append(record)``."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def __enter__(self) -> "ResultsLog":
        created = not self.path.exists()
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
            _cut_torn_tail(self._fd)
            if created:
                fsync_paths([self.path.parent])
        except OSError as exc:
            self.close()
            raise write_error(self.path, exc) from None
        return self

    def append(self, record: dict) -> None:
        if self._fd is None:
            raise ValueError("the results log is closed")
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        except OSError as exc:
            raise write_error(self.path, exc) from None

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __exit__(self, *exc) -> None:
        self.close()


def _cut_torn_tail(fd: int) -> None:
    """Drop a last line without its newline (the writer died in the middle of it)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    if os.pread(fd, 1, size - 1) == b"\n":
        return
    end, block = size, 1 << 16
    while end > 0:
        start = max(0, end - block)
        chunk = os.pread(fd, end - start, start)
        at = chunk.rfind(b"\n")
        if at >= 0:
            os.ftruncate(fd, start + at + 1)
            os.fsync(fd)
            return
        end = start
    os.ftruncate(fd, 0)
    os.fsync(fd)


def iter_results(path: str | os.PathLike) -> Iterator[dict]:
    """The records of a results manifest, oldest first; a torn or unreadable line (only ever
    the last one, unless the file was edited by hand) is skipped."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(record, dict):
            yield record


def latest_results(path: str | os.PathLike) -> dict[str, dict]:
    """{item folder name: its most recent record}."""
    latest: dict[str, dict] = {}
    for record in iter_results(path):
        if isinstance(record.get("name"), str):
            latest[record["name"]] = record
    return latest
