"""``transfer``: lists against Adam learning-rate sweeps, random search and TPE on a reference problem."""

from __future__ import annotations

import argparse
import json

from taskset_torch.cli._errors import CLIError

__all__ = ["add_transfer_command"]


def _cmd_transfer(args: argparse.Namespace) -> None:
    import os
    import time
    from pathlib import Path

    import torch

    from hparam_lists.transfer import (
        METHOD_NAMES,
        evaluate_transfer,
        make_method,
        save_transfer,
        summarize_transfer,
        summary_markdown,
    )
    from hparam_lists.transfer_problems import make_problem

    if args.threads:
        torch.set_num_threads(args.threads)
    data_dir = args.data_dir
    if data_dir is None and Path("../shared/data").is_dir():
        data_dir = "../shared/data"
    try:
        problem = make_problem(args.problem, args.scale, data_dir=data_dir, device=args.device)
        names = [x for x in args.lists.split(",") if x] + [m for m in args.methods.split(",") if m]
        unknown = [m for m in args.methods.split(",") if m and m not in METHOD_NAMES]
        if unknown:
            raise ValueError(f"unknown methods {unknown}; valid: {', '.join(METHOD_NAMES)}")
        methods = [make_method(n, args.space) for n in names]
    except (ValueError, KeyError, FileNotFoundError) as e:
        raise CLIError(str(e)) from None
    out = Path(args.out or f"runs/transfer/{args.problem}_{args.scale}")
    start = time.time()
    source = problem.data_source
    df = evaluate_transfer(
        problem,
        methods,
        k=args.k,
        seeds=args.seeds,
        budget=args.budget,
        backend=args.backend,
        cache_dir=out / "cache",
        problem=json.dumps(
            {"problem": args.problem, "scale": args.scale, **problem.config, "data": source}
        ),
        order=args.order,
        progress=not args.quiet,
        ray_address=args.ray_address,
    )
    info = {
        **problem.describe(),
        "data": source,
        "methods": [m.name for m in methods],
        "k": args.k,
        "seeds": args.seeds,
        "trials_done": int(len(df)),
        "trials_planned": len(methods) * args.k * args.seeds,
        "budget_s": args.budget,
        "order": args.order,
        "wall_s": round(time.time() - start, 1),
        "torch_threads": torch.get_num_threads(),
        "host_cpus": os.cpu_count(),
    }
    save_transfer(df, out, info=info, ks=sorted({1, 3, args.k} & set(range(1, args.k + 1))))
    print(f"{args.problem} ({args.scale}), data: {source}")
    print(f"{len(df)} of {info['trials_planned']} trials; results in {out}")
    print(summary_markdown(summarize_transfer(df, sorted({1, 3, args.k}))), end="")


def add_transfer_command(sub: argparse._SubParsersAction) -> None:
    """Add ``transfer``."""
    p = sub.add_parser(
        "transfer",
        help="compare lists with Adam LR sweeps, random search and TPE on a reference problem",
    )
    p.add_argument("--problem", required=True, choices=["resnet_cifar10", "transformer_lm"])
    p.add_argument("--lists", default="opt_list", help="comma-separated list names or JSON files")
    p.add_argument(
        "--methods",
        default="adam_lr_practitioner,adam_lr_random,random,tpe",
        help="comma-separated baselines (adam_lr_practitioner, adam_lr_random, random, tpe)",
    )
    p.add_argument("--space", default="nadamw_grid", help="space of random search and TPE")
    p.add_argument("--k", type=int, default=10, help="trials per method and seed (default 10)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per method (default 3)")
    p.add_argument("--scale", choices=["ci", "cpu", "gpu"], default="cpu")
    p.add_argument("--out", help="output folder (default runs/transfer/<problem>_<scale>)")
    p.add_argument("--budget", type=float, default=None, help="seconds; no new trial after it")
    p.add_argument(
        "--order",
        choices=["trial", "seed"],
        default="trial",
        help="trial: trial t of every method and seed before t+1; seed: one seed at a time",
    )
    p.add_argument("--backend", choices=["local", "ray"], default="local")
    p.add_argument("--ray-address", default=None, help="Ray cluster address (default: local)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    p.add_argument("--data-dir", default=None, help="real data archives (default ../shared/data)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_transfer)
