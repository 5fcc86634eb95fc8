"""Lists learned and judged from a store: messages that say what is wrong, substitute provenance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from taskset_torch.cli import main

SPACE = "adam1p_wide_grid"
SUBSTITUTE = {"dataset": "mnist", "kind": "substitute", "detail": "scikit-learn digits"}
SYNTHETIC = {"dataset": "quadratic", "kind": "synthetic"}


@pytest.fixture(autouse=True)
def _dataset_settings(data_dir):
    """Commands here may switch substitutes off process-wide; the data_dir fixture restores it."""
    yield


def _store(root: Path, sources=(SYNTHETIC,), nan_tasks: dict | None = None) -> list[str]:
    """Four tasks x 6 configs with improving curves; ``nan_tasks`` maps a task index to "all"
    (every curve NaN) or "start" (NaN initial loss)."""
    from taskset_torch.curves import Curves, CurveStore

    store = CurveStore(root)
    rng = np.random.RandomState(0)
    names = [f"{SPACE}_seed{i}" for i in range(6)]
    tasks = []
    for t in range(4):
        task = f"quadratic_family_seed{t}"
        values = (rng.rand(6, 3, 4) + np.arange(3, 0, -1)[:, None]).astype(np.float32)
        if (nan_tasks or {}).get(t) == "all":
            values[:] = np.nan
        elif (nan_tasks or {}).get(t) == "start":
            values[:, 0] = np.nan
        store.write_unit(
            Curves.unit(task, SPACE, 0, names, hparams=[{"learning_rate": 10.0**-i} for i in range(6)], steps=[0, 5, 10], values=values, time_per_step=np.full(6, 0.01), data_sources=list(sources), meta={})
        )  # fmt: skip
        tasks.append(task)
    return tasks


def _learn(root: Path, out: Path, *extra: str) -> list[str]:
    return ["learn", "--store", str(root), "--space", SPACE, "--out", str(out), *extra]


def test_a_list_learned_on_substitute_data_says_so(tmp_path, capsys, monkeypatch):
    _store(tmp_path / "s", sources=(SUBSTITUTE,))
    out = tmp_path / "list.json"
    assert main(_learn(tmp_path / "s", out)) == 0
    err = capsys.readouterr().err
    assert "warning: 4 of the 4 tasks the list was learned on ran on substitute data" in err
    prov = json.loads(out.read_text())["provenance"]
    assert prov["substitute_data"]["quadratic_family_seed0"] == ["mnist (scikit-learn digits)"]
    out.unlink()
    monkeypatch.setenv("TASKSET_TORCH_NO_SUBSTITUTES", "1")
    assert main(_learn(tmp_path / "s", out)) == 1
    assert "trained on substitute data" in capsys.readouterr().err and not out.exists()
    for off in ("off", "0", "false", "no", ""):
        monkeypatch.setenv("TASKSET_TORCH_NO_SUBSTITUTES", off)
        assert main(_learn(tmp_path / "s", out)) == 0, off
    capsys.readouterr()


def test_real_data_leaves_no_substitute_note(tmp_path, capsys):
    _store(tmp_path / "s")
    assert main(_learn(tmp_path / "s", tmp_path / "l.json")) == 0
    assert "substitute" not in capsys.readouterr().err
    assert "substitute_data" not in json.loads((tmp_path / "l.json").read_text())["provenance"]


def test_a_list_of_another_space_or_with_wrong_values_is_refused(tmp_path, capsys):
    tasks = _store(tmp_path / "s")
    out = tmp_path / "l.json"
    assert main(_learn(tmp_path / "s", out, "--tasks", ",".join(tasks[:2]))) == 0
    evaluate = ["evaluate", "--store", str(tmp_path / "s"), "--space", SPACE, "--json"]
    assert main([*evaluate, "--list", str(out), "--n-boot", "10"]) == 0
    capsys.readouterr()
    assert main([*evaluate, "--list", "opt_list"]) == 2
    err = capsys.readouterr().err
    assert "is a list of search space 'nadamw_grid' but the curves are of space" in err
    data = json.loads(out.read_text())
    data["configs"][0]["learning_rate"] = 123.0  # the name no longer describes the values
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    assert main([*evaluate, "--list", str(bad)]) == 2
    assert "entry 0's name and values disagree" in capsys.readouterr().err
    compare = ["compare", "--store", str(tmp_path / "s"), "--space", SPACE, "--lists"]
    assert main([*compare, str(bad), "opt_list"]) == 2
    assert "disagree" in capsys.readouterr().err


def test_tasks_that_cannot_inform_a_list_are_named(tmp_path, capsys):
    from hparam_lists.importers import read_store
    from hparam_lists.normalize import UninformativeTaskWarning, compute_scores

    _store(tmp_path / "s", nan_tasks={1: "all", 3: "start"})
    curves = read_store(tmp_path / "s", space=SPACE)
    with pytest.warns(UninformativeTaskWarning) as record:
        compute_scores(curves, "valid_inner")
    text = " | ".join(str(w.message) for w in record)
    assert "['quadratic_family_seed1']: every curve is NaN" in text
    assert "['quadratic_family_seed3']: the initial loss is NaN" in text
    assert main(_learn(tmp_path / "s", tmp_path / "l.json")) == 0
    err = capsys.readouterr().err
    assert "taskset-torch learn: warning: split 'valid_inner'" in err
    assert "quadratic_family_seed1" in err and "quadratic_family_seed3" in err


def test_learn_output_is_written_atomically(tmp_path, monkeypatch):
    """A failed write leaves the old list and no temp file."""
    from hparam_lists import lists

    _store(tmp_path / "s")
    out = tmp_path / "l.json"
    out.write_text("old")

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(lists.os, "replace", disk_full)
    assert main(_learn(tmp_path / "s", out)) == 1
    assert out.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == [
        "l.json",
        "s",
    ]
