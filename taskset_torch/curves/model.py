"""The one curve type: losses of tasks x configs x seeds x eval steps x splits, for one search space.

The trainer's units, the store's reads, TaskSet's files and the lists' inputs are all
:class:`Curves`; a unit or a store read is the one-task case.
:func:`~taskset_torch.curves.combine` puts curves of several tasks on one grid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from taskset_torch.base import SPLITS  # the one definition, at the bottom layer
from taskset_torch.curves.io import _json

__all__ = ["SPLITS", "Curves", "split_index"]

#: ``SPLITS`` (from ``taskset_torch.base``, which imports neither torch nor the project): TaskSet's
#: four splits, in the order of the last axis of every curve array.


def split_index(split: str, splits: Sequence[str] = SPLITS) -> int:
    """Position of ``split`` on the split axis; ValueError naming the valid splits otherwise."""
    try:
        return list(splits).index(split)
    except ValueError:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(splits)}") from None


def _as_int(x: Any, what: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise ValueError(f"{what} must be an integer, got {x!r}")
    return int(x)


def check_steps(steps: Any) -> np.ndarray:
    """``steps`` as int64, or a ValueError unless a non-empty, strictly increasing whole-number
    sequence starting at >= 0."""
    arr = np.asarray(steps)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"steps must be a non-empty 1-D array of eval steps, got shape {arr.shape}"
        )
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"steps must be whole numbers, got {arr[:5]}...")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"steps must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr[0] < 0 or np.any(np.diff(arr) <= 0):
        raise ValueError(f"steps must be non-negative and strictly increasing, got {arr.tolist()}")
    return arr


def _dicts(items: Iterable[Any], what: str) -> tuple[dict, ...]:
    items = list(items)
    bad = [x for x in items if not isinstance(x, Mapping)]
    if bad:
        raise ValueError(f"every entry of {what} must be a dict, got {bad[0]!r}")
    return tuple(dict(x) for x in items)


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True, eq=False)
class Curves:
    """Training curves of one or more tasks over one pool of configs (one search space).

    ``values`` is ``[task, config, seed, step, split]`` (float32 when read from files); NaN marks
    diverged points. ``present[t, c, r]`` is False where config ``c`` was never run with seed
    ``r`` on task ``t`` (its values are NaN); a diverged run is present with NaN values (None:
    all present). ``hparams`` has one dict per config (``{}`` where unknown) or is None.
    ``time_per_step`` is ``[task, config, seed]`` wall seconds (NaN: unknown), ``data_sources``
    maps each task to the data that served it, ``meta`` is free-form provenance (for one task
    read from a store: the keys its files agree on, ``files``, ``varying``, ``duplicates``).
    ``zero_loss`` (optional, ``[task, split]``) is each task's loss under TaskSet's ``zero``
    optimizer (all weights 0), the normalization reference; NaN where a task has none.

    Example::

        curves = CurveStore("runs/demo").read("quadratic_family_seed0", "nadamw_grid")
        curves.values.shape      # (1, configs, seeds, steps, 4)
        pool = combine([curves, other_task_curves])   # one grid over both tasks
    """

    values: np.ndarray
    tasks: tuple[str, ...]
    config_names: tuple[str, ...]
    seeds: tuple[int, ...]
    steps: np.ndarray
    splits: tuple[str, ...] = SPLITS
    space: str | None = None
    hparams: tuple[dict[str, Any], ...] | None = None
    time_per_step: np.ndarray | None = None
    present: np.ndarray | None = None
    data_sources: Mapping[str, list[dict]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    zero_loss: np.ndarray | None = None

    def __post_init__(self) -> None:
        values = np.asarray(self.values)
        if values.dtype.kind not in "f":
            values = values.astype(np.float32)
        if values.ndim != 5:
            raise ValueError(
                f"curve values must be 5-d [task, config, seed, step, split], got shape {values.shape}"
            )
        _set(self, "values", values)
        _set(self, "tasks", tuple(str(t) for t in self.tasks))
        _set(self, "config_names", tuple(str(c) for c in self.config_names))
        _set(self, "seeds", tuple(_as_int(s, "seed") for s in self.seeds))
        _set(self, "steps", check_steps(self.steps))
        _set(self, "splits", tuple(self.splits))
        for label, names in (
            ("tasks", self.tasks),
            ("config_names", self.config_names),
            ("seeds", self.seeds),
        ):
            if len(set(names)) != len(names):
                dup = sorted({n for n in names if names.count(n) > 1})
                raise ValueError(f"duplicate {label}: {dup[:5]}")
        grid = (len(self.tasks), len(self.config_names), len(self.seeds))
        expected = (*grid, len(self.steps), len(self.splits))
        if values.shape != expected:
            raise ValueError(
                f"curve values have shape {values.shape} but the labels give {expected} "
                "(tasks, config_names, seeds, steps, splits)"
            )
        if self.hparams is not None:
            hp = _dicts(self.hparams, "hparams")
            if len(hp) != len(self.config_names):
                raise ValueError(
                    f"{len(hp)} hparams for {len(self.config_names)} config_names; give one "
                    "dict per config or None"
                )
            _set(self, "hparams", hp)
        tps = np.full(grid, np.nan) if self.time_per_step is None else self.time_per_step
        _set(self, "time_per_step", np.asarray(tps, dtype=np.float64))
        if self.time_per_step.shape != grid:
            raise ValueError(
                f"time_per_step has shape {self.time_per_step.shape}; expected [task, config, "
                f"seed] = {grid}"
            )
        present = np.ones(grid, dtype=bool) if self.present is None else self.present
        _set(self, "present", np.asarray(present, dtype=bool))
        if self.present.shape != grid:
            raise ValueError(f"present has shape {self.present.shape}; expected {grid}")
        sources = {str(t): list(_dicts(d, "data_sources")) for t, d in self.data_sources.items()}
        _set(self, "data_sources", sources)
        _set(self, "meta", dict(self.meta))
        if self.zero_loss is not None:
            zero = np.asarray(self.zero_loss, dtype=np.float64)
            if zero.shape != (len(self.tasks), len(self.splits)):
                raise ValueError(
                    f"zero_loss has shape {zero.shape}; expected [task, split] = "
                    f"{(len(self.tasks), len(self.splits))}"
                )
            _set(self, "zero_loss", zero)

    @classmethod
    def unit(
        cls,
        task: str,
        space: str,
        seed: int,
        config_names: Sequence[str],
        *,
        hparams: Sequence[Mapping[str, Any]],
        steps: Any,
        values: Any,
        time_per_step: Any,
        data_sources: Iterable[Any] = (),
        meta: Mapping[str, Any] | None = None,
    ) -> Curves:
        """One unit of work: the curves of a config chunk of (task, space) under one seed.

        Args:
            task, space, seed, config_names: what the unit is (its file name derives from them).
            hparams: one dict per config.
            steps: the eval steps (strictly increasing).
            values: ``[config, step, split]`` losses.
            time_per_step: ``[config]`` wall seconds per training step.
            data_sources: what served the task. meta: free-form provenance (JSON).

        ``values`` is ``[config, step, split]`` and ``time_per_step`` ``[config]``; data
        sources may be ``DataSource`` objects (stored as their JSON). This is what the runner
        produces from a training result and what :meth:`CurveStore.write_unit` takes.
        """
        names = [str(n) for n in config_names]
        values = np.asarray(values, dtype=np.float32)
        tps = np.asarray(time_per_step, dtype=np.float64)
        if values.ndim != 3 or tps.shape != (len(names),):
            raise ValueError(
                f"values must be [config, step, split] and time_per_step [config] for "
                f"{len(names)} configs; got {values.shape} and {tps.shape}"
            )
        steps = check_steps(steps)
        if len(list(hparams)) != len(names):
            raise ValueError(f"{len(list(hparams))} hparams for {len(names)} config_names")
        expected = (len(names), 1, len(steps), len(SPLITS))
        if values[:, None].shape != expected:
            raise ValueError(
                f"values of {task}/{space} have shape {values[:, None].shape}; expected "
                f"[config, seed, step, split] = {expected}"
            )
        sources = [d.to_json() if hasattr(d, "to_json") else d for d in data_sources]
        return cls(
            values=values[None, :, None],
            tasks=(task,),
            config_names=names,
            seeds=(seed,),
            steps=steps,
            space=space,
            hparams=_dicts(hparams, "hparams"),
            time_per_step=tps[None, :, None],
            data_sources={task: sources},
            meta=dict(meta or {}),
        )

    @property
    def task(self) -> str:
        """The task of curves that hold one (a unit, a store read); ValueError otherwise."""
        if len(self.tasks) != 1:
            raise ValueError(
                f"these curves hold {len(self.tasks)} tasks; pick one with select_tasks"
            )
        return self.tasks[0]

    def select_tasks(self, tasks: Iterable[str]) -> Curves:
        """The curves of ``tasks`` (in the order given); KeyError naming unknown tasks."""
        tasks = list(tasks)
        index = {t: i for i, t in enumerate(self.tasks)}
        unknown = [t for t in tasks if t not in index]
        if unknown:
            raise KeyError(
                f"tasks not in the curves: {unknown[:5]}; known: {list(self.tasks)[:10]}"
            )
        rows = [index[t] for t in tasks]
        return replace(
            self,
            values=self.values[rows],
            tasks=tuple(tasks),
            time_per_step=self.time_per_step[rows],
            present=self.present[rows],
            data_sources={t: self.data_sources[t] for t in tasks if t in self.data_sources},
            zero_loss=None if self.zero_loss is None else self.zero_loss[rows],
        )

    def select_configs(self, config_names: Iterable[str]) -> Curves:
        """The curves of ``config_names`` (in the order given); KeyError naming unknown configs."""
        names = list(config_names)
        index = {c: i for i, c in enumerate(self.config_names)}
        unknown = [c for c in names if c not in index]
        if unknown:
            raise KeyError(f"configs not in the curves: {unknown[:5]}")
        cols = [index[c] for c in names]
        hparams = tuple(self.hparams[i] for i in cols) if self.hparams is not None else None
        return replace(
            self,
            values=self.values[:, cols],
            config_names=tuple(names),
            hparams=hparams,
            time_per_step=self.time_per_step[:, cols],
            present=self.present[:, cols],
        )

    def equals(self, other: Curves) -> bool:
        """Same labels, metadata and values (NaN equal to NaN)."""
        same_zero = (self.zero_loss is None) == (other.zero_loss is None) and (
            self.zero_loss is None or np.array_equal(self.zero_loss, other.zero_loss, True)
        )
        return (
            (self.tasks, self.space, self.config_names, self.seeds, self.splits)
            == (other.tasks, other.space, other.config_names, other.seeds, other.splits)
            and _json(self.hparams) == _json(other.hparams)
            and _json(self.data_sources) == _json(other.data_sources)
            and _json(self.meta) == _json(other.meta)
            and np.array_equal(self.steps, other.steps)
            and np.array_equal(self.values, other.values, equal_nan=True)
            and np.array_equal(self.time_per_step, other.time_per_step, equal_nan=True)
            and np.array_equal(self.present, other.present)
            and same_zero
        )

    def to_dataframe(self, *, hparams: bool = False) -> Any:
        """Tidy table: one row per (task, config, seed, step, split) that was run.

        Columns ``task, space, config, seed, step, split, value`` (strings as categoricals),
        plus one ``hp_<name>`` column per hyperparameter if ``hparams``. Runs never made have no
        rows; diverged runs keep their NaN values. See :func:`taskset_torch.curves.tidy`.
        """
        from taskset_torch.curves.frames import tidy

        return tidy([self], hparams=hparams)
