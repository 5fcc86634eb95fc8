"""TaskSet's ``<prefix>_seed<N>`` names: sampled tasks, optimizer configs, released curve files."""

from __future__ import annotations

import re

__all__ = ["parse_seed_name", "config_sort_key"]

_SEED_NAME = re.compile(r"^(?P<prefix>.+)_seed(?P<n>\d+)$")


def parse_seed_name(name: object) -> tuple[str, int] | None:
    """Split a TaskSet seed name into its prefix and seed; None if ``name`` is not one.

    Example::

        parse_seed_name("mlp_family_seed12")        # ("mlp_family", 12)
        parse_seed_name("adam8p_wide_grid_seed03")  # ("adam8p_wide_grid", 3)
        parse_seed_name("TwoD_Bowl1")               # None
    """
    m = _SEED_NAME.match(name) if isinstance(name, str) else None
    return (m["prefix"], int(m["n"])) if m else None


def config_sort_key(name: str) -> tuple[int, str, int, str]:
    """Stable config order: ``<prefix>_seed<N>`` names by prefix then N, other names after, A-Z."""
    parsed = parse_seed_name(name)
    if parsed:
        return (0, parsed[0], parsed[1], name)
    return (1, name, 0, name)
