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

Nothing here restates a range: the tuner parameters are derived from the priors on the search
space's hyperparameter definitions (``taskset_torch.optimizers.hparams``), and every function
takes a space's name or a :class:`~taskset_torch.optimizers.SearchSpace` object.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the optimizers (and torch) load on first use, not on import
    from taskset_torch.optimizers import SearchSpace

__all__ = [
    "TunerParam",
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


def _derive(space: SearchSpace) -> tuple[TunerParam, ...]:
    """The tuner parameters of ``space``, read off its fields' priors (one range, one place).

    A gated field ("0 or logU") becomes its gate (a choice, placed before the first field it
    switches) plus the field, active for the gate values that open it; ``1 - logU`` becomes
    ``one_minus_<field>``.
    """
    out: list[TunerParam] = []
    gates: set[str] = set()
    for h in space.hparam_specs:
        prior, active_if = h.prior, None
        if prior is None:
            raise ValueError(f"{space.name}: {h.name} has no sampling range (HParam.prior)")
        gate = getattr(prior, "gate", None)
        if gate is not None:
            if gate.name not in gates:
                gates.add(gate.name)
                out.append(TunerParam(gate.name, "choice", choices=tuple(gate.choices)))
            active_if = (gate.name, tuple(prior.when))
            prior = prior.inner
        if prior.kind == "choice":
            out.append(TunerParam(h.name, "choice", choices=tuple(prior.choices), field=h.name))
            continue
        name = f"one_minus_{h.name}" if prior.transform == "one_minus" else h.name
        out.append(
            TunerParam(
                name,
                prior.kind,
                prior.low,
                prior.high,
                field=h.name,
                transform=prior.transform,
                active_if=active_if,
            )
        )
    return tuple(out)


def _space(space: str | SearchSpace) -> SearchSpace:
    from taskset_torch.optimizers import SPACES, SearchSpace, get_space

    if isinstance(space, SearchSpace):
        return space
    try:
        return get_space(space)
    except KeyError:
        raise KeyError(f"no tuner search space for {space!r}; known: {', '.join(SPACES)}") from None


def tuner_params(space: str | SearchSpace) -> tuple[TunerParam, ...]:
    """The tuner parameters of ``space`` (a name or a :class:`SearchSpace`), in TaskSet's draw
    order; KeyError naming the known spaces."""
    return _derive(_space(space))


def __getattr__(name: str) -> Any:
    if name == "TUNER_SPACES":  # derived from the spaces' priors, built on first use
        from taskset_torch.optimizers import SPACES

        return MappingProxyType({n: _derive(sp) for n, sp in SPACES.items()})
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _active(p: TunerParam, values: Mapping[str, Any]) -> bool:
    return p.active_if is None or values[p.active_if[0]] in p.active_if[1]


def config_from_tuner(values: Mapping[str, Any], space: str | SearchSpace) -> dict[str, Any]:
    """The ``space`` config that tuner parameter ``values`` stand for.

    Keys that are not tuner parameters of ``space`` are ignored (e.g. Ray Tune's fixed entries);
    a missing one is a ValueError naming it.
    """
    sp = _space(space)
    params = tuner_params(sp)
    missing = []
    for p in params:  # gates come before the parameters they switch
        if p.active_if is not None and (p.active_if[0] not in values or not _active(p, values)):
            continue  # switched off, or its gate is missing (reported itself)
        if p.name not in values:
            missing.append(p.name)
    if missing:
        raise ValueError(
            f"{sp.name}: tuner parameters {missing} are missing; expected "
            f"{[p.name for p in params]}"
        )
    cfg: dict[str, Any] = {}
    for p in params:
        if p.field is None:
            continue
        if not _active(p, values):
            cfg[p.field] = 0.0
            continue
        value = p.check(values[p.name], sp.name)
        cfg[p.field] = 1.0 - value if p.transform == "one_minus" else value
    return cfg


def _zero_pattern(zero: list[str], nonzero: list[str]) -> str:
    if not nonzero:
        return f"{' and '.join(zero)} are {'both' if len(zero) == 2 else 'all'} 0"
    return f"{', '.join(zero) or 'none'} 0 with {', '.join(nonzero)} non-zero"


def _gate_values(space: str, params: tuple[TunerParam, ...], cfg: Mapping[str, Any]) -> dict:
    """Each gate's value, read off which of the fields it switches are non-zero."""
    out = {}
    for gate in (p for p in params if p.field is None):
        gated = [p for p in params if p.active_if is not None and p.active_if[0] == gate.name]
        nonzero = [p.field for p in gated if cfg[p.field] != 0]
        fits = [
            c for c in gate.choices if [p.field for p in gated if c in p.active_if[1]] == nonzero
        ]
        if not fits:
            zero = [p.field for p in gated if p.field not in nonzero]
            raise ValueError(
                f"{space}: {_zero_pattern(zero, nonzero)}; TaskSet never samples that "
                f"({gate.name} is one of {list(gate.choices)})"
            )
        out[gate.name] = fits[0]
    return out


def tuner_from_config(cfg: Mapping[str, Any], space: str | SearchSpace) -> dict[str, Any]:
    """The tuner parameters of a ``space`` config (inactive conditional ones left out).

    ValueError when a field is outside the range TaskSet samples, or a zero/non-zero pattern no
    gate can produce (nadamw_grid always has some weight decay).
    """
    sp = _space(space)
    params = tuner_params(sp)
    fields = {p.field for p in params if p.field is not None}
    if set(cfg) != fields:
        raise ValueError(f"{sp.name} configs have fields {sorted(fields)}, got {sorted(cfg)}")
    out: dict[str, Any] = _gate_values(sp.name, params, cfg)
    for p in params:
        if p.field is None:
            continue
        if p.active_if is not None and out[p.active_if[0]] not in p.active_if[1]:
            continue
        value = cfg[p.field]
        if p.kind == "choice":
            out[p.name] = p.check(bool(value), sp.name)
        else:
            out[p.name] = p.check(1.0 - value if p.transform == "one_minus" else value, sp.name)
    return {p.name: out[p.name] for p in params if p.name in out}


def suggest_hparams(trial: Any, space: str | SearchSpace) -> dict[str, Any]:
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
    space: str | SearchSpace,
    training_steps: int,
    **optimizer_kwargs: Any,
) -> Any:
    """A ``torch.optim`` optimizer for one trial: ``hparams`` is a config of ``space`` or its
    tuner parameters (Optuna's ``trial.params``, a Ray Tune ``config``); the schedule over
    ``training_steps`` is built in (no scheduler to step). ``optimizer_kwargs`` go to the space's
    ``torch_optimizer`` (e.g. ``warmup_semantics="max"``)."""
    from hparam_lists.lists import _check_int

    sp = _space(space)
    steps = _check_int(training_steps, "training_steps", low=1)
    params_of_space = tuner_params(sp)
    fields = {p.field for p in params_of_space if p.field is not None}
    if fields <= set(hparams):
        cfg = {k: hparams[k] for k in fields}
        tuner_names = {p.name for p in params_of_space} - fields
        if tuner_names & set(hparams):  # both forms at once: ambiguous
            raise ValueError(
                f"hparams mix config fields and tuner parameters {sorted(tuner_names & set(hparams))}"
            )
    else:
        cfg = config_from_tuner(hparams, sp)
    opt, _ = sp.torch_optimizer(params, cfg, steps, **optimizer_kwargs)
    return opt


def _import(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{module} is not installed: pip install 'taskset-torch[{extra}]'") from e


def optuna_distributions(space: str | SearchSpace) -> dict[str, Any]:
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


def ray_param_space(
    space: str | SearchSpace, fixed: Mapping[str, Any] | None = None
) -> dict[str, Any]:
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
