"""Learn on some tasks, evaluate on the others, over many task splits; summarize per k."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hparam_lists.evaluate import (
    Comparison,
    ListEvaluation,
    TaskSplit,
    compare_lists,
    evaluate_list,
    pool_evaluations,
)
from hparam_lists.greedy import ListObjective, get_objective
from hparam_lists.lists import HParamList, check_list_fits, learn_list_from_scores
from hparam_lists.normalize import Scores, check_report_split, compute_scores
from taskset_torch.curves import Curves

__all__ = [
    "FoldResult",
    "CrossValidation",
    "cross_validate",
    "evaluate_hparam_list",
    "compare_hparam_lists",
]


@dataclass(frozen=True)
class FoldResult:
    """One task split's list (learned on ``split.train``) and its evaluation on ``split.test``."""

    split: TaskSplit
    hlist: HParamList
    evaluation: ListEvaluation


@dataclass(frozen=True)
class CrossValidation:
    """One learned list and its held-out evaluation per task split."""

    folds: tuple[FoldResult, ...]
    learn_split: str
    report_split: str

    def summary(self) -> list[dict[str, Any]]:
        """Per k, the spread across folds: each fold's own speedup (on its held-out tasks), its
        median and mean, how many folds were capped, and mean/median losses.

        These per-fold statistics are not the headline speedup: :meth:`pooled` (what the
        ``evaluate`` table and its JSON ``per_k`` show) scores all held-out tasks together.
        """
        ks = self.folds[0].evaluation.ks
        out = []
        for i, k in enumerate(ks):
            speed = np.array([f.evaluation.speedup[i] for f in self.folds])
            out.append(
                {
                    "k": int(k),
                    "fold_median_speedup": float(np.median(speed)),
                    "fold_mean_speedup": float(speed.mean()),
                    "n_capped_folds": int(
                        sum(bool(f.evaluation.speedup_capped[i]) for f in self.folds)
                    ),
                    "median_list_loss": float(
                        np.median([f.evaluation.list_loss[i] for f in self.folds])
                    ),
                    "mean_list_loss": float(
                        np.mean([f.evaluation.list_loss[i] for f in self.folds])
                    ),
                    "mean_random_loss": float(
                        np.mean([f.evaluation.random_loss[i] for f in self.folds])
                    ),
                }
            )
        return out

    def pooled(self, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> ListEvaluation:
        """All held-out (fold, task) pairs as one evaluation, each task scored by the list
        learned without it (see :func:`pool_evaluations`)."""
        return pool_evaluations([f.evaluation for f in self.folds], n_boot=n_boot, ci=ci, seed=seed)

    def to_dict(self, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> dict[str, Any]:
        """JSON-able: the pooled evaluation, the per-k summary and each fold's tasks and list."""
        return {
            "learn_split": self.learn_split,
            "report_split": self.report_split,
            "n_folds": len(self.folds),
            "pooled": self.pooled(n_boot=n_boot, ci=ci, seed=seed).to_dict()["per_k"],
            "summary": self.summary(),
            "folds": [
                {
                    "name": f.split.name,
                    "train": list(f.split.train),
                    "test": list(f.split.test),
                    "list_head": list(f.hlist.names[:10]),
                    "evaluation": f.evaluation.to_dict(),
                }
                for f in self.folds
            ],
        }


def cross_validate(
    curves: Curves,
    splits: Sequence[TaskSplit],
    *,
    learn_split: str = "valid_inner",
    report_split: str = "valid_outer",
    objective: str | ListObjective = "mean_loss",
    score: str = "mean",
    replicas: str = "mean",
    ks: Sequence[int] = (1, 3, 10),
    length: int | None = None,
    norm_ref: str = "auto",
    n_boot: int = 200,
    ci: float = 0.95,
    seed: int = 0,
) -> CrossValidation:
    """Learn a list on each split's train tasks (``learn_split``) and evaluate it on its test
    tasks (``report_split``, which must differ). Normalization is per task, so scores are
    computed once. ``length`` defaults to ``max(ks)``; lists shorter than a k (a pool smaller
    than k) are an error.

    Example:
        >>> from hparam_lists import cross_validate, kfold_splits
        >>> from hparam_lists.synthetic import synthetic_curves
        >>> curves = synthetic_curves(n_tasks=8, n_configs=50, seed=0)
        >>> cv = cross_validate(curves, kfold_splits(curves.tasks, 4, seed=0), n_boot=50)
        >>> len(cv.folds), [int(k) for k in cv.pooled(n_boot=50).ks]
        (4, [1, 3, 10])
    """
    check_report_split(learn_split, report_split)
    if not splits:
        raise ValueError("cross_validate needs at least one task split")
    obj = get_objective(objective)
    learn_scores = compute_scores(
        curves, learn_split, score=score, replicas=replicas, norm_ref=norm_ref
    )
    report_scores = compute_scores(
        curves, report_split, score=score, replicas=replicas, norm_ref=norm_ref
    )
    length = int(max(ks)) if length is None else length
    folds = []
    for i, split in enumerate(splits):
        hlist = learn_list_from_scores(
            curves, learn_scores, tasks=split.train, objective=obj, length=length
        )
        held = report_scores.select_tasks(split.test).complete()
        evaluation = evaluate_list(
            held,
            [n for n in hlist.names if n is not None],
            ks=ks,
            n_boot=n_boot,
            ci=ci,
            seed=seed + i,
        )
        folds.append(FoldResult(split=split, hlist=hlist, evaluation=evaluation))
    return CrossValidation(folds=tuple(folds), learn_split=learn_split, report_split=report_split)


def evaluate_hparam_list(
    curves: Curves,
    hlist: HParamList,
    *,
    report_split: str = "valid_outer",
    score: str = "mean",
    replicas: str = "mean",
    ks: Sequence[int] | None = None,
    n_boot: int = 1000,
    norm_ref: str = "auto",
    ci: float = 0.95,
    seed: int = 0,
) -> tuple[ListEvaluation, tuple[str, ...]]:
    """Evaluate a stored list on the tasks of ``curves`` it was not learned on.

    Refuses ``report_split`` equal to the split in the list's provenance. ``ks`` defaults to
    1..m, m the number of leading entries with curves here. Returns the evaluation
    and the tasks left out because the list was learned on them. The list's entries need names
    found in the curves (``<space>_seed<N>``).
    """
    if "split" in hlist.provenance:
        check_report_split(hlist.provenance["split"], report_split)
    check_list_fits(hlist, curves)
    learned_on = set(hlist.provenance.get("tasks", []))
    held = [t for t in curves.tasks if t not in learned_on]
    if not held:
        raise ValueError("every task of the curves was used to learn the list")
    names = [n for n in hlist.names if n is not None]
    if len(names) != len(hlist):
        raise ValueError("the list has unnamed entries; evaluation matches entries by name")
    scores = compute_scores(
        curves.select_tasks(held), report_split, score=score, replicas=replicas, norm_ref=norm_ref
    ).complete()
    if ks is None:  # the leading entries that have curves (a published list: those trained)
        present = set(scores.config_names)
        n = next((i for i, name in enumerate(names) if name not in present), len(names))
        if n == 0:
            raise KeyError(
                f"{names[0]}, the list's first entry, is not in these curves; train the list's "
                "first entries with the pool (generate --include-list LIST:10)"
            )
        ks = range(1, n + 1)
        names = names[:n]
    elif len(ks) and 1 <= max(ks) <= len(names):
        names = names[: max(ks)]  # entries after the largest k need no curves
    evaluation = evaluate_list(scores, names, ks=ks, n_boot=n_boot, ci=ci, seed=seed)
    return evaluation, tuple(t for t in curves.tasks if t in learned_on)


def compare_hparam_lists(
    curves: Curves,
    lists: Mapping[str, HParamList],
    *,
    report_split: str = "valid_outer",
    score: str = "mean",
    replicas: str = "mean",
    norm_ref: str = "auto",
    ks: Sequence[int] | None = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> tuple[Comparison, Scores, tuple[str, ...]]:
    """Compare stored lists (name -> list) on the tasks of ``curves`` that none was learned on.

    Every list must fit the curves (same space and hyperparameters) and none may have been learned
    on ``report_split``. The held-out tasks are scored once and the lists compared on them with
    :func:`~hparam_lists.evaluate.compare_lists` (the first list is the reference of the paired
    differences). Returns the comparison, the scores it used (their ``norm_ref`` and
    ``step0_tasks`` say how losses were normalized) and the tasks left out because some list was
    learned on them (sorted). A ValueError when every task was used to learn some list.

    Example::

        comparison, scores, excluded = compare_hparam_lists(
            curves, {"mine": load_list("my_list.json"), "opt_list": load_list("opt_list")}
        )
        comparison.to_dict()["difference_vs_first"]["opt_list"]
    """
    for name, hlist in lists.items():
        check_list_fits(hlist, curves, what=f"list {name}")
    learned_on = {t for h in lists.values() for t in h.provenance.get("tasks", [])}
    held = [t for t in curves.tasks if t not in learned_on]
    if not held:
        raise ValueError(
            "every task of the curves was used to learn one of the lists; compare on held-out "
            "tasks (curves of tasks no list was learned on, chosen with --tasks)"
        )
    for hlist in lists.values():
        if "split" in hlist.provenance:
            check_report_split(hlist.provenance["split"], report_split)
    scores = compute_scores(
        curves.select_tasks(held), report_split, score=score, replicas=replicas, norm_ref=norm_ref
    )
    comparison = compare_lists(
        scores,
        {name: [n for n in h.names if n is not None] for name, h in lists.items()},
        ks=ks,
        n_boot=n_boot,
        ci=ci,
        seed=seed,
    )
    return comparison, scores, tuple(sorted(learned_on & set(curves.tasks)))
