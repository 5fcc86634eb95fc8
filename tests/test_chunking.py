"""Chunk selection: the sweep and the choice from injected measurements (no timing), the cache."""

from __future__ import annotations

import json

import pytest
import torch

from taskset_torch import chunking
from taskset_torch.chunking import Calibration, calibrate, memory_model, select_chunk, sweep
from taskset_torch.tasks.registry import build_task


def rates_of(table):
    calls = []

    def measure(k):
        calls.append(k)
        value = table[k]
        if isinstance(value, Exception):
            raise value
        return value

    return measure, calls


def test_select_prefers_the_smallest_k_near_the_best():
    assert select_chunk({1: 10.0, 4: 50.0, 16: 98.0, 64: 100.0}) == 16
    assert select_chunk({1: 10.0, 4: 50.0, 16: 98.0, 64: 100.0}, tolerance=0.0) == 64
    # A task the loop runs faster than any program of many configs: K = 1.
    assert select_chunk({1: 26.0, 2: 20.0, 4: 15.0}) == 1


def test_select_rejects_empty_or_bad_input():
    with pytest.raises(ValueError, match="finite"):
        select_chunk({4: float("nan")})
    with pytest.raises(ValueError, match="tolerance"):
        select_chunk({1: 1.0}, tolerance=1.5)


def test_sweep_stops_past_the_knee():
    measure, calls = rates_of({1: 26.0, 2: 30.0, 4: 18.0, 8: 12.0, 16: 50.0})
    rates, why = sweep(measure, [1, 2, 4, 8, 16])
    assert why == "knee" and calls == [1, 2, 4, 8]
    assert select_chunk(rates) == 2
    # One low reading (a busy moment on a shared machine) does not end the sweep.
    measure, calls = rates_of({1: 26.0, 2: 10.0, 4: 40.0, 8: 45.0})
    rates, why = sweep(measure, [1, 2, 4, 8])
    assert why == "ladder" and select_chunk(rates) == 8


def test_sweep_respects_the_memory_budget_and_out_of_memory():
    measure, calls = rates_of({1: 1.0, 2: 2.0, 4: 4.0, 8: 8.0})
    rates, why = sweep(measure, [8, 4, 2, 1], fits=lambda k: k <= 2)
    assert why == "memory" and calls == [1, 2]
    oom = RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 9 GB")
    measure, calls = rates_of({1: 1.0, 2: 2.0, 4: oom})
    rates, why = sweep(measure, [1, 2, 4, 8])
    assert why == "out_of_memory" and rates == {1: 1.0, 2: 2.0}
    # Any other error, or running out of memory at K = 1, is not hidden.
    measure, _ = rates_of({1: ValueError("broken task")})
    with pytest.raises(ValueError, match="broken task"):
        sweep(measure, [1, 2])


def test_sweep_stops_when_one_step_takes_too_long():
    measure, calls = rates_of({1: 10.0, 4: 20.0, 16: 2.0 * 16 / 20, 64: 1e9})
    rates, why = sweep(measure, [1, 4, 16, 64], max_step_seconds=0.5, knee=0.0)
    assert why == "step_time" and calls == [1, 4, 16]


def test_calibrate_caches_per_task_and_device(tmp_path):
    task = build_task("quadratic_family_seed106")
    measure, calls = rates_of({1: 5.0, 2: 9.0, 4: 20.0, 8: 21.0})
    cal = calibrate(
        task,
        "adam1p_wide_grid",
        ladder=[1, 2, 4, 8],
        cache_dir=tmp_path,
        measure=measure,
        memory=(0.0, 1.0),
    )
    assert cal.chunk == 4 and cal.stopped == "ladder" and calls == [1, 2, 4, 8]
    data = json.loads((tmp_path / chunking.CACHE_FILE).read_text())
    (key,) = data
    assert "quadratic_family_seed106" in key and "adam1p_wide_grid" in key and "cpu" in key
    assert torch.__version__ in key

    def never(k):
        raise AssertionError("a cached calibration must not be measured again")

    again = calibrate(task, "adam1p_wide_grid", cache_dir=tmp_path, measure=never, memory=(0, 1))
    assert again == cal
    # Another space is another key.
    measure, calls = rates_of({1: 5.0, 2: 1.0})
    other = calibrate(
        task, "adam4p_wide_grid", ladder=[1, 2], cache_dir=tmp_path, measure=measure, memory=(0, 1)
    )
    assert other.chunk == 1 and len(json.loads((tmp_path / chunking.CACHE_FILE).read_text())) == 2


def test_calibrate_applies_the_memory_budget():
    task = build_task("quadratic_family_seed106")
    measure, calls = rates_of({1: 1.0, 2: 2.0, 4: 4.0, 8: 8.0})
    cal = calibrate(
        task,
        "adam1p_wide_grid",
        ladder=[1, 2, 4, 8],
        measure=measure,
        memory=(100.0, 50.0),
        memory_budget=300.0,
    )
    assert cal.stopped == "memory" and cal.chunk == 4 and calls == [1, 2, 4]


def test_memory_model_grows_with_k_by_the_activations_of_one_config():
    task = build_task("mlp_family_seed104")
    fixed, per = memory_model(task, "adam1p_wide_grid")
    # At least params + grad + two Adam moments per config, in float32.
    assert per >= 4 * 4 * task.num_params()
    assert fixed >= 0


def test_calibration_round_trips_through_json():
    cal = Calibration({1: 2.0, 4: 3.5}, 4, "knee", 10.0, 20.0)
    assert Calibration.from_json(json.loads(json.dumps(cal.to_json()))) == cal


def test_measure_rate_runs_the_real_step():
    task = build_task("quadratic_family_seed106")
    assert chunking.measure_rate(task, "adam1p_wide_grid", 2, min_seconds=0.0, max_steps=1) > 0
