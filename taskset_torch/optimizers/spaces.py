"""TaskSet's optimizer search spaces and its fixed ``adam_lr_*``/``adagrad_lr_*`` optimizers.

A space is data: its fields (with TaskSet's sampling ranges, :mod:`.hparams`), the RNG offset of
TaskSet's sampler and the update rule (:mod:`.kernels`) its configs drive. Sampling follows
``task_set/optimizers/*.py`` draw for draw, so ``get_space(s).sample(n)`` equals the stored
``<s>_seed<n>``. To add a space: define it here and list it in ``SPACES`` (plus new fields in
``hparams.py`` or a new rule in ``kernels.py`` if it needs them).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from taskset_torch.curves.names import parse_seed_name
from taskset_torch.optimizers import hparams as hp
from taskset_torch.optimizers.base import SearchSpace, check_training_steps
from taskset_torch.optimizers.kernels import ADAM8P, NADAMW, TF_ADAGRAD, TF_ADAM
from taskset_torch.optimizers.torch_optim import (
    Adam8P,
    NAdamW,
    TFAdagrad,
    TFAdam,
    VectorizedAdam8P,
    VectorizedNAdamW,
    VectorizedTFAdagrad,
    VectorizedTFAdam,
)

__all__ = [
    "Adam1PSpace",
    "Adam4PSpace",
    "Adam6PSpace",
    "Adam8PSpace",
    "NAdamWSpace",
    "AdagradSpace",
    "SPACES",
    "FIXED_OPTIMIZERS",
    "get_space",
    "optimizer_config",
    "resolve_optimizer",
]

# tf.train.AdagradOptimizer's default accumulator, used by the fixed adagrad_lr_* optimizers.
_TF_ADAGRAD_INITIAL_ACCUMULATOR = 0.1
# TaskSet meta-trained on 10k steps; Adam8P's decays are defined on that horizon.
_TASKSET_STEPS = 10000
_ADAM4 = (hp.LEARNING_RATE, hp.BETA1, hp.BETA2, hp.EPSILON)


class Adam1PSpace(SearchSpace):
    """Learning rate only, logU[1e-8, 10]; TF Adam with default betas/epsilon, constant rate."""

    name = "adam1p_wide_grid"
    hparam_specs = (hp.LEARNING_RATE,)
    rng_offset = 4123
    rule = TF_ADAM
    # tf.train.AdamOptimizer's defaults, which adam1p (and the fixed adam_lr_* optimizers) keep.
    defaults = types.MappingProxyType({"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8})
    vectorized_class = VectorizedTFAdam
    optimizer_class = TFAdam


class Adam4PSpace(Adam1PSpace):
    """TF Adam with sampled lr, beta1, beta2, epsilon; constant rate."""

    name = "adam4p_wide_grid"
    hparam_specs = _ADAM4
    rng_offset = 0


class Adam8PSpace(SearchSpace):
    """Adam8P: adam4p's four (the same stream: adam4p_seedN is a prefix of this), then l1, l2,
    linear_decay, exponential_decay.

    As in TaskSet, the decays run on the fixed 10k-step horizon whatever ``training_steps`` is
    (TaskSet's adam8p getter dropped it); set ``rescale_schedule=True`` to stretch them instead.
    """

    name = "adam8p_wide_grid"
    hparam_specs = (*_ADAM4, hp.L1, hp.L2, hp.LINEAR_DECAY, hp.EXPONENTIAL_DECAY)
    rule = ADAM8P
    vectorized_class = VectorizedAdam8P
    optimizer_class = Adam8P

    def __init__(self, *, rescale_schedule: bool = False):
        self.rescale_schedule = rescale_schedule

    def schedule_steps(self, training_steps: int) -> int:
        """``training_steps`` if ``rescale_schedule``, else TaskSet's fixed 10000."""
        steps = check_training_steps(training_steps)
        return steps if self.rescale_schedule else _TASKSET_STEPS


class Adam6PSpace(Adam8PSpace):
    """Adam8P without l1/l2 (own RNG offset); decays rescaled to ``training_steps`` as in TaskSet."""

    name = "adam6p_wide_grid"
    hparam_specs = (*_ADAM4, hp.LINEAR_DECAY, hp.EXPONENTIAL_DECAY)
    rng_offset = 123455
    defaults = types.MappingProxyType({"l1": 0.0, "l2": 0.0})

    def __init__(self, *, rescale_schedule: bool = True):
        self.rescale_schedule = rescale_schedule


class NAdamWSpace(SearchSpace):
    """TaskSet's ``nadamw_grid`` (the space of opt_list): NAdamW + cosine/warmup schedule.

    Option ``warmup_semantics`` ("min", TaskSet's TF code, default; "max", opt_list's ports).
    """

    name = "nadamw_grid"
    hparam_specs = (
        hp.NADAMW_LEARNING_RATE,
        hp.NADAMW_BETA1,
        hp.NADAMW_BETA2,
        hp.NADAMW_EPSILON,
        hp.USE_NESTEROV,
        hp.ADAMW_WEIGHT_DECAY,
        hp.L2_WEIGHT_DECAY,
        hp.WARMUP_FRACTION,
        hp.MIN_LEARNING_RATE_MULT,
        hp.CONSTANT_FRACTION,
    )
    rng_offset = 14358
    rule = NADAMW
    vectorized_class = VectorizedNAdamW
    optimizer_class = NAdamW


class AdagradSpace(SearchSpace):
    """TF Adagrad with sampled lr and initial accumulator value."""

    name = "adagrad_wide_grid"
    hparam_specs = (hp.LEARNING_RATE, hp.INITIAL_ACCUMULATOR_VALUE)
    rule = TF_ADAGRAD
    vectorized_class = VectorizedTFAdagrad
    optimizer_class = TFAdagrad


#: Every search space by TaskSet name (read-only).
SPACES: Mapping[str, SearchSpace] = types.MappingProxyType(
    {
        s.name: s
        for s in (
            Adam1PSpace(),
            Adam4PSpace(),
            Adam6PSpace(),
            Adam8PSpace(),
            NAdamWSpace(),
            AdagradSpace(),
        )
    }
)


def _fixed_optimizers() -> dict[str, tuple[str, dict[str, float]]]:
    # TaskSet: for lr in np.logspace(-7, 1, 17): register "adam_lr_%.2f" % np.log10(lr).
    lrs = [(f"{np.log10(lr):.2f}", float(lr)) for lr in np.logspace(-7, 1, 17)]
    out: dict[str, tuple[str, dict[str, float]]] = {}
    for suffix, lr in lrs:
        out[f"adam_lr_{suffix}"] = ("adam1p_wide_grid", {"learning_rate": lr})
    for suffix, lr in lrs:
        cfg = {"learning_rate": lr, "initial_accumulator_value": _TF_ADAGRAD_INITIAL_ACCUMULATOR}
        out[f"adagrad_lr_{suffix}"] = ("adagrad_wide_grid", cfg)
    return out


#: TaskSet's fixed optimizers: name -> (space whose rule runs it, config).
FIXED_OPTIMIZERS: Mapping[str, tuple[str, dict[str, float]]] = types.MappingProxyType(
    _fixed_optimizers()
)


def _closest(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.5)
    return f" Did you mean {', '.join(close)}?" if close else ""


def get_space(name: str) -> SearchSpace:
    """The search space called ``name`` (KeyError listing the closest names if unknown)."""
    try:
        return SPACES[name]
    except (KeyError, TypeError):
        raise KeyError(
            f"unknown optimizer search space {name!r}.{_closest(str(name), SPACES)} "
            f"Valid spaces: {', '.join(SPACES)}"
        ) from None


def resolve_optimizer(name: str) -> tuple[SearchSpace, dict[str, Any]]:
    """``<space>_seed<N>`` or a fixed name like ``adam_lr_-3.00`` -> (space, config)."""
    if name in FIXED_OPTIMIZERS:
        space, cfg = FIXED_OPTIMIZERS[name]
        return SPACES[space], dict(cfg)
    parsed = parse_seed_name(name)
    if parsed and parsed[0] in SPACES:
        space = SPACES[parsed[0]]
        return space, space.sample(parsed[1])
    examples = [f"{s}_seed0" for s in SPACES] + list(FIXED_OPTIMIZERS)
    raise KeyError(
        f"unknown optimizer name {name!r}.{_closest(str(name), examples)} Valid names: "
        f"<space>_seed<N> with space in {', '.join(SPACES)}, or a fixed name "
        f"(adam_lr_<x>, adagrad_lr_<x> with x in -7.00, -6.50, ..., 1.00)"
    )


def optimizer_config(name: str) -> dict[str, Any]:
    """TaskSet's config for an optimizer name, e.g. ``adam8p_wide_grid_seed3`` or
    ``adam_lr_-3.00`` (KeyError listing the closest names if unknown)."""
    return resolve_optimizer(name)[1]
