"""Reproduce the paper's figures with one command.

    python experiments/paper_figures.py --out figures/ [--store runs/mlp --space adam8p_wide_grid]

Writes PNG files (and the numbers behind each as JSON) to --out:

- ``list_vs_random.png``: normalized loss of the learned list vs exact random search as a function
  of the number of trials, on held-out tasks (leave-two-out over the tasks, pooled), with 95%
  bootstrap intervals; and the sample-efficiency speedup. Curves come from --store (your own) or,
  by default, TaskSet's real curves in ../shared/data/taskset_real when present.
- ``family_generalization.png`` (with a --store holding several families): the same, learning on
  all families but one and testing on the one left out.
- ``opt_list_hparams.png``: the published list's hyperparameters against list position.
- ``task_census.png``: parameter counts and step times of the sampled tasks (seeds < --census-seeds;
  the released TaskSet tasks used seeds < 100).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from hparam_lists import cross_validate, family_splits, leave_n_out_splits, load_list
from hparam_lists.importers import read_store, read_taskset_json
from hparam_lists.normalize import NORM_REFS

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "taskset_real"


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("figures need matplotlib: pip install 'taskset-torch[plots]'") from None
    return plt


def list_vs_random(curves, splits, title: str, path: Path, ks, norm_ref: str = "auto") -> dict:
    cv = cross_validate(curves, splits, ks=ks, n_boot=300, length=max(ks), norm_ref=norm_ref)
    ev = cv.pooled(n_boot=300)
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    a.plot(ev.ks, ev.list_loss, label="learned list")
    a.fill_between(ev.ks, ev.list_ci[:, 0], ev.list_ci[:, 1], alpha=0.3)
    a.plot(ev.ks, ev.random_loss, label="random search (exact)")
    a.fill_between(ev.ks, ev.random_ci[:, 0], ev.random_ci[:, 1], alpha=0.3)
    a.set(xscale="log", xlabel="trials", ylabel="normalized loss (held-out tasks)", title=title)
    a.legend()
    b.plot(ev.ks, ev.speedup)
    b.fill_between(ev.ks, ev.speedup_ci[:, 0], ev.speedup_ci[:, 1], alpha=0.3)
    capped = ev.speedup_capped
    if capped.any():  # lower bounds: random search needed the whole pool
        b.plot(ev.ks[capped], ev.speedup[capped], "o", mfc="none", color="C3", label="capped (>=)")
        b.legend()
    b.set(
        xscale="log",
        yscale="log",
        xlabel="trials k",
        ylabel="random trials to match / k",
        title="sample-efficiency speedup",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return ev.to_dict()


def opt_list_hparams(path: Path) -> dict:
    hlist = load_list("opt_list")
    cfgs = [dict(c) for c in hlist.configs]
    fields = [
        "learning_rate",
        "beta1",
        "beta2",
        "epsilon",
        "adamw_weight_decay",
        "l2_weight_decay",
        "warmup_fraction",
        "constant_fraction",
        "min_learning_rate_mult",
    ]
    plt = _plt()
    fig, axes = plt.subplots(3, 3, figsize=(11, 8))
    idx = np.arange(len(cfgs))
    for ax, f in zip(axes.flat, fields):
        v = np.array([c[f] for c in cfgs], dtype=float)
        if f in ("beta1", "beta2"):
            v, f = 1 - v, f"1 - {f}"
        ax.scatter(idx, np.where(v > 0, v, np.nan), s=3)
        ax.set(xscale="log", yscale="log", xlabel="list position", title=f)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return {"n": len(cfgs), "fields": fields}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, default=Path("figures"))
    ap.add_argument("--store", default=None, help="a curve store (default: TaskSet's real curves)")
    ap.add_argument("--space", default=None, help="search space of --store")
    ap.add_argument("--taskset-json", type=Path, default=REAL)
    ap.add_argument("--census-seeds", type=int, default=100)
    ap.add_argument(
        "--norm-ref",
        choices=NORM_REFS,
        default="auto",
        help="normalization reference (auto: the zero optimizer's loss where stored, else step 0)",
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    numbers = {}

    if args.store:
        if not args.space:
            raise SystemExit("--store needs --space")
        curves = read_store(args.store, space=args.space)
        source = f"{args.store} ({args.space})"
    elif args.taskset_json.is_dir():
        curves = read_taskset_json(args.taskset_json)
        source = "TaskSet's real curves (8 tasks, adam8p)"
    else:
        curves, source = None, None
        print("no curves: pass --store, or --taskset-json DIR; skipping the list figures")
    if curves is not None:
        ks = [k for k in (1, 2, 3, 5, 10, 20, 30, 50, 100) if k <= len(curves.config_names)]
        n_test = 2 if len(curves.tasks) >= 4 else 1
        numbers["list_vs_random"] = list_vs_random(
            curves,
            leave_n_out_splits(curves.tasks, n_test),
            source,
            args.out / "list_vs_random.png",
            ks,
            args.norm_ref,
        )
        print(f"wrote {args.out / 'list_vs_random.png'} from {source}")
        try:
            splits = family_splits(curves.tasks)
        except ValueError as e:
            print(f"family generalization skipped: {e}")
        else:
            numbers["family_generalization"] = list_vs_random(
                curves,
                splits,
                "leave one family out",
                args.out / "family_generalization.png",
                ks,
                args.norm_ref,
            )
            print(f"wrote {args.out / 'family_generalization.png'}")
    numbers["opt_list_hparams"] = opt_list_hparams(args.out / "opt_list_hparams.png")
    print(f"wrote {args.out / 'opt_list_hparams.png'}")
    census = [
        sys.executable,
        str(Path(__file__).with_name("task_census.py")),
        "--seeds",
        str(args.census_seeds),
        "--time-every",
        str(max(args.census_seeds // 10, 1)),
        "--out",
        str(args.out / "task_census.json"),
        "--figure",
        str(args.out / "task_census.png"),
    ]
    subprocess.run(census, check=True)
    (args.out / "numbers.json").write_text(json.dumps(numbers, indent=1))
    print(f"wrote {args.out / 'numbers.json'}")


if __name__ == "__main__":
    main()
