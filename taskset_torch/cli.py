"""The ``taskset-torch`` command: the one place that parses arguments, reads the environment and prints."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]


def _print_json(obj: object) -> None:
    print(json.dumps(obj, indent=1, sort_keys=False))


class CLIError(Exception):
    """An error whose message is shown to the user as is (exit status 2)."""


# ---------------------------------------------------------------------------------------------
# Tasks, configs, curve generation
# ---------------------------------------------------------------------------------------------


def _cmd_config(args: argparse.Namespace) -> None:
    from taskset_torch.names import resolve_config

    try:
        _print_json(resolve_config(args.name))
    except KeyError as e:
        raise CLIError(str(e.args[0])) from None


def _add_task_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="print TaskSet's JSON config of a task or optimizer name")
    p.add_argument("name", help="e.g. mlp_family_seed12 or adam8p_wide_grid_seed3")
    p.set_defaults(func=_cmd_config)


# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskset-torch",
        description="TaskSet in PyTorch: tasks, training curves and learned hyperparameter lists.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_task_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except CLIError as e:
        print(f"taskset-torch {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished work is kept and a rerun resumes", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
