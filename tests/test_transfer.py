"""Transfer harness: methods, seeding, best-so-far bookkeeping, caching/resume, TPE, problems, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from hparam_lists.transfer import (
    ADAM_LR_GRID,
    AdamLRSweep,
    ListMethod,
    OptunaTPE,
    RandomSearch,
    best_so_far,
    evaluate_transfer,
    save_transfer,
    summarize_transfer,
)


class Toy:
    """A 6-parameter least-squares problem: seed -> init and data; diverges to NaN on huge steps."""

    name = "toy"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, make_optimizer, seed):
        self.calls += 1
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(32, 6, generator=g)
        y = x @ torch.randn(6, generator=g)
        w = torch.nn.Parameter(torch.randn(6, generator=g))
        opt = make_optimizer([w], 20)
        for _ in range(20):
            loss = ((x @ w - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        loss = float(((x @ w.detach() - y) ** 2).mean())
        if loss > 1e3:
            loss = math.nan
        return loss, -loss


def _methods():
    return [ListMethod("opt_list"), AdamLRSweep("practitioner"), AdamLRSweep("random")]


def _core(df):
    return df.drop(columns=["seconds", "reused"]).reset_index(drop=True)


def test_plans_and_seeding():
    practitioner = AdamLRSweep("practitioner").plan(5, seed=0)
    lrs = [s["hparams"]["learning_rate"] for s in practitioner]
    assert lrs[0] == pytest.approx(1e-3)
    assert lrs[1] == pytest.approx(10 ** (-3 + 1 / 3)) and lrs[2] == pytest.approx(
        10 ** (-3 - 1 / 3)
    )
    assert AdamLRSweep("practitioner").plan(5, seed=7) == practitioner  # the same for every seed
    rand = AdamLRSweep("random")
    a, b = rand.plan(13, 0), rand.plan(13, 1)
    assert a == rand.plan(13, 0) and a != b  # same seed, same trials; a new seed redraws
    assert sorted(s["hparams"]["learning_rate"] for s in a) == sorted(ADAM_LR_GRID)
    rs = RandomSearch()
    assert rs.plan(4, 3) == rs.plan(4, 3) and rs.plan(4, 3) != rs.plan(4, 4)
    lst = ListMethod("opt_list")
    assert lst.plan(3, 0) == lst.plan(3, 5)
    assert lst.plan(2, 0)[0]["hparams"] == lst.hlist[0]
    with pytest.raises(ValueError, match="13 learning rates"):
        rand.plan(14, 0)
    with pytest.raises(ValueError, match="order must be"):
        AdamLRSweep("sideways")


def test_best_so_far_bookkeeping_and_summary():
    toy = Toy()
    df = evaluate_transfer(toy, _methods() + [RandomSearch()], k=4, seeds=2)
    assert len(df) == 4 * 4 * 2
    assert list(dict.fromkeys(df["method"])) == [
        "opt_list",
        "adam_lr_practitioner",
        "adam_lr_random",
        "random_nadamw_grid",
    ]
    for (_, _), g in df.groupby(["method", "seed"]):
        assert list(g["trial"]) == [0, 1, 2, 3]
        losses = np.where(np.isfinite(g["loss"]), g["loss"], np.inf)
        np.testing.assert_array_equal(g["best_so_far"], np.minimum.accumulate(losses))
    # A diverged trial never counts as best.
    frame = df.iloc[:3].copy()
    frame["method"], frame["seed"], frame["trial"] = "m", 0, [0, 1, 2]
    frame["loss"] = [math.nan, 2.0, 3.0]
    assert list(best_so_far(frame)) == [math.inf, 2.0, 2.0]
    summary = summarize_transfer(df, ks=(1, 4))
    row = summary[(summary["method"] == "opt_list") & (summary["k"] == 4)].iloc[0]
    at4 = df[(df["method"] == "opt_list") & (df["trial"] == 3)]["best_so_far"]
    assert row["n_seeds"] == 2 and row["mean"] == pytest.approx(at4.mean())
    assert row["min"] == at4.min() and row["max"] == at4.max()


def test_same_seeds_same_results_and_shared_trials_reused():
    a, b = Toy(), Toy()
    df1 = evaluate_transfer(a, _methods(), k=5, seeds=[3, 4])
    df2 = evaluate_transfer(b, _methods(), k=5, seeds=[3, 4])
    assert _core(df1).equals(_core(df2))
    # Both Adam orders try learning rates near 1e-3: the shared ones train once per seed.
    assert df1["reused"].sum() > 0
    assert a.calls == len(df1) - df1["reused"].sum()
    adam = df1[df1["method"].str.startswith("adam")]
    key = adam.groupby(["hparams", "seed"])["loss"].nunique()
    assert (key == 1).all()


def test_resume_from_cache(tmp_path):
    first = Toy()
    part = evaluate_transfer(first, _methods(), k=2, seeds=2, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*/seed*/trial*.json"))) == len(part)
    again = Toy()
    full = evaluate_transfer(again, _methods(), k=3, seeds=2, cache_dir=tmp_path)
    fresh = evaluate_transfer(Toy(), _methods(), k=3, seeds=2)
    assert _core(full).equals(_core(fresh))
    assert again.calls <= 3 * 2  # only trial 2 of each (method, seed) was new
    assert again.calls == len(full) - len(part) - full[full["trial"] == 2]["reused"].sum()
    nothing = Toy()
    evaluate_transfer(nothing, _methods(), k=3, seeds=2, cache_dir=tmp_path)
    assert nothing.calls == 0
    # A cache holds one problem only.
    with pytest.raises(ValueError, match="separate cache_dir"):
        evaluate_transfer(Toy(), _methods(), k=1, seeds=1, cache_dir=tmp_path, problem="other")


def test_seed_order_finishes_seeds_first(tmp_path):
    toy = Toy()
    evaluate_transfer(toy, _methods(), k=2, seeds=2, order="seed", cache_dir=tmp_path)
    files = sorted(tmp_path.glob("*/seed*/trial*.json"), key=lambda p: p.stat().st_mtime_ns)
    seeds = [json.loads(p.read_text())["seed"] for p in files]
    assert seeds == sorted(seeds)  # every trial of seed 0 was written before any of seed 1
    with pytest.raises(ValueError, match="order must be"):
        evaluate_transfer(toy, _methods(), k=1, seeds=1, order="random")


def test_budget_stops_new_trials_but_keeps_cached(tmp_path):
    evaluate_transfer(Toy(), _methods(), k=1, seeds=1, cache_dir=tmp_path)
    toy = Toy()
    df = evaluate_transfer(toy, _methods(), k=3, seeds=1, cache_dir=tmp_path, budget=0)
    assert toy.calls == 0 and set(df["trial"]) == {0} and len(df) == 3


def test_optuna_tpe_is_seeded_and_resumes(tmp_path):
    pytest.importorskip("optuna")
    tpe = OptunaTPE(n_startup=2)
    full = evaluate_transfer(Toy(), [tpe], k=4, seeds=[0, 1])
    again = evaluate_transfer(Toy(), [tpe], k=4, seeds=[0, 1])
    assert _core(full).equals(_core(again))
    hp = full["hparams"].map(json.loads)
    assert hp[full["seed"] == 0].tolist() != hp[full["seed"] == 1].tolist()
    evaluate_transfer(Toy(), [tpe], k=2, seeds=[0, 1], cache_dir=tmp_path)
    toy = Toy()
    resumed = evaluate_transfer(toy, [tpe], k=4, seeds=[0, 1], cache_dir=tmp_path)
    assert toy.calls == 4 and _core(resumed).equals(_core(full))


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="k must be a positive int"):
        evaluate_transfer(Toy(), _methods(), k=0)
    with pytest.raises(ValueError, match="backend must be"):
        evaluate_transfer(Toy(), _methods(), backend="threads")
    with pytest.raises(ValueError, match="distinct"):
        evaluate_transfer(Toy(), [AdamLRSweep(), AdamLRSweep()], k=1, seeds=1)
    with pytest.raises(ValueError, match="seeds"):
        evaluate_transfer(Toy(), _methods(), k=1, seeds=[1, 1])
    with pytest.raises(TypeError, match="train_fn must return"):
        evaluate_transfer(lambda make, seed: object(), [AdamLRSweep()], k=1, seeds=1)
    with pytest.raises(FileNotFoundError, match="neither a published list"):
        ListMethod("no_such_list.json")


def test_save_writes_tables_and_figure(tmp_path):
    pytest.importorskip("matplotlib")
    df = evaluate_transfer(Toy(), _methods(), k=3, seeds=2)
    paths = save_transfer(df, tmp_path / "out", info={"problem": "toy"}, ks=(1, 3))
    for name in ("trials.csv", "summary.csv", "summary.md", "info.json", "best_so_far.png"):
        assert paths[name].is_file() and paths[name].stat().st_size > 0
    assert "| opt_list |" in paths["summary.md"].read_text()
    assert not list((tmp_path / "out").glob(".*tmp*"))


@pytest.mark.parametrize("name", ["resnet_cifar10", "transformer_lm"])
def test_reference_problems_train_with_the_given_optimizer(name):
    from hparam_lists.transfer import make_optimizer_factory
    from hparam_lists.transfer_problems import make_problem

    problem = make_problem(name, "ci", data_dir=None)
    assert "substitute" in problem.data_source or "local" in problem.data_source
    spec = ListMethod("opt_list").plan(1, 0)[0]
    used = []

    def make(params, steps):
        opt = make_optimizer_factory(spec)(params, steps)
        used.append((type(opt).__name__, steps))
        return opt

    r1, r2 = problem(make, 0), problem(make, 0)
    assert used == [("NAdamW", problem.config["steps"])] * 2
    assert math.isfinite(r1["loss"]) and 0.0 <= r1["metric"] <= 1.0
    assert r1 == r2  # the seed fixes init and data order
    with pytest.raises(ValueError, match="scale must be one of"):
        make_problem(name, "huge")
    with pytest.raises(ValueError, match="unknown problem"):
        make_problem("mlp", "ci")


def test_cli_transfer_ci(tmp_path, capsys):
    from taskset_torch.cli import main

    out = tmp_path / "lm"
    argv = ["transfer", "--problem", "transformer_lm", "--scale", "ci", "--k", "2", "--seeds", "1"]
    argv += ["--methods", "adam_lr_practitioner", "--out", str(out), "--quiet", "--threads", "1"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "| opt_list |" in text and "4 of 4 trials" in text
    info = json.loads((out / "info.json").read_text())
    assert info["trials_done"] == 4 and info["data"]
    bad = ["transfer", "--problem", "transformer_lm", "--scale", "ci", "--methods", "bogus"]
    assert main(bad + ["--out", str(out)]) == 2
    assert "unknown methods" in capsys.readouterr().err


@pytest.mark.slow
def test_ray_backend_matches_local(tmp_path):
    ray = pytest.importorskip("ray")
    import sys

    from ray import cloudpickle  # Ray's own copy: ship this test module's Toy by value

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    local = evaluate_transfer(Toy(), _methods() + [OptunaTPE(n_startup=1)], k=3, seeds=2)
    try:
        ray.init(num_cpus=2, include_dashboard=False)
        remote = evaluate_transfer(
            Toy(), _methods() + [OptunaTPE(n_startup=1)], k=3, seeds=2, backend="ray"
        )
    finally:
        ray.shutdown()
    assert _core(local).equals(_core(remote))
