"""Curves as a tidy pandas table: one row per task, config, seed, step and split that was run."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from taskset_torch.curves.io import atomic_write
from taskset_torch.curves.model import SPLITS, Curves, split_index
from taskset_torch.curves.taskset_format import ConfigLookup

__all__ = ["TABLE_FORMATS", "load_curves_dataframe", "tidy", "write_curves_table"]

#: File suffixes :func:`write_curves_table` writes.
TABLE_FORMATS: tuple[str, ...] = (".parquet", ".csv")
_KEYS = ("task", "config", "seed", "step", "split", "loss")


def tidy(
    curves: Iterable[Curves], *, hparams: bool = False, tasks: Sequence[str] | None = None
) -> Any:
    """Long format of any number of :class:`Curves`: one row per run and evaluation point.

    Columns ``task, space, config, seed, step, split, value`` (strings as categoricals, ``task``
    categories in the order of ``tasks`` if given), plus one ``hp_<name>`` column per
    hyperparameter if ``hparams``. Runs never made have no rows; diverged runs keep their NaN
    values.
    """
    import pandas as pd

    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("task", "space", "config", "seed")}
    cols.update(step=[], split=[], value=[])
    task_names: dict[str, int] = {t: i for i, t in enumerate(tasks or ())}
    space_names: dict[str, int] = {}
    config_names: dict[str, int] = {}
    config_hparams: list[dict] = []
    for c in curves:
        sp = space_names.setdefault(str(c.space), len(space_names))
        for n, hp in zip(c.config_names, c.hparams or [{}] * len(c.config_names)):
            if n not in config_names:
                config_names[n] = len(config_names)
                config_hparams.append(hp)
        codes = np.array([config_names[n] for n in c.config_names], dtype=np.int64)
        split_codes = np.array([split_index(s) for s in c.splits], dtype=np.int64)
        n_s, n_k = len(c.steps), len(c.splits)
        per_run = n_s * n_k
        for t, task in enumerate(c.tasks):
            ti = task_names.setdefault(task, len(task_names))
            ci, ri = np.nonzero(c.present[t])
            cols["task"].append(np.full(len(ci) * per_run, ti))
            cols["space"].append(np.full(len(ci) * per_run, sp))
            cols["config"].append(np.repeat(codes[ci], per_run))
            cols["seed"].append(np.repeat(np.asarray(c.seeds, dtype=np.int64)[ri], per_run))
            cols["step"].append(np.tile(np.repeat(c.steps, n_k), len(ci)))
            cols["split"].append(np.tile(split_codes, len(ci) * n_s))
            cols["value"].append(c.values[t, ci, ri].reshape(-1))
    cat = {
        "task": list(task_names),
        "space": list(space_names),
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


def load_curves_dataframe(
    store: Any,
    space: str,
    tasks: Sequence[str] | None = None,
    *,
    config_lookup: ConfigLookup | None = None,
) -> Any:
    """The curves of ``space`` in a curve store as a tidy pandas DataFrame.

    ``store`` is a directory or a :class:`~taskset_torch.curves.CurveStore` (e.g. from
    ``load_suite``). Columns: ``task``, ``config`` (``<space>_seed<N>``), one column per
    hyperparameter of the space (``learning_rate``, ``beta1``, ...), ``seed``, ``step``,
    ``split`` (train, valid_inner, valid_outer, test) and ``loss``. One row per evaluation point
    of every run that was made; a diverged run keeps its NaN losses. ``tasks`` defaults to every
    task with curves in ``space``. Errors name unknown tasks and the store's spaces.
    ``config_lookup`` gives the hyperparameters of TaskSet's bare released files (see
    :class:`~taskset_torch.curves.CurveStore`).

    Example::

        df = load_curves_dataframe("runs/demo", "nadamw_grid")
        final = df[(df.split == "valid_inner") & (df.step == df.step.max())]
        final.groupby("config", observed=True).loss.median().nsmallest(3)
    """
    from taskset_torch.curves.store import CurveStore

    if isinstance(store, CurveStore):
        cs = store
    else:
        root = Path(store).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"no curve store at {root}")
        cs = CurveStore(root, config_lookup=config_lookup)
    root = cs.root
    have = cs.tasks(space)
    if not have:
        raise ValueError(f"{root} has no curves in space {space!r}; its spaces: {cs.spaces()}")
    task_list = list(have if tasks is None else tasks)
    unknown = [t for t in task_list if t not in set(have)]
    if unknown:
        raise ValueError(f"no {space} curves for tasks {unknown[:5]} in {root}; it has {have[:10]}")
    df = cs.to_dataframe(task_list, space, hparams=True).drop(columns="space")
    hp = [c for c in df.columns if c.startswith("hp_")]
    renames = {c: c[3:] for c in hp if c[3:] not in _KEYS}
    df = df.rename(columns={"value": "loss", **renames})
    order = ["task", "config", *[renames.get(c, c) for c in hp], "seed", "step", "split", "loss"]
    return df[order]


def write_curves_table(df: Any, path: str | os.PathLike) -> Path:
    """Write a curves DataFrame as Parquet or CSV (by suffix), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise ValueError(
            f"{path}: unknown table format {suffix or '(none)'!r}; use {' or '.join(TABLE_FORMATS)}"
        )

    def write(f: Any) -> None:
        if suffix == ".parquet":
            try:
                df.to_parquet(f, index=False)
            except ImportError as e:
                raise ImportError(
                    f"writing Parquet needs pyarrow ({e}); pip install pyarrow, or write .csv"
                ) from None
        else:
            f.write(df.to_csv(index=False).encode("utf-8"))

    atomic_write(path, write)
    return path
