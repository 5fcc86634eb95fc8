"""Argument types and small helpers the command modules share (no domain logic)."""

from __future__ import annotations

import argparse
import json

from taskset_torch.cli._errors import CLIError

__all__ = [
    "add_task_selection",
    "check_out_path",
    "help_with_defaults",
    "load_hparam_list",
    "nonnegative_int",
    "parse_int_set",
    "positive_int",
    "print_json",
    "task_names",
    "write_text_atomic",
]


def print_json(obj: object) -> None:
    """Print ``obj`` as indented JSON on stdout (keys in their order)."""
    print(json.dumps(obj, indent=1, sort_keys=False))


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (>= 1), got {v}")
    return v


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be non-negative (>= 0), got {v}")
    return v


def parse_int_set(text: str) -> list[int]:
    """``"0-9,20,30-31"`` -> [0, ..., 9, 20, 30, 31] (duplicates dropped, order kept)."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if part.startswith("-") and part[1:].strip().isdigit():
            raise argparse.ArgumentTypeError(f"{text!r}: values must be non-negative")
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a list of integers or ranges like 0-9,20,30-31"
            ) from None
    if any(v < 0 for v in out):
        raise argparse.ArgumentTypeError(f"{text!r}: values must be non-negative")
    return list(dict.fromkeys(out))


def help_with_defaults(p: argparse.ArgumentParser, notes: dict[str, str], *more: str) -> None:
    """Append ``(default X)`` and an optional note to the help of the named options."""
    for action in p._actions:
        if action.dest in notes or action.dest in more:
            action.help = f"{action.help} (default %(default)s){notes.get(action.dest, '')}"


def check_out_path(path: str, flag: str) -> str:
    """Fail before any computation if ``path`` cannot be written (missing or read-only directory,
    or a directory itself)."""
    import os

    target = os.path.abspath(os.path.expanduser(path))
    parent = os.path.dirname(target)
    if os.path.isdir(target):
        raise CLIError(f"{flag} {path}: is a directory; give a file name")
    if not os.path.isdir(parent):
        raise CLIError(f"{flag} {path}: directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(f"{flag} {path}: directory {parent} is not writable", code=1)
    return target


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that it holds the old content or the new, never a part."""
    from taskset_torch.curves.io import atomic_write_text

    atomic_write_text(path, text)


def add_task_selection(p: argparse.ArgumentParser) -> None:
    """Positional task names plus --family / --task-seeds (tasks and generate)."""
    p.add_argument("tasks", nargs="*", help="task names, e.g. mlp_family_seed3")
    p.add_argument("--family", action="append", help="a task family (repeatable)")
    p.add_argument(
        "--task-seeds",
        type=parse_int_set,
        default=list(range(5)),
        help="seeds of --family tasks, e.g. 0-99 (default 0-4)",
    )


def task_names(args: argparse.Namespace) -> list[str]:
    """Task names from positional names and --family/--task-seeds: canonical, each once."""
    from taskset_torch.tasks.registry import FAMILIES, canonical_task_name

    names = list(args.tasks or [])
    for fam in args.family or []:
        if fam not in FAMILIES:
            fam_full = fam if fam.endswith("_family") else f"{fam}_family"
            if fam_full not in FAMILIES:
                raise CLIError(f"unknown family {fam!r}; valid: {', '.join(FAMILIES)}")
            fam = fam_full
        names.extend(f"{fam}_seed{s}" for s in args.task_seeds)
    try:
        return list(dict.fromkeys(canonical_task_name(n) for n in names))
    except KeyError as e:
        raise CLIError(str(e.args[0])) from None


def load_hparam_list(name: str):
    """A published list by name or a list JSON file (hparam_lists imported on use)."""
    from hparam_lists.lists import load_list

    return load_list(name)
