"""Tests for the curve store: round trips, merging, atomicity under SIGKILL, concurrency, layouts."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskset_torch.curves import (
    SPLITS,
    Curves,
    CurveStore,
    CurveStoreError,
    merge_curves,
    read_taskset_npz,
    write_taskset_npz,
)
from taskset_torch.curves import io as curve_io

REPO = Path(__file__).resolve().parents[1]
SPACE = "adam8p_wide_grid"
STEPS = np.arange(0, 1001, 200)


def _values(n_configs: int, seed: int, n_steps: int = len(STEPS)) -> np.ndarray:
    return np.random.RandomState(seed).rand(n_configs, n_steps, 4).astype(np.float32)


def _write(store, task, seed, idx, *, steps=STEPS, space=SPACE, meta=None, values=None):
    names = [f"{space}_seed{i}" for i in idx]
    vals = _values(len(idx), 1000 * seed + idx[0], len(steps)) if values is None else values
    return store.write_unit(
        Curves.unit(task, space, seed, names, hparams=[{"learning_rate": 10.0**-i} for i in idx], steps=steps, values=vals, time_per_step=np.full(len(idx), 0.01 * (seed + 1)), data_sources=[{"dataset": "mnist", "kind": "local"}], meta=meta if meta is not None else {"training_steps": 1000, "device": "cpu"})
    )  # fmt: skip


def test_splits_are_the_task_splits():
    from taskset_torch.base import SPLITS as TASK_SPLITS

    assert SPLITS == TASK_SPLITS


def test_unit_round_trip(tmp_path):
    from taskset_torch.base import DataSource

    store = CurveStore(tmp_path)
    vals = _values(2, 0)
    vals[1, 3:, 0] = np.nan  # a diverged run keeps its NaN
    hp = [{"lr": np.float64(0.1), "nesterov": np.bool_(True), "n": np.int64(3)}, {"lr": 1e-3}]
    path = store.write_unit(
        Curves.unit("task_a", SPACE, 4, ["b_cfg", "a_cfg"], hparams=hp, steps=STEPS.tolist(), values=vals, time_per_step=[0.5, np.nan], data_sources=[DataSource("digits", "builtin", "sklearn")], meta={"device": "cpu", "steps": 1000})
    )  # fmt: skip
    assert path.parent == tmp_path / "task_a" / SPACE and path.name.startswith("seed4_")
    assert store.has_unit("task_a", SPACE, 4, ["b_cfg", "a_cfg"])
    assert not store.has_unit("task_a", SPACE, 4, ["a_cfg", "b_cfg"])  # order is part of the unit
    assert not store.has_unit("task_a", SPACE, 5, ["b_cfg", "a_cfg"])
    c = store.read("task_a", SPACE)
    assert (c.task, c.space, list(c.seeds)) == ("task_a", SPACE, [4])
    assert list(c.config_names) == ["a_cfg", "b_cfg"]  # lexicographic without _seed<N> names
    np.testing.assert_array_equal(c.values[0, :, 0], vals[::-1])
    np.testing.assert_array_equal(c.steps, STEPS)
    assert c.steps.dtype == np.int64 and c.values.dtype == np.float32
    np.testing.assert_array_equal(c.time_per_step[0, :, 0], [np.nan, 0.5])
    assert list(c.hparams) == [{"lr": 1e-3}, {"lr": 0.1, "nesterov": True, "n": 3}]
    assert list(c.hparams[1]) == ["lr", "nesterov", "n"]  # key order kept as given
    assert c.data_sources["task_a"] == [
        {"dataset": "digits", "kind": "builtin", "detail": "sklearn"}
    ]
    assert c.meta["device"] == "cpu" and c.meta["files"] == [path.relative_to(tmp_path).as_posix()]
    assert c.present.all()
    assert store.tasks() == ["task_a"] and store.spaces() == [SPACE]
    assert store.tasks(space="nadamw_grid") == [] and store.spaces("task_b") == []


def test_rewrite_replaces_rather_than_duplicates(tmp_path):
    store = CurveStore(tmp_path)
    _write(store, "t", 0, [0, 1])
    _write(store, "t", 0, [0, 1])
    assert len(store.units("t", SPACE)) == 1
    assert len(list((tmp_path / "t" / SPACE).iterdir())) == 1  # no temp file left either


def test_merge_chunks_and_seeds(tmp_path):
    store = CurveStore(tmp_path)
    _write(store, "t", 2, [10, 2])
    _write(store, "t", 2, [1])
    _write(store, "t", 0, [1, 2, 10])
    # The same run again (identical curve) from another unit is merged, not an error.
    _write(store, "t", 0, [1], meta={"training_steps": 1000, "device": "cuda"})
    c = store.read("t", SPACE)
    assert list(c.config_names) == [f"{SPACE}_seed{i}" for i in (1, 2, 10)]  # by seed number
    assert list(c.seeds) == [0, 2]
    assert c.values.shape == (1, 3, 2, len(STEPS), 4) and c.present.all()
    np.testing.assert_array_equal(
        c.values[0, :, 1], np.concatenate([_values(1, 2001), _values(2, 2010)[::-1]])
    )
    np.testing.assert_array_equal(c.time_per_step[0, :, 0], [0.01] * 3)
    assert c.meta["training_steps"] == 1000 and "device" not in c.meta
    cuda_unit = store.unit_path("t", SPACE, 0, [f"{SPACE}_seed1"]).relative_to(tmp_path).as_posix()
    devices = dict(zip(c.meta["files"], c.meta["varying"]["device"]))  # aligned with the files
    assert devices.pop(cuda_unit) == "cuda" and set(devices.values()) == {"cpu"}
    assert c.meta["files"] == [p.relative_to(tmp_path).as_posix() for p in store.units("t", SPACE)]


def test_merge_fills_missing_runs_with_nan(tmp_path):
    store = CurveStore(tmp_path)
    _write(store, "t", 0, [0, 1])
    _write(store, "t", 3, [1])
    c = store.read("t", SPACE)
    np.testing.assert_array_equal(c.present[0], [[True, False], [True, True]])
    assert np.isnan(c.values[0, 0, 1]).all() and np.isnan(c.time_per_step[0, 0, 1])


def test_merge_conflicts_name_both_files(tmp_path):
    store = CurveStore(tmp_path)
    a = _write(store, "t", 0, [0, 1])
    b = _write(store, "t", 0, [1], values=_values(1, 77))  # same run, different curve
    with pytest.raises(CurveStoreError, match="seed1' seed 0 has different curves") as e:
        store.read("t", SPACE)
    assert a.name in str(e.value) and b.name in str(e.value)

    store = CurveStore(tmp_path / "steps")
    a = _write(store, "t", 0, [0])
    b = _write(store, "t", 1, [0], steps=STEPS + 1)
    with pytest.raises(CurveStoreError, match="inconsistent eval steps") as e:
        store.read("t", SPACE)
    assert a.name in str(e.value) and b.name in str(e.value)

    x = Curves.unit(
        "t",
        SPACE,
        0,
        ["c"],
        hparams=[{"lr": 1.0}],
        steps=STEPS,
        values=_values(1, 0),
        time_per_step=[1.0],
    )
    y = Curves.unit(
        "t",
        SPACE,
        1,
        ["c"],
        hparams=[{"lr": 2.0}],
        steps=STEPS,
        values=_values(1, 0),
        time_per_step=[1.0],
    )
    with pytest.raises(CurveStoreError, match="hyperparameters .* in fx but .* in fy"):
        merge_curves([("fx", x), ("fy", y)])


def test_crash_before_rename_leaves_no_unit(tmp_path, monkeypatch):
    store = CurveStore(tmp_path)

    def crash(src, dst):
        raise OSError("simulated crash")

    monkeypatch.setattr(curve_io.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        _write(store, "t", 0, [0])
    monkeypatch.undo()
    assert not store.has_unit("t", SPACE, 0, [f"{SPACE}_seed0"])
    assert list((tmp_path / "t" / SPACE).iterdir()) == []  # the writer removed its temp file


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True, text=True)  # fmt: skip
    return int(proc.stdout)


def test_stray_temp_files_are_ignored_then_cleaned(tmp_path):
    store = CurveStore(tmp_path)
    _write(store, "t", 0, [0])
    d = tmp_path / "t" / SPACE
    host = curve_io._host()
    dead = d / f".tmp-{_dead_pid()}-0123abcd-{host}--seed1_0000000000000000.npz.part"
    dead.write_bytes(b"PK\x03\x04 half a zip")
    live = d / f".tmp-{os.getpid()}-0123abcd-{host}--seed2_0000000000000000.npz.part"
    live.write_bytes(b"PK\x03\x04 being written")
    old = d / f".tmp-{os.getpid()}-4567abcd-otherhost--seed3_0000000000000000.npz.part"
    old.write_bytes(b"")
    stamp = time.time() - curve_io.STALE_TEMP_SECONDS - 10
    os.utime(old, (stamp, stamp))
    assert list(store.read("t", SPACE).config_names) == [f"{SPACE}_seed0"]  # temp files ignored
    assert not dead.exists() and not old.exists()  # cleaned on open
    assert live.exists()  # a live writer's file is left alone
    assert store.clean_temp_files() == []
    assert store.tasks() == ["t"]


def test_half_written_unit_is_explained(tmp_path):
    store = CurveStore(tmp_path)
    path = _write(store, "t", 0, [0, 1])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # e.g. copied by a non-atomic tool, then killed
    with pytest.raises(CurveStoreError, match="truncated") as e:
        store.read("t", SPACE)
    assert str(path) in str(e.value)


def test_foreign_and_corrupt_files_name_the_file(tmp_path):
    store = CurveStore(tmp_path)
    d = tmp_path / "t" / SPACE
    d.mkdir(parents=True)
    foreign = d / "foreign.npz"
    np.savez(foreign, foo=np.zeros(3))
    with pytest.raises(CurveStoreError) as e:
        store.read("t", SPACE)
    assert str(e.value).startswith(
        f"{foreign}: not a taskset-torch curve unit (missing key 'values'). Running the generate"
    )
    foreign.unlink()

    pickled = d / "pickled.npz"
    np.savez(pickled, values=np.array([{"a": 1}], dtype=object), steps=STEPS, time_per_step=STEPS, meta_json=np.array("{}"))  # fmt: skip
    with pytest.raises(CurveStoreError, match=f"{pickled}: unreadable"):
        store.read("t", SPACE)
    pickled.unlink()

    text = d / "text.npz"
    text.write_text("not a zip")
    with pytest.raises(CurveStoreError, match=f"{text}: unreadable"):
        store.read("t", SPACE)
    text.unlink()

    path = _write(store, "t", 0, [0])
    renamed = d / "seed0_ffffffffffffffff.npz"
    path.rename(renamed)
    with pytest.raises(CurveStoreError, match="file name does not match"):
        store.read("t", SPACE)
    renamed.rename(path)

    moved = tmp_path / "u" / SPACE
    moved.mkdir(parents=True)
    path.rename(moved / path.name)
    with pytest.raises(CurveStoreError, match="holds curves of t/.* but is stored under u/"):
        store.read("u", SPACE)

    bad = tmp_path / "bad.npz"
    np.savez(bad, optimizers=np.array([b"a"]), xs=STEPS, ys=np.zeros((1, 2, 3, 4)))
    with pytest.raises(CurveStoreError, match=f"{bad}: 'ys' has shape"):
        read_taskset_npz(bad)
    np.savez(bad, optimizers=np.array([b"a"]), ys=np.zeros((1, 2, 3, 4)))
    with pytest.raises(
        CurveStoreError, match=f"{bad}: not a TaskSet curve file .*missing key 'xs'"
    ):
        read_taskset_npz(bad)
    with pytest.raises(CurveStoreError, match="no curves for task 'nope'"):
        store.read("nope", SPACE)


def test_bad_arguments_get_clear_errors(tmp_path):
    store = CurveStore(tmp_path)
    args = ([SPACE + "_seed0"],)
    kw = dict(hparams=[{}], steps=STEPS, values=_values(1, 0), time_per_step=[1.0], data_sources=[], meta={})  # fmt: skip
    with pytest.raises(ValueError, match="invalid task name '../x'"):
        store.write_unit(Curves.unit("../x", SPACE, 0, *args, **kw))
    with pytest.raises(ValueError, match="invalid space name"):
        store.write_unit(Curves.unit("t", "a/b", 0, *args, **kw))
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        store.write_unit(Curves.unit("t", SPACE, -1, *args, **kw))
    with pytest.raises(ValueError, match="values must be"):
        store.write_unit(
            Curves.unit(
                "t",
                SPACE,
                0,
                args[0],
                hparams=[{}],
                steps=STEPS,
                values=_values(1, 0)[0],
                time_per_step=[1.0],
                data_sources=[],
                meta={},
            )
        )
    with pytest.raises(ValueError, match=r"expected \[config, seed, step, split\]"):
        store.write_unit(
            Curves.unit(
                "t",
                SPACE,
                0,
                args[0],
                hparams=[{}],
                steps=STEPS[:-1],
                values=_values(1, 0),
                time_per_step=[1.0],
                data_sources=[],
                meta={},
            )
        )
    with pytest.raises(ValueError, match="2 hparams for 1 config_names"):
        store.write_unit(
            Curves.unit(
                "t",
                SPACE,
                0,
                args[0],
                hparams=[{}, {}],
                steps=STEPS,
                values=_values(1, 0),
                time_per_step=[1.0],
                data_sources=[],
                meta={},
            )
        )
    with pytest.raises(ValueError, match="every entry of hparams must be a dict, got 0.1"):
        store.write_unit(
            Curves.unit(
                "t",
                SPACE,
                0,
                args[0],
                hparams=[0.1],
                steps=STEPS,
                values=_values(1, 0),
                time_per_step=[1.0],
                data_sources=[],
                meta={},
            )
        )
    with pytest.raises(ValueError, match="strictly increasing"):
        store.write_unit(
            Curves.unit(
                "t",
                SPACE,
                0,
                args[0],
                hparams=[{}],
                steps=STEPS[::-1],
                values=_values(1, 0),
                time_per_step=[1.0],
                data_sources=[],
                meta={},
            )
        )
    with pytest.raises(ValueError, match="must be JSON-serializable: object is not"):
        store.write_unit(Curves.unit("t", SPACE, 0, *args, **{**kw, "meta": {"x": object()}}))
    assert store.tasks() == []
    (tmp_path / "file").write_text("")
    with pytest.raises(CurveStoreError, match="must be a directory"):
        CurveStore(tmp_path / "file")


# --- SIGKILL during a write loop ----------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from taskset_torch.curves import CurveStore, Curves

    root, n_units, die = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if die == "mid_write":  # the process dies halfway through writing the temp file
        def savez(f, **arrays):
            f.write(b"PK\\x03\\x04" + b"x" * 1000)
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        np.savez = savez
    elif die == "before_rename":  # dies with a complete, fsynced temp file not yet renamed
        os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGKILL)
    store = CurveStore(root)
    steps = np.arange(0, 10001, 200)
    for i in range(n_units):
        names = [f"adam8p_wide_grid_seed{j}" for j in range(8 * i, 8 * i + 8)]
        if store.has_unit("task", "adam8p_wide_grid", 0, names):
            continue
        values = np.random.RandomState(i).rand(8, len(steps), 4).astype(np.float32)
        store.write_unit(Curves.unit("task", "adam8p_wide_grid", 0, names, hparams=[{"i": i}] * 8, steps=steps, values=values, time_per_step=[0.1] * 8, data_sources=[], meta={"unit": i}))
        print(i, flush=True)
    """
)


def _run_writer(root, n_units, die="none", **kw):
    cmd = [sys.executable, "-c", _WRITER, str(root), str(n_units), die]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True, **kw)


def _check_complete(store, n_units):
    assert len(store.units("task", SPACE)) == n_units
    c = store.read("task", SPACE)
    assert list(c.config_names) == [f"{SPACE}_seed{j}" for j in range(8 * n_units)]
    expected = np.concatenate([np.random.RandomState(i).rand(8, 51, 4) for i in range(n_units)])
    np.testing.assert_array_equal(c.values[0, :, 0], expected.astype(np.float32))
    assert [h["i"] for h in c.hparams] == [j // 8 for j in range(8 * n_units)]
    assert not [p for p in (store.root / "task" / SPACE).iterdir() if p.suffix != ".npz"]


@pytest.mark.parametrize("die", ["mid_write", "before_rename"])
def test_writer_killed_at_a_chosen_point_then_resumed(tmp_path, die):
    store = CurveStore(tmp_path)
    proc = _run_writer(tmp_path, 3, die)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    d = tmp_path / "task" / SPACE
    assert [p.name.startswith(".tmp-") for p in d.iterdir()] == [True]  # only the temp file
    assert store.units("task", SPACE) == [] and store.tasks() == []
    subprocess.run(_run_writer(tmp_path, 3).args, cwd=REPO, check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    _check_complete(store, 3)


def test_writer_killed_by_sigkill_at_random_then_resumed(tmp_path):
    store = CurveStore(tmp_path)
    n_units = 400
    proc = _run_writer(tmp_path, n_units)
    done = [int(proc.stdout.readline()) for _ in range(5)]  # let it get going
    time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert done == [0, 1, 2, 3, 4] and proc.returncode == -signal.SIGKILL
    written = len(store.units("task", SPACE))
    assert 5 <= written < n_units
    c = store.read("task", SPACE)  # every unit present is whole
    assert len(c.config_names) == 8 * written
    out, _ = _run_writer(tmp_path, n_units).communicate(timeout=120)
    resumed = [int(x) for x in out.split()]
    assert resumed == list(range(written, n_units))  # nothing recomputed, nothing skipped
    _check_complete(store, n_units)


# --- two processes at once ------------------------------------------------------------------------


def _concurrent_writer(root: str, task: str, seeds: list[int], barrier) -> None:
    store = CurveStore(root)
    barrier.wait()
    for seed in seeds:
        for chunk in range(10):
            _write(store, task, seed, list(range(4 * chunk, 4 * chunk + 4)))


def test_two_processes_write_concurrently(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    jobs = [("task_a", [0, 1]), ("task_b", [0, 1]), ("task_a", [2])]
    procs = [
        ctx.Process(target=_concurrent_writer, args=(str(tmp_path), t, s, barrier)) for t, s in jobs
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    store = CurveStore(tmp_path)
    assert store.tasks() == ["task_a", "task_b"]
    c = store.load()
    arr = c.values
    assert list(c.seeds) == [0, 1, 2] and len(c.config_names) == 40
    assert np.isnan(arr[1, :, 2]).all() and not np.isnan(arr[:, :, :2]).any()
    assert not np.isnan(arr[0]).any()
    np.testing.assert_array_equal(arr[0, 4:8, 2, :, :], _values(4, 2004))


# --- TaskSet's released layout ------------------------------------------------------------------


def _released_file(root: Path, n_configs=6, replicas=5, xs_dtype=np.int64) -> Path:
    path = root / "task_x" / f"{SPACE}_1k_10000_replica{replicas}.npz"
    path.parent.mkdir(parents=True)
    rng = np.random.RandomState(0)
    names = np.array([f"{SPACE}_seed{i}".encode() for i in range(n_configs)])
    ys = rng.rand(n_configs, replicas, 51, 4).astype(np.float32)
    ys[0, 1, 20:] = np.nan
    np.savez(path, optimizers=names, xs=np.arange(0, 10001, 200).astype(xs_dtype), ys=ys)
    return path


def _taskset_hparams(name: str) -> dict:
    from taskset_torch.optimizers import optimizer_config

    return dict(optimizer_config(name))


@pytest.mark.parametrize("xs_dtype", [np.int64, np.float32])
def test_read_released_layout(tmp_path, xs_dtype):
    path = _released_file(tmp_path, xs_dtype=xs_dtype)
    c = read_taskset_npz(path, config_lookup=_taskset_hparams)
    assert (c.task, c.space, list(c.seeds)) == ("task_x", SPACE, [0, 1, 2, 3, 4])
    assert list(c.config_names) == [f"{SPACE}_seed{i}" for i in range(6)]
    assert c.steps.dtype == np.int64 and c.steps[-1] == 10000 and len(c.steps) == 51
    with np.load(path) as raw:
        np.testing.assert_array_equal(c.values[0], raw["ys"])
    assert c.meta["training_steps"] == 10000 and np.isnan(c.time_per_step).all()
    assert c.hparams[3] == _taskset_hparams(f"{SPACE}_seed3")
    # The released tree is itself a store.
    store = CurveStore(tmp_path)
    assert store.tasks() == ["task_x"] and store.spaces("task_x") == [SPACE]
    s = store.read("task_x", SPACE)
    np.testing.assert_array_equal(s.values, c.values)
    assert s.config_names == c.config_names


def test_taskset_layout_round_trip(tmp_path):
    store = CurveStore(tmp_path / "store")
    _write(store, "t", 0, [0, 3])
    _write(store, "t", 7, [3])
    curves = store.read("t", SPACE)
    out = store.export_taskset_npz("t", SPACE, tmp_path / "exp.npz")
    assert read_taskset_npz(out).equals(curves)
    with np.load(out, allow_pickle=False) as raw:  # what TaskSet's own readers see
        assert (
            raw["optimizers"].dtype.kind == "S"
            and raw["optimizers"][1] == f"{SPACE}_seed3".encode()
        )
        np.testing.assert_array_equal(raw["xs"], STEPS)
        assert raw["ys"].shape == (2, 2, len(STEPS), 4)
        assert np.isnan(raw["ys"][0, 1]).all()  # config 0 never ran with seed 7
    (tmp_path / "tree").mkdir()
    tree = store.export_taskset_npz("t", SPACE, tmp_path / "tree")
    assert tree == tmp_path / "tree" / "t" / f"{SPACE}_1000_replica2.npz"
    # write -> read -> write is byte-stable in content.
    again = write_taskset_npz(read_taskset_npz(out), tmp_path / "again.npz")
    assert read_taskset_npz(again).equals(curves)
    # Importing puts it in another store, where it merges with units of the same space.
    other = CurveStore(tmp_path / "other")
    imported = other.import_taskset_npz(out, task="t2")
    assert imported == tmp_path / "other" / "t2" / f"{SPACE}_1000_replica2.npz"
    got = other.read("t2", SPACE)
    np.testing.assert_array_equal(got.values, curves.values)
    np.testing.assert_array_equal(got.present, curves.present)
    _write(other, "t2", 9, [0])
    merged = other.read("t2", SPACE)
    assert list(merged.seeds) == [0, 7, 9] and merged.present.sum() == 4


def test_import_released_file_without_extras(tmp_path):
    src = _released_file(tmp_path / "bucket", n_configs=3, replicas=2)
    store = CurveStore(tmp_path / "store", config_lookup=_taskset_hparams)
    dst = store.import_taskset_npz(src)
    assert dst == tmp_path / "store" / "task_x" / f"{SPACE}_10000_replica2.npz"
    assert store.read("task_x", SPACE).hparams[2] == _taskset_hparams(f"{SPACE}_seed2")
    with pytest.raises(CurveStoreError, match="cannot tell the search space"):
        p = tmp_path / "odd.npz"
        np.savez(p, optimizers=np.array([b"x"]), xs=STEPS, ys=np.zeros((1, 1, len(STEPS), 4)))
        read_taskset_npz(p)


# --- dense array and data frame -----------------------------------------------------------------


def test_load_over_tasks(tmp_path):
    store = CurveStore(tmp_path)
    _write(store, "a", 0, [0, 1])
    _write(store, "a", 1, [0, 1])
    _write(store, "b", 0, [1, 2])
    c = store.load(space=SPACE)
    arr = c.values
    assert arr.shape == (2, 3, 2, len(STEPS), 4) and arr.dtype == np.float32
    assert list(c.tasks) == ["a", "b"] and list(c.seeds) == [0, 1]
    assert list(c.config_names) == [f"{SPACE}_seed{i}" for i in range(3)]
    assert list(c.splits) == list(SPLITS) and c.steps.tolist() == STEPS.tolist()
    assert list(c.hparams) == [{"learning_rate": 10.0**-i} for i in range(3)]
    assert np.isnan(arr[0, 2]).all() and np.isnan(arr[1, 0]).all() and np.isnan(arr[1, :, 1]).all()
    np.testing.assert_array_equal(arr[1, 1:, 0], _values(2, 1))
    sl = store.load(["b"], SPACE, seeds=[0], configs=[f"{SPACE}_seed2", "zz"],
                    steps=[200, 400, 12345], splits=["test", "train"])  # fmt: skip
    sub = sl.values
    assert sub.shape == (1, 2, 1, 3, 2) and list(sl.splits) == ["test", "train"]
    np.testing.assert_array_equal(sub[0, 0, 0, :2], _values(2, 1)[1, 1:3][:, [3, 0]])
    assert np.isnan(sub[0, 1]).all() and np.isnan(sub[0, 0, 0, 2]).all()
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        store.load(space=SPACE, splits=["valid"])
    _write(store, "c", 0, [0], steps=STEPS[:3])
    with pytest.raises(CurveStoreError, match="tasks 'a' and 'c' have different eval steps"):
        store.load(space=SPACE)
    _write(store, "a", 0, [0], space="nadamw_grid")
    with pytest.raises(ValueError, match=r"space= is required: .* holds spaces \['adam8p"):
        store.load()
    assert store.load(["b"]).space == SPACE  # one space among the tasks asked for


def test_to_dataframe(tmp_path):
    store = CurveStore(tmp_path)
    _write(store, "a", 0, [0, 1])
    _write(store, "a", 1, [1])
    _write(store, "b", 0, [2], space="nadamw_grid")
    df = store.to_dataframe()
    assert list(df.columns) == ["task", "space", "config", "seed", "step", "split", "value"]
    n = len(STEPS) * 4
    assert len(df) == 4 * n  # three runs of a, one of b; the missing (config 0, seed 1) has no rows
    assert df.groupby(["task", "space"], observed=True).size().to_dict() == {
        ("a", SPACE): 3 * n,
        ("b", "nadamw_grid"): n,
    }
    row = df[(df.config == f"{SPACE}_seed1") & (df.seed == 1) & (df.step == 400)]
    assert row.split.tolist() == list(SPLITS)
    np.testing.assert_array_equal(row.value, _values(1, 1001)[0, 2])
    assert df.value.dtype == np.float32 and isinstance(df.task.dtype, pd.CategoricalDtype)
    only = store.to_dataframe(["a"], SPACE, hparams=True)
    assert len(only) == 3 * n and "hp_learning_rate" in only.columns
    assert set(only.loc[only.config == f"{SPACE}_seed1", "hp_learning_rate"]) == {0.1}
    empty = CurveStore(tmp_path / "none").to_dataframe()
    assert len(empty) == 0 and "value" in empty.columns


def test_unit_file_is_plain_npz(tmp_path):
    path = _write(CurveStore(tmp_path), "t", 0, [0])
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == [
            "meta_json.npy",
            "steps.npy",
            "time_per_step.npy",
            "values.npy",
        ]
    with np.load(path, allow_pickle=False) as raw:
        info = json.loads(str(raw["meta_json"]))
    assert info["format"] == "taskset-torch curve unit" and info["seed"] == 0


# --- protocol, verification, near-duplicates (issue 8) --------------------------------------------

P1 = {"curve_format": 1, "train": {"training_steps": 1000, "eval_every": 200}, "data_sources": []}


def test_protocol_is_recorded_and_another_one_refused_or_forced(tmp_path):
    from taskset_torch.curves import ProtocolMismatch

    store = CurveStore(tmp_path)
    args = ([f"{SPACE}_seed0"],)
    kw = dict(hparams=[{}], steps=STEPS, values=_values(1, 0), time_per_step=[1.0], data_sources=[], meta={})  # fmt: skip
    store.write_unit(Curves.unit("t", SPACE, 0, *args, **kw), protocol=P1)
    assert store.protocol("t", SPACE) == P1
    assert store.read("t", SPACE).meta["protocol"] == P1
    store.write_unit(Curves.unit("t", SPACE, 1, *args, **kw), protocol=P1)  # same protocol: fine
    p2 = {**P1, "train": {"training_steps": 2000, "eval_every": 200}}
    with pytest.raises(ProtocolMismatch, match="training_steps: stored 1000, asked 2000") as e:
        store.write_unit(Curves.unit("t", SPACE, 2, *args, **kw), protocol=p2)
    assert e.value.differences == {"train.training_steps": (1000, 2000)}
    assert len(store.units("t", SPACE)) == 2  # nothing written
    moved = store.claim_protocol("t", SPACE, p2, force=True)
    assert len(moved) == 3 and all(m.parent.name == ".set_aside" for m in moved)
    assert store.units("t", SPACE) == [] and store.protocol("t", SPACE) == p2
    store.write_unit(Curves.unit("t", SPACE, 2, *args, **kw), protocol=p2)
    assert list(store.read("t", SPACE).seeds) == [2]


def test_units_written_before_protocols_are_checked_by_their_settings(tmp_path):
    from taskset_torch.curves import ProtocolMismatch

    store = CurveStore(tmp_path)
    _write(store, "t", 0, [0])  # meta training_steps 1000, no protocol recorded
    with pytest.raises(ProtocolMismatch, match="training_steps"):
        store.claim_protocol("t", SPACE, {**P1, "train": {"training_steps": 5}})
    assert store.protocol("t", SPACE) is None
    store.claim_protocol("t", SPACE, P1)
    assert store.protocol("t", SPACE) == P1


def test_near_duplicate_runs_merge_keeping_the_first_copy(tmp_path):
    from taskset_torch.curves import CurveStoreWarning

    store = CurveStore(tmp_path)
    a = _write(store, "t", 0, [0, 1])
    vals = _values(2, 0)  # the curves `_write` gave configs 0 and 1
    ulp = np.nextafter(vals[1:], np.float32(np.inf))  # config 1 again, one float32 ulp up
    b = _write(store, "t", 0, [1], values=ulp)
    first = sorted([a, b])[0]
    with pytest.warns(CurveStoreWarning, match="1 run\\(s\\) are stored twice"):
        c = store.read("t", SPACE)
    (dup,) = c.meta["duplicates"]
    kept = first.relative_to(tmp_path).as_posix()
    assert dup["config"] == f"{SPACE}_seed1" and dup["seed"] == 0 and dup["kept"] == kept
    assert 0 < dup["max_abs_diff"] < 1e-6
    expect = vals[1] if first == a else ulp[0]
    np.testing.assert_array_equal(c.values[0, 1, 0], expect)
    assert dup["drifted"] is False
    # Different already at the first evaluation (before training): not the same run, an error.
    _write(store, "t", 0, [1], values=ulp * 1.01, meta={"x": 1})
    with pytest.raises(CurveStoreError, match="different curves in .* first evaluation"):
        store.read("t", SPACE)


def test_copies_with_the_same_start_that_drift_apart_are_one_run(tmp_path):
    """Unstable configs amplify float32 differences between programs of different sizes (K=1 vs
    K=8 copies of one conv-net config: equal at step 0, 46% apart by step 120): the store keeps
    the first copy, records the drift, and says so; it does not refuse the task."""
    from taskset_torch.curves import CurveStoreWarning

    store = CurveStore(tmp_path)
    a = _write(store, "t", 0, [0, 1])
    drifted = _values(2, 0)[1:].copy()
    drifted[0, 1:] *= 1.4  # same first evaluation, then far apart
    b = _write(store, "t", 0, [1], values=drifted, meta={"training_steps": 1000, "device": "cuda"})
    with pytest.warns(CurveStoreWarning, match="1 of them drifted apart during training"):
        c = store.read("t", SPACE)
    (dup,) = c.meta["duplicates"]
    assert dup["drifted"] is True and dup["max_abs_diff"] > 0.01
    kept = a if dup["kept"] == a.relative_to(tmp_path).as_posix() else b
    expect = _values(2, 0)[1] if kept == a else drifted[0]
    np.testing.assert_array_equal(c.values[0, 1, 0], expect)


def test_scan_tells_done_configs_from_broken_files_which_are_set_aside(tmp_path):
    store = CurveStore(tmp_path)
    _write(store, "t", 0, [0, 1])
    broken = _write(store, "t", 0, [2, 3])
    _write(store, "t", 1, [0])
    empty = store.unit_path("t", SPACE, 1, [f"{SPACE}_seed5"])
    empty.write_bytes(b"")  # a zero-byte unit: existed, yet holds nothing
    broken.write_bytes(broken.read_bytes()[:-40])  # cut short
    flipped = _write(store, "t", 2, [0])
    data = bytearray(flipped.read_bytes())
    data[data.find(b"values.npy") + 200] ^= 0xFF  # one flipped byte: the zip CRC tells
    flipped.write_bytes(bytes(data))
    assert not store.has_unit("t", SPACE, 1, [f"{SPACE}_seed5"])
    assert not store.has_unit("t", SPACE, 0, [f"{SPACE}_seed2", f"{SPACE}_seed3"])
    assert store.has_unit("t", SPACE, 0, [f"{SPACE}_seed0", f"{SPACE}_seed1"])
    scan = store.scan("t", SPACE)
    assert scan.done == {0: {f"{SPACE}_seed0", f"{SPACE}_seed1"}, 1: {f"{SPACE}_seed0"}}
    assert sorted(p for p, _ in scan.broken) == sorted([broken, empty, flipped])
    assert "Bad CRC-32" in dict(scan.broken)[flipped]
    with pytest.raises(CurveStoreError, match="sets broken units aside"):
        store.read("t", SPACE)
    for path, _ in scan.broken:
        dest = store.set_aside(path)
        assert dest.parent == path.parent / ".set_aside" and dest.exists() and not path.exists()
    assert store.set_aside(empty) is None  # already gone
    assert list(store.read("t", SPACE).config_names) == [f"{SPACE}_seed0", f"{SPACE}_seed1"]


def test_missing_empty_or_spaceless_stores_say_so(tmp_path):
    with pytest.raises(CurveStoreError, match="no such curve store"):
        CurveStore(tmp_path / "nope").load(space=SPACE)
    with pytest.raises(CurveStoreError, match="the curve store is empty"):
        CurveStore(tmp_path).load(space=SPACE)
    with pytest.raises(CurveStoreError, match="the curve store is empty"):
        CurveStore(tmp_path).load()
    store = CurveStore(tmp_path)
    _write(store, "t", 0, [0])
    with pytest.raises(
        CurveStoreError, match=f"no curves of space 'nadamw_grid'; it holds {SPACE}"
    ):
        store.load(space="nadamw_grid")
    from hparam_lists.importers import read_store

    with pytest.raises(CurveStoreError, match="no such curve store"):
        read_store(tmp_path / "nonexistent", space=SPACE)


_SAME_UNIT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from taskset_torch.curves import CurveStore, Curves

    store = CurveStore(sys.argv[1])
    names = [f"adam8p_wide_grid_seed{j}" for j in range(4)]
    values = np.random.RandomState(0).rand(4, 6, 4).astype(np.float32)
    for _ in range(int(sys.argv[2])):
        store.write_unit(Curves.unit("task", "adam8p_wide_grid", 0, names, hparams=[{}] * 4, steps=np.arange(6), values=values, time_per_step=[0.1] * 4, data_sources=[], meta={}), protocol={"train": {"training_steps": 5}})
    """
)


def test_two_writers_of_the_same_unit(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-c", _SAME_UNIT, str(tmp_path), "30"]
    procs = [subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    store = CurveStore(tmp_path)
    (unit,) = store.units("task", SPACE)
    c = store.read("task", SPACE)
    np.testing.assert_array_equal(
        c.values[0, :, 0], np.random.RandomState(0).rand(4, 6, 4).astype(np.float32)
    )
    d = tmp_path / "task" / SPACE
    assert sorted(p.name for p in d.iterdir()) == sorted([unit.name, "protocol.json"])
