"""Where the shipped (published) lists live, and their names.

The repository keeps them in ``data/`` at its root; an installed wheel carries the same files in
``hparam_lists/data/``. Both places are searched, the checkout first.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PUBLISHED_LISTS", "data_dirs", "published_list_path"]

#: name -> file name of the lists that ship with the package.
PUBLISHED_LISTS: dict[str, str] = {
    # TaskSet's learned NAdamW list (Metz et al. 2020), as published in google-research/opt_list.
    "opt_list": "opt_list.json",
}


def data_dirs() -> tuple[Path, ...]:
    """Directories searched for shipped data, in order."""
    here = Path(__file__).resolve()
    return (here.parents[1] / "data", here.parent / "data")


def published_list_path(name: str) -> Path:
    """Path of a shipped list; KeyError naming the valid names, FileNotFoundError naming the dirs."""
    if name not in PUBLISHED_LISTS:
        raise KeyError(f"no published list named {name!r}; available: {', '.join(PUBLISHED_LISTS)}")
    for directory in data_dirs():
        path = directory / PUBLISHED_LISTS[name]
        if path.is_file():
            return path
    searched = ", ".join(str(d) for d in data_dirs())
    raise FileNotFoundError(
        f"published list {name!r} ({PUBLISHED_LISTS[name]}) is missing from the installation; "
        f"searched {searched}"
    )
