"""A list's first entries as warm-start trials for Optuna and Ray Tune, with matching search spaces.

The search spaces are TaskSet's sampling ranges (reference TASKSET.md §3). ``1 - logU[a, 1]``
fields (betas) are uniform on ``[0, 1 - a]`` here, and "0 or logU[a, b]" fields (weight decays,
warmup, min lr multiplier) uniform on ``[0, b]``: a tuner's distribution must contain every value the
grid can hold, including exact zeros, which rules out log scales for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hparam_lists.lists import HParamList

__all__ = [
    "Param",
    "SEARCH_SPACES",
    "search_space",
    "warm_start_params",
    "optuna_distributions",
    "enqueue_in_study",
    "ray_points_to_evaluate",
    "ray_param_space",
]


@dataclass(frozen=True)
class Param:
    """One hyperparameter's range: ``kind`` is "log", "float" or "bool"."""

    kind: str
    low: float = 0.0
    high: float = 1.0

    def contains(self, value: Any) -> bool:
        if self.kind == "bool":
            return isinstance(value, bool)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return self.low <= value <= self.high


def _log(low: float, high: float) -> Param:
    # exp(log(x)) can land an ulp outside [low, high]; the slack keeps every sampled config inside.
    return Param("log", low * (1 - 1e-12), high * (1 + 1e-12))


_ADAM4P = {
    "learning_rate": _log(1e-8, 1e1),
    "beta1": Param("float", 0.0, 1.0 - 1e-4),
    "beta2": Param("float", 0.0, 1.0 - 1e-6),
    "epsilon": _log(1e-10, 1e3),
}
_DECAYS = {"linear_decay": _log(1e-7, 1e-4), "exponential_decay": _log(1e-6, 1e-3)}

SEARCH_SPACES: dict[str, dict[str, Param]] = {
    "adam1p_wide_grid": {"learning_rate": _log(1e-8, 1e1)},
    "adam4p_wide_grid": dict(_ADAM4P),
    "adam6p_wide_grid": {**_ADAM4P, **_DECAYS},
    "adam8p_wide_grid": {**_ADAM4P, "l1": _log(1e-8, 1e1), "l2": _log(1e-8, 1e1), **_DECAYS},
    "adagrad_wide_grid": {
        "learning_rate": _log(1e-8, 1e1),
        "initial_accumulator_value": _log(1e-10, 1e3),
    },
    "nadamw_grid": {
        "learning_rate": _log(1e-5, 1.0),
        "beta1": Param("float", 0.0, 1.0 - 1e-3),
        "beta2": Param("float", 0.0, 1.0 - 1e-5),
        "epsilon": _log(1e-8, 1e4),
        "use_nesterov": Param("bool"),
        "adamw_weight_decay": Param("float", 0.0, 1e-1),
        "l2_weight_decay": Param("float", 0.0, 1e-1),
        "warmup_fraction": Param("float", 0.0, 1e-1),
        "min_learning_rate_mult": Param("float", 0.0, 1.0),
        "constant_fraction": Param("float", 0.0, 1.0),
    },
}


def search_space(space: str) -> dict[str, Param]:
    """The ranges of a search space by name; KeyError naming the known spaces."""
    if space not in SEARCH_SPACES:
        raise KeyError(f"no tuner search space for {space!r}; known: {', '.join(SEARCH_SPACES)}")
    return dict(SEARCH_SPACES[space])


def warm_start_params(hlist: HParamList, n: int) -> list[dict[str, Any]]:
    """The first ``n`` entries as plain param dicts, checked against the space's ranges."""
    if not 1 <= n <= len(hlist):
        raise ValueError(f"n must be in 1..{len(hlist)} (the list length), got {n}")
    params = search_space(hlist.space)
    out = []
    for i in range(n):
        cfg = hlist[i]
        if set(cfg) != set(params):
            raise ValueError(
                f"entry {i} has fields {sorted(cfg)}, the {hlist.space} space has {sorted(params)}"
            )
        for name, value in cfg.items():
            if not params[name].contains(value):
                p = params[name]
                raise ValueError(
                    f"entry {i}: {name}={value!r} is outside the {hlist.space} range "
                    f"[{p.low}, {p.high}]"
                )
        out.append(cfg)
    return out


def _import(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{module} is not installed: pip install taskset-torch[{extra}]") from e


def optuna_distributions(space: str) -> dict[str, Any]:
    """``{name: optuna.distributions.*}`` for ``study.ask(...)`` / ``create_trial`` of ``space``."""
    dist = _import("optuna.distributions", "optuna")
    out = {}
    for name, p in search_space(space).items():
        if p.kind == "bool":
            out[name] = dist.CategoricalDistribution([False, True])
        else:
            out[name] = dist.FloatDistribution(p.low, p.high, log=p.kind == "log")
    return out


def enqueue_in_study(study: Any, hlist: HParamList, n: int) -> list[dict[str, Any]]:
    """``study.enqueue_trial`` the list's first ``n`` entries (tried first, in order)."""
    params = warm_start_params(hlist, n)
    for p in params:
        study.enqueue_trial(p)
    return params


def ray_points_to_evaluate(hlist: HParamList, n: int) -> list[dict[str, Any]]:
    """Ray Tune ``points_to_evaluate``: the list's first ``n`` entries as dicts."""
    return warm_start_params(hlist, n)


def ray_param_space(space: str, fixed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Ray Tune ``param_space`` of ``space`` (``tune.loguniform`` / ``uniform`` / ``choice``),
    plus any ``fixed`` entries (e.g. ``{"training_steps": 1000}``)."""
    tune = _import("ray.tune", "ray")
    out: dict[str, Any] = {}
    for name, p in search_space(space).items():
        if p.kind == "bool":
            out[name] = tune.choice([False, True])
        elif p.kind == "log":
            out[name] = tune.loguniform(p.low, p.high)
        else:
            out[name] = tune.uniform(p.low, p.high)
    if fixed:
        clash = sorted(set(fixed) & set(out))
        if clash:
            raise ValueError(f"fixed entries {clash} clash with searched hyperparameters")
        out.update(fixed)
    return out
