"""Vectorized update rules: K configs on one flat ``[K, P]`` buffer, ``[K, 1]`` hyperparameters.

Each rule is the element-wise twin of a single-config optimizer in ``torch_optim.py`` (same
formulas, same op order), mostly in place. Nothing mixes rows, so a diverged config (NaN/inf)
leaves the others untouched. Per-step scalars (bias corrections, schedules) are ``[K, 1]`` tensor
ops on the hyperparameters' device: no host round trip per step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from taskset_torch.optimizers.base import VectorizedOptimizer, check_training_steps
from taskset_torch.optimizers.hparams import (
    ADAGRAD_KEYS,
    ADAM8P_KEYS,
    ADAM_KEYS,
    NADAMW_KEYS,
    check_hparams,
)
from taskset_torch.optimizers.schedules import (
    WARMUP_SEMANTICS,
    adam8p_learning_rate,
    cosine_learning_rate,
    one_minus_pow,
)

__all__ = ["VectorizedTFAdam", "VectorizedAdam8P", "VectorizedNAdamW", "VectorizedTFAdagrad"]


def _checked(
    rule: str, configs: Sequence[Mapping[str, Any]], keys: tuple[str, ...]
) -> list[dict[str, Any]]:
    out = []
    for i, c in enumerate(configs):
        missing = [k for k in keys if k not in c]
        if missing:
            raise ValueError(f"{rule}: config {i} lacks {missing}; it needs {', '.join(keys)}")
        out.append(check_hparams(f"{rule} config {i}", {k: c[k] for k in keys}))
    return out


class _AdamMoments(VectorizedOptimizer):
    """Shared by the Adam variants: first/second moments with ``1 - beta`` kept in float64."""

    _keys: tuple[str, ...] = ()

    def __init__(self, configs: Sequence[Mapping[str, Any]], training_steps: int):
        super().__init__(_checked(type(self).__name__, configs, self._keys), training_steps)
        for k in self._keys:
            if k != "use_nesterov":
                self._hparam(k)
        # 1 - beta from the float64 config, not from float32(beta): beta2 = 1 - 1e-6 would
        # otherwise be off by several percent in (1 - beta2).
        self._column("one_minus_beta1", (1.0 - c["beta1"] for c in self.configs))
        self._column("one_minus_beta2", (1.0 - c["beta2"] for c in self.configs))

    def _init(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"m": torch.zeros_like(params), "v": torch.zeros_like(params)}

    def _moments(self, state: dict[str, torch.Tensor], grads: torch.Tensor) -> None:
        h = self._tensors
        state["m"].lerp_(grads, h["one_minus_beta1"])
        state["v"].lerp_(grads * grads, h["one_minus_beta2"])

    def _tf_adam_lr(self, lr: torch.Tensor, step: int) -> torch.Tensor:
        """``lr * sqrt(1 - beta2^t) / (1 - beta1^t)`` with ``t = step + 1``."""
        h = self._tensors
        t = step + 1
        bc2 = one_minus_pow(h["one_minus_beta2"], t)
        return lr * bc2.sqrt_() / one_minus_pow(h["one_minus_beta1"], t)


class VectorizedTFAdam(_AdamMoments):
    """TF1 ``AdamOptimizer`` (see :class:`~taskset_torch.optimizers.torch_optim.TFAdam`)."""

    _keys = ADAM_KEYS

    def _update(
        self,
        params: torch.Tensor,
        grads: torch.Tensor,
        state: dict[str, torch.Tensor],
        step: int,
    ) -> None:
        h = self._tensors
        self._moments(state, grads)
        lr_t = self._tf_adam_lr(h["learning_rate"], step)
        denom = state["v"].sqrt().add_(h["epsilon"])
        params.addcdiv_(state["m"] * lr_t, denom, value=-1.0)


class VectorizedAdam8P(_AdamMoments):
    """Adam8P (see :class:`~taskset_torch.optimizers.torch_optim.Adam8P`).

    ``schedule_steps`` is the horizon the decays are rescaled to (default ``training_steps``);
    TaskSet's adam8p getter ignored the run length and always used 10000.
    """

    _keys = ADAM8P_KEYS

    def __init__(
        self,
        configs: Sequence[Mapping[str, Any]],
        training_steps: int,
        *,
        schedule_steps: int | None = None,
    ):
        super().__init__(configs, training_steps)
        self.schedule_steps = check_training_steps(
            training_steps if schedule_steps is None else schedule_steps
        )
        # Skip the penalty ops entirely when no config uses them (all of adam6p).
        self._use_l1 = any(c["l1"] != 0.0 for c in self.configs)
        self._use_l2 = any(c["l2"] != 0.0 for c in self.configs)
        self._column("two_l2", (2.0 * c["l2"] for c in self.configs))

    def _update(
        self,
        params: torch.Tensor,
        grads: torch.Tensor,
        state: dict[str, torch.Tensor],
        step: int,
    ) -> None:
        h = self._tensors
        # d/dp (l1 * |p| + l2 * p^2): TaskSet adds these penalties to the loss.
        if self._use_l1:
            grads = torch.addcmul(grads, params.sign(), h["l1"])
        if self._use_l2:
            grads = torch.addcmul(grads, params, h["two_l2"])
        self._moments(state, grads)
        t = step + 1
        lr = adam8p_learning_rate(
            step,
            learning_rate=h["learning_rate"],
            linear_decay=h["linear_decay"],
            exponential_decay=h["exponential_decay"],
            training_steps=self.schedule_steps,
        )
        bc2 = one_minus_pow(h["one_minus_beta2"], t)
        denom = state["v"].div(bc2).add_(1e-10).sqrt_().add_(h["epsilon"])
        scale = lr / one_minus_pow(h["one_minus_beta1"], t)
        params.addcdiv_(state["m"] * scale, denom, value=-1.0)


class VectorizedNAdamW(_AdamMoments):
    """NAdamW + cosine/warmup schedule (see :class:`~taskset_torch.optimizers.torch_optim.NAdamW`).

    Configs with and without Nesterov mix in one batch: the numerator is
    ``lerp(m, g, (1 - beta1) * use_nesterov)``, which is exactly ``m`` where the flag is off.
    """

    _keys = NADAMW_KEYS

    def __init__(
        self,
        configs: Sequence[Mapping[str, Any]],
        training_steps: int,
        *,
        warmup_semantics: str = "min",
    ):
        if warmup_semantics not in WARMUP_SEMANTICS:
            raise ValueError(
                f"warmup_semantics must be one of {WARMUP_SEMANTICS}, got {warmup_semantics!r}"
            )
        super().__init__(configs, training_steps)
        self.warmup_semantics = warmup_semantics
        nesterov = [bool(c["use_nesterov"]) for c in self.configs]
        self._any_nesterov = any(nesterov)
        self._column(
            "nesterov_weight", ((1.0 - c["beta1"]) * n for c, n in zip(self.configs, nesterov))
        )
        self._use_l2 = any(c["l2_weight_decay"] != 0.0 for c in self.configs)
        self._use_adamw = any(c["adamw_weight_decay"] != 0.0 for c in self.configs)

    def learning_rate(self, step: int) -> torch.Tensor:
        """The scheduled learning rate of every config after ``step`` updates: ``[K, 1]``."""
        h = self._tensors
        return cosine_learning_rate(
            step,
            learning_rate=h["learning_rate"],
            training_steps=self.training_steps,
            constant_fraction=h["constant_fraction"],
            warmup_fraction=h["warmup_fraction"],
            min_learning_rate_mult=h["min_learning_rate_mult"],
            warmup_semantics=self.warmup_semantics,
        )

    def _update(
        self,
        params: torch.Tensor,
        grads: torch.Tensor,
        state: dict[str, torch.Tensor],
        step: int,
    ) -> None:
        h = self._tensors
        if self._use_l2:  # minus sign as in TaskSet's and opt_list's code
            grads = torch.addcmul(grads, params, h["l2_weight_decay"], value=-1.0)
        self._moments(state, grads)
        lr_t = self._tf_adam_lr(self.learning_rate(step), step)
        m = state["m"]
        num = torch.lerp(m, grads, h["nesterov_weight"]) if self._any_nesterov else m
        denom = state["v"].sqrt().add_(h["epsilon"])
        if self._use_adamw:
            params.mul_(1.0 - lr_t * h["adamw_weight_decay"])
        params.addcdiv_(num * lr_t, denom, value=-1.0)


class VectorizedTFAdagrad(VectorizedOptimizer):
    """TF1 ``AdagradOptimizer`` (see :class:`~taskset_torch.optimizers.torch_optim.TFAdagrad`)."""

    _keys = ADAGRAD_KEYS

    def __init__(self, configs: Sequence[Mapping[str, Any]], training_steps: int):
        super().__init__(_checked(type(self).__name__, configs, self._keys), training_steps)
        for k in self._keys:
            self._hparam(k)

    def _init(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        acc = self._tensors["initial_accumulator_value"].to(params.dtype).expand_as(params)
        return {"accumulator": acc.clone(memory_format=torch.contiguous_format)}

    def _update(
        self,
        params: torch.Tensor,
        grads: torch.Tensor,
        state: dict[str, torch.Tensor],
        step: int,
    ) -> None:
        acc = state["accumulator"]
        acc.addcmul_(grads, grads)
        params.addcmul_(grads, acc.rsqrt().mul_(self._tensors["learning_rate"]), value=-1.0)
