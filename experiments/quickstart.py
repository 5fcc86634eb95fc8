"""Quickstart: generate curves on built-in data, learn a hyperparameter list, beat random search.

    python experiments/quickstart.py [--store runs/quickstart] [--steps 300] [--configs 60]

1. picks the cheapest tasks of two TaskSet families (quadratic_family, mlp_family; image data
   resolves to real local copies where present, else to labelled substitutes),
2. trains each with a pool of nadamw_grid configs (the pool contains the first entries of the
   published opt_list, so the two lists can be compared) into a resumable curve store,
3. learns lists on 2/3 of the tasks (valid_inner) and evaluates them on the held-out third
   (valid_outer) against exact random search, over 3 folds,
4. compares the published opt_list with a list learned on all tasks (in-sample for the learned list,
   so read it as an upper bound) on the same pool.

Interrupt it and run it again: finished curves are kept. Takes a few minutes on a laptop CPU.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tqdm import tqdm

from hparam_lists import compare_lists, compute_scores, cross_validate, kfold_splits, load_list
from hparam_lists.importers import read_store
from hparam_lists.lists import learn_list
from taskset_torch.cost import estimated_flops_per_step
from taskset_torch.curves import CurveStore
from taskset_torch.runner import plan, run_units
from taskset_torch.tasks.registry import get_family
from taskset_torch.training import TrainConfig


def cheapest_tasks(family: str, n: int, pool: int) -> list[str]:
    """The ``n`` tasks among seeds 0..pool-1 with the least work per step (params x batch)."""
    fam = get_family(family)
    costs = []
    for seed in range(pool):
        cfg = fam.sample(seed)
        task = fam.build(cfg, name=f"{family}_seed{seed}")
        costs.append((estimated_flops_per_step(task, cfg), f"{family}_seed{seed}"))
    return [name for _, name in sorted(costs)[:n]]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--store", default="runs/quickstart")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--configs", type=int, default=60, help="size of the nadamw_grid pool")
    ap.add_argument("--tasks-per-family", type=int, default=6)
    args = ap.parse_args()
    t_start = time.time()

    tasks = cheapest_tasks("quadratic_family", args.tasks_per_family, 40)
    tasks += cheapest_tasks("mlp_family", args.tasks_per_family, 40)
    published = load_list("opt_list")
    first = [int(n.rsplit("_seed", 1)[1]) for n in published.names[:10]]
    pool = sorted(set(first) | set(range(args.configs - len(first))))
    cfg = TrainConfig(
        training_steps=args.steps, eval_every=max(args.steps // 10, 1), eval_batches=5
    )
    units = plan(tasks, "nadamw_grid", pool, seeds=[0], chunk_size=len(pool))
    store = CurveStore(args.store)
    print(
        f"1. training {len(tasks)} tasks x {len(pool)} nadamw_grid configs, {args.steps} steps -> {args.store}"
    )
    with tqdm(total=len(units) * cfg.training_steps, unit="step") as bar:
        run_units(
            units,
            store,
            cfg,
            on_step=bar.update,
            on_unit=lambda u, s: s and bar.update(cfg.training_steps),
        )
    sources = sorted(
        {
            f"{s['dataset']} ({s['kind']})"
            for t in tasks
            for s in store.read(t, "nadamw_grid").data_sources[t]
        }
    )
    print("   data:", ", ".join(sources))

    curves = read_store(args.store, space="nadamw_grid", tasks=tasks)
    print("2. learn on 2/3 of the tasks (valid_inner), evaluate on the rest (valid_outer), 3 folds")
    cv = cross_validate(curves, kfold_splits(curves.tasks, 3, seed=0), ks=(1, 3, 10), n_boot=200)
    pooled = cv.pooled(n_boot=200)  # every held-out task, scored by the list learned without it
    print(f"   {'k':>3} {'list loss':>10} {'random-search loss':>19} {'speedup':>8}")
    for i, k in enumerate(pooled.ks):
        capped = ">=" if pooled.speedup_capped[i] else ""
        print(
            f"   {k:>3} {pooled.list_loss[i]:>10.3f} {pooled.random_loss[i]:>19.3f} "
            f"{capped + format(pooled.speedup[i], '.1f'):>8}"
        )
    print(
        f"   speedup: random trials matching the list's mean loss over the {len(pooled.tasks)} "
        f"held-out tasks, / k; '>=': capped at the pool size ({pooled.pool_size}) / k"
    )

    print("3. the published opt_list vs a list learned on these tasks, same pool (valid_outer)")
    learned = learn_list(curves, length=10)
    scores = compute_scores(curves, "valid_outer")
    in_pool = [n for n in published.names if n in set(scores.config_names)]
    cmp = compare_lists(
        scores,
        {"opt_list": in_pool[:10], "learned (in-sample)": list(learned.names)},
        ks=(1, 3, 10),
        n_boot=200,
    )
    for name, ev in cmp.evaluations.items():
        losses = ", ".join(f"k={k}: {v:.3f}" for k, v in zip(ev.ks, ev.list_loss))
        print(f"   {name:<20} {losses}")
    out = Path(args.store) / "quickstart_list.json"
    learned.save(out)
    print(f"   learned list saved to {out}; done in {time.time() - t_start:.0f} s")
    print(json.dumps({"per_k": pooled.to_dict()["per_k"], "fold_summary": cv.summary()}))


if __name__ == "__main__":
    main()
