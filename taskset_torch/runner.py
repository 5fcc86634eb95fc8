"""Plan and run curve generation: units of (task, space, config chunk, seed), locally or on Ray.

A unit is the atom of resumption: it is written to the store atomically when finished and skipped
when it is already there, so a run killed at any moment and restarted loses at most the units in
flight and never duplicates one.
"""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

import taskset_torch
from taskset_torch.training import TrainConfig, TrainResult, train_configs

__all__ = ["Unit", "plan", "compute_unit", "run_units", "UnitResult"]


@dataclasses.dataclass(frozen=True)
class Unit:
    task: str
    space: str
    seed: int
    config_seeds: tuple[int, ...]

    @property
    def config_names(self) -> list[str]:
        return [f"{self.space}_seed{s}" for s in self.config_seeds]


def plan(
    tasks: Sequence[str],
    space: str,
    config_seeds: Sequence[int],
    seeds: Sequence[int],
    chunk_size: int | Callable[[str], int] = 100,
) -> list[Unit]:
    """All units for tasks x configs x seeds, configs split into chunks of ``chunk_size``.

    ``chunk_size`` may be a function of the task name (e.g. a calibrated choice,
    :func:`taskset_torch.chunking.auto_chunk`).
    """
    if not tasks or not config_seeds or not seeds:
        raise ValueError("plan needs at least one task, one config seed and one seed")
    cs = sorted(set(int(c) for c in config_seeds))
    units = []
    for t in tasks:
        size = chunk_size(t) if callable(chunk_size) else chunk_size
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"chunk_size must be an int >= 1, got {size!r} for task {t}")
        chunks = [tuple(cs[i : i + size]) for i in range(0, len(cs), size)]
        units += [Unit(t, space, int(s), ch) for s in seeds for ch in chunks]
    return units


@dataclasses.dataclass
class UnitResult:
    unit: Unit
    hparams: list[dict[str, Any]]
    steps: Any
    values: Any
    time_per_step: Any
    data_sources: list[dict[str, str]]
    meta: dict[str, Any]


def compute_unit(
    unit: Unit,
    config: TrainConfig,
    progress: Callable[[int], None] | None = None,
) -> UnitResult:
    """Build the task and the configs of ``unit`` and train them; nothing is written."""
    from taskset_torch.optimizers import get_space
    from taskset_torch.tasks.registry import build_task

    space = get_space(unit.space)
    hparams = [space.sample(s) for s in unit.config_seeds]
    task = build_task(unit.task)
    res, programs = _train_fitting(task, unit, hparams, config, progress)
    meta = {
        "code_version": taskset_torch.__version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "training_steps": config.training_steps,
        "eval_every": config.eval_every,
        "eval_batches": config.eval_batches,
        "device": config.device,
        "configs_per_program": max(len(hparams) // programs, 1),
        "programs": programs,
        "num_params": task.num_params(),
        "eval_time": res.eval_time,
        "diverged_at": res.diverged_at.tolist(),
        "time_per_step_note": "wall seconds per step of the program training all configs of the unit",
    }
    return UnitResult(
        unit=unit,
        hparams=hparams,
        steps=res.steps,
        values=res.values,
        time_per_step=np.full(len(hparams), res.time_per_step),
        data_sources=[s.to_json() for s in task.data_sources],
        meta=meta,
    )


def _is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "not enough memory" in str(err)
    )


def _train_fitting(
    task: Any,
    unit: Unit,
    hparams: list[dict[str, Any]],
    config: TrainConfig,
    progress: Callable[[int], None] | None,
) -> tuple[TrainResult, int]:
    """Train all configs in one program, halving it until it fits in memory.

    Halves see the same init and batches (they depend on the seed only), so the curves are the
    ones a single program would have produced. Returns the result and the number of programs.
    """
    try:
        res = train_configs(
            task, unit.space, hparams, seed=unit.seed, config=config, progress=progress
        )
        return res, 1
    except Exception as e:
        if not _is_oom(e) or len(hparams) == 1:
            raise
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    half = len(hparams) // 2
    a, na = _train_fitting(task, unit, hparams[:half], config, progress)
    b, nb = _train_fitting(task, unit, hparams[half:], config, progress)
    both = TrainResult(
        steps=a.steps,
        values=np.concatenate([a.values, b.values]),
        diverged_at=np.concatenate([a.diverged_at, b.diverged_at]),
        time_per_step=(a.time_per_step * na + b.time_per_step * nb) / (na + nb),
        eval_time=a.eval_time + b.eval_time,
    )
    return both, na + nb


def _write(store: Any, r: UnitResult) -> None:
    u = r.unit
    store.write_unit(
        u.task,
        u.space,
        u.seed,
        u.config_names,
        r.hparams,
        r.steps,
        r.values,
        r.time_per_step,
        r.data_sources,
        r.meta,
    )


def _ray_compute(unit: Unit, config: TrainConfig) -> UnitResult:
    return compute_unit(unit, config)


def run_units(
    units: Iterable[Unit],
    store: Any,
    config: TrainConfig,
    *,
    backend: str = "local",
    ray_address: str | None = None,
    num_gpus_per_unit: float = 0.0,
    on_step: Callable[[int], None] | None = None,
    on_unit: Callable[[Unit, bool], None] | None = None,
) -> int:
    """Run the units missing from ``store``; returns how many were computed.

    ``on_step(n)`` reports training steps as they happen (local backend), ``on_unit(unit,
    skipped)`` each finished or skipped unit. ``backend="ray"`` sends units to a Ray cluster
    (``ray_address`` or a local one); results come back to this process, which writes them, so
    workers need no shared filesystem.
    """
    todo = []
    for u in units:
        if store.has_unit(u.task, u.space, u.seed, u.config_names):
            if on_unit:
                on_unit(u, True)
        else:
            todo.append(u)
    if backend == "local":
        for u in todo:
            _write(store, compute_unit(u, config, progress=on_step))
            if on_unit:
                on_unit(u, False)
        return len(todo)
    if backend != "ray":
        raise ValueError(f"unknown backend {backend!r}; valid: local, ray")
    try:
        import ray
    except ImportError:
        raise ImportError("the ray backend needs Ray: pip install 'taskset-torch[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=ray_address)
    remote = ray.remote(num_gpus=num_gpus_per_unit)(_ray_compute)
    pending = {remote.remote(u, config): u for u in todo}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            u = pending.pop(ref)
            _write(store, ray.get(ref))
            if on_step:
                on_step(config.training_steps)
            if on_unit:
                on_unit(u, False)
    return len(todo)
