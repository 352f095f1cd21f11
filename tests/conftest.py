"""Shared fixtures. Real data lives in ../shared/data beside the checkout; tests skip cleanly
when it is absent (it is never committed here)."""
from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    env = os.environ.get("SEETHROUGH_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture(scope="session")
def sample_psd(shared_data: Path) -> Path:
    path = shared_data / "characters" / "seethrough-sample.psd"
    if not path.is_file():
        pytest.skip("See-through sample PSD not available")
    return path


@pytest.fixture(scope="session")
def edge_case_dir(shared_data: Path) -> Path:
    path = shared_data / "psd-edge-cases"
    if not path.is_dir():
        pytest.skip("PSD edge cases not available")
    return path


@pytest.fixture(scope="session")
def example_character():
    """The procedurally drawn example character at a test-friendly size."""
    from examples.character import draw_example_character
    return draw_example_character(size=512)


@pytest.fixture(scope="session")
def example_rig_spec(example_character):
    from rig.autorig import build_spec
    return build_spec(example_character)


@pytest.fixture()
def example_rig(example_rig_spec):
    """A fresh Rig (its own springs and buffers) over the shared spec."""
    from rig.model import Rig
    return Rig(example_rig_spec)


@pytest.fixture(scope="module")
def rig_path(tmp_path_factory, example_rig_spec):
    """The example rig saved as a .rig file, for tests of the commands."""
    from rig.rigfile import save_rig
    path = tmp_path_factory.mktemp("rig") / "example.rig"
    save_rig(example_rig_spec, path)
    return path


@pytest.fixture()
def fresh_rig_path(tmp_path, rig_path):
    """A copy of the example rig that a test may overwrite."""
    path = tmp_path / "char.rig"
    shutil.copy(rig_path, path)
    return path


@pytest.fixture(scope="session")
def sample_character(sample_psd):
    from seethrough_core.loading import load_character
    return load_character(sample_psd)


@pytest.fixture(scope="session")
def sample_rig_spec(sample_character):
    from rig.autorig import build_spec
    return build_spec(sample_character)


@pytest.fixture(scope="session")
def decomposed():
    """``decomposed(image)``: the heuristic decomposition of an RGBA picture, made once per
    session for each distinct picture (several tests measure the same real pictures; each
    decomposition takes seconds). Each call hands out its own copy, free to change."""
    import copy
    import hashlib

    from seethrough_core.decompose import decompose
    made = {}

    def get(image):
        key = (image.shape, hashlib.sha1(image.tobytes()).hexdigest())
        if key not in made:
            made[key] = decompose(image)
        return copy.deepcopy(made[key])
    return get


@pytest.fixture(scope="module")
def display():
    """The current DISPLAY, or a private Xvfb started for the window tests of one module."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("no DISPLAY and no Xvfb (apt-get install -y xvfb)")
    read_fd, write_fd = os.pipe()
    # -displayfd: Xvfb picks a free display number and writes it to us when it is ready.
    proc = subprocess.Popen([xvfb, "-displayfd", str(write_fd), "-screen", "0", "1280x800x24",
                             "-nolisten", "tcp"], pass_fds=(write_fd,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    number = b""
    deadline = time.monotonic() + 15
    while not number.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([read_fd], [], [], 0.5)
        if ready:
            chunk = os.read(read_fd, 16)
            if not chunk:
                break
            number += chunk
    os.close(read_fd)
    if not number.strip().isdigit():
        proc.kill()
        proc.wait()
        pytest.skip("Xvfb did not start")
    os.environ["DISPLAY"] = ":" + number.decode().strip()
    try:
        yield os.environ["DISPLAY"]
    finally:
        del os.environ["DISPLAY"]
        proc.terminate()
        proc.wait(timeout=10)
