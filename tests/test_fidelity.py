"""experiments/fidelity_real.py on a tiny store and a fake TaskSet JSON directory."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "experiments"))
import fidelity_real as fr  # noqa: E402

from taskset_torch.curves import CurveStore  # noqa: E402
from taskset_torch.optimizers import get_space  # noqa: E402
from taskset_torch.runner import plan, run_units  # noqa: E402
from taskset_torch.training import TrainConfig  # noqa: E402

STAND_IN = "quadratic_family_seed106"
CFG = TrainConfig(training_steps=200, eval_every=200, eval_batches=1)
KEYS = (("train", 0), ("valid", 1), ("test", 2))  # the JSON layout's keys -> our split index


def test_spearman_ranks_non_finite_as_worst_and_ties_share_ranks():
    assert fr.spearman(np.array([1.0, 2, 3]), np.array([10.0, 20, 30])) == pytest.approx(1.0)
    assert fr.spearman(np.array([1.0, 2, 3]), np.array([3.0, 2, 1])) == pytest.approx(-1.0)
    # nan and inf both rank as the worst, tied.
    a = np.array([1.0, 2.0, np.nan, np.inf])
    b = np.array([1.0, 2.0, 5.0, 5.0])
    assert fr.spearman(a, b) == pytest.approx(1.0)
    assert np.isnan(fr.spearman(np.ones(3), np.arange(3.0)))


def test_stratified_pick_spans_the_range_including_diverged():
    final = np.concatenate([np.linspace(0.1, 1.0, 90), np.full(10, np.nan)])
    picked = fr.stratified_pick(final, 10, seed=0)
    assert len(set(picked.tolist())) == 10
    assert np.isnan(final[picked]).sum() == 1  # the worst stratum: the diverging configs
    assert final[picked[0]] < 0.2  # the best stratum too
    np.testing.assert_array_equal(picked, fr.stratified_pick(final, 10, seed=0))
    with pytest.raises(ValueError, match="--configs"):
        fr.stratified_pick(final, 0, seed=0)


def _fake_taskset_dir(tmp_path: Path, n_configs: int, tasks: dict[str, str] | None = None) -> Path:
    """TaskSet's JSON layout filled with OUR curves (so fidelity is exact): ``{file name: our
    task}``, by default ``fake_task`` holding the stand-in's curves."""
    d = tmp_path / "taskset"
    d.mkdir()
    for name, task in (tasks or {"fake_task": STAND_IN}).items():
        rows = _our_rows(tmp_path / "source", task, n_configs)
        (d / f"{name}.json").write_text(json.dumps(rows))
    return d


def _our_rows(source: Path, task: str, n_configs: int) -> list[dict]:
    store = CurveStore(source)
    run_units(plan([task], "adam8p_wide_grid", range(n_configs), [0], 100), store, CFG)
    c = store.read(task, "adam8p_wide_grid")
    space = get_space("adam8p_wide_grid")
    rows = []
    for i in range(n_configs):
        v = c.values[0, i, 0].astype(float)  # [step, split]; TaskSet's file runs on past our steps
        curve = {key: [*v[:, k].tolist(), float(v[-1, k]), float(v[-1, k])] for key, k in KEYS}
        rows.append({"hp": space.sample(i), **{key: {"loss": x} for key, x in curve.items()}})
    return rows


def test_fidelity_of_our_own_curves_is_exact_and_the_run_resumes(tmp_path, capsys):
    data = _fake_taskset_dir(tmp_path, 12)
    store = tmp_path / "fid"
    argv = [
        "--taskset-json", str(data), "--stand-in", STAND_IN, "--configs", "6", "--steps", "200",
        "--eval-batches", "1", "--store", str(store), "--chunk", "4",
    ]  # fmt: skip
    assert fr.main(argv) == 0
    captured = capsys.readouterr()
    assert "fake_task: unit 2/2 (2 configs, seed 0) trained" in captured.err  # progress
    lines = captured.out.strip().splitlines()
    assert lines[1].split()[:2] == ["task", "n"]
    result = json.loads(lines[-1])
    r = result["tasks"]["fake_task"]
    assert r["spearman"] == pytest.approx(1.0)
    assert r["mae_last"] == pytest.approx(0.0, abs=1e-4 * max(1.0, abs(r["step0_taskset"])))
    assert result["median_spearman"] == pytest.approx(1.0)
    # TaskSet's own inner-vs-outer agreement over the same picked configs, beside ours.
    real = fr.read_taskset_json(data, space=fr.SPACE)
    inner = real.values[0, :, 0, 1, fr.VALID_INNER]
    picked = fr.stratified_pick(inner, 6, fr.pick_seed(0, "fake_task"))
    outer = real.values[0, picked, 0, 1, fr.VALID_OUTER]
    want = fr.spearman(inner[picked].astype(float), outer.astype(float))
    assert r["spearman_taskset_inner_outer"] == pytest.approx(want)
    assert result["protocol"]["steps"] == 200 and result["protocol"]["randomness"] == "shared"
    assert (store / "figures" / "fake_task.png").stat().st_size > 5_000
    details = json.loads((store / "fidelity.json").read_text())["details"]["fake_task"]
    assert details["trained_here"] == 2 and set(details["by_step"]) == {"0", "200"}
    assert fr.main(argv) == 0  # resumes: nothing trained again
    capsys.readouterr()
    assert (
        json.loads((store / "fidelity.json").read_text())["details"]["fake_task"]["trained_here"]
        == 0
    )


def test_bad_arguments_are_clear_errors(tmp_path, capsys):
    data = _fake_taskset_dir(tmp_path, 4)
    with pytest.raises(SystemExit):
        fr.main(["--taskset-json", str(data), "--steps", "300"])
    assert "multiple of 200" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        fr.main(["--taskset-json", str(data), "--tasks", "nope"])
    assert "no curve file for tasks ['nope']" in capsys.readouterr().err


def test_a_task_gets_the_same_configs_alone_or_among_others(tmp_path):
    """The pick depends on the task's name, not its place in the directory: one job per task
    (as on a GPU) and one job for all pick the same configs."""
    assert fr.pick_seed(0, "TaskA") == fr.pick_seed(0, "TaskA")
    assert fr.pick_seed(0, "TaskA") != fr.pick_seed(0, "TaskB")
    assert fr.pick_seed(1, "TaskA") == fr.pick_seed(0, "TaskA") + 1


def test_no_train_reports_on_the_picked_configs_the_store_holds(tmp_path, capsys):
    """A long run's interim result: --no-train trains nothing and reports over what is there."""
    data = _fake_taskset_dir(tmp_path, 12)
    store = tmp_path / "fid"
    argv = [
        "--taskset-json", str(data), "--stand-in", STAND_IN, "--configs", "6", "--steps", "200",
        "--eval-batches", "1", "--store", str(store), "--no-train",
    ]  # fmt: skip
    assert fr.main(argv) == 1  # an empty store: nothing to report, said so
    assert "holds none of its picked configs" in capsys.readouterr().err
    real = fr.read_taskset_json(data, space=fr.SPACE)
    final = real.values[0, :, 0, 1, fr.VALID_INNER]
    picked = fr.stratified_pick(final, 6, fr.pick_seed(0, "fake_task"))
    run_units(plan([STAND_IN], fr.SPACE, picked[:3].tolist(), [0], 8), CurveStore(store), CFG)
    assert fr.main(argv) == 0
    out = capsys.readouterr()
    r = json.loads(out.out.strip().splitlines()[-1])["tasks"]["fake_task"]
    assert r["n_configs"] == 3 and r["spearman"] == pytest.approx(1.0)
    assert "unit" not in out.err  # nothing trained
    assert fr.main([*argv[:7], "400", *argv[8:]]) == 2  # the store's curves stop at 200
    assert "do not reach step 400" in capsys.readouterr().err
    assert len(CurveStore(store).read(STAND_IN, fr.SPACE).config_names) == 3


def test_table_cells_stay_narrow_for_exploded_losses():
    assert fr.fmt_cell(0.12345) == "0.123"
    assert fr.fmt_cell(637958621233152.25) == "6.38e+14"
    assert fr.fmt_cell(float("nan")) == "nan" and fr.fmt_cell(None) == "nan"


def test_workers_train_tasks_in_parallel_processes_and_report_all(tmp_path, capsys):
    tasks = ["quadratic_family_seed106", "quadratic_family_seed7"]
    data = _fake_taskset_dir(tmp_path, 8, {t: t for t in tasks})
    store = tmp_path / "fid"
    argv = [
        "--taskset-json", str(data), "--configs", "4", "--steps", "200", "--eval-batches", "1",
        "--store", str(store), "--workers", "2",
    ]  # fmt: skip
    assert fr.main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert sorted(result["tasks"]) == tasks
    for t in tasks:  # each task's own curves, trained by a worker: exact against themselves
        assert result["tasks"][t]["spearman"] == pytest.approx(1.0)
        assert len(CurveStore(store).read(t, fr.SPACE).config_names) == 4


def _summary(tasks: dict[str, float], device: str = "cpu", steps: int = 2000) -> dict:
    protocol = {"steps": steps, "configs": 32, "eval_batches": 50, "seeds": 1}
    protocol.update(device=device, randomness="shared")
    rows = {t: {"spearman": rho, "n_trained": 20, "mae_last": 0.01} for t, rho in tasks.items()}
    return {"tasks": rows, "median_spearman": None, "protocol": protocol}


def test_combine_reports_one_median_over_runs_on_other_devices(tmp_path, capsys):
    import fidelity_combine as fc

    gpu = tmp_path / "gpu_jobs.jsonl"  # one job per task, one summary line each
    gpu.write_text(
        "\n".join(json.dumps(_summary({t: r}, "cuda")) for t, r in (("a", 0.9), ("b", 0.5)))
    )
    cpu_report = tmp_path / "cpu.txt"  # a whole report: a table, then the JSON line
    cpu_report.write_text("fidelity: 2 tasks\ntask n rho\n" + json.dumps(_summary({"c": 0.7})))
    assert fc.main([str(gpu), str(cpu_report)]) == 0
    *table, last = capsys.readouterr().out.strip().splitlines()
    out = json.loads(last)
    assert out["median_spearman"] == pytest.approx(0.7) and out["n_tasks"] == 3
    assert {t: r["device"] for t, r in out["tasks"].items()} == {
        "a": "cuda",
        "b": "cuda",
        "c": "cpu",
    }
    assert out["tasks"]["c"]["n_configs"] == 32  # a summary without n: its protocol's configs
    assert out["protocol"]["devices"] == ["cpu", "cuda"]
    assert any(line.startswith("c ") and line.rstrip().endswith("cpu") for line in table)


def test_combine_refuses_conflicts_and_non_summaries(tmp_path, capsys):
    import fidelity_combine as fc

    one, again, longer = (tmp_path / f"{n}.json" for n in ("one", "again", "longer"))
    one.write_text(json.dumps(_summary({"a": 0.9})))
    again.write_text(json.dumps(_summary({"a": 0.4})))
    longer.write_text(json.dumps(_summary({"b": 0.9}, steps=10000)))
    with pytest.raises(SystemExit):
        fc.main([str(one), str(again)])
    assert "a is in both" in capsys.readouterr().err
    assert fc.main([str(one), str(again), "--later-wins"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["tasks"]["a"]["spearman"] == 0.4
    with pytest.raises(SystemExit):
        fc.main([str(one), str(longer)])
    err = capsys.readouterr().err
    assert "another protocol" in err and "steps 2000 vs 10000" in err
    for bad, said in (
        (tmp_path / "none.json", "cannot read"),
        (REPO / "README.md", "no fidelity summary"),
    ):
        with pytest.raises(SystemExit):
            fc.main([str(bad)])
        assert said in capsys.readouterr().err


def test_moved_configs_exclude_those_that_kept_their_init_order():
    steps = np.array([0, 200])
    # TaskSet: 3 configs that did not move (final within 1% of step 0, ordered by init noise),
    # 2 that learned and 1 that diverged.
    theirs = np.array(
        [
            [0.700, 0.6995],
            [0.698, 0.6985],
            [0.696, 0.6962],
            [0.70, 0.40],
            [0.70, 0.55],
            [0.7, np.nan],
        ]
    )
    # Ours: one shared init, the stuck ones in the opposite order; the moved ones in TaskSet's order.
    ours = np.array(
        [[0.69, 0.6901], [0.69, 0.6902], [0.69, 0.6903], [0.69, 0.41], [0.69, 0.52], [0.69, np.inf]]
    )
    res = fr.compare_task(ours, theirs, steps)
    assert res["n_moved"] == 3  # the two that learned and the diverged one
    assert res["spearman_moved"] == pytest.approx(1.0)
    assert res["spearman"] < 1.0  # the stuck configs' order differs
