"""The process's edges: how it starts, how it is stopped, and what native libraries may print.

- ``entry`` is the console script. It installs the signal handlers before anything heavy is
  imported, so Ctrl-C or SIGTERM in the first moments is one line, not a traceback from inside an
  import.
- SIGTERM and SIGHUP (what a service manager or a closing terminal sends) are handled like
  Ctrl-C: they raise :class:`Terminated`, a KeyboardInterrupt, so every ``finally`` and every
  atomic writer cleans up on the way out.
- Native libraries (libpng, libjpeg, FFmpeg, MediaPipe/absl, OpenCV, TensorFlow Lite) write
  log lines straight to file descriptor 2. :func:`quiet_native_logs` points fd 2 at /dev/null
  while Python's own ``sys.stderr`` keeps the real terminal, so a failure prints one line;
  ``--verbose`` leaves everything as it is.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import warnings
from collections.abc import Iterator

HANDLED_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                        if hasattr(signal, name))

# Log levels the libraries read from the environment when they load.
QUIET_ENV = {
    "GLOG_minloglevel": "2",          # MediaPipe's glog: errors only
    "TF_CPP_MIN_LOG_LEVEL": "3",      # TensorFlow Lite
    "OPENCV_LOG_LEVEL": "SILENT",
    "OPENCV_FFMPEG_LOGLEVEL": "-8",   # AV_LOG_QUIET
    "OPENCV_VIDEOIO_DEBUG": "0",
}


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM or SIGHUP."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = int(signum)


def _raise_terminated(signum, frame) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Terminated` inside the block (main thread only)."""
    previous = {}
    try:
        for sig in HANDLED_SIGNALS:
            previous[sig] = signal.signal(sig, _raise_terminated)
    except ValueError:          # not the main thread: leave the handlers alone
        pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def quiet_native_logs(enabled: bool = True) -> Iterator[None]:
    """Silence what native code writes to fd 2 (and Python's library warnings) inside the block.

    Only when ``sys.stderr`` is the process's real stderr: under a test harness that captures
    it, nothing is changed."""
    if not enabled:
        yield
        return
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    if sys.stderr is not sys.__stderr__ or not _has_fd(sys.stderr, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
        return
    sys.stderr.flush()
    saved_fd = os.dup(2)
    real_stderr = sys.stderr
    try:
        own = os.fdopen(os.dup(saved_fd), "w", buffering=1, encoding=real_stderr.encoding,
                        errors="backslashreplace")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        os.close(saved_fd)
        yield
        return
    sys.stderr = own
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            own.flush()
        sys.stderr = real_stderr
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        with contextlib.suppress(OSError, ValueError):
            own.close()


class StdoutFailed(Exception):
    """Writing to standard output failed (disk full, device gone): carries the OSError."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _GuardedStream:
    """A text stream whose write and flush failures are :class:`StdoutFailed` (a closed pipe
    stays BrokenPipeError: the reader went away, nothing is wrong)."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutFailed(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutFailed(exc) from None

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def guarded_stdout() -> Iterator[None]:
    original = sys.stdout
    sys.stdout = _GuardedStream(original)
    try:
        yield
    finally:
        sys.stdout = original


def show_progress(quiet: bool = False) -> bool:
    """Progress bars and stage lines only for a person watching a terminal: in a log or a pipe
    they would bury the one line that matters."""
    if quiet:
        return False
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _has_fd(stream, fd: int) -> bool:
    try:
        return stream.fileno() == fd
    except (AttributeError, OSError, ValueError):
        return False


def one_blas_thread() -> None:
    """Run numpy's and scipy's OpenBLAS on one thread; call before numpy is first imported.

    The rig's per-frame work is small dense products (a few thousand rows by a few dozen) and
    banded back-substitutions. OpenBLAS splits them over its thread pool, and while capture,
    tracking and drawing keep the cores busy, handing work to those threads costs far more than
    the work: the back hair's ARAP solve took 0.04 ms on one thread against 0.5 ms median and
    6 ms p90 on two. Nothing else here gains from BLAS threads (OpenCV, MediaPipe and torch
    have their own). A user's own OPENBLAS_NUM_THREADS wins."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def entry() -> None:
    """The ``seethrough-rig`` console script."""
    one_blas_thread()
    caught: list[int] = []

    def remember(signum, frame):
        # Raising here could land inside the import machinery, where Python prints the
        # exception as "ignored" and carries on: note the signal, act on it after the import.
        caught.append(signum)

    handled = (signal.SIGINT, *HANDLED_SIGNALS)
    previous = {sig: signal.signal(sig, remember) for sig in handled}
    try:
        from runtime.commands.cli import main
        # numpy and OpenCV load native modules whose start-up turns an interrupt into an
        # ImportError and prints its traceback; almost every command needs them, so they load
        # here, where a signal waits until they are in.
        import cv2  # noqa: F401
        import numpy  # noqa: F401
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        _say_stopped(caught[0])
        sys.exit(128 + caught[0])
    try:
        code = main()
    except KeyboardInterrupt as exc:     # after main() returned control, before exit
        signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
        _say_stopped(signum)
        code = 128 + signum
    sys.exit(code)


def _say_stopped(signum: int) -> None:
    word = "interrupted" if signum == signal.SIGINT else "terminated"
    try:
        sys.stderr.write(f"seethrough-rig: {word}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
