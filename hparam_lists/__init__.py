"""Learned optimizer-hyperparameter lists: normalize curves, learn lists greedily, evaluate, use.

Names are imported from their modules on first use (PEP 562), so ``import hparam_lists`` and the
command line stay fast; optional libraries (optuna, ray, matplotlib, pandas) load only when a function needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "SPLITS": "taskset_torch.curves",
    "Curves": "taskset_torch.curves",
    "Scores": "normalize",
    "compute_scores": "normalize",
    "ListObjective": "greedy",
    "MeanLoss": "greedy",
    "MeanRank": "greedy",
    "RegretAboveBound": "greedy",
    "OBJECTIVES": "greedy",
    "greedy_list": "greedy",
    "bootstrap_stability": "greedy",
    "expected_best_of_k": "random_search",
    "task_family": "evaluate",
    "TaskSplit": "evaluate",
    "kfold_splits": "evaluate",
    "family_splits": "evaluate",
    "leave_n_out_splits": "evaluate",
    "explicit_split": "evaluate",
    "evaluate_list": "evaluate",
    "compare_lists": "evaluate",
    "CrossValidation": "crossval",
    "cross_validate": "crossval",
    "evaluate_hparam_list": "crossval",
    "HParamList": "lists",
    "load_list": "lists",
    "learn_list": "lists",
    "optimizer_for_idx": "lists",
    "suggest_hparams": "tuning",
    "make_optimizer": "tuning",
    "config_from_tuner": "tuning",
    "load_curves_dataframe": "taskset_torch.curves",
    "evaluate_transfer": "transfer",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hparam_lists' has no attribute {name!r}")
    module = _EXPORTS[name]
    module = module if "." in module else f"hparam_lists.{module}"
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
