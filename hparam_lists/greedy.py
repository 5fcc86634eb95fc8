"""Greedy hyperparameter-list learning with pluggable objectives, and bootstrap list stability.

Every objective here has the form ``value(list) = weighted mean over problems p of
min over entries h of M[p, h]``, where ``M = objective.transform(scores)``; greedy step k adds the
unused config that minimizes that value (TaskSet's rule when ``M`` is the normalized loss). Ties,
up to a 1e-12 relative tolerance that absorbs summation-order noise, go to the lowest config index.
Once no candidate improves the value any more, the rest of the list is the unused configs in
index order (exactly what the tie rule would pick, without the quadratic cost).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hparam_lists.normalize import Scores

__all__ = [
    "ListObjective",
    "MeanLoss",
    "MeanRank",
    "RegretAboveBound",
    "OBJECTIVES",
    "get_objective",
    "GreedyResult",
    "greedy_list",
    "list_values",
    "ListStability",
    "bootstrap_stability",
]

_TIE_RTOL = 1e-12


class ListObjective(ABC):
    """A list objective: a per-problem transform of the scores whose mean-of-min is minimized."""

    name: str = ""

    @abstractmethod
    def transform(self, scores: np.ndarray) -> np.ndarray:
        """``[problem, config]`` scores (lower better, finite) -> ``M`` of the same shape."""

    def describe(self) -> dict[str, Any]:
        """JSON-able identity of the objective (recorded in a list's provenance)."""
        return {"name": self.name}


class MeanLoss(ListObjective):
    """TaskSet: mean over problems of the best normalized loss among the list's entries."""

    name = "mean_loss"

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """The scores themselves (as float64)."""
        return np.asarray(scores, dtype=np.float64)


class MeanRank(ListObjective):
    """Mean over problems of the best per-problem rank (1 = best; ties share their mean rank).

    Wistuba et al. 2015's sequential model-free search and Syne Tune's ZeroShot use this: ranks
    make tasks with very different loss scales count equally.
    """

    name = "mean_rank"

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """Each problem's configs ranked 1..n (ties: their mean rank)."""
        from scipy.stats import rankdata  # ~0.3 s to import; only this objective needs it

        return rankdata(np.asarray(scores, dtype=np.float64), axis=1, method="average")


class RegretAboveBound(ListObjective):
    """FLAML-style: mean over problems of ``max(best_in_list - best_overall - bound, 0)``.

    Once a problem is within ``bound`` of its best config it stops pulling the list, so entries
    go to problems that are still badly served.
    """

    name = "regret"

    def __init__(self, bound: float = 0.0) -> None:
        bound = float(bound)
        if not np.isfinite(bound) or bound < 0:
            raise ValueError(f"regret bound must be a finite number >= 0, got {bound}")
        self.bound = bound

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """Regret over each problem's best config, less ``bound``, floored at 0."""
        s = np.asarray(scores, dtype=np.float64)
        return np.maximum(s - s.min(axis=1, keepdims=True) - self.bound, 0.0)

    def describe(self) -> dict[str, Any]:
        """The name and the bound."""
        return {"name": self.name, "bound": self.bound}


OBJECTIVES: dict[str, Callable[..., ListObjective]] = {
    "mean_loss": MeanLoss,
    "mean_rank": MeanRank,
    "regret": RegretAboveBound,
}


def get_objective(objective: str | ListObjective, **params: Any) -> ListObjective:
    """An objective by name (``mean_loss``, ``mean_rank``, ``regret``) or passed through."""
    if isinstance(objective, ListObjective):
        if params:
            raise ValueError("objective parameters given together with an objective instance")
        return objective
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown list objective {objective!r}; valid: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[objective](**params)


def _as_matrix(
    scores: Scores | np.ndarray, weights: Sequence[float] | np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(scores, Scores):
        scores.require_complete()
        matrix = scores.matrix()
    else:
        matrix = np.asarray(scores, dtype=np.float64)
        if matrix.ndim != 2:
            raise ValueError(f"scores must be a [problem, config] matrix, got shape {matrix.shape}")
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(f"need at least one problem and one config, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("scores contain NaN/inf; normalize them first (hparam_lists.normalize)")
    if weights is None:
        w = np.full(matrix.shape[0], 1.0 / matrix.shape[0])
    else:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if (
            w.shape != (matrix.shape[0],)
            or np.any(w < 0)
            or not np.isfinite(w).all()
            or w.sum() <= 0
        ):
            raise ValueError(
                f"weights must be {matrix.shape[0]} finite non-negative numbers with a positive sum"
            )
        w = w / w.sum()
    return matrix, w


@dataclass(frozen=True)
class GreedyResult:
    """A learned list: config column ``indices`` in order, and the objective after each entry."""

    indices: np.ndarray
    values: np.ndarray
    objective: dict[str, Any]


def greedy_list(
    scores: Scores | np.ndarray,
    *,
    objective: str | ListObjective = "mean_loss",
    length: int | None = None,
    weights: Sequence[float] | np.ndarray | None = None,
) -> GreedyResult:
    """Learn a list greedily from ``[problem, config]`` scores (or a :class:`Scores`).

    Each step adds the config that most lowers the objective's mean over problems of the best
    score so far (TaskSet's algorithm for ``mean_loss``).

    Args:
        scores: normalized scores, lower is better, no missing values.
        objective: ``"mean_loss"``, ``"mean_rank"``, ``"regret"`` or a :class:`ListObjective`.
        length: entries to pick; defaults to all configs (a full ranking, like the published
            list).
        weights: one non-negative weight per problem (default: equal).

    Returns:
        A :class:`GreedyResult`: config column indices in list order and the objective after
        each entry (non-increasing).

    Example:
        >>> import numpy as np
        >>> scores = np.array([[0.2, 0.9, 0.4], [0.8, 0.1, 0.4]])  # 2 problems x 3 configs
        >>> result = greedy_list(scores, length=2)  # the all-rounder, then what it misses
        >>> result.indices.tolist(), result.values.round(2).tolist()
        ([2, 1], [0.4, 0.25])
    """
    obj = get_objective(objective)
    matrix, w = _as_matrix(scores, weights)
    n_configs = matrix.shape[1]
    length = n_configs if length is None else int(length)
    if not 1 <= length <= n_configs:
        raise ValueError(
            f"list length must be in 1..{n_configs} (the number of configs), got {length}"
        )
    # Weights are folded into M (w >= 0, so min(w*a, w*b) = w*min(a, b)): each step is then one
    # element-wise minimum and a column sum, much faster than a BLAS matrix-vector product here.
    mw = np.ascontiguousarray(obj.transform(matrix), dtype=np.float64) * w[:, None]
    used = np.zeros(n_configs, dtype=bool)
    indices: list[int] = []
    values: list[float] = []
    best = np.full(mw.shape[0], np.inf)  # w * best-so-far per problem
    current = np.inf
    buf = np.empty_like(mw)
    while len(indices) < length:
        if indices:
            np.minimum(mw, best[:, None], out=buf)
            candidate = buf.sum(axis=0)
        else:
            candidate = mw.sum(axis=0)
        candidate[used] = np.inf
        low = candidate.min()
        tol = _TIE_RTOL * max(1.0, abs(low))
        if indices and low >= current - tol:
            # Saturated: nothing improves any more, every candidate ties.
            rest = np.flatnonzero(~used)[: length - len(indices)]
            indices.extend(int(i) for i in rest)
            values.extend([current] * len(rest))
            break
        pick = int(np.flatnonzero(candidate <= low + tol)[0])
        used[pick] = True
        indices.append(pick)
        np.minimum(best, mw[:, pick], out=best)
        current = float(best.sum())
        values.append(current)
    return GreedyResult(
        indices=np.asarray(indices, dtype=np.int64),
        values=np.asarray(values),
        objective=obj.describe(),
    )


def list_values(
    scores: Scores | np.ndarray,
    indices: Sequence[int] | np.ndarray,
    *,
    objective: str | ListObjective = "mean_loss",
    weights: Sequence[float] | np.ndarray | None = None,
) -> np.ndarray:
    """The objective of the list's first k entries, for k = 1..len(indices)."""
    obj = get_objective(objective)
    matrix, w = _as_matrix(scores, weights)
    idx = np.asarray(indices, dtype=np.int64)
    if idx.ndim != 1 or len(idx) == 0 or idx.min() < 0 or idx.max() >= matrix.shape[1]:
        raise ValueError(f"list indices must be a non-empty 1-d array in 0..{matrix.shape[1] - 1}")
    best = np.minimum.accumulate(obj.transform(matrix)[:, idx], axis=1)
    return w @ best


@dataclass(frozen=True)
class ListStability:
    """How stable a learned list is under resampling the training tasks (bootstrap).

    ``lists[b]`` is the list learned on bootstrap sample b; ``position_agreement[j]`` the fraction
    of samples whose entry j equals the full-data list's; ``prefix_overlap[k-1]`` the mean
    fraction of the full list's first k configs also among a sample's first k.
    """

    reference: np.ndarray
    lists: np.ndarray
    position_agreement: np.ndarray
    prefix_overlap: np.ndarray
    objective: dict[str, Any]


def bootstrap_stability(
    scores: Scores | np.ndarray,
    *,
    objective: str | ListObjective = "mean_loss",
    length: int = 10,
    n_boot: int = 100,
    seed: int,
) -> ListStability:
    """Relearn the list on ``n_boot`` bootstrap resamples of the tasks (seeded)."""
    if isinstance(scores, Scores):
        scores.require_complete()
        per_task = scores.values  # [task, seed', config]: resample whole tasks
    else:
        per_task = np.asarray(scores, dtype=np.float64)[:, None, :]
    n_tasks = per_task.shape[0]
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    obj = get_objective(objective)
    flat = per_task.reshape(-1, per_task.shape[2])
    reference = greedy_list(flat, objective=obj, length=length).indices
    rng = np.random.RandomState(seed)
    lists = np.empty((n_boot, len(reference)), dtype=np.int64)
    for b in range(n_boot):
        sample = per_task[rng.randint(0, n_tasks, size=n_tasks)]
        lists[b] = greedy_list(
            sample.reshape(-1, per_task.shape[2]), objective=obj, length=length
        ).indices
    agreement = (lists == reference[None, :]).mean(axis=0)
    overlap = np.empty(len(reference))
    for k in range(1, len(reference) + 1):
        ref = set(reference[:k].tolist())
        overlap[k - 1] = np.mean([len(ref.intersection(row[:k].tolist())) / k for row in lists])
    return ListStability(
        reference=reference,
        lists=lists,
        position_agreement=agreement,
        prefix_overlap=overlap,
        objective=obj.describe(),
    )
