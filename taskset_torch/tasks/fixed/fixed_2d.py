"""TaskSet's ``fixed_2d.py``: toy 2-D problems from LOSG's problem generator.

Each spec is a ``losg_tasks_family``-style config ``[key, sub_config, random_seed]`` run by
:class:`~taskset_torch.tasks.losg.LOSGTask`: Bowl ``0.5 ||M x||^2`` (init N(0, 1)) and the test
functions with their uniform init boxes. TaskSet fixed the init's TF op seed (``seed=123``); the
initial point here comes from the trainer's generator like every task's.
"""

from __future__ import annotations

from typing import Any

from taskset_torch.tasks.base import Task
from taskset_torch.tasks.losg import LOSGTask

__all__ = ["SPECS", "build"]


def _bowl(cond: float, random_seed: int) -> dict[str, Any]:
    # fixed_2d.py: pg.Bowl(condition_number=cond, random_seed=...); the seed draws nothing.
    return {"losg_config": ["bowl", {"cond": cond, "angle": 0.0, "noise_stdev": 0.0}, random_seed]}


def _test_fn(problem: str) -> dict[str, Any]:
    cfg = {"problem": problem, "noise_stdev": 0.0}
    return {"losg_config": ["optimization_test_problems", cfg, 0]}


SPECS: dict[str, dict[str, Any]] = {
    "TwoD_Bowl1": _bowl(1.0, 1),
    "TwoD_Bowl10": _bowl(10.0, 1),
    "TwoD_Bowl100": _bowl(100.0, 2),
    "TwoD_Bowl1000": _bowl(1000.0, 2),
    "TwoD_Rosenbrock": _test_fn("rosenbrock"),
    "TwoD_Ackley": _test_fn("ackley"),
    "TwoD_Beale": _test_fn("beale"),
    "TwoD_StyblinskiTang": _test_fn("StyblinskiTang"),
}


def build(name: str, spec: dict[str, Any]) -> Task:
    if not isinstance(spec, dict) or "losg_config" not in spec:
        raise ValueError(f"fixed_2d spec must be {{'losg_config': [key, cfg, seed]}}, got {spec!r}")
    return LOSGTask(spec["losg_config"], name=name)
