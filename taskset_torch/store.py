"""A directory of training curves per (task, search space): atomic unit files, merged on read.

Layout under ``root``::

    <task>/<space>/seed<seed>_<hash of config names>.npz   one unit: a chunk of configs, one seed
    <task>/<space>[_1k]_<steps>_replica<R>.npz              TaskSet's released layout (read too)

There is no index: the directory listing is the index, so writers need no lock. Each unit is
written once, atomically (temp file + fsync + rename), under a name derived from what it holds, so
a rerun overwrites rather than duplicates it and :meth:`CurveStore.has_unit` lets a runner skip it.
A writer killed at any moment leaves the complete unit or none, plus at most a temp file that
readers ignore and the next writer in that directory removes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from taskset_torch.taskset_npz import (
    SPLITS,
    Curves,
    CurveStoreError,
    atomic_save_npz,
    clean_stale_temp_files,
    config_sort_key,
    json_array,
    json_from_array,
    load_npz,
    parse_taskset_filename,
    read_taskset_npz,
    to_json_text,
    write_taskset_npz,
)

__all__ = [
    "SPLITS",
    "Curves",
    "CurveStore",
    "CurveStoreError",
    "merge_curves",
    "read_taskset_npz",
    "write_taskset_npz",
]

UNIT_FORMAT = "taskset-torch curve unit"
UNIT_VERSION = 1
_UNIT_KEYS = ("values", "steps", "time_per_step", "meta_json")


def _check_name(name: Any, what: str) -> str:
    bad = (
        not isinstance(name, str)
        or not name
        or name.startswith(".")
        or any(c in name for c in "/\\\0")
        or any(ord(c) < 32 for c in name)
    )
    if bad:
        raise ValueError(
            f"invalid {what} name {name!r}: it must be a non-empty string that does not start "
            "with '.' and holds no '/', '\\' or control characters (it names a directory)"
        )
    return name


def _unit_name(seed: int, config_names: Sequence[str]) -> str:
    digest = hashlib.sha256(json.dumps(list(config_names)).encode("utf-8")).hexdigest()[:16]
    return f"seed{seed}_{digest}.npz"


def _read_unit(path: Path) -> Curves:
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
            task=info["task"],
            space=info["space"],
            config_names=info["config_names"],
            hparams=info["hparams"],
            seeds=[info["seed"]],
            steps=arrays["steps"],
            values=values[:, None],
            time_per_step=tps[:, None],
            data_sources=info["data_sources"],
            meta=info["meta"],
        )
    except (KeyError, ValueError, TypeError) as e:
        raise CurveStoreError(f"{path}: inconsistent curve unit ({e})") from None
    if path.name != _unit_name(curves.seeds[0], curves.config_names):
        raise CurveStoreError(
            f"{path}: file name does not match its contents (expected "
            f"{_unit_name(curves.seeds[0], curves.config_names)}); was it renamed?"
        )
    return curves


def _merge_meta(parts: Sequence[tuple[str, Curves]]) -> dict:
    """Keys equal in every file as they are; ``varying[key]`` lists the others per file (aligned
    with ``files``, None where a file lacks the key)."""
    texts = [
        {k: to_json_text(v, f"meta[{k!r}] of {label}") for k, v in c.meta.items()}
        for label, c in parts
    ]
    keys = list(dict.fromkeys(k for t in texts for k in t))
    meta: dict[str, Any] = {}
    varying: dict[str, list] = {}
    for k in keys:
        if len({t.get(k) for t in texts}) == 1:  # present everywhere (a None makes two values)
            meta[k] = parts[0][1].meta[k]
        else:
            varying[k] = [c.meta.get(k) for _, c in parts]
    if varying:
        meta["varying"] = varying
    meta["files"] = [label for label, _ in parts]
    return meta


def merge_curves(parts: Sequence[tuple[str, Curves]]) -> Curves:
    """Merge curves of one (task, space) from several files (``(label, curves)`` pairs).

    Configs are ordered by :func:`config_sort_key`, seeds ascending. The same (config, seed) in
    two files must hold the same values; differing values, eval steps or hyperparameters raise a
    :class:`CurveStoreError` naming both files.
    """
    if not parts:
        raise ValueError("merge_curves needs at least one (label, curves) pair")
    first_label, first = parts[0]
    for label, c in parts[1:]:
        if (c.task, c.space) != (first.task, first.space):
            raise CurveStoreError(
                f"{label} holds {c.task}/{c.space} but {first_label} holds {first.task}/{first.space}"
            )
        if not np.array_equal(c.steps, first.steps):
            raise CurveStoreError(
                f"inconsistent eval steps: {first_label} has {first.steps.tolist()} but {label} "
                f"has {c.steps.tolist()}"
            )
    hparams: dict[str, tuple[str, dict]] = {}
    for label, c in parts:
        for name, hp in zip(c.config_names, c.hparams):
            seen = hparams.get(name)
            if seen is None or not seen[1]:
                hparams[name] = (label, hp)
            elif hp and hp != seen[1] and _json_text(hp) != _json_text(seen[1]):  # NaN != NaN
                raise CurveStoreError(
                    f"config {name!r} has hyperparameters {seen[1]} in {seen[0]} but {hp} in {label}"
                )
    names = sorted(hparams, key=config_sort_key)
    seeds = sorted({s for _, c in parts for s in c.seeds})
    c_index = {n: i for i, n in enumerate(names)}
    r_index = {s: i for i, s in enumerate(seeds)}
    shape = (len(names), len(seeds))
    values = np.full((*shape, len(first.steps), len(SPLITS)), np.nan, dtype=np.float32)
    time_per_step = np.full(shape, np.nan)
    owner = np.full(shape, -1)
    for p, (label, c) in enumerate(parts):
        ix = np.ix_([c_index[n] for n in c.config_names], [r_index[s] for s in c.seeds])
        mask = c.present
        bad = (owner[ix] >= 0) & mask & ~_same_curves(values[ix], c.values)
        if bad.any():
            ci, ri = np.argwhere(bad)[0]
            raise CurveStoreError(
                f"config {c.config_names[ci]!r} seed {c.seeds[ri]} has different curves in "
                f"{parts[int(owner[ix][ci, ri])][0]} and {label}"
            )
        for arr, new in ((values, c.values), (time_per_step, c.time_per_step)):
            block = arr[ix]
            block[mask] = new[mask]
            arr[ix] = block
        block = owner[ix]
        block[mask] = p
        owner[ix] = block
    sources = {to_json_text(d, "data_sources"): d for _, c in parts for d in c.data_sources}
    return Curves(
        task=first.task,
        space=first.space,
        config_names=names,
        hparams=[hparams[n][1] for n in names],
        seeds=seeds,
        steps=first.steps,
        values=values,
        time_per_step=time_per_step,
        data_sources=list(sources.values()),
        meta=_merge_meta(parts),
        present=owner >= 0,
    )


def _json_text(obj: Any) -> str:
    return to_json_text(obj, "hparams")


def _same_curves(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[C, R] mask of equal curves (NaN == NaN) between two [C, R, S, K] blocks."""
    return ((a == b) | (np.isnan(a) & np.isnan(b))).all(axis=(2, 3))


class CurveStore:
    """Training curves under ``root``, one atomic npz file per unit of work (see module doc)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise CurveStoreError(f"{self.root}: a curve store root must be a directory")

    def __repr__(self) -> str:
        return f"CurveStore({str(self.root)!r})"

    # --- units -----------------------------------------------------------------------------

    def unit_path(self, task: str, space: str, seed: int, config_names: Sequence[str]) -> Path:
        """Where the unit (task, space, seed, config chunk) lives; derived from its contents."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        names = [str(n) for n in config_names]
        if not names:
            raise ValueError("a unit needs at least one config name")
        space_dir = self.root / _check_name(task, "task") / _check_name(space, "space")
        return space_dir / _unit_name(int(seed), names)

    def has_unit(self, task: str, space: str, seed: int, config_names: Sequence[str]) -> bool:
        """Whether that unit was written (completely: files only appear whole)."""
        return self.unit_path(task, space, seed, config_names).is_file()

    def write_unit(
        self,
        task: str,
        space: str,
        seed: int,
        config_names: Sequence[str],
        hparams: Sequence[Mapping[str, Any]],
        steps: Sequence[int] | np.ndarray,
        values: np.ndarray,
        time_per_step: Sequence[float] | np.ndarray,
        data_sources: Iterable[Any],
        meta: Mapping[str, Any],
    ) -> Path:
        """Atomically write one unit: ``values`` [config, step, split], ``time_per_step`` [config].

        ``data_sources`` may hold dicts or objects with ``to_json()`` (``DataSource``). Writing a
        unit that exists replaces it (same name), so a rerun never duplicates curves.
        """
        path = self.unit_path(task, space, seed, config_names)
        names = [str(n) for n in config_names]
        values = np.asarray(values, dtype=np.float32)
        tps = np.asarray(time_per_step, dtype=np.float64)
        if values.ndim != 3 or tps.shape != (len(names),):
            raise ValueError(
                f"values must be [config, step, split] and time_per_step [config] for "
                f"{len(names)} configs; got {values.shape} and {tps.shape}"
            )
        sources = [d.to_json() if hasattr(d, "to_json") else d for d in data_sources]
        # Curves validates names, hparams, steps and shapes with clear messages.
        curves = Curves(
            task, space, names, list(hparams), [int(seed)], steps, values[:, None],
            tps[:, None], sources, dict(meta),
        )  # fmt: skip
        info = {
            "format": UNIT_FORMAT,
            "version": UNIT_VERSION,
            "task": task,
            "space": space,
            "seed": int(seed),
            "config_names": names,
            "hparams": curves.hparams,
            "data_sources": curves.data_sources,
            "meta": curves.meta,
        }
        arrays = {
            "values": values,
            "steps": curves.steps,
            "time_per_step": tps,
            "meta_json": json_array(to_json_text(info, "hparams, data_sources and meta", False)),
        }
        clean_stale_temp_files(path.parent)
        return atomic_save_npz(path, arrays)

    def units(self, task: str, space: str) -> list[Path]:
        """The unit files of (task, space), sorted by name."""
        d = self.root / _check_name(task, "task") / _check_name(space, "space")
        return sorted(d.glob("*.npz")) if d.is_dir() else []

    def _released(self, task: str) -> dict[str, list[Path]]:
        d = self.root / task
        out: dict[str, list[Path]] = {}
        if d.is_dir():
            for f in sorted(d.iterdir()):
                parsed = parse_taskset_filename(f.name)
                if parsed and f.is_file():
                    out.setdefault(parsed[0], []).append(f)
        return out

    # --- reading -----------------------------------------------------------------------------

    def read(self, task: str, space: str) -> Curves:
        """All curves of (task, space): unit files and released-layout files, merged.

        ``meta`` holds the keys every file agrees on, ``files`` (paths relative to the root) and
        ``varying`` (each other key's value per file, aligned with ``files``).
        """
        units = self.units(task, space)
        released = self._released(task).get(space, [])
        if not units and not released:
            have = self.spaces(task)
            raise CurveStoreError(
                f"{self.root}: no curves for task {task!r} in space {space!r}; this task has "
                f"spaces {have}" + ("" if have else f" (tasks: {self.tasks()[:20]})")
            )
        clean_stale_temp_files(self.root / task / space)
        parts = []
        for f in units:
            c = _read_unit(f)
            if (c.task, c.space) != (task, space):
                raise CurveStoreError(
                    f"{f}: holds curves of {c.task}/{c.space} but is stored under {task}/{space}"
                )
            parts.append((f.relative_to(self.root).as_posix(), c))
        for f in released:
            parts.append((f.relative_to(self.root).as_posix(), read_taskset_npz(f, task, space)))
        return merge_curves(parts)

    def tasks(self, space: str | None = None) -> list[str]:
        """Tasks with curves (in ``space`` if given), sorted."""
        if not self.root.is_dir():
            return []
        out = []
        for d in sorted(self.root.iterdir()):
            if d.is_dir() and not d.name.startswith("."):
                have = self.spaces(d.name)
                if have and (space is None or space in have):
                    out.append(d.name)
        return out

    def spaces(self, task: str | None = None) -> list[str]:
        """Search spaces with curves (of ``task`` if given), sorted."""
        if task is None:
            return sorted({s for t in self.tasks() for s in self.spaces(t)})
        d = self.root / _check_name(task, "task")
        if not d.is_dir():
            return []
        found = set(self._released(task))
        for sub in d.iterdir():
            if sub.is_dir() and not sub.name.startswith(".") and any(sub.glob("*.npz")):
                found.add(sub.name)
        return sorted(found)

    def _resolve_space(self, tasks: Sequence[str] | None, space: str | None) -> str:
        if space is not None:
            return _check_name(space, "space")
        have = sorted({s for t in tasks for s in self.spaces(t)}) if tasks else self.spaces()
        have = [s for s in have if s != "zero"]  # the zero optimizer's curves: not a search space
        if len(have) != 1:
            raise ValueError(f"space= is required: {self.root} holds spaces {have}")
        return have[0]

    def to_array(
        self,
        tasks: Sequence[str] | None = None,
        space: str | None = None,
        seeds: Sequence[int] | None = None,
        configs: Sequence[str] | None = None,
        steps: Sequence[int] | None = None,
        splits: Sequence[str] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Dense float32 ``[task, config, seed, step, split]``, NaN where a task lacks a run.

        ``space`` may be left out when the store (or ``tasks``) holds one space. ``configs`` and
        ``seeds`` default to the union over tasks, ``splits`` to all four. ``steps`` defaults to
        the tasks' common eval steps (an error if they differ; pass ``steps`` to pick some).
        Returns the array and its labels ``tasks``, ``config_names``, ``seeds``, ``steps``,
        ``splits``, plus ``space`` and ``hparams`` (one dict per config, ``{}`` if unknown).
        """
        space = self._resolve_space(tasks, space)
        task_list = list(tasks) if tasks is not None else self.tasks(space)
        curves = [self.read(t, space) for t in task_list]
        if configs is None:
            union = {n for c in curves for n in c.config_names}
            configs = sorted(union, key=config_sort_key)
        if seeds is None:
            seeds = sorted({s for c in curves for s in c.seeds})
        if steps is None:
            for c in curves[1:]:
                if not np.array_equal(c.steps, curves[0].steps):
                    raise CurveStoreError(
                        f"tasks {curves[0].task!r} and {c.task!r} have different eval steps "
                        f"({curves[0].steps.tolist()} vs {c.steps.tolist()}); pass steps="
                    )
            steps = curves[0].steps.tolist() if curves else []
        hparams: dict[str, dict] = {}
        for c in curves:
            for n, hp in zip(c.config_names, c.hparams):
                if hp and n not in hparams:
                    hparams[n] = hp
        split_list = list(SPLITS if splits is None else splits)
        for s in split_list:
            if s not in SPLITS:
                raise ValueError(f"unknown split {s!r}; valid splits are {', '.join(SPLITS)}")
        k = [SPLITS.index(s) for s in split_list]
        labels = {
            "tasks": task_list,
            "config_names": list(configs),
            "seeds": [int(s) for s in seeds],
            "steps": np.asarray(steps, dtype=np.int64),
            "splits": split_list,
            "space": space,
            "hparams": [hparams.get(n, {}) for n in configs],
        }
        out = np.full(
            (len(task_list), len(configs), len(seeds), len(steps), len(k)), np.nan, np.float32
        )
        for t, c in enumerate(curves):
            maps = [
                _positions(labels["config_names"], c.config_names),
                _positions(labels["seeds"], c.seeds),
                _positions(labels["steps"].tolist(), c.steps.tolist()),
            ]
            (dc, sc), (dr, sr), (ds, ss) = maps
            out[t][np.ix_(dc, dr, ds)] = c.values[np.ix_(sc, sr, ss)][..., k]
        return out, labels

    def to_dataframe(
        self, tasks: Sequence[str] | None = None, space: str | None = None, hparams: bool = False
    ):
        """Long format: one row per (task, space, config, seed, step, split) that was run.

        Columns ``task, space, config, seed, step, split, value`` (strings as categoricals), plus
        one ``hp_<name>`` column per hyperparameter if ``hparams``. Runs never made have no rows;
        diverged runs keep their NaN values.
        """
        import pandas as pd

        task_list = list(tasks) if tasks is not None else self.tasks(space)
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ("task", "space", "config", "seed")}
        cols.update(step=[], split=[], value=[])
        space_names: list[str] = []
        config_names: dict[str, int] = {}
        config_hparams: list[dict] = []
        for ti, task in enumerate(task_list):
            for sp in [space] if space is not None else self.spaces(task):
                c = self.read(task, sp)
                if sp not in space_names:
                    space_names.append(sp)
                for n, hp in zip(c.config_names, c.hparams):
                    if n not in config_names:
                        config_names[n] = len(config_names)
                        config_hparams.append(hp)
                ci, ri = np.nonzero(c.present)
                n_s, n_k = len(c.steps), len(SPLITS)
                per_run = n_s * n_k
                codes = np.array([config_names[n] for n in c.config_names], dtype=np.int64)
                cols["task"].append(np.full(len(ci) * per_run, ti))
                cols["space"].append(np.full(len(ci) * per_run, space_names.index(sp)))
                cols["config"].append(np.repeat(codes[ci], per_run))
                cols["seed"].append(np.repeat(np.asarray(c.seeds, dtype=np.int64)[ri], per_run))
                cols["step"].append(np.tile(np.repeat(c.steps, n_k), len(ci)))
                cols["split"].append(np.tile(np.arange(n_k), len(ci) * n_s))
                cols["value"].append(c.values[ci, ri].reshape(-1))
        cat = {
            "task": task_list,
            "space": space_names,
            "config": list(config_names),
            "split": list(SPLITS),
        }
        data = {}
        for name, chunks in cols.items():
            arr = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
            if name in cat:
                data[name] = pd.Categorical.from_codes(arr.astype(np.int64), categories=cat[name])
            elif name == "value":
                data[name] = arr.astype(np.float32)
            else:
                data[name] = arr.astype(np.int64)
        df = pd.DataFrame(data)
        if hparams and config_hparams:
            hp = pd.DataFrame(config_hparams).add_prefix("hp_")
            codes = df["config"].cat.codes.to_numpy()
            df = pd.concat([df, hp.iloc[codes].reset_index(drop=True)], axis=1)
        return df

    # --- TaskSet's released layout -----------------------------------------------------------

    def import_taskset_npz(
        self, path: str | os.PathLike, task: str | None = None, space: str | None = None
    ) -> Path:
        """Copy a released-layout file in as ``<task>/<space>_<steps>_replica<R>.npz``.

        The file is read and checked first; the copy also records hyperparameters (looked up by
        config name) so the store does not depend on the optimizers module to read it later.
        """
        curves = read_taskset_npz(path, task, space)
        _check_name(curves.task, "task")
        _check_name(curves.space, "space")
        training_steps = int(curves.meta.get("training_steps", curves.steps[-1]))
        name = f"{curves.space}_{training_steps}_replica{len(curves.seeds)}.npz"
        return write_taskset_npz(curves, self.root / curves.task / name)

    def export_taskset_npz(self, task: str, space: str, path: str | os.PathLike) -> Path:
        """Write the curves of (task, space) in TaskSet's layout to ``path``.

        If ``path`` is a directory, the file goes to ``<path>/<task>/<space>_<steps>_replica<R>.npz``
        as in TaskSet's bucket.
        """
        curves = self.read(task, space)
        path = Path(path)
        if path.is_dir():
            training_steps = int(curves.meta.get("training_steps", curves.steps[-1]))
            path = path / task / f"{space}_{training_steps}_replica{len(curves.seeds)}.npz"
        return write_taskset_npz(curves, path)

    def clean_temp_files(self) -> list[Path]:
        """Remove every stale temp file in the store (see ``clean_stale_temp_files``)."""
        removed = []
        if self.root.is_dir():
            for d in (self.root, *self.root.glob("*"), *self.root.glob("*/*")):
                if d.is_dir():
                    removed += clean_stale_temp_files(d)
        return removed


def _positions(wanted: Sequence[Any], have: Sequence[Any]) -> tuple[list[int], list[int]]:
    """Index pairs (into ``wanted``, into ``have``) of the labels both hold."""
    where = {x: i for i, x in enumerate(have)}
    pairs = [(i, where[x]) for i, x in enumerate(wanted) if x in where]
    return [p[0] for p in pairs], [p[1] for p in pairs]
