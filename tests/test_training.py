"""The vectorized trainer: protocol, divergence isolation, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from taskset_torch.tasks.registry import build_task
from taskset_torch.training import TrainConfig, eval_steps, train


class VecSGD:
    """A minimal vectorized rule for trainer tests (the real ones are tested with the optimizers)."""

    def __init__(self, lrs):
        self.lr = torch.tensor(lrs, dtype=torch.float32).unsqueeze(1)

    def init(self, flat):
        return {}

    def update(self, flat, grad, state, step):
        flat.sub_(self.lr * grad)


CFG = TrainConfig(training_steps=30, eval_every=10, eval_batches=2)


def test_eval_steps_follow_taskset_protocol():
    assert eval_steps(10000, 200).tolist() == list(range(0, 10001, 200))
    assert len(eval_steps(10000, 200)) == 51
    assert eval_steps(25, 10).tolist() == [0, 10, 20, 25]


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="eval_every"):
        TrainConfig(eval_every=0)


def test_curves_shape_and_initial_point_shared():
    task = build_task("mlp_family_seed104")
    res = train(task, VecSGD([0.1, 0.01, 0.0]), num_configs=3, seed=0, config=CFG)
    assert res.values.shape == (3, 4, 4)
    assert res.steps.tolist() == [0, 10, 20, 30]
    # Common random numbers: one init and one set of eval batches for every config.
    np.testing.assert_allclose(res.values[:, 0], np.broadcast_to(res.values[0, 0], (3, 4)))
    # Each row is its own run: the same config alone gives the same curve.
    alone = train(task, VecSGD([0.01]), num_configs=1, seed=0, config=CFG)
    np.testing.assert_allclose(res.values[1], alone.values[0], rtol=1e-4)
    assert res.time_per_step > 0


def test_divergence_is_isolated_and_recorded_as_nan():
    task = build_task("quadratic_family_seed106")
    lrs = [1e-4, 1e12, 1e-5]
    res = train(task, VecSGD(lrs), num_configs=3, seed=0, config=CFG)
    alone = train(task, VecSGD([1e-4]), num_configs=1, seed=0, config=CFG)
    assert res.diverged_at[1] >= 0 and np.isnan(res.values[1, -1]).all()
    assert (res.diverged_at[[0, 2]] == -1).all()
    np.testing.assert_allclose(res.values[0], alone.values[0], rtol=1e-5)
    assert np.isfinite(res.values[[0, 2]]).all()


def test_same_seed_reproduces_and_seeds_differ():
    task = build_task("mlp_family_seed104")
    a = train(task, VecSGD([0.05]), num_configs=1, seed=3, config=CFG)
    b = train(task, VecSGD([0.05]), num_configs=1, seed=3, config=CFG)
    c = train(task, VecSGD([0.05]), num_configs=1, seed=4, config=CFG)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.allclose(a.values, c.values)


def test_eval_schedule_does_not_change_the_trajectory():
    task = build_task("mlp_family_seed104")
    a = train(task, VecSGD([0.05]), num_configs=1, seed=1, config=CFG)
    dense = TrainConfig(training_steps=30, eval_every=5, eval_batches=2)
    b = train(task, VecSGD([0.05]), num_configs=1, seed=1, config=dense)
    np.testing.assert_allclose(a.values[0, -1], b.values[0, -1], rtol=1e-5)
