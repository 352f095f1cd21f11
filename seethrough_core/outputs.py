"""Writing outputs: every file or folder the tool writes goes through here.

- **Atomic.** An output is written under a temporary name beside its target and renamed into
  place when complete, so an error, Ctrl-C or SIGTERM never leaves half a file under the real
  name (the temporary is removed on the way out).
- **Stale temporaries are swept.** Temporary names carry the writer's process id,
  ``.NAME.PID-TOKEN.part``; a SIGKILL leaves one behind, and the next run that writes the same
  target removes every temporary whose process is gone.
- **Together or not at all.** Outputs that belong together (a PSD and its sidecars) are renamed
  as a group; if one rename fails the others are rolled back.
- **One line on failure.** An OSError while writing becomes one :class:`InputError` naming the
  path and what to do (disk full, read-only, a folder in the way, permission).
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Iterator

from .character import InputError

_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]+\.(?:part|old)$")

_FIXES = {
    errno.ENOSPC: "the disk is full; free some space or write somewhere else",
    errno.EDQUOT: "the disk quota is used up; free some space or write somewhere else",
    errno.EFBIG: "the file is too large for this file system; write somewhere else",
    errno.EROFS: "the file system is read-only; write somewhere else",
    errno.EACCES: "permission denied; choose a folder you can write to",
    errno.EPERM: "permission denied; choose a folder you can write to",
    errno.EISDIR: "it is a folder; give a file name",
    errno.ENOTDIR: "part of the path is a file, not a folder",
    errno.ENOENT: "its folder does not exist or was removed",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EIO: "input/output error; the disk may be failing or was removed",
    errno.EXDEV: "cannot move the finished file into place across file systems",
    errno.EMFILE: "too many open files",
}


def write_error(path: str | os.PathLike, exc: OSError) -> InputError:
    """One line for a failed write: the path, what happened and what to do."""
    reason = _FIXES.get(exc.errno or 0) or (exc.strerror or str(exc) or type(exc).__name__)
    return InputError(f"{path}: cannot write ({reason})")


def stdout_error(exc: OSError) -> InputError:
    reason = _FIXES.get(exc.errno or 0) or (exc.strerror or str(exc))
    return InputError(f"standard output: cannot write ({reason})")


# ------------------------------------------------------------------------------ temporaries

def temp_path(target: str | os.PathLike, kind: str = "part") -> Path:
    """A fresh temporary name beside ``target`` that :func:`sweep_stale` can attribute to this
    process; stale temporaries of the same target are removed first."""
    target = Path(target)
    sweep_stale(target)
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.{kind}")


def sweep_stale(target: str | os.PathLike, wait: float = 0.0) -> list[Path]:
    """Remove the temporaries of ``target`` left by processes that no longer run. ``wait``:
    seconds to give a writer that is still exiting (killed a moment ago: its sockets are
    closed, so its parent knows, before the kernel lets it die) to be gone."""
    deadline = time.monotonic() + wait
    removed = _sweep_once(Path(target))
    while time.monotonic() < deadline and _temporaries(Path(target)):
        time.sleep(0.05)
        removed += _sweep_once(Path(target))
    return removed


def _temporaries(target: Path) -> list[tuple[Path, int]]:
    """(path, writer's pid) of the temporaries of ``target`` by other processes."""
    try:
        entries = list(os.scandir(target.parent if str(target.parent) else "."))
    except OSError:
        return []
    found = []
    for entry in entries:
        m = _TEMP_RE.match(entry.name) if entry.name.startswith(f".{target.name}.") else None
        if m and m["name"] == target.name and int(m["pid"]) != os.getpid():
            found.append((Path(entry.path), int(m["pid"])))
    return found


def _sweep_once(target: Path) -> list[Path]:
    removed = []
    for path, pid in _temporaries(target):
        if not _alive(pid):
            remove(path)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed process its parent has not reaped yet (Linux): dead, though signals reach it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in (b"Z", b"X")


def remove(path: str | os.PathLike) -> None:
    """Remove a file or folder if it is there; never raises."""
    path = Path(path)
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


# ---------------------------------------------------------------------------------- targets

def prepare_target(target: str | os.PathLike, *, folder: bool = False) -> Path:
    """Check that ``target`` can be written (not a folder in the way of a file, nor a file in the
    way of a folder) and create its parent folders. Raises InputError."""
    target = Path(target)
    if not folder and target.is_dir():
        raise InputError(f"{target}: cannot write (it is a folder; give a file name)")
    if folder and target.exists() and not target.is_dir():
        raise InputError(f"{target}: cannot write (a file is in the way of the folder; choose "
                         "another name)")
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(f"{target}: cannot write ({parent} is a file, not a folder)") from None
    except OSError as exc:
        raise write_error(target, exc) from None
    return target


def commit(temp: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move a finished temporary into place; on failure remove it and raise one line."""
    try:
        os.replace(temp, target)
    except OSError as exc:
        remove(temp)
        raise write_error(target, exc) from None


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike, *, folder: bool = False) -> Iterator[Path]:
    """``with atomic_output(path) as tmp: write tmp`` -> ``path`` appears only when the block
    finishes. ``folder``: the output is a folder (created empty for the block to fill); an
    existing folder at ``path`` is replaced as a whole."""
    target = prepare_target(target, folder=folder)
    temp = temp_path(target)
    try:
        if folder:
            temp.mkdir()
        yield temp
        if folder and target.is_dir():
            _swap_folder(temp, target)
        else:
            commit(temp, target)
    except OSError as exc:
        remove(temp)
        raise write_error(target, exc) from None
    except BaseException:
        remove(temp)
        raise


def _swap_folder(temp: Path, target: Path) -> None:
    old = temp_path(target, "old")
    os.replace(target, old)
    try:
        os.replace(temp, target)
    except BaseException:
        os.replace(old, target)
        raise
    remove(old)


@contextlib.contextmanager
def atomic_group(targets: list[str | os.PathLike]) -> Iterator[list[Path]]:
    """Like :func:`atomic_output` for files that belong together: all of them appear, or none
    (the earlier versions of any already moved into place are put back)."""
    paths = [prepare_target(t) for t in targets]
    temps = [temp_path(p) for p in paths]
    try:
        yield temps
        _commit_group(temps, paths)
    except OSError as exc:
        for t in temps:
            remove(t)
        raise write_error(_target_of(exc, temps, paths), exc) from None
    except BaseException:
        for t in temps:
            remove(t)
        raise


def _target_of(exc: OSError, temps: list[Path], paths: list[Path]) -> Path:
    """The output an error is about: the one whose temporary (or itself) it names."""
    for name in (exc.filename, getattr(exc, "filename2", None)):
        for temp, path in zip(temps, paths):
            if name is not None and str(name) in (str(temp), str(path)):
                return path
    return paths[-1]


def _commit_group(temps: list[Path], paths: list[Path]) -> None:
    moved: list[tuple[Path, Path | None]] = []       # (target, its earlier version set aside)
    try:
        for temp, path in zip(temps, paths):
            old = None
            if path.exists():
                old = temp_path(path, "old")
                os.replace(path, old)
            moved.append((path, old))
            os.replace(temp, path)
    except BaseException:
        for path, old in reversed(moved):
            remove(path)
            if old is not None:
                with contextlib.suppress(OSError):
                    os.replace(old, path)
        raise
    for _, old in moved:
        if old is not None:
            remove(old)


# ---------------------------------------------------------------------------------- stdout

def fsync_paths(paths: list[str | os.PathLike]) -> None:
    """Flush files or folders (a folder's entries: names created or renamed in it) to disk; best
    effort, since some file systems refuse to fsync a folder."""
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


def write_stdout(text: str) -> None:
    """Print to standard output and flush now, so a full disk or closed pipe is one line here
    rather than a traceback at exit."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise stdout_error(exc) from None
