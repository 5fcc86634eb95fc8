"""How many configs to train in one program: a short, cached calibration per task and device.

Training K configs together is not always faster per config than one at a time: on a CPU a
task whose activations outgrow the caches (an RNN language model with a 256-way softmax over
thousands of positions) runs slower at K = 64 than at K = 1. So the runner measures the trainer's
own step (batch, loss and gradient, update) at a few K of a doubling ladder, stops past the
knee or at the memory budget, and picks the smallest K within ``tolerance`` of the best rate.
K = 1 is always measured, so the choice is never slower than the per-config loop (up to noise).

Calibrations are cached as JSON keyed by (task, space, device, torch version, threads, code
version): the choice is stable across runs on one machine, which keeps the planned units (and so
resumption) stable. The selection logic (:func:`sweep`, :func:`select_chunk`) takes the
measurements as a function, so it is tested without timing anything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

import taskset_torch

__all__ = [
    "CPU_LADDER",
    "GPU_LADDER",
    "Calibration",
    "select_chunk",
    "sweep",
    "memory_model",
    "measure_rate",
    "calibrate",
    "auto_chunk",
    "default_memory_budget",
]

CPU_LADDER: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
GPU_LADDER: tuple[int, ...] = (1, 4, 16, 64, 256, 1024, 4096)
CACHE_FILE = "chunk_calibration.json"


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Measured config-steps/s per K, the chosen K, and why the sweep stopped."""

    rates: dict[int, float]
    chunk: int
    stopped: str  # "ladder" (all measured), "knee", "memory", "out_of_memory", "step_time"
    bytes_fixed: float = 0.0
    bytes_per_config: float = 0.0

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["rates"] = {str(k): v for k, v in self.rates.items()}
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Calibration:
        rates = {int(k): float(v) for k, v in d["rates"].items()}
        return cls(
            rates=rates,
            chunk=int(d["chunk"]),
            stopped=str(d["stopped"]),
            bytes_fixed=float(d.get("bytes_fixed", 0.0)),
            bytes_per_config=float(d.get("bytes_per_config", 0.0)),
        )


def select_chunk(rates: Mapping[int, float], *, tolerance: float = 0.05) -> int:
    """The smallest K whose rate is within ``tolerance`` of the best measured rate.

    Smaller programs of equal throughput are preferred: they need less memory and lose less
    work when a run is stopped.
    """
    good = {int(k): float(r) for k, r in rates.items() if r is not None and math.isfinite(r)}
    if not good:
        raise ValueError("select_chunk needs at least one finite measured rate")
    if not 0.0 <= tolerance < 1.0:
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance}")
    best = max(good.values())
    return min(k for k, r in good.items() if r >= (1.0 - tolerance) * best)


def sweep(
    measure: Callable[[int], float],
    ladder: Sequence[int] = CPU_LADDER,
    *,
    fits: Callable[[int], bool] = lambda k: True,
    knee: float = 0.75,
    patience: int = 2,
    max_step_seconds: float = math.inf,
) -> tuple[dict[int, float], str]:
    """Measure ``measure(k)`` (config-steps/s) up the ladder; returns (rates, why it stopped).

    Stops before a K that ``fits`` rejects (memory budget) or that runs out of memory, after
    ``patience`` consecutive Ks whose rate falls below ``knee`` x the best so far (past the knee:
    larger K only gets worse; one low reading on a busy machine is not enough), and after a K
    whose single step took longer than ``max_step_seconds``.
    """
    ks = sorted({int(k) for k in ladder})
    if not ks or ks[0] < 1:
        raise ValueError(f"the ladder needs positive Ks, got {list(ladder)}")
    rates: dict[int, float] = {}
    low = 0
    for k in ks:
        if rates and not fits(k):
            return rates, "memory"
        try:
            rate = float(measure(k))
        except Exception as e:  # only running out of memory ends the sweep quietly
            if not rates or not _is_oom(e):
                raise
            _empty_cache()
            return rates, "out_of_memory"
        rates[k] = rate
        low = low + 1 if rate < knee * max(rates.values()) else 0
        if low >= patience:
            return rates, "knee"
        if k / rate > max_step_seconds:
            return rates, "step_time"
    return rates, "ladder"


def _is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "not enough memory" in str(err)
    )


def _empty_cache() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _training_setup(task: Any, space: str, k: int, device: torch.device, seed: int = 0):
    from taskset_torch.optimizers import get_space
    from taskset_torch.training import FlatParams

    sp = get_space(space)
    opt = sp.vectorized([sp.sample(s) for s in range(k)], 10000)
    if hasattr(opt, "to"):
        opt = opt.to(device)
    g = torch.Generator().manual_seed(seed)
    fp = FlatParams({n: v.to(device) for n, v in task.init(k, g).items()})
    return fp, opt, opt.init(fp.flat), torch.empty_like(fp.flat), g


def memory_model(task: Any, space: str, device: torch.device | str = "cpu") -> tuple[float, float]:
    """Bytes of one training step as ``fixed + K * per_config``, from K = 1 and K = 2.

    Counts the tensors autograd saves for the backward pass (the activations, the bulk of a
    step's memory) plus the parameter, gradient and optimizer-state buffers.
    """
    device = torch.device(device)
    task = task.to(device)
    sizes = []
    for k in (1, 2):
        fp, opt, state, grad, g = _training_setup(task, space, k, device)
        seen: dict[tuple[int, int], int] = {}

        def pack(t: torch.Tensor, seen: dict = seen) -> torch.Tensor:
            if t.device.type != "meta":
                key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
                seen[key] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            fp.loss_and_grad(fp.flat, task, task.batch("train", g), grad)
        buffers = [fp.flat, grad, *[v for v in state.values() if isinstance(v, torch.Tensor)]]
        sizes.append(sum(seen.values()) + sum(b.numel() * b.element_size() for b in buffers))
    per = max(sizes[1] - sizes[0], 0.0)
    return float(max(sizes[0] - per, 0.0)), float(per)


def measure_rate(
    task: Any,
    space: str,
    k: int,
    device: torch.device | str = "cpu",
    *,
    min_seconds: float = 0.3,
    max_steps: int = 100,
) -> float:
    """Config-steps/s of the trainer's step (batch, loss and gradient, update) at ``k`` configs.

    One warm-up step, then steps until ``min_seconds`` or ``max_steps``; the fastest step counts
    (on a shared machine the minimum is the least noisy estimate of what the code costs).
    """
    device = torch.device(device)
    fp, opt, state, grad, g = _training_setup(task.to(device), space, k, device)
    best = math.inf
    spent = 0.0
    for i in range(max_steps + 1):
        _sync(device)
        t0 = time.perf_counter()
        fp.loss_and_grad(fp.flat, task, task.batch("train", g), grad)
        opt.update(fp.flat, grad, state, i)
        _sync(device)
        dt = time.perf_counter() - t0
        if i == 0:  # warm-up: allocator, lazy data loading, kernel selection
            if dt > 20 * min_seconds:  # one step is already long: do not repeat it more than once
                max_steps = 1
            continue
        best = min(best, dt)
        spent += dt
        if spent >= min_seconds:
            break
    return k / best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def default_memory_budget(device: torch.device | str) -> float:
    """Half the free memory of a GPU; a quarter of the physical memory of the host for a CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return 0.5 * free
    try:
        return 0.25 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4e9


def _device_key(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.machine()}:threads{torch.get_num_threads()}"


def _cache_key(task_name: str, space: str, device: torch.device) -> str:
    return "|".join(
        [
            task_name,
            space,
            _device_key(device),
            f"torch {torch.__version__}",
            taskset_torch.__version__,
        ]
    )


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(path: Path, key: str, cal: Calibration) -> None:
    """Add ``cal`` to the cache file; best effort: the cache only saves time, so a cache that
    cannot be written (read-only home, full disk, file-size limit) is a warning, not a failure."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read_cache(path)
        data[key] = cal.to_json()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".chunk-", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError as e:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        warnings.warn(
            f"could not save the chunk calibration to {path} ({e}); it will be measured again",
            stacklevel=2,
        )


def calibrate(
    task: Any,
    space: str,
    *,
    device: torch.device | str = "cpu",
    ladder: Sequence[int] | None = None,
    memory_budget: float | None = None,
    tolerance: float = 0.05,
    max_step_seconds: float = 10.0,
    cache_dir: str | Path | None = None,
    measure: Callable[[int], float] | None = None,
    memory: tuple[float, float] | None = None,
) -> Calibration:
    """Measure (or read from ``cache_dir``) config-steps/s over K and choose the chunk.

    ``measure`` replaces the timing of the real step and ``memory`` (``(fixed, per_config)``
    bytes) the task's :func:`memory_model` (for tests, or callers that know better);
    ``memory_budget`` (bytes, default :func:`default_memory_budget`) bounds the K tried.
    """
    device = torch.device(device)
    ladder = tuple(ladder or (GPU_LADDER if device.type == "cuda" else CPU_LADDER))
    cache = Path(cache_dir) / CACHE_FILE if cache_dir is not None else None
    key = _cache_key(getattr(task, "name", "") or type(task).__name__, space, device)
    if cache is not None:
        hit = _read_cache(cache).get(key)
        if hit is not None:
            try:
                return Calibration.from_json(hit)
            except (KeyError, TypeError, ValueError):
                pass  # a damaged entry is measured again
    fixed, per = memory if memory is not None else memory_model(task, space, device)
    budget = default_memory_budget(device) if memory_budget is None else float(memory_budget)

    def fits(k: int) -> bool:
        return fixed + k * per <= budget

    if measure is None:

        def measure(k: int) -> float:
            return measure_rate(task, space, k, device)

    rates, stopped = sweep(measure, ladder, fits=fits, max_step_seconds=max_step_seconds)
    cal = Calibration(rates, select_chunk(rates, tolerance=tolerance), stopped, fixed, per)
    if cache is not None:
        _write_cache(cache, key, cal)
    return cal


def auto_chunk(task_name: str, space: str, **kwargs: Any) -> int:
    """The calibrated chunk of a named task (built from the registry); see :func:`calibrate`."""
    from taskset_torch.tasks.registry import build_task

    return calibrate(build_task(task_name), space, **kwargs).chunk
