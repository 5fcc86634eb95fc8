"""In-memory datasets with TaskSet's four splits and seeded batch sampling.

Every dataset is held as tensors in memory; a batch is a seeded draw of indices (with replacement)
so producing data never dominates a training step. TaskSet streamed a shuffled, repeated
``tf.data`` pipeline; sampling indices uniformly is the same distribution over examples per batch.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from taskset_torch.tasks.base import SPLITS, DataSource

__all__ = ["ArrayDataset", "check_split"]


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits are {', '.join(SPLITS)}")
    return split


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
                raise ValueError(f"dataset {name!r} split {s!r} has mismatched or empty arrays: {sizes}")
        self.name = name
        self.splits = {s: dict(splits[s]) for s in SPLITS}
        self.source = source
        self.info = dict(info or {})

    def size(self, split: str) -> int:
        return next(iter(self.splits[check_split(split)].values())).shape[0]

    def sample(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """``batch_size`` examples of ``split`` drawn uniformly (with replacement) from ``generator``."""
        arrays = self.splits[check_split(split)]
        n = next(iter(arrays.values())).shape[0]
        idx = torch.randint(n, (batch_size,), generator=generator)
        return {k: v[idx] for k, v in arrays.items()}

    def to(self, device: torch.device | str) -> ArrayDataset:
        self.splits = {s: {k: v.to(device) for k, v in a.items()} for s, a in self.splits.items()}
        return self
