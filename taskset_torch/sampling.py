"""Primitive samplers shared by task families and optimizer search spaces.

Every sampler draws from an explicit ``numpy.random.RandomState`` so a ``<name>_seed<N>``
config is reproduced exactly. Scalars go through ``math.exp``/``math.log`` (correctly rounded)
rather than ``numpy.exp``, which differs in the last bit for ~3% of values and would break
bit-exact agreement with TaskSet's stored configs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "rng_for",
    "sample_log_int",
    "sample_linear_int",
    "sample_log_float",
    "sample_bool",
    "choice",
]


def rng_for(seed: int, offset: int = 0) -> np.random.RandomState:
    """The RandomState TaskSet uses for ``seed`` in a sampler with the given offset."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.RandomState(int(seed) + offset)


def sample_log_float(rng: np.random.RandomState, low: float, high: float) -> float:
    """exp(U(log low, log high)); ``low > high`` is allowed and kept as TaskSet wrote it."""
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def sample_log_int(rng: np.random.RandomState, low: int, high: int) -> int:
    return int(round(sample_log_float(rng, low, high)))


def sample_linear_int(rng: np.random.RandomState, low: int, high: int) -> int:
    return int(round(rng.uniform(low, high)))


def sample_bool(rng: np.random.RandomState, p: float) -> bool:
    return bool(rng.uniform() < p)


def choice(rng: np.random.RandomState, options: Sequence[Any]) -> Any:
    """Uniform choice, drawn as ``rng.choice`` over indices (TaskSet's draw order)."""
    return options[int(rng.choice(len(options)))]
