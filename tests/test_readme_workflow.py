"""The README's runnable blocks (marked ``<!-- test: run -->``) run exactly as written."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from taskset_torch.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"<!-- test: run -->\n```(\w+)\n(.*?)\n```", re.S)


def _blocks(lang: str) -> list[str]:
    return [code for kind, code in _BLOCK.findall(README.read_text()) if kind == lang]


def _commands(block: str) -> list[list[str]]:
    """Shell lines (continuations joined, comments dropped) split into argv lists."""
    out = []
    for line in block.replace("\\\n", " ").splitlines():
        argv = shlex.split(line, comments=True)
        if argv:
            out.append(argv)
    return out


def test_readme_blocks_parse_as_commands():
    """Fast guard for the default suite: every README command is valid for the CLI parser."""
    from taskset_torch.cli import build_parser

    assert len(_blocks("bash")) == 1 and len(_blocks("python")) == 2
    parser = build_parser()
    for argv in _commands(_blocks("bash")[0]):
        assert argv[0] == "taskset-torch", argv
        parser.parse_args(argv[1:])  # SystemExit on a bad option
    for i, code in enumerate(_blocks("python")):
        compile(code, f"README.md python block {i}", "exec")


@pytest.mark.slow  # ~10 s of CPU: trains 12 tasks x 35 configs
def test_readme_list_workflow_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (block,) = _blocks("bash")
    outputs = {}
    for argv in _commands(block):
        assert argv[0] == "taskset-torch", argv  # the README shows only this program
        assert main(argv[1:]) == 0, (argv, capsys.readouterr().err)
        outputs[argv[1] if argv[1] != "plot" else "plot " + argv[2]] = capsys.readouterr().out
    learned = json.loads(outputs["learn"])
    assert learned["tasks"] == 8 and learned["pool_size"] == 35  # 30 configs + opt_list's first 5
    assert 1 <= learned["improving_length"] <= learned["length"]
    assert "speedup" in outputs["evaluate"] and "4 evaluated tasks" in outputs["evaluate"]
    table = outputs["compare"]
    assert "(A) my_list.json" in table and "(B) opt_list" in table and "(B) - (A)" in table
    assert re.search(r"^\s+5\s", table, re.M)  # k runs to the 5 trained opt_list entries
    import pandas as pd

    df = pd.read_csv(tmp_path / "curves.csv")
    assert list(df.columns[:2]) == ["task", "config"] and list(df.columns[-4:]) == [
        "seed",
        "step",
        "split",
        "loss",
    ]
    assert {"learning_rate", "beta1", "constant_fraction"} <= set(df.columns)
    assert df["task"].nunique() == 12 and df["config"].nunique() == 35
    assert (tmp_path / "list.png").stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.parametrize("index", [0, 1])
def test_readme_python_examples_run_as_written(index, tmp_path, monkeypatch, capsys):
    if index == 1:
        pytest.importorskip("optuna")
    monkeypatch.chdir(tmp_path)
    code = _blocks("python")[index]
    namespace: dict = {"__name__": "__readme__"}
    exec(compile(code, f"README.md python block {index}", "exec"), namespace)  # noqa: S102
    if index == 0:  # the first entry trains the example model
        assert namespace["loss"].item() < 1.0
    else:
        study = namespace["study"]
        assert len(study.trials) == 10
        assert study.trials[0].params["learning_rate"] == 0.0011948335721160095
