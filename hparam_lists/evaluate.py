"""Evaluating lists on held-out tasks: task splits, list vs exact random search, speedup, compare.

Per k the result holds the mean normalized loss of the list's first k entries (best so far) and of
random search with k trials (exact expectation over draws without replacement), each with a
bootstrap confidence interval over the evaluation tasks (seeded), and the speedup.

**Speedup** (one definition everywhere, :data:`SPEEDUP_DEFINITION`): the number of random-search
trials whose expected best, as the mean normalized loss over the evaluated tasks, equals the mean
over the same tasks of the list's best of its first k entries, divided by k. Random search's curve
is interpolated linearly between integer trial counts, with zero trials scoring 1 (the initial
loss). When random search needs the whole pool of N configs (or cannot match at all) the speedup
is capped at N/k, a lower bound, and flagged (``speedup_capped``; tables print ``>=``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hparam_lists.normalize import Scores
from hparam_lists.random_search import expected_best_of_k
from taskset_torch.curves import parse_seed_name

__all__ = [
    "SPEEDUP_DEFINITION",
    "task_family",
    "TaskSplit",
    "kfold_splits",
    "family_splits",
    "leave_n_out_splits",
    "explicit_split",
    "trials_to_match",
    "ListEvaluation",
    "summarize",
    "evaluate_list",
    "pool_evaluations",
    "Comparison",
    "compare_lists",
    "present_prefix",
]

SPEEDUP_DEFINITION = (
    "speedup at k = (random-search trials whose expected best matches the list's best of its "
    "first k entries, both as mean normalized loss over the evaluated tasks) / k; capped at "
    "pool_size / k (a lower bound) where random search needs the whole pool"
)


def task_family(name: str) -> str:
    """``mlp_family_seed3`` -> ``mlp_family``; a fixed task -> its prefix (``FixedMLP_...`` -> ``FixedMLP``)."""
    parsed = parse_seed_name(name)
    if parsed:
        return parsed[0]
    return name.split("_", 1)[0]


@dataclass(frozen=True)
class TaskSplit:
    """Tasks a list is learned on (``train``) and evaluated on (``test``)."""

    name: str
    train: tuple[str, ...]
    test: tuple[str, ...]


def _check_tasks(tasks: Sequence[str]) -> list[str]:
    tasks = list(tasks)
    if len(set(tasks)) != len(tasks):
        raise ValueError("task names must be unique")
    if len(tasks) < 2:
        raise ValueError(f"splitting needs at least 2 tasks, got {len(tasks)}")
    return tasks


def kfold_splits(tasks: Sequence[str], n_folds: int, *, seed: int) -> list[TaskSplit]:
    """Random k-fold split of the tasks (seeded); each task is held out exactly once."""
    tasks = _check_tasks(tasks)
    if not 2 <= n_folds <= len(tasks):
        raise ValueError(f"n_folds must be in 2..{len(tasks)} (the number of tasks), got {n_folds}")
    order = np.random.RandomState(seed).permutation(len(tasks))
    folds = np.array_split(order, n_folds)
    out = []
    for i, fold in enumerate(folds):
        held = set(fold.tolist())
        out.append(
            TaskSplit(
                name=f"fold{i}",
                train=tuple(t for j, t in enumerate(tasks) if j not in held),
                test=tuple(tasks[j] for j in sorted(held)),
            )
        )
    return out


def family_splits(tasks: Sequence[str]) -> list[TaskSplit]:
    """Leave-one-family-out (family by :func:`task_family`); needs at least two families."""
    tasks = _check_tasks(tasks)
    families = sorted({task_family(t) for t in tasks})
    if len(families) < 2:
        raise ValueError(f"leave-one-family-out needs >= 2 families, all tasks are {families}")
    return [
        TaskSplit(
            name=f"without_{fam}",
            train=tuple(t for t in tasks if task_family(t) != fam),
            test=tuple(t for t in tasks if task_family(t) == fam),
        )
        for fam in families
    ]


def leave_n_out_splits(tasks: Sequence[str], n_test: int) -> list[TaskSplit]:
    """Every way of holding out ``n_test`` tasks (C(len, n_test) splits)."""
    tasks = _check_tasks(tasks)
    if not 1 <= n_test < len(tasks):
        raise ValueError(f"n_test must be in 1..{len(tasks) - 1}, got {n_test}")
    out = []
    for held in itertools.combinations(range(len(tasks)), n_test):
        out.append(
            TaskSplit(
                name="test=" + "+".join(tasks[j] for j in held),
                train=tuple(t for j, t in enumerate(tasks) if j not in held),
                test=tuple(tasks[j] for j in held),
            )
        )
    return out


def explicit_split(
    tasks: Sequence[str], test: Sequence[str], train: Sequence[str] | None = None
) -> TaskSplit:
    """Named test tasks; train = the given ones or all others. Errors on unknown/overlapping names."""
    tasks = list(tasks)
    known = set(tasks)
    train = [t for t in tasks if t not in set(test)] if train is None else list(train)
    unknown = [t for t in [*test, *train] if t not in known]
    if unknown:
        raise ValueError(f"unknown tasks {unknown[:5]}; known: {tasks[:10]}")
    overlap = set(train) & set(test)
    if overlap:
        raise ValueError(f"tasks both in train and test: {sorted(overlap)[:5]}")
    if not train or not test:
        raise ValueError("an explicit split needs at least one train and one test task")
    return TaskSplit(name="explicit", train=tuple(train), test=tuple(test))


def trials_to_match(random_curve: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Random-search trials (fractional) whose expected best equals each target, and a cap flag.

    ``random_curve[j]`` is the expected best of j+1 trials (j = 0..N-1); zero trials score
    ``max(1, curve[0])``. Returns ``(trials in [0, N], capped)`` where capped means random
    search needs all N configs or never reaches the target.
    """
    curve = np.minimum.accumulate(np.asarray(random_curve, dtype=np.float64))
    n = len(curve)
    ext = np.concatenate([[max(1.0, curve[0])], curve])  # trials 0..N, non-increasing
    targets = np.asarray(targets, dtype=np.float64)
    tol = 1e-12 * np.maximum(1.0, np.abs(targets))
    # First trial count j whose expected best is <= the target (ext is non-increasing).
    j = np.searchsorted(-ext, -(targets + tol), side="left")
    trials = np.full(targets.shape, float(n))
    inside = (j >= 1) & (j <= n)
    jj = j[inside]
    hi, lo = ext[jj - 1], ext[jj]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(hi > lo, (hi - targets[inside]) / (hi - lo), 1.0)
    trials[inside] = (jj - 1) + np.clip(frac, 0.0, 1.0)
    trials[j == 0] = 0.0
    capped = (j > n) | (trials >= n)
    return trials, capped


@dataclass(frozen=True)
class ListEvaluation:
    """A list against random search on some tasks, per k (see the module doc).

    ``list_per_task [task, K]`` and ``random_per_task [task, N]`` keep the per-task curves so
    evaluations of several folds can be pooled (:func:`pool_evaluations`).
    """

    ks: np.ndarray
    list_loss: np.ndarray
    list_ci: np.ndarray  # [K, 2]
    random_loss: np.ndarray
    random_ci: np.ndarray  # [K, 2]
    speedup: np.ndarray
    speedup_ci: np.ndarray  # [K, 2]
    speedup_capped: np.ndarray  # bool [K]
    pool_size: int
    tasks: tuple[str, ...]
    split: str
    ci_level: float
    list_per_task: np.ndarray
    random_per_task: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: one record per k."""
        per_k = []
        for i, k in enumerate(self.ks):
            per_k.append(
                {
                    "k": int(k),
                    "list_loss": float(self.list_loss[i]),
                    "list_ci": [float(x) for x in self.list_ci[i]],
                    "random_loss": float(self.random_loss[i]),
                    "random_ci": [float(x) for x in self.random_ci[i]],
                    "speedup": float(self.speedup[i]),
                    "speedup_ci": [float(x) for x in self.speedup_ci[i]],
                    "speedup_capped": bool(self.speedup_capped[i]),
                }
            )
        return {
            "split": self.split,
            "tasks": list(self.tasks),
            "pool_size": self.pool_size,
            "ci_level": self.ci_level,
            "speedup_definition": SPEEDUP_DEFINITION,
            "per_k": per_k,
        }


def _per_task(values: np.ndarray) -> np.ndarray:
    """[task, seed', X] -> [task, X]: replicas kept per seed count equally within a task."""
    return values.mean(axis=1)


def _bootstrap_counts(n_tasks: int, n_boot: int, seed: int) -> np.ndarray:
    """[n_boot, n_tasks] resampling weights (multiplicity / n_tasks) of a task bootstrap."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    rng = np.random.RandomState(seed)
    draws = rng.randint(0, n_tasks, size=(n_boot, n_tasks))
    counts = np.zeros((n_boot, n_tasks))
    np.add.at(counts, (np.repeat(np.arange(n_boot), n_tasks), draws.ravel()), 1.0)
    return counts / n_tasks


def _interval(samples: np.ndarray, level: float) -> np.ndarray:
    alpha = (1.0 - level) / 2.0
    return np.stack(
        [np.quantile(samples, alpha, axis=0), np.quantile(samples, 1.0 - alpha, axis=0)], axis=-1
    )


def _resolve_ks(ks: Sequence[int] | None, length: int) -> np.ndarray:
    if ks is None:
        return np.arange(1, length + 1)
    ks = np.unique(np.asarray(ks, dtype=np.int64))
    if len(ks) == 0 or ks[0] < 1 or ks[-1] > length:
        raise ValueError(f"k values must be in 1..{length} (the list length), got {ks.tolist()}")
    return ks


def _list_columns(scores: Scores, entries: Sequence[str] | np.ndarray) -> np.ndarray:
    if len(entries) and isinstance(entries[0], str):
        return scores.config_index(entries)
    idx = np.asarray(entries, dtype=np.int64)
    if idx.ndim != 1 or len(idx) == 0 or idx.min() < 0 or idx.max() >= scores.n_configs:
        raise ValueError(f"list indices must be in 0..{scores.n_configs - 1}")
    return idx


def summarize(
    list_per_task: np.ndarray,
    random_per_task: np.ndarray,
    ks: np.ndarray,
    *,
    tasks: Sequence[str],
    split: str,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    counts: np.ndarray | None = None,
) -> ListEvaluation:
    """Means, bootstrap intervals over tasks and speedups from per-task curves.

    list_per_task: ``[task, len(ks)]`` best so far of the list at each k; random_per_task:
    ``[task, N]`` expected best of 1..N random trials.
    """
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    ks = np.asarray(ks, dtype=np.int64)
    n_tasks = len(list_per_task)
    counts = _bootstrap_counts(n_tasks, n_boot, seed) if counts is None else counts
    list_boot = counts @ list_per_task  # [B, K]
    random_boot = counts @ random_per_task  # [B, N]
    list_loss = list_per_task.mean(axis=0)
    random_full = random_per_task.mean(axis=0)
    trials, capped = trials_to_match(random_full, list_loss)
    boot_speedup = np.empty_like(list_boot)
    for b in range(len(counts)):
        boot_speedup[b] = trials_to_match(random_boot[b], list_boot[b])[0] / ks
    return ListEvaluation(
        ks=ks,
        list_loss=list_loss,
        list_ci=_interval(list_boot, ci),
        random_loss=random_full[ks - 1],
        random_ci=_interval(random_boot[:, ks - 1], ci),
        speedup=trials / ks,
        speedup_ci=_interval(boot_speedup, ci),
        speedup_capped=capped,
        pool_size=random_per_task.shape[1],
        tasks=tuple(tasks),
        split=split,
        ci_level=ci,
        list_per_task=list_per_task,
        random_per_task=random_per_task,
    )


def evaluate_list(
    scores: Scores,
    entries: Sequence[str] | np.ndarray,
    *,
    ks: Sequence[int] | None = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    counts: np.ndarray | None = None,
) -> ListEvaluation:
    """Evaluate a list (config names or column indices, in order) on ``scores``' tasks.

    Per k: the mean over tasks of the list's best normalized loss among its first k entries,
    the same for k random configs (exact expectation), and the speedup (random trials needed
    to match the list), with bootstrap intervals over tasks.

    Args:
        scores: reported-split scores of held-out tasks; the random-search pool is all of its
            configs, so every score must be present (see :meth:`Scores.complete`).
        entries: the list's config names (or column indices of ``scores``), in order.
        ks: list lengths to report (default: 1, 2, 3, 5, 10, ... up to the list's length).
        n_boot, ci, seed: bootstrap samples over tasks, interval level and its seed.
        counts: ``[n_boot, task]`` bootstrap weights, so several lists share one bootstrap.

    Returns:
        A :class:`ListEvaluation` (``to_dict()`` gives one JSON record per k).

    Example: learn a list on 6 tasks, evaluate it on the other 2.

        >>> from hparam_lists import compute_scores, evaluate_list, learn_list
        >>> from hparam_lists.synthetic import synthetic_curves
        >>> curves = synthetic_curves(n_tasks=8, n_configs=50, seed=0)
        >>> hlist = learn_list(curves, tasks=curves.tasks[:6], length=5)
        >>> held_out = compute_scores(curves.select_tasks(curves.tasks[6:]), "valid_outer")
        >>> ev = evaluate_list(held_out, hlist.names, ks=[1, 5], n_boot=100)
        >>> ev.ks.tolist(), bool(ev.list_loss[0] < ev.random_loss[0])
        ([1, 5], True)
    """
    scores.require_complete()
    cols = _list_columns(scores, entries)
    ks = _resolve_ks(ks, len(cols))
    # Best so far of the list on every problem, then per task: [task, k_max].
    running = np.minimum.accumulate(scores.values[:, :, cols[: ks[-1]]], axis=2)
    return summarize(
        _per_task(running)[:, ks - 1],
        _per_task(expected_best_of_k(scores.values)),
        ks,
        tasks=scores.tasks,
        split=scores.split,
        n_boot=n_boot,
        ci=ci,
        seed=seed,
        counts=counts,
    )


def pool_evaluations(
    evaluations: Sequence[ListEvaluation], *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0
) -> ListEvaluation:
    """One evaluation over all (fold, held-out task) pairs of several folds' evaluations.

    Each held-out task is scored with the list learned without it; the folds must share ks and
    the random-search pool size.
    """
    if not evaluations:
        raise ValueError("no evaluations to pool")
    first = evaluations[0]
    for ev in evaluations[1:]:
        if not np.array_equal(ev.ks, first.ks) or ev.pool_size != first.pool_size:
            raise ValueError("pooled evaluations must share k values and the pool size")
        if ev.split != first.split:
            raise ValueError(f"pooled evaluations mix splits {first.split!r} and {ev.split!r}")
    return summarize(
        np.concatenate([ev.list_per_task for ev in evaluations]),
        np.concatenate([ev.random_per_task for ev in evaluations]),
        first.ks,
        tasks=[t for ev in evaluations for t in ev.tasks],
        split=first.split,
        n_boot=n_boot,
        ci=ci,
        seed=seed,
    )


@dataclass(frozen=True)
class Comparison:
    """Several lists on the same tasks and pool; ``difference[name]`` is list_loss(name) minus the
    first list's, with a paired bootstrap interval (negative = better than the first list)."""

    evaluations: dict[str, ListEvaluation]
    difference: dict[str, tuple[np.ndarray, np.ndarray]]
    dropped_tasks: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the tasks and pool, each list's records per k, and the paired differences."""
        first = next(iter(self.evaluations.values()))
        return {
            "tasks": list(first.tasks),
            "dropped_tasks": list(self.dropped_tasks),
            "pool_size": first.pool_size,
            "ci_level": first.ci_level,
            "speedup_definition": SPEEDUP_DEFINITION,
            "lists": {name: ev.to_dict()["per_k"] for name, ev in self.evaluations.items()},
            "difference_vs_first": {
                name: [
                    {"k": int(k), "diff": float(d), "ci": [float(x) for x in c]}
                    for k, d, c in zip(first.ks, diff, interval)
                ]
                for name, (diff, interval) in self.difference.items()
            },
        }


def present_prefix(entries: Sequence[str], present: set[str]) -> int:
    """How many leading entries of a list have curves (are in ``present``): the prefix of a
    published list (e.g. ``opt_list``) that can be evaluated on a store holding only its head."""
    for i, name in enumerate(entries):
        if name not in present:
            return i
    return len(entries)


def compare_lists(
    scores: Scores,
    lists: Mapping[str, Sequence[str]],
    *,
    ks: Sequence[int] | None = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Compare lists (name -> config names in order) on the tasks where all their configs exist.

    Only the first ``max(ks)`` entries of each list matter. ``ks`` defaults to 1..m, m the
    number of leading entries every list has curves for (a published list of 1000 entries whose
    first 10 were trained with the pool is compared on k = 1..10). Tasks missing any of them are
    dropped (and reported); the random-search pool is the configs present on every remaining task.
    """
    if not lists:
        raise ValueError("compare_lists needs at least one list")
    present = set(scores.config_names)
    prefix = {name: present_prefix(entries, present) for name, entries in lists.items()}
    for name, n in prefix.items():
        if n == 0:
            raise KeyError(
                f"{lists[name][0]}, the first entry of {name}, is not in these curves; train "
                f"the list's first entries with the pool: generate --include-list {name}:10"
            )
    usable = min(prefix.values())
    if ks is None:
        ks_arr = np.arange(1, usable + 1)
    else:
        ks_arr = _resolve_ks(ks, min(len(v) for v in lists.values()))
        if ks_arr[-1] > usable:
            short = min(prefix, key=prefix.__getitem__)
            k = int(ks_arr[-1])
            raise ValueError(
                f"k={k} needs the first {k} entries of every list, but only the first {usable} "
                f"of {short} have curves here; use k up to {usable}, or train more entries "
                f"with the pool: generate --include-list {short}:{k}"
            )
    needed = {name: list(entries[: ks_arr[-1]]) for name, entries in lists.items()}
    all_needed = sorted({c for entries in needed.values() for c in entries})
    cols = scores.config_index(all_needed)  # KeyError names configs absent from the curves
    keep = scores.available()[:, cols].all(axis=1)
    if not keep.any():
        raise ValueError("no task has curves for every config of the lists being compared")
    dropped = tuple(t for t, k in zip(scores.tasks, keep) if not k)
    sub = scores.select_tasks([t for t, k in zip(scores.tasks, keep) if k]).complete()
    counts = _bootstrap_counts(sub.n_tasks, n_boot, seed)
    evaluations = {
        name: evaluate_list(sub, entries, ks=ks_arr, n_boot=n_boot, ci=ci, seed=seed, counts=counts)
        for name, entries in needed.items()
    }
    names = list(evaluations)
    difference = {}
    base = _per_task(
        np.minimum.accumulate(sub.values[:, :, sub.config_index(needed[names[0]])], axis=2)
    )
    for name in names[1:]:
        other = _per_task(
            np.minimum.accumulate(sub.values[:, :, sub.config_index(needed[name])], axis=2)
        )
        per_task = (other - base)[:, ks_arr - 1]
        difference[name] = (per_task.mean(axis=0), _interval(counts @ per_task, ci))
    return Comparison(evaluations=evaluations, difference=difference, dropped_tasks=dropped)
