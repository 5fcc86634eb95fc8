"""Learning-rate schedules and bias corrections, for Python floats and ``[K, 1]`` tensors alike.

Each function is one formula written with small type-dispatching helpers, so the single-config
optimizers (floats) and the vectorized rules (tensors, one row per config) compute the same thing.
"""

from __future__ import annotations

import math

import torch

from taskset_torch.optimizers.base import check_training_steps

__all__ = [
    "WARMUP_SEMANTICS",
    "cosine_learning_rate",
    "adam8p_learning_rate",
    "one_minus_pow",
]

Scalar = float | torch.Tensor

#: How NAdamW's warmup length is derived: TaskSet's TF code (which made the curves) uses
#: ``min(warmup_fraction, constant_fraction)``; opt_list's PyTorch/JAX ports use ``max``.
WARMUP_SEMANTICS: tuple[str, ...] = ("min", "max")

# Stands in for a zero denominator; only ever reached when the numerator is zero too.
_TINY = 1e-30


def _minimum(a: Scalar, b: Scalar) -> Scalar:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return torch.minimum(a, b)
    if isinstance(a, torch.Tensor):
        return a.clamp_max(b)
    if isinstance(b, torch.Tensor):
        return b.clamp_max(a)
    return min(a, b)


def _maximum(a: Scalar, b: Scalar) -> Scalar:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return torch.maximum(a, b)
    if isinstance(a, torch.Tensor):
        return a.clamp_min(b)
    if isinstance(b, torch.Tensor):
        return b.clamp_min(a)
    return max(a, b)


def _cos(x: Scalar) -> Scalar:
    return torch.cos(x) if isinstance(x, torch.Tensor) else math.cos(x)


def _exp(x: Scalar) -> Scalar:
    return torch.exp(x) if isinstance(x, torch.Tensor) else math.exp(x)


def _where(cond: bool | torch.Tensor, a: Scalar, b: Scalar) -> Scalar:
    if isinstance(cond, torch.Tensor):
        return torch.where(cond, a, b)
    return a if cond else b


def one_minus_pow(one_minus_beta: Scalar, t: int) -> Scalar:
    """``1 - beta**t`` computed from ``1 - beta`` without cancellation.

    ``beta2`` can be 1 - 1e-6; in float32 ``1 - beta2**t`` would lose most of its digits, while
    ``-expm1(t * log1p(-(1 - beta)))`` keeps full relative precision.
    """
    if isinstance(one_minus_beta, torch.Tensor):
        return torch.expm1(torch.log1p(-one_minus_beta) * t).neg_()
    if one_minus_beta >= 1.0:  # beta = 0: math.log1p(-1) would raise
        return 1.0
    return -math.expm1(t * math.log1p(-one_minus_beta))


def cosine_learning_rate(
    step: Scalar,
    *,
    learning_rate: Scalar,
    training_steps: int,
    constant_fraction: Scalar,
    warmup_fraction: Scalar,
    min_learning_rate_mult: Scalar,
    warmup_semantics: str = "min",
) -> Scalar:
    """NAdamW's learning rate after ``step`` previous updates (TaskSet's cosine schedule).

    Constant ``learning_rate`` until ``c = training_steps * constant_fraction``, then a half cosine
    down to ``min_learning_rate_mult * learning_rate`` at ``training_steps`` (held after it). With
    ``warmup_fraction > 0`` the rate first rises linearly from 0 over ``w`` steps, where
    ``w = training_steps * min(warmup_fraction, constant_fraction)`` (``warmup_semantics="min"``,
    TaskSet's TF code, which produced the curves) or ``max(...)`` (``"max"``, opt_list's
    PyTorch/JAX ports). Departure: where TF would form ``0 * inf`` (``constant_fraction == 0`` with
    a warmup, or ``constant_fraction == 1``) we select instead, giving the finite limit.
    """
    if warmup_semantics not in WARMUP_SEMANTICS:
        raise ValueError(
            f"warmup_semantics must be one of {WARMUP_SEMANTICS}, got {warmup_semantics!r}"
        )
    total = float(check_training_steps(training_steps))
    g = _minimum(step, total)  # the schedule is held after training_steps
    c = constant_fraction * total
    x = _maximum(g, c)
    lr_min = min_learning_rate_mult * learning_rate
    span = _maximum(total - c, _TINY)
    decay = (learning_rate - lr_min) * (_cos((x - c) * math.pi / span) * 0.5 + 0.5) + lr_min
    pick = _minimum if warmup_semantics == "min" else _maximum
    w = pick(warmup_fraction, constant_fraction) * total
    warm = g / _maximum(w, _TINY) * learning_rate
    in_warmup = (warmup_fraction > 0) & (w > g)
    return _where(in_warmup, warm, decay)


def adam8p_learning_rate(
    step: Scalar,
    *,
    learning_rate: Scalar,
    linear_decay: Scalar,
    exponential_decay: Scalar,
    training_steps: int = 10000,
) -> Scalar:
    """Adam8P's learning rate after ``step`` previous updates.

    ``lr * exp(-exponential_decay * t) * max(1 - linear_decay * t, 0)`` on the rescaled step
    ``t = (10000 / training_steps) * step``: the decays were tuned for 10k steps.
    """
    t = (10000.0 / check_training_steps(training_steps)) * step
    return _exp(-exponential_decay * t) * _maximum(1.0 - linear_decay * t, 0.0) * learning_rate
