"""Schedules: NAdamW's cosine/warmup and Adam8P's decays at known points; floats == tensors."""

from __future__ import annotations

import math

import pytest
import torch

from taskset_torch.optimizers import (
    NAdamW,
    adam8p_learning_rate,
    cosine_learning_rate,
    get_space,
    one_minus_pow,
)


def _lr(step, semantics="min", **kw):
    args = {
        "learning_rate": 2.0,
        "training_steps": 100,
        "constant_fraction": 0.5,
        "warmup_fraction": 0.2,
        "min_learning_rate_mult": 0.1,
    }
    args.update(kw)
    return cosine_learning_rate(step, warmup_semantics=semantics, **args)


def _decay(step, lr=2.0, total=100, c=50.0, mult=0.1):
    return (lr - mult * lr) * (math.cos(math.pi * (step - c) / (total - c)) / 2 + 0.5) + mult * lr


@pytest.mark.parametrize(
    ("step", "want"),
    [
        (0, 0.0),  # warmup starts from zero
        (10, 1.0),  # halfway through the 20-step warmup (min(0.2, 0.5) * 100)
        (19, 1.9),
        (20, 2.0),  # warmup over: constant
        (50, 2.0),  # decay starts at constant_fraction * T
        (75, 1.1),  # half-way down the cosine: (2 - 0.2) / 2 + 0.2
        (99, _decay(99)),
        (100, 0.2),  # min_learning_rate_mult * lr at the end ...
        (250, 0.2),  # ... and held after it
    ],
)
def test_cosine_schedule_min_semantics(step: int, want: float) -> None:
    assert _lr(step) == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_cosine_schedule_max_semantics() -> None:
    # max(0.2, 0.5) * 100 = 50 steps of warmup, then straight into the decay.
    assert _lr(25, "max") == pytest.approx(1.0)
    assert _lr(49, "max") == pytest.approx(49 / 50 * 2.0)
    assert _lr(50, "max") == pytest.approx(2.0)
    assert _lr(75, "max") == pytest.approx(1.1)
    # warmup_fraction > constant_fraction: "max" keeps warming up into the decay phase (and
    # jumps down at its end); "min" warms up only until constant_fraction.
    kw = {"warmup_fraction": 0.7, "constant_fraction": 0.4}
    assert _lr(60, "max", **kw) == pytest.approx(60 / 70 * 2.0)
    assert _lr(70, "max", **kw) == pytest.approx(_decay(70, c=40.0))
    assert _lr(30, "min", **kw) == pytest.approx(30 / 40 * 2.0)
    assert _lr(60, "min", **kw) == pytest.approx(_decay(60, c=40.0))
    # Without warmup both semantics agree everywhere.
    for s in range(0, 101, 7):
        assert _lr(s, "min", warmup_fraction=0.0) == _lr(s, "max", warmup_fraction=0.0)
    assert _lr(0, warmup_fraction=0.0) == 2.0


def test_cosine_schedule_edges_are_finite() -> None:
    # constant_fraction = 1: no decay (TF would divide 0 by 0); = 0 with warmup under "min":
    # the warmup has zero length (TF would form 0 * inf).
    assert [_lr(s, constant_fraction=1.0, warmup_fraction=0.0) for s in (0, 50, 100)] == [2.0] * 3
    assert _lr(100, constant_fraction=1.0) == 2.0
    assert _lr(0, constant_fraction=0.0) == pytest.approx(2.0)
    assert _lr(100, constant_fraction=0.0) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="warmup_semantics"):
        _lr(3, "avg")
    with pytest.raises(ValueError, match="training_steps"):
        _lr(3, training_steps=0)


@pytest.mark.parametrize("semantics", ["min", "max"])
def test_cosine_schedule_tensor_equals_float(semantics: str) -> None:
    space = get_space("nadamw_grid")
    cfgs = [space.sample(s) for s in range(40)]
    cfgs += [{**cfgs[0], "warmup_fraction": 0.3, "constant_fraction": cf} for cf in (0.0, 0.5, 1.0)]
    total = 1000
    opt = space.vectorized(cfgs, total, warmup_semantics=semantics)
    fields = ("learning_rate", "constant_fraction", "warmup_fraction", "min_learning_rate_mult")
    for step in (0, 1, 2, 5, 13, 77, 150, 400, 500, 999, 1000, 5000):
        got = opt.learning_rate(step)
        assert got.shape == (len(cfgs), 1) and torch.isfinite(got).all()
        for k, cfg in enumerate(cfgs):
            kw = {f: cfg[f] for f in fields}
            want = cosine_learning_rate(
                step, training_steps=total, warmup_semantics=semantics, **kw
            )
            assert got[k, 0].item() == pytest.approx(
                want, rel=2e-5, abs=1e-7 * cfg["learning_rate"]
            )


def test_nadamw_optimizer_follows_schedule() -> None:
    # lr_t = lr(step) * sqrt(1 - beta2^t) / (1 - beta1^t); with g = 1 always, m = v = 1 exactly
    # after bias correction, so each step moves p by exactly lr(step).
    p = torch.zeros(1)
    opt = NAdamW(
        [p],
        learning_rate=2.0,
        beta1=0.0,
        beta2=0.0,
        epsilon=0.0,
        warmup_fraction=0.2,
        constant_fraction=0.5,
        min_learning_rate_mult=0.1,
        training_steps=100,
    )
    for step in range(110):
        p.zero_()  # memoryless moments (beta = 0) and no decay: p can restart at 0
        p.grad = torch.ones(1)
        opt.step()
        assert -p.item() == pytest.approx(_lr(step), rel=1e-6, abs=1e-7), step


def test_adam8p_learning_rate() -> None:
    kw = {"learning_rate": 0.5, "linear_decay": 1e-4, "exponential_decay": 2e-4}
    assert adam8p_learning_rate(0, **kw) == 0.5
    want = 0.5 * math.exp(-2e-4 * 3000) * (1 - 1e-4 * 3000)
    assert adam8p_learning_rate(3000, **kw) == pytest.approx(want, rel=1e-12)
    # Rescaled to 10k steps: step 300 of a 1000-step run is step 3000 of TaskSet's horizon.
    assert adam8p_learning_rate(300, training_steps=1000, **kw) == pytest.approx(want, rel=1e-12)
    assert adam8p_learning_rate(10001, **kw) == 0.0  # the linear factor is clipped at 0
    t = adam8p_learning_rate(
        3000,
        learning_rate=torch.tensor([[0.5], [1.0]]),
        linear_decay=torch.tensor([[1e-4], [0.0]]),
        exponential_decay=torch.tensor([[2e-4], [0.0]]),
    )
    assert t[:, 0].tolist() == pytest.approx([want, 1.0], rel=1e-6)


def test_one_minus_pow_keeps_precision() -> None:
    omb = torch.tensor([[1e-6], [0.1], [1.0]], dtype=torch.float32)
    got = one_minus_pow(omb, 3)[:, 0].double()
    want = torch.tensor([1 - (1 - 1e-6) ** 3, 1 - 0.9**3, 1.0], dtype=torch.float64)
    assert torch.allclose(got, want, rtol=1e-6, atol=0)
    # The naive float32 formula loses most digits for beta2 near 1 (why we avoid it).
    naive = 1 - (1 - omb[0, 0]) ** 3
    assert abs(naive.item() - want[0].item()) / want[0].item() > 1e-3
    assert one_minus_pow(1.0, 5) == 1.0 and one_minus_pow(0.5, 2) == pytest.approx(0.75)


def test_torch_lr_scheduler_scales_the_built_in_schedule() -> None:
    p = torch.zeros(1)
    opt = NAdamW(
        [p],
        learning_rate=2.0,
        beta1=0.0,
        beta2=0.0,
        epsilon=0.0,
        warmup_fraction=0.2,
        constant_fraction=0.5,
        min_learning_rate_mult=0.1,
        training_steps=100,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 0.5)
    for step in range(60):
        p.zero_()
        p.grad = torch.ones(1)
        opt.step()
        sched.step()
        assert -p.item() == pytest.approx(0.5 * _lr(step), rel=1e-6, abs=1e-7), step
