"""``config`` and ``tasks``: TaskSet names resolved to configs, tasks listed with size and cost."""

from __future__ import annotations

import argparse

from taskset_torch.cli._common import add_task_selection, positive_int, print_json, task_names
from taskset_torch.cli._errors import CLIError

__all__ = ["add_task_commands"]


def _cmd_config(args: argparse.Namespace) -> None:
    from taskset_torch.names import resolve_config

    try:
        print_json(resolve_config(args.name))
    except KeyError as e:
        raise CLIError(str(e.args[0])) from None


def _cmd_tasks(args: argparse.Namespace) -> None:
    from taskset_torch.task_summary import describe_task
    from taskset_torch.tasks.fixed import fixed_task_names, is_fixed_task
    from taskset_torch.tasks.registry import family_names

    kind = getattr(args, "kind", None)
    everything = not args.family and not args.tasks
    if everything:
        args.family = family_names() if kind != "fixed" else []
    names = task_names(args)
    if everything and kind != "sampled":
        names += fixed_task_names()
    if kind is not None:
        names = [n for n in names if is_fixed_task(n) == (kind == "fixed")]
    rows = [describe_task(name, time_steps=args.time) for name in names]
    if args.json:
        print_json(rows)
        return
    cols = ["task", "kind", "family", "num_params", "est_gflop_per_step", "data"]
    cols += ["sec_per_step"] if args.time else []
    widths = {c: max(len(c), *(len(_fmt(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(_fmt(r[c]).ljust(widths[c]) for c in cols))


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def add_task_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``config`` and ``tasks``."""
    p = sub.add_parser("config", help="print TaskSet's JSON config of a task or optimizer name")
    p.add_argument("name", help="e.g. mlp_family_seed12 or adam8p_wide_grid_seed3")
    p.set_defaults(func=_cmd_config)

    p = sub.add_parser(
        "tasks",
        help="list tasks with family, parameter count, cost and dataset",
        description="est_gflop_per_step is 6 x parameters x examples per batch: exact for dense "
        "layers, an underestimate for convolutions (weights reused across positions). --time "
        "measures seconds per training step of one config on this machine. Without task names "
        "or --family: every family's --task-seeds and every fixed (hand-designed) task.",
    )
    add_task_selection(p)
    p.add_argument(
        "--kind",
        choices=["fixed", "sampled"],
        default=None,
        help="only TaskSet's hand-designed (fixed) or only sampled-family tasks",
    )
    p.add_argument(
        "--time",
        type=positive_int,
        nargs="?",
        const=5,
        default=0,
        metavar="STEPS",
        help="also measure seconds per training step (one config) over STEPS steps",
    )
    p.add_argument("--json", action="store_true", help="print JSON rows")
    p.set_defaults(func=_cmd_tasks)
