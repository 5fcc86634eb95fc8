"""Config-steps per second: a plain per-config loop vs the vectorized trainer, side by side.

    python benchmarks/bench_train.py                 # CPU, K = 1, 16, 64, 256
    python benchmarks/bench_train.py --device cuda --ks 1,64,256,1024,4096

(a) the per-config loop trains K configs one after another, each with its own model and its own
``torch.optim.Adam`` (for the MLP an ``nn.Module``; for the other tasks the task's own loss at
n = 1, which is the same computation); (b) the vectorized trainer trains the K configs in one
program. Both see the same batches. Prints a table and, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from taskset_torch.training import TrainConfig, train


def digits_mlp_task():
    from sklearn.datasets import load_digits

    from taskset_torch.base import DataSource
    from taskset_torch.datasets.images import ImageDataset
    from taskset_torch.tasks.mlp import MLPTask

    x, y = load_digits(return_X_y=True)
    img = (
        torch.tensor(x * 16, dtype=torch.float32).clamp(0, 255).to(torch.uint8).reshape(-1, 1, 8, 8)
    )
    lab = torch.tensor(y)
    cut = {
        "valid_inner": (0, 200),
        "valid_outer": (200, 400),
        "test": (400, 600),
        "train": (600, None),
    }
    splits = {s: {"image": img[a:b], "label": lab[a:b]} for s, (a, b) in cut.items()}
    ds = ImageDataset(
        "digits",
        splits,
        DataSource("digits", "builtin", "sklearn load_digits"),
        {"num_classes": 10},
    )
    task = MLPTask(
        dataset=ds, hidden=[64, 32], activation="relu", w_init=["he_normal", None], batch_size=128
    )
    return task, 2 * 3 * 128 * (64 * 64 + 64 * 32 + 32 * 10)  # flops per config-step (fwd + 2x bwd)


def quadratic_task():
    from taskset_torch.tasks.quadratic import QuadraticTask

    d = 256
    cfg = {
        "A_dist": ["normal", {"mean": 0.0, "std": 0.1}],
        "initial_dist": ["normal", {"mean": 0.0, "std": 1.0}],
        "output_fn": "identity",
        "dims": d,
        "seed": 0,
        "loss_scale": 1.0,
        "noise": None,
    }
    return QuadraticTask(cfg, name="quadratic_d256"), 3 * 2 * d * d


def family_task(name: str):
    from taskset_torch.cost import counted_flops_per_step
    from taskset_torch.tasks.registry import build_task

    task = build_task(name)
    return task, counted_flops_per_step(task)  # matmul/conv FLOPs of one config-step


def _run_loop(task, models, opts, loss_fn, steps: int, device) -> float:
    """Config-steps/s of stepping each (model, optimizer) pair in turn on shared batches."""
    g = torch.Generator().manual_seed(0)
    t0 = 0.0
    for s in range(steps + 1):
        if s == 1:  # the first step warms up allocators and kernels
            _sync(device)
            t0 = time.perf_counter()
        b = task.batch("train", g)
        for m, o in zip(models, opts):
            o.zero_grad(set_to_none=True)
            loss_fn(m, b).backward()
            o.step()
    _sync(device)
    return len(models) * steps / (time.perf_counter() - t0)


def loop_mlp(task, k: int, steps: int, device) -> float:
    """K nn.Modules, K torch.optim.Adam, stepped one after another."""
    torch.manual_seed(0)
    models = [
        nn.Sequential(
            nn.Flatten(),
            nn.Linear(64, 64),
            nn.ReLU(),
            nn.Linear(64, 32),
            nn.ReLU(),
            nn.Linear(32, 10),
        ).to(device)
        for _ in range(k)
    ]
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3 * (1 + i % 3)) for i, m in enumerate(models)]
    return _run_loop(
        task, models, opts, lambda m, b: F.cross_entropy(m(b["image"]), b["label"]), steps, device
    )


def loop_task(task, k: int, steps: int, device) -> float:
    """K separate parameter sets, each with its own torch.optim.Adam, through the task's loss."""
    init = task.init(1, torch.Generator().manual_seed(0))
    # One set of parameter tensors per config, like one nn.Module each.
    models = [
        {n: v.clone().to(device).requires_grad_(True) for n, v in init.items()} for _ in range(k)
    ]
    opts = [torch.optim.Adam(list(m.values()), lr=1e-4) for m in models]
    return _run_loop(task, models, opts, lambda m, b: task.loss(m, b).sum(), steps, device)


def vectorized(task, k: int, steps: int, device) -> tuple[float, float]:
    from taskset_torch.optimizers import get_space

    space = get_space("adam1p_wide_grid")
    cfgs = [{"learning_rate": float(lr)} for lr in np.logspace(-5, -3, k)]
    opt = space.vectorized(cfgs, steps)
    cfg = TrainConfig(training_steps=steps, eval_every=steps, eval_batches=1, device=str(device))
    res = train(task, opt, num_configs=k, seed=0, config=cfg)
    return k / res.time_per_step, res.time_per_step


def batch_seconds(task, n: int = 200) -> float:
    g = torch.Generator().manual_seed(0)
    task.batch("train", g)
    t0 = time.perf_counter()
    for _ in range(n):
        task.batch("train", g)
    return (time.perf_counter() - t0) / n


def matmul_flops(device, n: int = 1024, reps: int = 10) -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def measure_pair(task, loop, k: int, device, args):
    """Loop and vectorized config-steps/s at K, interleaved repeats, best of each side.

    Returns (loop rate, vectorized rate, best seconds per vectorized step, spread of the
    vectorized rate over repeats as (max - min) / max, configs the loop was measured with).
    """
    # Calibrate steps to the budget from a short probe of each side. A sequential loop's
    # config-steps/s does not depend on K; --loop-max-k caps the configs it is measured with.
    lk = min(k, args.loop_max_k) if args.loop_max_k else k
    probe_loop = loop(task, min(lk, 4), 3, device)
    loop_steps = max(2, int(args.budget * probe_loop / lk))
    probe_vec, _ = vectorized(task, k, 3, device)
    vec_steps = max(3, int(args.budget * probe_vec / k))
    # Interleaved repeats: a shared machine's noise hits both sides alike.
    loop_rate, vec_rates, sec_per_step = 0.0, [], math.inf
    for _ in range(args.repeats):
        loop_rate = max(loop_rate, loop(task, lk, loop_steps, device))
        rate, sec = vectorized(task, k, vec_steps, device)
        vec_rates.append(rate)
        sec_per_step = min(sec_per_step, sec)
    spread = (max(vec_rates) - min(vec_rates)) / max(vec_rates)
    return loop_rate, max(vec_rates), sec_per_step, spread, lk


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--ks", default="1,16,64,256")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--budget", type=float, default=1.0, help="approx seconds per measurement")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats; best of each side")
    ap.add_argument("--cases", default="mlp,quadratic,conv,rnn_lm,flow")
    ap.add_argument(
        "--loop-max-k", type=int, default=0, help="measure the loop with at most this many configs"
    )
    ap.add_argument(
        "--no-auto",
        dest="auto",
        action="store_false",
        help="skip the row at the chunk the runner would pick (a fresh calibration per case)",
    )
    ap.add_argument("--conv-task", default="conv_fc_family_seed1")
    ap.add_argument("--rnn-task", default="char_rnn_language_model_family_seed2")
    ap.add_argument("--flow-task", default="nvp_family_seed104")
    args = ap.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    device = torch.device(args.device)
    peak = matmul_flops(device)
    builders = {
        "mlp": (digits_mlp_task, loop_mlp),
        "quadratic": (quadratic_task, loop_task),
        "conv": (lambda: family_task(args.conv_task), loop_task),
        "rnn_lm": (lambda: family_task(args.rnn_task), loop_task),
        "flow": (lambda: family_task(args.flow_task), loop_task),
    }
    summary: dict[str, float] = {"matmul_gflops": peak / 1e9}
    print(
        f"device {device}; torch threads {torch.get_num_threads()}; fp32 matmul {peak / 1e9:.1f} GFLOP/s"
    )
    print(
        f"{'case':<10} {'K':>6} {'loop cfg-steps/s':>17} {'vec cfg-steps/s':>16} {'ratio':>7} "
        f"{'spread':>7} {'GFLOP/s':>8} {'batch %':>8}"
    )
    for case in args.cases.split(","):
        make, loop = builders[case]
        try:
            task, flops = make()
        except Exception as e:  # a family not available in this checkout: say so, go on
            print(f"{case:<10} skipped: {type(e).__name__}: {e}")
            continue
        task = task.to(device)
        bsec = batch_seconds(task)
        auto_k = None
        if args.auto:
            from taskset_torch.chunking import calibrate

            auto_k = calibrate(task, "adam1p_wide_grid", device=device).chunk
        runs = [(str(k), k) for k in ks] + ([(f"auto={auto_k}", auto_k)] if auto_k else [])
        for label, k in runs:
            try:
                loop_rate, vec_rate, sec_per_step, spread, lk = measure_pair(
                    task, loop, k, device, args
                )
            except torch.OutOfMemoryError:
                print(f"{case:<10} {label:>6} out of memory")
                torch.cuda.empty_cache()
                break
            ratio = vec_rate / loop_rate
            gflops = vec_rate * flops / 1e9 if flops else None
            gf = f"{gflops:8.2f}" if flops else f"{'-':>8}"
            share = 100 * bsec / sec_per_step
            note = f"  (loop measured on {lk} configs)" if lk != k else ""
            row = (
                f"{case:<10} {label:>6} {loop_rate:>17.1f} {vec_rate:>16.1f} {ratio:>7.2f} "
                f"{spread:>7.0%} {gf} {share:>7.1f}%"
            )
            print(row + note, flush=True)
            key = f"{case}_auto" if label.startswith("auto") else f"{case}_k{k}"
            summary[f"{key}_speedup"] = round(ratio, 2)
            if label.startswith("auto"):
                summary[f"{case}_auto_chunk"] = k
            if k == 64 or k == max(ks) or label.startswith("auto"):
                summary[f"{key}_batch_share"] = round(share / 100, 4)
                if gflops is not None:
                    summary[f"{key}_gflops"] = round(gflops, 2)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
