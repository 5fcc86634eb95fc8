"""The list API in a user's hands: optimizer_for_idx safe by default, warmup semantics, tuner glue."""

from __future__ import annotations

import re

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


# ------------------------------------------------------------------------------ tuner glue


def test_tuner_parameters_round_trip_every_published_entry():
    from hparam_lists.tuning import config_from_tuner, tuner_from_config

    hlist = load_list("opt_list")
    for i in range(len(hlist)):
        assert (
            config_from_tuner(tuner_from_config(hlist[i], "nadamw_grid"), "nadamw_grid") == hlist[i]
        )
    with pytest.raises(ValueError, match="both 0"):
        tuner_from_config({**hlist[0], "adamw_weight_decay": 0.0}, "nadamw_grid")
    with pytest.raises(ValueError, match=r"one_minus_beta1=.* is outside \[0.001, 1.0\]"):
        tuner_from_config({**hlist[0], "beta1": 0.9999}, "nadamw_grid")
    params = tuner_from_config(hlist[0], "nadamw_grid")
    del params["use_warmup"]
    with pytest.raises(ValueError, match=r"\['use_warmup'\] are missing"):
        config_from_tuner(params, "nadamw_grid")


@pytest.mark.parametrize("space", ["nadamw_grid", "adam8p_wide_grid"])
def test_suggest_hparams_samples_as_the_search_space_does(space):
    optuna = pytest.importorskip("optuna")
    from scipy.stats import ks_2samp

    from hparam_lists.tuning import suggest_hparams
    from taskset_torch.optimizers import get_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    n = 300
    tuned = []
    for _ in range(n):
        trial = study.ask()
        tuned.append(suggest_hparams(trial, space))
        study.tell(trial, 0.0)
    grid = [get_space(space).sample(s) for s in range(n)]
    assert all(get_space(space).validate(c) == c for c in tuned)
    # 1 - beta is log-uniform in both: the same distribution (the old export said uniform betas)
    for field in ("beta1", "beta2", "learning_rate"):
        a = np.log([1 - c[field] if "beta" in field else c[field] for c in tuned])
        b = np.log([1 - c[field] if "beta" in field else c[field] for c in grid])
        assert ks_2samp(a, b).pvalue > 1e-3, field
    if space == "nadamw_grid":  # the "0 or logU" fields are 0 as often as TaskSet makes them 0
        for field in ("warmup_fraction", "min_learning_rate_mult", "l2_weight_decay"):
            zeros = np.mean([c[field] == 0 for c in tuned]), np.mean([c[field] == 0 for c in grid])
            assert abs(zeros[0] - zeros[1]) < 0.12, (field, zeros)


def test_optuna_warm_start_then_make_optimizer():
    optuna = pytest.importorskip("optuna")
    from hparam_lists.export import enqueue_in_study
    from hparam_lists.tuning import make_optimizer, suggest_hparams

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    hlist = load_list("opt_list")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    enqueued = enqueue_in_study(study, hlist, 3)
    for i in range(4):
        trial = study.ask()
        cfg = suggest_hparams(trial, "nadamw_grid")
        if i < 3:  # the list's entries come first, exactly
            assert cfg == hlist[i] and trial.params == enqueued[i]
        else:
            assert cfg != hlist[3]
        study.tell(trial, float(i))
    # make_optimizer: same steps as optimizer_for_idx, from a config or from trial.params
    for hparams in (hlist[1], enqueued[1]):
        model = _model()
        opt = make_optimizer(model.parameters(), hparams, "nadamw_grid", np.int64(50))
        ref_model = _model()
        ref = optimizer_for_idx(ref_model.parameters(), 1, 50)
        assert _step_sizes(opt, model, 5) == _step_sizes(ref, ref_model, 5)
    with pytest.raises(ValueError, match="missing"):
        make_optimizer(_model().parameters(), {"learning_rate": 0.1}, "nadamw_grid", 10)


def test_ray_tune_points_to_evaluate_come_first():
    pytest.importorskip("ray.tune")
    from ray.tune.experiment import Experiment
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from hparam_lists.export import ray_points_to_evaluate
    from hparam_lists.tuning import config_from_tuner, ray_param_space

    hlist = load_list("opt_list")
    points = ray_points_to_evaluate(hlist, 2)
    space = ray_param_space("nadamw_grid", fixed={"training_steps": 100})
    generator = BasicVariantGenerator(points_to_evaluate=points, random_state=0)
    generator.add_configurations(
        [Experiment("warm", lambda config: None, config=space, num_samples=3)]
    )
    configs = [generator.next_trial().config for _ in range(3)]
    for i in range(2):
        assert config_from_tuner(configs[i], "nadamw_grid") == hlist[i]
        assert configs[i]["training_steps"] == 100
    sampled = config_from_tuner(configs[2], "nadamw_grid")
    assert 1e-5 <= sampled["learning_rate"] <= 1.0 and 0 <= 1 - sampled["beta1"] <= 1.0
    with pytest.raises(ValueError, match="clash"):
        ray_param_space("nadamw_grid", fixed={"one_minus_beta1": 0.1})


def test_export_prints_bounds_as_written(capsys):
    from taskset_torch.cli import main

    assert main(["export", "--list", "opt_list", "--n", "2", "--format", "optuna"]) == 0
    text = capsys.readouterr().out
    assert "9.99999" not in text and '"low": 1e-05' in text
    doc = __import__("json").loads(text)
    assert doc["search_space"]["one_minus_beta2"] == {
        "kind": "log",
        "low": 1e-05,
        "high": 1.0,
        "sets": "beta2 = 1 - x",
    }
    assert doc["configs"][1] == load_list("opt_list")[1]


# ------------------------------------------------------------------------------ command line


def _store(root, n_tasks=4, names=None):
    """A curve store of synthetic nadamw_grid curves (opt_list's configs and hyperparameters)."""
    from hparam_lists.synthetic import synthetic_curves
    from taskset_torch.curves import Curves, CurveStore

    published = load_list("opt_list")
    hparams = dict(zip(published.names, published.configs))
    names = names or [f"nadamw_grid_seed{i}" for i in range(12)]
    synth = synthetic_curves(n_tasks, len(names), n_seeds=1, n_steps=5, seed=3)
    store = CurveStore(root)
    for t in range(n_tasks):
        store.write_unit(
            Curves.unit(
                f"quadratic_family_seed{t}",
                "nadamw_grid",
                0,
                names,
                hparams=[hparams[n] for n in names],
                steps=synth.steps,
                values=synth.values[t, :, 0],
                time_per_step=np.full(len(names), 0.01),
                data_sources=[],
                meta={"training_steps": 100},
            )
        )
    return ["--store", str(root), "--space", "nadamw_grid"]


def test_version_and_generate_options(tmp_path, capsys):
    from taskset_torch import __version__
    from taskset_torch.cli import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"taskset-torch {__version__}"
    base = ["generate", "quadratic_family_seed3", "--space", "nadamw_grid", "--quiet"]
    base += ["--store", str(tmp_path / "s"), "--steps", "4", "--eval-every", "2"]
    for bad, message in [
        ("opt_list", "takes LIST:N"),
        ("opt_list:0", "takes LIST:N"),
        ("nope:3", "neither a published list"),
    ]:
        assert main([*base, "--include-list", bad]) == 2
        assert message in capsys.readouterr().err
    assert main([*base, "--space", "adam8p_wide_grid", "--include-list", "opt_list:2"]) == 2
    assert "holds nadamw_grid configs, but --space is adam8p_wide_grid" in capsys.readouterr().err
    argv = [*base, "--configs", "0-1", "--include-list", "opt_list:2", "--eval-batches", "1"]
    assert main(argv) == 0
    assert "only 3 evaluation points" in capsys.readouterr().err
    from taskset_torch.curves import CurveStore

    names = CurveStore(tmp_path / "s").read("quadratic_family_seed3", "nadamw_grid").config_names
    assert sorted(names) == sorted(
        ["nadamw_grid_seed0", "nadamw_grid_seed1", "nadamw_grid_seed251", "nadamw_grid_seed611"]
    )
    help_text = __import__("taskset_torch.cli", fromlist=["build_parser"]).build_parser()
    sub = help_text._subparsers._group_actions[0].choices["generate"].format_help()
    assert "(default 200)" in sub and "(default 50)" in sub


def test_learn_marks_the_filler_and_compare_explains_missing_entries(tmp_path, capsys):
    from taskset_torch.cli import main

    src = _store(tmp_path / "s")
    out = tmp_path / "l.json"
    argv = ["learn", *src, "--tasks", "quadratic_family_seed0,quadratic_family_seed1"]
    assert main([*argv, "--out", str(out)]) == 0
    report = __import__("json").loads(capsys.readouterr().out)
    n = report["improving_length"]
    assert 1 <= n <= 12 and HParamList.load(out).provenance["improving_length"] == n
    if n < 12:
        assert f"stopped improving after {n} entries" in report["note"]
    # opt_list's first entry (seed251) was never trained here: say how to train it
    assert main(["compare", *src, "--lists", str(out), "opt_list"]) == 2
    err = capsys.readouterr().err
    assert "nadamw_grid_seed251, the first entry of opt_list" in err
    assert "--include-list opt_list:10" in err


def test_compare_runs_k_up_to_the_trained_entries(tmp_path, capsys):
    from taskset_torch.cli import main

    names = [f"nadamw_grid_seed{i}" for i in range(10)] + [
        "nadamw_grid_seed251",
        "nadamw_grid_seed611",
    ]
    src = _store(tmp_path / "s", names=names)
    out = tmp_path / "l.json"
    assert (
        main(
            [
                "learn",
                *src,
                "--tasks",
                "quadratic_family_seed0,quadratic_family_seed1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    capsys.readouterr()
    held = ["--tasks", "quadratic_family_seed2,quadratic_family_seed3"]
    assert main(["compare", *src, *held, "--lists", str(out), "opt_list", "--n-boot", "50"]) == 0
    table = capsys.readouterr().out
    rows = [line.split()[0] for line in table.splitlines() if re.match(r"^\s+\d+\s", line)]
    assert rows == ["1", "2"]  # opt_list has curves for its first 2 entries only
    assert "(B) - (A)" in table and "2 held-out tasks" in table
    assert main(["compare", *src, *held, "--lists", str(out), "opt_list", "--ks", "1,3"]) == 2
    assert "only the first 2 of opt_list" in capsys.readouterr().err
    assert main(["evaluate", *src, "--list", "opt_list", "--n-boot", "20", "--json"]) == 0
    ev = __import__("json").loads(capsys.readouterr().out)
    assert [r["k"] for r in ev["per_k"]] == [1, 2] and "speedup_definition" in ev


def test_curves_table_and_plots(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    from taskset_torch.cli import main
    from taskset_torch.curves import load_curves_dataframe

    src = _store(tmp_path / "s", n_tasks=3)
    for suffix in ("csv", "parquet"):
        path = tmp_path / f"c.{suffix}"
        assert main(["curves", *src, "--tasks", "quadratic_family_seed1", "--out", str(path)]) == 0
        assert "12 configs" in capsys.readouterr().out
        df = pd.read_csv(path) if suffix == "csv" else pd.read_parquet(path)
        assert len(df) == 12 * 5 * 4  # configs x steps x splits, one seed
        assert list(df.columns) == list(
            load_curves_dataframe(tmp_path / "s", "nadamw_grid").columns
        )
    df = load_curves_dataframe(tmp_path / "s", "nadamw_grid")
    assert df.columns[0] == "task" and list(df.columns[-4:]) == ["seed", "step", "split", "loss"]
    row = df[(df.config == "nadamw_grid_seed3")].iloc[0]
    assert (
        row["beta1"]
        == load_list("opt_list")[load_list("opt_list").names.index("nadamw_grid_seed3")]["beta1"]
    )
    assert main(["curves", *src, "--out", str(tmp_path / "c.xlsx")]) == 2
    assert "use .parquet or .csv" in capsys.readouterr().err
    assert main(["curves", *src, "--tasks", "nope", "--out", str(tmp_path / "c.csv")]) == 2
    assert "no nadamw_grid curves for tasks ['nope']" in capsys.readouterr().err

    pytest.importorskip("matplotlib")
    fig = tmp_path / "curves.png"
    argv = ["plot", "curves", *src, "--task", "quadratic_family_seed0", "--list", "opt_list"]
    assert main([*argv, "--out", str(fig)]) == 0 and fig.stat().st_size > 10_000
    assert main(["plot", "curves", *src, "--out", str(fig)]) == 2
    assert "needs --task" in capsys.readouterr().err
    hlist = tmp_path / "l.json"
    assert (
        main(
            [
                "learn",
                *src,
                "--tasks",
                "quadratic_family_seed0,quadratic_family_seed1",
                "--out",
                str(hlist),
            ]
        )
        == 0
    )
    fig = tmp_path / "list.png"
    argv = ["plot", "list", *src, "--list", str(hlist), "--ks", "1-5", "--n-boot", "20"]
    assert main([*argv, "--out", str(fig)]) == 0 and fig.stat().st_size > 10_000
