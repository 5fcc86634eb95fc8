"""What a task costs: examples per batch, estimated FLOPs per step, measured seconds per step.

This module sits above both :mod:`taskset_torch.tasks` and :mod:`taskset_torch.training`: the
measurements run the trainer's own step (:class:`~taskset_torch.training.FlatParams`), so tasks never
import the trainer.
"""

from __future__ import annotations

import json
import time
from typing import Any

import torch

from taskset_torch.tasks.base import Task
from taskset_torch.training import FlatParams

__all__ = [
    "examples_per_batch",
    "estimated_flops_per_step",
    "step_seconds",
    "counted_flops_per_step",
]


def examples_per_batch(config: Any) -> int:
    """Batch size times sequence positions, read from a TaskSet config (1 when it has neither).

    Sampled configs spell them ``bs`` (images), ``batch_size`` and ``patch_length`` (text), at
    varying depths, so the JSON text is searched rather than a fixed path.
    """
    text = json.dumps(config)
    size = 1
    for key in ('"bs": ', '"batch_size": ', '"patch_length": '):
        if key in text:
            size *= int(text.split(key, 1)[1].split(",")[0].split("}")[0].split("]")[0])
    return size


def estimated_flops_per_step(task: Task, config: Any) -> float:
    """~6 x parameters x examples: forward (2) and backward (4) FLOPs of a dense model per step."""
    return 6.0 * task.num_params() * examples_per_batch(config)


def step_seconds(task: Task, steps: int = 3, seed: int = 0) -> float:
    """Measured seconds of one training step (one config: batch, forward, backward)."""
    g = torch.Generator().manual_seed(seed)
    fp = FlatParams(task.init(1, g))
    grad = torch.empty_like(fp.flat)
    t0 = time.perf_counter()
    for i in range(steps + 1):
        if i == 1:  # the first step pays one-off costs (lazy data loading, allocator warm-up)
            t0 = time.perf_counter()
        fp.loss_and_grad(fp.flat, task, task.batch("train", g), grad)
    return (time.perf_counter() - t0) / steps


def counted_flops_per_step(task: Task, seed: int = 0) -> float:
    """FLOPs of one training step of one config (forward and backward), counted by PyTorch.

    ``torch.utils.flop_counter`` counts the matmuls and convolutions actually run (element-wise
    work is not counted), so this holds for every family (convolutions, RNNs, flows), unlike
    :func:`estimated_flops_per_step`'s dense rule.
    """
    from torch.utils.flop_counter import FlopCounterMode

    g = torch.Generator().manual_seed(seed)
    fp = FlatParams(task.init(1, g))
    grad = torch.empty_like(fp.flat)
    batch = task.batch("train", g)
    with FlopCounterMode(display=False) as counter:
        fp.loss_and_grad(fp.flat, task, batch, grad)
    return float(counter.get_total_flops())
