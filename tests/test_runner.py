"""Planning units and running them: chunking, and splitting a unit that does not fit in memory."""

from __future__ import annotations

import numpy as np
import pytest

from taskset_torch import runner
from taskset_torch.training import TrainConfig

CFG = TrainConfig(training_steps=20, eval_every=10, eval_batches=2)


def test_plan_covers_every_config_once_in_chunks():
    units = runner.plan(["a_seed0", "b_seed1"], "adam1p_wide_grid", [5, 3, 3, 9, 0], [0, 1], 2)
    assert len(units) == 2 * 2 * 2  # duplicates dropped: 4 configs in chunks of 2
    for task in ("a_seed0", "b_seed1"):
        for seed in (0, 1):
            chunks = [u.config_seeds for u in units if u.task == task and u.seed == seed]
            assert sorted(c for ch in chunks for c in ch) == [0, 3, 5, 9]
    assert units[0].config_names == ["adam1p_wide_grid_seed0", "adam1p_wide_grid_seed3"]


@pytest.mark.parametrize("bad", [dict(chunk_size=0), dict(seeds=[])])
def test_plan_rejects_empty_or_bad_requests(bad):
    kwargs = dict(tasks=["t_seed0"], space="s", config_seeds=[0], seeds=[0], chunk_size=1)
    kwargs.update(bad)
    with pytest.raises(ValueError):
        runner.plan(**kwargs)


def test_a_unit_that_runs_out_of_memory_is_halved_with_identical_curves(monkeypatch):
    unit = runner.Unit("quadratic_family_seed106", "adam1p_wide_grid", 0, (0, 1, 2, 3, 4))
    whole = runner.compute_unit(unit, CFG)
    real = runner.train_configs

    def small_memory(task, space, configs, **kw):
        if len(configs) > 2:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate")
        return real(task, space, configs, **kw)

    monkeypatch.setattr(runner, "train_configs", small_memory)
    split = runner.compute_unit(unit, CFG)
    assert split.meta["programs"] == 3
    np.testing.assert_allclose(split.values, whole.values, rtol=1e-6)


def test_other_errors_are_not_swallowed(monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(runner, "train_configs", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        runner.compute_unit(
            runner.Unit("quadratic_family_seed1", "adam1p_wide_grid", 0, (0, 1)), CFG
        )


@pytest.mark.slow  # starts a local Ray cluster (5-10 s, needs /dev/shm); run with -m slow
def test_ray_backend_writes_the_same_curves_as_the_local_one(tmp_path):
    ray = pytest.importorskip("ray")
    from taskset_torch.curves import CurveStore

    units = runner.plan(["quadratic_family_seed1"], "adam1p_wide_grid", range(4), [0], 2)
    local, remote = CurveStore(tmp_path / "local"), CurveStore(tmp_path / "ray")
    assert runner.run_units(units, local, CFG) == 2
    try:
        ray.init(num_cpus=1, include_dashboard=False)
        assert runner.run_units(units, remote, CFG, backend="ray") == 2
        assert runner.run_units(units, remote, CFG, backend="ray") == 0  # resumes: nothing left
    finally:
        ray.shutdown()
    a = local.read("quadratic_family_seed1", "adam1p_wide_grid")
    b = remote.read("quadratic_family_seed1", "adam1p_wide_grid")
    # Ray workers run torch with one thread: sums may round differently in the last bit.
    np.testing.assert_allclose(a.values, b.values, rtol=1e-6)


# --- issue 8: identity, chunking, broken units, real OOM ------------------------------------------

TASK, SPACE = "quadratic_family_seed1", "adam1p_wide_grid"


def _run(store, configs, chunk, config=CFG, **kw):
    return runner.run_units(runner.plan([TASK], SPACE, configs, [0], chunk), store, config, **kw)


def test_a_config_is_computed_once_whatever_the_chunking(tmp_path):
    from taskset_torch.curves import CurveStore

    store = CurveStore(tmp_path)
    assert _run(store, range(4), 3) == 2
    before = store.read(TASK, SPACE)
    assert _run(store, range(4), 1) == 0  # another chunking: nothing to do
    assert _run(store, range(4), 4) == 0
    assert _run(store, range(6), 5) == 2  # two planned units, each with only the new configs
    names = sorted(
        n for f in store.units(TASK, SPACE) for n in runner_unit_names(f) if n.endswith(("4", "5"))
    )
    assert names == [f"{SPACE}_seed4", f"{SPACE}_seed5"]
    after = store.read(TASK, SPACE)
    assert "duplicates" not in after.meta and len(store.units(TASK, SPACE)) == 4
    np.testing.assert_array_equal(after.values[:, :4], before.values)


def runner_unit_names(path):
    from taskset_torch.curves.store import _read_unit

    return _read_unit(path).config_names


def test_curves_of_other_chunkings_read_together(tmp_path):
    """Two generates with different chunks at once: both may write a config; reading keeps one."""
    import shutil

    from taskset_torch.curves import CurveStore

    a, b = CurveStore(tmp_path / "a"), CurveStore(tmp_path / "b")
    _run(a, range(3), 3)
    _run(b, range(3), 1)
    for f in b.units(TASK, SPACE):  # as if the other writer had written into the same store
        shutil.copy(f, a.units(TASK, SPACE)[0].parent / f.name)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bit-identical here or not, both are one run
        merged = a.read(TASK, SPACE)
    np.testing.assert_allclose(merged.values, b.read(TASK, SPACE).values, rtol=1e-5)
    assert len(merged.meta["files"]) == 4


def test_rerun_with_other_settings_is_refused_unless_forced(tmp_path):
    from taskset_torch.curves import CurveStore, ProtocolMismatch

    store = CurveStore(tmp_path)
    _run(store, range(2), 2)
    for other in (
        TrainConfig(training_steps=30, eval_every=10, eval_batches=2),
        TrainConfig(training_steps=20, eval_every=5, eval_batches=2),
        TrainConfig(training_steps=20, eval_every=10, eval_batches=3),
    ):
        with pytest.raises(ProtocolMismatch, match="another protocol"):
            _run(store, range(2), 2, other)
    # The device is metadata, not identity.
    assert _run(store, range(2), 2, TrainConfig(20, 10, 2, device="cpu")) == 0
    notes = []
    longer = TrainConfig(training_steps=30, eval_every=10, eval_batches=2)
    assert _run(store, range(2), 2, longer, force=True, on_note=notes.append) == 1
    assert "set aside" in notes[0]
    assert store.read(TASK, SPACE).steps.tolist() == [0, 10, 20, 30]


def test_protocol_holds_every_train_config_field_but_the_device():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class WithMode(TrainConfig):  # a field another part of the project may add later
        randomness: str = "shared"

    p = runner.run_protocol(WithMode(device="cuda"), [{"dataset": "d", "kind": "real"}])
    assert p["train"] == {
        "training_steps": 10000,
        "eval_every": 200,
        "eval_batches": 50,
        "independent": False,
        "randomness": "shared",
    }
    assert p["data_sources"] == [{"dataset": "d", "kind": "real"}] and "code_version" in p


def test_a_broken_unit_is_set_aside_and_recomputed(tmp_path):
    from taskset_torch.curves import CurveStore

    store = CurveStore(tmp_path)
    _run(store, range(4), 2)
    whole = store.read(TASK, SPACE)
    first, second = store.units(TASK, SPACE)
    first.write_bytes(b"")
    second.write_bytes(second.read_bytes()[:100])
    notes = []
    assert _run(store, range(4), 2, on_note=notes.append) == 2
    assert len(notes) == 2 and all("set aside broken unit" in n for n in notes)
    assert str(first) in " ".join(notes) and str(second) in " ".join(notes)
    again = store.read(TASK, SPACE)
    np.testing.assert_array_equal(again.values, whole.values)
    assert len(list((first.parent / ".set_aside").iterdir())) == 2


def test_a_store_that_cannot_be_written_fails_before_training(tmp_path, monkeypatch):
    import errno

    from taskset_torch.curves import CurveStore, CurveStoreError

    store = CurveStore(tmp_path)
    real_open = open

    def full_disk(path, mode="r", *a, **k):
        if "x" in str(mode) and "write-probe" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr("builtins.open", full_disk)
    trained = []
    monkeypatch.setattr(runner, "compute_unit", lambda *a, **k: trained.append(1))
    with pytest.raises(CurveStoreError, match="No space left on device"):
        _run(store, range(2), 2)
    assert not trained


def test_a_real_allocation_failure_is_recognised():
    import torch

    with pytest.raises(RuntimeError) as e:
        torch.empty(1 << 62, dtype=torch.uint8)  # a real CPU allocation failure
    assert runner._is_oom(e.value), str(e.value)
    assert not runner._is_oom(RuntimeError("shape mismatch"))


def test_an_out_of_memory_program_takes_back_the_steps_it_reported(monkeypatch):
    unit = runner.Unit(TASK, SPACE, 0, (0, 1, 2, 3, 4))
    real = runner.train_configs

    def fails_late(task, space, configs, progress=None, **kw):
        if len(configs) > 2:
            progress(CFG.training_steps)  # it got to the end, then ran out of memory
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate")
        return real(task, space, configs, progress=progress, **kw)

    monkeypatch.setattr(runner, "train_configs", fails_late)
    seen = []
    result = runner.compute_unit(unit, CFG, progress=seen.append)
    assert result.meta["programs"] == 3
    assert sum(seen) == pytest.approx(CFG.training_steps)  # one unit: its steps once


_OOM_CHILD = """
import json, resource, sys
import torch
import taskset_torch.tasks.registry as registry
from taskset_torch import runner
from taskset_torch.base import DataSource
from taskset_torch.tasks.base import Task
from taskset_torch.training import TrainConfig

P = 1 << 18  # 1 MiB of float32 per config; K configs need K MiB per [K, P] buffer


class Big(Task):
    name = "big_seed0"

    def init_params(self, g):
        return {"w": torch.randn(P, generator=g)}

    def loss(self, params, batch):
        return (params["w"] * batch["x"]).pow(2).mean(dim=1)

    def batch(self, split, g):
        return {"x": torch.rand(P, generator=g)}

    @property
    def data_sources(self):
        return (DataSource("none", "synthetic"),)


registry.build_task = lambda name: Big()
cfg = TrainConfig(training_steps=3, eval_every=1, eval_batches=1)
unit = runner.Unit("big_seed0", "adam1p_wide_grid", 0, tuple(range(int(sys.argv[2]))))
extra = int(sys.argv[1])
warm = runner.Unit("big_seed0", "adam1p_wide_grid", 0, (0,))  # load what imports lazily
runner.compute_unit(warm, TrainConfig(training_steps=1, eval_every=1, eval_batches=1))
if extra:
    size = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize"))
    resource.setrlimit(resource.RLIMIT_AS, (size + extra, size + extra))
steps = []
try:
    r = runner.compute_unit(unit, cfg, progress=steps.append)
except RuntimeError as e:
    print(json.dumps({"error": str(e).splitlines()[0]}))
else:
    print(json.dumps({"programs": r.meta["programs"], "steps": sum(steps), "values": r.values.tolist()}))
"""


@pytest.mark.slow  # two child processes that import torch
def test_a_unit_halves_under_a_real_memory_limit(tmp_path):
    """A child process with a capped address space: a real allocation failure, then halves."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "OMP_NUM_THREADS": "1"}  # fmt: skip

    def child(extra, k):
        out = subprocess.run([sys.executable, "-c", _OOM_CHILD, str(extra), str(k)], env=env,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout)

    free = child(0, 32)
    capped = child(100 << 20, 32)  # 100 MiB over start-up: 32 configs do not fit, 4 do
    assert free["programs"] == 1 and capped["programs"] > 1
    assert capped["steps"] == pytest.approx(3)  # the progress bar sees each step once
    np.testing.assert_allclose(capped["values"], free["values"], rtol=1e-6)
    tiny = child(2 << 20, 1)  # not even one config fits: the real error comes out
    assert "can't allocate memory" in tiny["error"] or "out of memory" in tiny["error"].lower()


def test_ray_workers_take_the_drivers_data_settings(tmp_path):
    """A Ray worker starts with the library's defaults; the driver's archive search path, data
    dir, substitutes switch and grouped-conv choice travel with each unit."""
    from taskset_torch import datasets
    from taskset_torch.tasks import grouped_conv

    before = runner.worker_settings()
    try:
        datasets.set_search_path([tmp_path / "archives"])
        datasets.set_data_dir(tmp_path / "data")
        datasets.set_allow_substitutes(False)
        grouped_conv.set_grouped_conv("bmm")
        driver = runner.worker_settings()
        assert driver == {
            "search_path": [str(tmp_path / "archives")],
            "data_dir": str(tmp_path / "data"),
            "allow_substitutes": False,
            "grouped_conv": "bmm",
        }
        runner.apply_worker_settings(before)  # a fresh worker
        assert runner.worker_settings() == before
        runner.apply_worker_settings(driver)
        assert runner.worker_settings() == driver
    finally:
        runner.apply_worker_settings(before)
        grouped_conv.set_grouped_conv(None)
