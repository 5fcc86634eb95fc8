"""Every optimizer hyperparameter: its valid domain and the range TaskSet samples it from.

A search space lists these definitions in TaskSet's draw order; :meth:`SearchSpace.sample
<taskset_torch.optimizers.base.SearchSpace.sample>` draws them with their priors and
``hparam_lists.tuning`` derives the Optuna / Ray Tune spaces from the same priors, so a range is
written once. Draws follow ``task_set/optimizers/*.py`` exactly (RNG calls, order, quirks).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import MutableMapping
from typing import Any, ClassVar, Protocol

import numpy as np

from taskset_torch.optimizers.base import HParam
from taskset_torch.sampling import sample_log_float

__all__ = [
    "Prior",
    "LogUniform",
    "OneMinusLogUniform",
    "Uniform",
    "Coin",
    "Gate",
    "Gated",
    "LEARNING_RATE",
    "BETA1",
    "BETA2",
    "EPSILON",
    "L1",
    "L2",
    "LINEAR_DECAY",
    "EXPONENTIAL_DECAY",
    "USE_NESTEROV",
    "ADAMW_WEIGHT_DECAY",
    "L2_WEIGHT_DECAY",
    "WARMUP_FRACTION",
    "MIN_LEARNING_RATE_MULT",
    "CONSTANT_FRACTION",
    "INITIAL_ACCUMULATOR_VALUE",
    "NADAMW_LEARNING_RATE",
    "NADAMW_BETA1",
    "NADAMW_BETA2",
    "NADAMW_EPSILON",
]

# Gate values drawn so far in one sample(): a gate is drawn once, where first needed.
Gates = MutableMapping[str, Any]


# -- priors: how a value is drawn (and what a tuner searches) ------------------------------------


class Prior(Protocol):
    """How TaskSet draws one field. ``kind`` ("log", "uniform", "choice") and ``transform``
    ("identity", "one_minus") tell ``hparam_lists.tuning`` which tuner parameter stands for it."""

    kind: str
    transform: str

    def draw(self, rng: np.random.RandomState, gates: Gates) -> Any:
        """One value, drawn from ``rng`` exactly as TaskSet does (gates drawn so far in ``gates``)."""
        ...

    def describe(self) -> str:
        """The range in words, e.g. ``logU[1e-08, 10]``."""
        ...


@dataclasses.dataclass(frozen=True)
class LogUniform:
    """``exp(U(log low, log high))``. ``reversed_draw``: TaskSet wrote the bounds the other way
    round (same distribution, a different number for a given seed)."""

    low: float
    high: float
    reversed_draw: bool = False
    kind: ClassVar[str] = "log"
    transform: ClassVar[str] = "identity"

    def draw(self, rng: np.random.RandomState, gates: Gates) -> float:
        """See :meth:`Prior.draw`."""
        if self.reversed_draw:
            return sample_log_float(rng, self.high, self.low)
        return sample_log_float(rng, self.low, self.high)

    def describe(self) -> str:
        """See :meth:`Prior.describe`."""
        return f"logU[{self.low:g}, {self.high:g}]"


@dataclasses.dataclass(frozen=True)
class OneMinusLogUniform:
    """``1 - logU[low, high]``: TaskSet's betas, log-uniform close to 1."""

    low: float
    high: float = 1.0
    kind: ClassVar[str] = "log"
    transform: ClassVar[str] = "one_minus"

    def draw(self, rng: np.random.RandomState, gates: Gates) -> float:
        """See :meth:`Prior.draw`."""
        return 1 - sample_log_float(rng, self.low, self.high)

    def describe(self) -> str:
        """See :meth:`Prior.describe`."""
        return f"1 - logU[{self.low:g}, {self.high:g}]"


@dataclasses.dataclass(frozen=True)
class Uniform:
    """``U(low, high)``."""

    low: float
    high: float
    kind: ClassVar[str] = "uniform"
    transform: ClassVar[str] = "identity"

    def draw(self, rng: np.random.RandomState, gates: Gates) -> float:
        """See :meth:`Prior.draw`."""
        return rng.uniform(self.low, self.high)

    def describe(self) -> str:
        """See :meth:`Prior.describe`."""
        return f"U({self.low:g}, {self.high:g})"


@dataclasses.dataclass(frozen=True)
class Coin:
    """A fair bool, drawn as TaskSet does: ``U(0, 1) > 0.5``."""

    choices: ClassVar[tuple[bool, bool]] = (False, True)
    kind: ClassVar[str] = "choice"
    transform: ClassVar[str] = "identity"

    def draw(self, rng: np.random.RandomState, gates: Gates) -> bool:
        """See :meth:`Prior.draw`."""
        return bool(rng.uniform(0.0, 1.0) > 0.5)

    def describe(self) -> str:
        """See :meth:`Prior.describe`."""
        return "U(0, 1) > 0.5"


@dataclasses.dataclass(frozen=True)
class Gate:
    """A hidden draw that decides which gated fields are sampled (the rest are 0).

    One ``u = U(0, 1)`` picks ``choices[i]``, ``i`` = how many ``cuts`` lie below ``u``; at a tie
    ``ties="low"`` keeps the lower choice (TaskSet's ``u > 0.5``), ``"high"`` the higher one
    (TaskSet's ``if u < 0.3333 ... elif u < 0.6666``). A tuner sees it as a uniform choice.
    """

    name: str
    choices: tuple[Any, ...]
    cuts: tuple[float, ...]
    ties: str = "low"

    def draw(self, rng: np.random.RandomState) -> Any:
        """The gate's value for one config (one ``U(0, 1)`` draw)."""
        u = rng.uniform(0.0, 1.0)
        side = bisect.bisect_left if self.ties == "low" else bisect.bisect_right
        return self.choices[side(self.cuts, u)]


@dataclasses.dataclass(frozen=True)
class Gated:
    """``inner`` when ``gate``'s value is in ``when``, else 0 ("0 or logU[...]")."""

    gate: Gate
    when: tuple[Any, ...]
    inner: LogUniform | Uniform

    @property
    def kind(self) -> str:
        """The inner prior's kind (a tuner searches the value when the gate opens it)."""
        return self.inner.kind

    @property
    def transform(self) -> str:
        """The inner prior's transform."""
        return self.inner.transform

    def draw(self, rng: np.random.RandomState, gates: Gates) -> float:
        """See :meth:`Prior.draw`."""
        if self.gate.name not in gates:
            gates[self.gate.name] = self.gate.draw(rng)
        return self.inner.draw(rng, gates) if gates[self.gate.name] in self.when else 0.0

    def describe(self) -> str:
        """See :meth:`Prior.describe`."""
        return f"0 or {self.inner.describe()} ({self.gate.name} in {list(self.when)})"


# -- the definitions: domain (what validate accepts) and TaskSet's sampling range ----------------

# The wide grids (adam1p/4p/6p/8p, adagrad).
LEARNING_RATE = HParam("learning_rate", prior=LogUniform(1e-8, 10.0))
# beta = 1 makes the bias correction 1/(1 - beta^t) infinite.
BETA1 = HParam("beta1", high=1.0, prior=OneMinusLogUniform(1e-4))
BETA2 = HParam("beta2", high=1.0, prior=OneMinusLogUniform(1e-6))
EPSILON = HParam("epsilon", prior=LogUniform(1e-10, 1e3))
L1 = HParam("l1", prior=LogUniform(1e-8, 10.0))
L2 = HParam("l2", prior=LogUniform(1e-8, 10.0))
LINEAR_DECAY = HParam("linear_decay", prior=LogUniform(1e-7, 1e-4))
# TaskSet writes these bounds reversed: log-uniform on [1e-6, 1e-3] all the same.
EXPONENTIAL_DECAY = HParam("exponential_decay", prior=LogUniform(1e-6, 1e-3, reversed_draw=True))
# TF's Adagrad requires a positive accumulator (it divides by its square root).
INITIAL_ACCUMULATOR_VALUE = HParam(
    "initial_accumulator_value",
    low=0.0,
    low_inclusive=False,
    prior=LogUniform(1e-10, 1e3),
)

# nadamw_grid (the space of opt_list) samples narrower Adam ranges and gated extras.
NADAMW_LEARNING_RATE = LEARNING_RATE.sampled_from(LogUniform(1e-5, 1.0))
NADAMW_BETA1 = BETA1.sampled_from(OneMinusLogUniform(1e-3))
NADAMW_BETA2 = BETA2.sampled_from(OneMinusLogUniform(1e-5))
NADAMW_EPSILON = EPSILON.sampled_from(LogUniform(1e-8, 1e4))
USE_NESTEROV = HParam("use_nesterov", kind="bool", prior=Coin())
# A third AdamW decay only, a third l2 only, a third both (TaskSet: u < 0.3333, < 0.6666).
_WEIGHT_DECAY_KIND = Gate("weight_decay_kind", ("adamw", "l2", "both"), (0.3333, 0.6666), "high")
ADAMW_WEIGHT_DECAY = HParam(
    "adamw_weight_decay",
    prior=Gated(_WEIGHT_DECAY_KIND, ("adamw", "both"), LogUniform(1e-5, 0.1)),
)
L2_WEIGHT_DECAY = HParam(
    "l2_weight_decay", prior=Gated(_WEIGHT_DECAY_KIND, ("l2", "both"), LogUniform(1e-5, 0.1))
)
WARMUP_FRACTION = HParam(
    "warmup_fraction",
    high=1.0,
    high_inclusive=True,
    prior=Gated(Gate("use_warmup", (False, True), (0.5,)), (True,), LogUniform(1e-5, 0.1)),
)
MIN_LEARNING_RATE_MULT = HParam(
    "min_learning_rate_mult",
    prior=Gated(Gate("decay_to_zero", (False, True), (0.5,)), (False,), LogUniform(1e-5, 1.0)),
)
CONSTANT_FRACTION = HParam(
    "constant_fraction", high=1.0, high_inclusive=True, prior=Uniform(0.0, 1.0)
)
