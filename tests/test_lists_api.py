"""The list API in a user's hands: optimizer_for_idx safe by default, warmup semantics, tuner glue."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hparam_lists.lists import HParamList, improving_length, load_list, optimizer_for_idx

# A NAdamW config whose schedule has all three phases within 20 steps: warmup, constant, cosine.
_CFG = {
    "learning_rate": 0.01,
    "beta1": 0.9,
    "beta2": 0.999,
    "epsilon": 1e-12,
    "use_nesterov": False,
    "adamw_weight_decay": 0.0,
    "l2_weight_decay": 0.0,
    "warmup_fraction": 0.2,
    "min_learning_rate_mult": 0.1,
    "constant_fraction": 0.5,
}
_TOTAL = 20

# Hand-computed step sizes (lr * 1 for a constant gradient) at steps 0, 2, 6, 10, 15, 19.
# TaskSet's TF code ("min"): warmup w = 20 * min(0.2, 0.5) = 4 steps, constant to step 10, then
# 0.001 + 0.009 * (cos(pi * (g - 10) / 10) + 1) / 2, held at 0.001 after step 20.
_MIN = {
    0: 0.0,
    2: 0.005,
    6: 0.01,
    10: 0.01,
    15: 0.0055,
    19: 0.001 + 0.0045 * (1 + np.cos(0.9 * np.pi)),
}
# opt_list's PyTorch port ("max"): warmup w = 20 * max(0.2, 0.5) = 10 steps, then the same cosine.
_MAX = {0: 0.0, 2: 0.002, 6: 0.006, 10: 0.01, 15: 0.0055, 19: _MIN[19]}


def _step_sizes(opt, model, steps, scheduler=None) -> list[float]:
    x = torch.ones(4, 3, dtype=torch.float64)
    moved = []
    for _ in range(steps):
        before = model.bias.detach().clone()
        opt.zero_grad()
        model(x).sum().backward()  # constant gradient: Adam's step is exactly lr(step)
        opt.step()
        if scheduler is not None:
            scheduler.step()
        moved.append(float(before - model.bias.detach()))
    return moved


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Linear(3, 1).double()  # float64: step sizes are compared to 1e-8


@pytest.mark.parametrize("semantics,expected", [("min", _MIN), ("max", _MAX)])
def test_default_optimizer_applies_the_schedule_itself(semantics, expected):
    hlist = HParamList(configs=(_CFG,), space="nadamw_grid", names=("custom",))
    model = _model()
    opt = optimizer_for_idx(
        model.parameters(), 0, _TOTAL, hparam_list=hlist, warmup_semantics=semantics
    )
    assert isinstance(opt, torch.optim.Optimizer)  # one object: nothing to forget
    moved = _step_sizes(opt, model, _TOTAL)
    for step, lr in expected.items():
        assert moved[step] == pytest.approx(lr, rel=1e-8, abs=1e-15), (semantics, step)
    # logged hyperparameters are the entry's, not a constant-rate stand-in
    group = opt.param_groups[0]
    assert group["lr"] == 0.01 and group["warmup_fraction"] == 0.2
    assert group["constant_fraction"] == 0.5 and group["min_learning_rate_mult"] == 0.1


def test_return_scheduler_gives_the_same_steps_as_a_pair():
    hlist = HParamList(configs=(_CFG,), space="nadamw_grid", names=("custom",))
    model = _model()
    opt, scheduler = optimizer_for_idx(
        model.parameters(), 0, _TOTAL, hparam_list=hlist, return_scheduler=True
    )
    assert isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler)
    assert opt.param_groups[0]["constant_fraction"] == 1.0  # the schedule lives in the scheduler
    moved = _step_sizes(opt, model, _TOTAL, scheduler)
    for step, lr in _MIN.items():
        assert moved[step] == pytest.approx(lr, rel=1e-8, abs=1e-15), step


def test_opt_list_warmup_entry_trains_without_a_scheduler():
    # idx 1 of opt_list warms up; with the old pair, forgetting scheduler.step() kept lr at 0.
    model = _model()
    fast = _step_sizes(optimizer_for_idx(model.parameters(), np.int64(1), np.int32(1000)), model, 2)
    model = _model()
    slow = optimizer_for_idx(model.parameters(), 1, 1000, warmup_semantics="max")
    slow = _step_sizes(slow, model, 2)
    assert fast[0] == slow[0] == 0.0  # both warmups start at lr 0
    # TaskSet's min: the warmup is a quarter of a step, then the full rate; opt_list's PyTorch
    # max: a linear warmup over 324 of the 1000 steps (lr / 324 at step 1).
    assert abs(fast[1]) > 100 * abs(slow[1]) > 0


def test_adam8p_entry_decays_on_its_own():
    cfg = {
        "learning_rate": 0.01,
        "beta1": 0.9,
        "beta2": 0.999,
        "epsilon": 1e-12,
        "l1": 0.0,
        "l2": 0.0,
        "linear_decay": 5e-5,
        "exponential_decay": 1e-4,
    }
    hlist = HParamList(configs=(cfg,), space="adam8p_wide_grid", names=("custom",))
    model = _model()
    moved = _step_sizes(optimizer_for_idx(model.parameters(), 0, 30, hparam_list=hlist), model, 30)
    for t in (0, 10, 29):  # TaskSet's 10k-step horizon whatever training_steps is
        expected = 0.01 * np.exp(-1e-4 * t) * (1 - 5e-5 * t)
        assert moved[t] == pytest.approx(expected, rel=1e-6), t


def test_optimizer_for_idx_rejects_bad_integers():
    params = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError, match="training_steps must be an int >= 1, got 0"):
        optimizer_for_idx(params, 0, 0)
    with pytest.raises(ValueError, match="training_steps must be an int"):
        optimizer_for_idx(params, 0, 10.5)
    with pytest.raises(TypeError, match="idx must be an int"):
        optimizer_for_idx(params, 1.0, 10)
    with pytest.raises(IndexError, match="out of range for a list of 1000"):
        optimizer_for_idx(params, np.int64(1000), 10)


def test_improving_length_marks_the_filler():
    assert improving_length([5.0, 3.0, 2.0, 2.0, 2.0]) == 3
    assert improving_length([5.0, 3.0]) == 2
    assert improving_length([1.0]) == 1
    assert load_list("opt_list").provenance.get("improving_length") is None  # unknown for it
