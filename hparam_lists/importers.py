"""Curves into :class:`CurveData`: from the curve store, TaskSet's released npz files, or the JSON
layout of the public 8-task TaskSet extract (``{"hp", "train", "valid", "test"}`` rows)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from hparam_lists.curves import SPLITS, CurveData

__all__ = ["read_taskset_json", "read_taskset_json_file", "read_npz_files", "read_store", "combine"]

# The JSON extract's split keys -> TaskSet splits. Its "test" is TaskSet's valid_outer (split 2);
# TaskSet's real test split was dropped from it and stays NaN.
_JSON_SPLITS = {"train": "train", "valid": "valid_inner", "test": "valid_outer"}
_SEED_NAME = re.compile(r"_seed(\d+)$")


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
) -> CurveData:
    """All ``<task>.json`` files of a directory (or the named ``tasks``) as one :class:`CurveData`.

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
    return CurveData(
        values=np.stack(arrays),
        tasks=tuple(tasks),
        config_names=tuple(f"{space}_seed{i}" for i in range(n_configs)),
        seeds=(0,),
        steps=np.arange(n_steps, dtype=np.int64) * eval_every,
        space=space,
        hparams=tuple(hparams),
        meta={"source": str(directory), "replicas": "each curve is TaskSet's mean over 5 replicas"},
    )


def _name_key(name: str) -> tuple[int, int | str]:
    match = _SEED_NAME.search(name)
    return (0, int(match.group(1))) if match else (1, name)


def combine(curves: Iterable[Any], *, space: str | None = None) -> CurveData:
    """Merge per-(task, space) curve objects (``taskset_torch.store.Curves``) into one array.

    Configs and seeds are the union over tasks (configs in seed-number order); a task lacking a
    config or seed is NaN there. All must share ``steps`` and the search space.
    """
    items = list(curves)
    if not items:
        raise ValueError("no curves to combine")
    spaces = {c.space for c in items}
    if space is None and len(spaces) > 1:
        raise ValueError(f"curves of several search spaces {sorted(spaces)}; pick one")
    space = space or spaces.pop()
    items = [c for c in items if c.space == space]
    tasks = [c.task for c in items]
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"several curve sets for one task among {tasks}")
    steps = np.asarray(items[0].steps)
    for c in items[1:]:
        if not np.array_equal(np.asarray(c.steps), steps):
            raise ValueError(f"task {c.task}: eval steps differ from task {items[0].task}'s")
    hparams: dict[str, dict[str, Any]] = {}
    for c in items:
        for name, hp in zip(c.config_names, c.hparams or [{}] * len(c.config_names)):
            hparams.setdefault(name, dict(hp))
    names = sorted(hparams, key=_name_key)
    seeds = sorted({int(s) for c in items for s in c.seeds})
    col = {n: i for i, n in enumerate(names)}
    seed_pos = {s: i for i, s in enumerate(seeds)}
    values = np.full(
        (len(items), len(names), len(seeds), len(steps), len(SPLITS)), np.nan, np.float32
    )
    for t, c in enumerate(items):
        v = np.asarray(c.values, dtype=np.float32)
        ci = [col[n] for n in c.config_names]
        si = [seed_pos[int(s)] for s in c.seeds]
        values[t][np.ix_(ci, si)] = v
    has_hparams = all(hparams[n] for n in names)
    sources = {c.task: list(getattr(c, "data_sources", []) or []) for c in items}
    return CurveData(
        values=values,
        tasks=tuple(tasks),
        config_names=tuple(names),
        seeds=tuple(seeds),
        steps=steps,
        space=space,
        hparams=tuple(hparams[n] for n in names) if has_hparams else None,
        meta={"data_sources": sources},
    )


def read_npz_files(paths: Sequence[str | os.PathLike], *, space: str | None = None) -> CurveData:
    """TaskSet's released ``<task>/<space>_10000_replica5.npz`` files (one per task) as one array."""
    from taskset_torch.store import read_taskset_npz

    if not paths:
        raise ValueError("no npz files given")
    return combine([read_taskset_npz(p) for p in paths], space=space)


def read_store(
    root: str | os.PathLike, *, space: str, tasks: Sequence[str] | None = None
) -> CurveData:
    """Curves of ``space`` (all tasks, or ``tasks``) from a ``taskset_torch.store.CurveStore``."""
    from hparam_lists.normalize import zero_reference
    from taskset_torch.store import CurveStore

    store = CurveStore(root)
    array, labels = store.to_array(tasks=list(tasks) if tasks is not None else None, space=space)
    hparams = labels.get("hparams")
    if hparams is not None and (len(hparams) != len(labels["config_names"]) or not all(hparams)):
        hparams = None
    curves = CurveData.from_array(array, labels, space=space, hparams=hparams)
    curves.meta["data_sources"] = dict(labels.get("data_sources", {}))
    # The zero optimizer's curves (stored as the "space" zero), when generate recorded them.
    zero = np.full((len(curves.tasks), len(curves.splits)), np.nan)
    for t, task in enumerate(curves.tasks):
        if "zero" in store.spaces(task):
            z = store.read(task, "zero")
            k = [SPLITS.index(s) for s in curves.splits]
            zero[t] = zero_reference(z.values[0][..., k], z.steps)
    return replace(curves, zero_loss=zero) if (~np.isnan(zero)).any() else curves
