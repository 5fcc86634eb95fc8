"""``learn``, ``evaluate`` and ``compare``: hyperparameter lists learned from curves and scored."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from taskset_torch.cli._common import (
    check_out_path,
    load_hparam_list,
    nonnegative_int,
    parse_int_set,
    positive_int,
    print_json,
)
from taskset_torch.cli._errors import CLIError
from taskset_torch.cli.data import no_substitutes

__all__ = ["add_curves_input", "add_list_commands", "list_curves"]


def list_curves(args: argparse.Namespace):
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

    out = check_out_path(args.out, "--out")  # before the computation, not after it
    curves = list_curves(args)
    substituted = substitute_data(curves)
    if substituted and no_substitutes():
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
    print_json(report)


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

    curves = list_curves(args)
    ks = args.ks
    if args.hparam_list:
        evaluation, excluded = evaluate_hparam_list(
            curves,
            load_hparam_list(args.hparam_list),
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
        print_json(out)
    else:
        n_tasks = len(out["tasks"]) if "tasks" in out else sum(len(f["test"]) for f in out["folds"])
        _print_evaluation_table(
            out["per_k"], f"{out['mode']} on {args.report_split}", out["pool_size"], n_tasks
        )


def _cmd_compare(args: argparse.Namespace) -> None:
    from hparam_lists.crossval import compare_hparam_lists

    curves = list_curves(args)
    if len(set(args.lists)) != len(args.lists):
        raise CLIError("a list is named twice in --lists")
    lists = {name: load_hparam_list(name) for name in args.lists}
    comparison, scores, excluded = compare_hparam_lists(
        curves,
        lists,
        report_split=args.report_split,
        score=args.score,
        replicas=args.replicas,
        norm_ref=args.norm_ref,
        ks=args.ks,
        n_boot=args.n_boot,
        ci=args.ci,
        seed=args.seed,
    )
    out = comparison.to_dict()
    out["norm_ref"] = _say_norm_ref(args.norm_ref, scores.norm_ref, scores.step0_tasks)
    out["excluded_tasks"] = list(excluded)
    if args.json:
        print_json(out)
        return
    _print_comparison_table(out, args.report_split)


def add_curves_input(p: argparse.ArgumentParser) -> None:
    """Where the curves come from (exactly one source) and how they are scored."""
    from hparam_lists.normalize import NORM_REFS, REPLICA_MODES, SCORE_KINDS

    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--store", metavar="DIR", help="a taskset-torch curve store (with --space)")
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


def _add_objective(p: argparse.ArgumentParser) -> None:
    from hparam_lists.greedy import OBJECTIVES

    p.add_argument("--objective", choices=sorted(OBJECTIVES), default="mean_loss")
    p.add_argument("--regret-bound", type=float, default=0.0, help="for --objective regret")


def _add_reporting(p: argparse.ArgumentParser, report_default: str = "valid_outer") -> None:
    p.add_argument("--report-split", default=report_default, help="split to report on")
    p.add_argument("--ks", type=parse_int_set, default=None, help="k values, e.g. 1,3,10 or 1-20")
    p.add_argument("--n-boot", type=positive_int, default=1000, help="bootstrap samples over tasks")
    p.add_argument("--ci", type=float, default=0.95, help="confidence level")
    p.add_argument("--seed", type=int, default=0, help="seed of splits and bootstraps")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def add_list_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``learn``, ``evaluate`` and ``compare``."""
    p = sub.add_parser("learn", help="learn a hyperparameter list greedily from curves")
    add_curves_input(p)
    _add_objective(p)
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
    add_curves_input(p)
    _add_objective(p)
    _add_reporting(p)
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
    add_curves_input(p)
    _add_reporting(p)
    p.add_argument("--lists", nargs="+", required=True, help="list names or JSON files")
    p.set_defaults(func=_cmd_compare)
