"""Fixed sequence tasks: initial losses next to TaskSet's step-0 losses, and what each task costs.

``initial`` builds the ``FixedTextRNNClassification_imdb_*`` tasks that have real TaskSet curves
(``../shared/data/taskset_real``) and prints, per task, our loss at initialization on train and
valid_inner (mean over ``--inits`` initial draws x ``--batches`` batches, as TaskSet evaluates 50
batches) next to TaskSet's step-0 train / valid_inner loss (mean over its 1000 configs, each a
mean over 5 replicas), and which data served the task. ``cost`` prints parameter count and
measured seconds per training step (one config) of every fixed sequence task. Each ends with one
JSON line.

    python experiments/fixed_sequence_check.py initial [--inits 5] [--batches 50] [--data DIR]
    python experiments/fixed_sequence_check.py cost [--steps 3] [--tasks NAME ...]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from taskset_torch.cost import step_seconds
from taskset_torch.tasks.fixed import fixed_task_names
from taskset_torch.tasks.registry import build_task

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "taskset_real"
KINDS = ("fixed_text_rnn_classification", "fixed_language_modeling", "synthetic_sequence")


def _taskset_step0(path: Path) -> dict[str, tuple[float, float]]:
    """TaskSet's step-0 loss per split: (mean, std) over configs, ignoring non-finite rows."""
    rows = json.loads(path.read_text())
    out = {}
    for ours, theirs in (("train", "train"), ("valid_inner", "valid")):
        v = np.array([r[theirs]["loss"][0] for r in rows], dtype=np.float64)
        v = v[np.isfinite(v)]
        out[ours] = (float(v.mean()), float(v.std()))
    return out


@torch.no_grad()
def _initial_losses(name: str, inits: int, batches: int, seed: int) -> dict[str, tuple]:
    """Our loss at init per split: (mean, std over inits) of the mean over ``batches`` batches."""
    task = build_task(name)
    g = torch.Generator().manual_seed(seed)
    sets = [task.init_params(g) for _ in range(inits)]
    params = {k: torch.stack([s[k] for s in sets]) for k in sets[0]}
    out = {}
    for split in ("train", "valid_inner"):
        bg = torch.Generator().manual_seed(seed + 1)
        per_init = torch.stack([task.loss(params, task.batch(split, bg)) for _ in range(batches)])
        per_init = per_init.mean(0)  # [inits]
        out[split] = (per_init.mean().item(), per_init.std().item())
    src = task.data_sources[0]
    out["data"] = f"{src.dataset} ({src.kind}{': ' + src.detail if src.detail else ''})"
    return out


def cmd_initial(args: argparse.Namespace) -> None:
    files = sorted(args.data.glob("FixedTextRNNClassification_imdb_*.json"))
    if not files:
        raise SystemExit(f"{args.data}: no FixedTextRNNClassification_imdb_*.json (pass --data)")
    print(f"ln 2 = {math.log(2):.4f}; ours: mean (std) over {args.inits} inits of the mean over "
          f"{args.batches} batches; TaskSet: mean (std) over configs at step 0")  # fmt: skip
    print(f"{'task':58s} {'ours train':>15s} {'TaskSet train':>15s} "
          f"{'ours valid_in':>15s} {'TaskSet valid_in':>16s}")  # fmt: skip
    result = {}
    for f in files:
        name = f.stem
        ours = _initial_losses(name, args.inits, args.batches, args.seed)
        ref = _taskset_step0(f)

        def cell(ms: tuple) -> str:
            return f"{ms[0]:.4f} ({ms[1]:.3f})"

        print(f"{name[31:]:58s} {cell(ours['train']):>15s} {cell(ref['train']):>15s} "
              f"{cell(ours['valid_inner']):>15s} {cell(ref['valid_inner']):>16s}")  # fmt: skip
        result[name] = {
            "ours_train": ours["train"][0],
            "ours_valid_inner": ours["valid_inner"][0],
            "taskset_train": ref["train"][0],
            "taskset_valid_inner": ref["valid_inner"][0],
            "data": ours["data"],
        }
    datas = sorted({r["data"] for r in result.values()})
    print("data:", "; ".join(datas))
    print(json.dumps(result))


def cmd_cost(args: argparse.Namespace) -> None:
    names = args.tasks or [n for k in KINDS for n in fixed_task_names(k)]
    result = {}
    print(f"{'task':66s} {'params':>9s} {'s/step':>8s}")
    for name in names:
        task = build_task(name)
        sec = step_seconds(task, steps=args.steps)
        result[name] = {"num_params": task.num_params(), "sec_per_step": sec}
        print(f"{name:66s} {task.num_params():9d} {sec:8.3f}", flush=True)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("initial", help="initial losses vs TaskSet's step 0")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--inits", type=int, default=5)
    p.add_argument("--batches", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_initial)
    p = sub.add_parser("cost", help="parameters and s/step of the fixed sequence tasks")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--tasks", nargs="*")
    p.set_defaults(func=cmd_cost)
    args = parser.parse_args()
    if args.cmd == "initial" and (args.inits < 2 or args.batches < 1):
        parser.error("--inits must be >= 2 and --batches >= 1")
    if args.cmd == "cost" and args.steps < 1:
        parser.error("--steps must be >= 1")
    args.func(args)


if __name__ == "__main__":
    main()
