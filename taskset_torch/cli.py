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


def parse_int_set(text: str) -> list[int]:
    """``"0-9,20,30-31"`` -> [0, ..., 9, 20, 30, 31]."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
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
    return out


def _task_names(args: argparse.Namespace) -> list[str]:
    from taskset_torch.tasks.registry import FAMILIES, parse_seed_name

    names = list(args.tasks or [])
    for fam in args.family or []:
        if fam not in FAMILIES:
            fam_full = fam if fam.endswith("_family") else f"{fam}_family"
            if fam_full not in FAMILIES:
                raise CLIError(f"unknown family {fam!r}; valid: {', '.join(FAMILIES)}")
            fam = fam_full
        names.extend(f"{fam}_seed{s}" for s in args.task_seeds)
    for n in names:
        try:
            fam, _ = parse_seed_name(n)
        except KeyError:
            fam = None
        if fam not in FAMILIES:
            from taskset_torch.names import resolve_config

            try:
                resolve_config(n)
            except KeyError as e:
                raise CLIError(str(e.args[0])) from None
    return names


def _cmd_tasks(args: argparse.Namespace) -> None:
    import time

    import torch

    from taskset_torch.tasks.registry import build_task, family_names

    if not args.family and not args.tasks:
        args.family = family_names()
    rows = []
    for name in _task_names(args):
        task = build_task(name)
        row = {
            "task": name,
            "family": name.rsplit("_seed", 1)[0],
            "num_params": task.num_params(),
            "data": ", ".join(f"{s.dataset} ({s.kind})" for s in task.data_sources),
        }
        if args.time:
            from taskset_torch.training import FlatParams

            g = torch.Generator().manual_seed(0)
            fp = FlatParams(task.init(1, g))
            for i in range(args.time + 1):
                if i == 1:
                    t0 = time.perf_counter()
                leaf = fp.flat.detach().requires_grad_(True)
                loss = task.loss(fp.views(leaf), task.batch("train", g)).sum()
                torch.autograd.grad(loss, leaf)
            row["sec_per_step"] = (time.perf_counter() - t0) / args.time
        rows.append(row)
    if args.json:
        _print_json(rows)
        return
    cols = ["task", "family", "num_params", "data"] + (["sec_per_step"] if args.time else [])
    widths = {c: max(len(c), *(len(_fmt(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(_fmt(r[c]).ljust(widths[c]) for c in cols))


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _cmd_generate(args: argparse.Namespace) -> None:
    import os

    from tqdm import tqdm

    from taskset_torch.optimizers import SPACES
    from taskset_torch.runner import plan, run_units
    from taskset_torch.store import CurveStore
    from taskset_torch.training import TrainConfig

    if args.space not in SPACES:
        raise CLIError(f"unknown search space {args.space!r}; valid: {', '.join(SPACES)}")
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise CLIError("--device cuda was asked for but torch sees no CUDA device")
    tasks = _task_names(args)
    if not tasks:
        raise CLIError("no tasks: give task names, or --family with --task-seeds")
    cfg = TrainConfig(
        training_steps=args.steps,
        eval_every=args.eval_every,
        eval_batches=args.eval_batches,
        device=args.device,
    )
    units = plan(tasks, args.space, args.configs, args.seeds, chunk_size=args.chunk)
    store = CurveStore(os.path.expanduser(args.store))
    total = len(units) * cfg.training_steps
    with tqdm(total=total, unit="step", desc="generate", disable=args.quiet) as bar:

        def on_unit(unit, skipped):
            if skipped:
                bar.update(cfg.training_steps)
            bar.set_postfix_str(f"{unit.task} seed {unit.seed}", refresh=False)

        done = run_units(
            units,
            store,
            cfg,
            backend=args.backend,
            ray_address=args.ray_address,
            num_gpus_per_unit=args.gpus_per_unit,
            on_step=bar.update,
            on_unit=on_unit,
        )
    if not args.quiet:
        print(f"{done} units computed, {len(units) - done} already in {args.store}")


def _add_task_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="print TaskSet's JSON config of a task or optimizer name")
    p.add_argument("name", help="e.g. mlp_family_seed12 or adam8p_wide_grid_seed3")
    p.set_defaults(func=_cmd_config)

    def task_selection(p: argparse.ArgumentParser) -> None:
        p.add_argument("tasks", nargs="*", help="task names, e.g. mlp_family_seed3")
        p.add_argument("--family", action="append", help="a task family (repeatable)")
        p.add_argument(
            "--task-seeds",
            type=parse_int_set,
            default=list(range(5)),
            help="seeds of --family tasks, e.g. 0-99 (default 0-4)",
        )

    p = sub.add_parser("tasks", help="list tasks with family, parameter count and dataset")
    task_selection(p)
    p.add_argument(
        "--time",
        type=int,
        nargs="?",
        const=5,
        default=0,
        metavar="STEPS",
        help="also measure seconds per training step (one config) over STEPS steps",
    )
    p.add_argument("--json", action="store_true", help="print JSON rows")
    p.set_defaults(func=_cmd_tasks)

    p = sub.add_parser("generate", help="train tasks x configs x seeds into a curve store")
    task_selection(p)
    p.add_argument("--space", default="adam8p_wide_grid", help="optimizer search space")
    p.add_argument(
        "--configs",
        type=parse_int_set,
        default=list(range(10)),
        help="config seeds of the space, e.g. 0-999 (default 0-9)",
    )
    p.add_argument("--seeds", type=parse_int_set, default=[0], help="replica seeds (default 0)")
    p.add_argument("--store", default="./store", help="curve store directory (default ./store)")
    p.add_argument("--steps", type=int, default=10000, help="training steps (default 10000)")
    p.add_argument("--eval-every", type=int, default=200, help="steps between evaluations")
    p.add_argument("--eval-batches", type=int, default=50, help="batches per evaluation point")
    p.add_argument("--chunk", type=int, default=100, help="configs trained together (default 100)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--backend", choices=["local", "ray"], default="local")
    p.add_argument("--ray-address", default=None, help="Ray cluster address (default: local)")
    p.add_argument("--gpus-per-unit", type=float, default=0.0, help="GPUs per unit on Ray")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_generate)


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
