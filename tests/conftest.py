"""Shared fixtures. Real data lives in ../shared/data beside the checkout; tests skip cleanly
when it is absent (it is never committed here)."""
from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def sample_character(sample_psd):
    from seethrough_core.loading import load_character
    return load_character(sample_psd)


@pytest.fixture(scope="session")
def sample_rig_spec(sample_character):
    from rig.autorig import build_spec
    return build_spec(sample_character)
