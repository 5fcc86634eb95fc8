"""Shared fixtures and the reference facts the tests compare against (vendored in tests/data)."""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
#: TaskSet's stored configs, fixed task names and the published list's digest (see data/README.md).
REFERENCE_FILE = Path(__file__).resolve().parent / "data" / "taskset_reference.json"


@functools.cache
def _reference() -> dict:
    return json.loads(REFERENCE_FILE.read_text())


def load_reference(filename: str) -> dict:
    """TaskSet's stored entries of one config file, e.g. ``"mlp_family.json"``: {name: [cfg, sampler]}.

    A fresh copy each call, so a test may change what it gets.
    """
    configs = _reference()["configs"]
    stem = filename.removesuffix(".json")
    if stem not in configs:
        raise KeyError(f"no reference configs {filename!r}; known: {', '.join(sorted(configs))}")
    return json.loads(json.dumps(configs[stem]))


def reference_task_names() -> list[str]:
    """TaskSet's fixed task names and family names, in the order of the released list."""
    return list(_reference()["fixed_task_names"])


def reference_opt_list_sha256() -> str:
    """SHA-256 of the published opt_list's configs and source (make_reference_sample.py)."""
    return _reference()["opt_list_sha256"]


def opt_list_digest(lst: dict) -> str:
    """The digest ``reference_opt_list_sha256`` holds, of a list file's parsed JSON."""
    path = REFERENCE_FILE.with_name("make_reference_sample.py")
    spec = importlib.util.spec_from_file_location("make_reference_sample", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.opt_list_digest(lst)


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
