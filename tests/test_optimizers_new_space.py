"""A new search space is its fields (with ranges), one element-wise rule and a SearchSpace class.

The toy space below is defined only here; sampling, the vectorized rule, the torch optimizer,
the schedule split and the tuner (Optuna / Ray) spaces all follow from that definition.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hparam_lists.tuning import config_from_tuner, tuner_from_config, tuner_params
from taskset_torch.optimizers import HParam, RuleOptimizer, SearchSpace, UpdateRule, VectorizedRule
from taskset_torch.optimizers.hparams import (
    LEARNING_RATE,
    Gate,
    Gated,
    LogUniform,
    OneMinusLogUniform,
)

# -- the whole definition of a new space: fields, rule, space -------------------------------------

MOMENTUM = HParam("momentum", high=1.0, prior=OneMinusLogUniform(1e-3))
WEIGHT_DECAY = HParam(
    "weight_decay",
    prior=Gated(Gate("use_decay", (False, True), (0.5,)), (True,), LogUniform(1e-6, 1e-2)),
)
FINAL_LR_MULT = HParam("final_lr_mult", high=1.0, high_inclusive=True, prior=LogUniform(1e-3, 1))


def _state(p: torch.Tensor, h) -> dict[str, torch.Tensor]:
    return {"buf": torch.zeros_like(p, memory_format=torch.preserve_format)}


def _rate(h, step: int, steps: int, options) -> float | torch.Tensor:
    # Linear decay from learning_rate to final_lr_mult * learning_rate over the run.
    return h["learning_rate"] * (1.0 - (1.0 - h["final_lr_mult"]) * (min(step, steps) / steps))


def _sgd(p: torch.Tensor, g: torch.Tensor, state, h, lr, step: int) -> None:
    # Element-wise, so h may hold floats (one config) or [K, 1] tensors (K configs).
    g = g + h["weight_decay"] * p
    state["buf"].mul_(h["momentum"]).add_(g)
    p.sub_(state["buf"] * lr)


TOY_SGD = UpdateRule(
    name="toy_sgd",
    hparams=(LEARNING_RATE, MOMENTUM, WEIGHT_DECAY, FINAL_LR_MULT),
    init_state=_state,
    update=_sgd,
    learning_rate=_rate,
    schedule_off={"final_lr_mult": 1.0},
)


class ToySpace(SearchSpace):
    name = "toy_sgd_grid"
    hparam_specs = (LEARNING_RATE.sampled_from(LogUniform(1e-4, 1e-1)), *TOY_SGD.hparams[1:])
    rng_offset = 77
    rule = TOY_SGD


SPACE = ToySpace()

# ------------------------------------------------------------------------------------------------


def _reference(cfg: dict, steps: int, p0: np.ndarray, a: np.ndarray, noise: list) -> np.ndarray:
    """The rule written out in float64 numpy."""
    p, buf = p0.copy(), np.zeros_like(p0)
    for s in range(steps):
        g = a * p + noise[s] + cfg["weight_decay"] * p
        buf = cfg["momentum"] * buf + g
        p = p - buf * cfg["learning_rate"] * (1 - (1 - cfg["final_lr_mult"]) * s / steps)
    return p


def test_sampling_follows_the_priors() -> None:
    cfgs = [SPACE.sample(s) for s in range(400)]
    assert SPACE.sample(3) == cfgs[3] and list(cfgs[0]) == list(SPACE.hparam_names)
    assert all(SPACE.validate(c) == c for c in cfgs)
    assert all(1e-4 <= c["learning_rate"] <= 1e-1 and c["momentum"] <= 1 - 1e-3 for c in cfgs)
    decayed = [c["weight_decay"] for c in cfgs if c["weight_decay"] != 0]
    assert 150 < len(decayed) < 250 and all(1e-6 <= d <= 1e-2 for d in decayed)
    with pytest.raises(
        ValueError, match=r"momentum=1\.5 is out of range; valid: 0 <= momentum < 1"
    ):
        SPACE.validate({**cfgs[0], "momentum": 1.5})


def test_vectorized_and_torch_paths_run_the_same_rule() -> None:
    steps, P = 12, 16
    gen = torch.Generator().manual_seed(0)
    p0, a = torch.randn(P, generator=gen), torch.rand(P, generator=gen)
    noise = [torch.randn(P, generator=gen) for _ in range(steps)]
    cfgs = [SPACE.sample(s) for s in range(6)]
    vec = SPACE.vectorized(cfgs, steps)
    assert isinstance(vec, VectorizedRule) and vec.hparams["momentum"].shape == (6, 1)
    params = p0.repeat(len(cfgs), 1)
    state = vec.init(params)
    for s in range(steps):
        vec.update(params, a * params + noise[s], state, s)
    for k, cfg in enumerate(cfgs):
        p = p0.clone()
        opt, sched = SPACE.torch_optimizer([p], cfg, steps)
        assert isinstance(opt, RuleOptimizer) and sched is None
        for s in range(steps):
            p.grad = a * p + noise[s]
            opt.step()
        want = _reference(
            cfg, steps, p0.double().numpy(), a.double().numpy(), [n.double().numpy() for n in noise]
        )
        scale = float(np.abs(want).max())
        assert (params[k] - p).abs().max().item() <= 1e-6 * scale, k
        assert np.abs(p.double().numpy() - want).max() <= 1e-5 * scale, k


def test_schedule_splits_into_a_lambda_lr() -> None:
    cfg = {**SPACE.sample(1), "final_lr_mult": 0.25}
    factor = SPACE.schedule(cfg, 100)
    assert factor(0) == 1.0 and math.isclose(factor(50), 0.625) and math.isclose(factor(200), 0.25)
    constant = SPACE.without_schedule(cfg)
    assert constant["final_lr_mult"] == 1.0 and SPACE.schedule(constant, 100)(70) == 1.0


def test_tuner_space_is_derived_from_the_priors() -> None:
    params = {p.name: p for p in tuner_params(SPACE)}
    assert list(params) == [
        "learning_rate",
        "one_minus_momentum",
        "use_decay",
        "weight_decay",
        "final_lr_mult",
    ]
    assert (params["learning_rate"].low, params["learning_rate"].high) == (1e-4, 1e-1)
    assert params["weight_decay"].active_if == ("use_decay", (True,))
    for s in range(50):
        cfg = SPACE.sample(s)
        tuned = tuner_from_config(cfg, SPACE)
        assert ("weight_decay" in tuned) == (cfg["weight_decay"] != 0)
        back = config_from_tuner(tuned, SPACE)
        assert all(math.isclose(back[k], cfg[k], rel_tol=1e-12) for k in cfg)
    optuna = pytest.importorskip("optuna")
    from hparam_lists.tuning import optuna_distributions, suggest_hparams

    dist = optuna_distributions(SPACE)
    assert isinstance(dist["use_decay"], optuna.distributions.CategoricalDistribution)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    assert SPACE.validate(suggest_hparams(trial, SPACE))


def test_generic_optimizer_survives_copy_and_new_groups() -> None:
    import copy

    p = torch.nn.Parameter(torch.ones(3))
    opt, _ = SPACE.torch_optimizer([p], SPACE.sample(0), 10)
    clone = copy.deepcopy(opt)  # torch pickles only groups and state; the rule must come along
    assert clone.rule == TOY_SGD
    with pytest.raises(ValueError, match="momentum"):
        clone.add_param_group({"params": [torch.nn.Parameter(torch.ones(1))], "momentum": 2.0})
