"""TaskSet's optimizer search spaces, its fixed ``adam_lr_*``/``adagrad_lr_*`` optimizers, by name.

Samplers follow ``task_set/optimizers/*.py`` draw for draw (RNG offsets, order, TaskSet's reversed
``exponential_decay`` bounds), so ``get_space(s).sample(n)`` equals the stored ``<s>_seed<n>``.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from taskset_torch.curves.names import parse_seed_name
from taskset_torch.optimizers import hparams as hp
from taskset_torch.optimizers.base import SearchSpace, check_training_steps
from taskset_torch.optimizers.rules import (
    VectorizedAdam8P,
    VectorizedNAdamW,
    VectorizedTFAdagrad,
    VectorizedTFAdam,
)
from taskset_torch.optimizers.torch_optim import Adam8P, NAdamW, ParamsT, TFAdagrad, TFAdam
from taskset_torch.sampling import rng_for, sample_log_float

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

Schedulerless = tuple[torch.optim.Optimizer, None]

# tf.train.AdamOptimizer's defaults, which adam1p (and the fixed adam_lr_* optimizers) keep.
_TF_ADAM_DEFAULTS = {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
# tf.train.AdagradOptimizer's default accumulator, used by the fixed adagrad_lr_* optimizers.
_TF_ADAGRAD_INITIAL_ACCUMULATOR = 0.1
# TaskSet meta-trained on 10k steps; Adam8P's decays are defined on that horizon.
_TASKSET_STEPS = 10000


def _adam4(rng: np.random.RandomState) -> dict[str, float]:
    """The four Adam draws shared by adam4p/6p/8p, in TaskSet's order."""
    return {
        "learning_rate": sample_log_float(rng, 1e-8, 1e1),
        "beta1": 1 - sample_log_float(rng, 1e-4, 1e0),
        "beta2": 1 - sample_log_float(rng, 1e-6, 1e0),
        "epsilon": sample_log_float(rng, 1e-10, 1e3),
    }


class Adam1PSpace(SearchSpace):
    """Learning rate only, logU[1e-8, 10]; TF Adam with default betas/epsilon, constant rate."""

    name = "adam1p_wide_grid"
    hparam_specs = (hp.LEARNING_RATE,)

    def sample(self, seed: int) -> dict[str, Any]:
        rng = rng_for(seed, 4123)
        return {"learning_rate": sample_log_float(rng, 1e-8, 1e1)}

    def _full(self, cfg: Mapping[str, Any]) -> dict[str, Any]:
        return {**_TF_ADAM_DEFAULTS, **self.validate(cfg)}

    def vectorized(
        self, configs: Sequence[Mapping[str, Any]], training_steps: int
    ) -> VectorizedTFAdam:
        full = [self._full(c) for c in self.validate_all(configs)]
        return VectorizedTFAdam(full, training_steps)

    def torch_optimizer(
        self, params: ParamsT, cfg: Mapping[str, Any], training_steps: int
    ) -> Schedulerless:
        check_training_steps(training_steps)
        return TFAdam(params, **self._full(cfg)), None


class Adam4PSpace(Adam1PSpace):
    """TF Adam with sampled lr, beta1, beta2, epsilon; constant rate."""

    name = "adam4p_wide_grid"
    hparam_specs = (hp.LEARNING_RATE, hp.BETA1, hp.BETA2, hp.EPSILON)

    def sample(self, seed: int) -> dict[str, Any]:
        return _adam4(rng_for(seed))


class Adam8PSpace(SearchSpace):
    """Adam8P: adam4p's four, then l1, l2, linear_decay, exponential_decay.

    As in TaskSet, the decays run on the fixed 10k-step horizon whatever ``training_steps`` is
    (TaskSet's adam8p getter dropped it); set ``rescale_schedule=True`` to stretch them instead.
    """

    name = "adam8p_wide_grid"
    hparam_specs = (
        hp.LEARNING_RATE,
        hp.BETA1,
        hp.BETA2,
        hp.EPSILON,
        hp.L1,
        hp.L2,
        hp.LINEAR_DECAY,
        hp.EXPONENTIAL_DECAY,
    )

    def __init__(self, *, rescale_schedule: bool = False):
        self.rescale_schedule = rescale_schedule

    def sample(self, seed: int) -> dict[str, Any]:
        rng = rng_for(seed)  # the same stream as adam4p: adam4p_seedN is a prefix of this
        cfg = _adam4(rng)
        cfg["l1"] = sample_log_float(rng, 1e-8, 1e1)
        cfg["l2"] = sample_log_float(rng, 1e-8, 1e1)
        cfg["linear_decay"] = sample_log_float(rng, 1e-7, 1e-4)
        # TaskSet writes these bounds reversed; log-uniform on [1e-6, 1e-3] all the same, but a
        # different number for a given seed than (1e-6, 1e-3).
        cfg["exponential_decay"] = sample_log_float(rng, 1e-3, 1e-6)
        return cfg

    def _full(self, cfg: Mapping[str, Any]) -> dict[str, Any]:
        return self.validate(cfg)

    def _schedule_steps(self, training_steps: int) -> int:
        steps = check_training_steps(training_steps)
        return steps if self.rescale_schedule else _TASKSET_STEPS

    def vectorized(
        self, configs: Sequence[Mapping[str, Any]], training_steps: int
    ) -> VectorizedAdam8P:
        full = [self._full(c) for c in self.validate_all(configs)]
        return VectorizedAdam8P(
            full, training_steps, schedule_steps=self._schedule_steps(training_steps)
        )

    def torch_optimizer(
        self, params: ParamsT, cfg: Mapping[str, Any], training_steps: int
    ) -> Schedulerless:
        steps = self._schedule_steps(training_steps)
        return Adam8P(params, **self._full(cfg), training_steps=steps), None


class Adam6PSpace(Adam8PSpace):
    """Adam8P without l1/l2 (own RNG offset); decays rescaled to ``training_steps`` as in TaskSet."""

    name = "adam6p_wide_grid"
    hparam_specs = (
        hp.LEARNING_RATE,
        hp.BETA1,
        hp.BETA2,
        hp.EPSILON,
        hp.LINEAR_DECAY,
        hp.EXPONENTIAL_DECAY,
    )

    def __init__(self, *, rescale_schedule: bool = True):
        self.rescale_schedule = rescale_schedule

    def sample(self, seed: int) -> dict[str, Any]:
        rng = rng_for(seed, 123455)
        cfg = _adam4(rng)
        cfg["linear_decay"] = sample_log_float(rng, 1e-7, 1e-4)
        cfg["exponential_decay"] = sample_log_float(rng, 1e-3, 1e-6)  # reversed, as TaskSet
        return cfg

    def _full(self, cfg: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.validate(cfg), "l1": 0.0, "l2": 0.0}


class NAdamWSpace(SearchSpace):
    """TaskSet's ``nadamw_grid`` (the space of opt_list): NAdamW + cosine/warmup schedule."""

    name = "nadamw_grid"
    hparam_specs = (
        hp.LEARNING_RATE,
        hp.BETA1,
        hp.BETA2,
        hp.EPSILON,
        hp.USE_NESTEROV,
        hp.ADAMW_WEIGHT_DECAY,
        hp.L2_WEIGHT_DECAY,
        hp.WARMUP_FRACTION,
        hp.MIN_LEARNING_RATE_MULT,
        hp.CONSTANT_FRACTION,
    )

    def sample(self, seed: int) -> dict[str, Any]:
        rng = rng_for(seed, 14358)
        cfg: dict[str, Any] = {
            "learning_rate": sample_log_float(rng, 1e-5, 1e0),
            "beta1": 1 - sample_log_float(rng, 1e-3, 1e0),
            "beta2": 1 - sample_log_float(rng, 1e-5, 1e0),
            "epsilon": sample_log_float(rng, 1e-8, 1e4),
            "use_nesterov": bool(rng.uniform(0.0, 1.0) > 0.5),
        }
        # One third AdamW-style decay only, one third l2 only, one third both.
        r = rng.uniform(0.0, 1.0)
        if r < 0.3333:
            cfg["adamw_weight_decay"] = sample_log_float(rng, 1e-5, 1e-1)
            cfg["l2_weight_decay"] = 0.0
        elif r < 0.6666:
            cfg["adamw_weight_decay"] = 0.0
            cfg["l2_weight_decay"] = sample_log_float(rng, 1e-5, 1e-1)
        else:
            cfg["adamw_weight_decay"] = sample_log_float(rng, 1e-5, 1e-1)
            cfg["l2_weight_decay"] = sample_log_float(rng, 1e-5, 1e-1)
        use_warmup = rng.uniform(0.0, 1.0) > 0.5
        cfg["warmup_fraction"] = sample_log_float(rng, 1e-5, 1e-1) if use_warmup else 0.0
        decay_to_zero = rng.uniform(0.0, 1.0) > 0.5
        cfg["min_learning_rate_mult"] = 0.0 if decay_to_zero else sample_log_float(rng, 1e-5, 1.0)
        cfg["constant_fraction"] = rng.uniform(0.0, 1.0)
        return cfg

    def vectorized(
        self,
        configs: Sequence[Mapping[str, Any]],
        training_steps: int,
        *,
        warmup_semantics: str = "min",
    ) -> VectorizedNAdamW:
        return VectorizedNAdamW(
            self.validate_all(configs), training_steps, warmup_semantics=warmup_semantics
        )

    def torch_optimizer(
        self,
        params: ParamsT,
        cfg: Mapping[str, Any],
        training_steps: int,
        *,
        warmup_semantics: str = "min",
    ) -> Schedulerless:
        opt = NAdamW(
            params,
            **self.validate(cfg),
            training_steps=check_training_steps(training_steps),
            warmup_semantics=warmup_semantics,
        )
        return opt, None


class AdagradSpace(SearchSpace):
    """TF Adagrad with sampled lr and initial accumulator value."""

    name = "adagrad_wide_grid"
    hparam_specs = (hp.LEARNING_RATE, hp.INITIAL_ACCUMULATOR_VALUE)

    def sample(self, seed: int) -> dict[str, Any]:
        rng = rng_for(seed)
        return {
            "learning_rate": sample_log_float(rng, 1e-8, 1e1),
            "initial_accumulator_value": sample_log_float(rng, 1e-10, 1e3),
        }

    def vectorized(
        self, configs: Sequence[Mapping[str, Any]], training_steps: int
    ) -> VectorizedTFAdagrad:
        return VectorizedTFAdagrad(self.validate_all(configs), training_steps)

    def torch_optimizer(
        self, params: ParamsT, cfg: Mapping[str, Any], training_steps: int
    ) -> Schedulerless:
        check_training_steps(training_steps)
        return TFAdagrad(params, **self.validate(cfg)), None


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
