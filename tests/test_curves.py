"""The one curve type: units, combine, seed names, tidy rows, and the curve layer's imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from taskset_torch.curves import (
    SPLITS,
    Curves,
    CurveStore,
    combine,
    config_sort_key,
    parse_seed_name,
    read_taskset_npz,
)

REPO = Path(__file__).resolve().parents[1]
SPACE = "nadamw_grid"
STEPS = [0, 10, 20]


def _unit(task, seed, idx, value=None, hp=True):
    names = [f"{SPACE}_seed{i}" for i in idx]
    vals = np.random.RandomState(seed * 100 + idx[0]).rand(len(idx), len(STEPS), 4)
    return Curves.unit(task, SPACE, seed, names, hparams=[{"lr": float(i)} if hp else {} for i in idx], steps=STEPS, values=vals if value is None else np.full_like(vals, value), time_per_step=np.full(len(idx), 0.5), data_sources=[{"dataset": "d", "kind": "real"}], meta={"k": 1})  # fmt: skip


@pytest.mark.parametrize(
    "name, parsed",
    [
        ("mlp_family_seed12", ("mlp_family", 12)),
        ("adam8p_wide_grid_seed03", ("adam8p_wide_grid", 3)),
        ("a_seed1_seed2", ("a_seed1", 2)),
        ("TwoD_Bowl1", None),
        ("_seed3", None),
        ("mlp_family_seed", None),
        (None, None),
    ],
)
def test_parse_seed_name(name, parsed):
    assert parse_seed_name(name) == parsed


def test_config_sort_key_orders_by_prefix_then_seed_number():
    names = ["zz", "b_seed2", "a_seed10", "a_seed9", "aa"]
    assert sorted(names, key=config_sort_key) == ["a_seed9", "a_seed10", "b_seed2", "aa", "zz"]


def test_a_unit_is_the_one_task_one_seed_case():
    u = _unit("t", 3, [0, 1])
    assert u.values.shape == (1, 2, 1, len(STEPS), 4) and u.values.dtype == np.float32
    assert u.task == "t" and u.seeds == (3,) and u.space == SPACE
    assert u.time_per_step.shape == (1, 2, 1) and u.present.all()
    assert u.data_sources == {"t": [{"dataset": "d", "kind": "real"}]}


def test_combine_puts_tasks_on_one_grid_and_is_associative():
    a, b, c = _unit("a", 0, [0, 1]), _unit("b", 1, [1, 2]), _unit("c", 0, [2], hp=False)
    ab = combine([a, b])
    assert ab.tasks == ("a", "b") and ab.seeds == (0, 1)
    assert ab.config_names == tuple(f"{SPACE}_seed{i}" for i in range(3))
    np.testing.assert_array_equal(ab.present[0], [[True, False], [True, False], [False, False]])
    assert np.isnan(ab.values[0, 2]).all() and np.isnan(ab.time_per_step[1, 0]).all()
    np.testing.assert_array_equal(ab.values[1, 1:, 1], b.values[0, :, 0])
    assert ab.hparams == ({"lr": 0.0}, {"lr": 1.0}, {"lr": 2.0})
    assert ab.data_sources.keys() == {"a", "b"}
    abc, flat = combine([ab, c]), combine([a, b, c])
    assert abc.equals(flat) and abc.hparams == ab.hparams  # c's {} do not hide known ones
    only_c = combine([c])
    assert only_c.hparams is None  # unknown hyperparameters: None, not empty dicts
    with pytest.raises(ValueError, match="several curve sets for one task"):
        combine([a, a])
    with pytest.raises(ValueError, match="no curves to combine"):
        combine([])


def test_select_keeps_every_per_run_array_aligned():
    ab = combine([_unit("a", 0, [0, 1]), _unit("b", 1, [1, 2])])
    b = ab.select_tasks(["b"]).select_configs([f"{SPACE}_seed2", f"{SPACE}_seed0"])
    assert b.tasks == ("b",) and b.values.shape == (1, 2, 2, len(STEPS), 4)
    np.testing.assert_array_equal(b.present[0], [[False, True], [False, False]])
    assert b.hparams == ({"lr": 2.0}, {"lr": 0.0}) and list(b.data_sources) == ["b"]
    with pytest.raises(KeyError, match="tasks not in the curves"):
        ab.select_tasks(["zz"])


def test_bad_curves_get_clear_errors():
    with pytest.raises(ValueError, match="5-d"):
        Curves(values=np.zeros((2, 3, 4)), tasks=["t"], config_names=["c"], seeds=[0], steps=[0])
    with pytest.raises(ValueError, match="labels give"):
        Curves(values=np.zeros((1, 2, 1, 1, 4)), tasks=["t"], config_names=["c"], seeds=[0], steps=[0])  # fmt: skip
    with pytest.raises(ValueError, match="duplicate seeds"):
        Curves(values=np.zeros((1, 1, 2, 1, 4)), tasks=["t"], config_names=["c"], seeds=[0, 0], steps=[0])  # fmt: skip
    two = combine([_unit("a", 0, [0]), _unit("b", 0, [0])])
    with pytest.raises(ValueError, match="hold 2 tasks; pick one"):
        _ = two.task


def test_write_unit_takes_one_unit(tmp_path):
    store = CurveStore(tmp_path)
    with pytest.raises(TypeError, match="write_unit takes Curves"):
        store.write_unit({"task": "t"})
    with pytest.raises(ValueError, match="one task and one seed"):
        store.write_unit(combine([_unit("t", 0, [0]), _unit("t2", 1, [0])]))
    store.write_unit(_unit("t", 0, [0, 1]))
    store.write_unit(_unit("t", 1, [1]))
    c = store.read("t", SPACE)
    assert c.task == "t" and c.seeds == (0, 1) and c.present.sum() == 3
    loaded = store.load(space=SPACE)
    assert loaded.equals(combine([c]))
    df = c.to_dataframe(hparams=True)
    assert len(df) == 3 * len(STEPS) * 4 and set(df.split) == set(SPLITS)
    assert df.equals(store.to_dataframe(space=SPACE, hparams=True))


def test_bare_released_files_get_hyperparameters_from_the_callers_lookup(tmp_path):
    path = tmp_path / "task_x" / f"{SPACE}_1k_20_replica1.npz"
    path.parent.mkdir()
    names = np.array([f"{SPACE}_seed{i}".encode() for i in range(2)])
    np.savez(path, optimizers=names, xs=np.array(STEPS), ys=np.ones((2, 1, len(STEPS), 4)))
    assert read_taskset_npz(path).hparams == ({}, {})
    lookup = {f"{SPACE}_seed0": {"lr": 0.5}}.__getitem__
    assert read_taskset_npz(path, config_lookup=lookup).hparams == ({"lr": 0.5}, {})
    store = CurveStore(tmp_path, config_lookup=lookup)
    assert store.read("task_x", SPACE).hparams == ({"lr": 0.5}, {})


def test_the_curve_layer_imports_neither_torch_nor_the_optimizers():
    code = (
        "import sys, taskset_torch.curves\n"
        "bad = [m for m in ('torch', 'pandas', 'taskset_torch.optimizers', 'taskset_torch.tasks')"
        " if m in sys.modules]\n"
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"
