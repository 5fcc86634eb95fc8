"""Transfer: does a hyperparameter list help on a new, bigger problem? (the paper's experiment)

    python experiments/transfer.py [--problems resnet_cifar10,transformer_lm] [--lists opt_list]
        [--k 10] [--seeds 3] [--scale cpu|gpu|ci] [--out experiments/results/transfer]

For each problem (a pre-activation ResNet on CIFAR-10, a decoder-only Transformer LM on English
prose), runs the lists' first k entries, Adam with a learning-rate sweep (practitioner order and
random order), random search over nadamw_grid and Optuna TPE, each for every seed, and writes per
problem ``trials.csv``/``.parquet``, ``summary.md`` (best-so-far validation loss at k = 1, 3, 10:
mean [min, max] over seeds), ``info.json`` (sizes, which data served the run) and
``best_so_far.png``. Same as ``taskset-torch transfer --problem P ...`` once per problem; rerun the
same command to resume (trials are cached under ``<out>/<problem>_<scale>/cache``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from taskset_torch.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--problems", default="resnet_cifar10,transformer_lm")
    p.add_argument("--lists", default="opt_list")
    p.add_argument("--methods", default="adam_lr_practitioner,adam_lr_random,random,tpe")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--scale", choices=["ci", "cpu", "gpu"], default="cpu")
    p.add_argument("--out", default=str(ROOT / "experiments" / "results" / "transfer"))
    p.add_argument("--budget", type=float, default=None, help="seconds per problem")
    p.add_argument("--order", choices=["trial", "seed"], default="trial")
    p.add_argument("--backend", choices=["local", "ray"], default="local")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    args = p.parse_args(argv)
    status = 0
    for problem in [x for x in args.problems.split(",") if x]:
        argv_p = [
            "transfer",
            f"--problem={problem}",
            f"--lists={args.lists}",
            f"--methods={args.methods}",
            f"--k={args.k}",
            f"--seeds={args.seeds}",
            f"--scale={args.scale}",
            f"--out={Path(args.out) / f'{problem}_{args.scale}'}",
            f"--order={args.order}",
            f"--backend={args.backend}",
            f"--device={args.device}",
            f"--threads={args.threads}",
        ]
        if Path(args.data_dir).is_dir():
            argv_p.append(f"--data-dir={args.data_dir}")
        if args.budget is not None:
            argv_p.append(f"--budget={args.budget}")
        status = status or cli_main(argv_p)
    return status


if __name__ == "__main__":
    sys.exit(main())
