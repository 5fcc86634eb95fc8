"""Reporting for the transfer harness: best-so-far summaries, a markdown table, the figure, files."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["summarize_transfer", "summary_markdown", "plot_transfer", "save_transfer"]


def summarize_transfer(df: Any, ks: Sequence[int] = (1, 3, 10)) -> Any:
    """Best-so-far loss after k trials per method: mean, min and max over seeds, and n seeds.

    A seed counts only once it has run k trials; ``n_seeds`` says how many did.
    """
    import pandas as pd

    out = []
    methods = list(dict.fromkeys(df["method"]))
    for m in methods:
        sub = df[df["method"] == m]
        for k in ks:
            at = sub[sub["trial"] == k - 1]["best_so_far"].astype(float).to_numpy()
            row = {"method": m, "k": int(k), "n_seeds": int(at.size)}
            if at.size:
                row.update(mean=float(np.mean(at)), min=float(np.min(at)), max=float(np.max(at)))
            else:
                row.update(mean=math.nan, min=math.nan, max=math.nan)
            out.append(row)
    return pd.DataFrame(out, columns=["method", "k", "n_seeds", "mean", "min", "max"])


def plot_transfer(df: Any, path: str | os.PathLike, *, title: str = "") -> Path:
    """Best-so-far validation loss vs trials: mean over seeds and min-max band, per method."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("figures need matplotlib: pip install taskset-torch[plots]") from e
    path = Path(path)
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for m in dict.fromkeys(df["method"]):
        sub = df[df["method"] == m]
        table = sub.pivot(index="trial", columns="seed", values="best_so_far").astype(float)
        table = table.replace(np.inf, np.nan)
        x = table.index.to_numpy() + 1
        (line,) = ax.plot(x, table.mean(axis=1), marker="o", ms=3, label=m)
        ax.fill_between(x, table.min(axis=1), table.max(axis=1), color=line.get_color(), alpha=0.2)
    ax.set_xlabel("number of trials")
    ax.set_ylabel("best validation loss so far")
    ax.set_xscale("log")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def summary_markdown(summary: Any, *, digits: int = 4) -> str:
    """The summary as a markdown table: one row per method, ``mean [min, max] (n)`` per k."""
    ks = sorted(set(int(k) for k in summary["k"]))
    lines = ["| method | " + " | ".join(f"k = {k}" for k in ks) + " |"]
    lines.append("|---" * (len(ks) + 1) + "|")
    for m in dict.fromkeys(summary["method"]):
        cells = []
        for k in ks:
            r = summary[(summary["method"] == m) & (summary["k"] == k)].iloc[0]
            if r["n_seeds"] == 0:
                cells.append("-")
            else:
                f = f"{{:.{digits}f}}"
                cells.append(
                    f"{f.format(r['mean'])} [{f.format(r['min'])}, {f.format(r['max'])}] "
                    f"(n={int(r['n_seeds'])})"
                )
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def save_transfer(
    df: Any,
    out_dir: str | os.PathLike,
    *,
    info: Mapping[str, Any] | None = None,
    ks: Sequence[int] = (1, 3, 10),
    figure: bool = True,
) -> dict[str, Path]:
    """Write ``trials.csv`` (+ ``trials.parquet`` when pyarrow is installed), ``summary.csv``,
    ``summary.md``, ``info.json`` and ``best_so_far.png``, each atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}

    def atomic(name: str, write: Callable[[Path], None]) -> None:
        path = out / name
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
        write(tmp)
        os.replace(tmp, path)
        paths[name] = path

    summary = summarize_transfer(df, ks)
    atomic("trials.csv", lambda p: df.to_csv(p, index=False))
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        atomic("trials.parquet", lambda p: df.to_parquet(p, index=False))
    atomic("summary.csv", lambda p: summary.to_csv(p, index=False))
    atomic("summary.md", lambda p: p.write_text(summary_markdown(summary)))
    atomic("info.json", lambda p: p.write_text(json.dumps(dict(info or {}), indent=1) + "\n"))
    if figure and len(df):
        title = str((info or {}).get("problem", ""))
        paths["best_so_far.png"] = plot_transfer(df, out / "best_so_far.png", title=title)
    return paths
