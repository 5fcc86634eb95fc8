"""Real-data check: learn lists on 6 of the 8 real TaskSet tasks, evaluate on the other 2.

Uses the public 8-task adam8p extract (``../shared/data/taskset_real`` by default): every one of
the C(8, 2) = 28 ways of holding out 2 tasks; lists learned on valid_inner, reported on
valid_outer (the extract's "test" field). Prints, per k in 1, 3, 10, the median (over the 28
splits) speedup over exact random search, how many splits were capped at N/k, and the list's and
random search's normalized loss; then one JSON line.

    python experiments/real_data_check.py [--data DIR] [--objective mean_loss] [--score mean]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hparam_lists.crossval import cross_validate
from hparam_lists.evaluate import leave_n_out_splits
from hparam_lists.greedy import OBJECTIVES, get_objective
from hparam_lists.importers import read_taskset_json
from hparam_lists.normalize import NORM_REFS, SCORE_KINDS

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "taskset_real"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--objective", choices=sorted(OBJECTIVES), default="mean_loss")
    parser.add_argument("--regret-bound", type=float, default=0.0)
    parser.add_argument("--score", choices=SCORE_KINDS, default="mean")
    # TaskSet's released curves hold no zero-optimizer curve: auto means step0 here.
    parser.add_argument("--norm-ref", choices=NORM_REFS, default="auto")
    parser.add_argument("--n-test", type=int, default=2)
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"{args.data}: real TaskSet curves not found (pass --data DIR)")

    curves = read_taskset_json(args.data)
    splits = leave_n_out_splits(curves.tasks, args.n_test)
    params = {"bound": args.regret_bound} if args.objective == "regret" else {}
    cv = cross_validate(
        curves,
        splits,
        learn_split="valid_inner",
        report_split="valid_outer",
        objective=get_objective(args.objective, **params),
        score=args.score,
        norm_ref=args.norm_ref,
        ks=(1, 3, 10),
        n_boot=args.n_boot,
        seed=args.seed,
    )
    summary = cv.summary()
    print(
        f"real TaskSet data: {len(curves.tasks)} tasks x {len(curves.config_names)} "
        f"{curves.space} configs; {len(splits)} splits (learn on {len(curves.tasks) - args.n_test}, "
        f"evaluate on {args.n_test}); objective {args.objective}, score {args.score}, "
        f"normalized by the {cv.folds[0].hlist.provenance['norm_ref']} loss"
    )
    print(
        f"{'k':>3} {'split-median speedup':>20} {'capped':>7} {'median list loss':>17} "
        f"{'mean list loss':>15} {'mean random loss':>17}"
    )
    for row in summary:
        print(
            f"{row['k']:>3} {row['fold_median_speedup']:>20.2f} {row['n_capped_folds']:>4}/{len(splits):<2} "
            f"{row['median_list_loss']:>17.4f} {row['mean_list_loss']:>15.4f} "
            f"{row['mean_random_loss']:>17.4f}"
        )
    print(
        json.dumps(
            {
                "tasks": len(curves.tasks),
                "splits": len(splits),
                "objective": args.objective,
                "score": args.score,
                "norm_ref": cv.folds[0].hlist.provenance["norm_ref"],
                "per_k": summary,
            }
        )
    )


if __name__ == "__main__":
    main()
