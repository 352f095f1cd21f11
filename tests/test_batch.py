"""`seethrough-rig batch` on the local worker pool: sources, failures, resuming, worker deaths."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from runtime.batch.items import folder_names, options_used, steps_for
from runtime.batch.results import ResultsLog, iter_results, latest_results
from runtime.batch.sources import collect
from runtime.batch.work import HOOK_ENV, file_sha256
from seethrough_core.character import InputError

REPO = Path(__file__).resolve().parents[1]
SIZE = 256          # small pictures: a few seconds an item on a busy 2-core machine


# ------------------------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def small_character():
    from examples.character import draw_example_character
    return draw_example_character(size=SIZE)


def _png(character, path: Path) -> Path:
    rgba = character.rest_composite()
    assert cv2.imwrite(str(path), rgba[..., [2, 1, 0, 3]])
    return path


def _psd(character, path: Path) -> Path:
    from seethrough_core.psd_write import write_psd
    write_psd(character, path)
    return path


def _batch(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runtime", "batch", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def _results(out: Path) -> dict[str, dict]:
    return latest_results(out / "results.jsonl")


def _parts(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.endswith((".part", ".old")))


def _identity(folder: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of the folder and each file: unchanged means never rewritten."""
    out = {".": (folder.stat().st_ino, folder.stat().st_mtime_ns)}
    for p in folder.iterdir():
        out[p.name] = (p.stat().st_ino, p.stat().st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def psd_folder(tmp_path_factory, small_character) -> Path:
    """Five PSDs of the example character (build + preview only: no decomposition)."""
    folder = tmp_path_factory.mktemp("psds")
    for i in range(1, 6):
        _psd(small_character, folder / f"c{i}.psd")
    return folder


# ---------------------------------------------------------------------------- pure parts

def test_steps_bring_what_they_need_and_a_psd_is_never_decomposed():
    assert steps_for(("preview",), psd=False) == ("decompose", "build", "preview")
    assert steps_for(("build",), psd=False) == ("decompose", "build")
    assert steps_for(("preview",), psd=True) == ("build", "preview")
    assert steps_for(("decompose",), psd=True) == ()
    assert steps_for(("decompose",), psd=False) == ("decompose",)


def test_only_the_options_the_steps_use_identify_an_item():
    assert options_used({"backend": "heuristic", "mesh_density": 2.0, "preview": "video"},
                        ("decompose",)) == {"backend": "heuristic"}
    used = options_used({"mesh_density": 2, "preview": "video", "preview_seconds": 1},
                        ("build", "preview"))
    assert used == {"mesh_density": 2.0, "sides": "auto", "preview": "video",
                    "preview_seconds": 1.0, "seed": 0}
    assert "seed" not in options_used({}, ("build", "preview"))      # a sheet has no randomness


def test_folder_names_are_distinct_stable_and_safe(tmp_path):
    inputs = [tmp_path / "a.png", tmp_path / "a.psd", tmp_path / "x" / "b.png",
              tmp_path / "y" / "b.png", tmp_path / "ünï cødé!.png", tmp_path / ".hidden.png",
              tmp_path / "results.jsonl.png", tmp_path / "C.png", tmp_path / "c.jpg"]
    names = folder_names(inputs, [None] * len(inputs))
    assert names == folder_names(inputs, [None] * len(inputs))
    assert len({n.casefold() for n in names}) == len(names)
    assert names[:2] == ["a-png", "a-psd"]
    assert names[2].startswith("b-png-") and names[3].startswith("b-png-")
    assert names[4] == "ünï_cødé_"
    assert not any(n.startswith(".") for n in names)
    assert names[6] != "results.jsonl"
    # Explicit names are kept; a same path listed twice still gets two folders.
    same = folder_names([tmp_path / "a.png"] * 3, [None, "mine", None])
    assert same[1] == "mine" and len(set(same)) == 3
    assert same[0].startswith("a-png-") and same[2].startswith("a-png-")


def test_folder_source_skips_sidecars_index_maps_hidden_files_and_the_output(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.psd", "a_depth.psd", "a.psd.json", "a_index.png", "b.png", "b_index.png",
                 ".c.png", "notes.txt"):
        (src / name).write_bytes(b"x")
    (src / "out").mkdir()
    (src / "out" / "d.png").write_bytes(b"x")
    items = collect(str(src / "*"), src / "out", {}, ("build",))
    assert [i.input.name for i in items] == ["a.psd", "b.png", "b_index.png"]
    assert [i.input.name for i in collect(str(src), src / "out", {}, ("build",))] == \
        ["a.psd", "b.png", "b_index.png"]
    assert [i.name for i in collect(str(src / "**" / "*.png"), src / "out", {}, ("build",))] \
        == ["b", "b_index"]
    with pytest.raises(InputError, match="matches no pictures"):
        collect(str(src / "*.webp"), tmp_path / "o", {}, ("build",))
    with pytest.raises(InputError, match="no such folder"):
        collect(str(tmp_path / "nowhere"), tmp_path / "o", {}, ("build",))


def test_hashing_never_opens_a_fifo_or_a_folder(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        file_sha256(fifo)
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        file_sha256(tmp_path / "dir.png")
    (tmp_path / "link.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(InputError, match="link to a file that does not exist"):
        file_sha256(tmp_path / "link.png")
    data = tmp_path / "f.png"
    data.write_bytes(b"abc")
    assert file_sha256(data) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_results_log_cuts_a_torn_last_line_and_readers_skip_it(tmp_path):
    path = tmp_path / "results.jsonl"
    with ResultsLog(path) as log:
        log.append({"name": "a", "status": "ok"})
    with open(path, "ab") as f:
        f.write(b'{"name": "b", "sta')               # the writer died mid-line
    assert [r["name"] for r in iter_results(path)] == ["a"]
    with ResultsLog(path) as log:
        log.append({"name": "c", "status": "failed"})
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and [json.loads(l)["name"] for l in lines[:-1]] == ["a", "c"]
    path.write_bytes(b'{"name": "torn')               # a file that is one torn line
    with ResultsLog(path) as log:
        log.append({"name": "d", "status": "ok"})
    assert [r["name"] for r in iter_results(path)] == ["d"]


# --------------------------------------------------------------------------- whole runs

def test_a_folder_with_bad_files_fails_those_items_and_finishes_the_rest(tmp_path,
                                                                       small_character):
    src = tmp_path / "src"
    src.mkdir()
    _png(small_character, src / "girl.png")
    _psd(small_character, src / "layered.psd")
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n but the rest is missing")
    (src / "folder.png").mkdir()                     # named like a picture, not one
    os.mkfifo(src / "pipe.png")                      # reading it would block forever
    out = tmp_path / "out"
    result = _batch(src, "-o", out, "--workers", "2")
    assert result.returncode == 1, result.stderr
    records = _results(out)
    assert set(records) == {"girl", "layered", "corrupt", "folder", "pipe"}
    assert {n: r["status"] for n, r in records.items()} == {
        "girl": "ok", "layered": "ok", "corrupt": "failed", "folder": "failed",
        "pipe": "failed"}
    assert "decompose:" in records["corrupt"]["error"] and "corrupt.png" in records["corrupt"]["error"]
    assert "is a folder" in records["folder"]["error"]
    assert "not a regular file" in records["pipe"]["error"]
    for name in ("corrupt", "folder", "pipe"):       # one error line each on stderr too
        assert f"failed: {name} (" in result.stderr
        assert "\n" not in records[name]["error"]
        assert not (out / name).exists()
    girl = records["girl"]
    assert girl["steps"] == ["decompose", "build", "preview"]
    assert girl["input_sha256"] == file_sha256(src / "girl.png")
    assert set(girl["timings"]) == {"decompose", "build", "preview", "total"}
    assert girl["options"] == {"backend": "heuristic", "mesh_density": 1.0, "sides": "auto",
                               "preview": "sheet"}
    for key in ("psd", "depth_psd", "psd_json", "index_png", "rig", "preview"):
        assert (out / girl["outputs"][key]).is_file()
    assert records["layered"]["steps"] == ["build", "preview"]          # a PSD: no decompose
    assert set(records["layered"]["outputs"]) == {"rig", "preview"}
    sheet = cv2.imread(str(out / "girl" / "preview.png"))
    assert sheet is not None and min(sheet.shape[:2]) > 2 * SIZE          # nine poses
    assert sheet.std() > 20
    from rig.rigfile import load_rig
    assert len(load_rig(out / "layered" / "layered.rig").spec.layers) >= 10
    item = json.loads((out / "girl" / "item.json").read_text())
    assert item["status"] == "ok" and item["input_sha256"] == girl["input_sha256"]
    assert _parts(out) == []
    assert "5 items: 2 ok, 0 skipped, 3 failed" in result.stdout


def test_a_manifest_carries_per_item_options(tmp_path, small_character):
    _psd(small_character, tmp_path / "a.psd")
    manifest = tmp_path / "list.jsonl"
    manifest.write_text("\n".join([
        json.dumps({"input": "a.psd", "name": "coarse", "mesh_density": 0.3, "steps": ["build"]}),
        "",
        json.dumps({"input": "a.psd", "name": "fine", "mesh_density": 2.0, "steps": "build"}),
        json.dumps({"input": str(tmp_path / "a.psd"), "preview": "video", "preview_seconds": 0.5,
                    "seed": 3}),
    ]) + "\n")
    out = tmp_path / "out"
    result = _batch(manifest, "-o", out, "--workers", "2", "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    records = _results(out)
    assert set(records) == {"coarse", "fine", "a"}
    assert records["coarse"]["line"] == 1 and records["fine"]["line"] == 3
    assert records["coarse"]["options"] == {"mesh_density": 0.3, "sides": "auto"}
    assert records["a"]["options"] == {"mesh_density": 1.0, "sides": "auto", "preview": "video",
                                       "preview_seconds": 0.5, "seed": 3}
    from rig.rigfile import load_rig
    verts = {n: sum(len(l.mesh.vertices) for l in load_rig(out / n / f"{n}.rig").spec.layers)
             for n in ("coarse", "fine")}
    assert verts["fine"] > 2 * verts["coarse"]
    assert not (out / "coarse" / "preview.png").exists()
    video = out / "a" / "preview.mp4"
    assert video.is_file()
    import av
    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 15        # 0.5 s at 30 fps


@pytest.mark.parametrize("line, message", [
    ('{"input": "a.png"', "not valid JSON"),
    ('["a.png"]', "must be a JSON object"),
    ('{"backend": "heuristic"}', '"input" is missing'),
    ('{"input": "a.txt"}', "not a picture or PSD"),
    ('{"input": "a.png", "mesh": 1}', "unknown key 'mesh'"),
    ('{"input": "a.png", "mesh_density": "fine"}', '"mesh_density": \'fine\' is not a number'),
    ('{"input": "a.png", "mesh_density": 99}', "from 0.05 to 20"),
    ('{"input": "a.png", "steps": ["build", "rig"]}', "unknown step 'rig'"),
    ('{"input": "a.png", "model": "m"}', "seethrough backend only"),
    ('{"input": "a.png", "name": "../x"}', '"name"'),
    ('{"input": "a.psd", "steps": ["decompose"]}', "no decompose step"),
])
def test_a_bad_manifest_line_is_one_error_naming_the_line_and_nothing_runs(tmp_path, line,
                                                                            message):
    manifest = tmp_path / "list.jsonl"
    manifest.write_text('{"input": "ok.png"}\n' + line + "\n")
    out = tmp_path / "out"
    result = _batch(manifest, "-o", out, timeout=60)
    assert result.returncode == 2
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and "list.jsonl:2: " in err and message in err, err
    assert not (out / "results.jsonl").exists()


def test_bad_arguments_exit_2(tmp_path):
    assert _batch(tmp_path / "nowhere", "-o", tmp_path / "out", timeout=60).returncode == 2
    (tmp_path / "a.png").write_bytes(b"x")
    result = _batch(tmp_path, "-o", tmp_path / "out", "--steps", "build,dance", timeout=60)
    assert result.returncode == 2 and "unknown step 'dance'" in result.stderr
    result = _batch(tmp_path, "-o", tmp_path / "out", "--model", "m", timeout=60)
    assert result.returncode == 2 and "--backend seethrough only" in result.stderr
    (tmp_path / "file").write_text("x")
    result = _batch(tmp_path, "-o", tmp_path / "file", timeout=60)
    assert result.returncode == 2 and "must be a folder" in result.stderr
    result = _batch(tmp_path, "-o", tmp_path / "out", "--ray", "somewhere", timeout=60)
    assert result.returncode == 2 and "give auto, local or ray://HOST:PORT" in result.stderr
    result = _batch(tmp_path, "-o", tmp_path / "out", "--ray-gpus", "0", timeout=60)
    assert result.returncode == 2 and "apply to --ray only" in result.stderr
    helped = _batch("--help", timeout=60)
    assert helped.returncode == 0 and "1 when any item failed" in " ".join(helped.stdout.split())


def test_a_rerun_skips_what_is_done_and_redoes_what_changed(tmp_path, small_character):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a", "b", "c"):
        _psd(small_character, src / f"{name}.psd")
    out = tmp_path / "out"
    assert _batch(src, "-o", out, "--steps", "build", "--workers", "2").returncode == 0
    before = {n: _identity(out / n) for n in "abc"}
    first_run = {r["run"] for r in iter_results(out / "results.jsonl")}

    again = _batch(src, "-o", out, "--steps", "build")
    assert again.returncode == 0 and "3 skipped" in again.stdout
    assert {n: r["status"] for n, r in _results(out).items()} == dict.fromkeys("abc", "skipped")
    assert {n: _identity(out / n) for n in "abc"} == before          # nothing rewritten
    # A changed input, or other options, is done again; the rest still skipped.
    from examples.character import draw_example_character
    _psd(draw_example_character(size=SIZE + 64), src / "b.psd")
    changed = _batch(src, "-o", out, "--steps", "build", "--mesh-density", "1")
    assert changed.returncode == 0
    assert {n: r["status"] for n, r in _results(out).items()} == {
        "a": "skipped", "b": "ok", "c": "skipped"}
    finer = _batch(src, "-o", out, "--steps", "build", "--mesh-density", "1.5")
    assert finer.returncode == 0 and "3 ok" in finer.stdout
    assert json.loads((out / "a" / "item.json").read_text())["options"]["mesh_density"] == 1.5
    runs = [r["run"] for r in iter_results(out / "results.jsonl")]
    assert len(runs) == 12 and len(set(runs)) == 4 and runs[0] in first_run
    assert _parts(out) == []


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_an_interrupted_batch_resumes_without_redoing_finished_items(tmp_path, psd_folder, sig):
    out = tmp_path / "out"
    hook = json.dumps({"sleep": 0.6, "at": "build"})     # slow enough to stop it midway
    proc = subprocess.Popen([sys.executable, "-m", "runtime", "batch", str(psd_folder), "-o",
                             str(out), "--steps", "build", "--workers", "1"], cwd=REPO,
                            env={**os.environ, HOOK_ENV: hook}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(iter_results(out / "results.jsonl"))) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "interrupted" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    # The worker notices and stops: its half-written item folder goes with it.
    deadline = time.monotonic() + 30
    while _parts(out) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _parts(out) == []
    finished = {n for n, r in _results(out).items() if r["status"] == "ok"}
    assert 2 <= len(finished) < 5
    folders = {p.name for p in out.iterdir() if p.is_dir()}
    assert finished <= folders
    for name in folders:                 # whatever is under a real name is complete
        assert (out / name / "item.json").is_file() and (out / name / f"{name}.rig").is_file()
    before = {n: _identity(out / n) for n in folders}

    resumed = _batch(psd_folder, "-o", out, "--steps", "build", "--workers", "1")
    assert resumed.returncode == 0, resumed.stderr
    records = _results(out)
    assert {n for n, r in records.items() if r["status"] == "skipped"} == folders
    assert {n for n, r in records.items() if r["status"] == "ok"} == \
        {f"c{i}" for i in range(1, 6)} - folders
    assert {n: _identity(out / n) for n in folders} == before
    assert _parts(out) == []


def test_a_killed_worker_has_its_item_retried_once(tmp_path, psd_folder):
    out = tmp_path / "out"
    marker = tmp_path / "marker"
    hook = json.dumps({"kill": ["c2"], "times": 1, "marker": str(marker), "at": "build"})
    result = _batch(psd_folder, "-o", out, "--steps", "build", "--workers", "2",
                    env={HOOK_ENV: hook})
    assert result.returncode == 0, result.stderr
    assert (marker / "c2.killed.0").exists()          # it really was killed once
    records = _results(out)
    assert all(r["status"] == "ok" for r in records.values()) and len(records) == 5
    assert records["c2"]["attempts"] == 2
    assert _parts(out) == []                          # its half-written folder was swept


def test_an_item_that_keeps_killing_its_worker_fails_and_the_batch_finishes(tmp_path,
                                                                           psd_folder):
    out = tmp_path / "out"
    hook = json.dumps({"kill": ["c3"], "times": 99, "marker": str(tmp_path / "m"),
                       "at": "build"})
    result = _batch(psd_folder, "-o", out, "--steps", "build", "--workers", "2",
                    env={HOOK_ENV: hook})
    assert result.returncode == 1
    records = _results(out)
    assert records["c3"]["status"] == "failed" and "died" in records["c3"]["error"]
    assert records["c3"]["attempts"] == 2
    assert len(list((tmp_path / "m").iterdir())) == 2      # tried exactly twice
    assert {n for n, r in records.items() if r["status"] == "ok"} == {"c1", "c2", "c4", "c5"}
    assert not (out / "c3").exists() and _parts(out) == []


def test_the_runtime_never_imports_ray_and_a_missing_ray_is_one_line(tmp_path):
    code = ("import sys, runtime.commands.cli as c, runtime.commands.batch, runtime.batch.runner, "
            "runtime.batch.pool, runtime.batch.work, runtime.batch.sources; "
            "c.build_parser(); assert 'ray' not in sys.modules and 'torch' not in sys.modules, "
            "sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'torch'))")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)
    fake = tmp_path / "noray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    (tmp_path / "a.png").write_bytes(b"x")
    result = _batch(tmp_path / "a.png", "-o", tmp_path / "out", "--ray", "local", timeout=60,
                    env={"PYTHONPATH": str(fake.parent)})
    assert result.returncode == 2
    assert result.stderr.strip() == ("seethrough-rig: error: --ray needs Ray: pip install "
                                     "'seethrough-rig[ray]'")


def test_the_last_sweep_waits_for_a_writer_that_is_still_exiting(tmp_path):
    """A worker's parent learns of its death (its sockets close) a moment before the kernel
    lets it die: the batch's last sweep gives it that moment; a writer that lives on keeps its
    temporary folder."""
    from seethrough_core.outputs import sweep_stale
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.4)"])
    try:
        temp = tmp_path / f".x.{proc.pid}-0123abcd.part"
        temp.mkdir()
        assert sweep_stale(tmp_path / "x") == []                 # still running
        started = time.monotonic()
        assert sweep_stale(tmp_path / "x", wait=10.0) == [temp]
        assert time.monotonic() - started < 5.0 and not temp.exists()
    finally:
        proc.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        temp = tmp_path / f".y.{alive.pid}-0123abcd.part"
        temp.mkdir()
        assert sweep_stale(tmp_path / "y", wait=0.3) == [] and temp.exists()
    finally:
        alive.kill()
        alive.wait()


def test_a_killed_writer_not_yet_reaped_counts_as_gone(tmp_path):
    """A SIGKILLed worker stays a zombie until its parent (a pool, a raylet) reaps it; its
    temporary folder is stale all the same."""
    from seethrough_core.outputs import sweep_stale
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        os.kill(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        temp = tmp_path / f".x.{proc.pid}-0123abcd.part"
        temp.mkdir()
        live = tmp_path / f".x.{os.getpid()}-0123abcd.part"
        live.mkdir()
        assert sweep_stale(tmp_path / "x") == [temp]
        assert not temp.exists() and live.exists()
    finally:
        proc.wait()
