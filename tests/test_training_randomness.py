"""Trainer: divergence as TaskSet recorded it, independent randomness, the zero optimizer's curve."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from taskset_torch.optimizers.zero import ZeroRule
from taskset_torch.tasks.base import Task
from taskset_torch.tasks.registry import build_task
from taskset_torch.training import TrainConfig, config_seed, train, train_configs, zero_curve

CFG = TrainConfig(training_steps=20, eval_every=10, eval_batches=2)
SPACE = "adam8p_wide_grid"


class VecSGD:
    def __init__(self, lrs):
        self.lr = torch.tensor(lrs, dtype=torch.float32).unsqueeze(1)

    def init(self, flat):
        return {}

    def update(self, flat, grad, state, step):
        flat.sub_(self.lr * grad)


class InfLossTask(Task):
    """loss = w^2 while w > 0.5, +inf below: a non-finite loss with finite parameters."""

    name = "inf_loss"

    def init_params(self, generator):
        return {"w": torch.ones(1)}

    def loss(self, params, batch):
        w = params["w"][:, 0]
        return torch.where(w > 0.5, w * w, torch.full_like(w, float("inf")))

    def batch(self, split, generator):
        return {}


def test_nonfinite_loss_with_finite_params_is_recorded_and_training_goes_on():
    # lr 0.3: w = 1 -> 0.4 (loss inf from then on, gradient 0: parameters stay finite).
    res = train(InfLossTask(), VecSGD([0.3, 0.01]), num_configs=2, seed=0, config=CFG)
    assert (res.diverged_at == -1).all()
    assert np.isinf(res.values[0, 1:]).all()  # recorded as it is, not NaN
    assert np.isfinite(res.values[1]).all()


def test_nonfinite_parameters_mark_divergence_and_isolate_the_row():
    task = build_task("quadratic_family_seed106")
    res = train(task, VecSGD([1e-4, 1e30, 1e-5]), num_configs=3, seed=0, config=CFG)
    alone = train(task, VecSGD([1e-4]), num_configs=1, seed=0, config=CFG)
    assert res.diverged_at[1] >= 0 and np.isnan(res.values[1, -1]).all()
    assert (res.diverged_at[[0, 2]] == -1).all()
    np.testing.assert_allclose(res.values[0], alone.values[0], rtol=1e-5)


def _configs(seeds):
    from taskset_torch.optimizers import get_space

    return [get_space(SPACE).sample(s) for s in seeds]


def test_independent_randomness_depends_on_task_config_and_seed_only():
    task = build_task("mlp_family_seed104")
    ind = TrainConfig(training_steps=6, eval_every=3, eval_batches=2, independent=True)
    both = train_configs(task, SPACE, _configs([3, 7]), seed=1, config=ind, config_ids=[3, 7])
    alone = train_configs(task, SPACE, _configs([7]), seed=1, config=ind, config_ids=[7])
    np.testing.assert_array_equal(both.values[1], alone.values[0])
    # Each config has its own init: the step-0 losses differ (shared randomness: identical).
    assert not np.allclose(both.values[0, 0], both.values[1, 0])
    shared = train_configs(task, SPACE, _configs([3, 7]), seed=1, config=CFG)
    np.testing.assert_array_equal(shared.values[0, 0], shared.values[1, 0])
    assert config_seed(1, 3) != config_seed(1, 7) != config_seed(2, 7)


def test_independent_randomness_needs_config_ids():
    task = build_task("mlp_family_seed104")
    ind = TrainConfig(training_steps=2, eval_every=1, eval_batches=1, independent=True)
    with pytest.raises(ValueError, match="config id"):
        train_configs(task, SPACE, _configs([3]), seed=0, config=ind)
    with pytest.raises(ValueError, match="independent"):
        TrainConfig(independent="yes")


def test_zero_curve_equals_training_with_the_zero_rule():
    task = build_task("mlp_family_seed104")
    cheap = zero_curve(task, seed=2, config=CFG)
    full = train(task, ZeroRule(), num_configs=1, seed=2, config=CFG)
    np.testing.assert_allclose(cheap.values, full.values, rtol=1e-6)
    # After step 0 the model is all zeros: an MLP classifier then predicts uniformly.
    assert not np.allclose(cheap.values[0, 0], cheap.values[0, 1])
