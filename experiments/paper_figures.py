"""Reproduce the paper's figures with one command, from a shipped suite, a store or TaskSet's curves.

    python experiments/paper_figures.py --out figures/                      # the shipped suite
    python experiments/paper_figures.py --out figures/ --suite taskset-torch-v1
    python experiments/paper_figures.py --out figures/ --store runs/mine    # your own, or curves
                                                                            # fetched by `download`
    python experiments/paper_figures.py --out figures/ --taskset-json ../shared/data/taskset_real

Every figure is a PNG with its numbers beside it as JSON (same stem), titled with the source and
its size. Held-out numbers are always on tasks the list was not learned on (lists are learned on
valid_inner and reported on valid_outer).

- ``search_spaces``: learned list vs exact random search (k-fold over tasks, pooled held-out
  tasks, 95% bootstrap intervals) and the speedup, one panel per search space side by side.
- ``family_generalization``: leave one family (or fixed kind) out: list vs random search at
  k = 1, 3, 10 on the family left out.
- ``normalized_loss_by_family``: how hard the suite is: the distribution of random configs'
  normalized loss per family.
- ``num_train_tasks``: the data-size ablation: held-out loss of a list learned on n tasks.
- ``list_hparams``: hyperparameters along the learned list and along the published opt_list.
- ``task_similarity``: tasks embedded by their normalized config losses (PCA), coloured by family.
- ``task_census``: parameter counts and seconds per step of the source's tasks, by family.
- ``transfer``: redrawn from experiments/results/transfer_*.csv when the transfer experiment ran.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from hparam_lists import (
    compute_scores,
    cross_validate,
    evaluate_list,
    kfold_splits,
    learn_list,
    load_list,
)
from hparam_lists.evaluate import task_family
from hparam_lists.importers import read_store, read_taskset_json
from hparam_lists.normalize import NORM_REFS

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "taskset_real"
DEFAULT_SUITES = ("taskset-torch-v1", "taskset-torch-mini")
SPACE_ORDER = ("adam1p_wide_grid", "adam4p_wide_grid", "adam6p_wide_grid", "adam8p_wide_grid")
SPACE_ORDER += ("nadamw_grid",)


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("figures need matplotlib: pip install 'taskset-torch[plots]'") from None
    return plt


def family_of(task: str) -> str:
    """A sampled task's family, or a fixed task's TaskSet module (``fixed_mlp``, ...)."""
    from taskset_torch.tasks.fixed import fixed_task_kind, is_fixed_task

    if is_fixed_task(task):
        return fixed_task_kind(task)
    return task_family(task)


def _hbox(ax, data, labels) -> None:
    """Horizontal box plot on every matplotlib version the plots extra allows."""
    try:
        ax.boxplot(data, orientation="horizontal", tick_labels=labels, showfliers=False)
    except TypeError:  # matplotlib < 3.10
        ax.boxplot(data, vert=False, labels=labels, showfliers=False)


def _save(fig, out: Path, stem: str, numbers: dict, source: str) -> dict:
    fig.tight_layout()
    fig.savefig(out / f"{stem}.png", dpi=110)
    _plt().close(fig)
    numbers = {"source": source, **numbers}
    (out / f"{stem}.json").write_text(json.dumps(numbers, indent=1, default=float))
    print(f"wrote {out / stem}.png (+ .json)")
    return numbers


# --- sources --------------------------------------------------------------------------------


def load_source(args) -> tuple[dict, str, Path | None]:
    """``{space: Curves}``, a label like ``suite taskset-torch-v1 (120 tasks)`` and the store
    root (None for TaskSet's JSON extract)."""
    if args.taskset_json is not None:
        curves = read_taskset_json(args.taskset_json)
        return (
            {"adam8p_wide_grid": curves},
            f"TaskSet's real curves ({len(curves.tasks)} tasks x {len(curves.config_names)} adam8p)",
            None,
        )
    if args.store:
        root, label = Path(args.store), f"store {args.store}"
    else:
        from taskset_torch.suite import load_suite

        # default: the paper-scale suite when shipped, else the small CPU suite
        names = [args.suite] if args.suite else list(DEFAULT_SUITES)
        root = None
        for name in names:
            try:
                root, label = load_suite(name).root, f"suite {name}"
                break
            except ValueError as e:
                error = e
        if root is None:
            if args.suite is None and REAL.is_dir():
                args.taskset_json = REAL
                return load_source(args)
            raise SystemExit(f"paper_figures: {error}") from None
    from taskset_torch.curves import CurveStore

    store = CurveStore(root)
    # "zero" holds the zero optimizer's reference curves, not a search space
    spaces = [s for s in store.spaces() if s != "zero"]
    spaces = sorted(spaces, key=lambda s: (SPACE_ORDER + (s,)).index(s))
    if args.spaces:
        spaces = [s for s in spaces if s in args.spaces.split(",")]
    if not spaces:
        raise SystemExit(f"paper_figures: {root} holds no curves (of the asked spaces)")
    out = {s: read_store(root, space=s) for s in spaces}
    n_tasks = len(set().union(*(c.tasks for c in out.values())))
    return out, f"{label} ({n_tasks} tasks)", root


def main_space(curves: dict) -> str:
    return (
        "nadamw_grid"
        if "nadamw_grid" in curves
        else max(curves, key=lambda s: len(curves[s].tasks))
    )


def _ks(n_configs: int) -> list[int]:
    return [k for k in (1, 2, 3, 5, 10, 20, 30, 50, 100) if k <= n_configs]


# --- figures --------------------------------------------------------------------------------


def search_spaces(
    curves: dict, out: Path, source: str, n_boot: int, seed: int, norm_ref: str
) -> dict:
    plt = _plt()
    spaces = [s for s in curves if len(curves[s].tasks) >= 2]
    if not spaces:
        print("search_spaces skipped: every space has fewer than 2 tasks")
        return {}
    fig, axes = plt.subplots(2, len(spaces), figsize=(3.6 * len(spaces), 6.4), squeeze=False)
    numbers = {}
    for j, space in enumerate(spaces):
        c = curves[space]
        ks = _ks(len(c.config_names))
        splits = kfold_splits(c.tasks, min(5, len(c.tasks)), seed=seed)
        cv = cross_validate(c, splits, ks=ks, n_boot=n_boot, seed=seed, norm_ref=norm_ref)
        ev = cv.pooled(n_boot=n_boot, seed=seed)
        a, b = axes[0, j], axes[1, j]
        a.plot(ev.ks, ev.list_loss, "o-", ms=3, label="learned list")
        a.fill_between(ev.ks, ev.list_ci[:, 0], ev.list_ci[:, 1], alpha=0.3)
        a.plot(ev.ks, ev.random_loss, "o-", ms=3, label="random search")
        a.fill_between(ev.ks, ev.random_ci[:, 0], ev.random_ci[:, 1], alpha=0.3)
        a.set(
            xscale="log",
            xlabel="trials k",
            title=f"{space}\n{len(c.tasks)} tasks x {len(c.config_names)} configs",
        )
        if j == 0:
            a.set_ylabel("held-out normalized loss")
            a.legend(fontsize=8)
        b.plot(ev.ks, ev.speedup, "o-", ms=3)
        b.fill_between(ev.ks, ev.speedup_ci[:, 0], ev.speedup_ci[:, 1], alpha=0.3)
        capped = np.asarray(ev.speedup_capped, bool)
        if capped.any():
            b.plot(ev.ks[capped], ev.speedup[capped], "v", color="red", label="capped at N/k")
            b.legend(fontsize=8)
        b.axhline(1, color="grey", lw=0.8)
        b.set(xscale="log", yscale="log", xlabel="trials k")
        if j == 0:
            b.set_ylabel("speedup vs random search")
        numbers[space] = {"pooled": ev.to_dict(), "folds": cv.summary()}
    fig.suptitle(f"learned list vs random search, held-out tasks — {source}", fontsize=9)
    return _save(fig, out, "search_spaces", numbers, source)


def family_generalization(c, out: Path, source: str, n_boot: int, seed: int, norm_ref: str) -> dict:
    fams = defaultdict(list)
    for t in c.tasks:
        fams[family_of(t)].append(t)
    if len(fams) < 2:
        print("family_generalization skipped: the curves hold one family")
        return {}
    from hparam_lists.evaluate import TaskSplit

    splits = [
        TaskSplit(name=f, train=tuple(t for t in c.tasks if family_of(t) != f), test=tuple(ts))
        for f, ts in sorted(fams.items())
    ]
    ks = [k for k in (1, 3, 10) if k <= len(c.config_names)]
    cv = cross_validate(c, splits, ks=ks, n_boot=n_boot, seed=seed, norm_ref=norm_ref)
    plt = _plt()
    fig, axes = plt.subplots(1, len(ks), figsize=(4.5 * len(ks), 0.35 * len(splits) + 1.8))
    axes = np.atleast_1d(axes)
    numbers = {}
    y = np.arange(len(splits))
    for i, (k, ax) in enumerate(zip(ks, axes)):
        lv = [f.evaluation.list_loss[i] for f in cv.folds]
        rv = [f.evaluation.random_loss[i] for f in cv.folds]
        lci = np.array([f.evaluation.list_ci[i] for f in cv.folds])
        ax.barh(
            y - 0.2, lv, 0.4, label="learned on other families", xerr=np.abs(lci.T - np.array(lv))
        )
        ax.barh(y + 0.2, rv, 0.4, label="random search")
        ax.set(
            yticks=y,
            yticklabels=[f"{s.name} ({len(s.test)})" for s in splits],
            xlabel=f"held-out normalized loss, k={k}",
        )
        if i == 0:
            ax.legend(fontsize=7, loc="lower right")
    for f in cv.folds:
        numbers[f.split.name] = f.evaluation.to_dict()
    fig.suptitle(f"leave one family out ({c.space}) — {source}", fontsize=9)
    return _save(fig, out, "family_generalization", numbers, source)


def normalized_loss_by_family(c, out: Path, source: str, norm_ref: str) -> dict:
    s = compute_scores(c, "valid_inner", norm_ref=norm_ref)
    fams = defaultdict(list)
    for i, t in enumerate(s.tasks):
        v = s.values[i].reshape(-1)
        fams[family_of(t)].extend(v[np.isfinite(v)].tolist())
    names = sorted(fams)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.6))
    _hbox(ax, [fams[n] for n in names], names)
    ax.set(xlabel=f"normalized loss of random configs (valid_inner, {c.space})", xlim=(0, 1))
    ax.set_title(source, fontsize=9)
    numbers = {
        n: {"n": len(fams[n]), "quartiles": np.percentile(fams[n], [25, 50, 75]).tolist()}
        for n in names
    }
    return _save(fig, out, "normalized_loss_by_family", numbers, source)


def num_train_tasks(c, out: Path, source: str, repeats: int, seed: int, norm_ref: str) -> dict:
    tasks = list(c.tasks)
    if len(tasks) < 4:
        print("num_train_tasks skipped: fewer than 4 tasks")
        return {}
    rng = np.random.default_rng(seed)
    learn = compute_scores(c, "valid_inner", norm_ref=norm_ref)
    report = compute_scores(c, "valid_outer", norm_ref=norm_ref)
    ks = [k for k in (1, 3, 10) if k <= len(c.config_names)]
    sizes = [n for n in (1, 2, 4, 8, 16, 32, 64, 128, 256) if n <= len(tasks) // 2]
    res = {k: defaultdict(list) for k in ks}
    from hparam_lists.lists import learn_list_from_scores

    for _ in range(repeats):
        perm = rng.permutation(len(tasks))
        held = [tasks[i] for i in perm[: len(tasks) // 2]]
        pool = [tasks[i] for i in perm[len(tasks) // 2 :]]
        for n in sizes:
            hl = learn_list_from_scores(c, learn, tasks=pool[:n], length=max(ks))
            ev = evaluate_list(
                report.select_tasks(held).complete(), [x for x in hl.names if x], ks=ks, n_boot=1
            )
            for i, k in enumerate(ks):
                res[k][n].append(float(ev.list_loss[i]))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    numbers = {}
    for k in ks:
        m = [np.mean(res[k][n]) for n in sizes]
        sd = [np.std(res[k][n]) / np.sqrt(len(res[k][n])) for n in sizes]
        ax.errorbar(sizes, m, yerr=sd, marker="o", ms=3, capsize=2, label=f"k={k}")
        numbers[f"k={k}"] = {
            str(n): {"mean": float(a), "sem": float(b)} for n, a, b in zip(sizes, m, sd)
        }
    ax.set(xscale="log", xlabel="training tasks", ylabel="held-out normalized loss (valid_outer)")
    ax.set_title(f"data-size ablation ({c.space}, {repeats} random halves) — {source}", fontsize=8)
    ax.legend()
    return _save(fig, out, "num_train_tasks", numbers, source)


def list_hparams(c, out: Path, source: str, norm_ref: str) -> dict:
    n = min(100, len(c.config_names))
    lists = {"learned on all tasks": learn_list(c, length=n, norm_ref=norm_ref)}
    if c.space == "nadamw_grid":
        lists["published opt_list"] = load_list("opt_list")
    fields: list[str] = []
    for hl in lists.values():
        for cfg in hl.configs[:1]:
            fields += [
                f for f, v in dict(cfg).items() if isinstance(v, float | int) and f not in fields
            ]
    plt = _plt()
    ncol = 3
    nrow = max(1, -(-len(fields) // ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(11, 2.6 * nrow), squeeze=False)
    numbers: dict = {}
    for ax, f in zip(axes.flat, fields):
        positive = False
        for label, hl in lists.items():
            v = np.array([float(dict(cfg).get(f, np.nan)) for cfg in hl.configs], float)
            name = f
            if f.startswith("beta"):
                v, name = 1 - v, f"1 - {f}"
            pos = np.arange(1, len(v) + 1)
            positive |= bool(np.any(v > 0))
            ax.scatter(pos, v, s=4, label=label)
            numbers.setdefault(label, {})[f] = v[:20].tolist()
        # log axes where the values are positive (zeros, e.g. no decay, then drop out)
        ax.set(xscale="log", yscale="log" if positive else "linear", xlabel="list position")
        ax.set_title(name)
    for ax in list(axes.flat)[len(fields) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"hyperparameters along the list ({c.space}) — {source}", fontsize=9)
    return _save(fig, out, "list_hparams", numbers, source)


def task_similarity(c, out: Path, source: str, norm_ref: str) -> dict:
    s = compute_scores(c, "valid_inner", norm_ref=norm_ref).complete()
    m = np.asarray(s.values, float).mean(axis=1)  # [task, config], replicas averaged
    keep = np.all(np.isfinite(m), axis=1)
    m, tasks = m[keep], [t for t, k in zip(s.tasks, keep) if k]
    if len(tasks) < 3:
        print("task_similarity skipped: fewer than 3 tasks with complete scores")
        return {}
    x = m - m.mean(axis=0)
    u, sv, _ = np.linalg.svd(x, full_matrices=False)
    xy = u[:, :2] * sv[:2]
    explained = (sv[:2] ** 2 / np.sum(sv**2)).tolist()
    fams = [family_of(t) for t in tasks]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 5))
    for f in sorted(set(fams)):
        idx = [i for i, g in enumerate(fams) if g == f]
        ax.scatter(xy[idx, 0], xy[idx, 1], s=14, label=f)
    ax.set(xlabel=f"PC1 ({explained[0]:.0%})", ylabel=f"PC2 ({explained[1]:.0%})")
    ax.legend(fontsize=6, ncol=2)
    ax.set_title(f"tasks by normalized config losses ({c.space}) — {source}", fontsize=8)
    numbers = {
        "explained_variance": explained,
        "tasks": {t: [float(a), float(b)] for t, (a, b) in zip(tasks, xy)},
    }
    return _save(fig, out, "task_similarity", numbers, source)


def task_census(root: Path, curves: dict, out: Path, source: str, build: bool) -> dict:
    """Parameter counts (by building each task) and seconds per step (measured while the curves
    were generated, one config's share of a vectorized step) per family or fixed kind."""
    from taskset_torch.curves import CurveStore

    store = CurveStore(root)
    rows: dict[str, dict] = {}
    for space, c in curves.items():
        for task in c.tasks:
            row = rows.setdefault(task, {"family": family_of(task)})
            if "seconds_per_step" not in row:
                tps = np.asarray(store.read(task, space).time_per_step, float)
                if np.isfinite(tps).any():
                    row["seconds_per_step"] = float(np.nanmedian(tps))
    if build:
        from taskset_torch.tasks.registry import build_task

        for task, row in rows.items():
            try:
                row["num_params"] = build_task(task).num_params()
            except Exception as e:  # noqa: BLE001 - a census lists what does not build
                row["error"] = f"{type(e).__name__}: {e}"
    fams = sorted({r["family"] for r in rows.values()})
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.32 * len(fams) + 1.8))
    for ax, key, label in (
        (axes[0], "num_params", "parameters"),
        (axes[1], "seconds_per_step", "seconds per step per config (from the curves)"),
    ):
        data = [[r[key] for r in rows.values() if r["family"] == f and key in r] for f in fams]
        if any(data):
            _hbox(ax, [d or [np.nan] for d in data], fams)
            ax.set(xscale="log", xlabel=label)
        else:
            ax.set(title=f"{label}: not available for this source")
    fig.suptitle(f"task census — {source}", fontsize=9)
    return _save(fig, out, "task_census", {"tasks": rows}, source)


def transfer_figure(out: Path, source_dir: Path) -> dict:
    files = sorted(source_dir.glob("*/trials.csv"))
    if not files:
        print(
            f"transfer skipped: no {source_dir}/<problem>/trials.csv (run experiments/transfer.py)"
        )
        return {}
    import pandas as pd

    plt = _plt()
    fig, axes = plt.subplots(1, len(files), figsize=(5.5 * len(files), 4), squeeze=False)
    numbers = {}
    for ax, f in zip(axes.flat, files):
        df = pd.read_csv(f)
        col = "best_so_far" if "best_so_far" in df else "best_loss"
        name = f.parent.name
        for method, g in df.groupby("method"):
            curve = g.groupby("trial")[col].agg(["mean", "std", "count"])
            x = curve.index.to_numpy() + 1  # trials are 0-based
            sem = curve["std"].fillna(0) / np.sqrt(curve["count"])
            ax.plot(x, curve["mean"], "o-", ms=3, label=method)
            ax.fill_between(x, curve["mean"] - sem, curve["mean"] + sem, alpha=0.2)
            numbers.setdefault(name, {})[method] = curve["mean"].tolist()
        ax.set(xlabel="trials", ylabel="best validation loss so far", title=name)
        ax.legend(fontsize=7)
    return _save(fig, out, "transfer", numbers, str(source_dir))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, default=Path("figures"))
    src = ap.add_mutually_exclusive_group()
    src.add_argument(
        "--suite",
        default=None,
        help="a packed suite (default: taskset-torch-v1 if shipped, else taskset-torch-mini)",
    )
    src.add_argument("--store", default=None, help="a curve store (yours or downloaded curves)")
    src.add_argument("--taskset-json", type=Path, default=None, help="TaskSet's JSON extract")
    ap.add_argument("--spaces", default=None, help="comma-separated spaces (default: all)")
    ap.add_argument("--n-boot", type=int, default=300, help="bootstrap samples over tasks")
    ap.add_argument("--repeats", type=int, default=10, help="random halves in the ablation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--norm-ref",
        choices=NORM_REFS,
        default="auto",
        help="normalization reference (auto: the zero optimizer's loss where stored, else step 0)",
    )
    ap.add_argument("--no-build", action="store_true", help="census without building tasks")
    ap.add_argument(
        "--transfer-results",
        type=Path,
        default=REPO / "experiments" / "results" / "transfer",
        help="where experiments/transfer.py wrote <problem>/trials.csv",
    )
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    curves, source, root = load_source(args)
    print(f"source: {source}; spaces: {', '.join(curves)}")
    numbers = {"source": source}
    nr = args.norm_ref
    numbers["norm_ref"] = nr
    numbers["search_spaces"] = search_spaces(curves, args.out, source, args.n_boot, args.seed, nr)
    c = curves[main_space(curves)]
    numbers["family_generalization"] = family_generalization(
        c, args.out, source, args.n_boot, args.seed, nr
    )
    numbers["normalized_loss_by_family"] = normalized_loss_by_family(c, args.out, source, nr)
    numbers["num_train_tasks"] = num_train_tasks(c, args.out, source, args.repeats, args.seed, nr)
    numbers["list_hparams"] = list_hparams(c, args.out, source, nr)
    numbers["task_similarity"] = task_similarity(c, args.out, source, nr)
    if root is not None:
        numbers["task_census"] = task_census(root, curves, args.out, source, not args.no_build)
    numbers["transfer"] = transfer_figure(args.out, args.transfer_results)
    (args.out / "numbers.json").write_text(json.dumps(numbers, indent=1, default=float))
    print(f"wrote {args.out / 'numbers.json'}")


if __name__ == "__main__":
    main(sys.argv[1:])
