"""Shared fixtures: where the read-only reference material lives (skip cleanly when absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
REFERENCE_CONFIGS = SHARED / "reference" / "configs"


def load_reference(filename: str) -> dict:
    path = REFERENCE_CONFIGS / filename
    if not path.exists():
        pytest.skip(f"reference configs not available at {path}")
    return json.loads(path.read_text())


def assert_config_equal(got, want, path: str = "") -> None:
    """Structure, ints, bools and strings exact; floats within 1e-12 relative."""
    if isinstance(want, float) and not isinstance(want, bool):
        assert isinstance(got, float), f"{path}: expected float {want!r}, got {got!r}"
        assert abs(got - want) <= 1e-12 * max(abs(want), 1e-300), f"{path}: {got!r} != {want!r}"
    elif isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), f"{path}: keys {got} != {want}"
        for k in want:
            assert_config_equal(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{path}: {got!r} != {want!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_config_equal(g, w, f"{path}[{i}]")
    else:
        assert type(got) is type(want) and got == want, f"{path}: {got!r} != {want!r}"


@pytest.fixture(autouse=True)
def _no_archive_search():
    """No real archives (../shared/data) unless a test sets a search path itself: the suite
    behaves the same with or without ../shared and never spends minutes decoding it."""
    from taskset_torch import datasets

    datasets.set_search_path([])
    yield
    datasets.set_search_path([])


@pytest.fixture
def data_dir(tmp_path):
    """A fresh dataset directory and default dataset settings for one test."""
    from taskset_torch import datasets

    datasets.set_data_dir(tmp_path / "data")
    datasets.set_allow_substitutes(True)
    yield tmp_path / "data"
    datasets.set_data_dir(None)
    datasets.set_allow_substitutes(True)
