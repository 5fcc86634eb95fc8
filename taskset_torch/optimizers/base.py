"""The SearchSpace and VectorizedOptimizer contracts, and hyperparameter validation."""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import torch

__all__ = [
    "HParam",
    "SearchSpace",
    "VectorizedOptimizer",
    "check_training_steps",
]

_V = TypeVar("_V", bound="VectorizedOptimizer")


@dataclasses.dataclass(frozen=True)
class HParam:
    """One hyperparameter: its type and the domain where the update rule is well defined.

    The domain is what :meth:`SearchSpace.validate` enforces; it is wider than the range TaskSet
    samples from so that hand-written configs are accepted.
    """

    name: str
    kind: str = "float"  # "float" or "bool"
    low: float = 0.0
    high: float = math.inf
    low_inclusive: bool = True
    high_inclusive: bool = False

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


class SearchSpace(abc.ABC):
    """A TaskSet optimizer family: how configs are sampled and which update rule they drive."""

    #: TaskSet's sampler name, e.g. ``adam8p_wide_grid``.
    name: str = ""
    #: The fields of a config, in TaskSet's sampling (and storage) order.
    hparam_specs: tuple[HParam, ...] = ()

    @property
    def hparam_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hparam_specs)

    @abc.abstractmethod
    def sample(self, seed: int) -> dict[str, Any]:
        """TaskSet's config ``<name>_seed<seed>``, exactly (same RNG stream and draw order)."""

    def validate(self, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """``cfg`` checked field by field and normalized to plain floats/bools, in field order."""
        if not isinstance(cfg, Mapping):
            raise ValueError(f"{self.name}: a config must be a mapping, got {type(cfg).__name__}")
        names = self.hparam_names
        unknown = [k for k in cfg if k not in names]
        if unknown:
            raise ValueError(
                f"{self.name}: unknown field(s) {unknown}; valid fields: {', '.join(names)}"
            )
        missing = [k for k in names if k not in cfg]
        if missing:
            raise ValueError(
                f"{self.name}: missing field(s) {missing}; a config needs: {', '.join(names)}"
            )
        return {h.name: h.check(cfg[h.name], self.name) for h in self.hparam_specs}

    def validate_all(self, configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """:meth:`validate` each config; an error says which config (by index) was wrong."""
        out = []
        for i, c in enumerate(configs):
            try:
                out.append(self.validate(c))
            except ValueError as e:
                raise ValueError(f"config {i}: {e}") from None
        return out

    @abc.abstractmethod
    def vectorized(
        self, configs: Sequence[Mapping[str, Any]], training_steps: int
    ) -> VectorizedOptimizer:
        """The update rule over ``len(configs)`` configs on one ``[K, P]`` buffer."""

    @abc.abstractmethod
    def torch_optimizer(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        cfg: Mapping[str, Any],
        training_steps: int,
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
        """A single-config ``torch.optim.Optimizer`` (schedules are built in, so the scheduler
        is ``None`` for every TaskSet space)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
