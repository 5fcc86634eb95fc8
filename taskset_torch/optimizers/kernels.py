"""TaskSet's update rules, each written once as element-wise code (TF1 semantics).

Every kernel takes ``h``, its hyperparameters as Python floats (one config on one tensor, as
torch's ``_single_tensor_*`` functions) or as ``[K, 1]`` tensors broadcasting over a ``[K, P]``
buffer; :mod:`taskset_torch.optimizers.rules` runs them both ways. Per-step scalars (bias
corrections, schedules) use the helpers of :mod:`~taskset_torch.optimizers.schedules`, which
accept either. Updates are in place; an optional term is skipped when its value is the float 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from typing import Any

import torch

from taskset_torch.optimizers import hparams as hp
from taskset_torch.optimizers.rules import Hyper, Scalar, UpdateRule
from taskset_torch.optimizers.schedules import (
    WARMUP_SEMANTICS,
    adam8p_learning_rate,
    cosine_learning_rate,
    one_minus_pow,
)

__all__ = ["TF_ADAM", "ADAM8P", "NADAMW", "TF_ADAGRAD"]

State = MutableMapping[str, Any]


# -- helpers that accept a float or a [K, 1] tensor ----------------------------------------------


def _sqrt(x: Scalar) -> Scalar:
    return x.sqrt() if isinstance(x, torch.Tensor) else math.sqrt(x)


def _is_zero(x: Scalar) -> bool:
    """True only for a Python 0: a tensor is never tested (that would sync the device)."""
    return not isinstance(x, torch.Tensor) and x == 0


def _add_scaled(g: torch.Tensor, x: torch.Tensor, a: Scalar, sign: float = 1.0) -> torch.Tensor:
    """``g + sign * a * x`` (out of place: ``g`` may be the caller's gradient)."""
    if isinstance(a, torch.Tensor):
        return torch.addcmul(g, x, a, value=sign)
    return torch.add(g, x, alpha=sign * a)


def _filled(p: torch.Tensor, value: Scalar) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        full = value.to(p.dtype).expand_as(p)
        return full.clone(memory_format=torch.contiguous_format)
    return torch.full_like(p, value, memory_format=torch.preserve_format)


# -- Adam's moments, shared by the three Adam variants -------------------------------------------


def _one_minus_betas(cfg: Mapping[str, Any]) -> dict[str, float]:
    # 1 - beta from the float64 config, not from float32(beta): beta2 = 1 - 1e-6 would
    # otherwise be off by several percent in (1 - beta2).
    return {"one_minus_beta1": 1.0 - cfg["beta1"], "one_minus_beta2": 1.0 - cfg["beta2"]}


def _zero_moments(p: torch.Tensor, h: Hyper) -> dict[str, torch.Tensor]:
    return {
        "m": torch.zeros_like(p, memory_format=torch.preserve_format),
        "v": torch.zeros_like(p, memory_format=torch.preserve_format),
    }


def _moments(state: State, g: torch.Tensor, h: Hyper) -> tuple[torch.Tensor, torch.Tensor]:
    m, v = state["m"], state["v"]
    m.lerp_(g, h["one_minus_beta1"])
    v.lerp_(g * g, h["one_minus_beta2"])
    return m, v


def _tf_adam_lr(lr: Scalar, h: Hyper, step: int) -> Scalar:
    """``lr * sqrt(1 - beta2^t) / (1 - beta1^t)`` with ``t = step + 1``."""
    t = step + 1
    return (
        lr * _sqrt(one_minus_pow(h["one_minus_beta2"], t)) / one_minus_pow(h["one_minus_beta1"], t)
    )


# -- TF1 Adam ------------------------------------------------------------------------------------


def _tf_adam(p: torch.Tensor, g: torch.Tensor, state: State, h: Hyper, lr: Scalar, step: int):
    """``p -= lr_t * m / (sqrt(v) + epsilon)``: epsilon outside the bias correction, as TF."""
    m, v = _moments(state, g, h)
    denom = v.sqrt().add_(h["epsilon"])
    p.addcdiv_(m * _tf_adam_lr(lr, h, step), denom, value=-1.0)


TF_ADAM = UpdateRule(
    name="tf_adam",
    hparams=(hp.LEARNING_RATE, hp.BETA1, hp.BETA2, hp.EPSILON),
    init_state=_zero_moments,
    update=_tf_adam,
    derived=_one_minus_betas,
)


# -- Adam8P: Adam + l1/l2 penalties + linear/exponential decay ----------------------------------


def _adam8p_derived(cfg: Mapping[str, Any]) -> dict[str, float]:
    return {**_one_minus_betas(cfg), "two_l2": 2.0 * cfg["l2"]}


def _adam8p_rate(h: Hyper, step: int, schedule_steps: int, options: Mapping[str, Any]) -> Scalar:
    return adam8p_learning_rate(
        step,
        learning_rate=h["learning_rate"],
        linear_decay=h["linear_decay"],
        exponential_decay=h["exponential_decay"],
        training_steps=schedule_steps,
    )


def _adam8p(p: torch.Tensor, g: torch.Tensor, state: State, h: Hyper, lr: Scalar, step: int):
    """d/dp (l1 |p| + l2 p^2) added to the gradient (TaskSet adds the penalties to the loss),
    then ``lr * m_hat / (sqrt(v_hat + 1e-10) + epsilon)``."""
    if not _is_zero(h["l1"]):
        g = _add_scaled(g, p.sign(), h["l1"])
    if not _is_zero(h["two_l2"]):
        g = _add_scaled(g, p, h["two_l2"])
    m, v = _moments(state, g, h)
    t = step + 1
    denom = v.div(one_minus_pow(h["one_minus_beta2"], t)).add_(1e-10).sqrt_().add_(h["epsilon"])
    p.addcdiv_(m * (lr / one_minus_pow(h["one_minus_beta1"], t)), denom, value=-1.0)


ADAM8P = UpdateRule(
    name="adam8p",
    hparams=(
        *TF_ADAM.hparams,
        hp.L1,
        hp.L2,
        hp.LINEAR_DECAY,
        hp.EXPONENTIAL_DECAY,
    ),
    init_state=_zero_moments,
    update=_adam8p,
    derived=_adam8p_derived,
    learning_rate=_adam8p_rate,
    schedule_off={"linear_decay": 0.0, "exponential_decay": 0.0},
    skip_if_zero=("l1", "two_l2"),
)


# -- NAdamW with TaskSet's cosine/warmup schedule -----------------------------------------------


def _nadamw_derived(cfg: Mapping[str, Any]) -> dict[str, float]:
    # Nesterov's numerator lerp(m, g, (1 - beta1) * use_nesterov) is exactly m where it is off,
    # so configs with and without it share one [K, P] update.
    nesterov = (1.0 - cfg["beta1"]) * bool(cfg["use_nesterov"])
    return {**_one_minus_betas(cfg), "nesterov_weight": nesterov}


def _nadamw_rate(h: Hyper, step: int, schedule_steps: int, options: Mapping[str, Any]) -> Scalar:
    return cosine_learning_rate(
        step,
        learning_rate=h["learning_rate"],
        training_steps=schedule_steps,
        constant_fraction=h["constant_fraction"],
        warmup_fraction=h["warmup_fraction"],
        min_learning_rate_mult=h["min_learning_rate_mult"],
        warmup_semantics=options["warmup_semantics"],
    )


def _nadamw(p: torch.Tensor, g: torch.Tensor, state: State, h: Hyper, lr: Scalar, step: int):
    """``g - l2_weight_decay * p`` (minus as in TaskSet's and opt_list's code), TF-Adam moments,
    Nesterov numerator, AdamW decay ``lr_t * adamw_weight_decay * p``."""
    if not _is_zero(h["l2_weight_decay"]):
        g = _add_scaled(g, p, h["l2_weight_decay"], sign=-1.0)
    m, v = _moments(state, g, h)
    lr_t = _tf_adam_lr(lr, h, step)
    num = m if _is_zero(h["nesterov_weight"]) else torch.lerp(m, g, h["nesterov_weight"])
    denom = v.sqrt().add_(h["epsilon"])
    if not _is_zero(h["adamw_weight_decay"]):
        p.mul_(1.0 - lr_t * h["adamw_weight_decay"])
    p.addcdiv_(num * lr_t, denom, value=-1.0)


NADAMW = UpdateRule(
    name="nadamw",
    hparams=(
        *TF_ADAM.hparams,
        hp.USE_NESTEROV,
        hp.ADAMW_WEIGHT_DECAY,
        hp.L2_WEIGHT_DECAY,
        hp.WARMUP_FRACTION,
        hp.MIN_LEARNING_RATE_MULT,
        hp.CONSTANT_FRACTION,
    ),
    init_state=_zero_moments,
    update=_nadamw,
    derived=_nadamw_derived,
    learning_rate=_nadamw_rate,
    schedule_off={"constant_fraction": 1.0, "warmup_fraction": 0.0, "min_learning_rate_mult": 1.0},
    skip_if_zero=("l2_weight_decay", "adamw_weight_decay", "nesterov_weight"),
    options={"warmup_semantics": WARMUP_SEMANTICS},
)


# -- TF1 Adagrad ---------------------------------------------------------------------------------


def _adagrad_state(p: torch.Tensor, h: Hyper) -> dict[str, torch.Tensor]:
    return {"accumulator": _filled(p, h["initial_accumulator_value"])}


def _tf_adagrad(p: torch.Tensor, g: torch.Tensor, state: State, h: Hyper, lr: Scalar, step: int):
    """``acc += g^2; p -= lr * g / sqrt(acc)`` (no epsilon; the accumulator starts positive)."""
    acc = state["accumulator"]
    acc.addcmul_(g, g)
    p.addcmul_(g, acc.rsqrt().mul_(lr), value=-1.0)


TF_ADAGRAD = UpdateRule(
    name="tf_adagrad",
    hparams=(hp.LEARNING_RATE, hp.INITIAL_ACCUMULATOR_VALUE),
    init_state=_adagrad_state,
    update=_tf_adagrad,
)
