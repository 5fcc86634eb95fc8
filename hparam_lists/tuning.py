"""Tuner glue: TaskSet's search spaces as Optuna / Ray Tune parameters that sample as TaskSet does.

TaskSet draws some hyperparameters in a transformed way (reference TASKSET.md §3): betas as
``1 - logU[a, 1]``, weight decays, warmup and the final learning-rate multiplier as "0, or
log-uniform" behind a coin flip. A tuner sees the *tuner parameters* that make those draws
plain: ``one_minus_beta1`` log-uniform on ``[a, 1]``; a gate (``use_warmup``, ``decay_to_zero``,
``weight_decay_kind``) and a log-uniform value that only counts when its gate opens it.
Sampled uniformly at random (Optuna's ``RandomSampler``, Ray's basic variant generator), the
tuner parameters give TaskSet's distribution over configs exactly; a model-based sampler
(TPE, ...) then searches the same space. :func:`config_from_tuner` and
:func:`tuner_from_config` convert between the two forms.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "TunerParam",
    "TUNER_SPACES",
    "tuner_params",
    "config_from_tuner",
    "tuner_from_config",
    "suggest_hparams",
    "make_optimizer",
    "optuna_distributions",
    "ray_param_space",
]

# Values an ulp or two outside a range (exp(log(x)) round trips, 1 - (1 - b)) still count as in.
_RTOL = 1e-9


@dataclass(frozen=True)
class TunerParam:
    """One tuner parameter: ``kind`` is "log" (log-uniform), "uniform" or "choice".

    ``field`` is the config field it sets (None for a gate); ``transform`` is "identity" or
    "one_minus" (``field = 1 - value``). ``active_if`` names a gate and the gate values for which
    this parameter counts; otherwise the field is 0.
    """

    name: str
    kind: str
    low: float = 0.0
    high: float = 1.0
    choices: tuple[Any, ...] = ()
    field: str | None = None
    transform: str = "identity"
    active_if: tuple[str, tuple[Any, ...]] | None = None

    def describe(self) -> dict[str, Any]:
        """JSON-able description; bounds print as written (``1e-05``)."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "choice":
            out["choices"] = list(self.choices)
        else:
            out["low"], out["high"] = self.low, self.high
        if self.field is not None and (self.field != self.name or self.transform != "identity"):
            out["sets"] = self.field if self.transform == "identity" else f"{self.field} = 1 - x"
        if self.active_if is not None:
            out["active_if"] = {self.active_if[0]: list(self.active_if[1])}
        return out

    def check(self, value: Any, space: str) -> Any:
        """``value`` inside this parameter's range (clipped by at most ``_RTOL``), else ValueError."""
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(
                    f"{space}: {self.name}={value!r} is not one of {list(self.choices)}"
                )
            return value
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
            raise ValueError(f"{space}: {self.name}={value!r} is not a number")
        slack = _RTOL * max(abs(self.low), abs(self.high))
        if not self.low - slack <= value <= self.high + slack:
            raise ValueError(
                f"{space}: {self.name}={value!r} is outside [{self.low}, {self.high}], the "
                "range TaskSet samples"
            )
        return min(max(float(value), self.low), self.high)


def _log(field: str, low: float, high: float, active_if=None) -> TunerParam:
    return TunerParam(field, "log", low, high, field=field, active_if=active_if)


def _one_minus(field: str, low: float) -> TunerParam:
    return TunerParam(f"one_minus_{field}", "log", low, 1.0, field=field, transform="one_minus")


def _bool(name: str, field: str | None = None) -> TunerParam:
    return TunerParam(name, "choice", choices=(False, True), field=field)


_ADAM4P = (
    _log("learning_rate", 1e-8, 10.0),
    _one_minus("beta1", 1e-4),
    _one_minus("beta2", 1e-6),
    _log("epsilon", 1e-10, 1e3),
)
_DECAYS = (_log("linear_decay", 1e-7, 1e-4), _log("exponential_decay", 1e-6, 1e-3))
_WD_KINDS = ("adamw", "l2", "both")

#: Tuner parameters of each search space, in TaskSet's draw order.
TUNER_SPACES: dict[str, tuple[TunerParam, ...]] = {
    "adam1p_wide_grid": (_log("learning_rate", 1e-8, 10.0),),
    "adam4p_wide_grid": _ADAM4P,
    "adam6p_wide_grid": (*_ADAM4P, *_DECAYS),
    "adam8p_wide_grid": (*_ADAM4P, _log("l1", 1e-8, 10.0), _log("l2", 1e-8, 10.0), *_DECAYS),
    "adagrad_wide_grid": (
        _log("learning_rate", 1e-8, 10.0),
        _log("initial_accumulator_value", 1e-10, 1e3),
    ),
    "nadamw_grid": (
        _log("learning_rate", 1e-5, 1.0),
        _one_minus("beta1", 1e-3),
        _one_minus("beta2", 1e-5),
        _log("epsilon", 1e-8, 1e4),
        _bool("use_nesterov", field="use_nesterov"),
        # a third AdamW decay only, a third l2 only, a third both (TaskSet: U < 0.3333, < 0.6666)
        TunerParam("weight_decay_kind", "choice", choices=_WD_KINDS),
        _log("adamw_weight_decay", 1e-5, 0.1, ("weight_decay_kind", ("adamw", "both"))),
        _log("l2_weight_decay", 1e-5, 0.1, ("weight_decay_kind", ("l2", "both"))),
        _bool("use_warmup"),
        _log("warmup_fraction", 1e-5, 0.1, ("use_warmup", (True,))),
        _bool("decay_to_zero"),
        _log("min_learning_rate_mult", 1e-5, 1.0, ("decay_to_zero", (False,))),
        TunerParam("constant_fraction", "uniform", 0.0, 1.0, field="constant_fraction"),
    ),
}


def tuner_params(space: str) -> tuple[TunerParam, ...]:
    """The tuner parameters of ``space``; KeyError naming the known spaces."""
    if space not in TUNER_SPACES:
        raise KeyError(f"no tuner search space for {space!r}; known: {', '.join(TUNER_SPACES)}")
    return TUNER_SPACES[space]


def _active(p: TunerParam, values: Mapping[str, Any]) -> bool:
    return p.active_if is None or values[p.active_if[0]] in p.active_if[1]


def config_from_tuner(values: Mapping[str, Any], space: str) -> dict[str, Any]:
    """The ``space`` config that tuner parameter ``values`` stand for.

    Keys that are not tuner parameters of ``space`` are ignored (e.g. Ray Tune's fixed entries);
    a missing one is a ValueError naming it.
    """
    params = tuner_params(space)
    missing = []
    for p in params:  # gates come before the parameters they switch
        if p.active_if is not None and (p.active_if[0] not in values or not _active(p, values)):
            continue  # switched off, or its gate is missing (reported itself)
        if p.name not in values:
            missing.append(p.name)
    if missing:
        raise ValueError(
            f"{space}: tuner parameters {missing} are missing; expected {[p.name for p in params]}"
        )
    cfg: dict[str, Any] = {}
    for p in params:
        if p.field is None:
            continue
        if not _active(p, values):
            cfg[p.field] = 0.0
            continue
        value = p.check(values[p.name], space)
        cfg[p.field] = 1.0 - value if p.transform == "one_minus" else value
    return cfg


def tuner_from_config(cfg: Mapping[str, Any], space: str) -> dict[str, Any]:
    """The tuner parameters of a ``space`` config (inactive conditional ones left out).

    ValueError when a field is outside the range TaskSet samples, or a zero/non-zero pattern no
    gate can produce (nadamw_grid always has some weight decay).
    """
    params = tuner_params(space)
    fields = {p.field for p in params if p.field is not None}
    if set(cfg) != fields:
        raise ValueError(f"{space} configs have fields {sorted(fields)}, got {sorted(cfg)}")
    out: dict[str, Any] = {}
    if space == "nadamw_grid":
        adamw, l2 = cfg["adamw_weight_decay"] > 0, cfg["l2_weight_decay"] > 0
        if not (adamw or l2):
            raise ValueError(
                f"{space}: adamw_weight_decay and l2_weight_decay are both 0; TaskSet always "
                "samples one of them (or both)"
            )
        out_gates = {
            "weight_decay_kind": "both" if adamw and l2 else ("adamw" if adamw else "l2"),
            "use_warmup": cfg["warmup_fraction"] > 0,
            "decay_to_zero": cfg["min_learning_rate_mult"] == 0,
        }
    else:
        out_gates = {}
    for p in params:
        if p.field is None:
            out[p.name] = out_gates[p.name]
            continue
        if p.active_if is not None and out[p.active_if[0]] not in p.active_if[1]:
            continue
        value = cfg[p.field]
        if p.kind == "choice":
            out[p.name] = p.check(bool(value), space)
        else:
            out[p.name] = p.check(1.0 - value if p.transform == "one_minus" else value, space)
    return out


def suggest_hparams(trial: Any, space: str) -> dict[str, Any]:
    """Sample a ``space`` config in an Optuna trial, drawing as TaskSet's sampler does.

    Conditional parameters are suggested only when their gate opens them, so the trial's
    ``params`` are the tuner parameters and the return value is the config (for
    :func:`make_optimizer` or :func:`hparam_lists.optimizer_for_idx`-style use).
    """
    values: dict[str, Any] = {}
    for p in tuner_params(space):
        if not _active(p, values):
            continue
        if p.kind == "choice":
            values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        else:
            values[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.kind == "log")
    return config_from_tuner(values, space)


def make_optimizer(
    params: Any,
    hparams: Mapping[str, Any],
    space: str,
    training_steps: int,
    **optimizer_kwargs: Any,
) -> Any:
    """A ``torch.optim`` optimizer for one trial: ``hparams`` is a config of ``space`` or its
    tuner parameters (Optuna's ``trial.params``, a Ray Tune ``config``); the schedule over
    ``training_steps`` is built in (no scheduler to step). ``optimizer_kwargs`` go to the space's
    ``torch_optimizer`` (e.g. ``warmup_semantics="max"``)."""
    from hparam_lists.lists import _check_int
    from taskset_torch.optimizers import get_space

    steps = _check_int(training_steps, "training_steps", low=1)
    fields = {p.field for p in tuner_params(space) if p.field is not None}
    if fields <= set(hparams):
        cfg = {k: hparams[k] for k in fields}
        tuner_names = {p.name for p in tuner_params(space)} - fields
        if tuner_names & set(hparams):  # both forms at once: ambiguous
            raise ValueError(
                f"hparams mix config fields and tuner parameters {sorted(tuner_names & set(hparams))}"
            )
    else:
        cfg = config_from_tuner(hparams, space)
    space_obj = get_space(space)
    opt, _ = space_obj.torch_optimizer(params, space_obj.validate(cfg), steps, **optimizer_kwargs)
    return opt


def _import(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{module} is not installed: pip install 'taskset-torch[{extra}]'") from e


def optuna_distributions(space: str) -> dict[str, Any]:
    """``{name: optuna distribution}`` of every tuner parameter, for ``study.ask(...)``.

    A fixed search space cannot leave out inactive parameters; :func:`config_from_tuner` ignores
    them. Inside an objective, :func:`suggest_hparams` asks only for the active ones.
    """
    dist = _import("optuna.distributions", "optuna")
    out = {}
    for p in tuner_params(space):
        if p.kind == "choice":
            out[p.name] = dist.CategoricalDistribution(list(p.choices))
        else:
            out[p.name] = dist.FloatDistribution(p.low, p.high, log=p.kind == "log")
    return out


def ray_param_space(space: str, fixed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Ray Tune ``param_space`` of ``space``'s tuner parameters (``tune.loguniform`` /
    ``uniform`` / ``choice``) plus any ``fixed`` entries (e.g. ``{"training_steps": 1000}``).

    Every parameter is sampled; the ones a gate switches off are ignored by
    :func:`config_from_tuner` / :func:`make_optimizer`.
    """
    tune = _import("ray.tune", "ray")
    out: dict[str, Any] = {}
    for p in tuner_params(space):
        if p.kind == "choice":
            out[p.name] = tune.choice(list(p.choices))
        elif p.kind == "log":
            out[p.name] = tune.loguniform(p.low, p.high)
        else:
            out[p.name] = tune.uniform(p.low, p.high)
    if fixed:
        clash = sorted(set(fixed) & set(out))
        if clash:
            raise ValueError(f"fixed entries {clash} clash with searched hyperparameters")
        out.update(fixed)
    return out
