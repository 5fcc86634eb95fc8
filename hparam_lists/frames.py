"""Curves as a tidy table (one row per task, config, seed, step and split), for pandas users."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["TABLE_FORMATS", "load_curves_dataframe", "write_curves_table"]

#: File suffixes :func:`write_curves_table` writes.
TABLE_FORMATS: tuple[str, ...] = (".parquet", ".csv")
_KEYS = ("task", "config", "seed", "step", "split", "loss")


def load_curves_dataframe(
    store: str | os.PathLike, space: str, tasks: Sequence[str] | None = None
) -> Any:
    """The curves of ``space`` in a curve store as a long pandas DataFrame.

    Columns: ``task``, ``config`` (``<space>_seed<N>``), one column per hyperparameter of the
    space (``learning_rate``, ``beta1``, ...), ``seed``, ``step``, ``split`` (train,
    valid_inner, valid_outer, test) and ``loss``. One row per evaluation point of every run that
    was made; a diverged run keeps its NaN losses. ``tasks`` defaults to every task with curves
    in ``space``. Errors name unknown tasks and the store's spaces.
    """
    from taskset_torch.store import CurveStore

    root = Path(store).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"no curve store at {root}")
    cs = CurveStore(root)
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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if suffix == ".parquet":
            try:
                df.to_parquet(tmp, index=False)
            except ImportError as e:
                raise ImportError(
                    f"writing Parquet needs pyarrow ({e}); pip install pyarrow, or write .csv"
                ) from None
        else:
            df.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
