"""The science check of a curve suite: does a learned list beat random search on tasks it never saw?

For each search space of the suite (default: nadamw_grid and adam8p_wide_grid), at k = 1, 3, 10:

- **k-fold over tasks**: a list learned on the other folds' tasks (valid_inner) against exact random
  search over the same configs, on the held-out tasks (valid_outer); all held-out tasks pooled,
  95% bootstrap intervals over tasks, and the speedup (random-search trials needed to match the
  list at k, over k; capped at the pool size);
- **leave one family out**: the same with each family (or fixed kind) held out in turn, pooled;
- **the published opt_list** (nadamw_grid only) on the same held-out tasks, as far as the suite
  holds its configs: TaskSet's list was learned on none of our tasks.

Prints a table and, as its last line, one JSON object with every number.

    python experiments/science_check.py --suite taskset-torch-mini
    python experiments/science_check.py --store runs/my_store --spaces nadamw_grid
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hparam_lists.crossval import cross_validate
from hparam_lists.evaluate import (
    evaluate_list,
    family_splits,
    kfold_splits,
    pool_evaluations,
    present_prefix,
)
from hparam_lists.importers import read_store
from hparam_lists.lists import load_list
from hparam_lists.normalize import compute_scores

KS = (1, 3, 10)


def _records(ev) -> dict[int, dict]:
    return {r["k"]: r for r in ev.to_dict()["per_k"]}


def check_space(curves, *, folds: int, n_boot: int, seed: int, norm_ref: str) -> dict:
    """Every number of the check for one space's curves."""
    ks = [k for k in KS if k <= len(curves.config_names)]
    out: dict = {"tasks": len(curves.tasks), "configs": len(curves.config_names)}
    kf = cross_validate(
        curves,
        kfold_splits(curves.tasks, min(folds, len(curves.tasks)), seed=seed),
        ks=ks,
        n_boot=n_boot,
        seed=seed,
        norm_ref=norm_ref,
    )
    out["kfold"] = _records(kf.pooled(n_boot=n_boot, seed=seed))
    fam = family_splits(curves.tasks)
    if len(fam) >= 2:
        lofo = cross_validate(curves, fam, ks=ks, n_boot=n_boot, seed=seed, norm_ref=norm_ref)
        out["lofo"] = _records(lofo.pooled(n_boot=n_boot, seed=seed))
        out["lofo_by_family"] = {
            f.split.name.removeprefix("without_"): {
                r["k"]: r["speedup"] for r in f.evaluation.to_dict()["per_k"]
            }
            for f in lofo.folds
        }
    if curves.space == "nadamw_grid":
        published = load_list("opt_list")
        head = list(published.names[: present_prefix(published.names, set(curves.config_names))])
        out["opt_list_present"] = len(head)
        pk = [k for k in ks if k <= len(head)]
        if pk:
            report = compute_scores(curves, "valid_outer", norm_ref=norm_ref)
            evs = [
                evaluate_list(
                    report.select_tasks(f.split.test).complete(),
                    head,
                    ks=pk,
                    n_boot=n_boot,
                    seed=seed + i,
                )
                for i, f in enumerate(kf.folds)
            ]
            out["opt_list"] = _records(pool_evaluations(evs, n_boot=n_boot, seed=seed))
    return out


def _ci(value: float, ci: list[float], capped: bool = False) -> str:
    return f"{value:.3g}{'+' if capped else ''} [{ci[0]:.3g}, {ci[1]:.3g}]"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group()
    src.add_argument("--suite", default="taskset-torch-mini", help="a packed suite (name or path)")
    src.add_argument("--store", type=Path, help="a curve store instead")
    p.add_argument("--spaces", default="nadamw_grid,adam8p_wide_grid")
    p.add_argument("--folds", type=int, default=4)
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--norm-ref", default="auto", choices=("auto", "zero", "step0"))
    args = p.parse_args(argv)

    if args.store is not None:
        root, source = args.store, f"store {args.store}"
    else:
        from taskset_torch.suite import load_suite

        try:
            root, source = load_suite(args.suite).root, f"suite {args.suite}"
        except ValueError as e:
            p.error(str(e))
    result: dict = {"source": source, "norm_ref": args.norm_ref, "spaces": {}}
    for space in [s for s in args.spaces.split(",") if s]:
        try:
            curves = read_store(root, space=space)
        except (KeyError, ValueError) as e:
            print(f"{space}: skipped ({e})", file=sys.stderr)
            continue
        result["spaces"][space] = check_space(
            curves, folds=args.folds, n_boot=args.n_boot, seed=args.seed, norm_ref=args.norm_ref
        )

    print(f"science check on {source} (held-out normalized loss on valid_outer; 95% intervals)")
    print(f"{'space':<18} {'k':>3} {'what':<26} {'loss':<26} {'speedup vs random search':<28}")
    for space, r in result["spaces"].items():
        print(f"{space} ({r['tasks']} tasks x {r['configs']} configs)")
        for k in KS:
            if k not in r["kfold"]:
                continue
            kf = r["kfold"][k]
            rows = [
                ("k-fold: learned list", kf["list_loss"], kf["list_ci"], kf),
                ("k-fold: random search", kf["random_loss"], kf["random_ci"], None),
            ]
            for key, what in (
                ("lofo", "leave-family-out: list"),
                ("opt_list", "published opt_list"),
            ):
                rec = r.get(key, {}).get(k)
                if rec is not None:
                    rows.append((what, rec["list_loss"], rec["list_ci"], rec))
            for what, loss, ci, rec in rows:
                speed = (
                    ""
                    if rec is None
                    else _ci(rec["speedup"], rec["speedup_ci"], rec["speedup_capped"])
                )
                print(f"{'':<18} {k:>3} {what:<26} {_ci(loss, ci):<26} {speed:<28}")
        if "lofo_by_family" in r:
            by = ", ".join(
                f"{f} {v.get(1, float('nan')):.2g}/{v.get(10, float('nan')):.2g}"
                for f, v in r["lofo_by_family"].items()
            )
            print(f"{'':<18} per family held out, speedup at k=1/10: {by}")
    print(json.dumps(result, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
