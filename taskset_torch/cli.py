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
    from taskset_torch.tasks.cost import estimated_flops_per_step, step_seconds
    from taskset_torch.tasks.registry import family_names, get_family, parse_seed_name

    if not args.family and not args.tasks:
        args.family = family_names()
    rows = []
    for name in _task_names(args):
        family, seed = parse_seed_name(name)
        fam = get_family(family)
        config = fam.sample(seed)
        task = fam.build(config, name=name)
        row = {
            "task": name,
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
    cols = ["task", "family", "num_params", "est_gflop_per_step", "data"]
    cols += ["sec_per_step"] if args.time else []
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
    chunk = args.chunk
    if chunk == "auto":
        chunk = _auto_chunk_fn(args.space, args.device, args.quiet)
    units = plan(tasks, args.space, args.configs, args.seeds, chunk_size=chunk)
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


def _parse_chunk(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--chunk must be 'auto' or an integer >= 1, got {text!r}")
    return value


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
        "measures seconds per training step of one config on this machine.",
    )
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
    p.set_defaults(func=_cmd_generate)


# ---------------------------------------------------------------------------------------------


# --- data commands ---


def _apply_data_env() -> None:
    """Pass TASKSET_TORCH_DATA and TASKSET_TORCH_NO_SUBSTITUTES to the dataset library."""
    import os

    data_dir = os.environ.get("TASKSET_TORCH_DATA")
    no_subs = os.environ.get("TASKSET_TORCH_NO_SUBSTITUTES", "").strip().lower()
    if not data_dir and no_subs in ("", "0", "false", "no"):
        return
    from taskset_torch import datasets

    if data_dir:
        datasets.set_data_dir(data_dir)
    if no_subs not in ("", "0", "false", "no"):
        datasets.set_allow_substitutes(False)


def _cmd_data_status(args: argparse.Namespace) -> None:
    from taskset_torch.datasets import dataset_status, get_data_dir

    status = dataset_status()
    if args.json:
        _print_json(
            {"data_dir": str(get_data_dir()), **{k: v.to_json() for k, v in status.items()}}
        )
        return
    print(f"data dir: {get_data_dir()}")
    width = max(len(k) for k in status)
    for name, src in status.items():
        print(f"{name:<{width}}  {src.kind:<10}  {src.detail}")
    n_sub = sum(s.is_substitute for s in status.values())
    print(f"{len(status) - n_sub} of {len(status)} datasets real; {n_sub} substituted")


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

    try:
        src = add_local_dataset(args.name, args.path)
    except KeyError as e:
        raise CLIError(str(e.args[0])) from None
    except (OSError, ValueError) as e:
        raise CLIError(str(e)) from None
    print(f"{args.name}: stored local copy from {src.detail}")


def _add_data_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data",
        help="dataset sources: status, prepare (TFDS download), add-local",
        description="Data dir: $TASKSET_TORCH_DATA (default ~/.cache/taskset_torch). "
        "TASKSET_TORCH_NO_SUBSTITUTES=1 makes any substituted dataset an error.",
    )
    dsub = p.add_subparsers(dest="data_command", required=True)
    q = dsub.add_parser("status", help="which source serves each dataset TaskSet uses")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=_cmd_data_status)
    q = dsub.add_parser("prepare", help="download through TFDS and store plain arrays")
    q.add_argument("names", nargs="+", metavar="NAME", help="dataset names, or 'all'")
    q.set_defaults(func=_cmd_data_prepare)
    q = dsub.add_parser("add-local", help="store a real local copy (IDX files, .npz, text)")
    q.add_argument("name", metavar="NAME", help="dataset name, e.g. mnist")
    q.add_argument("path", metavar="PATH", help="directory or file holding the data")
    q.set_defaults(func=_cmd_data_add_local)


# --- end of data commands ---


# --- hparam_lists commands ---


def _list_curves(args: argparse.Namespace):
    """Curves from --store/--space, --taskset-json or --npz (exactly one)."""
    from hparam_lists import importers

    tasks = [t for t in args.tasks.split(",") if t] if args.tasks else None
    try:
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
    except (OSError, ValueError, KeyError) as e:
        raise CLIError(str(e.args[0]) if isinstance(e, KeyError) else str(e)) from None


def _load_hparam_list(name: str):
    from hparam_lists.lists import load_list

    try:
        return load_list(name)
    except (OSError, ValueError) as e:
        raise CLIError(str(e)) from None


def _objective_from_args(args: argparse.Namespace):
    from hparam_lists.greedy import get_objective

    params = {"bound": args.regret_bound} if args.objective == "regret" else {}
    if args.objective != "regret" and args.regret_bound:
        raise CLIError("--regret-bound applies to --objective regret only")
    try:
        return get_objective(args.objective, **params)
    except ValueError as e:
        raise CLIError(str(e)) from None


def _print_evaluation_table(per_k: list[dict], title: str) -> None:
    print(title)
    print(f"{'k':>5}  {'list loss [CI]':>26}  {'random loss [CI]':>26}  {'speedup':>9}")
    for row in per_k:
        lo, hi = row["list_ci"]
        rlo, rhi = row["random_ci"]
        cap = " (capped)" if row["speedup_capped"] else ""
        print(
            f"{row['k']:>5}  {row['list_loss']:.4f} [{lo:.4f}, {hi:.4f}]  "
            f"{row['random_loss']:.4f} [{rlo:.4f}, {rhi:.4f}]  {row['speedup']:>9.2f}{cap}"
        )


def _cmd_learn(args: argparse.Namespace) -> None:
    from hparam_lists.greedy import bootstrap_stability
    from hparam_lists.lists import learn_list_from_scores
    from hparam_lists.normalize import compute_scores

    curves = _list_curves(args)
    objective = _objective_from_args(args)
    try:
        scores = compute_scores(curves, args.split, score=args.score, replicas=args.replicas)
        hlist = learn_list_from_scores(curves, scores, objective=objective, length=args.length)
    except ValueError as e:
        raise CLIError(str(e)) from None
    path = hlist.save(args.out)
    report = {
        "out": str(path),
        "space": hlist.space,
        "tasks": len(hlist.provenance["tasks"]),
        "pool_size": hlist.provenance["pool_size"],
        "length": len(hlist),
        "head": list(hlist.names[:10]),
        "objective_values": hlist.provenance["objective_values"][:10],
    }
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

    try:
        if args.splits == "kfold":
            return ev.kfold_splits(tasks, args.folds, seed=args.seed)
        if args.splits == "family":
            return ev.family_splits(tasks)
        if args.splits == "leave-n-out":
            return ev.leave_n_out_splits(tasks, args.n_test)
        if not args.test_tasks:
            raise CLIError("--splits explicit needs --test-tasks a,b,...")
        return [ev.explicit_split(tasks, args.test_tasks.split(","))]
    except ValueError as e:
        raise CLIError(str(e)) from None


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from hparam_lists.crossval import cross_validate, evaluate_hparam_list

    curves = _list_curves(args)
    ks = args.ks
    try:
        if args.hparam_list:
            evaluation, excluded = evaluate_hparam_list(
                curves,
                _load_hparam_list(args.hparam_list),
                report_split=args.report_split,
                score=args.score,
                replicas=args.replicas,
                ks=ks,
                n_boot=args.n_boot,
                ci=args.ci,
                seed=args.seed,
            )
            out = {
                "mode": "list",
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
                ks=ks or (1, 3, 10),
                n_boot=args.n_boot,
                ci=args.ci,
                seed=args.seed,
            )
            result = cv.to_dict(n_boot=args.n_boot, ci=args.ci, seed=args.seed)
            out = {
                "mode": "cross_validation",
                "splits": args.splits,
                "learn_split": args.learn_split,
                "report_split": args.report_split,
                "n_folds": len(cv.folds),
                "pool_size": cv.folds[0].evaluation.pool_size,
                "ci_level": args.ci,
                # all held-out (fold, task) pairs together, each scored by a list learned without it
                "per_k": result["pooled"],
                "summary": result["summary"],
                "folds": result["folds"],
            }
    except (KeyError, ValueError) as e:
        raise CLIError(str(e.args[0]) if isinstance(e, KeyError) else str(e)) from None
    if args.json:
        _print_json(out)
    else:
        _print_evaluation_table(out["per_k"], f"{out['mode']} on {args.report_split}")


def _cmd_compare(args: argparse.Namespace) -> None:
    from hparam_lists.evaluate import compare_lists
    from hparam_lists.normalize import check_report_split, compute_scores

    curves = _list_curves(args)
    if len(set(args.lists)) != len(args.lists):
        raise CLIError("a list is named twice in --lists")
    lists = {name: _load_hparam_list(name) for name in args.lists}
    # Compare only on tasks that no list was learned on.
    learned_on = {t for h in lists.values() for t in h.provenance.get("tasks", [])}
    held = [t for t in curves.tasks if t not in learned_on]
    if not held:
        raise CLIError("every task of the curves was used to learn one of the lists")
    try:
        for hlist in lists.values():
            if "split" in hlist.provenance:
                check_report_split(hlist.provenance["split"], args.report_split)
        scores = compute_scores(
            curves.select_tasks(held), args.report_split, score=args.score, replicas=args.replicas
        )
        comparison = compare_lists(
            scores,
            {name: [n for n in h.names if n is not None] for name, h in lists.items()},
            ks=args.ks,
            n_boot=args.n_boot,
            ci=args.ci,
            seed=args.seed,
        )
    except (KeyError, ValueError) as e:
        raise CLIError(str(e.args[0]) if isinstance(e, KeyError) else str(e)) from None
    out = comparison.to_dict()
    out["excluded_tasks"] = sorted(learned_on & set(curves.tasks))
    if args.json:
        _print_json(out)
        return
    for name, per_k in out["lists"].items():
        _print_evaluation_table(per_k, f"{name} on {args.report_split}")


def _cmd_export(args: argparse.Namespace) -> None:
    from hparam_lists import export

    hlist = _load_hparam_list(args.hparam_list)
    try:
        params = export.warm_start_params(hlist, args.n)
        ranges = {
            name: {"kind": p.kind, "low": p.low, "high": p.high}
            if p.kind != "bool"
            else {"kind": "bool"}
            for name, p in export.search_space(hlist.space).items()
        }
    except (KeyError, ValueError) as e:
        raise CLIError(str(e.args[0]) if isinstance(e, KeyError) else str(e)) from None
    if args.format == "optuna":
        out = {"format": "optuna", "space": hlist.space, "enqueue_trials": params}
    else:
        out = {"format": "ray", "space": hlist.space, "points_to_evaluate": params}
    out["search_space"] = ranges
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
    else:
        _print_json(out)


def _add_list_commands(sub: argparse._SubParsersAction) -> None:
    from hparam_lists.greedy import OBJECTIVES
    from hparam_lists.normalize import REPLICA_MODES, SCORE_KINDS

    def curves_input(p: argparse.ArgumentParser) -> None:
        src = p.add_mutually_exclusive_group(required=True)
        src.add_argument(
            "--store", metavar="DIR", help="a taskset-torch curve store (with --space)"
        )
        src.add_argument(
            "--taskset-json", metavar="DIR", help="directory of <task>.json TaskSet curve extracts"
        )
        src.add_argument("--npz", nargs="+", metavar="FILE", help="TaskSet's released npz files")
        p.add_argument("--space", help="search space, e.g. nadamw_grid (needed with --store)")
        p.add_argument("--tasks", help="comma-separated task names (default: all)")
        p.add_argument("--score", choices=SCORE_KINDS, default="mean", help="per-config score")
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
        p.add_argument("--n-boot", type=int, default=1000, help="bootstrap samples over tasks")
        p.add_argument("--ci", type=float, default=0.95, help="confidence level")
        p.add_argument("--seed", type=int, default=0, help="seed of splits and bootstraps")
        p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("learn", help="learn a hyperparameter list greedily from curves")
    curves_input(p)
    objective(p)
    p.add_argument("--split", default="valid_inner", help="split to learn on (default valid_inner)")
    p.add_argument("--length", type=int, default=None, help="list length (default: whole pool)")
    p.add_argument("--out", required=True, help="where to write the list JSON")
    p.add_argument("--bootstrap", type=int, default=0, help="bootstrap samples for stability")
    p.add_argument("--bootstrap-length", type=int, default=10, help="entries checked for stability")
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
    p.add_argument("--n", type=int, default=10, help="number of entries (default 10)")
    p.add_argument("--format", choices=["optuna", "ray"], required=True)
    p.add_argument("--out", help="write the JSON here instead of printing it")
    p.set_defaults(func=_cmd_export)


# --- end of hparam_lists commands ---


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskset-torch",
        description="TaskSet in PyTorch: tasks, training curves and learned hyperparameter lists.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_task_commands(sub)
    _add_list_commands(sub)
    _add_data_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _apply_data_env()  # every command that loads data sees the environment's data settings
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
