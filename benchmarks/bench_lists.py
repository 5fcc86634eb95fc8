"""Benchmark: greedy list learning and exact random search at TaskSet scale, vs plain Python loops.

Synthetic curves of 1000 tasks x 1000 configs x 51 steps (seeded). Times (a) normalizing the
curves into scores, (b) learning a 100-entry list (target <= 5 s, normalization included), and
(c) the exact expected best-of-k of random search for k = 1..1000 on every task (target <= 2 s).
The Python-loop references are timed on a subset (a few greedy steps / a few values of k) and
extrapolated linearly, which is said in the table. Prints a table, then one JSON line.

    python benchmarks/bench_lists.py [--tasks 1000] [--configs 1000] [--steps 51] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from hparam_lists.greedy import greedy_list
from hparam_lists.normalize import compute_scores
from hparam_lists.random_search import expected_best_of_k
from hparam_lists.synthetic import synthetic_curves


def python_greedy(scores: list[list[float]], n_steps: int) -> list[int]:
    """Greedy TaskSet objective with Python loops over candidates and tasks."""
    n_tasks, n_configs = len(scores), len(scores[0])
    best = [math.inf] * n_tasks
    chosen: list[int] = []
    for _ in range(n_steps):
        pick, pick_value = -1, math.inf
        for c in range(n_configs):
            if c in chosen:
                continue
            total = 0.0
            for t in range(n_tasks):
                v = scores[t][c]
                total += v if v < best[t] else best[t]
            if total / n_tasks < pick_value:
                pick, pick_value = c, total / n_tasks
        chosen.append(pick)
        best = [min(best[t], scores[t][pick]) for t in range(n_tasks)]
    return chosen


def python_random_search(scores: list[list[float]], ks: list[int]) -> list[list[float]]:
    """E[best of k] per task with exact binomials (math.comb) and Python sums."""
    n = len(scores[0])
    sorted_rows = [sorted(row) for row in scores]
    out = []
    for k in ks:
        total = math.comb(n, k)
        weights = [math.comb(n - i, k - 1) / total for i in range(1, n + 1)]
        out.append([sum(w * s for w, s in zip(weights, row)) for row in sorted_rows])
    return out


def _time(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--configs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=51)
    parser.add_argument("--length", type=int, default=100, help="list length to learn")
    parser.add_argument("--loop-greedy-steps", type=int, default=3)
    parser.add_argument("--loop-ks", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    t_gen, curves = _time(
        lambda: synthetic_curves(
            args.tasks, args.configs, n_steps=args.steps, splits=("valid_inner",), seed=args.seed
        )
    )
    t_norm, scores = _time(lambda: compute_scores(curves, "valid_inner"))
    t_greedy, result = _time(lambda: greedy_list(scores, length=args.length))
    matrix = scores.matrix()
    t_random, curve = _time(lambda: expected_best_of_k(matrix))

    as_lists = matrix.tolist()
    n_loop = min(args.loop_greedy_steps, args.length)
    t_loop_g, loop_list = _time(lambda: python_greedy(as_lists, n_loop))
    if loop_list != result.indices[:n_loop].tolist():
        raise SystemExit(f"Python greedy disagrees: {loop_list} vs {result.indices[:n_loop]}")
    loop_greedy_full = t_loop_g * args.length / n_loop

    ks = np.unique(np.linspace(1, args.configs, args.loop_ks).round().astype(int)).tolist()
    t_loop_r, loop_curve = _time(lambda: python_random_search(as_lists, ks))
    np.testing.assert_allclose(np.array(loop_curve).T, curve[:, np.array(ks) - 1], rtol=1e-9)
    loop_random_full = t_loop_r * args.configs / len(ks)

    learn = t_norm + t_greedy
    rows = [
        ("synthetic curves (setup)", t_gen, None, ""),
        ("normalize -> scores", t_norm, None, ""),
        (f"greedy list, {args.length} entries", t_greedy, loop_greedy_full,
         f"loop timed on {n_loop} of {args.length} steps, x{args.length / n_loop:.1f}"),
        ("learn total (normalize + greedy)", learn, None, "target <= 5 s"),
        (f"exact random search, k=1..{args.configs}", t_random, loop_random_full,
         f"loop timed on {len(ks)} of {args.configs} k, x{args.configs / len(ks):.1f}; target <= 2 s"),
    ]  # fmt: skip
    size = f"{args.tasks} tasks x {args.configs} configs x {args.steps} steps"
    print(f"bench_lists: {size} (seed {args.seed})")
    print(f"{'what':<40} {'seconds':>9} {'python loop s':>14} {'ratio':>8}  note")
    for name, t, loop, note in rows:
        loop_s = f"{loop:14.1f}" if loop is not None else f"{'':>14}"
        ratio = f"{loop / t:8.0f}" if loop is not None else f"{'':>8}"
        print(f"{name:<40} {t:9.3f} {loop_s} {ratio}  {note}")
    print(
        json.dumps(
            {
                "tasks": args.tasks,
                "configs": args.configs,
                "steps": args.steps,
                "list_length": args.length,
                "normalize_s": round(t_norm, 4),
                "greedy_s": round(t_greedy, 4),
                "learn_total_s": round(learn, 4),
                "learn_target_met": learn <= 5.0,
                "greedy_python_loop_s_extrapolated": round(loop_greedy_full, 2),
                "greedy_ratio": round(loop_greedy_full / t_greedy, 1),
                "random_search_s": round(t_random, 4),
                "random_search_target_met": t_random <= 2.0,
                "random_search_python_loop_s_extrapolated": round(loop_random_full, 2),
                "random_search_ratio": round(loop_random_full / t_random, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
