"""Text datasets: token sequences with TaskSet's random fixed-length patches, padding and mask."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from taskset_torch.base import SPLITS, DataSource
from taskset_torch.datasets.base import check_batch_size, check_split

__all__ = ["RaggedTokens", "TextDataset", "random_patches"]


class RaggedTokens:
    """Variable-length token sequences stored flat: ``tokens[offsets[i]:offsets[i] + lengths[i]]``."""

    def __init__(self, tokens: torch.Tensor, lengths: torch.Tensor):
        if tokens.dim() != 1 or lengths.dim() != 1:
            raise ValueError("RaggedTokens needs 1-D tokens and 1-D lengths")
        if int(lengths.sum()) != tokens.shape[0]:
            raise ValueError(
                f"lengths sum to {int(lengths.sum())} but there are {tokens.shape[0]} tokens"
            )
        if lengths.numel() == 0:
            raise ValueError("RaggedTokens needs at least one sequence")
        self.tokens = tokens
        self.lengths = lengths.to(torch.int64)
        self.offsets = torch.cumsum(self.lengths, 0) - self.lengths

    @classmethod
    def from_sequences(cls, seqs: Sequence[Sequence[int] | np.ndarray]) -> RaggedTokens:
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
        flat = np.concatenate([np.asarray(s, dtype=np.int32) for s in seqs]) if seqs else []
        return cls(torch.as_tensor(np.asarray(flat, dtype=np.int32)), lengths)

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    def select(self, start: int, stop: int) -> RaggedTokens:
        """Sequences ``[start, stop)`` as a new (compact) object."""
        lo = int(self.offsets[start]) if start < len(self) else int(self.tokens.shape[0])
        hi = int(self.offsets[stop - 1] + self.lengths[stop - 1]) if stop > start else lo
        return RaggedTokens(self.tokens[lo:hi].clone(), self.lengths[start:stop].clone())

    def to(self, device: torch.device | str) -> RaggedTokens:
        self.tokens = self.tokens.to(device)
        self.lengths = self.lengths.to(device)
        self.offsets = self.offsets.to(device)
        return self


def random_patches(
    data: RaggedTokens, idx: torch.Tensor, patch_length: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """TaskSet's ``_random_slice`` for the sequences ``idx``, vectorized over the batch.

    A sequence longer than ``patch_length`` gives a contiguous slice starting uniformly in
    ``[0, len - patch_length)`` (TaskSet's ``tf.random_uniform`` excludes the last start); a
    shorter one is zero-padded at the end. ``mask`` is 1 on real tokens, 0 on padding.
    """
    lengths = data.lengths[idx]
    max_start = (lengths - patch_length).clamp(min=0)
    u = torch.rand(idx.shape[0], generator=generator).to(lengths.device)
    start = (u * max_start).floor().to(torch.int64)  # 0 when max_start == 0
    pos = start[:, None] + torch.arange(patch_length, device=lengths.device)[None, :]
    mask = pos < lengths[:, None]
    flat = (data.offsets[idx][:, None] + pos).clamp(max=data.tokens.shape[0] - 1)
    tokens = torch.where(mask, data.tokens[flat].to(torch.int64), 0)
    return tokens, mask.to(torch.float32)


class TextDataset:
    """Four splits of token sequences (and labels, where the dataset has them)."""

    def __init__(
        self,
        name: str,
        splits: Mapping[str, RaggedTokens],
        labels: Mapping[str, torch.Tensor] | None,
        *,
        patch_length: int,
        vocab_size: int,
        num_classes: int | None,
        source: DataSource,
        info: Mapping[str, object] | None = None,
    ):
        if not isinstance(patch_length, int) or patch_length < 1:
            raise ValueError(f"patch_length must be a positive int, got {patch_length!r}")
        missing = [s for s in SPLITS if s not in splits]
        if missing:
            raise ValueError(f"text dataset {name!r} lacks splits {missing}")
        if (labels is None) != (num_classes is None):
            raise ValueError(f"text dataset {name!r}: give both labels and num_classes, or neither")
        if labels is not None:
            for s in SPLITS:
                if labels[s].shape[0] != len(splits[s]):
                    raise ValueError(f"text dataset {name!r} split {s!r}: labels do not align")
        self.name = name
        self.splits = dict(splits)
        self.labels = None if labels is None else dict(labels)
        self.patch_length = patch_length
        self.vocab_size = vocab_size
        self.num_classes = num_classes
        self.source = source
        self.info = dict(info or {})

    def size(self, split: str) -> int:
        """Number of documents (rows) in ``split``."""
        return len(self.splits[check_split(split)])

    def batch(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """``{"tokens": int64 [B, T], "mask": float32 [B, T], "label": int64 [B]}`` (label only
        for datasets with labels); sequences drawn uniformly with replacement."""
        data = self.splits[check_split(split)]
        idx = torch.randint(len(data), (check_batch_size(batch_size),), generator=generator)
        idx = idx.to(data.tokens.device)
        tokens, mask = random_patches(data, idx, self.patch_length, generator)
        out = {"tokens": tokens, "mask": mask}
        if self.labels is not None:
            out["label"] = self.labels[split][idx]
        return out

    def to(self, device: torch.device | str) -> TextDataset:
        """Move the tokens (and labels) to ``device``; returns ``self``."""
        for d in self.splits.values():
            d.to(device)
        if self.labels is not None:
            self.labels = {s: v.to(device) for s, v in self.labels.items()}
        return self
