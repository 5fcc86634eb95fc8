"""Resolve any TaskSet name (a sampled task or an optimizer config) to its stored JSON config."""

from __future__ import annotations

import difflib
from typing import Any

from taskset_torch.curves.names import parse_seed_name
from taskset_torch.tasks.registry import FAMILIES, task_config

__all__ = ["resolve_config", "known_prefixes"]


def known_prefixes() -> list[str]:
    from taskset_torch.optimizers import SPACES

    return list(FAMILIES) + list(SPACES)


def resolve_config(name: str) -> Any:
    """TaskSet's config for ``mlp_family_seed12``, ``adam8p_wide_grid_seed3``, a fixed task, ..."""
    from taskset_torch.optimizers import SPACES, optimizer_config
    from taskset_torch.tasks.fixed import fixed_task_spec, is_fixed_task

    if is_fixed_task(name):
        return fixed_task_spec(name)
    parsed = parse_seed_name(name)
    prefix = parsed[0] if parsed else None
    if prefix in SPACES:
        return optimizer_config(name)
    if prefix in FAMILIES:
        return task_config(name)
    examples = [f"{p}_seed0" for p in known_prefixes()]
    close = difflib.get_close_matches(name, examples, n=3, cutoff=0.4)
    hint = f" Closest valid names: {', '.join(close)}." if close else ""
    raise KeyError(
        f"unknown name {name!r}: expected <family>_seed<N> or <search space>_seed<N>.{hint} "
        f"Families: {', '.join(FAMILIES)}. Search spaces: {', '.join(SPACES)}."
    )
