"""Fidelity: our curves against TaskSet's real curves, same task and same adam8p configs.

For each task of a directory of TaskSet curve files (the public ``<task>.json`` layout, row i =
``adam8p_wide_grid_seed<i>``, curves = means over 5 replicas), pick ``--configs`` configs spread
over the range of TaskSet's valid_inner loss at ``--steps`` (stratified by rank, seeded, the
diverging ones included as the worst stratum), train them with our task (resumable through the
curve store) and compare at the same steps:

- Spearman rank correlation over configs of the valid_inner loss at the last step, over all picked
  configs, over those that trained (TaskSet's loss below its step-0 loss) and over those that
  moved (``rho_mv``: TaskSet's final loss more than 1% off its step-0 loss, or diverged; a config
  that did not move is ordered by noise set by its runs' inits, which no other run reproduces); a non-finite loss
  ranks worst (ties share their mean rank); beside it ``ts_i/o``, TaskSet's own valid_inner vs
  valid_outer Spearman over the same configs (same runs, other eval data: the agreement eval
  noise alone allows, e.g. among configs stuck at chance);
- mean absolute and relative loss difference at steps 0, 1000, 2000, ... (configs finite in both);
- one figure per task: our final loss vs TaskSet's (one point per config) and both curves of 4.

Prints a table, then as its last line one JSON object
``{"tasks": {"<task>": {"spearman", "spearman_trained", "mae_last", ...}}, "median_spearman", ...}``.

    python experiments/fidelity_real.py --tasks FixedTextRNNClassification_imdb_patch32_GRU128_bs128 \
        --configs 32 --steps 2000 --eval-batches 50 [--device cuda] [--store runs/fidelity]

``--stand-in TASK`` trains TASK in place of every TaskSet task (a cheap check of the pipeline).
``--workers N`` trains N tasks at once, each in its own process (a CPU machine's cores, or
several tasks sharing one GPU), then reports on all of them.
Each finished unit (``--chunk`` configs) prints a progress line to stderr; an interrupted run
resumes from its last finished unit. ``--no-train`` trains nothing and reports on the picked
configs the store already holds (a long CPU run's interim result; ``n`` says how many).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import math
import multiprocessing as mp
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hparam_lists.importers import read_taskset_json
from taskset_torch.base import usable_cpus
from taskset_torch.curves import Curves, CurveStore
from taskset_torch.curves.io import atomic_write_text
from taskset_torch.runner import plan, run_units
from taskset_torch.training import TrainConfig

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "taskset_real"
SPACE = "adam8p_wide_grid"
TASKSET_EVAL_EVERY = 200  # the released curves' points: steps 0, 200, ..., 10000
VALID_INNER = 1
VALID_OUTER = 2  # the released JSON's "test" curves
MOVED_REL = 0.01  # a config "moved" when TaskSet's final loss is >1% off its step-0 loss
Trained = dict[str, tuple[int, float]]  # task -> (units trained, seconds)


def stratified_pick(final: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` config indices, one drawn uniformly from each of ``n`` equal rank strata of ``final``
    (non-finite = worst, so diverging configs form the top strata); sorted."""
    if not 1 <= n <= len(final):
        raise ValueError(f"--configs must be between 1 and {len(final)}, got {n}")
    key = np.where(np.isfinite(final), final, np.inf)
    order = np.argsort(key, kind="stable")
    edges = np.linspace(0, len(final), n + 1).round().astype(int)
    rng = np.random.default_rng(seed)
    picks = [order[rng.integers(lo, hi)] for lo, hi in zip(edges[:-1], edges[1:])]
    return np.sort(np.asarray(picks, dtype=np.int64))


def pick_seed(base: int, task: str) -> int:
    """The pick's seed for ``task``: from its name, so a task gets the same configs whether it
    runs alone (``--tasks T``, e.g. one job per task on a GPU) or among others."""
    return base + zlib.crc32(task.encode())


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties sharing their mean rank; non-finite values tie as the worst."""
    key = np.where(np.isfinite(x), x, np.inf)
    order = np.argsort(key, kind="stable")
    ranks = np.empty(len(x))
    sorted_key = key[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_key[j + 1] == sorted_key[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two loss vectors (non-finite = worst); NaN if either is constant."""
    if len(a) < 2:
        return math.nan
    ra, rb = _ranks(np.asarray(a, float)), _ranks(np.asarray(b, float))
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def differences(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float, int]:
    """(mean |ours - theirs|, mean |ours - theirs| / |theirs|, n) over configs finite in both."""
    ok = np.isfinite(ours) & np.isfinite(theirs)
    if not ok.any():
        return math.nan, math.nan, 0
    d = np.abs(ours[ok] - theirs[ok])
    return float(d.mean()), float((d / np.maximum(np.abs(theirs[ok]), 1e-12)).mean()), int(ok.sum())


def compare_task(ours: np.ndarray, theirs: np.ndarray, steps: np.ndarray) -> dict:
    """Metrics of one task. ``ours``/``theirs``: valid_inner ``[config, step]`` at ``steps``."""
    last_o, last_t = ours[:, -1], theirs[:, -1]
    trained = np.isfinite(last_t) & np.isfinite(theirs[:, 0]) & (last_t < theirs[:, 0])
    # Configs TaskSet's loss did not move (a tiny learning rate, a task stuck at chance) are ordered
    # by ~1e-3 drifts set by each run's inits: noise no other run reproduces. "Moved" = TaskSet's
    # final loss more than MOVED_REL from its step-0 loss, or non-finite (diverged).
    with np.errstate(invalid="ignore"):
        moved = ~np.isfinite(last_t) | (
            np.abs(last_t - theirs[:, 0]) > MOVED_REL * np.abs(theirs[:, 0])
        )
    at = [i for i, s in enumerate(steps) if s % 1000 == 0 or i == len(steps) - 1]
    diffs = {}
    for i in at:
        mae, rel, n = differences(ours[:, i], theirs[:, i])
        diffs[int(steps[i])] = {"mae": mae, "rel": rel, "n": n}
    mae_last = diffs[int(steps[-1])]["mae"]
    return {
        "n_configs": len(last_o),
        "spearman": spearman(last_o, last_t),
        "spearman_trained": spearman(last_o[trained], last_t[trained]),
        "n_trained": int(trained.sum()),
        "spearman_moved": spearman(last_o[moved], last_t[moved]),
        "n_moved": int(moved.sum()),
        "mae_last": mae_last,
        "rel_last": diffs[int(steps[-1])]["rel"],
        "diverged_ours": int((~np.isfinite(last_o)).sum()),
        "diverged_taskset": int((~np.isfinite(last_t)).sum()),
        "step0_ours": float(np.nanmedian(ours[:, 0])) if np.isfinite(ours[:, 0]).any() else None,
        "step0_taskset": float(np.nanmedian(theirs[:, 0])),
        "by_step": diffs,
    }


def figure(
    task: str,
    ours: np.ndarray,
    theirs: np.ndarray,
    steps: np.ndarray,
    path: Path,
    config_ids: np.ndarray,
) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("figures need matplotlib: pip install 'taskset-torch[plots]'") from None
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    ok = np.isfinite(ours[:, -1]) & np.isfinite(theirs[:, -1])
    a.scatter(theirs[ok, -1], ours[ok, -1], s=12)
    if ok.any():
        lo = min(theirs[ok, -1].min(), ours[ok, -1].min())
        hi = max(theirs[ok, -1].max(), ours[ok, -1].max())
        a.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    a.set(
        xscale="log",
        yscale="log",
        xlabel=f"TaskSet valid_inner loss at step {int(steps[-1])}",
        ylabel="ours",
        title=f"{int(ok.sum())}/{len(ok)} configs finite in both",
    )
    finite_t = np.flatnonzero(np.isfinite(theirs[:, -1]))
    if len(finite_t):
        order = finite_t[np.argsort(theirs[finite_t, -1])]
        show = order[np.linspace(0, len(order) - 1, min(4, len(order))).round().astype(int)]
        for j, c in enumerate(dict.fromkeys(show.tolist())):
            color = f"C{j}"
            b.plot(steps, theirs[c], color=color, label=f"seed{config_ids[c]}: TaskSet")
            b.plot(steps, ours[c], color=color, ls="--", label="ours")
    b.set(yscale="log", xlabel="step", ylabel="valid_inner loss", title=task[:60])
    b.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def nan_to_none(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [nan_to_none(v) for v in obj]
    return obj


def fmt_cell(x) -> str:
    """A table cell: 3 decimals, scientific past 1e5 (an exploded config's loss stays a column)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "nan"
    return f"{x:.3g}" if abs(x) >= 1e5 else f"{x:.3f}"


# The rank columns of a task's row, shared with fidelity_combine.py's table.
RANK_HEAD = f"{'n':>3} {'rho':>6} {'rho_tr':>6} {'n_tr':>4} {'rho_mv':>6} {'n_mv':>4} {'ts_i/o':>6}"


def rank_cells(r: dict) -> str:
    """``r``'s cells under :data:`RANK_HEAD` (a summary row; a missing field prints as nan/-)."""
    return (
        f"{r['n_configs']:>3} {fmt_cell(r.get('spearman')):>6} "
        f"{fmt_cell(r.get('spearman_trained')):>6} {r.get('n_trained', '-'):>4} "
        f"{fmt_cell(r.get('spearman_moved')):>6} {r.get('n_moved', '-'):>4} "
        f"{fmt_cell(r.get('spearman_taskset_inner_outer')):>6}"
    )


def _unit_progress(task: str, n_units: int, t0: float, bar) -> Callable:
    """``on_unit`` callback: one line per finished or skipped unit (elapsed time), written above
    the step bar ``bar``, which a skipped unit advances by its steps."""
    done = [0]

    def report(unit, skipped: bool) -> None:
        done[0] += 1
        if skipped:
            bar.update(bar.total // n_units)
        what = "already in the store" if skipped else "trained"
        bar.write(
            f"[{time.time() - t0:7.0f}s] {task}: unit {done[0]}/{n_units} "
            f"({len(unit.config_seeds)} configs, seed {unit.seed}) {what}",
            file=sys.stderr,
        )

    return report


def _held_curves(
    store: CurveStore, task: str, picked: np.ndarray, steps: np.ndarray, n_seeds: int
) -> tuple[np.ndarray, np.ndarray, list] | None:
    """(positions in ``picked`` that the store holds for seeds 0..n_seeds-1, their valid_inner
    curves ``[config, seed, step]`` at ``steps``, the data sources), or None when it holds none
    of them."""
    if task not in store.tasks(SPACE):
        return None
    curves = store.read(task, SPACE)
    if not set(steps.tolist()) <= set(curves.steps.tolist()):
        raise ValueError(f"{task}: the store's curves do not reach step {int(steps[-1])}")
    if not set(range(n_seeds)) <= set(curves.seeds):
        return None
    seed_pos = [list(curves.seeds).index(s) for s in range(n_seeds)]
    step_pos = [curves.steps.tolist().index(s) for s in steps]
    index = {n: i for i, n in enumerate(curves.config_names)}
    have, rows = [], []
    for i, c in enumerate(picked):
        row = index.get(f"{SPACE}_seed{c}")
        if row is not None and curves.present[0, row, seed_pos].all():
            have.append(i)
            rows.append(row)
    if not have:
        return None
    mine = curves.values[0][rows][:, seed_pos][:, :, step_pos, VALID_INNER]
    return np.asarray(have), mine.astype(np.float64), curves.data_sources.get(task, [])


def _train_task(argv: list[str], threads: int) -> tuple[Trained, str | None]:
    """:func:`_train_all` in a worker process, for the tasks ``argv`` names."""
    import torch

    torch.set_num_threads(threads)
    args, real = _setup(argv)
    return _train_all(args, real)


def _train_in_processes(
    raw_argv: list[str], tasks: list[str], workers: int
) -> tuple[Trained, list[str]]:
    """Train ``tasks`` ``workers`` at a time, each in a spawned process on that task alone;
    ({task: (units trained, seconds)}, the errors)."""
    workers = min(workers, len(tasks))
    threads = max(1, usable_cpus() // workers)
    ctx = mp.get_context("spawn")  # a fresh interpreter: no torch thread pool crosses a fork
    trained: Trained = {}
    errors = []
    with cf.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        jobs = [pool.submit(_train_task, [*raw_argv, "--tasks", t], threads) for t in tasks]
        for job in cf.as_completed(jobs):
            done, error = job.result()
            trained.update(done)
            errors += [error] if error else []
    return trained, errors


def _picked(args: argparse.Namespace, real: Curves, t: int) -> np.ndarray:
    """Task ``t``'s picked config indices: stratified by TaskSet's valid_inner at ``--steps``."""
    final = real.values[t, :, 0, args.steps // TASKSET_EVAL_EVERY, VALID_INNER]
    return stratified_pick(
        final.astype(np.float64), args.configs, pick_seed(args.pick_seed, real.tasks[t])
    )


def _train_all(args: argparse.Namespace, real: Curves) -> tuple[Trained, str | None]:
    """Train what the store lacks of every task's picked configs; ({task: (units trained,
    seconds)}, the first error or None)."""
    store = CurveStore(args.store)
    cfg = TrainConfig(
        training_steps=args.steps,
        eval_every=TASKSET_EVAL_EVERY,
        eval_batches=args.eval_batches,
        device=args.device,
        independent=args.independent,
    )
    trained: Trained = {}
    for t, task in enumerate(real.tasks):
        ours_task = args.stand_in or task
        seeds = list(range(args.seeds))
        units = plan([ours_task], SPACE, _picked(args, real, t).tolist(), seeds, args.chunk)
        t0 = time.time()
        try:
            computed = _train_units(task, units, store, cfg, t0)
        except (KeyError, ValueError) as e:
            return trained, f"{task}: cannot train {ours_task!r}: {e}"
        trained[task] = (computed, round(time.time() - t0, 1))
    return trained, None


def _train_units(task: str, units: list, store: CurveStore, cfg: TrainConfig, t0: float) -> int:
    """Train what the store lacks of ``units`` under a step bar; how many units were trained."""
    # A refresh every 30 s at most: a log file gets a readable line, not a flood.
    with tqdm(
        total=len(units) * cfg.training_steps, unit="step", desc=task[-40:], mininterval=30
    ) as bar:
        on_unit = _unit_progress(task, len(units), t0, bar)
        return run_units(units, store, cfg, on_step=bar.update, on_unit=on_unit)


def _report(results: dict[str, dict], args: argparse.Namespace) -> dict:
    """Print the table, write ``<store>/fidelity.json`` (with the details); the JSON summary."""
    spears = [r["spearman"] for r in results.values()]
    median = float(np.nanmedian(spears)) if np.isfinite(spears).any() else math.nan
    by = [int(s) for s in next(iter(results.values()))["by_step"]]
    head = f"{'task':<58} {RANK_HEAD}"
    head += "".join(f" {'mae@' + str(s):>9}" for s in by) + f" {'rel_last':>8} {'div o/t':>7}"
    print(
        f"fidelity: {len(results)} tasks, {args.configs} {SPACE} configs each, {args.steps} steps, "
        f"{args.eval_batches} eval batches, {args.seeds} seed(s), device {args.device}, "
        f"randomness {'independent' if args.independent else 'shared'}"
    )
    print(head)
    for task, r in results.items():
        line = f"{task[:58]:<58} {rank_cells(r)}"
        line += "".join(f" {fmt_cell(r['by_step'][s]['mae']):>9}" for s in by)
        line += f" {fmt_cell(r['rel_last']):>8} {r['diverged_ours']:>3}/{r['diverged_taskset']:<3}"
        print(line)
    summary = {
        "tasks": {
            t: {
                "spearman": r["spearman"],
                "spearman_trained": r["spearman_trained"],
                "spearman_moved": r["spearman_moved"],
                "n_moved": r["n_moved"],
                "spearman_taskset_inner_outer": r["spearman_taskset_inner_outer"],
                "mae_last": r["mae_last"],
                "rel_last": r["rel_last"],
                "n_trained": r["n_trained"],
                "n_configs": r["n_configs"],
                "step0_ours": r["step0_ours"],
                "step0_taskset": r["step0_taskset"],
            }
            for t, r in results.items()
        },
        "median_spearman": median,
        "protocol": {
            "steps": args.steps,
            "configs": args.configs,
            "eval_batches": args.eval_batches,
            "seeds": args.seeds,
            "device": args.device,
            "randomness": "independent" if args.independent else "shared",
        },
    }
    args.store.mkdir(parents=True, exist_ok=True)
    details = json.dumps(nan_to_none({**summary, "details": results}), indent=1)
    atomic_write_text(args.store / "fidelity.json", details)
    return summary


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--taskset-json", type=Path, default=DEFAULT_DATA, help="dir of <task>.json")
    p.add_argument("--tasks", help="comma-separated task names (default: every file)")
    p.add_argument("--configs", type=int, default=32, help="configs per task (default 32)")
    p.add_argument("--steps", type=int, default=2000, help="training steps (10000 = TaskSet's)")
    p.add_argument("--eval-batches", type=int, default=50, help="batches per evaluation point")
    p.add_argument("--seeds", type=int, default=1, help="our replicas per config (TaskSet: 5)")
    p.add_argument("--pick-seed", type=int, default=0, help="seed of the stratified config pick")
    p.add_argument("--store", type=Path, default=Path("runs/fidelity"), help="curve store")
    p.add_argument("--chunk", type=int, default=32, help="configs trained together")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--independent", action="store_true", help="per-config init and batches")
    p.add_argument("--figures", type=Path, help="figure directory (default: <store>/figures)")
    p.add_argument("--stand-in", help="train this task in place of every TaskSet task")
    p.add_argument(
        "--no-train",
        action="store_true",
        help="train nothing: report on the picked configs the store already holds",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="tasks trained at once, each in its own process with usable CPUs / workers threads",
    )
    return p


def _setup(argv: list[str]) -> tuple[argparse.Namespace, Curves]:
    """Parsed and checked arguments and TaskSet's curves of the chosen tasks (usage errors exit)."""
    p = _parser()
    args = p.parse_args(argv)
    if args.steps < TASKSET_EVAL_EVERY or args.steps % TASKSET_EVAL_EVERY:
        p.error(f"--steps must be a positive multiple of {TASKSET_EVAL_EVERY} (TaskSet's points)")
    if args.seeds < 1:
        p.error("--seeds must be >= 1")
    if args.workers < 1:
        p.error("--workers must be >= 1")
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            p.error("--device cuda was asked for but torch sees no CUDA device")
    tasks = [t for t in args.tasks.split(",") if t] if args.tasks else None
    try:
        real = read_taskset_json(args.taskset_json, tasks=tasks, space=SPACE)
    except (OSError, ValueError) as e:
        p.error(str(e))
    if args.steps // TASKSET_EVAL_EVERY >= real.values.shape[3]:
        p.error(f"--steps {args.steps} is past TaskSet's last point ({real.steps[-1]})")
    return args, real


def main(argv: list[str] | None = None) -> int:
    raw_argv = list(sys.argv[1:] if argv is None else argv)
    args, real = _setup(raw_argv)
    trained: Trained = {}
    if not args.no_train:
        # (A stand-in is one task for all: its units are trained once, here.)
        if args.workers > 1 and not args.stand_in and len(real.tasks) > 1:
            trained, errors = _train_in_processes(raw_argv, list(real.tasks), args.workers)
        else:
            trained, error = _train_all(args, real)
            errors = [error] if error else []
        if errors:
            print("\n".join(errors), file=sys.stderr)
            return 2
    store = CurveStore(args.store)
    fig_dir = args.figures or args.store / "figures"
    steps = np.arange(0, args.steps + 1, TASKSET_EVAL_EVERY)
    at = steps // TASKSET_EVAL_EVERY
    results: dict[str, dict] = {}
    for t, task in enumerate(real.tasks):
        picked = _picked(args, real, t)
        ours_task = args.stand_in or task
        try:
            held = _held_curves(store, ours_task, picked, steps, args.seeds)
        except ValueError as e:  # curves of another protocol (e.g. fewer steps)
            print(f"{task}: {e}", file=sys.stderr)
            return 2
        if held is None:
            print(f"{task}: the store holds none of its picked configs yet", file=sys.stderr)
            continue
        have, mine, sources = held
        ours = mine.mean(axis=1)  # over seeds; a diverged replica makes the mean NaN (TaskSet's)
        theirs = real.values[t, picked[have], 0][:, at, VALID_INNER].astype(np.float64)
        res = compare_task(ours, theirs, steps)
        # TaskSet against itself: its valid_inner vs valid_outer ranks of the same runs. Only the
        # evaluation data differs, so this bounds what eval noise alone lets any rho reach.
        outer = real.values[t, picked[have], 0, at[-1], VALID_OUTER].astype(np.float64)
        computed, train_s = trained.get(task, (0, 0.0))
        res.update(
            spearman_taskset_inner_outer=spearman(theirs[:, -1], outer),
            trained_here=computed,
            wall_s=train_s,
            ours_task=ours_task,
            data_sources=sources,
        )
        results[task] = res
        figure(task, ours, theirs, steps, fig_dir / f"{task}.png", picked[have])

    if not results:
        print("no task has curves in the store: nothing to report", file=sys.stderr)
        return 1
    summary = _report(results, args)
    print(json.dumps(nan_to_none(summary)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
