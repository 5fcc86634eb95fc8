"""Grouped convolutions of K configs: cuDNN/oneDNN's grouped kernels vs im2col + one batched matmul.

For each task and K, times a training step (loss of K parameter sets on one batch, backward)
under both implementations of ``taskset_torch.tasks.grouped_conv`` in the same run, and prints
config-steps per second side by side with the ratio (bmm / native). Decide the default for a
machine from it (``TASKSET_TORCH_GROUPED_CONV``).

    python benchmarks/bench_conv.py                         # CPU, two small conv tasks
    python benchmarks/bench_conv.py --device cuda --ks 16,64,256 --tf32 \\
        --tasks FixedImageConv_cifar10_32x64x64_tanh_bs64,FixedImageConvAE_cifar10_32x32x32x32x32_bs128
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from taskset_torch.tasks import grouped_conv as gc
from taskset_torch.tasks.registry import build_task

DEFAULT_TASKS = "conv_fc_family_seed11,conv_pooling_family_seed11"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_rate(task, k: int, device: torch.device, impl: str, repeats: int, seed: int = 0) -> float:
    """Config-steps per second of ``task`` at ``k`` configs under ``impl`` (median of repeats)."""
    gc.set_grouped_conv(impl)
    g = torch.Generator().manual_seed(seed)
    params = {n: v.to(device).requires_grad_(True) for n, v in task.init(k, g).items()}
    batch = {n: v.to(device) for n, v in task.batch("train", g).items()}
    times = []
    for i in range(repeats + 2):  # two warm-up steps (allocator, cuDNN algorithm choice)
        _sync(device)
        t0 = time.perf_counter()
        loss = task.loss(params, batch).sum()
        torch.autograd.grad(loss, list(params.values()))
        _sync(device)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    times.sort()
    return k / times[len(times) // 2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default=DEFAULT_TASKS)
    p.add_argument("--ks", default="4,16")
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls and convolutions")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
        torch.backends.cudnn.benchmark = True
    rows = []
    print(
        f"{'task':<58} {'K':>5} {'native cfg-steps/s':>19} {'bmm cfg-steps/s':>16} {'bmm/native':>10}"
    )
    for name in [t for t in args.tasks.split(",") if t]:
        task = build_task(name).to(device)
        for k in [int(x) for x in args.ks.split(",")]:
            try:
                native = step_rate(task, k, device, "native", args.repeats)
                bmm = step_rate(task, k, device, "bmm", args.repeats)
            except torch.OutOfMemoryError:
                print(f"{name[:58]:<58} {k:>5} out of memory")
                continue
            finally:
                gc.set_grouped_conv(None)
            rows.append({"task": name, "k": k, "native": native, "bmm": bmm, "ratio": bmm / native})
            print(f"{name[:58]:<58} {k:>5} {native:>19.1f} {bmm:>16.1f} {bmm / native:>10.2f}")
    print(json.dumps({"device": str(device), "tf32": args.tf32, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
