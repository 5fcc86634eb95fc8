"""The dense curve array the list code works on: values [task, config, seed, step, split] + labels."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["SPLITS", "CurveData", "split_index"]

#: TaskSet's four splits, in the order of the last axis of every curve array.
SPLITS: tuple[str, ...] = ("train", "valid_inner", "valid_outer", "test")


def split_index(split: str, splits: Sequence[str] = SPLITS) -> int:
    """Position of ``split`` on the split axis; ValueError naming the valid splits otherwise."""
    try:
        return list(splits).index(split)
    except ValueError:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(splits)}") from None


@dataclass(frozen=True)
class CurveData:
    """Curves of many tasks over one pool of configs (one search space).

    ``values`` is float32 ``[task, config, seed, step, split]``; NaN marks both diverged points and
    (task, config, seed) combinations that were never run (all steps NaN on a split).
    ``zero_loss`` (optional, ``[task, split]``) is each task's loss under TaskSet's ``zero``
    optimizer (all weights 0), the normalization reference; NaN where a task has none.
    """

    values: np.ndarray
    tasks: tuple[str, ...]
    config_names: tuple[str, ...]
    seeds: tuple[int, ...]
    steps: np.ndarray
    splits: tuple[str, ...] = SPLITS
    space: str | None = None
    hparams: tuple[dict[str, Any], ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    zero_loss: np.ndarray | None = None

    def __post_init__(self) -> None:
        values = np.asarray(self.values)
        if values.ndim != 5:
            raise ValueError(
                f"curve values must be 5-d [task, config, seed, step, split], got shape {values.shape}"
            )
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "tasks", tuple(str(t) for t in self.tasks))
        object.__setattr__(self, "config_names", tuple(str(c) for c in self.config_names))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "steps", np.asarray(self.steps, dtype=np.int64))
        object.__setattr__(self, "splits", tuple(self.splits))
        expected = (
            len(self.tasks),
            len(self.config_names),
            len(self.seeds),
            len(self.steps),
            len(self.splits),
        )
        if values.shape != expected:
            raise ValueError(
                f"curve values have shape {values.shape} but the labels give {expected} "
                "(tasks, config_names, seeds, steps, splits)"
            )
        for label, names in (("tasks", self.tasks), ("config_names", self.config_names)):
            if len(set(names)) != len(names):
                dup = sorted({n for n in names if names.count(n) > 1})
                raise ValueError(f"duplicate {label}: {dup[:5]}")
        if self.zero_loss is not None:
            zero = np.asarray(self.zero_loss, dtype=np.float64)
            if zero.shape != (len(self.tasks), len(self.splits)):
                raise ValueError(
                    f"zero_loss has shape {zero.shape}; expected [task, split] = "
                    f"{(len(self.tasks), len(self.splits))}"
                )
            object.__setattr__(self, "zero_loss", zero)
        if self.hparams is not None:
            hp = tuple(dict(h) for h in self.hparams)
            if len(hp) != len(self.config_names):
                raise ValueError(
                    f"{len(hp)} hparams entries for {len(self.config_names)} configs; "
                    "give one dict per config or None"
                )
            object.__setattr__(self, "hparams", hp)

    @classmethod
    def from_array(
        cls,
        array: np.ndarray,
        labels: Mapping[str, Any],
        *,
        space: str | None = None,
        hparams: Sequence[Mapping[str, Any]] | None = None,
    ) -> CurveData:
        """Wrap ``CurveStore.to_array``'s ``(array, labels)`` pair."""
        missing = [k for k in ("tasks", "config_names", "seeds", "steps") if k not in labels]
        if missing:
            raise ValueError(
                f"curve labels lack {missing}; expected tasks, config_names, seeds, steps"
            )
        return cls(
            values=array,
            tasks=tuple(labels["tasks"]),
            config_names=tuple(labels["config_names"]),
            seeds=tuple(labels["seeds"]),
            steps=np.asarray(labels["steps"]),
            splits=tuple(labels.get("splits", SPLITS)),
            space=space if space is not None else labels.get("space"),
            hparams=tuple(dict(h) for h in hparams)
            if hparams is not None
            else labels.get("hparams"),
        )

    def select_tasks(self, tasks: Iterable[str]) -> CurveData:
        """The curves of ``tasks`` (in the order given); KeyError naming unknown tasks."""
        tasks = list(tasks)
        index = {t: i for i, t in enumerate(self.tasks)}
        unknown = [t for t in tasks if t not in index]
        if unknown:
            raise KeyError(
                f"tasks not in the curves: {unknown[:5]}; known: {list(self.tasks)[:10]}"
            )
        rows = [index[t] for t in tasks]
        zero = None if self.zero_loss is None else self.zero_loss[rows]
        return replace(self, values=self.values[rows], tasks=tuple(tasks), zero_loss=zero)

    def select_configs(self, config_names: Iterable[str]) -> CurveData:
        """The curves of ``config_names`` (in the order given); KeyError naming unknown configs."""
        names = list(config_names)
        index = {c: i for i, c in enumerate(self.config_names)}
        unknown = [c for c in names if c not in index]
        if unknown:
            raise KeyError(f"configs not in the curves: {unknown[:5]}")
        cols = [index[c] for c in names]
        hparams = tuple(self.hparams[i] for i in cols) if self.hparams is not None else None
        return replace(
            self, values=self.values[:, cols], config_names=tuple(names), hparams=hparams
        )
