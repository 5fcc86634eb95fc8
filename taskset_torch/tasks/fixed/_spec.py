"""Validation of a fixed task's spec (a table row, possibly edited by a user)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["check_spec"]


def check_spec(spec: Any, keys: Sequence[str], kind: str) -> dict[str, Any]:
    """``spec`` if it is a dict holding every key (and a positive int batch size), else a
    ValueError naming ``kind``, what is missing and what is needed."""
    if not isinstance(spec, dict):
        raise ValueError(f"{kind} spec must be a dict with keys {list(keys)}, got {spec!r}")
    missing = [k for k in keys if k not in spec]
    if missing:
        raise ValueError(f"{kind} spec lacks {missing}; it needs {list(keys)}")
    bs = spec.get("batch_size")
    if "batch_size" in keys and (not isinstance(bs, int) or isinstance(bs, bool) or bs < 1):
        raise ValueError(f"{kind}: batch_size must be a positive int, got {bs!r}")
    return spec
