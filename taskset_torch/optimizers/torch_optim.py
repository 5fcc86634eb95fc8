"""Single-config ``torch.optim.Optimizer`` versions of TaskSet's update rules (TF1 semantics).

These are the reference the vectorized rules are tested against and what users put on any model.
Hyperparameters are keyword-only and named as in TaskSet's configs, so ``NAdamW(params, **cfg,
training_steps=T)`` works. Schedules are built in: each optimizer counts its own steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

from taskset_torch.optimizers.base import check_training_steps
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

__all__ = ["TFAdam", "Adam8P", "NAdamW", "TFAdagrad"]

ParamsT = Iterable[torch.Tensor] | Iterable[dict[str, Any]]
# The per-tensor update: (param, grad, state, group, step) with step = previous updates.
_UpdateFn = Callable[[torch.Tensor, torch.Tensor, dict[str, Any], dict[str, Any], int], None]


def _run_step(
    opt: torch.optim.Optimizer, closure: Callable[[], Any] | None, update: _UpdateFn
) -> Any:
    loss = None
    if closure is not None:
        with torch.enable_grad():
            loss = closure()
    with torch.no_grad():
        for group in opt.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(f"{type(opt).__name__} does not support sparse gradients")
                state = opt.state[p]
                if "step" not in state:
                    state["step"] = 0
                update(p, p.grad, state, group, state["step"])
                state["step"] += 1
    return loss


def _moments(state: dict[str, Any], p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if "m" not in state:
        state["m"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["v"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    return state["m"], state["v"]


class _Checked(torch.optim.Optimizer):
    """Validates every param group's hyperparameters when it is added.

    The base learning rate lives in the group as ``"lr"`` (torch's convention) so that torch's
    LR schedulers can scale it on top of the built-in schedule; everything else keeps TaskSet's
    names.
    """

    _hparam_keys: tuple[str, ...] = ()

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if "learning_rate" in param_group:
            raise ValueError(
                f"{type(self).__name__}: a param group sets the learning rate as 'lr' "
                "(torch's convention), not 'learning_rate'"
            )
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        values = {k: group["lr" if k == "learning_rate" else k] for k in self._hparam_keys}
        checked = check_hparams(type(self).__name__, values)
        group.update({"lr" if k == "learning_rate" else k: v for k, v in checked.items()})
        if "training_steps" in group:
            group["training_steps"] = check_training_steps(group["training_steps"])


class TFAdam(_Checked):
    """``tf.train.AdamOptimizer`` (TF1): epsilon is added *outside* the bias correction.

    ``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)``; ``p -= lr_t * m / (sqrt(v) + epsilon)``,
    with ``t`` = 1 at the first update. ``torch.optim.Adam`` instead divides by
    ``sqrt(v / (1 - beta2^t)) + eps``; the two coincide exactly when ``epsilon == 0`` and otherwise
    differ by the effective epsilon ``epsilon / sqrt(1 - beta2^t)`` (larger early in training).
    """

    _hparam_keys = ADAM_KEYS

    def __init__(
        self,
        params: ParamsT,
        *,
        learning_rate: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
    ):
        defaults = dict(lr=learning_rate, beta1=beta1, beta2=beta2, epsilon=epsilon)
        super().__init__(params, defaults)

    @staticmethod
    def _update(p: torch.Tensor, g: torch.Tensor, state: dict, group: dict, step: int) -> None:
        m, v = _moments(state, p)
        omb1, omb2 = 1.0 - group["beta1"], 1.0 - group["beta2"]
        m.lerp_(g, omb1)
        v.lerp_(g * g, omb2)
        t = step + 1
        lr_t = group["lr"] * math.sqrt(one_minus_pow(omb2, t)) / one_minus_pow(omb1, t)
        denom = v.sqrt().add_(group["epsilon"])
        p.addcdiv_(m * lr_t, denom, value=-1.0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        return _run_step(self, closure, self._update)


class Adam8P(_Checked):
    """TaskSet's 8-hyperparameter Adam: Adam + l1/l2 penalties + linear/exponential lr decay.

    The penalties ``l1 * sum|p| + l2 * sum p^2`` that TaskSet adds to the loss enter here as their
    gradient ``l1 * sign(p) + 2 * l2 * p`` (the reported loss stays the task's loss). Then
    ``m_hat / (sqrt(v_hat + 1e-10) + epsilon)`` is scaled by :func:`adam8p_learning_rate` on the
    10k-step horizon. Defaults for l1/l2 are 0 (TaskSet's class defaulted to 1e-7).
    """

    _hparam_keys = ADAM8P_KEYS

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
        defaults = dict(
            lr=learning_rate,
            beta1=beta1,
            beta2=beta2,
            epsilon=epsilon,
            l1=l1,
            l2=l2,
            linear_decay=linear_decay,
            exponential_decay=exponential_decay,
            training_steps=training_steps,
        )
        super().__init__(params, defaults)

    @staticmethod
    def _update(p: torch.Tensor, g: torch.Tensor, state: dict, group: dict, step: int) -> None:
        m, v = _moments(state, p)
        if group["l1"]:
            g = torch.add(g, p.sign(), alpha=group["l1"])
        if group["l2"]:
            g = torch.add(g, p, alpha=2.0 * group["l2"])
        omb1, omb2 = 1.0 - group["beta1"], 1.0 - group["beta2"]
        m.lerp_(g, omb1)
        v.lerp_(g * g, omb2)
        t = step + 1
        lr = adam8p_learning_rate(
            step,
            learning_rate=group["lr"],
            linear_decay=group["linear_decay"],
            exponential_decay=group["exponential_decay"],
            training_steps=group["training_steps"],
        )
        denom = v.div(one_minus_pow(omb2, t)).add_(1e-10).sqrt_().add_(group["epsilon"])
        p.addcdiv_(m * (lr / one_minus_pow(omb1, t)), denom, value=-1.0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        return _run_step(self, closure, self._update)


class NAdamW(_Checked):
    """NAdam/AdamW with TaskSet's cosine/warmup schedule over ``training_steps``.

    ``g = grad - l2_weight_decay * p`` (minus sign as in every TaskSet/opt_list implementation);
    TF-Adam moments and bias correction; Nesterov numerator ``beta1*m + (1-beta1)*g`` when
    ``use_nesterov``; AdamW decay ``lr_t * adamw_weight_decay * p``. The rate follows
    :func:`cosine_learning_rate` with ``warmup_semantics`` ("min": TaskSet's TF code, the default;
    "max": opt_list's PyTorch port).
    """

    _hparam_keys = NADAMW_KEYS

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
        if warmup_semantics not in WARMUP_SEMANTICS:
            raise ValueError(
                f"warmup_semantics must be one of {WARMUP_SEMANTICS}, got {warmup_semantics!r}"
            )
        defaults = dict(
            lr=learning_rate,
            beta1=beta1,
            beta2=beta2,
            epsilon=epsilon,
            use_nesterov=use_nesterov,
            adamw_weight_decay=adamw_weight_decay,
            l2_weight_decay=l2_weight_decay,
            warmup_fraction=warmup_fraction,
            min_learning_rate_mult=min_learning_rate_mult,
            constant_fraction=constant_fraction,
            training_steps=training_steps,
            warmup_semantics=warmup_semantics,
        )
        super().__init__(params, defaults)

    @staticmethod
    def scheduled_learning_rate(group: dict[str, Any], step: int) -> float:
        """The group's learning rate after ``step`` previous updates."""
        return cosine_learning_rate(
            step,
            learning_rate=group["lr"],
            training_steps=group["training_steps"],
            constant_fraction=group["constant_fraction"],
            warmup_fraction=group["warmup_fraction"],
            min_learning_rate_mult=group["min_learning_rate_mult"],
            warmup_semantics=group["warmup_semantics"],
        )

    @classmethod
    def _update(cls, p: torch.Tensor, g: torch.Tensor, state: dict, group: dict, step: int) -> None:
        m, v = _moments(state, p)
        if group["l2_weight_decay"]:
            g = torch.add(g, p, alpha=-group["l2_weight_decay"])
        omb1, omb2 = 1.0 - group["beta1"], 1.0 - group["beta2"]
        m.lerp_(g, omb1)
        v.lerp_(g * g, omb2)
        t = step + 1
        lr = cls.scheduled_learning_rate(group, step)
        lr_t = lr * math.sqrt(one_minus_pow(omb2, t)) / one_minus_pow(omb1, t)
        num = torch.lerp(m, g, omb1) if group["use_nesterov"] else m
        denom = v.sqrt().add_(group["epsilon"])
        if group["adamw_weight_decay"]:
            p.mul_(1.0 - lr_t * group["adamw_weight_decay"])
        p.addcdiv_(num * lr_t, denom, value=-1.0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        return _run_step(self, closure, self._update)


class TFAdagrad(_Checked):
    """``tf.train.AdagradOptimizer`` (TF1): ``acc += g^2; p -= lr * g / sqrt(acc)``.

    The accumulator starts at ``initial_accumulator_value`` and there is no epsilon; this equals
    ``torch.optim.Adagrad(lr, initial_accumulator_value=..., eps=0, lr_decay=0)``.
    """

    _hparam_keys = ADAGRAD_KEYS

    def __init__(
        self,
        params: ParamsT,
        *,
        learning_rate: float = 1e-3,
        initial_accumulator_value: float = 0.1,
    ):
        defaults = dict(lr=learning_rate, initial_accumulator_value=initial_accumulator_value)
        super().__init__(params, defaults)

    @staticmethod
    def _update(p: torch.Tensor, g: torch.Tensor, state: dict, group: dict, step: int) -> None:
        if "accumulator" not in state:
            state["accumulator"] = torch.full_like(
                p, group["initial_accumulator_value"], memory_format=torch.preserve_format
            )
        acc = state["accumulator"]
        acc.addcmul_(g, g)
        p.addcmul_(g, acc.rsqrt().mul_(group["lr"]), value=-1.0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        return _run_step(self, closure, self._update)
