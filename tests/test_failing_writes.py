"""Failing disks, interrupted runs and noisy libraries: one line on stderr, exit 2 (or the
signal's code), and nothing left behind."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from runtime.commands.cli import main
from seethrough_core.outputs import atomic_group, atomic_output, sweep_stale, temp_path

ROOT = Path(__file__).resolve().parents[1]


def _cli(*argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runtime", *map(str, argv)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, **kwargs)


def _one_line(stderr: str) -> str:
    lines = [l for l in stderr.splitlines() if l.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# ---------------------------------------------------------------------------- the one place

def test_atomic_output_leaves_nothing_on_error_and_names_the_fix(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    from seethrough_core.character import InputError
    with pytest.raises(InputError, match="the disk is full"):
        with atomic_output(target) as tmp:
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputError, match="it is a folder"):
        with atomic_output(tmp_path / "folder"):
            pass


def test_a_group_appears_together_or_the_old_files_stay(tmp_path, monkeypatch):
    a, b = tmp_path / "a.psd", tmp_path / "a_index.png"
    a.write_text("old a")
    b.write_text("old b")
    real_replace = os.replace
    calls = []

    def failing_second_rename(src, dst):
        calls.append(dst)
        if len(calls) == 4:     # old a aside, new a in, old b aside, then new b fails
            raise OSError(errno.EIO, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_second_rename)
    from seethrough_core.character import InputError
    with pytest.raises(InputError, match="cannot write"):
        with atomic_group([a, b]) as temps:
            temps[0].write_text("new a")
            temps[1].write_text("new b")
    monkeypatch.undo()
    assert a.read_text() == "old a" and b.read_text() == "old b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.psd", "a_index.png"]


def test_stale_temporaries_of_dead_processes_are_swept(tmp_path):
    target = tmp_path / "char.rig"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    mine = temp_path(target)
    mine.write_bytes(b"in progress")                 # this process is alive: kept
    stale = tmp_path / f".char.rig.{dead}-0badf00d.part"
    stale.write_bytes(b"left by a SIGKILL")
    other = tmp_path / f".other.rig.{dead}-0badf00d.part"
    other.write_bytes(b"another target's")           # not this target's: kept
    assert sweep_stale(target) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, other.name])


# ----------------------------------------------------------------------------- write failures

def test_an_output_that_is_a_folder_is_one_line(rig_path, example_character, tmp_path, capsys):
    from seethrough_core.psd_write import write_psd
    taken = {name: tmp_path / name for name in ("taken.mp4", "taken.json", "taken.rig")}
    for folder in taken.values():
        folder.mkdir()
    # A folder is where a PNG sequence goes, but never over somebody's other files.
    (taken["taken.mp4"] / "notes.txt").write_text("mine")
    assert main(["render", str(rig_path), "--idle", "0.2", "--size", "64x64", "-o",
                 str(taken["taken.mp4"]), "--quiet"]) == 2
    assert "holds other files" in _one_line(capsys.readouterr().err)
    (taken["taken.mp4"] / "notes.txt").unlink()
    assert main(["physics", str(rig_path), "--no-window", "--export",
                 str(taken["taken.json"])]) == 2
    assert "folder" in _one_line(capsys.readouterr().err)
    psd = tmp_path / "char.psd"
    write_psd(example_character, psd, sidecars=False)
    assert main(["build", str(psd), "-o", str(taken["taken.rig"]), "--quiet"]) == 2
    assert "it is a folder" in _one_line(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["char.psd", *sorted(taken)]
    assert not any(any(folder.iterdir()) for folder in taken.values())


def test_a_full_disk_under_a_rig_is_one_line_and_leaves_nothing(example_character, tmp_path,
                                                                 monkeypatch, capsys):
    from seethrough_core.psd_write import write_psd
    psd = tmp_path / "char.psd"
    write_psd(example_character, psd, sidecars=False)
    out = tmp_path / "out"
    out.mkdir()

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", disk_full)
    assert main(["build", str(psd), "-o", str(out / "char.rig"), "--quiet"]) == 2
    assert "the disk is full" in _one_line(capsys.readouterr().err)
    assert list(out.iterdir()) == []


def test_a_full_disk_under_a_video_is_one_line_and_leaves_nothing(rig_path, tmp_path,
                                                                  monkeypatch, capsys):
    import av.container

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(av.container.OutputContainer, "mux", disk_full)
    out = tmp_path / "idle.mp4"
    assert main(["render", str(rig_path), "--idle", "1", "--size", "64x64", "-o", str(out),
                 "--quiet"]) == 2
    assert "the disk is full" in _one_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_a_real_full_disk_when_one_can_be_mounted(rig_path, tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        filler = mount / "filler"
        with open(filler, "wb", buffering=0) as fh:      # fill it up
            try:
                while True:
                    fh.write(b"\0" * 1024)
            except OSError:
                pass
        for argv in (["render", rig_path, "--rest", "--size", "512x512", "-o", mount / "x.png"],
                     ["render", rig_path, "--idle", "1", "-o", mount / "x.mp4"],
                     ["physics", rig_path, "--no-window", "--export", mount / "p.json"]):
            proc = _cli(*argv)
            assert proc.returncode == 2, proc.stderr
            assert "the disk is full" in _one_line(proc.stderr)
            assert [p.name for p in mount.iterdir()] == ["filler"]
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_stdout_on_a_full_device_is_one_line(rig_path):
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "runtime", "info", str(rig_path), "--json"],
                              cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True,
                              timeout=60)
    assert proc.returncode == 2
    assert "standard output" in _one_line(proc.stderr)


# ------------------------------------------------------------------------------ interruptions

def test_sigterm_mid_render_removes_the_partial_video(rig_path, tmp_path):
    out = tmp_path / "idle.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "runtime", "render", str(rig_path), "--idle",
                             "120", "--size", "96x96", "-o", str(out), "--quiet"], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".part") for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "no partial output appeared"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert _one_line(err) == "seethrough-rig: terminated"
    assert list(tmp_path.iterdir()) == []


def test_sigkill_leaves_a_temporary_that_the_next_run_sweeps(rig_path, tmp_path):
    out = tmp_path / "idle.mp4"
    argv = [sys.executable, "-m", "runtime", "render", str(rig_path), "--size", "96x96", "-o",
            str(out), "--quiet"]
    proc = subprocess.Popen(argv + ["--idle", "120"], cwd=ROOT, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".part") for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=30)
    assert any(p.name.endswith(".part") for p in tmp_path.iterdir())
    done = subprocess.run(argv + ["--idle", "0.2"], cwd=ROOT, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["idle.mp4"]


def test_ctrl_c_while_starting_is_one_line(tmp_path):
    for delay in (0.06, 0.1, 0.15, 0.2, 0.3, 0.5):
        proc = subprocess.Popen([sys.executable, "-m", "runtime", "build", str(tmp_path / "x.png")],
                                cwd=ROOT, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        if "init_import_site" in err:
            continue      # the interpreter's own start-up, before any program code runs
        assert "Traceback" not in err, err
        # Killed before Python's handler was in place, one clean line, or (finished first)
        # the one-line error about the missing picture.
        if proc.returncode != -signal.SIGINT:
            assert len([l for l in err.splitlines() if l.strip()]) <= 1, err
            assert proc.returncode in (2, 130), err


# ------------------------------------------------------------------------------- native noise

def test_native_library_lines_are_silenced_and_verbose_shows_them(tmp_path):
    import cv2
    import numpy as np
    # Noise does not compress: cutting the file in half cuts into the pixel data.
    picture = np.random.default_rng(0).integers(0, 255, (400, 300, 3), np.uint8)
    ok, data = cv2.imencode(".png", picture)
    broken = tmp_path / "broken.png"
    broken.write_bytes(data.tobytes()[: len(data) // 2])
    proc = _cli("decompose", broken, "-o", tmp_path / "x.psd")
    assert proc.returncode == 2
    assert "broken.png" in _one_line(proc.stderr)
    loud = _cli("decompose", broken, "-o", tmp_path / "x.psd", "--verbose")
    assert loud.returncode == 2
    assert "libpng" in loud.stderr          # what libpng said, shown only when asked
    assert "libpng" not in proc.stderr
    assert not any(p.suffix == ".psd" for p in tmp_path.iterdir())


def test_live_idle_only_never_opens_a_camera(rig_path, tmp_path, monkeypatch, capsys):
    import runtime.drivers.capture as capture

    def no_camera(*args, **kwargs):
        raise AssertionError("a camera was opened")

    monkeypatch.setattr(capture, "open_source", no_camera)
    monkeypatch.setattr(capture, "CameraSource", no_camera)
    out = tmp_path / "idle.mp4"
    code = main(["live", str(rig_path), "--idle-only", "--record", str(out), "--duration", "0.5",
                 "--size", "96x96", "--report-every", "0"])
    assert code == 0, capsys.readouterr().err
    assert out.exists() and out.stat().st_size > 0
