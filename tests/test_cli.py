"""The taskset-torch command: configs by name, task listing, curve generation that resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from taskset_torch.cli import main

REPO = Path(__file__).resolve().parents[1]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_config_prints_taskset_json(capsys):
    code, out, _ = run_cli(capsys, "config", "mlp_family_seed12")
    assert code == 0
    cfg = json.loads(out)
    assert set(cfg) == {"layer_sizes", "activation", "w_init", "dataset", "center_data"}


def test_config_of_an_optimizer_name(capsys):
    code, out, _ = run_cli(capsys, "config", "adam8p_wide_grid_seed3")
    assert code == 0
    assert set(json.loads(out)) >= {"learning_rate", "beta1", "l1", "exponential_decay"}


@pytest.mark.parametrize("name", ["mlp_famly_seed12", "adam8p_wide_gird_seed3", "nonsense"])
def test_unknown_config_names_get_closest_valid_names(capsys, name):
    code, _, err = run_cli(capsys, "config", name)
    assert code == 2
    assert "unknown" in err and "seed" in err
    if name != "nonsense":
        assert ("mlp_family_seed0" in err) or ("adam8p_wide_grid_seed0" in err)


def test_tasks_lists_family_params_and_data(capsys):
    code, out, _ = run_cli(
        capsys, "tasks", "--family", "quadratic", "--task-seeds", "0-2", "--json"
    )
    assert code == 0
    rows = json.loads(out)
    assert [r["task"] for r in rows] == [f"quadratic_family_seed{i}" for i in range(3)]
    assert all(r["num_params"] > 0 and r["family"] == "quadratic_family" for r in rows)


def test_bad_family_is_a_clear_error(capsys):
    code, _, err = run_cli(capsys, "tasks", "--family", "resnet")
    assert code == 2 and "unknown family" in err and "mlp_family" in err


GEN_ARGS = [
    "generate",
    "quadratic_family_seed106",
    "quadratic_family_seed10",
    "--space",
    "adam1p_wide_grid",
    "--configs",
    "0-5",
    "--seeds",
    "0-1",
    "--chunk",
    "3",
    "--steps",
    "40",
    "--eval-every",
    "10",
    "--eval-batches",
    "2",
    "--quiet",
    "--no-zero",  # the zero optimizer's units are tested in test_normalize_ref.py
]


def test_generate_writes_curves_and_skips_finished_units(tmp_path, capsys):
    store_dir = tmp_path / "store"
    assert main([*GEN_ARGS, "--store", str(store_dir)]) == 0
    from taskset_torch.curves import CurveStore

    store = CurveStore(store_dir)
    curves = store.read("quadratic_family_seed106", "adam1p_wide_grid")
    assert curves.values.shape == (1, 6, 2, 5, 4)
    assert list(curves.config_names) == [f"adam1p_wide_grid_seed{i}" for i in range(6)]
    assert curves.steps.tolist() == [0, 10, 20, 30, 40]
    mtimes = {p: p.stat().st_mtime_ns for p in store_dir.rglob("*.npz")}
    assert len(mtimes) == 2 * 2 * 2  # tasks x seeds x chunks
    assert main([*GEN_ARGS, "--store", str(store_dir)]) == 0  # nothing left to do
    assert {p: p.stat().st_mtime_ns for p in store_dir.rglob("*.npz")} == mtimes


@pytest.mark.slow  # two 1000-step runs and an interpreter start: ~10 s on a quiet 2-core CPU
def test_generate_killed_with_sigkill_resumes_without_loss_or_duplicates(tmp_path):
    """kill -9 in the middle of `generate`, run it again: the store equals an uninterrupted run's,
    every unit once, no temp file left."""
    store_dir = tmp_path / "store"
    args = [a for a in GEN_ARGS if a != "--quiet"]
    args[args.index("40")] = "1000"  # long enough to be killed in the middle
    cmd = [sys.executable, "-m", "taskset_torch.cli", *args, "--quiet", "--store", str(store_dir)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(store_dir.rglob("seed*.npz"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {p: p.stat().st_mtime_ns for p in store_dir.rglob("seed*.npz")}
    assert 0 < len(before) < 8, f"kill landed outside the run ({len(before)} units written)"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # finished units kept
    reference = tmp_path / "reference"
    assert main([*args, "--quiet", "--store", str(reference)]) == 0  # never interrupted
    from taskset_torch.curves import CurveStore

    resumed, whole = CurveStore(store_dir), CurveStore(reference)
    units = sorted(p.relative_to(store_dir) for p in store_dir.rglob("seed*.npz"))
    assert units == sorted(p.relative_to(reference) for p in reference.rglob("seed*.npz"))
    for task in ("quadratic_family_seed106", "quadratic_family_seed10"):
        a, b = resumed.read(task, "adam1p_wide_grid"), whole.read(task, "adam1p_wide_grid")
        assert a.values.shape == (1, 6, 2, 101, 4) and a.present.all()
        np.testing.assert_array_equal(a.values, b.values)
        assert "duplicates" not in a.meta
    leftovers = [p for p in store_dir.rglob("*") if p.is_file() and p.suffix != ".npz"]
    assert [p.name for p in leftovers] == ["protocol.json"] * 2  # no temp file


def test_generate_on_a_missing_gpu_or_unknown_space_is_a_clear_error(tmp_path, capsys):
    import torch

    if not torch.cuda.is_available():
        code, _, err = run_cli(capsys, *GEN_ARGS, "--store", str(tmp_path), "--device", "cuda")
        assert code == 2 and "no CUDA device" in err
    args = [a if a != "adam1p_wide_grid" else "adam9p" for a in GEN_ARGS]
    code, _, err = run_cli(capsys, *args, "--store", str(tmp_path))
    assert code == 2 and "unknown search space 'adam9p'" in err and "nadamw_grid" in err
    assert not any(tmp_path.rglob("*.npz"))


def test_rerun_with_other_settings_is_refused_and_another_chunk_adds_nothing(tmp_path, capsys):
    store = ["--store", str(tmp_path / "store")]
    assert main([*GEN_ARGS, *store]) == 0
    units = sorted(tmp_path.rglob("seed*.npz"))
    steps = GEN_ARGS.index("--steps") + 1
    for flag, value in (("--steps", "50"), ("--eval-every", "20"), ("--eval-batches", "3")):
        argv = list(GEN_ARGS)
        argv[argv.index(flag) + 1] = value
        code, _, err = run_cli(capsys, *argv, *store)
        assert code == 1 and "another protocol" in err and flag.lstrip("-").replace("-", "_") in err
        assert "--force" in err and "Traceback" not in err
    chunk = GEN_ARGS.index("--chunk") + 1
    code, out, _ = run_cli(capsys, *GEN_ARGS[:chunk], "2", *GEN_ARGS[chunk + 1 :], *store)
    assert code == 0 and sorted(tmp_path.rglob("seed*.npz")) == units  # nothing recomputed
    argv = list(GEN_ARGS)
    argv[steps] = "20"
    code, _, err = run_cli(capsys, *argv, *store, "--force")
    assert code == 0 and "set aside" in err
    from taskset_torch.curves import CurveStore

    c = CurveStore(tmp_path / "store").read("quadratic_family_seed10", "adam1p_wide_grid")
    assert c.steps.tolist() == [0, 10, 20]


def test_task_names_are_canonical_and_given_once(tmp_path, capsys):
    argv = [*GEN_ARGS[:1], "quadratic_family_seed01", "quadratic_family_seed1",
            "quadratic_family_seed001", *GEN_ARGS[3:]]  # fmt: skip
    assert main([*argv, "--store", str(tmp_path)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["quadratic_family_seed1"]
    assert len(list(tmp_path.rglob("seed*.npz"))) == 2 * 2  # seeds x chunks, computed once
    code, out, _ = run_cli(capsys, "tasks", "quadratic_family_seed02", "quadratic_family_seed2",
                           "--json")  # fmt: skip
    assert code == 0 and [r["task"] for r in json.loads(out)] == ["quadratic_family_seed2"]


def test_generate_chunk_auto_calibrates_once_and_integers_override(tmp_path, capsys, monkeypatch):
    from taskset_torch import chunking

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    measured = []

    def fake_rate(task, space, k, device="cpu", **kw):
        measured.append((task.name, k))
        return {1: 10.0, 2: 30.0, 4: 31.0}.get(k, 5.0)  # best at K = 2 (within 5% of K = 4)

    monkeypatch.setattr(chunking, "measure_rate", fake_rate)
    args = [a for a in GEN_ARGS if a not in ("--chunk", "3")]
    assert main([*args, "--store", str(tmp_path / "s")]) == 0
    assert {k for _, k in measured} == {1, 2, 4, 8, 16}  # stopped past the knee
    assert len(list((tmp_path / "s").rglob("*.npz"))) == 2 * 2 * 3  # tasks x seeds x chunks of 2
    measured.clear()
    assert main([*args, "--store", str(tmp_path / "s")]) == 0
    assert measured == []  # cached: the same units, nothing recomputed
    code, _, err = run_cli(capsys, *args, "--chunk", "0", "--store", str(tmp_path / "s"))
    assert code == 2 and "--chunk: must be a positive integer" in err
    code, _, err = run_cli(capsys, *args, "--chunk", "big", "--store", str(tmp_path / "s"))
    assert code == 2 and "'big' is neither 'auto' nor an integer" in err
