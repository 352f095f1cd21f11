"""`seethrough-rig batch --ray` on a small local Ray instance: CPU steps as tasks, the diffusion
backend (tiny random weights) through Ray Data actors on CPUs, a killed Ray worker and an
interrupted Ray batch resumed."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from runtime.batch.results import latest_results  # noqa: E402
from runtime.batch.runner import BatchConfig, run_batch  # noqa: E402
from runtime.batch.work import HOOK_ENV  # noqa: E402

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SIZE = 256


@pytest.fixture(scope="module")
def small_character():
    from examples.character import draw_example_character
    return draw_example_character(size=SIZE)


@pytest.fixture(scope="module")
def psd_folder(tmp_path_factory, small_character) -> Path:
    from seethrough_core.psd_write import write_psd
    folder = tmp_path_factory.mktemp("psds")
    for i in range(1, 4):
        write_psd(small_character, folder / f"c{i}.psd")
    return folder


def test_the_command_starts_and_stops_its_own_local_ray(tmp_path, psd_folder):
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "runtime", "batch", str(psd_folder / "c1.psd"),
                             "-o", str(out), "--steps", "build", "--ray", "local", "--workers",
                             "1"], cwd=REPO, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    record = latest_results(out / "results.jsonl")["c1"]
    assert record["status"] == "ok" and record["engine"] == "ray"
    assert (out / "c1" / "c1.rig").is_file()


@pytest.fixture(scope="module")
def local_ray():
    """One small Ray instance for the module: 2 CPUs, no dashboard, a small object store."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20,
             log_to_driver=False)
    yield ray
    ray.shutdown()


def _run(src, out: Path, **options) -> dict[str, dict]:
    config = BatchConfig(src=str(src), out_dir=out, ray="auto", workers=2, **options)
    run_batch(config)
    return latest_results(out / "results.jsonl")


def test_heuristic_items_and_bad_files_on_ray(local_ray, tmp_path, small_character):
    """The shared illustrations when they are there (a drawn picture otherwise), a corrupt
    picture, a folder and a FIFO named like pictures."""
    from conftest import shared_data_dir
    src = tmp_path / "src"
    src.mkdir()
    shared = sorted((shared_data_dir() / "illustrations").glob("*.png"))
    for path in shared:
        os.symlink(path, src / path.name)
    if not shared:
        cv2.imwrite(str(src / "drawn.png"), small_character.rest_composite()[..., [2, 1, 0, 3]])
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n and nothing after")
    (src / "folder.png").mkdir()
    os.mkfifo(src / "pipe.png")
    out = tmp_path / "out"
    records = _run(src, out, steps=("decompose", "build", "preview"))
    good = {p.stem for p in shared} or {"drawn"}
    assert {n for n, r in records.items() if r["status"] == "ok"} == good
    assert {n for n, r in records.items() if r["status"] == "failed"} == {"corrupt", "folder",
                                                                         "pipe"}
    assert "decompose:" in records["corrupt"]["error"]
    assert "is a folder" in records["folder"]["error"]
    assert "not a regular file" in records["pipe"]["error"]
    for name in good:
        record = records[name]
        assert record["engine"] == "ray"
        assert set(record["timings"]) == {"decompose", "build", "preview", "total"}
        for rel in record["outputs"].values():
            assert (out / rel).is_file()
    # Resumable on Ray too: nothing left to do.
    again = _run(src, out, steps=("decompose", "build", "preview"))
    assert {n for n, r in again.items() if r["status"] == "skipped"} == good


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from examples.make_tiny_seethrough_model import main
    out = tmp_path_factory.mktemp("tiny")
    assert main([str(out)]) == 0
    return out / "layerdiff", out / "marigold"


def test_model_actor_loads_the_model_once(tiny_models, tmp_path, small_character):
    """The Ray Data actor class, in this process: the model is loaded in __init__ and every
    batch after reuses it."""
    import torch

    from runtime.batch.ray_engine import ModelDecomposer
    from seethrough_core.decompose import seethrough_model
    from seethrough_core.models import loading

    threads = torch.get_num_threads()
    seethrough_model._cache.clear()
    layerdiff, marigold = map(str, tiny_models)
    try:
        actor = ModelDecomposer({"model": layerdiff, "depth_model": marigold, "dtype": "fp32",
                                 "device": "cpu"})
        assert actor.error is None and len(seethrough_model._cache) == 2
        calls = []
        real = loading.load_layerdiff
        loading.load_layerdiff = lambda *a, **k: calls.append(a) or real(*a, **k)
        png = tmp_path / "x.png"
        cv2.imwrite(str(png), small_character.rest_composite()[..., [2, 1, 0, 3]])
        task = {"input": str(png), "name": "x", "options": {
            "backend": "seethrough", "model": layerdiff, "depth_model": marigold,
            "device": "cpu", "sampling_steps": 2}}
        import numpy as np
        out = actor({"task": np.array([json.dumps(task), json.dumps({**task, "name": "y"})])})
        import pickle
        results = [pickle.loads(b) for b in out["result"]]
        assert [sorted(r["files"]) for r in results] == [
            ["x.psd", "x.psd.json", "x_depth.psd", "x_index.png"],
            ["y.psd", "y.psd.json", "y_depth.psd", "y_index.png"]]
        assert calls == []                                  # never loaded again
        broken = ModelDecomposer({"model": str(tmp_path / "nowhere"), "device": "cpu"})
        assert broken.error and "nowhere" in broken.error
        failed = pickle.loads(broken({"task": np.array([json.dumps(task)])})["result"][0])
        assert failed == {"error": broken.error}
    finally:
        loading.load_layerdiff = real
        seethrough_model._cache.clear()
        torch.set_num_threads(threads)


def test_the_diffusion_backend_runs_as_ray_data_actors_on_cpus(local_ray, tiny_models,
                                                               tmp_path, small_character,
                                                               psd_folder):
    layerdiff, marigold = tiny_models
    cv2.imwrite(str(tmp_path / "girl.png"), small_character.rest_composite()[..., [2, 1, 0, 3]])
    shutil.copy(psd_folder / "c1.psd", tmp_path / "layered.psd")
    model = {"backend": "seethrough", "model": str(layerdiff), "depth_model": str(marigold),
             "sampling_steps": 2}
    manifest = tmp_path / "list.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in [
        {"input": "girl.png", "name": "layers_only", "steps": ["decompose"], **model},
        {"input": "girl.png", "name": "rigged", "steps": ["build"], "seed": 5, **model},
        {"input": "layered.psd", "steps": ["build"]},
    ]) + "\n")
    out = tmp_path / "out"
    records = _run(manifest, out, ray_gpus=0, ray_actors=1)
    assert {n: r["status"] for n, r in records.items()} == {
        "layers_only": "ok", "rigged": "ok", "layered": "ok"}, records
    only = records["layers_only"]
    assert only["options"] == {"backend": "seethrough", "model": str(layerdiff),
                               "depth_model": str(marigold), "sampling_steps": 2,
                               "device": "cpu", "seed": 0}
    assert set(only["outputs"]) == {"psd", "depth_psd", "psd_json", "index_png"}
    assert only["timings"]["decompose"] > 0 and only["timings"]["total"] >= \
        only["timings"]["decompose"]
    assert records["rigged"]["options"]["seed"] == 5
    assert (out / "rigged" / "rigged.rig").is_file() and (out / "rigged" / "rigged.psd").is_file()
    from seethrough_core.loading import load_character
    layers = load_character(out / "layers_only" / "layers_only.psd").layers
    assert layers and all(l.depth is not None for l in layers)
    assert records["layered"]["steps"] == ["build"]


def test_a_killed_ray_worker_is_retried_and_the_batch_finishes(local_ray, tmp_path, psd_folder,
                                                               monkeypatch):
    marker = tmp_path / "marker"
    monkeypatch.setenv(HOOK_ENV, json.dumps({"kill": ["c2"], "times": 1,
                                             "marker": str(marker), "at": "build"}))
    out = tmp_path / "out"
    records = _run(psd_folder, out, steps=("build",))
    assert (marker / "c2.killed.0").exists()
    assert {n: r["status"] for n, r in records.items()} == dict.fromkeys(["c1", "c2", "c3"], "ok")
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]

    monkeypatch.setenv(HOOK_ENV, json.dumps({"kill": ["c3"], "times": 99,
                                             "marker": str(tmp_path / "m2"), "at": "build"}))
    out = tmp_path / "out2"
    records = _run(psd_folder, out, steps=("build",))
    assert records["c3"]["status"] == "failed" and "died" in records["c3"]["error"]
    assert len(list((tmp_path / "m2").iterdir())) == 2           # max_retries=1: two tries
    assert {n for n, r in records.items() if r["status"] == "ok"} == {"c1", "c2"}
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]


def test_an_interrupted_ray_batch_resumes_without_redoing_finished_items(tmp_path, psd_folder):
    import signal
    import time

    from runtime.batch.results import iter_results
    out = tmp_path / "out"
    command = [sys.executable, "-m", "runtime", "batch", str(psd_folder), "-o", str(out),
               "--steps", "build", "--ray", "local", "--workers", "1"]
    hook = json.dumps({"sleep": 1.5, "at": "build"})     # slow enough to stop it midway
    proc = subprocess.Popen(command, cwd=REPO, env={**os.environ, HOOK_ENV: hook},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not list(iter_results(out / "results.jsonl")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and "interrupted" in err
    records = latest_results(out / "results.jsonl")
    finished = {n for n, r in records.items() if r["status"] == "ok"}
    assert 1 <= len(finished) < 3
    # Nothing half-written: every item folder under its real name is complete.
    deadline = time.monotonic() + 30
    while [p for p in out.iterdir() if p.name.endswith(".part")] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]
    folders = {p.name for p in out.iterdir() if p.is_dir()}
    assert finished <= folders
    for name in folders:
        assert (out / name / "item.json").is_file() and (out / name / f"{name}.rig").is_file()
    before = {n: (out / n / f"{n}.rig").stat().st_mtime_ns for n in folders}

    resumed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    records = latest_results(out / "results.jsonl")
    assert {n for n, r in records.items() if r["status"] == "skipped"} == folders
    assert {n for n, r in records.items() if r["status"] == "ok"} == {"c1", "c2", "c3"} - folders
    assert all(r["engine"] == "ray" for n, r in records.items() if r["status"] == "ok")
    assert {n: (out / n / f"{n}.rig").stat().st_mtime_ns for n in folders} == before
