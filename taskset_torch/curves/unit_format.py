"""The curve unit file: one npz per (task, space, config chunk, seed), pickle-free and atomic.

Keys ``values [config, step, split]`` (float32), ``steps``, ``time_per_step [config]`` and
``meta_json`` (format tag and version, task, space, seed, config names, hyperparameters, data
sources, meta, and the protocol when one was given). The file name derives from the seed and the
config names, so a rerun replaces a unit instead of duplicating it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
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
from taskset_torch.curves.model import Curves

__all__ = ["UNIT_FORMAT", "UNIT_VERSION", "unit_file_name", "read_unit", "write_unit_file"]

UNIT_FORMAT = "taskset-torch curve unit"
UNIT_VERSION = 1
_UNIT_KEYS = ("values", "steps", "time_per_step", "meta_json")


def unit_file_name(seed: int, config_names: Sequence[str]) -> str:
    """``seed<seed>_<16 hex digits of the config names' hash>.npz``: a unit's name is its content."""
    digest = hashlib.sha256(json.dumps(list(config_names)).encode("utf-8")).hexdigest()[:16]
    return f"seed{seed}_{digest}.npz"


def read_unit(path: Path) -> Curves:
    """The curves of one unit file; a :class:`CurveStoreError` naming the file if it is not a
    whole, consistent unit (or was renamed)."""
    arrays = load_npz(path, _UNIT_KEYS, "a taskset-torch curve unit")
    info = json_from_array(arrays["meta_json"], path, "meta_json")
    if not isinstance(info, dict) or info.get("format") != UNIT_FORMAT:
        raise CurveStoreError(f"{path}: not a taskset-torch curve unit (format tag missing)")
    if info.get("version") != UNIT_VERSION:
        raise CurveStoreError(
            f"{path}: curve unit version {info.get('version')!r}; this code reads {UNIT_VERSION}"
        )
    values, tps = arrays["values"], arrays["time_per_step"]
    try:
        if values.ndim != 3 or tps.ndim != 1:
            raise ValueError(
                f"values {values.shape} / time_per_step {tps.shape} are not [config, step, split] / "
                "[config]"
            )
        curves = Curves(
            values=values[None, :, None],
            tasks=(info["task"],),
            config_names=info["config_names"],
            seeds=[info["seed"]],
            steps=arrays["steps"],
            space=info["space"],
            hparams=info["hparams"],
            time_per_step=tps[None, :, None],
            data_sources={info["task"]: info["data_sources"]},
            meta=info["meta"],
        )
    except (KeyError, ValueError, TypeError) as e:
        raise CurveStoreError(f"{path}: inconsistent curve unit ({e})") from None
    if path.name != unit_file_name(curves.seeds[0], curves.config_names):
        raise CurveStoreError(
            f"{path}: file name does not match its contents (expected "
            f"{unit_file_name(curves.seeds[0], curves.config_names)}); was it renamed?"
        )
    if info.get("protocol") is not None:
        curves.meta["protocol"] = info["protocol"]
    return curves


def write_unit_file(unit: Curves, path: Path, protocol: Mapping[str, Any] | None = None) -> Path:
    """Write a one-task, one-seed :class:`Curves` to ``path`` atomically (``protocol``: plain JSON
    data recorded with it, or None)."""
    task, names = unit.task, list(unit.config_names)
    info = {
        "format": UNIT_FORMAT,
        "version": UNIT_VERSION,
        "task": task,
        "space": unit.space,
        "seed": int(unit.seeds[0]),
        "config_names": names,
        "hparams": unit.hparams or [{}] * len(names),
        "data_sources": unit.data_sources.get(task, []),
        "meta": unit.meta,
    }
    if protocol is not None:
        info["protocol"] = protocol
    arrays = {
        "values": unit.values[0, :, 0].astype(np.float32),
        "steps": unit.steps,
        "time_per_step": unit.time_per_step[0, :, 0].astype(np.float64),
        "meta_json": json_array(to_json_text(info, "hparams, data_sources and meta", False)),
    }
    return atomic_save_npz(path, arrays)
