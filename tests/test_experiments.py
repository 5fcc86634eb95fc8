"""The one-command scripts users run: paper figures from a store and from TaskSet's JSON layout.

Every run names its inputs (including where the transfer results are read), so what each test
expects to be written does not depend on what else the checkout holds. The figure runs call the
script's ``main`` in this process; one run goes through the script as users start it.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from taskset_torch.cli import main as cli

REPO = Path(__file__).resolve().parents[1]
FIGURES = (
    "search_spaces",
    "family_generalization",
    "normalized_loss_by_family",
    "num_train_tasks",
    "list_hparams",
    "task_similarity",
    "task_census",
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("figstore")
    for space in ("nadamw_grid", "adam1p_wide_grid"):
        rc = cli(
            [
                "generate",
                "--family",
                "quadratic",
                "--family",
                "losg_tasks",
                "--task-seeds",
                "1-4",
                "--space",
                space,
                "--configs",
                "0-11",
                "--steps",
                "30",
                "--eval-every",
                "10",
                "--eval-batches",
                "1",
                "--store",
                str(root),
                "--quiet",
            ]
        )
        assert rc == 0
    return root


SCRIPT = REPO / "experiments" / "paper_figures.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(SCRIPT), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)


@functools.cache
def _script():
    spec = importlib.util.spec_from_file_location("paper_figures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _figures(capsys, *args: str) -> str:
    """Run the script's main in this process (no interpreter start-up); its stdout."""
    _script().main(list(args))
    return capsys.readouterr().out


def _written(out: Path) -> set[str]:
    return {p.stem for p in out.glob("*.png")}


@pytest.fixture
def transfer_results(tmp_path):
    """Results of experiments/transfer.py for one toy problem: 2 methods x 2 seeds x 3 trials."""
    root = tmp_path / "transfer"
    (root / "toy").mkdir(parents=True)
    rows = ["method,seed,trial,loss,best_so_far"]
    for method, base in (("opt_list", 1.0), ("random", 2.0)):
        for seed in (0, 1):
            for trial in range(3):
                best = base - 0.25 * trial - 0.5 * seed
                rows.append(f"{method},{seed},{trial},{best},{best}")
    (root / "toy" / "trials.csv").write_text("\n".join(rows) + "\n")
    return root


def test_paper_figures_from_a_store_writes_every_figure_and_its_numbers(
    store, tmp_path, transfer_results, capsys
):
    out = tmp_path / "figs"
    args = ["--out", str(out), "--store", str(store), "--n-boot", "20", "--repeats", "2"]
    printed = _figures(capsys, *args, "--transfer-results", str(transfer_results))
    assert "skipped" not in printed
    assert _written(out) == {*FIGURES, "transfer"}
    for stem in FIGURES:
        assert (out / f"{stem}.png").stat().st_size > 10_000, stem
        numbers = json.loads((out / f"{stem}.json").read_text())
        assert numbers["source"] == f"store {store} (8 tasks)", stem
    transfer = json.loads((out / "transfer.json").read_text())
    # mean over the two seeds of the best loss so far, per trial
    assert transfer == {
        "source": str(transfer_results),
        "toy": {"opt_list": [0.75, 0.5, 0.25], "random": [1.75, 1.5, 1.25]},
    }
    numbers = json.loads((out / "numbers.json").read_text())
    assert set(numbers) == {"source", "norm_ref", *FIGURES, "transfer"}
    assert numbers["source"] == f"store {store} (8 tasks)" and numbers["norm_ref"] == "auto"
    spaces = json.loads((out / "search_spaces.json").read_text())
    assert set(spaces) == {"source", "nadamw_grid", "adam1p_wide_grid"}
    per_k = spaces["nadamw_grid"]["pooled"]["per_k"]
    assert [r["k"] for r in per_k] == [1, 2, 3, 5, 10]
    # best-so-far losses cannot rise with more trials
    assert np.all(np.diff([r["list_loss"] for r in per_k]) <= 1e-12)
    assert np.all(np.diff([r["random_loss"] for r in per_k]) <= 1e-12)
    fam = json.loads((out / "family_generalization.json").read_text())
    assert set(fam) == {"source", "quadratic_family", "losg_tasks_family"}
    census = json.loads((out / "task_census.json").read_text())["tasks"]
    assert len(census) == 8 and all(r["num_params"] > 0 for r in census.values())
    assert all(r["seconds_per_step"] > 0 for r in census.values())
    sim = json.loads((out / "task_similarity.json").read_text())
    assert len(sim["tasks"]) == 8 and 0 < sum(sim["explained_variance"]) <= 1 + 1e-9


# list_hparams draws a flat hyperparameter of this toy layout: matplotlib widens the axis itself
@pytest.mark.filterwarnings("ignore:Attempting to set identical low and high ylims")
def test_paper_figures_from_taskset_json_layout(tmp_path, capsys):
    # a small directory in the real extract's layout (see hparam_lists.importers)
    rng = np.random.default_rng(0)
    src = tmp_path / "real"
    src.mkdir()
    for t in range(4):
        rows = []
        for i in range(12):
            curve = (0.69 * np.exp(-rng.random() * np.linspace(0, 3, 51))).tolist()
            rows.append(
                {
                    "hp": {
                        "learning_rate": 1e-3 * (i + 1),
                        "beta1": 0.9,
                        "beta2": 0.999,
                        "epsilon": 1e-8,
                        "l1": 0.0,
                        "l2": 0.0,
                        "linear_decay": 0.0,
                        "exponential_decay": 0.0,
                    },
                    "train": {"loss": curve},
                    "valid": {"loss": curve},
                    "test": {"loss": curve},
                }
            )
        (src / f"FixedTextRNNClassification_imdb_task{t}_bs64.json").write_text(json.dumps(rows))
    out = tmp_path / "figs"
    args = ["--out", str(out), "--taskset-json", str(src), "--n-boot", "20", "--repeats", "2"]
    printed = _figures(capsys, *args, "--transfer-results", str(tmp_path / "no_transfer"))
    # one kind of task (no family to leave out), no store (no census), no transfer results
    assert "family_generalization skipped: the curves hold one family" in printed
    assert "transfer skipped" in printed
    assert _written(out) == set(FIGURES) - {"family_generalization", "task_census"}
    assert (out / "search_spaces.png").stat().st_size > 10_000
    spaces = json.loads((out / "search_spaces.json").read_text())
    assert spaces["source"].startswith("TaskSet's real curves (4 tasks x 12 adam8p)")


def test_paper_figures_says_what_is_missing(tmp_path):
    done = _run("--out", str(tmp_path), "--suite", "no-such-suite")
    assert done.returncode != 0 and "unknown suite 'no-such-suite'" in done.stderr


def test_science_check_reports_every_number_on_the_shipped_suite(capsys):
    """experiments/science_check.py on the shipped mini suite: k-fold and leave-one-family-out
    rows at k = 1, 3, 10 for each asked space, intervals around every value, one JSON line."""
    path = Path(__file__).resolve().parents[1] / "experiments" / "science_check.py"
    spec = importlib.util.spec_from_file_location("science_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (
        module.main(
            ["--suite", "taskset-torch-mini", "--n-boot", "20", "--spaces", "adam8p_wide_grid"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "k-fold: learned list" in out and "leave-family-out: list" in out
    result = json.loads(out.strip().splitlines()[-1])
    space = result["spaces"]["adam8p_wide_grid"]
    assert space["tasks"] == 32 and space["configs"] == 64
    for part in ("kfold", "lofo"):
        assert sorted(int(k) for k in space[part]) == [1, 3, 10]
        for rec in space[part].values():
            lo, hi = rec["speedup_ci"]
            assert 0 <= lo <= rec["speedup"] <= hi
            assert rec["list_ci"][0] <= rec["list_loss"] <= rec["list_ci"][1]
    # a list learned on the other tasks beats random search at one trial on held-out tasks
    assert space["kfold"]["1"]["list_loss"] < space["kfold"]["1"]["random_loss"]


def _gpu_batch(monkeypatch):
    # importable by name: its worker processes (spawned) unpickle its functions by module name
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "experiments"))
    return importlib.import_module("gpu_batch")


def test_gpu_batch_takes_cheap_tasks_first_and_costly_fixed_kinds_last(monkeypatch):
    gb = _gpu_batch(monkeypatch)
    tasks = [
        "FixedImageConv_a",
        "mlp_family_seed1",
        "FixedLM_b",
        "quadratic_family_seed2",
        "TwoD_Bowl1",
    ]
    cost = {
        "FixedImageConv_a": 5e9,
        "mlp_family_seed1": 3e6,
        "FixedLM_b": 4e9,
        "quadratic_family_seed2": 16.0,
    }
    order = gb._suite_order(tasks, cost)
    assert order == [
        "TwoD_Bowl1",
        "quadratic_family_seed2",
        "mlp_family_seed1",
        "FixedLM_b",
        "FixedImageConv_a",
    ]


@pytest.mark.slow  # ~15 s: worker processes start torch; the lease driver end to end on CPU
def test_gpu_batch_rehearsal_packs_the_finished_tasks(tmp_path, monkeypatch):
    gb = _gpu_batch(monkeypatch)
    out = tmp_path / "out"
    argv = ["--out", str(out), "--budget", "240", "--reserve", "30", "--device", "cpu", "--tiny"]
    argv += ["--no-fidelity", "--workers", "1", "--runs", str(tmp_path / "runs")]
    argv += ["--devdata", str(tmp_path / "none"), "--data-dir", str(tmp_path / "data")]
    assert gb.main(argv) == 0
    spec = json.loads((out / "taskset-torch-v1-tiny.json").read_text())
    assert len(spec["tasks"]) == 5 and spec["protocol"]["steps"] == 20
    jobs = json.loads((out / "jobs.json").read_text())["results"]
    assert len(jobs) == 20 and all(r["rc"] == 0 for r in jobs.values())
    from taskset_torch.suite import load_suite

    store = load_suite(out / "taskset-torch-v1-tiny.npz", cache_dir=tmp_path / "cache")
    assert sorted(store.tasks()) == sorted(spec["tasks"])
