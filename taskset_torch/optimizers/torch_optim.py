"""TaskSet's update rules under their own names: ``torch.optim`` classes and vectorized twins.

The math lives once in :mod:`taskset_torch.optimizers.kernels`; these classes only give each
rule keyword-only hyperparameters named as in TaskSet's configs (so ``NAdamW(params, **cfg,
training_steps=T)`` works) and docstrings. Schedules are built in: each optimizer counts its own
steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from taskset_torch.optimizers.kernels import ADAM8P, NADAMW, TF_ADAGRAD, TF_ADAM
from taskset_torch.optimizers.rules import RuleOptimizer, VectorizedRule

__all__ = [
    "TFAdam",
    "Adam8P",
    "NAdamW",
    "TFAdagrad",
    "VectorizedTFAdam",
    "VectorizedAdam8P",
    "VectorizedNAdamW",
    "VectorizedTFAdagrad",
]

ParamsT = Iterable[torch.Tensor] | Iterable[dict[str, Any]]


class TFAdam(RuleOptimizer):
    """``tf.train.AdamOptimizer`` (TF1): epsilon is added *outside* the bias correction.

    ``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)``; ``p -= lr_t * m / (sqrt(v) + epsilon)``,
    with ``t`` = 1 at the first update. ``torch.optim.Adam`` instead divides by
    ``sqrt(v / (1 - beta2^t)) + eps``; the two coincide exactly when ``epsilon == 0`` and otherwise
    differ by the effective epsilon ``epsilon / sqrt(1 - beta2^t)`` (larger early in training).
    """

    rule = TF_ADAM

    def __init__(
        self,
        params: ParamsT,
        *,
        learning_rate: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
    ):
        hparams = dict(learning_rate=learning_rate, beta1=beta1, beta2=beta2, epsilon=epsilon)
        super().__init__(params, hparams)


class Adam8P(RuleOptimizer):
    """TaskSet's 8-hyperparameter Adam: Adam + l1/l2 penalties + linear/exponential lr decay.

    The penalties ``l1 * sum|p| + l2 * sum p^2`` that TaskSet adds to the loss enter here as their
    gradient ``l1 * sign(p) + 2 * l2 * p`` (the reported loss stays the task's loss). Then
    ``m_hat / (sqrt(v_hat + 1e-10) + epsilon)`` is scaled by :func:`adam8p_learning_rate` on the
    ``training_steps`` horizon (TaskSet: 10k). Defaults for l1/l2 are 0 (TaskSet's class
    defaulted to 1e-7).
    """

    rule = ADAM8P

    def __init__(
        self,
        params: ParamsT,
        *,
        learning_rate: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        l1: float = 0.0,
        l2: float = 0.0,
        linear_decay: float = 0.0,
        exponential_decay: float = 0.0,
        training_steps: int = 10000,
    ):
        hparams = dict(
            learning_rate=learning_rate,
            beta1=beta1,
            beta2=beta2,
            epsilon=epsilon,
            l1=l1,
            l2=l2,
            linear_decay=linear_decay,
            exponential_decay=exponential_decay,
        )
        super().__init__(params, hparams, training_steps=training_steps)


class NAdamW(RuleOptimizer):
    """NAdam/AdamW with TaskSet's cosine/warmup schedule over ``training_steps``.

    ``g = grad - l2_weight_decay * p`` (minus sign as in every TaskSet/opt_list implementation);
    TF-Adam moments and bias correction; Nesterov numerator ``beta1*m + (1-beta1)*g`` when
    ``use_nesterov``; AdamW decay ``lr_t * adamw_weight_decay * p``. The rate follows
    :func:`cosine_learning_rate` with ``warmup_semantics`` ("min": TaskSet's TF code, the default;
    "max": opt_list's PyTorch port).
    """

    rule = NADAMW

    def __init__(
        self,
        params: ParamsT,
        *,
        learning_rate: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        use_nesterov: bool = False,
        adamw_weight_decay: float = 0.0,
        l2_weight_decay: float = 0.0,
        warmup_fraction: float = 0.0,
        min_learning_rate_mult: float = 1.0,
        constant_fraction: float = 1.0,
        training_steps: int = 10000,
        warmup_semantics: str = "min",
    ):
        hparams = dict(
            learning_rate=learning_rate,
            beta1=beta1,
            beta2=beta2,
            epsilon=epsilon,
            use_nesterov=use_nesterov,
            adamw_weight_decay=adamw_weight_decay,
            l2_weight_decay=l2_weight_decay,
            warmup_fraction=warmup_fraction,
            min_learning_rate_mult=min_learning_rate_mult,
            constant_fraction=constant_fraction,
        )
        super().__init__(
            params, hparams, training_steps=training_steps, warmup_semantics=warmup_semantics
        )


class TFAdagrad(RuleOptimizer):
    """``tf.train.AdagradOptimizer`` (TF1): ``acc += g^2; p -= lr * g / sqrt(acc)``.

    The accumulator starts at ``initial_accumulator_value`` and there is no epsilon; this equals
    ``torch.optim.Adagrad(lr, initial_accumulator_value=..., eps=0, lr_decay=0)``.
    """

    rule = TF_ADAGRAD

    def __init__(
        self,
        params: ParamsT,
        *,
        learning_rate: float = 1e-3,
        initial_accumulator_value: float = 0.1,
    ):
        hparams = dict(
            learning_rate=learning_rate, initial_accumulator_value=initial_accumulator_value
        )
        super().__init__(params, hparams)


class VectorizedTFAdam(VectorizedRule):
    """:class:`TFAdam` over K configs (``VectorizedTFAdam(configs, training_steps)``)."""

    rule = TF_ADAM


class VectorizedAdam8P(VectorizedRule):
    """:class:`Adam8P` over K configs; ``schedule_steps`` is the decays' horizon (default
    ``training_steps``; TaskSet's adam8p getter always used 10000)."""

    rule = ADAM8P


class VectorizedNAdamW(VectorizedRule):
    """:class:`NAdamW` over K configs (``warmup_semantics`` as there). Configs with and without
    Nesterov mix in one batch."""

    rule = NADAMW


class VectorizedTFAdagrad(VectorizedRule):
    """:class:`TFAdagrad` over K configs."""

    rule = TF_ADAGRAD
