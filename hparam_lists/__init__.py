"""Learned optimizer-hyperparameter lists: normalize curves, learn lists greedily, evaluate, use.

Heavy optional libraries (optuna, ray) are imported only by :mod:`hparam_lists.export`'s
functions that need them.
"""

from hparam_lists.crossval import CrossValidation, cross_validate
from hparam_lists.curves import SPLITS, CurveData
from hparam_lists.evaluate import (
    TaskSplit,
    compare_lists,
    evaluate_list,
    explicit_split,
    family_splits,
    kfold_splits,
    leave_n_out_splits,
    task_family,
)
from hparam_lists.greedy import (
    OBJECTIVES,
    ListObjective,
    MeanLoss,
    MeanRank,
    RegretAboveBound,
    bootstrap_stability,
    greedy_list,
)
from hparam_lists.lists import HParamList, learn_list, load_list, optimizer_for_idx
from hparam_lists.normalize import Scores, compute_scores
from hparam_lists.random_search import expected_best_of_k

__all__ = [
    "SPLITS",
    "CurveData",
    "Scores",
    "compute_scores",
    "ListObjective",
    "MeanLoss",
    "MeanRank",
    "RegretAboveBound",
    "OBJECTIVES",
    "greedy_list",
    "bootstrap_stability",
    "expected_best_of_k",
    "task_family",
    "TaskSplit",
    "kfold_splits",
    "family_splits",
    "leave_n_out_splits",
    "explicit_split",
    "evaluate_list",
    "compare_lists",
    "CrossValidation",
    "cross_validate",
    "HParamList",
    "load_list",
    "learn_list",
    "optimizer_for_idx",
]
