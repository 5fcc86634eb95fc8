"""Merging curves of one (task, space) from several files, and comparing recorded protocols.

The same (config, seed) may be stored twice (e.g. by two writers with different chunkings): copies
that start from the same point are one run and merge, keeping the first file's copy; copies that
differ already at the first evaluation (before any training) are an error naming both files.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from taskset_torch.curves.io import CurveStoreError, to_json_text
from taskset_torch.curves.model import SPLITS, Curves
from taskset_torch.curves.names import config_sort_key

__all__ = [
    "merge_curves",
    "protocol_differences",
    "CurveStoreWarning",
    "DUPLICATE_RTOL",
    "DUPLICATE_ATOL",
]

#: Two copies of one (config, seed) curve are the same run when their first evaluation (the
#: initial parameters on the first eval batches: no training yet) agrees to this relative
#: tolerance. After it, programs of different sizes (K configs, devices) differ by float32
#: rounding, which training usually keeps at an ulp or so but unstable configs amplify: measured on
#: conv_fc_family_seed11 (nadamw, 300 steps), K=1 and K=8 copies of the same 5 high-rate configs
#: were identical at step 0 and 7e-4 apart at step 30, up to 46% apart by step 120.
DUPLICATE_RTOL = 1e-4
DUPLICATE_ATOL = 1e-6


class CurveStoreWarning(UserWarning):
    """Something a reader should know that does not stop it (e.g. near-duplicate curves)."""


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``{"a.b": leaf}``; lists and other values are leaves."""
    if isinstance(obj, Mapping) and obj:
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def protocol_differences(recorded: Mapping[str, Any], asked: Mapping[str, Any]) -> dict:
    """``{field: (recorded, asked)}`` for every (nested, dotted) field whose values differ."""
    a, b = _flatten(recorded), _flatten(asked)
    out = {}
    for k in dict.fromkeys([*a, *b]):
        va, vb = a.get(k), b.get(k)
        if to_json_text(va, k) != to_json_text(vb, k):
            out[k] = (va, vb)
    return out


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
    """Merge one-task curves of one (task, space) from several files (``(label, curves)`` pairs).

    Configs are ordered by :func:`config_sort_key`, seeds ascending. The same (config, seed) in
    two files must hold the same run, told by its first evaluation (before any training; equal up
    to :data:`DUPLICATE_RTOL`): the copies are merged, keeping the first file's copy and listing the
    others in ``meta["duplicates"]`` with their largest difference and whether they drifted apart
    beyond rounding later (float32 differences amplified by training; a
    :class:`CurveStoreWarning` says so). Copies that differ at the first evaluation, or differing
    eval steps or hyperparameters, raise a :class:`CurveStoreError` naming both files.
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
        for name, hp in zip(c.config_names, c.hparams or [{}] * len(c.config_names)):
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
    duplicates = []
    for p, (label, c) in enumerate(parts):
        ix = np.ix_([c_index[n] for n in c.config_names], [r_index[s] for s in c.seeds])
        mask, c_values = c.present[0], c.values[0]
        taken = (owner[ix] >= 0) & mask
        if taken.any():
            have = values[ix]
            start = _close_curves(have[:, :, :1], c_values[:, :, :1])
            if (taken & ~start).any():
                ci, ri = np.argwhere(taken & ~start)[0]
                raise CurveStoreError(
                    f"config {c.config_names[ci]!r} seed {c.seeds[ri]} has different curves in "
                    f"{parts[int(owner[ix][ci, ri])][0]} and {label}, already at the first "
                    f"evaluation (beyond rtol={DUPLICATE_RTOL:g}: not the same run); set one of "
                    "the files aside"
                )
            close = _close_curves(have, c_values)
            for ci, ri in np.argwhere(taken & ~_same_curves(have, c_values)):
                with np.errstate(invalid="ignore"):
                    diff = float(np.nanmax(np.abs(have[ci, ri] - c_values[ci, ri]), initial=0.0))
                duplicates.append(
                    {
                        "config": c.config_names[ci],
                        "seed": c.seeds[ri],
                        "kept": parts[int(owner[ix][ci, ri])][0],
                        "dropped": label,
                        "max_abs_diff": diff,
                        "drifted": not bool(close[ci, ri]),
                    }
                )
        new = mask & ~taken  # the first file holding a run is the copy kept
        for arr, src in ((values, c_values), (time_per_step, c.time_per_step[0])):
            block = arr[ix]
            block[new] = src[new]
            arr[ix] = block
        block = owner[ix]
        block[new] = p
        owner[ix] = block
    meta = _merge_meta(parts)
    if duplicates:
        meta["duplicates"] = duplicates
        drifted = [d for d in duplicates if d["drifted"]]
        what = (
            f"{len(drifted)} of them drifted apart during training (float32 differences of "
            f"programs of different sizes, amplified; e.g. {drifted[0]['config']} seed "
            f"{drifted[0]['seed']})"
            if drifted
            else "equal up to float rounding"
        )
        warnings.warn(
            f"{first.task}/{first.space}: {len(duplicates)} run(s) are stored twice, with the "
            f"same start; {what}; max difference "
            f"{max(d['max_abs_diff'] for d in duplicates):.3g}; the copy in the first file is "
            f"kept, e.g. {duplicates[0]['kept']} over {duplicates[0]['dropped']} "
            "(see meta['duplicates'])",
            CurveStoreWarning,
            stacklevel=2,
        )
    sources = {
        to_json_text(d, "data_sources"): d for _, c in parts for d in c.data_sources.get(c.task, [])
    }
    return Curves(
        values=values[None],
        tasks=(first.task,),
        config_names=names,
        seeds=seeds,
        steps=first.steps,
        space=first.space,
        hparams=[hparams[n][1] for n in names],
        time_per_step=time_per_step[None],
        present=(owner >= 0)[None],
        data_sources={first.task: list(sources.values())},
        meta=meta,
    )


def _json_text(obj: Any) -> str:
    return to_json_text(obj, "hparams")


def _same_curves(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[C, R] mask of equal curves (NaN == NaN) between two [C, R, S, K] blocks."""
    return ((a == b) | (np.isnan(a) & np.isnan(b))).all(axis=(2, 3))


def _close_curves(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[C, R] mask of curves equal up to float rounding (:data:`DUPLICATE_RTOL`, NaN == NaN)."""
    with np.errstate(invalid="ignore"):
        close = np.isclose(a, b, rtol=DUPLICATE_RTOL, atol=DUPLICATE_ATOL, equal_nan=True)
    return close.all(axis=(2, 3))
