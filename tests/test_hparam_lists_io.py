"""HParamList files, the published list, optimizer_for_idx, importers, exports and the CLI."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import taskset_torch
from hparam_lists.importers import read_taskset_json
from hparam_lists.lists import HParamList, learn_list, load_list, optimizer_for_idx
from hparam_lists.published import published_list_path
from hparam_lists.synthetic import synthetic_curves
from taskset_torch.cli import main
from taskset_torch.curves import SPLITS, Curves, combine
from tests.conftest import opt_list_digest, reference_opt_list_sha256

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL = SHARED / "data" / "taskset_real"

# ------------------------------------------------------------------------------ HParamList


def _small_list() -> HParamList:
    return HParamList(
        configs=({"learning_rate": 0.1, "use_nesterov": True}, {"learning_rate": 1e-3}),
        space="nadamw_grid",
        names=("nadamw_grid_seed4", "nadamw_grid_seed9"),
        provenance={"tasks": ["a", "b"], "split": "valid_inner", "code_version": "x"},
        description="test",
    )


def test_hparam_list_json_round_trip(tmp_path):
    hlist = _small_list()
    path = hlist.save(tmp_path / "l.json")
    back = HParamList.load(path)
    assert back == hlist
    assert back[0] == {"learning_rate": 0.1, "use_nesterov": True}
    back[0]["learning_rate"] = 5.0  # entries are copies
    assert back[0]["learning_rate"] == 0.1
    assert load_list(str(path)) == hlist
    assert json.loads(path.read_text())["format"] == "taskset-torch-hparam-list"
    assert len(hlist.head(1)) == 1 and hlist.head(1).names == ("nadamw_grid_seed4",)


def test_hparam_list_errors(tmp_path):
    hlist = _small_list()
    with pytest.raises(IndexError, match="out of range for a list of 2"):
        hlist[2]
    with pytest.raises(ValueError, match="not plain JSON"):
        HParamList(configs=({"lr": float("nan")},), space="nadamw_grid")
    with pytest.raises(ValueError, match="at least one"):
        HParamList(configs=(), space="nadamw_grid")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else", "configs": []}')
    with pytest.raises(ValueError, match="unsupported list format"):
        HParamList.load(bad)
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        HParamList.load(bad)
    with pytest.raises(FileNotFoundError, match="neither a published list"):
        load_list(tmp_path / "nope.json")


def test_published_opt_list_loads_by_name():
    hlist = load_list("opt_list")
    assert len(hlist) == 1000 and hlist.space == "nadamw_grid"
    assert hlist.names[0] == "nadamw_grid_seed251" and hlist.names[-1] == "nadamw_grid_seed283"
    assert hlist[0]["learning_rate"] == 0.0011948335721160095
    assert hlist[0]["constant_fraction"] == 0.747304046223346
    assert sorted(int(n.rsplit("seed", 1)[1]) for n in hlist.names) == list(range(1000))
    assert "Apache-2.0" in hlist.source
    assert published_list_path("opt_list").name == "opt_list.json"
    with pytest.raises(KeyError, match="available: opt_list"):
        published_list_path("nope")


def test_shipped_opt_list_equals_the_published_numbers():
    # tests/data holds the digest of the published file's configs and source (the original is
    # 400 KB in ../shared/data): equal digests, equal configs and source
    shipped = json.loads(published_list_path("opt_list").read_text())
    assert opt_list_digest(shipped) == reference_opt_list_sha256()
    changed = {**shipped, "configs": [{**shipped["configs"][0], "learning_rate": 1e-3}]}
    assert opt_list_digest(changed) != reference_opt_list_sha256()


# ------------------------------------------------------------------------------ optimizer_for_idx


def _cosine_lr(step, lr, total, constant_fraction, warmup_fraction, min_mult):
    """TaskSet's TF schedule (reference TASKSET.md section 3), written out independently."""
    g = min(step, total)
    c = total * constant_fraction
    x = max(g, c)
    lr_min = min_mult * lr
    decay = (lr - lr_min) * (math.cos(math.pi * (x - c) / (total - c)) / 2 + 0.5) + lr_min
    if warmup_fraction > 0:
        w = total * min(warmup_fraction, constant_fraction)
        if w > g:
            return g / w * lr
    return decay


def test_optimizer_for_idx_learning_rate_follows_the_schedule():
    cfg = {
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
    hlist = HParamList(configs=(cfg,), space="nadamw_grid", names=("custom",))
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1).double()  # float64: the step sizes are compared to 1e-9
    x = torch.ones(4, 3, dtype=torch.float64)
    total = 20
    opt, scheduler = optimizer_for_idx(
        model.parameters(), 0, total, hparam_list=hlist, return_scheduler=True
    )
    assert isinstance(opt, torch.optim.Optimizer)
    assert isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler)
    for step in range(total):
        before = model.bias.detach().clone()
        opt.zero_grad()
        model(x).sum().backward()  # constant gradient: Adam's step is exactly lr(step)
        opt.step()
        scheduler.step()
        moved = float(before - model.bias.detach())
        expected = _cosine_lr(step, 0.01, total, 0.5, 0.2, 0.1)
        assert moved == pytest.approx(expected, rel=1e-8), step


def test_optimizer_for_idx_moves_adam8p_decays_into_the_scheduler():
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
    model = torch.nn.Linear(3, 1).double()
    x = torch.ones(4, 3, dtype=torch.float64)
    opt, scheduler = optimizer_for_idx(
        model.parameters(), 0, 30, hparam_list=hlist, return_scheduler=True
    )
    for step in range(30):
        before = model.bias.detach().clone()
        opt.zero_grad()
        model(x).sum().backward()  # constant gradient: Adam8P's step is lr(step) (10k horizon)
        opt.step()
        scheduler.step()
        t = float(step)
        expected = 0.01 * math.exp(-1e-4 * t) * max(1 - 5e-5 * t, 0.0)
        assert float(before - model.bias.detach()) == pytest.approx(expected, rel=1e-6), step


def test_optimizer_for_idx_trains_a_linear_model_with_opt_list():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 5, generator=gen)
    y = x @ torch.randn(5, 1, generator=gen)
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 1)
    opt = optimizer_for_idx(model.parameters(), 0, 200)
    first = None
    for _ in range(200):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        first = loss.item() if first is None else first
        loss.backward()
        opt.step()
    assert ((model(x) - y) ** 2).mean().item() < 0.75 * first  # lr 1.2e-3: slow but steady
    with pytest.raises(IndexError, match="out of range"):
        optimizer_for_idx(model.parameters(), 1000, 10)
    with pytest.raises(ValueError, match="training_steps"):
        optimizer_for_idx(model.parameters(), 0, 0)


# ------------------------------------------------------------------------------ importers


def _write_json_layout(directory: Path, n_tasks: int = 4, n_configs: int = 12) -> None:
    """Synthetic curves written in the real extract's JSON layout."""
    curves = synthetic_curves(n_tasks, n_configs, n_steps=6, seed=3)
    directory.mkdir()
    for t, task in enumerate(curves.tasks):
        rows = []
        for c in range(n_configs):
            v = curves.values[t, c, 0].astype(float)
            rows.append(
                {
                    "hp": {"learning_rate": 10 ** curves.hparams[c]["log_lr"]},
                    "train": {"loss": v[:, 0].tolist()},
                    "valid": {"loss": v[:, 1].tolist()},
                    "test": {"loss": v[:, 2].tolist()},
                }
            )
        (directory / f"{task}.json").write_text(json.dumps(rows))


def test_json_importer_maps_splits(tmp_path):
    _write_json_layout(tmp_path / "j")
    curves = read_taskset_json(tmp_path / "j", space="adam1p_wide_grid")
    assert curves.values.shape == (4, 12, 1, 6, 4)
    assert curves.config_names[5] == "adam1p_wide_grid_seed5"
    assert curves.steps.tolist() == [0, 200, 400, 600, 800, 1000]
    row = json.loads((tmp_path / "j" / f"{curves.tasks[1]}.json").read_text())[5]
    np.testing.assert_allclose(
        curves.values[1, 5, 0, :, SPLITS.index("valid_inner")], row["valid"]["loss"], rtol=1e-6
    )
    np.testing.assert_allclose(
        curves.values[1, 5, 0, :, SPLITS.index("valid_outer")], row["test"]["loss"], rtol=1e-6
    )
    assert np.isnan(curves.values[..., SPLITS.index("test")]).all()
    assert curves.hparams[5] == row["hp"]
    sub = read_taskset_json(tmp_path / "j", tasks=[curves.tasks[2]])
    assert sub.tasks == (curves.tasks[2],)
    with pytest.raises(FileNotFoundError, match="no curve file"):
        read_taskset_json(tmp_path / "j", tasks=["missing_task"])
    (tmp_path / "j" / "broken.json").write_text('[{"hp": {}, "train": {"loss": [1.0]}}]')
    with pytest.raises(ValueError, match="broken.json: row 0: missing 'valid'"):
        read_taskset_json(tmp_path / "j")


def test_importer_on_the_real_taskset_extract():
    if not REAL.is_dir():
        pytest.skip("shared real TaskSet data not present")
    task = "FixedTextRNNClassification_imdb_patch32_GRU128_bs128"
    curves = read_taskset_json(REAL, tasks=[task])
    assert curves.values.shape == (1, 1000, 1, 51, 4) and curves.steps[-1] == 10000
    assert curves.space == "adam8p_wide_grid" and curves.config_names[0] == "adam8p_wide_grid_seed0"
    assert curves.hparams[0]["learning_rate"] == 0.0008696040132105586  # adam8p seed 0
    start = curves.values[0, :, 0, 0, SPLITS.index("valid_inner")]
    assert abs(np.nanmedian(start) - math.log(2)) < 0.1  # an untrained binary classifier
    assert np.isnan(curves.values[..., SPLITS.index("test")]).all()
    hlist = learn_list(curves.select_configs(curves.config_names[:100]), length=5)
    assert len(hlist) == 5 and hlist.space == "adam8p_wide_grid"
    assert hlist.provenance["code_version"] == taskset_torch.__version__


def test_combine_merges_curve_objects():
    def unit(task, names, seeds, value):
        return Curves(
            tasks=(task,),
            space="nadamw_grid",
            config_names=names,
            hparams=[{"learning_rate": 0.1}] * len(names),
            seeds=seeds,
            steps=np.array([0, 200]),
            values=np.full((1, len(names), len(seeds), 2, 4), value, np.float32),
        )

    data = combine(
        [
            unit("t1", ["nadamw_grid_seed10", "nadamw_grid_seed2"], [0], 1.0),
            unit("t2", ["nadamw_grid_seed2"], [0, 1], 2.0),
        ]
    )
    assert data.config_names == ("nadamw_grid_seed2", "nadamw_grid_seed10")
    assert data.seeds == (0, 1) and data.values.shape == (2, 2, 2, 2, 4)
    assert data.values[0, 1, 0, 0, 0] == 1.0 and np.isnan(data.values[0, 0, 1]).all()
    assert np.isnan(data.values[1, 1]).all() and data.values[1, 0, 1, 0, 0] == 2.0
    with pytest.raises(ValueError, match="steps differ"):
        other = replace(unit("t3", ["nadamw_grid_seed2"], [0], 1.0), steps=np.array([0, 100]))
        combine([unit("t1", ["nadamw_grid_seed2"], [0], 1.0), other])


# ------------------------------------------------------------------------------ exports


def test_export_rejects_configs_outside_the_space():
    from hparam_lists.export import warm_start_params

    hlist = HParamList(configs=({"learning_rate": 100.0},), space="adam1p_wide_grid")
    with pytest.raises(ValueError, match="learning_rate=100.0 is outside"):
        warm_start_params(hlist, 1)
    with pytest.raises(KeyError, match="no tuner search space"):
        warm_start_params(HParamList(configs=({"a": 1},), space="mystery"), 1)


# ------------------------------------------------------------------------------ CLI


def test_cli_learn_evaluate_compare_export(tmp_path, capsys):
    _write_json_layout(tmp_path / "j", n_tasks=4, n_configs=12)
    src = ["--taskset-json", str(tmp_path / "j"), "--space", "adam1p_wide_grid"]
    out = tmp_path / "list.json"
    tasks = sorted(p.stem for p in (tmp_path / "j").glob("*.json"))
    assert (
        main(["learn", *src, "--tasks", ",".join(tasks[:3]), "--out", str(out), "--bootstrap", "3"])
        == 0
    )
    learned = json.loads(capsys.readouterr().out)
    assert learned["tasks"] == 3 and learned["length"] == 12 and "stability" in learned
    assert HParamList.load(out).provenance["split"] == "valid_inner"

    assert (
        main(["evaluate", *src, "--list", str(out), "--ks", "1,3", "--n-boot", "20", "--json"]) == 0
    )
    ev = json.loads(capsys.readouterr().out)
    assert ev["tasks"] == [tasks[3]] and ev["excluded_tasks"] == tasks[:3]
    assert [r["k"] for r in ev["per_k"]] == [1, 3]
    assert set(ev["per_k"][0]) >= {"list_loss", "list_ci", "random_loss", "random_ci", "speedup"}

    argv = ["evaluate", *src, "--splits", "kfold", "--folds", "2", "--ks", "1,2", "--n-boot", "20"]
    assert main([*argv, "--json"]) == 0
    cv = json.loads(capsys.readouterr().out)
    assert cv["mode"] == "cross_validation" and cv["n_folds"] == 2 and len(cv["per_k"]) == 2
    assert main(argv) == 0
    assert "speedup" in capsys.readouterr().out

    # the guard: a list learned on valid_inner is never reported on valid_inner
    assert main(["evaluate", *src, "--list", str(out), "--report-split", "valid_inner"]) == 2
    assert "different split" in capsys.readouterr().err

    copy = tmp_path / "copy.json"
    copy.write_text(out.read_text())
    argv = ["compare", *src, "--lists", str(out), str(copy), "--ks", "1,2", "--n-boot", "10"]
    assert main([*argv, "--json"]) == 0
    comp = json.loads(capsys.readouterr().out)
    assert comp["tasks"] == [tasks[3]]  # only tasks none of the lists was learned on
    assert comp["difference_vs_first"][str(copy)][0]["diff"] == 0.0
    assert main(["compare", *src, "--lists", str(out), str(out)]) == 2
    assert "twice" in capsys.readouterr().err

    assert main(["export", "--list", "opt_list", "--n", "2", "--format", "optuna"]) == 0
    exp = json.loads(capsys.readouterr().out)
    assert exp["enqueue_trials"][0]["learning_rate"] == 0.0011948335721160095
    assert exp["search_space"]["use_nesterov"] == {"kind": "choice", "choices": [False, True]}
    assert main(["export", "--n", "1", "--format", "ray", "--out", str(tmp_path / "r.json")]) == 0
    assert len(json.loads((tmp_path / "r.json").read_text())["points_to_evaluate"]) == 1

    assert main(["learn", "--store", str(tmp_path), "--out", str(out)]) == 2
    assert "--space" in capsys.readouterr().err


# ------------------------------------------------------------------------------ curve store


def _nadamw_store(root: Path, n_tasks: int = 3, n_configs: int = 30, drop: dict | None = None):
    """A curve store with synthetic curves under nadamw_grid names (the opt_list's configs);
    ``drop`` maps a task index to a config name that task never ran."""
    from taskset_torch import curves as store_mod

    synth = synthetic_curves(n_tasks, n_configs, n_seeds=2, n_steps=5, seed=4)
    published = load_list("opt_list")
    hparams = dict(zip(published.names, published.configs))
    names = [f"nadamw_grid_seed{i}" for i in range(n_configs)]
    store = store_mod.CurveStore(root)
    for t in range(n_tasks):
        keep = [i for i, n in enumerate(names) if (drop or {}).get(t) != n]
        for s in range(2):
            for chunk in (keep[: len(keep) // 2], keep[len(keep) // 2 :]):
                store.write_unit(
                    store_mod.Curves.unit(
                        f"mlp_family_seed{t}",
                        "nadamw_grid",
                        s,
                        [names[i] for i in chunk],
                        hparams=[hparams[names[i]] for i in chunk],
                        steps=synth.steps,
                        values=synth.values[t, chunk, s],
                        time_per_step=np.full(len(chunk), 0.01),
                        data_sources=[],
                        meta={"training_steps": 800},
                    )
                )
    return store_mod, synth, names


def test_store_and_npz_importers(tmp_path):
    from hparam_lists.importers import read_npz_files, read_store

    store_mod, synth, names = _nadamw_store(tmp_path / "store")
    data = read_store(tmp_path / "store", space="nadamw_grid")
    assert data.tasks == tuple(f"mlp_family_seed{t}" for t in range(3))
    assert data.config_names == tuple(names) and data.seeds == (0, 1)
    np.testing.assert_array_equal(data.values, synth.values)
    published = load_list("opt_list")
    assert data.hparams[5] == published[published.names.index("nadamw_grid_seed5")]
    paths = []
    for task in data.tasks:
        path = tmp_path / "npz" / task / "nadamw_grid_10000_replica5.npz"
        path.parent.mkdir(parents=True)
        curves = store_mod.CurveStore(tmp_path / "store").read(task, "nadamw_grid")
        store_mod.write_taskset_npz(curves, path)
        paths.append(path)
    from_npz = read_npz_files(paths)
    assert from_npz.tasks == data.tasks and from_npz.config_names == data.config_names
    np.testing.assert_array_equal(from_npz.values, data.values)
    hlist = learn_list(data, length=5, replicas="per_seed")
    assert hlist.space == "nadamw_grid" and hlist.provenance["replicas"] == "per_seed"
    assert hlist[0] == data.hparams[data.config_names.index(hlist.names[0])]


def test_cli_compare_learned_list_with_opt_list_from_a_store(tmp_path, capsys):
    # task 3 never ran opt_list's first config, so the comparison must leave it out
    _nadamw_store(tmp_path / "store", n_tasks=5, n_configs=1000, drop={3: "nadamw_grid_seed251"})
    src = ["--store", str(tmp_path / "store"), "--space", "nadamw_grid"]
    out = tmp_path / "l.json"
    learn = ["learn", *src, "--tasks", "mlp_family_seed0,mlp_family_seed1", "--length", "20"]
    assert main([*learn, "--out", str(out)]) == 0
    capsys.readouterr()
    argv = ["compare", *src, "--lists", str(out), "opt_list", "--ks", "1,3", "--n-boot", "10"]
    assert main([*argv, "--json"]) == 0
    comp = json.loads(capsys.readouterr().out)
    assert comp["excluded_tasks"] == ["mlp_family_seed0", "mlp_family_seed1"]
    assert comp["dropped_tasks"] == ["mlp_family_seed3"]
    assert comp["tasks"] == ["mlp_family_seed2", "mlp_family_seed4"]
    assert comp["pool_size"] == 1000
    assert set(comp["lists"]) == {str(out), "opt_list"}
    assert main([*argv, "--ks", "1,30"]) == 2  # the learned list has only 20 entries
    assert "1..20" in capsys.readouterr().err
    assert main(["evaluate", *src, "--splits", "family", "--ks", "1"]) == 2
    assert "2 families" in capsys.readouterr().err


def test_package_exports_resolve():
    import hparam_lists

    for name in hparam_lists.__all__:
        assert getattr(hparam_lists, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        hparam_lists.nope  # noqa: B018
