"""TaskSet's released curve files: ``<task>/<space>_1k_10000_replica5.npz``, read and written.

TaskSet released one file per (task, search space) with ``optimizers`` (config names as bytes),
``xs`` (eval steps) and ``ys[config, replica, step, split]``. :func:`write_taskset_npz` writes
exactly those keys (so TaskSet's own readers load the files) plus namespaced ``taskset_torch_*``
keys with what that layout cannot hold (seeds, hyperparameters, timings, data provenance), so an
exported file reads back identically. Hyperparameters of a bare released file come from a
``config_lookup`` the caller passes (e.g. ``taskset_torch.optimizers.optimizer_config``): this
module knows curves, not optimizers.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from taskset_torch.curves.io import (
    CurveStoreError,
    atomic_save_npz,
    json_array,
    json_from_array,
    load_npz,
    to_json_text,
)
from taskset_torch.curves.model import SPLITS, Curves, check_steps
from taskset_torch.curves.names import parse_seed_name

__all__ = [
    "ConfigLookup",
    "parse_taskset_filename",
    "read_taskset_npz",
    "write_taskset_npz",
    "lookup_hparams",
]

#: ``name -> hyperparameters`` of an optimizer config (KeyError/ValueError if unknown).
ConfigLookup = Callable[[str], Mapping[str, Any]]

# `<space>[_1k]_<training steps>_replica<replicas>.npz`; "_1k" (1000 configs) is not part of the
# search space's name (`adam8p_wide_grid_1k` holds `adam8p_wide_grid_seed<N>` configs).
_RELEASED_NAME = re.compile(
    r"^(?P<space>.+?)(?:_1k)?_(?P<steps>\d+)_replica(?P<replicas>\d+)\.npz$"
)
_EXTRA_JSON = "taskset_torch_json"
_EXTRA_TIME = "taskset_torch_time_per_step"
_EXTRA_PRESENT = "taskset_torch_present"


def parse_taskset_filename(name: str) -> tuple[str, int, int] | None:
    """``"adam8p_wide_grid_1k_10000_replica5.npz"`` -> ``("adam8p_wide_grid", 10000, 5)``."""
    m = _RELEASED_NAME.match(name)
    return (m["space"], int(m["steps"]), int(m["replicas"])) if m else None


def _space_from_names(names: Sequence[str]) -> str | None:
    prefixes = {p[0] if p else None for p in map(parse_seed_name, names)}
    return prefixes.pop() if len(prefixes) == 1 else None


def lookup_hparams(names: Sequence[str], config_lookup: ConfigLookup | None) -> list[dict]:
    """Each name's hyperparameters from ``config_lookup``; ``{}`` where it does not know the name
    (or no lookup is given)."""
    if config_lookup is None:
        return [{} for _ in names]
    return [dict(_lookup(config_lookup, name)) for name in names]


@functools.lru_cache(maxsize=16384)
def _lookup(config_lookup: ConfigLookup, name: str) -> Mapping[str, Any]:
    # Cached: every released file of a space names the same 1000 configs.
    try:
        return dict(config_lookup(name))
    except (KeyError, ValueError):
        return {}


def read_taskset_npz(
    path: str | os.PathLike,
    task: str | None = None,
    space: str | None = None,
    *,
    config_lookup: ConfigLookup | None = None,
) -> Curves:
    """Curves of one task from a file in TaskSet's released layout (or one
    :func:`write_taskset_npz` wrote).

    ``task`` defaults to the name stored by :func:`write_taskset_npz`, else the file's directory;
    ``space`` to the stored name, else the file name (``_1k`` dropped), else the common
    ``<space>_seed<N>`` prefix of the config names. Replicas become seeds ``0..R-1``. A bare
    released file holds no hyperparameters: they come from ``config_lookup`` (``{}`` without).
    """
    path = Path(path)
    what = "a TaskSet curve file (keys optimizers, xs, ys)"
    arrays = load_npz(path, ("optimizers", "xs", "ys"), what)
    names_arr = arrays["optimizers"]
    if names_arr.ndim != 1 or names_arr.dtype.kind not in "SU":
        raise CurveStoreError(
            f"{path}: 'optimizers' must be a 1-D array of names, got {names_arr.dtype}"
        )
    try:
        names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names_arr.tolist()]
    except UnicodeDecodeError as e:
        raise CurveStoreError(
            f"{path}: 'optimizers' holds names that are not UTF-8 ({e})"
        ) from None
    try:
        steps = check_steps(arrays["xs"])
    except ValueError as e:
        raise CurveStoreError(f"{path}: bad 'xs': {e}") from None
    ys = arrays["ys"]
    if ys.ndim != 4 or ys.shape[0] != len(names) or ys.shape[2:] != (len(steps), len(SPLITS)):
        raise CurveStoreError(
            f"{path}: 'ys' has shape {ys.shape}; expected [config, replica, step, split] = "
            f"[{len(names)}, R, {len(steps)}, {len(SPLITS)}]"
        )
    if ys.dtype.kind not in "fiu":
        raise CurveStoreError(f"{path}: 'ys' must be numeric, got {ys.dtype}")
    n_rep = ys.shape[1]
    extra = (
        json_from_array(arrays[_EXTRA_JSON], path, _EXTRA_JSON) if _EXTRA_JSON in arrays else None
    )
    parsed = parse_taskset_filename(path.name)
    if extra is not None:
        info = extra
    else:
        meta: dict[str, Any] = {"source": "taskset_release", "file": path.name}
        if parsed is not None:
            meta["training_steps"] = parsed[1]
        info = {
            "task": path.resolve().parent.name,
            "space": parsed[0] if parsed else _space_from_names(names),
            "seeds": list(range(n_rep)),
            "hparams": lookup_hparams(names, config_lookup),
            "data_sources": [],
            "meta": meta,
        }
    task = task or info.get("task")
    space = space or info.get("space")
    if not space:
        raise CurveStoreError(
            f"{path}: cannot tell the search space (file name is not <space>_<steps>_replica<R>.npz "
            "and config names are not <space>_seed<N>); pass space="
        )
    time_per_step = np.asarray(arrays.get(_EXTRA_TIME, np.full((len(names), n_rep), np.nan)))
    present = arrays.get(_EXTRA_PRESENT)
    try:
        return Curves(
            values=ys.astype(np.float32)[None],
            tasks=(task,),
            config_names=names,
            seeds=info["seeds"],
            steps=steps,
            space=space,
            hparams=info["hparams"],
            time_per_step=time_per_step[None],
            present=None if present is None else present[None],
            data_sources={task: info["data_sources"]},
            meta=info["meta"],
        )
    except (KeyError, ValueError, TypeError) as e:
        raise CurveStoreError(f"{path}: inconsistent TaskSet curve file ({e})") from None


def write_taskset_npz(curves: Curves, path: str | os.PathLike) -> Path:
    """Write the curves of one task in TaskSet's released layout (atomically); missing runs are
    NaN in ``ys``. Curves of all four splits only (the layout has no split names)."""
    if tuple(curves.splits) != SPLITS:
        raise ValueError(f"TaskSet's layout holds the four splits {SPLITS}, not {curves.splits}")
    task = curves.task
    extra = {
        "task": task,
        "space": curves.space,
        "seeds": curves.seeds,
        "hparams": curves.hparams or [{}] * len(curves.config_names),
        "data_sources": curves.data_sources.get(task, []),
        "meta": curves.meta,
    }
    arrays = {
        "optimizers": np.array([n.encode("utf-8") for n in curves.config_names], dtype=np.bytes_),
        "xs": curves.steps.astype(np.int64),
        "ys": curves.values[0].astype(np.float32),
        _EXTRA_JSON: json_array(to_json_text(extra, "curves metadata", sort_keys=False)),
        _EXTRA_TIME: curves.time_per_step[0].astype(np.float64),
        _EXTRA_PRESENT: curves.present[0],
    }
    if not curves.config_names:  # np.array([], dtype=bytes_) has itemsize 0, which npz rejects
        arrays["optimizers"] = np.zeros(0, dtype="S1")
    return atomic_save_npz(path, arrays)
