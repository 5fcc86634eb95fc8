"""What TaskSet's whole suite costs here: curves per hour per task, hours for 1000 configs each.

For a seeded sample of tasks of every sampled family and every fixed kind (whichever are
registered in this checkout), measures on this machine, at the chunk the runner picks
(``taskset_torch.chunking.calibrate``, cached like ``generate --chunk auto``):

- the training step: config-steps/s at that chunk (from the calibration);
- the evaluation: seconds per batch per config of the forward pass at that chunk;

and extrapolates TaskSet's protocol (10000 steps; 51 evaluations x 50 batches x 4 splits) to
seconds per curve, curves per hour, and hours for 1000 configs. The suite projection weights each
family by TaskSet's task counts: 1053 sampled tasks split evenly over the 12 families (the
per-family counts are not public; see /work/shared/reference/TASKSET.md) and the 109 fixed tasks
by kind. A fixed kind not registered yet is projected at the median measured task. The paper's
reference point is about one CPU-hour per curve. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch

STEPS, EVALS, EVAL_BATCHES, SPLITS = 10000, 51, 50, 4
SAMPLED_TASKS = 1053  # 1162 released tasks - 109 fixed ones (TaskSet; see TASKSET.md)
FIXED_COUNTS = {  # TaskSet's fixed tasks per kind (task_set/tasks/fixed/*.py)
    "fixed_2d": 8,
    "fixed_image_conv": 23,
    "fixed_image_conv_ae": 5,
    "fixed_image_conv_vae": 7,
    "fixed_language_modeling": 5,
    "fixed_maf": 3,
    "fixed_mlp": 13,
    "fixed_mlp_ae": 3,
    "fixed_mlp_vae": 7,
    "fixed_nvp": 5,
    "fixed_text_rnn_classification": 12,
    "synthetic_sequence": 18,
}


def sample_tasks(per_family: int, per_kind: int, seed: int, families: list[str] | None):
    """(group, task name) pairs: seeded task seeds < 100 per family, names per fixed kind."""
    from taskset_torch.tasks.registry import family_names

    rng = np.random.RandomState(seed)
    out = []
    for fam in families or family_names():
        for s in sorted(rng.choice(100, size=per_family, replace=False)):
            out.append((fam, f"{fam}_seed{int(s)}"))
    if families is None:
        from taskset_torch.tasks.fixed import fixed_task_kind, fixed_task_names

        by_kind: dict[str, list[str]] = {}
        for name in fixed_task_names():
            by_kind.setdefault(fixed_task_kind(name), []).append(name)
        for kind, names in sorted(by_kind.items()):
            pick = rng.choice(len(names), size=min(per_kind, len(names)), replace=False)
            out += [(kind, names[int(i)]) for i in sorted(pick)]
    return out


def eval_seconds(task, k: int, device: torch.device, batches: int = 2) -> float:
    """Fastest forward pass (no gradient) of k configs on one batch, seconds."""
    g = torch.Generator().manual_seed(1)
    params = {n: v.to(device) for n, v in task.init(k, g).items()}
    best = math.inf
    with torch.no_grad():
        for i in range(batches + 1):
            b = task.batch("valid_inner", g)
            _sync(device)
            t0 = time.perf_counter()
            task.loss(params, b)
            _sync(device)
            if i:  # the first pass warms up
                best = min(best, time.perf_counter() - t0)
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_task(name: str, args, device: torch.device) -> dict:
    from taskset_torch.chunking import calibrate, measure_rate
    from taskset_torch.tasks.registry import build_task

    task = build_task(name).to(device)
    if args.chunk == "auto":
        cal = calibrate(task, args.space, device=device, cache_dir=args.cache_dir)
        k, rate = cal.chunk, cal.rates[cal.chunk]
        loop_rate = cal.rates.get(1, float("nan"))
    else:
        k = int(args.chunk)
        rate = measure_rate(task, args.space, k, device)
        loop_rate = float("nan")
    ev = eval_seconds(task, k, device) / k
    per_curve = STEPS / rate + EVALS * EVAL_BATCHES * SPLITS * ev
    return {
        "task": name,
        "params": task.num_params(),
        "chunk": k,
        "cfg_steps_per_s": rate,
        "k1_cfg_steps_per_s": loop_rate,
        "eval_ms_per_cfg": 1e3 * ev,
        "s_per_curve": per_curve,
        "curves_per_hour": 3600.0 / per_curve,
        "hours_1000cfg": 1000 * per_curve / 3600.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--per-family", type=int, default=2, help="sampled tasks per family")
    ap.add_argument("--per-kind", type=int, default=1, help="fixed tasks per kind")
    ap.add_argument("--families", default=None, help="comma-separated families (default all)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the task sample")
    ap.add_argument("--space", default="adam8p_wide_grid")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--chunk", default="auto", help="'auto' (the runner's choice) or an int")
    ap.add_argument(
        "--time-limit",
        type=float,
        default=math.inf,
        help="seconds: measure no new task after this (the rest project at the median task)",
    )
    ap.add_argument(
        "--cache-dir",
        default=os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "taskset_torch"
        ),
        help="calibration cache (the one `generate --chunk auto` uses)",
    )
    args = ap.parse_args()
    from taskset_torch.datasets import set_allow_substitutes

    set_allow_substitutes(True)  # a missing dataset is replaced (and said so), not skipped
    device = torch.device(args.device)
    families = args.families.split(",") if args.families else None
    picks = sample_tasks(args.per_family, args.per_kind, args.seed, families)
    print(
        f"device {device}; torch {torch.__version__}; threads {torch.get_num_threads()}; "
        f"space {args.space}; protocol {STEPS} steps + {EVALS}x{EVAL_BATCHES}x{SPLITS} eval batches"
    )
    head = (
        f"{'task':<44} {'params':>9} {'K':>4} {'cfg-steps/s':>11} {'K=1':>8} "
        f"{'eval ms':>8} {'s/curve':>9} {'curves/h':>9} {'h/1000cfg':>10}"
    )
    print(head)
    rows: dict[str, list[dict]] = {}
    start = time.perf_counter()
    for group, name in picks:
        if time.perf_counter() - start > args.time_limit:
            print(f"{name:<44} not measured: --time-limit {args.time_limit:.0f} s reached")
            continue
        try:
            r = measure_task(name, args, device)
        except Exception as e:  # a task whose data or code is missing here: say so, go on
            print(f"{name:<44} skipped: {type(e).__name__}: {str(e)[:80]}", flush=True)
            continue
        rows.setdefault(group, []).append(r)
        print(
            f"{name:<44} {r['params']:>9} {r['chunk']:>4} {r['cfg_steps_per_s']:>11.1f} "
            f"{r['k1_cfg_steps_per_s']:>8.1f} {r['eval_ms_per_cfg']:>8.3f} "
            f"{r['s_per_curve']:>9.1f} {r['curves_per_hour']:>9.1f} {r['hours_1000cfg']:>10.2f}",
            flush=True,
        )
    measured = [r for rs in rows.values() for r in rs]
    if not measured:
        sys.exit("no task could be measured")
    median_h = statistics.median(r["hours_1000cfg"] for r in measured)
    from taskset_torch.tasks.registry import family_names

    fams = families or family_names()
    per_family_count = SAMPLED_TASKS / 12
    projection: dict[str, float] = {}
    for fam in fams:
        mean = statistics.mean(r["hours_1000cfg"] for r in rows[fam]) if fam in rows else median_h
        projection[fam] = per_family_count * mean
    unmeasured = [f for f in fams if f not in rows]
    if families is None:
        for kind, count in FIXED_COUNTS.items():
            mean = (
                statistics.mean(r["hours_1000cfg"] for r in rows[kind])
                if kind in rows
                else median_h
            )
            projection[kind] = count * mean
            if kind not in rows:
                unmeasured.append(kind)
    print("\nprojected hours for 1000 configs of every task of the group (TaskSet's task counts):")
    for g, h in sorted(projection.items(), key=lambda x: -x[1]):
        print(f"  {g:<34} {h:>12.0f} h{'  (unmeasured: median task)' if g in unmeasured else ''}")
    total = sum(projection.values())
    curves = [r["curves_per_hour"] for r in measured]
    summary = {
        "device": str(device),
        "space": args.space,
        "tasks_measured": len(measured),
        "suite_tasks": (SAMPLED_TASKS + sum(FIXED_COUNTS.values())) if families is None else None,
        "suite_cpu_hours_1000cfg": round(total, 1) if device.type == "cpu" else None,
        "suite_device_hours_1000cfg": round(total, 1),
        "median_task_curves_per_hour": round(statistics.median(curves), 2),
        "median_hours_per_curve": round(statistics.median(1 / c for c in curves), 4),
        "paper_cpu_hours_per_curve": 1.0,
        "groups_unmeasured": unmeasured,
        "group_hours_1000cfg": {g: round(h, 1) for g, h in projection.items()},
        "median_chunk": statistics.median(r["chunk"] for r in measured),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
