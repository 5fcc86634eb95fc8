"""Figures without writing Python: a task's curves, and a list against random search.

Functions return a ``matplotlib.figure.Figure`` (no pyplot state, no display needed); save it
with ``fig.savefig(path)``. matplotlib is imported on first use (``pip install
'taskset-torch[plots]'``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from hparam_lists.evaluate import ListEvaluation
from taskset_torch.curves import Curves, split_index

__all__ = ["task_curves_figure", "list_vs_random_figure"]


def _figure(ncols: int, width: float) -> tuple[Any, list[Any]]:
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(
            f"figures need matplotlib ({e}): pip install 'taskset-torch[plots]'"
        ) from None
    fig = Figure(figsize=(width, 3.8), layout="tight")
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def task_curves_figure(
    curves: Curves,
    task: str,
    *,
    split: str = "valid_outer",
    list_entries: Sequence[str] = (),
    list_name: str = "list",
) -> Any:
    """The loss curves of one task on ``split`` (mean over seeds): the best config (lowest mean
    loss along the curve), the median config, every other config in grey, and the given list
    entries (those with curves) in order."""
    if task not in curves.tasks:
        raise ValueError(f"no curves for task {task!r}; tasks: {list(curves.tasks)[:10]}")
    vals = curves.values[curves.tasks.index(task), :, :, :, split_index(split, curves.splits)]
    with warnings.catch_warnings():  # configs never run are all-NaN: their mean is NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(vals, axis=1)  # [config, step]
        score = np.nanmean(mean, axis=1)
    ran = np.flatnonzero(np.isfinite(score))
    if len(ran) == 0:
        raise ValueError(f"task {task!r} has no finite curve on {split}")
    order = ran[np.argsort(score[ran], kind="stable")]
    best, median = order[0], order[len(order) // 2]
    fig, (ax,) = _figure(1, 6.5)
    steps = curves.steps
    for c in ran:
        ax.plot(steps, mean[c], color="0.85", lw=0.7, zorder=1)
    ax.plot(steps, mean[best], color="k", lw=2, label=f"best: {curves.config_names[best]}")
    ax.plot(steps, mean[median], color="0.4", lw=2, ls="--", label="median config")
    index = {n: i for i, n in enumerate(curves.config_names)}
    for i, name in enumerate(list_entries):
        if name in index and np.isfinite(score[index[name]]):
            ax.plot(steps, mean[index[name]], lw=1.5, label=f"{list_name}[{i}]")
    start = np.nanmedian(mean[ran, 0])
    low = np.nanmin(mean[ran])
    if np.isfinite(start) and np.isfinite(low) and start > low:  # diverged curves off the chart
        ax.set_ylim(low - 0.05 * (start - low), start + 0.3 * (start - low))
    ax.set(xlabel="step", ylabel=f"{split} loss (mean over seeds)", title=task)
    ax.legend(fontsize=7)
    return fig


def list_vs_random_figure(
    evaluation: ListEvaluation, *, title: str = "list vs random search"
) -> Any:
    """Normalized loss of the list's first k entries and of k random trials (with intervals),
    and the speedup; capped speedups (lower bounds at pool size / k) are drawn as open markers."""
    ev = evaluation
    fig, (a, b) = _figure(2, 10)
    pct = f"{100 * ev.ci_level:g}% CI"
    a.plot(ev.ks, ev.list_loss, marker=".", label="list")
    a.fill_between(ev.ks, ev.list_ci[:, 0], ev.list_ci[:, 1], alpha=0.3)
    a.plot(ev.ks, ev.random_loss, marker=".", label="random search (exact)")
    a.fill_between(ev.ks, ev.random_ci[:, 0], ev.random_ci[:, 1], alpha=0.3)
    a.set(
        xscale="log",
        xlabel="trials k",
        ylabel=f"normalized loss, {len(ev.tasks)} tasks ({ev.split})",
        title=f"{title} ({pct})",
    )
    a.legend()
    capped = np.asarray(ev.speedup_capped, dtype=bool)
    b.plot(ev.ks, ev.speedup, color="C0")
    b.fill_between(ev.ks, ev.speedup_ci[:, 0], ev.speedup_ci[:, 1], alpha=0.3)
    b.plot(ev.ks[~capped], ev.speedup[~capped], "o", color="C0", ms=4, label="speedup")
    if capped.any():
        b.plot(
            ev.ks[capped],
            ev.speedup[capped],
            "o",
            mfc="none",
            color="C3",
            ms=6,
            label=f"capped: >= pool size ({ev.pool_size}) / k",
        )
    b.axhline(1.0, color="0.5", lw=0.8, ls=":")
    b.set(
        xscale="log",
        yscale="log",
        xlabel="trials k",
        ylabel="random trials to match / k",
        title="speedup over random search",
    )
    b.legend(fontsize=8)
    return fig
