"""``export``, ``curves`` and ``plot``: lists as tuner warm starts, curves as a table, figures."""

from __future__ import annotations

import argparse
import json

from taskset_torch.cli._common import (
    check_out_path,
    load_hparam_list,
    parse_int_set,
    positive_int,
    print_json,
    write_text_atomic,
)
from taskset_torch.cli._errors import CLIError
from taskset_torch.cli.lists import add_curves_input, list_curves

__all__ = ["add_export_commands"]


def _cmd_export(args: argparse.Namespace) -> None:
    from hparam_lists import export

    if args.out:
        args.out = check_out_path(args.out, "--out")  # before the work, not after it
    hlist = load_hparam_list(args.hparam_list)
    out = export.export_document(hlist, args.n, args.format)
    if args.out:
        write_text_atomic(args.out, json.dumps(out, indent=1) + "\n")
    else:
        print_json(out)


def _cmd_curves(args: argparse.Namespace) -> None:
    from taskset_torch.curves import load_curves_dataframe, write_curves_table
    from taskset_torch.optimizers import optimizer_config

    tasks = [t for t in args.tasks.split(",") if t] if args.tasks else None
    try:
        df = load_curves_dataframe(args.store, args.space, tasks, config_lookup=optimizer_config)
        path = write_curves_table(df, args.out)
    except (OSError, ValueError, KeyError) as e:
        raise CLIError(str(e.args[0]) if isinstance(e, KeyError) else str(e)) from None
    print(
        f"{len(df)} rows ({df['task'].nunique()} tasks, {df['config'].nunique()} configs) -> {path}"
    )


def _cmd_plot(args: argparse.Namespace) -> None:
    from hparam_lists import plots

    curves = list_curves(args)
    try:
        if args.what == "curves":
            if not args.task:
                raise CLIError(
                    f"plot curves needs --task (one of {', '.join(curves.tasks[:5])}, ...)"
                )
            entries: list[str] = []
            if args.hparam_list:
                hlist = load_hparam_list(args.hparam_list)
                entries = [n for n in hlist.names[: args.n] if n is not None]
            fig = plots.task_curves_figure(
                curves,
                args.task,
                split=args.report_split,
                list_entries=entries,
                list_name=args.hparam_list or "list",
            )
        else:
            from hparam_lists.crossval import evaluate_hparam_list

            if not args.hparam_list:
                raise CLIError("plot list needs --list (a list name or JSON file)")
            evaluation, _ = evaluate_hparam_list(
                curves,
                load_hparam_list(args.hparam_list),
                report_split=args.report_split,
                score=args.score,
                replicas=args.replicas,
                ks=args.ks,
                n_boot=args.n_boot,
                seed=args.seed,
            )
            fig = plots.list_vs_random_figure(evaluation, title=args.hparam_list)
        fig.savefig(args.out, dpi=120)
    except (KeyError, ValueError, ImportError) as e:
        raise CLIError(str(e.args[0]) if isinstance(e, KeyError) else str(e)) from None
    print(f"wrote {args.out}")


def add_export_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``export``, ``curves`` and ``plot``."""
    p = sub.add_parser("export", help="a list's first entries as Optuna / Ray Tune warm starts")
    p.add_argument("--list", dest="hparam_list", default="opt_list", help="list name or file")
    p.add_argument("--n", type=positive_int, default=10, help="number of entries (default 10)")
    p.add_argument("--format", choices=["optuna", "ray"], required=True)
    p.add_argument("--out", help="write the JSON here instead of printing it")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "curves",
        help="export a store's curves as a tidy table (.parquet or .csv)",
        description="Columns: task, config, one per hyperparameter, seed, step, split, loss. "
        "In Python: taskset_torch.curves.load_curves_dataframe(store, space, tasks).",
    )
    p.add_argument("--store", required=True, metavar="DIR", help="a taskset-torch curve store")
    p.add_argument("--space", required=True, help="search space, e.g. nadamw_grid")
    p.add_argument("--tasks", help="comma-separated task names (default: all)")
    p.add_argument("--out", required=True, help="output file, .parquet or .csv")
    p.set_defaults(func=_cmd_curves)

    p = sub.add_parser(
        "plot",
        help="draw a task's curves (plot curves) or a list vs random search (plot list)",
    )
    p.add_argument("what", choices=["curves", "list"])
    add_curves_input(p)
    p.add_argument("--task", help="plot curves: the task to draw")
    p.add_argument("--list", dest="hparam_list", help="a list name (opt_list) or JSON file")
    p.add_argument("--n", type=int, default=3, help="plot curves: list entries to draw (default 3)")
    p.add_argument(
        "--report-split", default="valid_outer", help="split to plot (default valid_outer)"
    )
    p.add_argument("--ks", type=parse_int_set, default=None, help="plot list: k values")
    p.add_argument("--n-boot", type=int, default=1000, help="plot list: bootstrap samples")
    p.add_argument("--seed", type=int, default=0, help="plot list: bootstrap seed")
    p.add_argument("--out", required=True, help="image file (.png, .pdf, .svg)")
    p.set_defaults(func=_cmd_plot)
