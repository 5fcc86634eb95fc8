"""The one combine: curves of several tasks of one search space on one grid of configs, seeds
and eval steps (what the store's ``load`` and the list importers use)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from taskset_torch.curves.io import CurveStoreError
from taskset_torch.curves.model import SPLITS, Curves, split_index
from taskset_torch.curves.names import config_sort_key

__all__ = ["combine"]


def _positions(wanted: Sequence[Any], have: Sequence[Any]) -> tuple[list[int], list[int]]:
    """Index pairs (into ``wanted``, into ``have``) of the labels both hold."""
    where = {x: i for i, x in enumerate(have)}
    pairs = [(i, where[x]) for i, x in enumerate(wanted) if x in where]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def combine(
    curves: Iterable[Curves],
    *,
    space: str | None = None,
    configs: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    steps: Sequence[int] | None = None,
    splits: Sequence[str] | None = None,
) -> Curves:
    """Put curves of several tasks (of one search space) on one grid of configs, seeds, steps.

    ``configs`` and ``seeds`` default to the union over the inputs (configs ordered by
    :func:`~taskset_torch.curves.config_sort_key`, seeds ascending), ``splits`` to all four,
    ``steps`` to the inputs' common eval steps (an error if they differ; pass ``steps`` to pick
    some). A task lacking a config, seed or step is NaN and not ``present`` there; labels given
    that no input holds are NaN too. ``hparams`` is None unless every config's is known.

    Example::

        store = CurveStore("runs/demo")
        pool = combine(store.read(t, "nadamw_grid") for t in store.tasks("nadamw_grid"))
    """
    items = list(curves)
    if not items:
        raise ValueError("no curves to combine")
    spaces = {c.space for c in items}
    if space is None and len(spaces) > 1:
        raise ValueError(f"curves of several search spaces {sorted(map(str, spaces))}; pick one")
    space = space if space is not None else spaces.pop()
    items = [c for c in items if c.space == space]
    if not items:
        raise ValueError(f"no curves of search space {space!r} among {sorted(map(str, spaces))}")
    tasks = [t for c in items for t in c.tasks]
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"several curve sets for one task among {tasks}")
    if steps is None:
        first = items[0]
        for c in items[1:]:
            if not np.array_equal(c.steps, first.steps):
                raise CurveStoreError(
                    f"tasks {first.tasks[0]!r} and {c.tasks[0]!r} have different eval steps "
                    f"({first.steps.tolist()} vs {c.steps.tolist()}); their steps differ, pass steps= "
                    "to pick the ones to keep"
                )
        steps = first.steps.tolist()
    known: dict[str, dict] = {}
    for c in items:
        for n, hp in zip(c.config_names, c.hparams or [{}] * len(c.config_names)):
            if hp and n not in known:
                known[n] = dict(hp)
    if configs is None:
        union = {n for c in items for n in c.config_names}
        configs = sorted(union, key=config_sort_key)
    if seeds is None:
        seeds = sorted({s for c in items for s in c.seeds})
    split_list = list(SPLITS if splits is None else splits)
    for s in split_list:
        if s not in SPLITS:
            raise ValueError(f"unknown split {s!r}; valid splits are {', '.join(SPLITS)}")
    configs, seeds = [str(n) for n in configs], [int(s) for s in seeds]
    steps = [int(s) for s in steps]
    shape = (len(tasks), len(configs), len(seeds))
    values = np.full((*shape, len(steps), len(split_list)), np.nan, np.float32)
    tps = np.full(shape, np.nan)
    present = np.zeros(shape, dtype=bool)
    t0 = 0
    for c in items:
        (dc, sc), (dr, sr), (ds, ss) = (
            _positions(configs, c.config_names),
            _positions(seeds, c.seeds),
            _positions(steps, c.steps.tolist()),
        )
        k = [split_index(s, c.splits) for s in split_list]
        for i in range(len(c.tasks)):
            block = c.values[i][np.ix_(sc, sr, ss)][..., k]
            values[t0 + i][np.ix_(dc, dr, ds)] = block
            tps[t0 + i][np.ix_(dc, dr)] = c.time_per_step[i][np.ix_(sc, sr)]
            present[t0 + i][np.ix_(dc, dr)] = c.present[i][np.ix_(sc, sr)]
        t0 += len(c.tasks)
    sources = {t: d for c in items for t, d in c.data_sources.items()}
    zeros = [c.zero_loss for c in items]
    zero = None
    if all(z is not None for z in zeros) and split_list == list(items[0].splits):
        zero = np.concatenate(zeros)
    return Curves(
        values=values,
        tasks=tuple(tasks),
        config_names=tuple(configs),
        seeds=tuple(seeds),
        steps=np.asarray(steps, dtype=np.int64),
        splits=tuple(split_list),
        space=space,
        hparams=tuple(known[n] for n in configs) if all(n in known for n in configs) else None,
        time_per_step=tps,
        present=present,
        data_sources=sources,
        zero_loss=zero,
    )
