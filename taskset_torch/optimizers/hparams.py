"""Domains of every optimizer hyperparameter, shared by the search spaces and the optimizers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskset_torch.optimizers.base import HParam

__all__ = [
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
    "check_hparams",
]

LEARNING_RATE = HParam("learning_rate")
# beta = 1 makes the bias correction 1/(1 - beta^t) infinite.
BETA1 = HParam("beta1", high=1.0)
BETA2 = HParam("beta2", high=1.0)
EPSILON = HParam("epsilon")
L1 = HParam("l1")
L2 = HParam("l2")
LINEAR_DECAY = HParam("linear_decay")
EXPONENTIAL_DECAY = HParam("exponential_decay")
USE_NESTEROV = HParam("use_nesterov", kind="bool")
ADAMW_WEIGHT_DECAY = HParam("adamw_weight_decay")
L2_WEIGHT_DECAY = HParam("l2_weight_decay")
WARMUP_FRACTION = HParam("warmup_fraction", high=1.0, high_inclusive=True)
MIN_LEARNING_RATE_MULT = HParam("min_learning_rate_mult")
CONSTANT_FRACTION = HParam("constant_fraction", high=1.0, high_inclusive=True)
# TF's Adagrad requires a positive accumulator (it divides by its square root).
INITIAL_ACCUMULATOR_VALUE = HParam("initial_accumulator_value", low=0.0, low_inclusive=False)

#: The hyperparameters each update rule takes, shared by the vectorized rules and the
#: single-config optimizers (adam1p/4p use ADAM_KEYS, adam6p/8p ADAM8P_KEYS).
ADAM_KEYS = ("learning_rate", "beta1", "beta2", "epsilon")
ADAM8P_KEYS = (*ADAM_KEYS, "l1", "l2", "linear_decay", "exponential_decay")
NADAMW_KEYS = (
    *ADAM_KEYS,
    "use_nesterov",
    "adamw_weight_decay",
    "l2_weight_decay",
    "warmup_fraction",
    "min_learning_rate_mult",
    "constant_fraction",
)
ADAGRAD_KEYS = ("learning_rate", "initial_accumulator_value")

_BY_NAME = {
    h.name: h
    for h in (
        LEARNING_RATE,
        BETA1,
        BETA2,
        EPSILON,
        L1,
        L2,
        LINEAR_DECAY,
        EXPONENTIAL_DECAY,
        USE_NESTEROV,
        ADAMW_WEIGHT_DECAY,
        L2_WEIGHT_DECAY,
        WARMUP_FRACTION,
        MIN_LEARNING_RATE_MULT,
        CONSTANT_FRACTION,
        INITIAL_ACCUMULATOR_VALUE,
    )
}


def check_hparams(where: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Check named hyperparameters against their domains (a ValueError names field and range)."""
    return {k: _BY_NAME[k].check(v, where) for k, v in values.items()}
