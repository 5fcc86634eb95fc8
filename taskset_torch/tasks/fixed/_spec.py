"""Validation of a fixed task's spec (a table row, possibly edited by a user)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from taskset_torch.base import check_config

__all__ = ["check_spec"]


def check_spec(spec: Any, keys: Sequence[str], kind: str) -> dict[str, Any]:
    """``spec`` if it is a dict holding every key (and a positive int batch size), else a
    ValueError naming ``kind``, what is missing and what is needed.

    Specs are checked in parts (a head's keys after the common ones), so other keys are allowed
    here (:func:`~taskset_torch.base.check_config` with ``closed=False``)."""
    check_config(spec, keys, f"{kind} spec", closed=False)
    bs = spec.get("batch_size")
    if "batch_size" in keys and (not isinstance(bs, int) or isinstance(bs, bool) or bs < 1):
        raise ValueError(f"{kind}: batch_size must be a positive int, got {bs!r}")
    return spec
