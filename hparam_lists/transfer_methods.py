"""Search methods for the transfer harness: list entries, Adam LR sweeps, random search, TPE."""

from __future__ import annotations

import abc
import math
import os
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hparam_lists.lists import HParamList, load_list

__all__ = [
    "ADAM_LR_GRID",
    "METHOD_NAMES",
    "Method",
    "ListMethod",
    "AdamLRSweep",
    "RandomSearch",
    "OptunaTPE",
    "default_methods",
    "make_method",
    "make_optimizer_factory",
]

# 1e-5 .. 1e-1, three points per decade (13 learning rates).
ADAM_LR_GRID: tuple[float, ...] = tuple(float(10.0 ** (-5 + i / 3)) for i in range(13))

Spec = dict[str, Any]  # {"kind": "space", "space": name, "hparams": {...}} | {"kind": "adam", ...}
MakeOptimizer = Callable[[Any, int], Any]


def _stable_rng(seed: int, name: str) -> np.random.Generator:
    """A generator fixed by (seed, method name), independent of Python's hash randomization."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def make_optimizer_factory(spec: Mapping[str, Any]) -> MakeOptimizer:
    """``make_optimizer(params, training_steps)`` for one trial's spec (schedule built in)."""
    kind = spec.get("kind")
    if kind == "adam":
        lr = float(spec["hparams"]["learning_rate"])

        def adam(params: Any, training_steps: int) -> Any:
            import torch

            return torch.optim.Adam(params, lr=lr)

        return adam
    if kind == "space":
        from taskset_torch.optimizers import get_space

        space = get_space(spec["space"])
        cfg = space.validate(spec["hparams"])

        def from_space(params: Any, training_steps: int) -> Any:
            opt, scheduler = space.torch_optimizer(params, cfg, int(training_steps))
            if scheduler is not None:
                raise TypeError(
                    f"{space.name}.torch_optimizer returned a separate scheduler; the transfer "
                    "harness needs optimizers with the schedule built in"
                )
            return opt

        return from_space
    raise ValueError(f"unknown trial kind {kind!r}; valid: 'adam', 'space'")


class Method(abc.ABC):
    """A search method: the k optimizer specs it tries for one seed, in order.

    Non-adaptive methods give all k up front (:meth:`plan`); adaptive ones (TPE) are asked one
    trial at a time after seeing the earlier results of the same seed (:meth:`session`).
    """

    name: str
    adaptive: bool = False

    def plan(self, k: int, seed: int) -> list[Spec]:
        """The first ``k`` trials' optimizer specs for ``seed`` (non-adaptive methods)."""
        raise NotImplementedError

    def session(self, k: int, seed: int) -> Any:
        """A per-seed object that proposes one trial at a time and is told each result
        (adaptive methods)."""
        raise NotImplementedError

    def describe(self) -> str:
        """How the method is named in results and reports."""
        return self.name


class ListMethod(Method):
    """The first k entries of a hyperparameter list (the same trials for every seed)."""

    def __init__(self, hparam_list: str | os.PathLike | HParamList = "opt_list", name: str = ""):
        self.hlist = load_list(hparam_list)
        if name:
            self.name = name
        elif isinstance(hparam_list, HParamList):
            self.name = "list"
        else:
            self.name = Path(str(hparam_list)).stem

    def plan(self, k: int, seed: int) -> list[Spec]:
        if k > len(self.hlist):
            raise ValueError(f"list {self.name!r} has {len(self.hlist)} entries, k={k} asked")
        return [
            {"kind": "space", "space": self.hlist.space, "hparams": self.hlist[i]} for i in range(k)
        ]


class AdamLRSweep(Method):
    """``torch.optim.Adam`` at a constant learning rate from :data:`ADAM_LR_GRID`.

    ``order="practitioner"``: 1e-3 first, then its neighbours on the grid, alternating above and
    below (the same order for every seed). ``order="random"``: a fresh permutation per seed.
    """

    def __init__(self, order: str = "practitioner", grid: Sequence[float] = ADAM_LR_GRID):
        if order not in ("practitioner", "random"):
            raise ValueError(f"order must be 'practitioner' or 'random', got {order!r}")
        self.order, self.grid = order, tuple(float(g) for g in grid)
        self.name = f"adam_lr_{order}"

    def _order(self, seed: int) -> list[float]:
        if self.order == "random":
            perm = _stable_rng(seed, self.name).permutation(len(self.grid))
            return [self.grid[i] for i in perm]
        start = int(np.argmin([abs(math.log10(g) + 3.0) for g in self.grid]))
        out = [self.grid[start]]
        for d in range(1, len(self.grid)):
            for j in (start + d, start - d):
                if 0 <= j < len(self.grid):
                    out.append(self.grid[j])
        return out

    def plan(self, k: int, seed: int) -> list[Spec]:
        if k > len(self.grid):
            raise ValueError(f"the Adam grid has {len(self.grid)} learning rates, k={k} asked")
        return [{"kind": "adam", "hparams": {"learning_rate": lr}} for lr in self._order(seed)[:k]]


class RandomSearch(Method):
    """k configs drawn from a search space's own sampler (TaskSet's distribution), per seed."""

    def __init__(self, space: str = "nadamw_grid"):
        from taskset_torch.optimizers import get_space

        self.space = get_space(space)
        self.name = f"random_{self.space.name}"

    def plan(self, k: int, seed: int) -> list[Spec]:
        draws = _stable_rng(seed, self.name).integers(0, 2**31 - 1, size=k)
        return [
            {"kind": "space", "space": self.space.name, "hparams": self.space.sample(int(s))}
            for s in draws
        ]


class _TPESession:
    def __init__(self, space: str, seed: int, n_startup: int):
        try:
            import optuna
        except ImportError as e:
            raise ImportError("Optuna TPE needs optuna: pip install taskset-torch[optuna]") from e
        from hparam_lists.tuning import optuna_distributions

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space, self.dists = space, optuna_distributions(space)
        sampler = optuna.samplers.TPESampler(seed=int(seed), n_startup_trials=n_startup)
        self.study = optuna.create_study(direction="minimize", sampler=sampler)
        self._trial: Any = None

    def ask(self) -> Spec:
        self._trial = self.study.ask(self.dists)
        from hparam_lists.tuning import config_from_tuner

        # the trial's tuner parameters (1 - beta log-uniform, gates) as the space's config
        hparams = config_from_tuner(self._trial.params, self.space)
        return {"kind": "space", "space": self.space, "hparams": hparams}

    def tell(self, loss: float) -> None:
        from optuna.trial import TrialState

        if math.isfinite(loss):
            self.study.tell(self._trial, loss)
        else:  # diverged: a failed trial, as Optuna records errors
            self.study.tell(self._trial, state=TrialState.FAIL)


class OptunaTPE(Method):
    """Optuna's TPE over a search space's tuner ranges (:mod:`hparam_lists.tuning`), seeded.

    ``n_startup`` random trials come first (Optuna's default of 10 would make TPE plain random
    search at k = 10).
    """

    adaptive = True

    def __init__(self, space: str = "nadamw_grid", n_startup: int = 3):
        self.space, self.n_startup = space, int(n_startup)
        self.name = f"tpe_{space}"

    def session(self, k: int, seed: int) -> _TPESession:
        return _TPESession(
            self.space, int(_stable_rng(seed, self.name).integers(2**31)), self.n_startup
        )


METHOD_NAMES = ("adam_lr_practitioner", "adam_lr_random", "random", "tpe")


def make_method(name: str, space: str = "nadamw_grid") -> Method:
    """A method by name: a list name/path, ``adam_lr_practitioner``, ``adam_lr_random``,
    ``random`` (search over ``space``) or ``tpe``."""
    if name == "adam_lr_practitioner":
        return AdamLRSweep("practitioner")
    if name == "adam_lr_random":
        return AdamLRSweep("random")
    if name == "random":
        return RandomSearch(space)
    if name == "tpe":
        return OptunaTPE(space)
    return ListMethod(name)


def default_methods(lists: Iterable[str] = ("opt_list",), *, tpe: bool = True) -> list[Method]:
    """The lists, both Adam sweeps, random search over nadamw_grid and (optionally) TPE."""
    methods: list[Method] = [ListMethod(x) for x in lists]
    methods += [AdamLRSweep("practitioner"), AdamLRSweep("random"), RandomSearch()]
    if tpe:
        methods.append(OptunaTPE())
    return methods
