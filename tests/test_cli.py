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
]


def test_generate_writes_curves_and_skips_finished_units(tmp_path, capsys):
    store_dir = tmp_path / "store"
    assert main([*GEN_ARGS, "--store", str(store_dir)]) == 0
    from taskset_torch.store import CurveStore

    store = CurveStore(store_dir)
    curves = store.read("quadratic_family_seed106", "adam1p_wide_grid")
    assert curves.values.shape == (6, 2, 5, 4)
    assert curves.config_names == [f"adam1p_wide_grid_seed{i}" for i in range(6)]
    assert curves.steps.tolist() == [0, 10, 20, 30, 40]
    mtimes = {p: p.stat().st_mtime_ns for p in store_dir.rglob("*.npz")}
    assert len(mtimes) == 2 * 2 * 2  # tasks x seeds x chunks
    assert main([*GEN_ARGS, "--store", str(store_dir)]) == 0  # nothing left to do
    assert {p: p.stat().st_mtime_ns for p in store_dir.rglob("*.npz")} == mtimes


def test_generate_killed_with_sigkill_resumes_without_loss_or_duplicates(tmp_path):
    """kill -9 in the middle of `generate`, run it again: every unit exactly once, all readable."""
    store_dir = tmp_path / "store"
    args = [a for a in GEN_ARGS if a != "--quiet"]
    args[args.index("40")] = "2000"  # long enough to be killed in the middle
    cmd = [sys.executable, "-m", "taskset_torch.cli", *args, "--quiet", "--store", str(store_dir)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(store_dir.rglob("*.npz"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(list(store_dir.rglob("*.npz")))
    assert 0 < before < 8, f"kill landed outside the run ({before} units written)"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    from taskset_torch.store import CurveStore

    store = CurveStore(store_dir)
    units = sorted(str(p.relative_to(store_dir)) for p in store_dir.rglob("*.npz"))
    assert len(units) == len(set(units)) == 8
    for task in ("quadratic_family_seed106", "quadratic_family_seed10"):
        c = store.read(task, "adam1p_wide_grid")
        assert c.values.shape == (6, 2, 201, 4)
        assert np.isfinite(c.values[:, :, 0]).all()


def test_generate_on_a_missing_gpu_or_unknown_space_is_a_clear_error(tmp_path, capsys):
    import torch

    if not torch.cuda.is_available():
        code, _, err = run_cli(capsys, *GEN_ARGS, "--store", str(tmp_path), "--device", "cuda")
        assert code == 2 and "no CUDA device" in err
    args = [a if a != "adam1p_wide_grid" else "adam9p" for a in GEN_ARGS]
    code, _, err = run_cli(capsys, *args, "--store", str(tmp_path))
    assert code == 2 and "unknown search space 'adam9p'" in err and "nadamw_grid" in err
    assert not any(tmp_path.rglob("*.npz"))


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
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main([*args, "--chunk", "0", "--store", str(tmp_path / "s")])
    assert "--chunk must be 'auto' or an integer" in capsys.readouterr().err
