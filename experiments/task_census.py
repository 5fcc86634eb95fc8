"""Task census: parameter count and seconds per step of every sampled TaskSet task.

    python experiments/task_census.py [--seeds 1000] [--time-every 100] [--out runs/census.json]
                                      [--figure runs/census.png]

Builds ``<family>_seed<N>`` for every family and N < --seeds (this checks that every one of them
builds), records its parameter count and data, and times a training step (one config, forward +
backward) for every --time-every-th seed. A task whose estimated cost (6 x params x examples per
batch, at 20 GFLOP/s) exceeds --max-est-seconds is not timed here; its estimate is listed instead.
Prints a table per family; --figure draws the paper's histograms of size and step time.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from taskset_torch.cost import estimated_flops_per_step, examples_per_batch, step_seconds
from taskset_torch.tasks.registry import FAMILIES, get_family


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seeds", type=int, default=1000)
    ap.add_argument("--time-every", type=int, default=100)
    ap.add_argument("--max-est-seconds", type=float, default=5.0)
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--figure", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(max(torch.get_num_threads(), 1))

    rows = []
    print(
        f"{'family':<32} {'tasks':>5} {'params min':>10} {'median':>9} {'max':>10} "
        f"{'s/step min':>10} {'median':>8} {'max':>8} {'not timed':>9}"
    )
    for family in args.families.split(","):
        fam = get_family(family)
        frows = []
        for seed in range(args.seeds):
            cfg = fam.sample(seed)
            task = fam.build(cfg, name=f"{family}_seed{seed}")
            row = {
                "task": task.name,
                "family": family,
                "num_params": task.num_params(),
                "examples_per_batch": examples_per_batch(cfg),
            }
            if seed % args.time_every == 0:
                est = estimated_flops_per_step(task, cfg) / 20e9
                if est > args.max_est_seconds:
                    row["est_sec_per_step"] = est
                else:
                    row["sec_per_step"] = step_seconds(task)
                    row["data"] = [s.to_json() for s in task.data_sources]
            frows.append(row)
        params = [r["num_params"] for r in frows]
        times = [r["sec_per_step"] for r in frows if "sec_per_step" in r]
        skipped = sum("est_sec_per_step" in r for r in frows)
        tmin, tmed, tmax = (
            (min(times), statistics.median(times), max(times)) if times else (0, 0, 0)
        )
        print(
            f"{family:<32} {len(frows):>5} {min(params):>10,} {int(statistics.median(params)):>9,} "
            f"{max(params):>10,} {tmin:>10.4f} {tmed:>8.4f} {tmax:>8.3f} {skipped:>9}",
            flush=True,
        )
        rows.extend(frows)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=0))
    if args.figure:
        plot(rows, args.figure)


def plot(rows, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("figures need matplotlib: pip install 'taskset-torch[plots]'") from None
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    bins = np.logspace(0, 7.5, 40)
    families = sorted({r["family"] for r in rows})
    data = [[r["num_params"] for r in rows if r["family"] == f] for f in families]
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, len(families)))
    labels = [f.replace("_family", "") for f in families]
    axes[0].hist(data, bins=bins, stacked=True, label=labels, color=colors)
    axes[0].set(xscale="log", xlabel="parameters", ylabel="tasks", title="Task size")
    t = [r["sec_per_step"] for r in rows if "sec_per_step" in r]
    axes[1].hist(t, bins=np.logspace(-5, 1, 30))
    axes[1].set(xscale="log", xlabel="seconds per step (one config, CPU)", title="Step time")
    axes[0].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
