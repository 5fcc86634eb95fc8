"""The one-command scripts users run: paper figures (tiny settings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_paper_figures_writes_every_figure_and_its_numbers(tmp_path):
    out = tmp_path / "figs"
    cmd = [
        sys.executable,
        str(REPO / "experiments" / "paper_figures.py"),
        "--out",
        str(out),
        "--census-seeds",
        "2",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert (out / "opt_list_hparams.png").stat().st_size > 10_000
    assert (out / "task_census.png").stat().st_size > 10_000
    census = json.loads((out / "task_census.json").read_text())
    assert len(census) == 2 * 12 and all(r["num_params"] > 0 for r in census)
    numbers = json.loads((out / "numbers.json").read_text())
    if (out / "list_vs_random.png").exists():  # only where TaskSet's real curves are present
        per_k = numbers["list_vs_random"]["per_k"]
        assert per_k[0]["k"] == 1 and per_k[0]["list_loss"] < per_k[0]["random_loss"]
