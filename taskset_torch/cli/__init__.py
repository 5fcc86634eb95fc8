"""The ``taskset-torch`` command: the one place that parses arguments, reads the environment and
prints. One module per topic (tasks, generate, data, lists, export, transfer); ``_errors`` turns
the project's errors into messages and exit statuses."""

from __future__ import annotations

import os
import signal
import sys


def _exit_130(signum: int, frame: object) -> None:
    os._exit(130)


if os.path.basename(sys.argv[0]) == "taskset-torch":
    # Run as the command: Ctrl-C before main() is reached (while importing) exits quietly with
    # 130 instead of a KeyboardInterrupt traceback; main() restores the usual handler.
    # (``python -m taskset_torch.cli`` installs it in __main__.py.) The command modules below
    # import only the standard library at the top, so this is reached at once.
    signal.signal(signal.SIGINT, _exit_130)

import argparse  # noqa: E402
from collections.abc import Sequence  # noqa: E402

from taskset_torch.cli._errors import translate  # noqa: E402
from taskset_torch.cli.data import add_data_commands, add_download_command, apply_data_env  # noqa: E402
from taskset_torch.cli.export import add_export_commands  # noqa: E402
from taskset_torch.cli.generate import add_generate_command, add_suite_commands  # noqa: E402
from taskset_torch.cli.lists import add_list_commands  # noqa: E402
from taskset_torch.cli.tasks import add_task_commands  # noqa: E402
from taskset_torch.cli.transfer import add_transfer_command  # noqa: E402

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The ``taskset-torch`` argument parser with every command."""
    parser = argparse.ArgumentParser(
        prog="taskset-torch",
        description="TaskSet in PyTorch: tasks, training curves and learned hyperparameter lists.",
    )
    from taskset_torch import __version__

    parser.add_argument("--version", action="version", version=f"taskset-torch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    add_task_commands(sub)  # config, tasks
    add_generate_command(sub)
    add_list_commands(sub)  # learn, evaluate, compare
    add_export_commands(sub)  # export, curves, plot
    add_data_commands(sub)
    add_transfer_command(sub)
    add_download_command(sub)
    add_suite_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``taskset-torch`` command; returns the exit status (0 ok, 1 failure, 2 usage
    error, 130 Ctrl-C, 141 output pipe closed). TASKSET_TORCH_TRACEBACK=1 shows tracebacks
    instead of messages.

    Example::

        main(["tasks", "--family", "quadratic", "--task-seeds", "0-2"])
    """
    import warnings

    if signal.getsignal(signal.SIGINT) is _exit_130:
        # torch's import runs C++ code, where a KeyboardInterrupt aborts the process (pybind11
        # terminate, exit -6), so it is imported while Ctrl-C still means a quiet exit 130.
        try:
            import torch  # noqa: F401
        except ImportError:
            pass
        try:  # Ctrl-C from here on raises KeyboardInterrupt, handled below (exit 130)
            signal.signal(signal.SIGINT, signal.default_int_handler)
        except ValueError:  # not the main thread: leave signals alone
            pass
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), "")
    prefix = f"taskset-torch {command}".rstrip()
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # argparse: usage errors (2), --help (0)
            return e.code if isinstance(e.code, int) else 2
        prefix = f"taskset-torch {args.command}"
        with warnings.catch_warnings():
            # Library warnings (tasks left out, near-duplicate curves): one plain line each.
            warnings.simplefilter("default")
            warnings.showwarning = lambda message, *a, **k: print(
                f"{prefix}: warning: {message}", file=sys.stderr
            )
            apply_data_env()  # every command that loads data sees the environment's settings
            rc = args.func(args)
    except KeyboardInterrupt:
        print("interrupted; finished work is kept and a rerun resumes", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `taskset-torch config NAME | head`: the reader went away
        try:  # keep the interpreter's final flush from failing again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 141
    except Exception as e:
        found = translate(e)
        if found is None or os.environ.get("TASKSET_TORCH_TRACEBACK", "") not in ("", "0"):
            raise
        code, text = found
        print(f"{prefix}: error: {text}", file=sys.stderr)
        return code
    return rc if isinstance(rc, int) else 0
