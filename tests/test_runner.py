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
            raise RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate")
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
    from taskset_torch.store import CurveStore

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
