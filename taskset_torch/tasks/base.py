"""The Task and TaskFamily contracts.

A :class:`Task` is vectorized over ``n`` parameter sets, one per optimizer config: every parameter
tensor carries a leading dimension ``n`` and :meth:`Task.loss` returns a loss per set. A task knows
nothing about optimizers. All randomness (data, per-step noise) comes from :meth:`Task.batch`, which
draws one batch shared by all ``n`` sets: common random numbers make config comparisons less noisy.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import torch

from taskset_torch.base import DataSource

__all__ = [
    "Params",
    "Batch",
    "Task",
    "TaskFamily",
    "expand_params",
]

Params = dict[str, torch.Tensor]
Batch = Mapping[str, torch.Tensor]


def expand_params(params: Params, n: int) -> Params:
    """Repeat one unbatched parameter set into ``n`` independent, contiguous copies."""
    return {k: v.unsqueeze(0).repeat(n, *([1] * v.dim())).contiguous() for k, v in params.items()}


class Task(abc.ABC):
    """An optimization problem whose parameters are batched over ``n`` independent sets.

    A subclass implements :meth:`init_params`, :meth:`loss` and :meth:`batch`. The trainer draws
    one initial set, repeats it ``n`` times (:meth:`init`), and at every step evaluates
    ``loss(params, batch(split, generator))`` for all ``n`` sets at once. ``loss`` must keep the
    sets independent: slice ``k`` of the result depends only on slice ``k`` of every parameter.

    Example::

        >>> from taskset_torch.tasks import build_task
        >>> g = torch.Generator().manual_seed(0)
        >>> task = build_task("quadratic_family_seed3")
        >>> params = task.init(4, g)                      # 4 configs, one init
        >>> task.loss(params, task.batch("train", g)).shape
        torch.Size([4])
    """

    #: TaskSet's name for the task, e.g. ``mlp_family_seed12``.
    name: str = ""

    @abc.abstractmethod
    def init_params(self, generator: torch.Generator) -> Params:
        """One unbatched parameter set, drawn from ``generator`` (float32, on the CPU)."""

    def init(self, n: int, generator: torch.Generator) -> Params:
        """``n`` copies of one initial draw: the same init for every config of a seed."""
        return expand_params(self.init_params(generator), n)

    @abc.abstractmethod
    def loss(self, params: Params, batch: Batch) -> torch.Tensor:
        """The loss of each parameter set on ``batch``.

        Args:
            params: name -> tensor ``[n, *shape]`` (``n`` sets, as :meth:`init` returns them).
            batch: what :meth:`batch` returned.

        Returns:
            A tensor of shape ``[n]``.
        """

    @abc.abstractmethod
    def batch(self, split: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """A fresh batch of ``split`` (one of :data:`SPLITS`), shared by all parameter sets."""

    @property
    def data_sources(self) -> tuple[DataSource, ...]:
        """Which data served this task (empty for tasks without a dataset)."""
        return ()

    def num_params(self) -> int:
        """Number of parameters of one set."""
        g = torch.Generator().manual_seed(0)
        return int(sum(p.numel() for p in self.init_params(g).values()))

    def to(self, device: torch.device | str) -> Task:
        """Move the task's data and constants to ``device``; returns ``self``."""
        return self


class TaskFamily(abc.ABC):
    """A distribution over tasks: ``sample(seed)`` gives TaskSet's config, ``build`` a Task.

    ``sample`` reproduces TaskSet's draws exactly (order included), so ``<name>_seed<N>`` means
    the same task here as in TaskSet's released curves. ``build`` checks the config's keys with
    :func:`~taskset_torch.base.check_config` before loading any data.

    Example::

        >>> from taskset_torch.tasks import get_family
        >>> fam = get_family("mlp_family")
        >>> config = fam.sample(12)                       # TaskSet's stored config, plain JSON
        >>> task = fam.build(config, name="mlp_family_seed12")
    """

    #: The family's name as TaskSet spells it in config names, e.g. ``mlp_family``.
    name: str = ""

    @abc.abstractmethod
    def sample(self, seed: int) -> Any:
        """TaskSet's config for ``seed``: plain JSON data, identical to the stored one."""

    @abc.abstractmethod
    def build(self, config: Any, name: str = "") -> Task:
        """The task a config describes. ``name`` is recorded on the task."""
