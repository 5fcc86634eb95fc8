"""A list's first entries as warm-start trials for Optuna and Ray Tune.

Trials are expressed in the tuner parameters of :mod:`hparam_lists.tuning` (``one_minus_beta1``,
``use_warmup``, ...), so that an enqueued entry and :func:`~hparam_lists.tuning.suggest_hparams`
(or :func:`~hparam_lists.tuning.ray_param_space`) name the same parameters and the tuner's
sampler continues in TaskSet's own distribution after the list's entries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hparam_lists.lists import HParamList
from hparam_lists.tuning import (
    TunerParam,
    optuna_distributions,
    ray_param_space,
    tuner_from_config,
    tuner_params,
)

if TYPE_CHECKING:
    from taskset_torch.optimizers import SearchSpace

__all__ = [
    "search_space",
    "warm_start_params",
    "warm_start_tuner_params",
    "optuna_distributions",
    "enqueue_in_study",
    "ray_points_to_evaluate",
    "ray_param_space",
    "export_document",
]


def search_space(space: str | SearchSpace) -> dict[str, TunerParam]:
    """The tuner parameters of a search space (name or object) by parameter name, derived from
    its fields' sampling ranges; KeyError naming the known spaces."""
    return {p.name: p for p in tuner_params(space)}


def _check_n(hlist: HParamList, n: int) -> None:
    if isinstance(n, bool) or not hasattr(n, "__index__") or not 1 <= n <= len(hlist):
        raise ValueError(f"n must be in 1..{len(hlist)} (the list length), got {n!r}")


def warm_start_tuner_params(hlist: HParamList, n: int) -> list[dict[str, Any]]:
    """The first ``n`` entries as tuner parameters (ValueError for one outside the space).

    Example::

        warm_start_tuner_params(load_list("opt_list"), 2)[0]["one_minus_beta1"]
    """
    _check_n(hlist, n)
    out = []
    for i in range(n):
        try:
            out.append(tuner_from_config(hlist[i], hlist.space))
        except ValueError as e:
            raise ValueError(f"entry {i}: {e}") from None
    return out


def warm_start_params(hlist: HParamList, n: int) -> list[dict[str, Any]]:
    """The first ``n`` entries as plain config dicts, checked against the space's ranges."""
    warm_start_tuner_params(hlist, n)
    return [hlist[i] for i in range(n)]


def enqueue_in_study(study: Any, hlist: HParamList, n: int) -> list[dict[str, Any]]:
    """``study.enqueue_trial`` the list's first ``n`` entries (tried first, in order), as the
    tuner parameters :func:`~hparam_lists.tuning.suggest_hparams` asks for; returns them."""
    params = warm_start_tuner_params(hlist, n)
    for p in params:
        study.enqueue_trial(p)
    return params


def ray_points_to_evaluate(hlist: HParamList, n: int) -> list[dict[str, Any]]:
    """Ray Tune ``points_to_evaluate``: the list's first ``n`` entries as tuner parameters
    matching :func:`~hparam_lists.tuning.ray_param_space` (parameters a gate switches off are
    left for Ray to fill; they are ignored)."""
    return warm_start_tuner_params(hlist, n)


def export_document(hlist: HParamList, n: int, fmt: str) -> dict[str, Any]:
    """The JSON document ``taskset-torch export`` writes: warm-start trials (tuner parameters),
    the same entries as configs, and the tuner search space with bounds as written.

    Args:
        hlist: the list whose first entries become trials.
        n: how many entries (1..len(hlist)).
        fmt: ``"optuna"`` (``enqueue_trials``) or ``"ray"`` (``points_to_evaluate``).
    """
    if fmt not in ("optuna", "ray"):
        raise ValueError(f"format must be 'optuna' or 'ray', got {fmt!r}")
    trials = warm_start_tuner_params(hlist, n)
    key = "enqueue_trials" if fmt == "optuna" else "points_to_evaluate"
    return {
        "format": fmt,
        "space": hlist.space,
        key: trials,
        "configs": [hlist[i] for i in range(n)],
        "search_space": {p.name: p.describe() for p in tuner_params(hlist.space)},
        "note": "trials name the tuner parameters of hparam_lists.tuning; "
        "config_from_tuner(trial, space) gives the config",
    }
