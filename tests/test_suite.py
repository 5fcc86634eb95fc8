"""Curve suites: spec -> generate -> pack -> load_suite reads like the store it came from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from taskset_torch.cli.generate import generate_suite
from taskset_torch.curves import CurveStoreError
from taskset_torch.suite import SuiteSpec, load_suite, pack_suite, read_spec

REPO = Path(__file__).resolve().parents[1]


def suite_spec_path(name: str) -> Path:
    return REPO / "experiments" / "suites" / f"{name}.json"


SPEC = {
    "name": "tiny",
    "protocol": {"steps": 12, "eval_every": 6, "eval_batches": 1},
    "seeds": "0",
    "spaces": {"nadamw_grid": "0-3", "adam1p_wide_grid": "0,5"},
    "tasks": ["quadratic_family_seed1", "quadratic_family_seed2"],
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("suite")
    spec_path = root / "tiny.json"
    spec_path.write_text(json.dumps(SPEC))
    spec = read_spec(spec_path)
    store = root / "store"
    assert generate_suite(spec, store, extra_args=["--quiet"]) == 0
    return spec, store, root


def test_spec_round_trips_and_rejects_mistakes(tmp_path):
    spec = SuiteSpec.from_json(SPEC)
    assert spec.spaces["nadamw_grid"] == (0, 1, 2, 3) and spec.steps == 12
    assert SuiteSpec.from_json(spec.to_json()) == spec
    with pytest.raises(ValueError, match="unknown keys"):
        SuiteSpec.from_json({**SPEC, "taks": []})
    with pytest.raises(ValueError, match="listed twice"):
        SuiteSpec.from_json({**SPEC, "tasks": ["a", "a"]})
    with pytest.raises(ValueError, match="not like 0-9"):
        SuiteSpec.from_json({**SPEC, "spaces": {"nadamw_grid": "x"}})
    with pytest.raises(ValueError, match="does not exist"):
        read_spec(tmp_path / "none.json")


def test_packed_suite_reads_like_the_store(generated, tmp_path):
    from taskset_torch.curves import CurveStore

    spec, store, _ = generated
    out = pack_suite(spec, store, tmp_path / "tiny.npz")
    suite = load_suite(out, cache_dir=tmp_path / "cache")
    src = CurveStore(store)
    for space in spec.spaces:
        assert suite.tasks(space) == sorted(spec.tasks)
        for task in spec.tasks:
            a, b = src.read(task, space), suite.read(task, space)
            assert list(b.config_names) == [f"{space}_seed{c}" for c in spec.spaces[space]]
            pos = [a.config_names.index(n) for n in b.config_names]
            np.testing.assert_allclose(b.values, a.values[:, pos], rtol=2e-3, equal_nan=True)
            np.testing.assert_array_equal(b.steps, a.steps)
            assert b.data_sources == a.data_sources
            assert b.hparams[0]["learning_rate"] == a.hparams[pos[0]]["learning_rate"]
    # the lists read a suite exactly as a store
    from hparam_lists.importers import read_store

    cd = read_store(suite.root, space="nadamw_grid")
    assert cd.values.shape[:2] == (2, 4)
    # the zero optimizer's reference curves travel with the suite
    assert "zero" in suite.spaces("quadratic_family_seed1")
    ref = read_store(store, space="nadamw_grid")
    np.testing.assert_allclose(cd.zero_loss, ref.zero_loss, rtol=2e-3)
    # a second load reuses the unpacked copy
    assert load_suite(out, cache_dir=tmp_path / "cache").root == suite.root


def test_large_losses_survive_float16(generated, tmp_path):
    from taskset_torch.suite import _pack_values

    v = np.array([[1.0, 3.0e9, np.nan, -np.inf, 0.5]], np.float32)
    packed, scale = _pack_values(v)
    assert np.isfinite(packed[0, 1]) and scale >= 3.0e9 / 65504
    back = packed.astype(np.float32) * scale
    np.testing.assert_allclose(back[0, [0, 1, 4]], v[0, [0, 1, 4]], rtol=2e-3)
    assert np.isnan(back[0, 2]) and back[0, 3] == -np.inf


def test_missing_curves_are_named(generated, tmp_path):
    spec, store, _ = generated
    bigger = SuiteSpec.from_json({**SPEC, "spaces": {"nadamw_grid": "0-4"}})
    with pytest.raises(CurveStoreError, match="no curve for nadamw_grid_seed4"):
        pack_suite(bigger, store, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
    out = pack_suite(bigger, store, tmp_path / "x.npz", allow_missing=True)
    suite = load_suite(out, cache_dir=tmp_path / "cache")
    c = suite.read("quadratic_family_seed1", "nadamw_grid")
    assert c.present[0, :4].all() and not c.present[0, 4].any()


def test_unknown_suite_names_list_the_shipped_ones():
    with pytest.raises(ValueError, match="unknown suite 'nope'"):
        load_suite("nope")


def test_cli_suite_generate_pack_and_learn(generated, tmp_path, capsys):
    from taskset_torch.cli import main

    spec, store, root = generated
    spec_path = root / "tiny.json"
    assert main(["suite", "generate", str(spec_path), "--store", str(store), "--quiet"]) == 0
    out = tmp_path / "tiny.npz"
    assert main(["suite", "pack", str(spec_path), "--store", str(store), "--out", str(out)]) == 0
    assert out.exists()
    assert main(["suite", "pack", str(root / "nope.json"), "--store", str(store)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_learn_reads_a_suite(generated, tmp_path, monkeypatch, capsys):
    from taskset_torch.cli import main

    spec, store, _ = generated
    out = pack_suite(spec, store, tmp_path / "tiny.npz")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    lst = tmp_path / "list.json"
    rc = main(["learn", "--suite", str(out), "--space", "nadamw_grid", "--out", str(lst)])
    assert rc == 0, capsys.readouterr().err
    assert json.loads(lst.read_text())["configs"]
    assert main(["learn", "--suite", str(out), "--out", str(tmp_path / "l2.json")]) == 2
    assert "--suite needs --space" in capsys.readouterr().err


def test_the_shipped_suite_spec_names_real_tasks_of_every_family_and_fixed_kind():
    from taskset_torch.tasks.fixed import FIXED_KINDS, fixed_task_kind, is_fixed_task
    from taskset_torch.tasks.registry import FAMILIES, parse_seed_name

    spec = read_spec(suite_spec_path("taskset-torch-v1"))
    assert len(spec.tasks) >= 100
    kinds = set()
    for t in spec.tasks:
        kinds.add(fixed_task_kind(t) if is_fixed_task(t) else parse_seed_name(t)[0])
    assert kinds == set(FAMILIES) | set(FIXED_KINDS)
    assert {"nadamw_grid", "adam8p_wide_grid", "adam1p_wide_grid", "adam4p_wide_grid"} <= set(
        spec.spaces
    )
    assert len(spec.spaces["nadamw_grid"]) >= 200 and len(spec.spaces["adam8p_wide_grid"]) >= 200


def test_the_shipped_mini_suite_loads_like_a_store(tmp_path):
    from hparam_lists.importers import read_store

    suite = load_suite("taskset-torch-mini", cache_dir=tmp_path)
    spec = read_spec(suite_spec_path("taskset-torch-mini"))
    for space, configs in spec.spaces.items():
        assert suite.tasks(space) == sorted(spec.tasks)
        cd = read_store(suite.root, space=space)
        assert cd.values.shape[:2] == (len(spec.tasks), len(configs))
        step0 = cd.values[:, :, 0, 0, :]  # [task, config, split]
        # float16 packing kept every finite step-0 loss finite (nvp_family_seed61's init
        # overflows in float32 itself, in TaskSet's code too)
        finite = np.isfinite(step0).all(axis=(1, 2))
        assert [t for t, ok in zip(cd.tasks, finite) if not ok] == ["nvp_family_seed61"]
