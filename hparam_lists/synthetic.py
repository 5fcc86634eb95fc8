"""Seeded synthetic training curves with TaskSet's shape, for tests, benchmarks and examples.

Each config has a log learning rate; each task an optimal one. A curve decays from the initial
loss towards a task floor at a rate that falls off with the distance to the task's optimum, and
configs far above the optimum diverge (NaN or a huge value from some step on). Tasks share
structure, so a learned list beats random search, as on real TaskSet data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from taskset_torch.curves import SPLITS, Curves

__all__ = ["synthetic_curves"]


def synthetic_curves(
    n_tasks: int = 8,
    n_configs: int = 50,
    *,
    n_seeds: int = 1,
    n_steps: int = 11,
    splits: Sequence[str] = SPLITS,
    space: str = "synthetic",
    task_prefix: str = "synthetic_family",
    seed: int,
) -> Curves:
    """Curves ``[n_tasks, n_configs, n_seeds, n_steps, len(splits)]`` (float32), fully seeded.

    Config names are ``<space>_seed<i>`` with hparams ``{"log_lr": ...}``; task names
    ``<task_prefix>_seed<t>``; steps 0, 200, ... like TaskSet.
    """
    for name, value in (("n_tasks", n_tasks), ("n_configs", n_configs), ("n_seeds", n_seeds)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if n_steps < 2:
        raise ValueError(f"n_steps must be >= 2 (step 0 and one more), got {n_steps}")
    rng = np.random.RandomState(seed)
    log_lr = rng.uniform(-8.0, 1.0, size=n_configs)
    best = rng.uniform(-4.5, -1.5, size=n_tasks)
    initial = rng.uniform(0.5, 3.0, size=n_tasks)
    floor = initial * rng.uniform(0.05, 0.6, size=n_tasks)
    width = rng.uniform(0.8, 2.0, size=n_tasks)
    t = np.linspace(0.0, 1.0, n_steps)
    values = np.empty((n_tasks, n_configs, n_seeds, n_steps, len(splits)), dtype=np.float32)
    for i in range(n_tasks):
        d = (log_lr - best[i]) / width[i]
        rate = 8.0 * np.exp(-0.5 * d**2)  # [C]
        noise = rng.normal(0.0, 0.02, size=(n_configs, n_seeds, n_steps, len(splits)))
        shift = rng.normal(0.0, 0.03, size=(n_configs, 1, 1, 1))
        curve = floor[i] + (initial[i] - floor[i]) * np.exp(-rate[:, None] * t[None, :])
        x = curve[:, None, :, None] * (1.0 + shift + noise)
        x[:, :, 0, :] = initial[i] * (1.0 + 0.01 * noise[:, :, 0, :])
        # Too large a learning rate diverges from a random step on: NaN, or a huge finite loss.
        diverge = log_lr > best[i] + 2.0 * width[i]
        start = rng.randint(1, n_steps, size=n_configs)
        huge = rng.uniform(size=n_configs) < 0.3
        for c in np.flatnonzero(diverge):
            x[c, :, start[c] :, :] = 1e30 if huge[c] else np.nan
        values[i] = x
    return Curves(
        values=values,
        tasks=tuple(f"{task_prefix}_seed{i}" for i in range(n_tasks)),
        config_names=tuple(f"{space}_seed{i}" for i in range(n_configs)),
        seeds=tuple(range(n_seeds)),
        steps=np.arange(n_steps, dtype=np.int64) * 200,
        splits=tuple(splits),
        space=space,
        hparams=tuple({"log_lr": float(v)} for v in log_lr),
    )
