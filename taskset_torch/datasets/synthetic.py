"""TaskSet's synthetic sequence data: associative retrieval and copy tasks, generated per batch.

Both are generated fresh for every batch, and all four splits use the same process (TaskSet's
``associative_sequence`` / ``copy_sequence``). Tokens are returned as int64 ids; pass
``one_hot=True`` for TaskSet's one-hot float encoding over ``num_tokens + 2`` symbols.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from taskset_torch.base import DataSource
from taskset_torch.datasets.base import check_batch_size, check_split

__all__ = ["associative_sequence", "copy_sequence", "SequenceTaskData"]


def _check_pos(**kw: int) -> None:
    for k, v in kw.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{k} must be a positive int, got {v!r}")


def _pack(inp: torch.Tensor, out: torch.Tensor, mask: torch.Tensor, n: int, one_hot: bool):
    if one_hot:
        return {
            "input": F.one_hot(inp, n).to(torch.float32),
            "output": F.one_hot(out, n).to(torch.float32),
            "loss_mask": mask,
        }
    return {"input": inp, "output": out, "loss_mask": mask}


def associative_sequence(
    batch_size: int,
    num_pairs: int,
    num_tokens: int,
    generator: torch.Generator,
    *,
    one_hot: bool = False,
) -> dict[str, torch.Tensor]:
    """Key/value pairs, a query marker, then one of the keys; the target is its value.

    ``input``: ``k1 v1 ... kp vp <query> k`` (keys distinct, values with replacement),
    ``output``: ``<empty>`` everywhere except the value at the last step, ``loss_mask``: 1 only
    at the last step. ``<empty>`` = ``num_tokens``, ``<query>`` = ``num_tokens + 1``;
    sequence length ``2 * num_pairs + 2``.
    """
    _check_pos(batch_size=batch_size, num_pairs=num_pairs, num_tokens=num_tokens)
    if num_pairs > num_tokens:
        raise ValueError(
            f"num_pairs ({num_pairs}) cannot exceed num_tokens ({num_tokens}): keys are distinct"
        )
    b = batch_size
    keys = torch.rand(b, num_tokens, generator=generator).argsort(dim=1)[:, :num_pairs]
    values = torch.randint(num_tokens, (b, num_pairs), generator=generator)
    q = torch.randint(num_pairs, (b,), generator=generator)
    empty, query = num_tokens, num_tokens + 1
    pairs = torch.stack([keys, values], dim=2).reshape(b, 2 * num_pairs)
    rows = torch.arange(b)
    inp = torch.cat([pairs, torch.full((b, 1), query), keys[rows, q][:, None]], dim=1)
    out = torch.full_like(inp, empty)
    out[:, -1] = values[rows, q]
    mask = torch.zeros(inp.shape, dtype=torch.float32)
    mask[:, -1] = 1.0
    return _pack(inp, out, mask, num_tokens + 2, one_hot)


def copy_sequence(
    batch_size: int,
    sequence_length: int,
    num_tokens: int,
    generator: torch.Generator,
    *,
    num_separator: int = 1,
    one_hot: bool = False,
) -> dict[str, torch.Tensor]:
    """``sequence_length`` tokens, ``num_separator`` separators (id ``num_tokens``), then
    ``sequence_length`` emit markers (id ``num_tokens + 1``); the target repeats the tokens in
    the emit part and the loss mask is 1 there. TaskSet's targets before that are id 0 (masked)."""
    _check_pos(batch_size=batch_size, sequence_length=sequence_length, num_tokens=num_tokens,
               num_separator=num_separator)  # fmt: skip
    b, n = batch_size, sequence_length
    tokens = torch.randint(num_tokens, (b, n), generator=generator)
    sep = torch.full((b, num_separator), num_tokens)
    emit = torch.full((b, n), num_tokens + 1)
    inp = torch.cat([tokens, sep, emit], dim=1)
    out = torch.cat([torch.zeros_like(tokens), torch.zeros_like(sep), tokens], dim=1)
    mask = torch.cat([torch.zeros(b, n + num_separator), torch.ones(b, n)], dim=1)
    return _pack(inp, out, mask, num_tokens + 2, one_hot)


class SequenceTaskData:
    """Batches of a synthetic sequence problem; every split is the same generating process."""

    def __init__(self, kind: str, *, one_hot: bool = False, **params: int):
        if kind not in ("associative", "copy"):
            raise ValueError(f"unknown synthetic sequence kind {kind!r}; valid: associative, copy")
        self.kind = kind
        self.params = dict(params)
        self.one_hot = one_hot
        self.source = DataSource(f"{kind}_sequence", "synthetic", str(self.params))
        self.batch("train", 1, torch.Generator().manual_seed(0))  # validate params now

    @property
    def num_symbols(self) -> int:
        """Vocabulary size of the sequences: the data tokens plus two markers."""
        return int(self.params["num_tokens"]) + 2

    def batch(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """A fresh batch ``{"input", "output", "loss_mask"}`` (every split is the same process)."""
        check_split(split)
        check_batch_size(batch_size)
        fn = associative_sequence if self.kind == "associative" else copy_sequence
        return fn(batch_size, generator=generator, one_hot=self.one_hot, **self.params)
