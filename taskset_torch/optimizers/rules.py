"""An update rule written once, run two ways: on ``[K, P]`` buffers and as a ``torch.optim``.

An :class:`UpdateRule` is element-wise code (see :mod:`taskset_torch.optimizers.kernels`) whose
hyperparameters are either plain floats (one config, like torch's ``_single_tensor_*``
functions) or ``[K, 1]`` float32 tensors that broadcast against a ``[K, P]`` buffer (K configs
at once). :class:`VectorizedRule` feeds it tensors, :class:`RuleOptimizer` floats from a param
group; both compute derived values (``1 - beta``) from the float64 config, so the two paths run
the same ops on the same numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import Any, ClassVar

import torch

from taskset_torch.optimizers.base import (
    HParam,
    VectorizedOptimizer,
    check_config,
    check_training_steps,
)

__all__ = ["UpdateRule", "VectorizedRule", "RuleOptimizer", "Hyper", "Scalar"]

Scalar = float | torch.Tensor
#: A rule's hyperparameters by name: floats (one config) or ``[K, 1]`` tensors (K configs).
Hyper = Mapping[str, Any]


def _no_derived(cfg: Mapping[str, Any]) -> dict[str, float]:
    return {}


def _constant_rate(h: Hyper, step: int, schedule_steps: int, options: Mapping[str, Any]) -> Any:
    return h["learning_rate"]


@dataclasses.dataclass(frozen=True)
class UpdateRule:
    """One update rule: its hyperparameters, state, schedule and element-wise step.

    Args:
        name: shown in errors.
        hparams: the config fields the rule reads (domains checked by :func:`check_config`).
        init_state: ``(param, h) -> state`` (``{"m": zeros, ...}``).
        update: ``(param, grad, state, h, lr, step) -> None``, in place; ``lr`` is the scheduled
            learning rate, ``step`` the number of previous updates.
        derived: ``cfg -> {name: float}`` computed in float64 per config (e.g. ``1 - beta1``).
        learning_rate: ``(h, step, schedule_steps, options) -> lr`` (default: constant).
        schedule_off: field values that make ``learning_rate`` constant (for
            :meth:`SearchSpace.without_schedule`).
        skip_if_zero: ``h`` entries whose term the update drops when they are the float 0; the
            vectorized rule passes 0.0 instead of a column when every config has 0.
        options: keyword options and their valid values, the first being the default.
    """

    name: str
    hparams: tuple[HParam, ...]
    init_state: Callable[[torch.Tensor, Hyper], dict[str, torch.Tensor]]
    update: Callable[[torch.Tensor, torch.Tensor, MutableMapping[str, Any], Hyper, Any, int], None]
    derived: Callable[[Mapping[str, Any]], dict[str, float]] = _no_derived
    learning_rate: Callable[[Hyper, int, int, Mapping[str, Any]], Any] = _constant_rate
    schedule_off: Mapping[str, float] = dataclasses.field(default_factory=dict)
    skip_if_zero: tuple[str, ...] = ()
    options: Mapping[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)

    @property
    def scheduled(self) -> bool:
        """Whether the learning rate changes with the step (the rule takes ``training_steps``)."""
        return bool(self.schedule_off)

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Every option, defaults filled in; ValueError naming a bad one and the valid values."""
        unknown = [k for k in options if k not in self.options]
        if unknown:
            valid = ", ".join(self.options) or "none"
            raise ValueError(f"{self.name} takes no option(s) {unknown}; valid options: {valid}")
        out = {}
        for key, valid in self.options.items():
            value = options.get(key, valid[0])
            if value not in valid:
                raise ValueError(f"{key} must be one of {valid}, got {value!r}")
            out[key] = value
        return out

    def hyper(self, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """One config's ``h``: its fields and the derived values, as Python floats/bools."""
        return {**cfg, **self.derived(cfg)}

    def schedule(
        self, cfg: Mapping[str, Any], schedule_steps: int, **options: Any
    ) -> Callable[[int], float]:
        """``step -> learning-rate factor`` of a checked config (its rate at a base rate of 1)."""
        h = {**self.hyper(cfg), "learning_rate": 1.0}
        steps = check_training_steps(schedule_steps)
        opts = self.check_options(options)
        return lambda step: float(self.learning_rate(h, step, steps, opts))

    def vectorized(
        self,
        configs: Sequence[Mapping[str, Any]],
        training_steps: int,
        *,
        schedule_steps: int | None = None,
        cls: type[VectorizedRule] | None = None,
        checked: bool = False,
        **options: Any,
    ) -> VectorizedRule:
        """The rule over K configs (``checked=True``: the configs were validated already)."""
        cls = cls or VectorizedRule
        opt = cls.__new__(cls)
        opt._setup(self, configs, training_steps, schedule_steps, options, check=not checked)
        return opt

    def torch_optimizer(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        cfg: Mapping[str, Any],
        *,
        schedule_steps: int | None = None,
        cls: type[RuleOptimizer] | None = None,
        checked: bool = False,
        **options: Any,
    ) -> RuleOptimizer:
        """The rule as a single-config ``torch.optim.Optimizer`` (``checked``: as above)."""
        cls = cls or RuleOptimizer
        opt = cls.__new__(cls)
        opt._setup(self, params, cfg, schedule_steps, options, check=not checked)
        return opt


class VectorizedRule(VectorizedOptimizer):
    """An :class:`UpdateRule` over K configs: ``[K, 1]`` hyperparameters, ``[K, P]`` buffers.

    Nothing mixes rows, so a config that diverges (NaN/inf) leaves the others untouched.
    ``schedule_steps`` is the schedule's horizon (default ``training_steps``).
    """

    rule: ClassVar[UpdateRule | None] = None

    def __init__(
        self,
        configs: Sequence[Mapping[str, Any]],
        training_steps: int,
        *,
        schedule_steps: int | None = None,
        rule: UpdateRule | None = None,
        **options: Any,
    ):
        self._setup(rule, configs, training_steps, schedule_steps, options, check=True)

    def _setup(
        self,
        rule: UpdateRule | None,
        configs: Sequence[Mapping[str, Any]],
        training_steps: int,
        schedule_steps: int | None,
        options: Mapping[str, Any],
        *,
        check: bool,
    ) -> None:
        rule = rule or type(self).rule
        if rule is None:
            raise TypeError(f"{type(self).__name__} needs an update rule (rule=...)")
        where = type(self).__name__
        if check:
            configs = [
                check_config(f"{where} config {i}", rule.hparams, c, unknown="ignore")
                for i, c in enumerate(configs)
            ]
        super().__init__(configs, training_steps)
        self.rule = rule  # type: ignore[misc]
        self.options = rule.check_options(options)
        self.schedule_steps = check_training_steps(
            training_steps if schedule_steps is None else schedule_steps
        )
        hypers = [rule.hyper(c) for c in self.configs]
        names = [h.name for h in rule.hparams if h.kind != "bool"] + list(rule.derived(hypers[0]))
        self._constants: dict[str, float] = {}
        for name in names:
            values = [hy[name] for hy in hypers]
            if name in rule.skip_if_zero and all(v == 0 for v in values):
                self._constants[name] = 0.0
            else:
                self._column(name, values)

    def _hyper(self) -> dict[str, Any]:
        return {**self._tensors, **self._constants}

    def learning_rate(self, step: int) -> torch.Tensor:
        """The scheduled learning rate of every config after ``step`` updates: ``[K, 1]``."""
        return self.rule.learning_rate(self._hyper(), step, self.schedule_steps, self.options)

    def _init(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.rule.init_state(params, self._hyper())

    def _update(
        self,
        params: torch.Tensor,
        grads: torch.Tensor,
        state: dict[str, torch.Tensor],
        step: int,
    ) -> None:
        h = self._hyper()
        lr = self.rule.learning_rate(h, step, self.schedule_steps, self.options)
        self.rule.update(params, grads, state, h, lr, step)


def _group_key(name: str) -> str:
    # torch's LR schedulers scale group["lr"]; everything else keeps TaskSet's names.
    return "lr" if name == "learning_rate" else name


class RuleOptimizer(torch.optim.Optimizer):
    """An :class:`UpdateRule` as a single-config ``torch.optim.Optimizer``.

    The base learning rate lives in each param group as ``"lr"`` (torch's convention), so torch's
    LR schedulers scale it on top of the built-in schedule; the other hyperparameters keep
    TaskSet's names. Every param group is checked when it is added. Scheduled rules keep their
    horizon in the group as ``training_steps``; each parameter counts its own steps.
    """

    rule: ClassVar[UpdateRule | None] = None
    _trusted = False

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        hparams: Mapping[str, Any],
        *,
        rule: UpdateRule | None = None,
        training_steps: int | None = None,
        **options: Any,
    ):
        self._setup(rule, params, hparams, training_steps, options, check=True)

    def _setup(
        self,
        rule: UpdateRule | None,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        hparams: Mapping[str, Any],
        training_steps: int | None,
        options: Mapping[str, Any],
        *,
        check: bool,
    ) -> None:
        rule = rule or type(self).rule
        if rule is None:
            raise TypeError(f"{type(self).__name__} needs an update rule (rule=...)")
        self.rule = rule  # type: ignore[misc]
        self._trusted = not check  # configs from a SearchSpace were validated there
        defaults = {_group_key(k): v for k, v in hparams.items()}
        if rule.scheduled:
            defaults["training_steps"] = 10000 if training_steps is None else training_steps
        defaults.update(rule.check_options(options))
        super().__init__(params, defaults)
        self._trusted = False  # groups added later are the user's

    def __getstate__(self) -> dict[str, Any]:  # torch keeps only defaults, state, groups
        return {**super().__getstate__(), "rule": self.rule}

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group (``lr``, not ``learning_rate``); its hyperparameters are checked."""
        if "learning_rate" in param_group:
            raise ValueError(
                f"{type(self).__name__}: a param group sets the learning rate as 'lr' "
                "(torch's convention), not 'learning_rate'"
            )
        super().add_param_group(param_group)
        if self._trusted:
            return
        group = self.param_groups[-1]
        values = {h.name: group[_group_key(h.name)] for h in self.rule.hparams}
        checked = check_config(type(self).__name__, self.rule.hparams, values)
        group.update({_group_key(k): v for k, v in checked.items()})
        if "training_steps" in group:
            group["training_steps"] = check_training_steps(group["training_steps"])
        group.update(self.rule.check_options({k: group[k] for k in self.rule.options}))

    def _hyper(self, group: Mapping[str, Any]) -> dict[str, Any]:
        return self.rule.hyper({h.name: group[_group_key(h.name)] for h in self.rule.hparams})

    def _options(self, group: Mapping[str, Any]) -> dict[str, Any]:
        return {k: group[k] for k in self.rule.options}

    def scheduled_learning_rate(self, group: Mapping[str, Any], step: int) -> float:
        """The group's learning rate after ``step`` previous updates."""
        steps = group.get("training_steps", 0)
        return self.rule.learning_rate(self._hyper(group), step, steps, self._options(group))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One update of every parameter with a gradient; returns ``closure()``'s loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            for group in self.param_groups:
                h: dict[str, Any] | None = None
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    if p.grad.is_sparse:
                        raise RuntimeError(
                            f"{type(self).__name__} does not support sparse gradients"
                        )
                    if h is None:  # once per group and step: the group may have changed
                        h = self._hyper(group)
                        options = self._options(group)
                        steps = group.get("training_steps", 0)
                    state = self.state[p]
                    if "step" not in state:
                        state["step"] = 0
                        state.update(self.rule.init_state(p, h))
                    lr = self.rule.learning_rate(h, state["step"], steps, options)
                    self.rule.update(p, p.grad, state, h, lr, state["step"])
                    state["step"] += 1
        return loss
