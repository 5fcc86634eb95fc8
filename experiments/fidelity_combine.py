"""One fidelity table over several runs of ``fidelity_real.py`` (other machines, devices, jobs).

A fidelity measurement is often split: one job per task on a GPU, the slow tasks on a CPU across
sessions. Each run leaves its summary: the JSON last line of its report, or ``<store>/fidelity.json``.
This reads any number of them (``.json`` files, or text/``.jsonl`` files whose JSON lines are
summaries), checks that they measured the same protocol (steps, eval batches, seeds, randomness;
the device may differ and is kept per task), and prints one table, then as its last line one JSON
object ``{"tasks": {...}, "median_spearman": .., "protocol": {...}}`` over all their tasks.

    python experiments/fidelity_combine.py experiments/results/fidelity_h200/fidelity_per_task_jobs.jsonl \
        experiments/results/fidelity_cpu/fidelity.json

A task present in two inputs is an error (say which run counts by passing only that one), unless
``--later-wins``, where the input given last counts.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from fidelity_real import RANK_HEAD, fmt_cell, nan_to_none, rank_cells

# Protocol fields that must agree for one median to mean anything; ``configs`` and ``device`` may
# differ (each task's n and device are in its row).
SAME = ("steps", "eval_batches", "seeds", "randomness")


def read_summaries(path: Path) -> list[dict]:
    """The fidelity summaries in ``path``: a JSON object, or the JSON lines of a report/jsonl."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        objs = [json.loads(text)]
    except json.JSONDecodeError:
        objs = []
        for line in text.splitlines():
            if line.startswith("{"):
                try:
                    objs.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    found = [o for o in objs if isinstance(o, dict) and isinstance(o.get("tasks"), dict)]
    if not found:
        raise ValueError(
            f"{path} holds no fidelity summary: expected fidelity.json or a report whose JSON "
            'line has "tasks" (the last line fidelity_real.py prints)'
        )
    for o in found:
        if not isinstance(o.get("protocol"), dict):
            raise ValueError(f'{path}: a summary without its "protocol" (steps, configs, ...)')
    return found


def combine(paths: list[Path], later_wins: bool = False) -> dict:
    """The combined summary of ``paths`` (see the module docstring); ValueError on a conflict."""
    rows: dict[str, dict] = {}
    protocol: dict | None = None
    first_of: dict[str, str] = {}
    for path in paths:
        for summary in read_summaries(path):
            p = summary["protocol"]
            if protocol is None:
                protocol = {k: p.get(k) for k in SAME}
            diff = {k: (protocol[k], p.get(k)) for k in SAME if p.get(k) != protocol[k]}
            if diff:
                said = ", ".join(f"{k} {a} vs {b}" for k, (a, b) in diff.items())
                raise ValueError(f"{path} measured another protocol than {paths[0]}: {said}")
            for task, r in summary["tasks"].items():
                if task in rows and not later_wins:
                    raise ValueError(
                        f"{task} is in both {first_of[task]} and {path}; pass one of them, or "
                        "--later-wins to let the input given last count"
                    )
                first_of.setdefault(task, str(path))
                rows[task] = {
                    **r,
                    # Summaries before n_configs was recorded were complete runs of `configs`.
                    "n_configs": r.get("n_configs", p.get("configs")),
                    "device": p.get("device"),
                    "source": str(path),
                }
    spears = [r.get("spearman") for r in rows.values()]
    finite = [s for s in spears if s is not None and math.isfinite(s)]
    return {
        "tasks": dict(sorted(rows.items())),
        "median_spearman": float(np.median(finite)) if finite else math.nan,
        "n_tasks": len(rows),
        "protocol": {
            **(protocol or {}),
            "devices": sorted({str(r["device"]) for r in rows.values()}),
        },
    }


def print_table(combined: dict) -> None:
    p = combined["protocol"]
    w = max([4, *map(len, combined["tasks"])])
    print(
        f"fidelity: {combined['n_tasks']} tasks, {p['steps']} steps, {p['eval_batches']} eval "
        f"batches, {p['seeds']} seed(s), randomness {p['randomness']}, "
        f"devices {', '.join(p['devices'])}"
    )
    print(f"{'task':<{w}} {RANK_HEAD} {'mae_last':>9} {'rel_last':>8} device")
    for task, r in combined["tasks"].items():
        print(
            f"{task:<{w}} {rank_cells(r)} {fmt_cell(r.get('mae_last')):>9} "
            f"{fmt_cell(r.get('rel_last')):>8} {r['device']}"
        )
    print(
        f"median Spearman over {combined['n_tasks']} tasks: {fmt_cell(combined['median_spearman'])}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="+", type=Path, help="fidelity.json or report/jsonl files")
    p.add_argument(
        "--later-wins",
        action="store_true",
        help="a task in several inputs takes its row from the input given last",
    )
    args = p.parse_args(argv)
    try:
        combined = combine(args.inputs, args.later_wins)
    except ValueError as e:
        p.error(str(e))
    print_table(combined)
    print(json.dumps(nan_to_none(combined)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
