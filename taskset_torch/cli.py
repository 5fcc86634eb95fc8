"""The ``taskset-torch`` command: the one place that parses arguments, reads the environment and prints."""

from __future__ import annotations

import os
import signal
import sys


def _exit_130(signum: int, frame: object) -> None:
    os._exit(130)


if __name__ == "__main__" or os.path.basename(sys.argv[0]) == "taskset-torch":
    # Run as the command: Ctrl-C before main() is reached (while importing) exits quietly with
    # 130 instead of a KeyboardInterrupt traceback; main() restores the usual handler.
    signal.signal(signal.SIGINT, _exit_130)

import argparse  # noqa: E402
import json  # noqa: E402
from collections.abc import Sequence  # noqa: E402

__all__ = ["main", "build_parser"]


def _print_json(obj: object) -> None:
    print(json.dumps(obj, indent=1, sort_keys=False))


class CLIError(Exception):
    """An error whose message is shown to the user as is; ``code`` 2 for a usage error (the
    default), 1 for a failure."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


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


def _check_out_path(path: str, flag: str) -> str:
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


def _write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that it holds the old content or the new, never a part."""
    import os
    import uuid

    folder, name = os.path.split(path)
    tmp = os.path.join(folder or ".", f".{name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "x") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


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


def _task_names(args: argparse.Namespace) -> list[str]:
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


def _cmd_tasks(args: argparse.Namespace) -> None:
    from taskset_torch.cost import estimated_flops_per_step, step_seconds
    from taskset_torch.tasks.fixed import (
        build_fixed_task,
        fixed_task_kind,
        fixed_task_names,
        fixed_task_spec,
        is_fixed_task,
    )
    from taskset_torch.tasks.registry import family_names, get_family, parse_seed_name

    kind = getattr(args, "kind", None)
    everything = not args.family and not args.tasks
    if everything:
        args.family = family_names() if kind != "fixed" else []
    names = _task_names(args)
    if everything and kind != "sampled":
        names += fixed_task_names()
    if kind is not None:
        names = [n for n in names if is_fixed_task(n) == (kind == "fixed")]
    rows = []
    for name in names:
        if is_fixed_task(name):
            # TaskSet's hand-designed tasks: "family" is the TaskSet module they come from.
            family, config = fixed_task_kind(name), fixed_task_spec(name)
            task = build_fixed_task(name)
        else:
            family, seed = parse_seed_name(name)
            fam = get_family(family)
            config = fam.sample(seed)
            task = fam.build(config, name=name)
        row = {
            "task": name,
            "kind": "fixed" if is_fixed_task(name) else "sampled",
            "family": family,
            "num_params": task.num_params(),
            "est_gflop_per_step": estimated_flops_per_step(task, config) / 1e9,
            "data": ", ".join(f"{s.dataset} ({s.kind})" for s in task.data_sources),
        }
        if args.time:
            row["sec_per_step"] = step_seconds(task, steps=args.time)
        rows.append(row)
    if args.json:
        _print_json(rows)
        return
    cols = ["task", "kind", "family", "num_params", "est_gflop_per_step", "data"]
    cols += ["sec_per_step"] if args.time else []
    widths = {c: max(len(c), *(len(_fmt(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(_fmt(r[c]).ljust(widths[c]) for c in cols))


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


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
    tasks = _task_names(args)
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

    p = sub.add_parser(
        "tasks",
        help="list tasks with family, parameter count, cost and dataset",
        description="est_gflop_per_step is 6 x parameters x examples per batch: exact for dense "
        "layers, an underestimate for convolutions (weights reused across positions). --time "
        "measures seconds per training step of one config on this machine. Without task names "
        "or --family: every family's --task-seeds and every fixed (hand-designed) task.",
    )
    task_selection(p)
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

    p = sub.add_parser("generate", help="train tasks x configs x seeds into a curve store")
    task_selection(p)
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
    _help_with_defaults(p, {"eval_every": "; keep --steps / --eval-every >= 5"}, "eval_batches")


# ---------------------------------------------------------------------------------------------


# --- data commands ---


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def _no_substitutes() -> bool:
    """TASKSET_TORCH_NO_SUBSTITUTES as a switch: 1/true/yes/on, or 0/false/no/off/unset."""
    import os

    raw = os.environ.get("TASKSET_TORCH_NO_SUBSTITUTES", "")
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CLIError(
        f"TASKSET_TORCH_NO_SUBSTITUTES={raw!r} is not a switch; use 1/true/yes/on to refuse "
        "substitute data, 0/false/no/off (or unset) to allow it"
    )


def _apply_data_env() -> None:
    """Pass TASKSET_TORCH_DATA, TASKSET_TORCH_SEARCH_PATH and TASKSET_TORCH_NO_SUBSTITUTES to the
    dataset library."""
    import os

    data_dir = os.environ.get("TASKSET_TORCH_DATA")
    search = os.environ.get("TASKSET_TORCH_SEARCH_PATH")
    no_subs = _no_substitutes()
    if not data_dir and search is None and "TASKSET_TORCH_NO_SUBSTITUTES" not in os.environ:
        return
    from taskset_torch import datasets

    if search is not None:  # os.pathsep-separated directories; empty: no archive search
        datasets.set_search_path([p for p in search.split(os.pathsep) if p])
    if data_dir:
        datasets.set_data_dir(data_dir)
    if "TASKSET_TORCH_NO_SUBSTITUTES" in os.environ:  # 0/off says "allow" just as 1/on refuses
        datasets.set_allow_substitutes(not no_subs)


def _cmd_data_status(args: argparse.Namespace) -> None:
    from taskset_torch.datasets import dataset_status, get_data_dir, get_search_path

    status = dataset_status()
    search = [str(p) for p in get_search_path()]
    if args.json:
        _print_json(
            {
                "data_dir": str(get_data_dir()),
                "search_path": search,
                **{k: {**v.to_json(), "category": v.category} for k, v in status.items()},
            }
        )
        return
    print(f"data dir: {get_data_dir()}")
    print(f"archive search path: {os.pathsep.join(search) or '(none)'}")
    width = max(len(k) for k in status)
    for name, src in status.items():
        detail = (
            src.detail
            if src.kind != "local" or "local copy" in src.detail
            else (f"local copy {src.detail}")
        )
        print(f"{name:<{width}}  {src.category:<10}  {detail}")
    counts = {c: sum(s.category == c for s in status.values()) for c in ("real", "stand-in")}
    n_sub = len(status) - counts["real"] - counts["stand-in"]
    print(
        f"{counts['real']} of {len(status)} datasets real; {counts['stand-in']} stand-in "
        f"(real data of another kind); {n_sub} substituted"
    )


def _cmd_data_prepare(args: argparse.Namespace) -> None:
    from taskset_torch.datasets import dataset_names, prepare_dataset

    names = dataset_names() if args.names == ["all"] else args.names
    failed = []
    for name in names:
        try:
            src = prepare_dataset(name)
        except KeyError as e:
            raise CLIError(str(e.args[0])) from None
        except Exception as e:  # noqa: BLE001 - report every failure, keep preparing the rest
            failed.append(name)
            print(f"{name}: FAILED: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        print(f"{name}: prepared ({src.kind}: {src.detail})")
    if failed:
        raise CLIError(f"could not prepare {', '.join(failed)}")


def _cmd_data_add_local(args: argparse.Namespace) -> None:
    from taskset_torch.datasets import add_local_dataset

    # "imdb_reviews" names both encodings the IMDB archive serves.
    names = (
        ["imdb_reviews/bytes", "imdb_reviews/subwords8k"]
        if args.name == "imdb_reviews"
        else [args.name]
    )
    for name in names:
        try:
            src = add_local_dataset(name, args.path)
        except KeyError as e:
            raise CLIError(str(e.args[0])) from None
        except (OSError, ValueError) as e:
            raise CLIError(str(e)) from None
        except EOFError as e:  # numpy on an empty or cut-off file
            raise CLIError(f"{args.path}: empty or truncated file ({e})") from None
        print(f"{name}: stored local copy ({src.category}) from {src.detail}")


def _add_data_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data",
        help="dataset sources: status, prepare (TFDS download), add-local",
        description="Data dir: $TASKSET_TORCH_DATA (default ~/.cache/taskset_torch). "
        "Real archives (IMDB, CIFAR-10 JPEGs, State of the Union prose) are found in place on "
        "the archive search path: $TASKSET_TORCH_SEARCH_PATH (directories; default: shared/data "
        "beside the repository when it exists). "
        "TASKSET_TORCH_NO_SUBSTITUTES=1 makes any substituted or stand-in dataset an error.",
    )
    dsub = p.add_subparsers(dest="data_command", required=True)
    q = dsub.add_parser("status", help="which source serves each dataset TaskSet uses")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=_cmd_data_status)
    q = dsub.add_parser("prepare", help="download through TFDS and store plain arrays")
    q.add_argument("names", nargs="+", metavar="NAME", help="dataset names, or 'all'")
    q.set_defaults(func=_cmd_data_prepare)
    q = dsub.add_parser(
        "add-local",
        help="store a real local copy (IDX files, .npz, text, or the IMDB / CIFAR-10 / State of "
        "the Union archives as they are)",
    )
    q.add_argument(
        "name",
        metavar="NAME",
        help="dataset name, e.g. mnist, cifar10, imdb_reviews (both encodings)",
    )
    q.add_argument("path", metavar="PATH", help="directory or file holding the data")
    q.set_defaults(func=_cmd_data_add_local)


# --- end of data commands ---


# --- hparam_lists commands ---


def _list_curves(args: argparse.Namespace):
    """Curves from --store/--space, --suite/--space, --taskset-json or --npz (exactly one)."""
    from hparam_lists import importers

    tasks = [t for t in args.tasks.split(",") if t] if args.tasks else None
    if tasks:
        from taskset_torch.tasks.registry import canonical_task_name

        tasks = list(dict.fromkeys(canonical_task_name(t, check=False) for t in tasks))
    if getattr(args, "suite", None):
        from taskset_torch.suite import load_suite

        if not args.space:
            raise CLIError("--suite needs --space (e.g. --space nadamw_grid)")
        return importers.read_store(load_suite(args.suite).root, space=args.space, tasks=tasks)
    if args.store:
        if not args.space:
            raise CLIError("--store needs --space (e.g. --space nadamw_grid)")
        return importers.read_store(args.store, space=args.space, tasks=tasks)
    if args.taskset_json:
        return importers.read_taskset_json(
            args.taskset_json, tasks=tasks, space=args.space or "adam8p_wide_grid"
        )
    curves = importers.read_npz_files(args.npz, space=args.space)
    return curves.select_tasks(tasks) if tasks else curves


def _load_hparam_list(name: str):
    from hparam_lists.lists import load_list

    return load_list(name)


def _help_with_defaults(p: argparse.ArgumentParser, notes: dict[str, str], *more: str) -> None:
    """Append ``(default X)`` and an optional note to the help of the named options."""
    for action in p._actions:
        if action.dest in notes or action.dest in more:
            action.help = f"{action.help} (default %(default)s){notes.get(action.dest, '')}"


def _included_list_configs(specs: list[str], space: str) -> list[int]:
    """Config seeds of the first N entries of each ``LIST:N`` (a published name or a file)."""

    seeds: list[int] = []
    for spec in specs:
        name, sep, count = spec.rpartition(":")
        if not sep or not name or not count.isdigit() or int(count) < 1:
            raise CLIError(f"--include-list takes LIST:N (e.g. opt_list:10), got {spec!r}")
        hlist = _load_hparam_list(name)
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


def _objective_from_args(args: argparse.Namespace):
    from hparam_lists.greedy import get_objective

    params = {"bound": args.regret_bound} if args.objective == "regret" else {}
    if args.objective != "regret" and args.regret_bound:
        raise CLIError("--regret-bound applies to --objective regret only")
    return get_objective(args.objective, **params)


def _speedup_text(row: dict) -> str:
    """A speedup as printed in tables: capped ones are lower bounds (pool size / k)."""
    return (">=" if row["speedup_capped"] else "") + f"{row['speedup']:.2f}"


def _print_evaluation_table(per_k: list[dict], title: str, pool_size: int, n_tasks: int) -> None:
    print(title)
    print(f"{'k':>5}  {'list loss [CI]':>26}  {'random loss [CI]':>26}  {'speedup':>9}")
    for row in per_k:
        lo, hi = row["list_ci"]
        rlo, rhi = row["random_ci"]
        print(
            f"{row['k']:>5}  {row['list_loss']:.4f} [{lo:.4f}, {hi:.4f}]  "
            f"{row['random_loss']:.4f} [{rlo:.4f}, {rhi:.4f}]  {_speedup_text(row):>9}"
        )
    print(
        f"speedup: random-search trials matching the list's mean loss over the {n_tasks} "
        f"evaluated tasks, / k; '>=' = capped at the pool size ({pool_size}) / k"
    )


def _print_comparison_table(out: dict, report_split: str) -> None:
    """Lists side by side per k, each later list's paired difference to the first with its CI."""
    names = list(out["lists"])
    first = names[0]
    pct = f"{100 * out['ci_level']:g}%"
    print(
        f"{len(out['tasks'])} held-out tasks on {report_split}, pool of {out['pool_size']} configs; "
        f"normalized loss (lower is better) [{pct} CI]"
    )
    for i, name in enumerate(names):
        print(f"  ({chr(65 + i)}) {name}")
    cols = [f"{'k':>4}"] + [f"{'(' + chr(65 + i) + ')':>24}" for i in range(len(names))]
    cols += [f"{'(' + chr(65 + i) + ') - (A)':>28}" for i in range(1, len(names))]
    cols += [f"{'random search':>24}"]
    print("  ".join(cols))
    diffs = {name: out["difference_vs_first"][name] for name in names[1:]}
    for j, row in enumerate(out["lists"][first]):
        cells = [f"{row['k']:>4}"]
        for name in names:
            r = out["lists"][name][j]
            cells.append(f"{r['list_loss']:.4f} [{r['list_ci'][0]:.4f}, {r['list_ci'][1]:.4f}]")
        for name in names[1:]:
            d = diffs[name][j]
            cells.append(f"{d['diff']:+.4f} [{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]".rjust(28))
        cells.append(
            f"{row['random_loss']:.4f} [{row['random_ci'][0]:.4f}, {row['random_ci'][1]:.4f}]"
        )
        print("  ".join(c if k == 0 else c.rjust(24) for k, c in enumerate(cells)))
    print("a difference below 0 means that list beats (A); an interval excluding 0 is significant")
    if out.get("dropped_tasks"):
        print(f"left out (missing some list entry): {', '.join(out['dropped_tasks'])}")


def _say_norm_ref(asked: str, used: str, step0_tasks: Sequence[str] = ()) -> str:
    """The reference used; a note on stderr where the step-0 loss stood in for the zero loss."""
    if asked == "auto" and used == "step0":
        print(
            "note: normalizing by the step-0 loss (--norm-ref step0): these curves hold no zero "
            "optimizer curve for every task",
            file=sys.stderr,
        )
    elif used == "zero" and step0_tasks:
        print(
            f"note: {len(step0_tasks)} tasks keep the step-0 reference (their zero-weight loss is "
            f"non-finite or not above the best loss): {', '.join(step0_tasks)}",
            file=sys.stderr,
        )
    return used


def _cmd_learn(args: argparse.Namespace) -> None:
    from hparam_lists.greedy import bootstrap_stability
    from hparam_lists.lists import learn_list_from_scores, substitute_data
    from hparam_lists.normalize import compute_scores

    out = _check_out_path(args.out, "--out")  # before the computation, not after it
    curves = _list_curves(args)
    substituted = substitute_data(curves)
    if substituted and _no_substitutes():
        raise CLIError(
            f"the curves of {len(substituted)} task(s) were trained on substitute data "
            f"(e.g. {next(iter(substituted))}: {next(iter(substituted.values()))[0]}) and "
            "TASKSET_TORCH_NO_SUBSTITUTES is set",
            code=1,
        )
    objective = _objective_from_args(args)
    scores = compute_scores(
        curves, args.split, score=args.score, replicas=args.replicas, norm_ref=args.norm_ref
    )
    hlist = learn_list_from_scores(curves, scores, objective=objective, length=args.length)
    path = hlist.save(out)
    if substituted:
        used = hlist.provenance.get("substitute_data", {})
        print(
            f"taskset-torch learn: warning: {len(used)} of the {len(hlist.provenance['tasks'])} "
            f"tasks the list was learned on ran on substitute data (e.g. "
            f"{', '.join(f'{t}: {v[0]}' for t, v in list(used.items())[:2])}); recorded in the "
            "list's provenance['substitute_data']",
            file=sys.stderr,
        )
    report = {
        "out": str(path),
        "space": hlist.space,
        "tasks": len(hlist.provenance["tasks"]),
        "pool_size": hlist.provenance["pool_size"],
        "norm_ref": _say_norm_ref(args.norm_ref, scores.norm_ref, scores.step0_tasks),
        "norm_ref_step0_tasks": list(scores.step0_tasks),
        "length": len(hlist),
        "head": list(hlist.names[:10]),
        "objective_values": hlist.provenance["objective_values"][:10],
        "improving_length": hlist.provenance["improving_length"],
    }
    if hlist.provenance["improving_length"] < len(hlist):
        report["note"] = (
            f"the greedy objective stopped improving after {hlist.provenance['improving_length']} "
            "entries; the rest of the list is the unused configs in index order (filler)"
        )
    if args.bootstrap:
        stab = bootstrap_stability(
            scores.complete(),
            objective=objective,
            length=min(args.bootstrap_length, len(hlist)),
            n_boot=args.bootstrap,
            seed=args.seed,
        )
        report["stability"] = {
            "n_boot": args.bootstrap,
            "position_agreement": [round(float(x), 4) for x in stab.position_agreement],
            "prefix_overlap": [round(float(x), 4) for x in stab.prefix_overlap],
        }
    _print_json(report)


def _task_splits(args: argparse.Namespace, tasks: list[str]):
    from hparam_lists import evaluate as ev

    if args.splits == "kfold":
        return ev.kfold_splits(tasks, args.folds, seed=args.seed)
    if args.splits == "family":
        return ev.family_splits(tasks)
    if args.splits == "leave-n-out":
        return ev.leave_n_out_splits(tasks, args.n_test)
    if not args.test_tasks:
        raise CLIError("--splits explicit needs --test-tasks a,b,...")
    return [ev.explicit_split(tasks, args.test_tasks.split(","))]


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from hparam_lists.crossval import cross_validate, evaluate_hparam_list
    from hparam_lists.evaluate import SPEEDUP_DEFINITION
    from hparam_lists.normalize import resolve_norm_ref

    curves = _list_curves(args)
    ks = args.ks
    if args.hparam_list:
        evaluation, excluded = evaluate_hparam_list(
            curves,
            _load_hparam_list(args.hparam_list),
            report_split=args.report_split,
            score=args.score,
            replicas=args.replicas,
            norm_ref=args.norm_ref,
            ks=ks,
            n_boot=args.n_boot,
            ci=args.ci,
            seed=args.seed,
        )
        out = {
            "mode": "list",
            "norm_ref": _say_norm_ref(
                args.norm_ref, resolve_norm_ref(curves, args.report_split, args.norm_ref)
            ),
            "list": args.hparam_list,
            "excluded_tasks": list(excluded),
            **evaluation.to_dict(),
        }
    else:
        cv = cross_validate(
            curves,
            _task_splits(args, list(curves.tasks)),
            learn_split=args.learn_split,
            report_split=args.report_split,
            objective=_objective_from_args(args),
            score=args.score,
            replicas=args.replicas,
            norm_ref=args.norm_ref,
            ks=ks or (1, 3, 10),
            n_boot=args.n_boot,
            ci=args.ci,
            seed=args.seed,
        )
        result = cv.to_dict(n_boot=args.n_boot, ci=args.ci, seed=args.seed)
        out = {
            "mode": "cross_validation",
            "norm_ref": _say_norm_ref(
                args.norm_ref,
                cv.folds[0].hlist.provenance["norm_ref"],
                sorted({t for f in cv.folds for t in f.hlist.provenance["norm_ref_step0_tasks"]}),
            ),
            "splits": args.splits,
            "learn_split": args.learn_split,
            "report_split": args.report_split,
            "n_folds": len(cv.folds),
            "pool_size": cv.folds[0].evaluation.pool_size,
            "ci_level": args.ci,
            "speedup_definition": SPEEDUP_DEFINITION,
            # all held-out (fold, task) pairs together, each scored by a list learned without it
            "per_k": result["pooled"],
            # the spread over folds (each fold's own speedup); per_k is the headline
            "summary": result["summary"],
            "folds": result["folds"],
        }
    if args.json:
        _print_json(out)
    else:
        n_tasks = len(out["tasks"]) if "tasks" in out else sum(len(f["test"]) for f in out["folds"])
        _print_evaluation_table(
            out["per_k"], f"{out['mode']} on {args.report_split}", out["pool_size"], n_tasks
        )


def _cmd_compare(args: argparse.Namespace) -> None:
    from hparam_lists.evaluate import compare_lists
    from hparam_lists.lists import check_list_fits
    from hparam_lists.normalize import check_report_split, compute_scores

    curves = _list_curves(args)
    if len(set(args.lists)) != len(args.lists):
        raise CLIError("a list is named twice in --lists")
    lists = {name: _load_hparam_list(name) for name in args.lists}
    for name, hlist in lists.items():
        check_list_fits(hlist, curves, what=f"list {name}")
    # Compare only on tasks that no list was learned on.
    learned_on = {t for h in lists.values() for t in h.provenance.get("tasks", [])}
    held = [t for t in curves.tasks if t not in learned_on]
    if not held:
        raise CLIError(
            "every task of the curves was used to learn one of the lists; compare on held-out "
            "tasks (curves of tasks no list was learned on, chosen with --tasks)"
        )
    for hlist in lists.values():
        if "split" in hlist.provenance:
            check_report_split(hlist.provenance["split"], args.report_split)
    scores = compute_scores(
        curves.select_tasks(held),
        args.report_split,
        score=args.score,
        replicas=args.replicas,
        norm_ref=args.norm_ref,
    )
    comparison = compare_lists(
        scores,
        {name: [n for n in h.names if n is not None] for name, h in lists.items()},
        ks=args.ks,
        n_boot=args.n_boot,
        ci=args.ci,
        seed=args.seed,
    )
    out = comparison.to_dict()
    out["norm_ref"] = _say_norm_ref(args.norm_ref, scores.norm_ref, scores.step0_tasks)
    out["excluded_tasks"] = sorted(learned_on & set(curves.tasks))
    if args.json:
        _print_json(out)
        return
    _print_comparison_table(out, args.report_split)


def _write_text_atomic(path: str, text: str) -> None:
    import os

    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _cmd_export(args: argparse.Namespace) -> None:
    from hparam_lists import export

    if args.out:
        args.out = _check_out_path(args.out, "--out")  # before the work, not after it
    hlist = _load_hparam_list(args.hparam_list)
    out = export.export_document(hlist, args.n, args.format)
    if args.out:
        _write_text_atomic(args.out, json.dumps(out, indent=1) + "\n")
    else:
        _print_json(out)


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

    curves = _list_curves(args)
    try:
        if args.what == "curves":
            if not args.task:
                raise CLIError(
                    f"plot curves needs --task (one of {', '.join(curves.tasks[:5])}, ...)"
                )
            entries: list[str] = []
            if args.hparam_list:
                hlist = _load_hparam_list(args.hparam_list)
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
                _load_hparam_list(args.hparam_list),
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


def _add_list_commands(sub: argparse._SubParsersAction) -> None:
    from hparam_lists.greedy import OBJECTIVES
    from hparam_lists.normalize import NORM_REFS, REPLICA_MODES, SCORE_KINDS

    def curves_input(p: argparse.ArgumentParser) -> None:
        src = p.add_mutually_exclusive_group(required=True)
        src.add_argument(
            "--store", metavar="DIR", help="a taskset-torch curve store (with --space)"
        )
        src.add_argument(
            "--taskset-json", metavar="DIR", help="directory of <task>.json TaskSet curve extracts"
        )
        src.add_argument("--npz", nargs="+", metavar="FILE", help="TaskSet's released npz files")
        src.add_argument(
            "--suite", metavar="NAME", help="a packed curve suite by name or path (with --space)"
        )
        p.add_argument(
            "--space", help="search space, e.g. nadamw_grid (needed with --store and --suite)"
        )
        p.add_argument("--tasks", help="comma-separated task names (default: all)")
        p.add_argument("--score", choices=SCORE_KINDS, default="mean", help="per-config score")
        p.add_argument(
            "--norm-ref",
            choices=NORM_REFS,
            default="auto",
            help="what a normalized loss of 1 is: zero = the zero optimizer's loss (all weights "
            "0), step0 = the median initial loss; auto (default) = zero when every task has the "
            "zero curve, else step0",
        )
        p.add_argument(
            "--replicas", choices=REPLICA_MODES, default="mean", help="average seeds or keep each"
        )

    def objective(p: argparse.ArgumentParser) -> None:
        p.add_argument("--objective", choices=sorted(OBJECTIVES), default="mean_loss")
        p.add_argument("--regret-bound", type=float, default=0.0, help="for --objective regret")

    def reporting(p: argparse.ArgumentParser, report_default: str = "valid_outer") -> None:
        p.add_argument("--report-split", default=report_default, help="split to report on")
        p.add_argument(
            "--ks", type=parse_int_set, default=None, help="k values, e.g. 1,3,10 or 1-20"
        )
        p.add_argument(
            "--n-boot", type=positive_int, default=1000, help="bootstrap samples over tasks"
        )
        p.add_argument("--ci", type=float, default=0.95, help="confidence level")
        p.add_argument("--seed", type=int, default=0, help="seed of splits and bootstraps")
        p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("learn", help="learn a hyperparameter list greedily from curves")
    curves_input(p)
    objective(p)
    p.add_argument("--split", default="valid_inner", help="split to learn on (default valid_inner)")
    p.add_argument(
        "--length", type=positive_int, default=None, help="list length (default: whole pool)"
    )
    p.add_argument("--out", required=True, help="where to write the list JSON")
    p.add_argument(
        "--bootstrap", type=nonnegative_int, default=0, help="bootstrap samples for stability"
    )
    p.add_argument(
        "--bootstrap-length", type=positive_int, default=10, help="entries checked for stability"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    p.set_defaults(func=_cmd_learn)

    p = sub.add_parser(
        "evaluate",
        help="evaluate a list (--list) or cross-validate list learning against random search",
    )
    curves_input(p)
    objective(p)
    reporting(p)
    p.add_argument("--list", dest="hparam_list", help="a list name (opt_list) or JSON file")
    p.add_argument(
        "--splits", choices=["kfold", "family", "leave-n-out", "explicit"], default="kfold"
    )
    p.add_argument("--folds", type=int, default=5, help="for --splits kfold")
    p.add_argument("--n-test", type=int, default=1, help="for --splits leave-n-out")
    p.add_argument("--test-tasks", help="for --splits explicit: comma-separated held-out tasks")
    p.add_argument("--learn-split", default="valid_inner", help="split lists are learned on")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("compare", help="compare lists on the curves where all their configs exist")
    curves_input(p)
    reporting(p)
    p.add_argument("--lists", nargs="+", required=True, help="list names or JSON files")
    p.set_defaults(func=_cmd_compare)

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
    curves_input(p)
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


# --- end of hparam_lists commands ---


# ---------------------------------------------------------------------------------------------
# Transfer: lists vs Adam sweeps, random search and TPE on a reference problem
# ---------------------------------------------------------------------------------------------


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


def _add_transfer_command(sub: argparse._SubParsersAction) -> None:
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


def _cmd_download(args: argparse.Namespace) -> int:
    from taskset_torch.download import DEFAULT_BASE_URL, DownloadError, download_curves

    if not args.all and not args.tasks:
        raise CLIError("give --tasks NAME ... or --all (every task in TaskSet's task_names.txt)")
    try:
        rep = download_curves(
            args.store,
            args.space,
            None if args.all else args.tasks,
            base_url=args.base_url or DEFAULT_BASE_URL,
            retries=args.retries,
            progress=not args.quiet,
        )
    except DownloadError as e:
        raise CLIError(
            f"{e}\nfinished files are kept; rerun the same command to resume", code=1
        ) from None
    mb = rep.bytes / 2**20
    print(
        f"{len(rep.fetched)} files downloaded ({mb:.1f} MiB), {len(rep.present)} already in "
        f"{args.store}"
    )
    return 0


def _add_download_command(sub: argparse._SubParsersAction) -> None:
    from taskset_torch.download import DEFAULT_BASE_URL, RELEASED_SPACES

    p = sub.add_parser(
        "download",
        help="fetch TaskSet's released curves (<task>/<space>_1k_10000_replica5.npz) into a store",
        description="Fetch TaskSet's released curves over HTTPS into a curve store: resumable "
        "(rerun the same command), each file validated before it counts, retries with backoff.",
    )
    p.add_argument("--space", required=True, help=f"one of {', '.join(RELEASED_SPACES)}")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--tasks", nargs="+", metavar="TASK", help="task names to fetch")
    g.add_argument("--all", action="store_true", help="every task of TaskSet's task_names.txt")
    p.add_argument("--store", required=True, help="curve store directory")
    p.add_argument(
        "--base-url", default=None, help=f"base URL or mirror (default {DEFAULT_BASE_URL})"
    )
    p.add_argument("--retries", type=int, default=4, help="retries per file (default 4)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_download)


def _cmd_suite_generate(args: argparse.Namespace) -> int:
    from taskset_torch.suite import generate_suite, read_spec

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


def _add_suite_commands(sub: argparse._SubParsersAction) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskset-torch",
        description="TaskSet in PyTorch: tasks, training curves and learned hyperparameter lists.",
    )
    from taskset_torch import __version__

    parser.add_argument("--version", action="version", version=f"taskset-torch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_task_commands(sub)
    _add_list_commands(sub)
    _add_data_commands(sub)
    _add_transfer_command(sub)
    _add_download_command(sub)
    _add_suite_commands(sub)
    return parser


def _translate(err: BaseException) -> tuple[int, str] | None:
    """The one place that turns the project's errors into an exit status and a message.

    2: the command line asks for something invalid or absent (usage); 1: what was asked could
    not be done (corrupt or mismatched curves, unwritable store, missing data, no memory).
    None: not an error a user can act on; it keeps its traceback.
    """
    from taskset_torch.curves import CurveStoreError

    if isinstance(err, CLIError):
        return err.code, str(err)
    if isinstance(err, CurveStoreError):
        text = str(err)
        if type(err).__name__ == "ProtocolMismatch":
            text += " (generate: --store ANOTHER_DIR, or --force)"
        return 1, text
    if isinstance(err, FileNotFoundError):
        return 2, f"{err.strerror}: {err.filename}" if err.filename else str(err)
    if isinstance(err, OSError):
        where = f": {err.filename}" if err.filename else ""
        return 1, f"{err.strerror or err}{where}"
    if isinstance(err, KeyError):
        return 2, str(err.args[0]) if err.args else "unknown name"
    if isinstance(err, ValueError):
        return 2, str(err)
    if isinstance(err, ImportError):
        return 1, str(err)
    if type(err).__name__ == "SubstituteError":
        return 1, str(err)
    if isinstance(err, (RuntimeError, MemoryError)):
        from taskset_torch.runner import _is_oom

        if _is_oom(err):
            first = str(err).strip().splitlines()[0][:200] if str(err).strip() else "MemoryError"
            return 1, (
                f"out of memory even for one config at a time ({first}); try a smaller task, "
                "fewer --eval-batches, or another --device"
            )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 failure, 2 usage error, 130 Ctrl-C,
    141 output pipe closed). TASKSET_TORCH_TRACEBACK=1 shows tracebacks instead of messages."""
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
            _apply_data_env()  # every command that loads data sees the environment's settings
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
        found = _translate(e)
        if found is None or os.environ.get("TASKSET_TORCH_TRACEBACK", "") not in ("", "0"):
            raise
        code, text = found
        print(f"{prefix}: error: {text}", file=sys.stderr)
        return code
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
