"""Curves (:class:`taskset_torch.curves.Curves`) from the curve store, TaskSet's released npz files,
or the JSON layout of the public 8-task TaskSet extract (``{"hp", "train", "valid", "test"}`` rows).

TaskSet's bare released files hold config names only: their hyperparameters are looked up here,
by name, in the search spaces (``taskset_torch.optimizers.optimizer_config``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from taskset_torch.curves import SPLITS, Curves, CurveStore, combine, read_taskset_npz

__all__ = [
    "open_store",
    "read_taskset_json",
    "read_taskset_json_file",
    "read_npz_files",
    "read_store",
]

# The JSON extract's split keys -> TaskSet splits. Its "test" is TaskSet's valid_outer (split 2);
# TaskSet's real test split was dropped from it and stays NaN.
_JSON_SPLITS = {"train": "train", "valid": "valid_inner", "test": "valid_outer"}


def _losses(row: Any, key: str, where: str) -> list[float]:
    try:
        losses = row[key]["loss"]
    except (KeyError, TypeError):
        raise ValueError(f"{where}: missing {key!r}.'loss'") from None
    if not isinstance(losses, list) or not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in losses
    ):
        raise ValueError(f"{where}: {key}.loss must be a list of numbers")
    return losses


def read_taskset_json_file(
    path: str | os.PathLike, *, space: str = "adam8p_wide_grid"
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """One task's file -> (values float32 [config, 1, step, 4], hparams per config).

    Row i is config ``<space>_seed<i>``; each curve is already TaskSet's mean over 5 replicas.
    """
    path = Path(path)
    try:
        rows = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path}: expected a non-empty JSON array of config rows")
    n_steps = None
    values = None
    hparams = []
    for i, row in enumerate(rows):
        where = f"{path}: row {i}"
        if not isinstance(row, dict) or not isinstance(row.get("hp"), dict):
            raise ValueError(f"{where}: expected an object with 'hp', 'train', 'valid', 'test'")
        hparams.append(dict(row["hp"]))
        for key, split in _JSON_SPLITS.items():
            losses = _losses(row, key, where)
            if n_steps is None:
                n_steps = len(losses)
                values = np.full((len(rows), 1, n_steps, len(SPLITS)), np.nan, dtype=np.float32)
            if len(losses) != n_steps:
                raise ValueError(f"{where}: {key} has {len(losses)} points, row 0 has {n_steps}")
            # float32 overflow of the huge diverged values (~1e34 fit, 1e39 would not) is fine:
            # they become inf and count as diverged either way.
            with np.errstate(over="ignore"):
                values[i, 0, :, SPLITS.index(split)] = np.asarray(losses, dtype=np.float32)
    return values, hparams


def read_taskset_json(
    directory: str | os.PathLike,
    *,
    tasks: Sequence[str] | None = None,
    space: str = "adam8p_wide_grid",
    eval_every: int = 200,
) -> Curves:
    """All ``<task>.json`` files of a directory (or the named ``tasks``) as one :class:`Curves`.

    The files store no step values; TaskSet evaluated every ``eval_every`` steps from 0.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: not a directory of <task>.json curve files")
    available = sorted(p.stem for p in directory.glob("*.json"))
    if tasks is None:
        tasks = available
    unknown = [t for t in tasks if t not in available]
    if unknown:
        raise FileNotFoundError(
            f"{directory}: no curve file for tasks {unknown[:5]}; found {available[:10]}"
        )
    if not tasks:
        raise FileNotFoundError(f"{directory}: no <task>.json files")
    arrays, hparams = [], None
    for task in tasks:
        values, hp = read_taskset_json_file(directory / f"{task}.json", space=space)
        if arrays and values.shape != arrays[0].shape:
            raise ValueError(
                f"{task}: curves of shape {values.shape} differ from {tasks[0]}'s {arrays[0].shape}"
            )
        if hparams is None:
            hparams = hp
        elif hp != hparams:
            raise ValueError(f"{task}: row hyperparameters differ from {tasks[0]}'s (not one pool)")
        arrays.append(values)
    n_configs, n_steps = arrays[0].shape[0], arrays[0].shape[2]
    return Curves(
        values=np.stack(arrays),
        tasks=tuple(tasks),
        config_names=tuple(f"{space}_seed{i}" for i in range(n_configs)),
        seeds=(0,),
        steps=np.arange(n_steps, dtype=np.int64) * eval_every,
        space=space,
        hparams=tuple(hparams),
        meta={"source": str(directory), "replicas": "each curve is TaskSet's mean over 5 replicas"},
    )


def _config_lookup(name: str) -> Mapping[str, Any]:
    from taskset_torch.optimizers import optimizer_config  # torch: imported on first use

    return optimizer_config(name)


def open_store(root: str | os.PathLike) -> CurveStore:
    """A :class:`~taskset_torch.curves.CurveStore` that knows TaskSet's configs by name (so bare
    released files read with their hyperparameters)."""
    return CurveStore(root, config_lookup=_config_lookup)


def read_npz_files(paths: Sequence[str | os.PathLike], *, space: str | None = None) -> Curves:
    """TaskSet's released ``<task>/<space>_10000_replica5.npz`` files (one per task) as one
    :class:`Curves` (:func:`~taskset_torch.curves.combine`)."""
    if not paths:
        raise ValueError("no npz files given")
    return combine([read_taskset_npz(p, config_lookup=_config_lookup) for p in paths], space=space)


def read_store(
    root: str | os.PathLike, *, space: str, tasks: Sequence[str] | None = None
) -> Curves:
    """Curves of ``space`` (all tasks, or ``tasks``) from a curve store, with each task's
    ``zero`` optimizer loss (``zero_loss``) where the store holds it.

    Example::

        curves = read_store("runs/demo", space="nadamw_grid")
        curves.values.shape   # (tasks, configs, seeds, steps, 4)
    """
    from hparam_lists.normalize import zero_reference

    store = open_store(root)
    curves = store.load(tasks=list(tasks) if tasks is not None else None, space=space)
    # The zero optimizer's curves (stored as the "space" zero), when generate recorded them.
    zero = np.full((len(curves.tasks), len(curves.splits)), np.nan)
    for t, task in enumerate(curves.tasks):
        if "zero" in store.spaces(task):
            z = store.read(task, "zero")
            k = [SPLITS.index(s) for s in curves.splits]
            zero[t] = zero_reference(z.values[0, 0][..., k], z.steps)
    return replace(curves, zero_loss=zero) if (~np.isnan(zero)).any() else curves
