"""In-memory datasets with TaskSet's four splits, seeded batch sampling and process-wide settings.

Every dataset is held as tensors in memory; a batch is a seeded draw of indices (with replacement)
so producing data never dominates a training step. TaskSet streamed a shuffled, repeated
``tf.data`` pipeline; sampling indices uniformly is the same distribution over examples per batch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import TypeVar

import torch

from taskset_torch.base import SPLITS, DataSource

__all__ = [
    "ArrayDataset",
    "SubstituteError",
    "check_split",
    "check_substitute",
    "get_allow_substitutes",
    "get_data_dir",
    "set_allow_substitutes",
    "set_data_dir",
    "cached",
    "clear_cache",
    "take_rows",
]

T = TypeVar("T")


class SubstituteError(RuntimeError):
    """A dataset would be served by a substitute while substitutes are disallowed."""


_settings: dict[str, object] = {"allow_substitutes": True, "data_dir": None}
_cache: dict[Hashable, object] = {}
_cache_lock = threading.Lock()


def set_allow_substitutes(allow: bool) -> None:
    """Process-wide default for ``allow_substitute=None`` in the loaders."""
    if not isinstance(allow, bool):
        raise TypeError(f"set_allow_substitutes expects a bool, got {allow!r}")
    _settings["allow_substitutes"] = allow


def get_allow_substitutes() -> bool:
    """The process-wide default that ``allow_substitute=None`` follows (see ``set_allow_substitutes``)."""
    return bool(_settings["allow_substitutes"])


def set_data_dir(path: str | os.PathLike[str] | None) -> None:
    """Directory of prepared caches, registered local copies and TFDS data (``None``: default,
    ``~/.cache/taskset_torch``)."""
    _settings["data_dir"] = None if path is None else Path(path).expanduser()
    clear_cache()  # a new directory can change which source serves a dataset


def get_data_dir() -> Path:
    """The data directory in use (``set_data_dir``'s, else ``~/.cache/taskset_torch``)."""
    d = _settings["data_dir"]
    return d if isinstance(d, Path) else Path.home() / ".cache" / "taskset_torch"


def check_substitute(name: str, source: DataSource, allow: bool | None, how_to_get: str) -> None:
    """Raise :class:`SubstituteError` when ``source`` is a substitute or a stand-in (not the
    dataset TaskSet named) and substitutes are off."""
    allow = get_allow_substitutes() if allow is None else allow
    if (source.is_substitute or source.is_stand_in) and not allow:
        raise SubstituteError(
            f"dataset {name!r} is not available (it would be substituted by {source.detail}) and "
            f"substitutes are disallowed. To get the real data: {how_to_get}"
        )


def cached(key: Hashable, build: Callable[[], T]) -> T:
    """Build once per process per ``key``: tasks are built often, loading data is slow."""
    with _cache_lock:
        if key in _cache:
            return _cache[key]  # type: ignore[return-value]
    value = build()
    with _cache_lock:
        return _cache.setdefault(key, value)  # type: ignore[return-value]


def clear_cache() -> None:
    """Forget every dataset loaded in this process."""
    with _cache_lock:
        _cache.clear()


def take_rows(v: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``v[idx]`` along the first axis. ``index_select`` on a 2-D view: CPU advanced indexing of
    uint8 image tensors is ~1000x slower in current torch builds (12 ms vs 10 us per batch)."""
    if v.dim() == 1:
        return v.index_select(0, idx)
    return v.reshape(v.shape[0], -1).index_select(0, idx).reshape(idx.shape[0], *v.shape[1:])


def check_split(split: str) -> str:
    """``split`` if it is one of TaskSet's four splits, else a ValueError listing them."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits are {', '.join(SPLITS)}")
    return split


def check_batch_size(batch_size: int) -> int:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return batch_size


class ArrayDataset:
    """Four splits of aligned tensors (e.g. ``image`` and ``label``) and where they came from."""

    def __init__(
        self,
        name: str,
        splits: Mapping[str, Mapping[str, torch.Tensor]],
        source: DataSource,
        info: Mapping[str, object] | None = None,
    ):
        missing = [s for s in SPLITS if s not in splits]
        if missing:
            raise ValueError(f"dataset {name!r} lacks splits {missing}; it needs all of {SPLITS}")
        for s in SPLITS:
            sizes = {k: v.shape[0] for k, v in splits[s].items()}
            if len(set(sizes.values())) != 1 or 0 in sizes.values():
                raise ValueError(
                    f"dataset {name!r} split {s!r} has mismatched or empty arrays: {sizes}"
                )
        self.name = name
        self.splits = {s: dict(splits[s]) for s in SPLITS}
        self.source = source
        self.info = dict(info or {})

    def size(self, split: str) -> int:
        """Number of examples in ``split``."""
        return next(iter(self.splits[check_split(split)].values())).shape[0]

    def sample(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """``batch_size`` examples of ``split`` drawn uniformly (with replacement)."""
        arrays = self.splits[check_split(split)]
        n = next(iter(arrays.values())).shape[0]
        idx = torch.randint(n, (check_batch_size(batch_size),), generator=generator)
        idx = idx.to(next(iter(arrays.values())).device)
        return {k: take_rows(v, idx) for k, v in arrays.items()}

    def to(self, device: torch.device | str) -> ArrayDataset:
        """Move every split to ``device`` (batches are then drawn there); returns ``self``."""
        self.splits = {s: {k: v.to(device) for k, v in a.items()} for s, a in self.splits.items()}
        return self
