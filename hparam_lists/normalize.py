"""Per-task loss normalization and per-config scores (the numbers lists are learned and judged on).

Default, per task and split (TaskSet §5; the paper's exact formula is unverified, so the choice is
spelled out here): ``0`` = the lowest loss any config reached on that split (over configs, seeds
and steps), ``1`` = the task's initial loss, i.e. the median step-0 loss over configs and seeds
(every config starts from the same untrained model, so the median is just a robust way of
reading that one number). NaN, +-inf and anything above 1 count as 1 (a diverged curve is no
better than not training). A config's score is the mean of its normalized curve (default), its
final value or its best value.

The reference for "1" is chosen by ``norm_ref``: ``"zero"`` takes the loss of TaskSet's ``zero``
optimizer (every weight at 0: ln(classes) for a classifier), which TaskSet's source says its
values were used for; ``"step0"`` the median step-0 loss above (which a badly initialized task can
put at 1e9, squashing every config's score towards 0); ``"auto"`` (default) takes ``zero`` when
every task has the zero optimizer's curve (``Curves.zero_loss``) and ``step0`` otherwise
(e.g. on TaskSet's released curves, which hold no zero curve). Under ``zero``, a task whose zero
loss is no usable "1" (non-finite, or not above the best loss: the all-zero point *is* the
optimum of a quadratic, and a log objective is -inf there) keeps the step-0 reference, listed in
:attr:`Scores.step0_tasks`. The clip and NaN rules are the same for both; :attr:`Scores.norm_ref`
says which reference was used.

Missing data is not divergence: a (task, config, seed) whose curve is NaN at *every* step of the
split was never run and gets a NaN score; use :meth:`Scores.complete` to keep the configs present
on every task.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from taskset_torch.curves import Curves, split_index

__all__ = [
    "SCORE_KINDS",
    "REPLICA_MODES",
    "NORM_REFS",
    "zero_reference",
    "resolve_norm_ref",
    "Scores",
    "normalization_bounds",
    "config_scores",
    "compute_scores",
    "check_report_split",
    "UninformativeTaskWarning",
]

SCORE_KINDS: tuple[str, ...] = ("mean", "final", "best")
REPLICA_MODES: tuple[str, ...] = ("mean", "per_seed")
NORM_REFS: tuple[str, ...] = ("auto", "zero", "step0")

# Tasks are processed in blocks so a 1000-task x 1000-config curve array is never copied to
# float64 whole (that alone would be ~400 MB).
_TASK_BLOCK = 32


def _check_choice(name: str, value: str, valid: Sequence[str]) -> None:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")


def check_report_split(learn_split: str, report_split: str) -> None:
    """Refuse to report a list on the split it was learned on (that number would be optimistic)."""
    if learn_split == report_split:
        raise ValueError(
            f"a list learned on split {learn_split!r} must be reported on a different split "
            "(e.g. learn on valid_inner, report on valid_outer or test)"
        )


def zero_reference(values: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The zero optimizer's loss from its curves ``[seed, step, ...]``: per seed the mean over the
    points after step 0 (step 0 is the untrained init; from the first update on the model is all
    zeros), then the median over the seeds whose mean is not NaN.

    NaN means "no zero curve" (nothing after step 0); a curve whose every seed is NaN gives +inf
    ("exists, but the all-zero model has no loss"), so it is told apart from a missing one.
    """
    values = np.asarray(values, dtype=np.float64)
    later = np.asarray(steps) > 0
    if values.ndim < 2 or not later.any():
        return np.full(values.shape[2:], np.nan)
    per_seed = values[:, later].mean(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # every seed NaN: handled below
        ref = np.nanmedian(per_seed, axis=0)
    return np.where(np.isnan(ref), np.inf, ref)


def resolve_norm_ref(curves: Curves, split: str, norm_ref: str = "auto") -> str:
    """``"zero"`` or ``"step0"``: the reference ``compute_scores`` uses for ``norm_ref``."""
    _check_choice("norm_ref", norm_ref, NORM_REFS)
    if norm_ref == "step0":
        return "step0"
    k = split_index(split, curves.splits)
    have = (
        ~np.isnan(curves.zero_loss[:, k])
        if curves.zero_loss is not None
        else np.zeros(len(curves.tasks), dtype=bool)
    )
    if have.all():
        return "zero"
    if norm_ref == "auto":
        return "step0"
    lacking = [t for t, h in zip(curves.tasks, have) if not h]
    raise ValueError(
        f"norm_ref='zero' needs the zero optimizer's loss of every task on {split!r}, but "
        f"{len(lacking)} of {len(curves.tasks)} tasks have none (e.g. {lacking[:3]}); "
        "`taskset-torch generate` records it (unless --no-zero), or use norm_ref 'step0'"
    )


def _average_present_seeds(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the seeds that were run; a diverged (NaN) replica makes the mean NaN, as in TaskSet.

    x: [T, C, S, N] -> ([T, C, 1, N], present [T, C, 1]).
    """
    present = ~np.all(np.isnan(x), axis=-1)
    count = present.sum(axis=2)
    summed = np.where(present[..., None], x, 0.0).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = summed / count[..., None]
    mean[count == 0] = np.nan
    return mean[:, :, None, :], (count > 0)[:, :, None]


def _bounds_block(x: np.ndarray, initial_index: int) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) per task of a [T, C, S, N] block; NaN where a task has no finite value."""
    finite = np.isfinite(x)
    low = np.where(finite, x, np.inf).min(axis=(1, 2, 3))
    low[np.isinf(low)] = np.nan
    start = np.where(finite[..., initial_index], x[..., initial_index], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN task: NaN is the answer
        high = np.nanmedian(start.reshape(len(x), -1), axis=1)
    return low, high


def _prepare(values: np.ndarray, replicas: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(values, dtype=np.float64)
    if replicas == "mean":
        return _average_present_seeds(x)
    return x, ~np.all(np.isnan(x), axis=-1)


def normalization_bounds(
    values: np.ndarray, *, replicas: str = "mean", initial_index: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Per-task (low, high) of one split's curves ``[task, config, seed, step]`` (see module doc)."""
    _check_choice("replicas mode", replicas, REPLICA_MODES)
    values = _check_values(values)
    lows, highs = [], []
    for start in range(0, len(values), _TASK_BLOCK):
        x, _ = _prepare(values[start : start + _TASK_BLOCK], replicas)
        low, high = _bounds_block(x, initial_index)
        lows.append(low)
        highs.append(high)
    return np.concatenate(lows), np.concatenate(highs)


def _check_values(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 4:
        raise ValueError(
            f"one split's curves must be 4-d [task, config, seed, step], got shape {values.shape}"
        )
    if 0 in values.shape:
        raise ValueError(
            f"curves need at least one task, config, seed and step; got {values.shape}"
        )
    return values


def config_scores(
    values: np.ndarray,
    *,
    score: str = "mean",
    replicas: str = "mean",
    initial_index: int = 0,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalized per-config scores of one split's curves ``[task, config, seed, step]``.

    Returns ``(scores [task, seed', config], low [task], high [task])`` with ``seed' = 1`` when
    replicas are averaged. Scores lie in ``(-inf, 1]`` (``[0, 1]`` with the default bounds) and are
    NaN only where a (task, config[, seed]) has no data. A task whose bounds are unusable (no
    finite loss, or no config went below the initial loss) scores 1 everywhere.
    """
    _check_choice("score", score, SCORE_KINDS)
    _check_choice("replicas mode", replicas, REPLICA_MODES)
    values = _check_values(values)
    n_tasks = len(values)
    if not -values.shape[-1] <= initial_index < values.shape[-1]:
        raise ValueError(f"initial_index {initial_index} out of range for {values.shape[-1]} steps")
    if bounds is not None:
        low_all = np.asarray(bounds[0], dtype=np.float64).reshape(-1)
        high_all = np.asarray(bounds[1], dtype=np.float64).reshape(-1)
        if low_all.shape != (n_tasks,) or high_all.shape != (n_tasks,):
            raise ValueError(f"bounds must be two arrays of one value per task ({n_tasks})")
    blocks, lows, highs = [], [], []
    for start in range(0, n_tasks, _TASK_BLOCK):
        x, present = _prepare(values[start : start + _TASK_BLOCK], replicas)
        if bounds is None:
            low, high = _bounds_block(x, initial_index)
        else:
            low, high = low_all[start : start + len(x)], high_all[start : start + len(x)]
        usable = np.isfinite(low) & np.isfinite(high) & (high > low)
        scale = np.where(usable, high - low, 1.0)[:, None, None, None]
        with np.errstate(invalid="ignore", over="ignore"):
            norm = (x - np.where(usable, low, 0.0)[:, None, None, None]) / scale
        norm[~np.isfinite(norm)] = 1.0
        np.minimum(norm, 1.0, out=norm)
        norm[~usable] = 1.0
        if score == "mean":
            s = norm.mean(axis=-1)
        elif score == "final":
            s = norm[..., -1]
        else:
            s = norm.min(axis=-1)
        s[~present] = np.nan
        blocks.append(np.transpose(s, (0, 2, 1)))  # [T, S', C]
        lows.append(low)
        highs.append(high)
    return np.concatenate(blocks), np.concatenate(lows), np.concatenate(highs)


@dataclass(frozen=True)
class Scores:
    """Normalized scores ``values [task, seed', config]`` of one split, with their labels.

    Each (task, seed') row is one "problem" for list learning; ``seed' = 1`` when replicas are
    averaged. Lower is better.
    """

    values: np.ndarray
    tasks: tuple[str, ...]
    config_names: tuple[str, ...]
    split: str
    score: str = "mean"
    replicas: str = "mean"
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    norm_ref: str = "step0"
    step0_tasks: tuple[str, ...] = ()  # under norm_ref "zero": tasks that kept the step-0 reference

    def __post_init__(self) -> None:
        v = np.asarray(self.values, dtype=np.float64)
        if v.ndim == 2:  # a plain [task, config] matrix
            v = v[:, None, :]
        if v.ndim != 3 or v.shape[0] != len(self.tasks) or v.shape[2] != len(self.config_names):
            raise ValueError(
                f"scores of shape {np.shape(self.values)} do not match {len(self.tasks)} tasks x "
                f"{len(self.config_names)} configs"
            )
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "config_names", tuple(self.config_names))

    @property
    def n_tasks(self) -> int:
        """Number of tasks (rows of ``values``)."""
        return self.values.shape[0]

    @property
    def n_configs(self) -> int:
        """Number of configs (the last axis of ``values``)."""
        return self.values.shape[2]

    def matrix(self) -> np.ndarray:
        """``[task * seed', config]``: one row per problem, rows of a task adjacent."""
        return self.values.reshape(-1, self.n_configs)

    def available(self) -> np.ndarray:
        """bool ``[task, config]``: the config has a score on every seed' of the task."""
        return ~np.any(np.isnan(self.values), axis=1)

    def config_index(self, names: Iterable[str]) -> np.ndarray:
        """Column indices of ``names``; KeyError naming those not scored here."""
        index = {c: i for i, c in enumerate(self.config_names)}
        names = list(names)
        unknown = [n for n in names if n not in index]
        if unknown:
            raise KeyError(
                f"{len(unknown)} configs are not in these curves, e.g. {unknown[:3]}; "
                f"the curves hold {self.n_configs} configs such as {list(self.config_names[:3])}"
            )
        return np.array([index[n] for n in names], dtype=np.int64)

    def select_tasks(self, tasks: Iterable[str]) -> Scores:
        """These tasks' scores, in the given order; KeyError naming tasks not scored here."""
        tasks = list(tasks)
        index = {t: i for i, t in enumerate(self.tasks)}
        unknown = [t for t in tasks if t not in index]
        if unknown:
            raise KeyError(f"tasks not scored: {unknown[:5]}; scored: {list(self.tasks)[:10]}")
        rows = [index[t] for t in tasks]
        return replace(
            self,
            values=self.values[rows],
            tasks=tuple(tasks),
            step0_tasks=tuple(t for t in self.step0_tasks if t in set(tasks)),
            low=None if self.low is None else self.low[rows],
            high=None if self.high is None else self.high[rows],
        )

    def select_configs(self, names: Iterable[str]) -> Scores:
        """These configs' columns, in the given order; KeyError naming configs not scored here."""
        names = list(names)
        cols = self.config_index(names)
        return replace(self, values=self.values[:, :, cols], config_names=tuple(names))

    def complete(self) -> Scores:
        """Only the tasks with any data, and only the configs scored on all of those tasks."""
        avail = self.available()
        tasks_with_data = avail.any(axis=1)
        kept = self.select_tasks([t for t, k in zip(self.tasks, tasks_with_data) if k])
        cols = avail[tasks_with_data].all(axis=0)
        return kept.select_configs([c for c, k in zip(self.config_names, cols) if k])

    def require_complete(self) -> None:
        """ValueError if any score is missing (list learning and random search need all of them)."""
        missing = np.isnan(self.values)
        if missing.any():
            t, _, c = np.argwhere(missing)[0]
            raise ValueError(
                f"{int(missing.sum())} scores are missing on split {self.split!r} (e.g. task "
                f"{self.tasks[t]!r}, config {self.config_names[c]!r}); restrict to the configs "
                "run on every task with Scores.complete()"
            )


class UninformativeTaskWarning(UserWarning):
    """Tasks whose curves cannot inform a list: all NaN (left out) or unnormalizable (all 1)."""


def _warn_uninformative(
    scores: np.ndarray, low: np.ndarray, high: np.ndarray, tasks: Sequence[str], split: str
) -> None:
    """Name the tasks that are dropped (every curve NaN on ``split``) or that score 1 for every
    config (NaN initial loss, or no config got below it), so they are not lost silently."""
    no_data = np.all(np.isnan(scores), axis=(1, 2))
    usable = np.isfinite(low) & np.isfinite(high) & (high > low)
    flat = ~usable & ~no_data
    for mask, what in (
        (no_data, "every curve is NaN (never run, or diverged from the start): left out"),
        (flat, "the initial loss is NaN or no config got below it: every config scores 1"),
    ):
        if mask.any():
            names = [t for t, m in zip(tasks, mask) if m]
            more = f" and {len(names) - 10} more" if len(names) > 10 else ""
            warnings.warn(
                f"split {split!r}: {len(names)} task(s) {names[:10]}{more}: {what}",
                UninformativeTaskWarning,
                stacklevel=3,
            )


def compute_scores(
    curves: Curves,
    split: str,
    *,
    score: str = "mean",
    replicas: str = "mean",
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
    norm_ref: str = "auto",
) -> Scores:
    """Normalized scores of every (task, config) of ``curves`` on ``split`` (see module doc).

    ``norm_ref``: ``"auto"``, ``"zero"`` or ``"step0"`` (ignored when ``bounds`` are given, which
    are then recorded as ``"given"``).
    """
    values = curves.values[..., split_index(split, curves.splits)]
    ref = resolve_norm_ref(curves, split, norm_ref)
    zero = np.flatnonzero(curves.steps == 0)
    fallback: tuple[str, ...] = ()
    if bounds is not None:
        ref = "given"
    elif ref == "zero":
        low, step0 = normalization_bounds(
            values, replicas=replicas, initial_index=int(zero[0]) if len(zero) else 0
        )
        high = curves.zero_loss[:, split_index(split, curves.splits)].copy()
        unusable = ~(np.isfinite(high) & (high > low))
        if len(zero):  # without a step-0 point those tasks stay unusable (they score 1)
            high[unusable] = step0[unusable]
        fallback = tuple(t for t, u in zip(curves.tasks, unusable) if u)
        bounds = (low, high)
    if bounds is None and len(zero) == 0:
        raise ValueError(
            "normalization needs each task's initial (step-0) loss, but the curves' steps start "
            f"at {int(curves.steps[0]) if len(curves.steps) else 'nothing'}; pass bounds="
        )
    s, low, high = config_scores(
        values,
        score=score,
        replicas=replicas,
        initial_index=int(zero[0]) if len(zero) else 0,
        bounds=bounds,
    )
    _warn_uninformative(s, low, high, curves.tasks, split)
    return Scores(
        values=s,
        tasks=curves.tasks,
        config_names=curves.config_names,
        split=split,
        score=score,
        replicas=replicas,
        low=low,
        high=high,
        norm_ref=ref,
        step0_tasks=fallback,
    )
