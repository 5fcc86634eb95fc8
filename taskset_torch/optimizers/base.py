"""The contracts: a hyperparameter (:class:`HParam`), a vectorized update rule
(:class:`VectorizedOptimizer`) and a search space (:class:`SearchSpace`); config validation."""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

from taskset_torch.sampling import rng_for

if TYPE_CHECKING:
    from taskset_torch.optimizers.rules import RuleOptimizer, UpdateRule, VectorizedRule

__all__ = [
    "HParam",
    "SearchSpace",
    "VectorizedOptimizer",
    "check_config",
    "check_training_steps",
]

_V = TypeVar("_V", bound="VectorizedOptimizer")


@dataclasses.dataclass(frozen=True)
class HParam:
    """One hyperparameter: its type, the domain where the update rule is well defined, and the
    range TaskSet samples it from.

    The domain is what :meth:`SearchSpace.validate` enforces; it is wider than the sampling range
    (``prior``, see :mod:`taskset_torch.optimizers.hparams`) so that hand-written configs are
    accepted. ``prior`` drives :meth:`SearchSpace.sample` and the tuner spaces of
    ``hparam_lists.tuning``.
    """

    name: str
    kind: str = "float"  # "float" or "bool"
    low: float = 0.0
    high: float = math.inf
    low_inclusive: bool = True
    high_inclusive: bool = False
    prior: Any = None

    def sampled_from(self, prior: Any) -> HParam:
        """The same hyperparameter sampled from another range (e.g. nadamw's narrower rates)."""
        return dataclasses.replace(self, prior=prior)

    def describe(self) -> str:
        """The valid domain in words, e.g. ``0 <= beta1 < 1``."""
        if self.kind == "bool":
            return f"{self.name} is a bool (True or False)"
        lo = "<=" if self.low_inclusive else "<"
        if math.isinf(self.high):
            return f"{self.name} {'>=' if self.low_inclusive else '>'} {self.low:g} (finite)"
        hi = "<=" if self.high_inclusive else "<"
        return f"{self.low:g} {lo} {self.name} {hi} {self.high:g}"

    def check(self, value: Any, where: str) -> float | bool:
        """``value`` as a plain float/bool, or a ValueError naming the field and its domain."""
        if self.kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise ValueError(f"{where}: {self.name}={value!r} is not valid; {self.describe()}")
        # bool is an int subclass; a bool where a number belongs is almost surely a mistake.
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            raise ValueError(
                f"{where}: {self.name}={value!r} is not a number; valid: {self.describe()}"
            )
        x = float(value)
        ok = math.isfinite(x)
        ok = ok and (x >= self.low if self.low_inclusive else x > self.low)
        ok = ok and (x <= self.high if self.high_inclusive else x < self.high)
        if not ok:
            raise ValueError(
                f"{where}: {self.name}={x!r} is out of range; valid: {self.describe()}"
            )
        return x


def check_training_steps(training_steps: Any) -> int:
    """``training_steps`` as a positive int, or a ValueError saying what is valid."""
    if isinstance(training_steps, (bool, np.bool_)) or not isinstance(
        training_steps, (int, np.integer)
    ):
        raise ValueError(f"training_steps must be a positive int, got {training_steps!r}")
    if training_steps < 1:
        raise ValueError(f"training_steps must be a positive int, got {training_steps!r}")
    return int(training_steps)


def check_config(
    where: str,
    specs: Sequence[HParam],
    cfg: Any,
    *,
    unknown: str = "error",
) -> dict[str, Any]:
    """``cfg`` checked against ``specs`` and normalized to plain floats/bools, in ``specs`` order.

    The one config check: search spaces, vectorized rules and torch optimizers all call it.
    A ValueError starts with ``where`` and names the field and its valid domain; fields not in
    ``specs`` are an error unless ``unknown="ignore"``.
    """
    if not isinstance(cfg, Mapping):
        raise ValueError(f"{where}: a config must be a mapping, got {type(cfg).__name__}")
    names = [h.name for h in specs]
    if unknown == "error":
        extra = [k for k in cfg if k not in names]
        if extra:
            raise ValueError(f"{where}: unknown field(s) {extra}; valid fields: {', '.join(names)}")
    missing = [k for k in names if k not in cfg]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}; a config needs: {', '.join(names)}")
    return {h.name: h.check(cfg[h.name], where) for h in specs}


class VectorizedOptimizer(abc.ABC):
    """An update rule applied to K configs at once, on one flat ``[K, P]`` parameter buffer.

    Hyperparameters are float32 tensors of shape ``[K, 1]`` (``self.hparams``) so that every
    operation is element-wise over ``[K, P]``: row k depends only on row k, so one config that
    diverges (NaN/inf) cannot disturb another.
    """

    def __init__(self, configs: Sequence[Mapping[str, Any]], training_steps: int):
        if len(configs) == 0:
            raise ValueError("a vectorized optimizer needs at least one config, got none")
        self.configs: tuple[dict[str, Any], ...] = tuple(dict(c) for c in configs)
        self.training_steps = check_training_steps(training_steps)
        self.num_configs = len(self.configs)
        self._tensors: dict[str, torch.Tensor] = {}

    # -- hyperparameter storage ------------------------------------------------------------------

    def _column(self, name: str, values: Iterable[float]) -> torch.Tensor:
        """Store ``values`` (one per config, computed in float64) as a float32 ``[K, 1]`` tensor."""
        t = torch.tensor([float(v) for v in values], dtype=torch.float64).to(torch.float32)
        t = t.reshape(self.num_configs, 1)
        self._tensors[name] = t
        return t

    def _hparam(self, name: str) -> torch.Tensor:
        return self._column(name, (c[name] for c in self.configs))

    @property
    def hparams(self) -> dict[str, torch.Tensor]:
        """Every ``[K, 1]`` tensor the rule uses (config fields and derived ones like 1 - beta1)."""
        return dict(self._tensors)

    @property
    def device(self) -> torch.device:
        """The device of the hyperparameter tensors (params must be on it)."""
        return next(iter(self._tensors.values())).device

    def to(self: _V, device: torch.device | str) -> _V:
        """Move the hyperparameter tensors to ``device``; returns ``self``."""
        self._tensors = {k: v.to(device) for k, v in self._tensors.items()}
        return self

    # -- the rule --------------------------------------------------------------------------------

    def _check(self, params: torch.Tensor, *others: torch.Tensor) -> None:
        if params.dim() != 2 or params.shape[0] != self.num_configs:
            raise ValueError(
                f"{type(self).__name__}: params must have shape [K={self.num_configs}, P], "
                f"got {tuple(params.shape)}"
            )
        if not params.is_floating_point():
            raise ValueError(f"params must be a floating-point tensor, got {params.dtype}")
        for o in others:
            if o.shape != params.shape:
                raise ValueError(
                    f"grads/state must match params' shape {tuple(params.shape)}, "
                    f"got {tuple(o.shape)}"
                )

    def init(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        """Fresh optimizer state for ``params`` (``[K, P]``), on params' device and dtype."""
        self._check(params)
        if params.device != self.device:
            raise ValueError(
                f"params are on {params.device} but the optimizer's hyperparameters are on "
                f"{self.device}; call .to({str(params.device)!r}) first"
            )
        return self._init(params)

    @abc.abstractmethod
    def _init(self, params: torch.Tensor) -> dict[str, torch.Tensor]: ...

    def update(
        self,
        params: torch.Tensor,
        grads: torch.Tensor,
        state: dict[str, torch.Tensor],
        step: int,
    ) -> None:
        """Apply one update in place; ``step`` is the number of previous updates (0, 1, ...)."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"step must be a non-negative int (previous updates), got {step!r}")
        self._check(params, grads, *state.values())
        self._update(params, grads, state, int(step))

    @abc.abstractmethod
    def _update(
        self,
        params: torch.Tensor,
        grads: torch.Tensor,
        state: dict[str, torch.Tensor],
        step: int,
    ) -> None: ...


class SearchSpace:
    """A TaskSet optimizer family: how configs are sampled and which update rule they drive.

    A space is data plus a rule: ``name``, ``hparam_specs`` (the config's fields with their
    domains and sampling ranges, in TaskSet's draw order), ``rng_offset`` (TaskSet's per-sampler
    seed offset), ``rule`` (an :class:`~taskset_torch.optimizers.rules.UpdateRule`) and
    ``defaults`` (rule hyperparameters the space holds fixed). Sampling, validation, the
    vectorized rule, the ``torch.optim`` optimizer and the learning-rate schedule all follow.

    Example::

        space = get_space("nadamw_grid")
        cfg = space.sample(3)                           # TaskSet's nadamw_grid_seed3
        opt, _ = space.torch_optimizer(model.parameters(), cfg, training_steps=1000)
        multiplier = space.schedule(cfg, 1000)          # step -> lr factor (warmup + cosine)
    """

    #: TaskSet's sampler name, e.g. ``adam8p_wide_grid``.
    name: str = ""
    #: The fields of a config, in TaskSet's sampling (and storage) order.
    hparam_specs: tuple[HParam, ...] = ()
    #: Added to the seed to make TaskSet's ``RandomState`` for this sampler.
    rng_offset: int = 0
    #: The update rule the configs drive.
    rule: UpdateRule
    #: Rule hyperparameters that are not fields of this space, with their fixed values.
    defaults: Mapping[str, Any] = {}
    #: The classes built by :meth:`vectorized` / :meth:`torch_optimizer` (None: the generic
    #: :class:`~taskset_torch.optimizers.rules.VectorizedRule` / ``RuleOptimizer``).
    vectorized_class: type[VectorizedRule] | None = None
    optimizer_class: type[RuleOptimizer] | None = None

    @property
    def hparam_names(self) -> tuple[str, ...]:
        """The config's field names, in TaskSet's order."""
        return tuple(h.name for h in self.hparam_specs)

    def sample(self, seed: int) -> dict[str, Any]:
        """TaskSet's config ``<name>_seed<seed>``, exactly (same RNG stream and draw order)."""
        rng = rng_for(seed, self.rng_offset)
        gates: dict[str, Any] = {}
        cfg = {}
        for h in self.hparam_specs:
            if h.prior is None:
                raise TypeError(f"{self.name}: {h.name} has no sampling range (HParam.prior)")
            cfg[h.name] = h.prior.draw(rng, gates)
        return cfg

    def validate(self, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """``cfg`` checked field by field and normalized to plain floats/bools, in field order."""
        return check_config(self.name, self.hparam_specs, cfg)

    def validate_all(self, configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """:meth:`validate` each config; an error says which config (by index) was wrong."""
        out = []
        for i, c in enumerate(configs):
            try:
                out.append(self.validate(c))
            except ValueError as e:
                raise ValueError(f"config {i}: {e}") from None
        return out

    def schedule_steps(self, training_steps: int) -> int:
        """The horizon the rule's schedule runs on for a run of ``training_steps`` steps."""
        return check_training_steps(training_steps)

    def _rule_config(self, checked: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.defaults, **checked}

    def vectorized(
        self, configs: Sequence[Mapping[str, Any]], training_steps: int, **options: Any
    ) -> VectorizedOptimizer:
        """The update rule over ``len(configs)`` configs on one ``[K, P]`` buffer.

        ``options`` are the rule's (``warmup_semantics="max"`` for nadamw_grid).
        """
        full = [self._rule_config(c) for c in self.validate_all(configs)]
        return self.rule.vectorized(
            full,
            training_steps,
            schedule_steps=self.schedule_steps(training_steps),
            cls=self.vectorized_class,
            checked=True,
            **options,
        )

    def torch_optimizer(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        cfg: Mapping[str, Any],
        training_steps: int,
        **options: Any,
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
        """A single-config ``torch.optim.Optimizer`` (schedules are built in, so the scheduler
        is ``None`` for every TaskSet space)."""
        steps = self.schedule_steps(training_steps)
        opt = self.rule.torch_optimizer(
            params,
            self._rule_config(self.validate(cfg)),
            schedule_steps=steps,
            cls=self.optimizer_class,
            checked=True,
            **options,
        )
        return opt, None

    def schedule(
        self, cfg: Mapping[str, Any], training_steps: int, **options: Any
    ) -> Callable[[int], float]:
        """``step -> factor``: ``cfg``'s learning rate after ``step`` updates over its base rate.

        1.0 everywhere for a constant-rate space. With :meth:`without_schedule` it splits the
        built-in schedule into a ``torch.optim.lr_scheduler.LambdaLR`` multiplier.
        """
        full = self._rule_config(self.validate(cfg))
        return self.rule.schedule(full, self.schedule_steps(training_steps), **options)

    def without_schedule(self, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """``cfg`` (validated) with its schedule switched off: a constant rate of ``learning_rate``."""
        checked = self.validate(cfg)
        return {**checked, **{k: v for k, v in self.rule.schedule_off.items() if k in checked}}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
