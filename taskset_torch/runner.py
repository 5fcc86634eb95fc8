"""Plan and run curve generation: units of (task, space, config chunk, seed), locally or on Ray.

A unit is the atom of resumption: it is written to the store atomically when finished, so a run
killed at any moment and restarted loses at most the units in flight. Before training, each
(task, space) of the store is checked: its recorded protocol must be this run's (see
:func:`run_protocol`), broken unit files are set aside, and only the configs no whole unit holds
yet are computed, so a config is trained once per store and seed whatever the chunking.
"""

from __future__ import annotations

import dataclasses
import gc
import platform
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

import taskset_torch
from taskset_torch.curves import Curves
from taskset_torch.optimizers.zero import ZERO
from taskset_torch.training import TrainConfig, TrainResult, train_configs

__all__ = [
    "Unit",
    "plan",
    "compute_unit",
    "run_units",
    "run_protocol",
    "missing_units",
    "zero_units",
]

#: TrainConfig fields that do not shape the curves (metadata, not identity). Every other field,
#: including ones added later, is part of a unit's protocol.
NOT_PROTOCOL_FIELDS = frozenset({"device"})
#: Bump when the trainer changes what a curve means for the same settings.
CURVE_FORMAT = 1


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def run_protocol(config: TrainConfig, data_sources: Iterable[Any]) -> dict[str, Any]:
    """Everything that shaped a unit's curves: the training settings (every ``TrainConfig``
    field but the device), the data that served the task, the curve format and code version."""
    train = {
        f.name: _plain(getattr(config, f.name))
        for f in dataclasses.fields(config)
        if f.name not in NOT_PROTOCOL_FIELDS
    }
    return {
        "curve_format": CURVE_FORMAT,
        "code_version": taskset_torch.__version__,
        "train": train,
        "data_sources": [d.to_json() if hasattr(d, "to_json") else dict(d) for d in data_sources],
    }


@dataclasses.dataclass(frozen=True)
class Unit:
    task: str
    space: str
    seed: int
    config_seeds: tuple[int, ...]

    @property
    def config_names(self) -> list[str]:
        if self.space == ZERO:  # the zero optimizer: one config, no seed number
            return [ZERO]
        return [f"{self.space}_seed{s}" for s in self.config_seeds]


def plan(
    tasks: Sequence[str],
    space: str,
    config_seeds: Sequence[int],
    seeds: Sequence[int],
    chunk_size: int | Callable[[str], int] = 100,
) -> list[Unit]:
    """All units for tasks x configs x seeds, configs split into chunks of ``chunk_size``.

    ``chunk_size`` may be a function of the task name (e.g. a calibrated choice,
    :func:`taskset_torch.chunking.auto_chunk`).
    """
    from taskset_torch.tasks.registry import canonical_task_name

    if not tasks or not config_seeds or not seeds:
        raise ValueError("plan needs at least one task, one config seed and one seed")
    # quadratic_family_seed01 is quadratic_family_seed1: one name, one set of curves.
    task_list = list(dict.fromkeys(canonical_task_name(t, check=False) for t in tasks))
    cs = sorted(set(int(c) for c in config_seeds))
    seed_list = list(dict.fromkeys(int(s) for s in seeds))
    units = []
    for t in task_list:
        size = chunk_size(t) if callable(chunk_size) else chunk_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {size!r} for {t}")
        chunks = [tuple(cs[i : i + size]) for i in range(0, len(cs), size)]
        units += [Unit(t, space, s, ch) for s in seed_list for ch in chunks]
    return units


def zero_units(tasks: Sequence[str], seeds: Sequence[int]) -> list[Unit]:
    """One unit per (task, seed) recording the ``zero`` optimizer's curve (the normalization
    reference; evaluations only, no training steps)."""
    return [Unit(t, ZERO, int(s), (0,)) for t in tasks for s in sorted(set(seeds))]


def compute_unit(
    unit: Unit,
    config: TrainConfig,
    progress: Callable[[int], None] | None = None,
) -> Curves:
    """Build the task and the configs of ``unit`` and train them; nothing is written.

    Returns the unit's curves (:meth:`Curves.unit`: one task, one seed), as the store writes them.
    """
    from taskset_torch.optimizers import get_space
    from taskset_torch.tasks.registry import build_task
    from taskset_torch.training import zero_curve

    task = build_task(unit.task)
    if unit.space == ZERO:
        hparams: list[dict[str, Any]] = [{}]
        res, programs = zero_curve(task, seed=unit.seed, config=config), 1
    else:
        space = get_space(unit.space)
        hparams = [space.sample(s) for s in unit.config_seeds]
        res, programs = _train_fitting(task, unit, hparams, config, progress)
    meta = {
        "code_version": taskset_torch.__version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "training_steps": config.training_steps,
        "eval_every": config.eval_every,
        "eval_batches": config.eval_batches,
        "device": config.device,
        "randomness": "independent" if config.independent else "shared",
        "configs_per_program": max(len(hparams) // programs, 1),
        "programs": programs,
        "num_params": task.num_params(),
        "eval_time": res.eval_time,
        "diverged_at": res.diverged_at.tolist(),
        "time_per_step_note": "wall seconds per step of the program training all configs of the unit",
    }
    return Curves.unit(
        unit.task,
        unit.space,
        unit.seed,
        unit.config_names,
        hparams=hparams,
        steps=res.steps,
        values=res.values,
        time_per_step=np.full(len(hparams), res.time_per_step),
        data_sources=task.data_sources,
        meta=meta,
    )


#: How allocation failures read: CPU (``DefaultCPUAllocator: can't allocate memory: you tried to
#: allocate N bytes. Error code 12 (Cannot allocate memory)``, or ``not enough memory`` on
#: Windows), CUDA/MPS (``... out of memory``).
_OOM_TEXT = (
    "can't allocate memory",
    "cannot allocate memory",
    "not enough memory",
    "out of memory",
)


def _is_oom(err: BaseException) -> bool:
    """Whether ``err`` is an allocation failure (a smaller program may fit)."""
    if isinstance(err, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(err, RuntimeError) and any(t in str(err).lower() for t in _OOM_TEXT)


def _train_fitting(
    task: Any,
    unit: Unit,
    hparams: list[dict[str, Any]],
    config: TrainConfig,
    progress: Callable[[float], None] | None,
    share: float = 1.0,
) -> tuple[TrainResult, int]:
    """Train all configs in one program, halving it until it fits in memory.

    Halves see the same init and batches (they depend on the seed only), so the curves are the
    ones a single program would have produced. Returns the result and the number of programs.
    ``progress`` sees ``training_steps`` per unit in all: a program of a fraction of the configs
    reports that fraction of its steps, and a program that ran out of memory takes back what it
    reported.
    """
    reported = 0.0

    def report(n: int) -> None:
        nonlocal reported
        part = n if share == 1.0 else n * share  # whole steps while the unit runs as one
        reported += part
        progress(part)

    ids = list(unit.config_seeds)
    try:
        res = train_configs(
            task,
            unit.space,
            hparams,
            seed=unit.seed,
            config=config,
            progress=report if progress is not None else None,
            config_ids=ids,
        )
        return res, len(hparams) if config.independent else 1
    except Exception as e:
        if not _is_oom(e) or len(hparams) == 1:
            raise
    # The failed program's tensors are freed with the exception (leaving the except block).
    if progress is not None and reported:
        progress(-reported)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    half = len(hparams) // 2
    part = share / len(hparams)
    first = dataclasses.replace(unit, config_seeds=unit.config_seeds[:half])
    second = dataclasses.replace(unit, config_seeds=unit.config_seeds[half:])
    a, na = _train_fitting(task, first, hparams[:half], config, progress, part * half)
    b, nb = _train_fitting(
        task, second, hparams[half:], config, progress, part * (len(hparams) - half)
    )
    both = TrainResult(
        steps=a.steps,
        values=np.concatenate([a.values, b.values]),
        diverged_at=np.concatenate([a.diverged_at, b.diverged_at]),
        time_per_step=(a.time_per_step * na + b.time_per_step * nb) / (na + nb),
        eval_time=a.eval_time + b.eval_time,
    )
    return both, na + nb


def _write(store: Any, curves: Curves, config: TrainConfig) -> None:
    sources = curves.data_sources.get(curves.task, [])
    store.write_unit(curves, protocol=run_protocol(config, sources))


def worker_settings() -> dict[str, Any]:
    """This process's data and kernel settings, for workers elsewhere (Ray) to use the same:
    the archive search path, the data dir, whether substitutes are allowed, the grouped conv."""
    from taskset_torch import datasets
    from taskset_torch.tasks.grouped_conv import get_grouped_conv

    return {
        "search_path": [str(p) for p in datasets.get_search_path()],
        "data_dir": str(datasets.get_data_dir()),
        "allow_substitutes": datasets.get_allow_substitutes(),
        "grouped_conv": get_grouped_conv(),
    }


def apply_worker_settings(settings: dict[str, Any]) -> None:
    """Make this (worker) process use ``settings`` from :func:`worker_settings`."""
    from taskset_torch import datasets
    from taskset_torch.tasks.grouped_conv import set_grouped_conv

    datasets.set_search_path(settings["search_path"])
    datasets.set_data_dir(settings["data_dir"])
    datasets.set_allow_substitutes(settings["allow_substitutes"])
    set_grouped_conv(settings["grouped_conv"])


def _ray_compute(unit: Unit, config: TrainConfig, settings: dict[str, Any]) -> Curves:
    # A Ray worker starts with the library's defaults: it takes the driver's data settings, so
    # a unit reads the data the driver would (and records the same sources).
    apply_worker_settings(settings)
    return compute_unit(unit, config)


def missing_units(
    units: Iterable[Unit],
    store: Any,
    on_note: Callable[[str], None] | None = None,
) -> list[tuple[Unit, Unit | None]]:
    """``(planned unit, unit of its configs still to compute or None)`` for each planned unit.

    A config counts as done when a whole, readable unit of the same (task, space, seed) holds
    it, whatever chunk it was computed in. Broken unit files (empty, truncated, corrupt, of
    another protocol) are set aside to ``.set_aside/`` and their configs computed again;
    ``on_note`` hears which file went where and why.
    """
    scans: dict[tuple[str, str], Any] = {}
    out = []
    for u in units:
        key = (u.task, u.space)
        if key not in scans:
            scan = store.scan(u.task, u.space)
            for path, reason in scan.broken:
                dest = store.set_aside(path)
                if on_note is not None and dest is not None:
                    on_note(f"set aside broken unit {path} -> {dest} ({reason}); recomputing it")
            scans[key] = scan
        done = scans[key].done.get(u.seed, set())
        if u.space == ZERO:  # one curve per (task, seed), no config seeds
            out.append((u, None if ZERO in done else u))
            continue
        todo = tuple(c for c, n in zip(u.config_seeds, u.config_names) if n not in done)
        out.append((u, dataclasses.replace(u, config_seeds=todo) if todo else None))
    return out


def _check_protocols(
    units: Sequence[Unit],
    store: Any,
    config: TrainConfig,
    force: bool,
    on_note: Callable[[str], None] | None,
) -> None:
    """Check (or record) each (task, space)'s protocol before anything is trained."""
    from taskset_torch.tasks.registry import build_task

    for task_name, space in dict.fromkeys((u.task, u.space) for u in units):
        sources = build_task(task_name).data_sources  # the data this process would train on
        moved = store.claim_protocol(task_name, space, run_protocol(config, sources), force=force)
        if moved and on_note is not None:
            on_note(
                f"{task_name}/{space}: protocol changed (force): {len(moved)} file(s) set aside "
                f"in {moved[0].parent}"
            )


def _unit_bytes(units: Sequence[Unit], config: TrainConfig) -> int:
    from taskset_torch.training import eval_steps

    n_steps = len(eval_steps(config.training_steps, config.eval_every))
    k = max((len(u.config_seeds) for u in units), default=1)
    return k * n_steps * 4 * 4 + 64 * 1024  # float32 values of 4 splits + metadata


def run_units(
    units: Iterable[Unit],
    store: Any,
    config: TrainConfig,
    *,
    backend: str = "local",
    ray_address: str | None = None,
    num_gpus_per_unit: float = 0.0,
    on_step: Callable[[float], None] | None = None,
    on_unit: Callable[[Unit, bool], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    force: bool = False,
) -> int:
    """Run what ``store`` is missing of ``units``; returns how many units were computed.

    Before training: the store must take files (:meth:`CurveStore.check_writable`), each
    (task, space) must record this run's protocol (a mismatch raises
    :class:`~taskset_torch.curves.ProtocolMismatch` unless ``force``, which sets the old curves
    aside), and broken units are set aside. Configs already in whole units are not recomputed,
    so rerunning with another chunking adds nothing twice.

    ``on_step(n)`` reports training steps as they happen (``training_steps`` per planned unit in
    all; local backend), ``on_unit(unit, skipped)`` each finished or skipped planned unit,
    ``on_note(text)`` what was set aside. ``backend="ray"`` sends units to a Ray cluster
    (``ray_address`` or a local one); results come back to this process, which writes them, so
    workers need no shared filesystem.
    """
    if backend not in ("local", "ray"):
        raise ValueError(f"unknown backend {backend!r}; valid: local, ray")
    units = list(units)
    store.check_writable(_unit_bytes(units, config))
    _check_protocols(units, store, config, force, on_note)
    todo = []
    for planned, missing in missing_units(units, store, on_note):
        if missing is None:
            if on_unit:
                on_unit(planned, True)
        else:
            todo.append((planned, missing))
    if backend == "local":
        for planned, u in todo:
            _write(store, compute_unit(u, config, progress=on_step), config)
            if on_unit:
                on_unit(planned, False)
        return len(todo)
    try:
        import ray
    except ImportError:
        raise ImportError("the ray backend needs Ray: pip install 'taskset-torch[ray]'") from None
    if not ray.is_initialized():
        try:
            ray.init(address=ray_address)
        except (ValueError, ConnectionError, RuntimeError, TimeoutError) as e:
            raise ConnectionError(
                f"could not start or reach a Ray cluster at {ray_address or 'a new local one'!r}: "
                f"{e}"
            ) from None
    remote = ray.remote(num_gpus=num_gpus_per_unit)(_ray_compute)
    settings = worker_settings()
    pending = {remote.remote(u, config, settings): planned for planned, u in todo}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            planned = pending.pop(ref)
            _write(store, ray.get(ref), config)
            if on_step and planned.space != ZERO:
                on_step(config.training_steps)
            if on_unit:
                on_unit(planned, False)
    return len(todo)
