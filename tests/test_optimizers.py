"""Search spaces: TaskSet's stored configs reproduce; names resolve; bad configs fail clearly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import assert_config_equal, load_reference

from taskset_torch.optimizers import (
    FIXED_OPTIMIZERS,
    SPACES,
    Adam8P,
    NAdamW,
    TFAdagrad,
    TFAdam,
    get_space,
    optimizer_config,
    resolve_optimizer,
)

SPACE_FILES = ["adam1p", "adam4p", "adam6p", "adam8p", "adagrad"]


@pytest.mark.parametrize("prefix", SPACE_FILES)
def test_reference_configs_reproduce(prefix: str) -> None:
    ref = load_reference(f"{prefix}_wide_grid.json")
    assert len(ref) >= 12
    for name, (cfg, sampler) in ref.items():
        space = get_space(sampler)
        seed = int(name.rsplit("_seed", 1)[1])
        assert_config_equal(space.sample(seed), cfg, name)
        assert_config_equal(optimizer_config(name), cfg, name)
        assert space.hparam_names == tuple(cfg)


def test_opt_list_configs_reproduce() -> None:
    # the published list as the repository ships it (data/opt_list.json)
    path = Path(__file__).resolve().parents[1] / "data" / "opt_list.json"
    entries = json.loads(path.read_text())["configs"]
    assert len(entries) == 1000
    space = get_space("nadamw_grid")
    seen = set()
    for entry in entries:
        want = {k: v for k, v in entry.items() if k != "name"}
        seed = int(entry["name"].removeprefix("nadamw_grid_seed"))
        seen.add(seed)
        assert_config_equal(space.sample(seed), want, entry["name"])
        assert_config_equal(space.validate(want), want, entry["name"])
    assert seen == set(range(1000))


def test_adam4p_is_a_prefix_of_adam8p() -> None:
    a4, a8 = get_space("adam4p_wide_grid"), get_space("adam8p_wide_grid")
    for seed in (0, 7, 12345):
        c8 = a8.sample(seed)
        assert a4.sample(seed) == {k: c8[k] for k in a4.hparam_names}


def test_samples_are_within_taskset_ranges() -> None:
    for seed in range(200):
        c8 = get_space("adam8p_wide_grid").sample(seed)
        assert 1e-8 <= c8["learning_rate"] <= 10 and 1e-6 <= c8["exponential_decay"] <= 1e-3
        assert 0 <= c8["beta1"] < 1 and 0 <= c8["beta2"] < 1
        cn = get_space("nadamw_grid").sample(seed)
        assert 1e-5 <= cn["learning_rate"] <= 1 and 0 <= cn["constant_fraction"] < 1
        assert cn["warmup_fraction"] == 0 or 1e-5 <= cn["warmup_fraction"] <= 0.1
        assert cn["adamw_weight_decay"] > 0 or cn["l2_weight_decay"] > 0
        for space in SPACES.values():
            cfg = space.sample(seed)
            assert space.validate(cfg) == cfg


def test_fixed_optimizers() -> None:
    names = [n for n in FIXED_OPTIMIZERS if n.startswith("adam_lr_")]
    assert len(names) == 17 and names[0] == "adam_lr_-7.00" and names[-1] == "adam_lr_1.00"
    assert "adam_lr_-6.50" in names and "adam_lr_0.00" in names
    assert len([n for n in FIXED_OPTIMIZERS if n.startswith("adagrad_lr_")]) == 17
    space, cfg = resolve_optimizer("adam_lr_-3.00")
    assert space.name == "adam1p_wide_grid" and cfg == {"learning_rate": pytest.approx(1e-3)}
    space, cfg = resolve_optimizer("adagrad_lr_-6.50")
    assert space.name == "adagrad_wide_grid"
    assert cfg["learning_rate"] == pytest.approx(10**-6.5, rel=1e-12)
    assert cfg["initial_accumulator_value"] == 0.1
    # Returned configs are copies: mutating one does not change the registry.
    cfg["learning_rate"] = 5.0
    assert optimizer_config("adagrad_lr_-6.50")["learning_rate"] != 5.0


def test_unknown_names_suggest_closest() -> None:
    with pytest.raises(KeyError, match="adam8p_wide_grid"):
        get_space("adam8p_wide_gird")
    with pytest.raises(KeyError, match="nadamw_grid_seed0"):
        optimizer_config("nadamw_gird_seed3")
    with pytest.raises(KeyError, match="adam_lr_-3.00"):
        optimizer_config("adam_lr_-3.0")
    with pytest.raises(KeyError, match="Valid names"):
        optimizer_config("sgd")


def test_bad_seed() -> None:
    with pytest.raises(ValueError, match="seed"):
        get_space("adam1p_wide_grid").sample(-1)


@pytest.mark.parametrize(
    ("space", "field", "value", "pattern"),
    [
        ("adam4p_wide_grid", "beta1", 1.0, r"beta1=1\.0 is out of range; valid: 0 <= beta1 < 1"),
        ("adam8p_wide_grid", "beta2", -0.1, r"beta2.*0 <= beta2 < 1"),
        ("adam1p_wide_grid", "learning_rate", -1e-3, r"learning_rate.*learning_rate >= 0"),
        ("adam4p_wide_grid", "epsilon", float("nan"), r"epsilon=nan.*epsilon >= 0"),
        ("adam8p_wide_grid", "l1", float("inf"), r"l1=inf.*finite"),
        ("adagrad_wide_grid", "initial_accumulator_value", 0.0, r"initial_accumulator_value > 0"),
        ("nadamw_grid", "constant_fraction", 1.5, r"0 <= constant_fraction <= 1"),
        ("nadamw_grid", "warmup_fraction", -0.1, r"0 <= warmup_fraction <= 1"),
        ("nadamw_grid", "use_nesterov", 1, r"use_nesterov.*bool"),
        ("nadamw_grid", "learning_rate", True, r"learning_rate=True is not a number"),
        ("adam6p_wide_grid", "linear_decay", "1e-5", r"linear_decay='1e-5' is not a number"),
    ],
)
def test_validate_names_field_and_range(space: str, field: str, value, pattern: str) -> None:
    sp = get_space(space)
    cfg = sp.sample(3)
    cfg[field] = value
    with pytest.raises(ValueError, match=pattern):
        sp.validate(cfg)
    # The same check guards the vectorized rule and the torch optimizer.
    with pytest.raises(ValueError, match=field):
        sp.vectorized([sp.sample(0), cfg], 100)
    with pytest.raises(ValueError, match=field):
        sp.torch_optimizer([torch.zeros(2, requires_grad=True)], cfg, 100)


def test_validate_missing_unknown_and_type() -> None:
    sp = get_space("adam4p_wide_grid")
    cfg = sp.sample(0)
    del cfg["beta2"]
    with pytest.raises(ValueError, match=r"missing field\(s\) \['beta2'\].*learning_rate, beta1"):
        sp.validate(cfg)
    cfg = {**sp.sample(0), "momentum": 0.9}
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['momentum'\]; valid fields"):
        sp.validate(cfg)
    with pytest.raises(ValueError, match="mapping"):
        sp.validate([0.1, 0.9])
    with pytest.raises(ValueError, match="config 1: adam4p_wide_grid: missing"):
        sp.vectorized([sp.sample(0), {"learning_rate": 0.1}], 10)


def test_validate_normalizes_types() -> None:
    sp = get_space("nadamw_grid")
    cfg = sp.sample(1)
    raw = {**cfg, "learning_rate": np.float32(0.5), "use_nesterov": np.bool_(True), "epsilon": 1}
    out = sp.validate(raw)
    assert type(out["learning_rate"]) is float and out["learning_rate"] == 0.5
    assert out["use_nesterov"] is True and type(out["epsilon"]) is float
    assert list(out) == list(sp.hparam_names)


def test_training_steps_checked() -> None:
    sp = get_space("nadamw_grid")
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ValueError, match="training_steps"):
            sp.vectorized([sp.sample(0)], bad)
        with pytest.raises(ValueError, match="training_steps"):
            sp.torch_optimizer([torch.zeros(1, requires_grad=True)], sp.sample(0), bad)
    with pytest.raises(ValueError, match="at least one config"):
        sp.vectorized([], 10)
    with pytest.raises(ValueError, match="warmup_semantics"):
        sp.vectorized([sp.sample(0)], 10, warmup_semantics="mean")


def test_torch_optimizer_types_and_fixed_defaults() -> None:
    p = [torch.zeros(3, requires_grad=True)]
    expected = {
        "adam1p_wide_grid": TFAdam,
        "adam4p_wide_grid": TFAdam,
        "adam6p_wide_grid": Adam8P,
        "adam8p_wide_grid": Adam8P,
        "nadamw_grid": NAdamW,
        "adagrad_wide_grid": TFAdagrad,
    }
    for name, cls in expected.items():
        sp = get_space(name)
        opt, sched = sp.torch_optimizer(p, sp.sample(0), 500)
        assert type(opt) is cls and sched is None
    opt, _ = get_space("adam1p_wide_grid").torch_optimizer(p, {"learning_rate": 0.1}, 10)
    g = opt.param_groups[0]
    assert (g["beta1"], g["beta2"], g["epsilon"]) == (0.9, 0.999, 1e-8)
    # adam8p keeps TaskSet's fixed 10k-step decay horizon; adam6p rescales to the run length.
    opt, _ = get_space("adam8p_wide_grid").torch_optimizer(
        p, optimizer_config("adam8p_wide_grid_seed0"), 500
    )
    assert opt.param_groups[0]["training_steps"] == 10000 and opt.param_groups[0]["l1"] > 0
    opt, _ = get_space("adam6p_wide_grid").torch_optimizer(
        p, optimizer_config("adam6p_wide_grid_seed0"), 500
    )
    assert opt.param_groups[0]["training_steps"] == 500 and opt.param_groups[0]["l1"] == 0


def test_optimizer_classes_validate_keywords() -> None:
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="beta1"):
        TFAdam(p, beta1=1.0)
    with pytest.raises(ValueError, match="l2"):
        Adam8P(p, l2=-1.0)
    with pytest.raises(ValueError, match="warmup_semantics"):
        NAdamW(p, warmup_semantics="linear")
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        TFAdagrad(p, initial_accumulator_value=0.0)
    with pytest.raises(TypeError):
        TFAdam(p, 0.1)  # hyperparameters are keyword-only
    opt = TFAdam(p)
    with pytest.raises(ValueError, match="epsilon"):
        opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "epsilon": -1.0})
    with pytest.raises(ValueError, match="learning_rate"):
        opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "lr": -1.0})
    with pytest.raises(ValueError, match="'lr'"):
        opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "learning_rate": 1.0})
    assert math.isclose(opt.param_groups[0]["lr"], 1e-3)
