"""``generate`` and ``suite``: train tasks x configs x seeds into a curve store; suites from specs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from taskset_torch.cli._common import (
    add_task_selection,
    help_with_defaults,
    load_hparam_list,
    parse_int_set,
    positive_int,
    task_names,
)
from taskset_torch.cli._errors import CLIError

__all__ = ["add_generate_command", "add_suite_commands", "generate_suite"]


def _check_device(device: str) -> str:
    """A device this machine has: cpu, cuda, cuda:N, mps; a usage error naming the valid ones."""
    import re

    import torch

    if device == "cpu":
        return device
    m = re.fullmatch(r"cuda(?::(\d+))?", device)
    if m:
        if not torch.cuda.is_available():
            raise CLIError(f"--device {device} was asked for but torch sees no CUDA device")
        n = torch.cuda.device_count()
        if m.group(1) is not None and int(m.group(1)) >= n:
            raise CLIError(f"--device {device}: this machine has CUDA devices cuda:0..cuda:{n - 1}")
        return device
    if device == "mps":
        if not torch.backends.mps.is_available():
            raise CLIError("--device mps was asked for but torch sees no Apple MPS device")
        return device
    raise CLIError(f"unknown --device {device!r}; valid: cpu, cuda, cuda:N, mps")


def _check_ray_address(args: argparse.Namespace) -> None:
    import re

    if args.ray_address is None:
        return
    if args.backend != "ray":
        raise CLIError("--ray-address needs --backend ray")
    if not re.fullmatch(r"auto|local|(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}", args.ray_address):
        raise CLIError(
            f"--ray-address {args.ray_address!r} is not a Ray address; use auto, "
            "HOST:PORT or ray://HOST:PORT"
        )


def _included_list_configs(specs: list[str], space: str) -> list[int]:
    """Config seeds of the first N entries of each ``LIST:N`` (a published name or a file)."""

    seeds: list[int] = []
    for spec in specs:
        name, sep, count = spec.rpartition(":")
        if not sep or not name or not count.isdigit() or int(count) < 1:
            raise CLIError(f"--include-list takes LIST:N (e.g. opt_list:10), got {spec!r}")
        hlist = load_hparam_list(name)
        if hlist.space != space:
            raise CLIError(
                f"--include-list {name} holds {hlist.space} configs, but --space is {space}"
            )
        n = min(int(count), len(hlist))
        for i, entry in enumerate(hlist.names[:n]):
            prefix = f"{space}_seed"
            if not (entry or "").startswith(prefix) or not entry[len(prefix) :].isdigit():
                raise CLIError(
                    f"--include-list {name}: entry {i} ({entry!r}) is not a {prefix}<N> config, "
                    "so it cannot be trained by seed"
                )
            seeds.append(int(entry[len(prefix) :]))
    return seeds


def _cmd_generate(args: argparse.Namespace) -> None:
    import os
    from dataclasses import replace

    from tqdm import tqdm

    from taskset_torch.curves import CurveStore
    from taskset_torch.optimizers import SPACES
    from taskset_torch.optimizers.zero import ZERO
    from taskset_torch.runner import plan, run_units, zero_units
    from taskset_torch.training import TrainConfig

    if args.space not in SPACES:
        raise CLIError(f"unknown search space {args.space!r}; valid: {', '.join(SPACES)}")
    _check_ray_address(args)
    _check_device(args.device)
    tasks = task_names(args)
    if not tasks:
        raise CLIError("no tasks: give task names, or --family with --task-seeds")
    args.configs = list(args.configs) + _included_list_configs(args.include_list or [], args.space)
    n_evals = args.steps // max(args.eval_every, 1) + 1
    if n_evals < 5:
        print(
            f"warning: --steps {args.steps} with --eval-every {args.eval_every} gives only "
            f"{n_evals} evaluation points per curve; lists learn from curve means, aim for >= 5",
            file=sys.stderr,
        )
    cfg = TrainConfig(
        training_steps=args.steps,
        eval_every=args.eval_every,
        eval_batches=args.eval_batches,
        device=args.device,
        independent=args.independent,
    )
    chunk = args.chunk
    if chunk == "auto":
        chunk = _auto_chunk_fn(args.space, args.device, args.quiet)
    units = plan(tasks, args.space, args.configs, args.seeds, chunk_size=chunk)
    store = CurveStore(os.path.expanduser(args.store))
    total = len(units) * cfg.training_steps
    # The zero optimizer's curve, once per (task, seed): evaluations only, and the same whatever
    # the randomness option (so it is recorded under shared randomness).
    zero = [] if args.no_zero else zero_units(tasks, args.seeds)
    with tqdm(total=total, unit="step", desc="generate", disable=args.quiet) as bar:

        def on_unit(unit, skipped):
            if skipped and unit.space != ZERO:
                bar.update(cfg.training_steps)
            bar.set_postfix_str(f"{unit.task} seed {unit.seed}", refresh=False)

        def on_note(text):
            bar.write(f"taskset-torch generate: {text}", file=sys.stderr)

        done = 0
        for todo, run_cfg in ((zero, replace(cfg, independent=False)), (units, cfg)):
            if todo:
                done += run_units(
                    todo,
                    store,
                    run_cfg,
                    backend=args.backend,
                    ray_address=args.ray_address,
                    num_gpus_per_unit=args.gpus_per_unit,
                    on_step=bar.update,
                    on_unit=on_unit,
                    on_note=on_note,
                    force=args.force,
                )
    if not args.quiet:
        n = len(units) + len(zero)
        print(f"{done} units computed, {n - done} already in {args.store}")


def _parse_chunk(text: str) -> int | str:
    """argparse type of --chunk: 'auto' or an integer >= 1."""
    if text == "auto":
        return text
    try:
        int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither 'auto' nor an integer") from None
    return positive_int(text)


def _auto_chunk_fn(space: str, device: str, quiet: bool):
    """Calibrated configs per program for each task, cached under the user's cache directory."""
    import os

    from taskset_torch.chunking import calibrate
    from taskset_torch.tasks.registry import build_task

    cache = os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "taskset_torch"
    )

    def chunk_for(task: str) -> int:
        cal = calibrate(build_task(task), space, device=device, cache_dir=cache)
        if not quiet:
            rates = ", ".join(f"K={k}: {r:.1f}" for k, r in sorted(cal.rates.items()))
            print(f"chunk {cal.chunk} for {task} (config-steps/s {rates})", file=sys.stderr)
        return cal.chunk

    return chunk_for


def add_generate_command(sub: argparse._SubParsersAction) -> None:
    """Add ``generate``."""
    p = sub.add_parser("generate", help="train tasks x configs x seeds into a curve store")
    add_task_selection(p)
    p.add_argument("--space", default="adam8p_wide_grid", help="optimizer search space")
    p.add_argument(
        "--configs",
        type=parse_int_set,
        default=list(range(10)),
        help="config seeds of the space, e.g. 0-999 (default 0-9)",
    )
    p.add_argument(
        "--include-list",
        action="append",
        metavar="LIST:N",
        help="also train the first N entries of a list (e.g. opt_list:10), so that compare can "
        "evaluate it on these curves (repeatable)",
    )
    p.add_argument("--seeds", type=parse_int_set, default=[0], help="replica seeds (default 0)")
    p.add_argument("--store", default="./store", help="curve store directory (default ./store)")
    p.add_argument(
        "--steps", type=positive_int, default=10000, help="training steps (default 10000)"
    )
    p.add_argument("--eval-every", type=positive_int, default=200, help="steps between evaluations")
    p.add_argument(
        "--eval-batches", type=positive_int, default=50, help="batches per evaluation point"
    )
    p.add_argument(
        "--chunk",
        type=_parse_chunk,
        default="auto",
        help="configs trained together: an integer, or 'auto' (default) for the fastest per "
        "config on this device, from a short calibration cached per task and device",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--backend", choices=["local", "ray"], default="local")
    p.add_argument("--ray-address", default=None, help="Ray cluster address (default: local)")
    p.add_argument("--gpus-per-unit", type=float, default=0.0, help="GPUs per unit on Ray")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--force",
        action="store_true",
        help="if the store holds a (task, space) made under other settings or data, set those "
        "curves aside (in <task>/<space>/.set_aside/) and start it over",
    )
    p.add_argument(
        "--independent",
        action="store_true",
        help="every config draws its own init and batches from (seed, config) as in TaskSet "
        "(default: the configs of a seed share them; one program, faster)",
    )
    p.add_argument(
        "--no-zero",
        action="store_true",
        help="do not record the zero optimizer's curve (the normalization reference; by default "
        "recorded once per task and seed, evaluations only)",
    )
    p.set_defaults(func=_cmd_generate)
    help_with_defaults(p, {"eval_every": "; keep --steps / --eval-every >= 5"}, "eval_batches")


def generate_suite(spec: Any, store: str | os.PathLike, *, extra_args: Sequence[str] = ()) -> int:
    """Train every (space, task) of a :class:`~taskset_torch.suite.SuiteSpec` into ``store``
    through ``taskset-torch generate`` (resumable: units already in the store are kept).

    Returns the first non-zero exit status, else 0.
    """
    from taskset_torch.cli import main
    from taskset_torch.suite import generate_commands

    for argv in generate_commands(spec, store, extra_args):
        rc = main(argv)
        if rc:
            return rc
    return 0


def _cmd_suite_generate(args: argparse.Namespace) -> int:
    from taskset_torch.suite import read_spec

    spec = read_spec(args.spec)  # a bad spec is a ValueError: main() says so (exit 2)
    extra = ["--device", args.device, "--backend", args.backend]
    if args.ray_address:
        extra += ["--ray-address", args.ray_address]
    if args.quiet:
        extra.append("--quiet")
    return generate_suite(spec, args.store, extra_args=extra)


def _cmd_suite_pack(args: argparse.Namespace) -> int:
    from taskset_torch.suite import pack_suite, read_spec

    spec = read_spec(args.spec)
    path = pack_suite(
        spec, args.store, args.out or f"{spec.name}.npz", allow_missing=args.allow_missing
    )
    print(f"wrote {path} ({path.stat().st_size / 2**20:.2f} MiB)")
    return 0


def add_suite_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``suite generate`` and ``suite pack``."""
    p = sub.add_parser(
        "suite",
        help="generate a curve suite from its JSON spec, and pack it into one compact file",
        description="A suite spec (JSON: name, tasks, spaces with config seeds, seeds, protocol) "
        "names curves to generate; `pack` ships them as float16 in one .npz that "
        "`load_suite(name)` and `learn/evaluate --suite NAME` read like a store.",
    )
    ssub = p.add_subparsers(dest="suite_command", required=True)
    q = ssub.add_parser("generate", help="train the suite into a store (resumable)")
    q.add_argument("spec", help="suite spec JSON, e.g. experiments/suites/taskset-torch-v1.json")
    q.add_argument("--store", required=True, help="curve store directory")
    q.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    q.add_argument("--backend", choices=["local", "ray"], default="local")
    q.add_argument("--ray-address", default=None, help="Ray cluster address")
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.set_defaults(func=_cmd_suite_generate)
    q = ssub.add_parser("pack", help="pack the suite's curves from a store into one .npz")
    q.add_argument("spec", help="suite spec JSON")
    q.add_argument("--store", required=True, help="curve store directory")
    q.add_argument("--out", default=None, help="output file (default <name>.npz)")
    q.add_argument(
        "--allow-missing", action="store_true", help="pack what exists; missing runs are NaN"
    )
    q.set_defaults(func=_cmd_suite_pack)
