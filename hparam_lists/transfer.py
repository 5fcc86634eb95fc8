"""Does a list help on *your* problem? Compare search methods on any PyTorch training function.

``train_fn(make_optimizer, seed)`` trains the user's model with the optimizer that
``make_optimizer(params, training_steps)`` returns (its schedule built in) and returns the
validation loss, ``(loss, metric)`` or ``{"loss": ..., "metric": ...}``. Every method proposes k
trials per seed; a seed fixes the model init and data order (the same seed for every method, so
methods are compared on common random numbers), and random methods redraw their configs per seed.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hparam_lists.transfer_methods import (
    ADAM_LR_GRID,
    METHOD_NAMES,
    AdamLRSweep,
    ListMethod,
    Method,
    OptunaTPE,
    RandomSearch,
    Spec,
    default_methods,
    make_method,
    make_optimizer_factory,
)
from hparam_lists.transfer_report import (
    paired_differences,
    plot_transfer,
    save_transfer,
    summarize_transfer,
    summary_markdown,
)
from taskset_torch.curves.io import atomic_write_text

__all__ = [
    "ADAM_LR_GRID",
    "METHOD_NAMES",
    "Method",
    "ListMethod",
    "AdamLRSweep",
    "RandomSearch",
    "OptunaTPE",
    "default_methods",
    "make_method",
    "make_optimizer_factory",
    "evaluate_transfer",
    "best_so_far",
    "summarize_transfer",
    "paired_differences",
    "plot_transfer",
    "summary_markdown",
    "save_transfer",
]

TrainFn = Callable[[Callable[[Any, int], Any], int], Any]


def _spec_key(spec: Mapping[str, Any], seed: int) -> str:
    return json.dumps({"spec": spec, "seed": int(seed)}, sort_keys=True)


def _as_result(value: Any) -> tuple[float, float]:
    """(loss, metric) from what a train_fn returned; metric NaN when absent."""
    if isinstance(value, Mapping):
        if "loss" not in value:
            raise ValueError(f"train_fn returned a mapping without 'loss': {sorted(value)}")
        return float(value["loss"]), float(value.get("metric", math.nan))
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"train_fn returned {len(value)} values; give loss or (loss, metric)")
        return float(value[0]), float(value[1])
    try:
        return float(value), math.nan
    except (TypeError, ValueError):
        raise TypeError(
            f"train_fn must return a loss, (loss, metric) or a dict; got {type(value).__name__}"
        ) from None


def _run_trial(train_fn: TrainFn, spec: Spec, seed: int) -> dict[str, Any]:
    start = time.perf_counter()
    loss, metric = _as_result(train_fn(make_optimizer_factory(spec), int(seed)))
    return {"loss": loss, "metric": metric, "seconds": time.perf_counter() - start}


def _json_float(x: float) -> float | str:
    return x if math.isfinite(x) else repr(x)  # "nan" / "inf" survive strict JSON


def _read_float(x: Any) -> float:
    return float(x)


class _Cache:
    """One JSON file per (method, seed, trial) under ``root``, written atomically."""

    def __init__(self, root: str | os.PathLike | None, problem: str):
        self.root = None if root is None else Path(root)
        if self.root is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        meta = self.root / "problem.json"
        if meta.exists():
            stored = json.loads(meta.read_text()).get("problem")
            if stored != problem:
                raise ValueError(
                    f"cache_dir {self.root} holds trials of problem {stored!r}, not {problem!r}; "
                    "use a separate cache_dir per problem"
                )
        else:
            self._write(meta, {"problem": problem})

    @staticmethod
    def _write(path: Path, data: Mapping[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(data, sort_keys=True, allow_nan=False))

    def path(self, method: str, seed: int, trial: int) -> Path:
        assert self.root is not None
        return self.root / method / f"seed{seed}" / f"trial{trial:04d}.json"

    def get(self, method: str, seed: int, trial: int, spec: Spec) -> dict[str, Any] | None:
        if self.root is None:
            return None
        p = self.path(method, seed, trial)
        if not p.exists():
            return None
        data = json.loads(p.read_text())
        if data["spec"] != json.loads(json.dumps(spec)):
            raise ValueError(
                f"{p} holds a different trial ({data['spec']}) than {method} now proposes "
                f"({spec}); the method changed since it was cached: use a new cache_dir"
            )
        return {k: _read_float(data[k]) for k in ("loss", "metric", "seconds")}

    def all_results(self) -> Iterable[tuple[str, dict[str, Any]]]:
        """(spec-seed key, result) of every cached trial, to reuse identical trials."""
        if self.root is None:
            return
        for p in sorted(self.root.glob("*/seed*/trial*.json")):
            data = json.loads(p.read_text())
            res = {k: _read_float(data[k]) for k in ("loss", "metric", "seconds")}
            yield _spec_key(data["spec"], data["seed"]), res

    def put(self, method: str, seed: int, trial: int, spec: Spec, res: Mapping[str, Any]) -> None:
        if self.root is None:
            return
        data = {"method": method, "seed": seed, "trial": trial, "spec": spec}
        data.update({k: _json_float(float(res[k])) for k in ("loss", "metric", "seconds")})
        self._write(self.path(method, seed, trial), data)


@dataclass
class _Stream:
    """The trials of one (method, seed), proposed in order."""

    method: Method
    seed: int
    k: int
    order: int
    plan: list[Spec] | None = None
    session: Any = None
    next_trial: int = 0
    in_flight: bool = False

    def __post_init__(self) -> None:
        if self.method.adaptive:
            self.session = self.method.session(self.k, self.seed)
        else:
            self.plan = self.method.plan(self.k, self.seed)

    def ready(self) -> bool:
        if self.next_trial >= self.k:
            return False
        return not (self.method.adaptive and self.in_flight)

    def propose(self) -> Spec:
        return self.session.ask() if self.method.adaptive else self.plan[self.next_trial]

    def tell(self, loss: float) -> None:
        if self.method.adaptive:
            self.session.tell(loss)


def evaluate_transfer(
    train_fn: TrainFn,
    methods: Sequence[Method | str] | None = None,
    *,
    k: int = 10,
    seeds: int | Sequence[int] = 3,
    budget: float | None = None,
    backend: str = "local",
    cache_dir: str | os.PathLike | None = None,
    problem: str | None = None,
    order: str = "trial",
    progress: bool = False,
    ray_address: str | None = None,
) -> Any:
    """Run every method's first ``k`` trials for every seed; a DataFrame with one row per trial.

    Columns: method, seed, trial (0-based), hparams (JSON), loss, metric, best_so_far (lowest
    finite loss of trials 0..trial of that method and seed; inf until one is finite), seconds,
    reused. ``seeds``: a count (0..n-1) or explicit seeds. ``budget``: seconds after which no new
    trial starts (the rows run so far are returned; rerun with the same ``cache_dir`` to go on).
    ``order="trial"`` runs trial 0 of every method and seed, then trial 1, ...: a stopped run
    leaves every method with the same number of trials. ``order="seed"`` finishes all k trials of
    every method for one seed before the next seed: a stopped run leaves complete curves for fewer
    seeds. ``backend="ray"`` runs the
    ready trials in parallel (TPE stays sequential within a seed). With ``cache_dir``, each
    (method, seed, trial) result is a JSON file and is never computed twice; a trial equal to one
    already run (same optimizer and seed, e.g. the same Adam learning rate in both sweep orders)
    is reused rather than trained again.
    """
    import pandas as pd

    if order not in ("trial", "seed"):
        raise ValueError(f"order must be 'trial' or 'seed', got {order!r}")
    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise ValueError(f"seeds must be a positive count or distinct ints, got {seeds!r}")
    methods = default_methods() if methods is None else list(methods)
    methods = [make_method(m) if isinstance(m, str) else m for m in methods]
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"method names must be distinct, got {names}")
    problem = (
        problem or getattr(train_fn, "name", None) or getattr(train_fn, "__name__", "train_fn")
    )
    cache = _Cache(cache_dir, str(problem))
    memo = dict(cache.all_results())
    streams = [_Stream(m, s, k, order) for order, m in enumerate(methods) for s in seed_list]
    rows: list[dict[str, Any]] = []
    deadline = None if budget is None else time.monotonic() + float(budget)
    bar = _progress_bar(len(streams) * k, progress)
    runner = _RayRunner(train_fn, ray_address) if backend == "ray" else None
    pending: dict[Any, tuple[_Stream, int, Spec, str]] = {}
    rank = {s: i for i, s in enumerate(seed_list)}

    def sort_key(st: _Stream) -> tuple[int, ...]:
        if order == "seed":
            return (rank[st.seed], st.next_trial, st.order)
        return (st.next_trial, rank[st.seed], st.order)

    def record(st: _Stream, trial: int, spec: Spec, res: Mapping[str, Any], reused: bool) -> None:
        cache.put(st.method.name, st.seed, trial, spec, res)
        memo.setdefault(_spec_key(spec, st.seed), dict(res))
        st.tell(float(res["loss"]))
        st.in_flight = False
        rows.append(
            {
                "method": st.method.name,
                "seed": st.seed,
                "trial": trial,
                "hparams": json.dumps(spec, sort_keys=True),
                "loss": float(res["loss"]),
                "metric": float(res["metric"]),
                "seconds": float(res["seconds"]),
                "reused": reused,
            }
        )
        bar.update(1)

    try:
        while True:
            out_of_time = deadline is not None and time.monotonic() >= deadline
            ready = sorted((st for st in streams if st.ready()), key=sort_key)
            started = False
            for st in ready:
                trial, spec = st.next_trial, st.propose()
                st.next_trial += 1
                st.in_flight = True
                cached = cache.get(st.method.name, st.seed, trial, spec)
                key = _spec_key(spec, st.seed)
                if cached is not None or key in memo:
                    record(st, trial, spec, cached or memo[key], reused=cached is None)
                    started = True
                    continue
                if out_of_time:
                    st.next_trial = k  # stop this stream; it resumes from the cache next run
                    st.in_flight = False
                    continue
                if runner is None:
                    record(st, trial, spec, _run_trial(train_fn, spec, st.seed), reused=False)
                    started = True
                    break  # re-sort: trial-index-first order, and the budget checked per trial
                pending[runner.submit(spec, st.seed)] = (st, trial, spec, key)
                started = True
            if runner is not None and pending:
                for ref, res in runner.wait(list(pending)):
                    st, trial, spec, key = pending.pop(ref)
                    if key in memo:  # an identical trial finished meanwhile
                        res = memo[key]
                    record(st, trial, spec, res, reused=False)
                continue
            if not started:
                break
    finally:
        bar.close()
    if not rows:
        return pd.DataFrame(columns=_COLUMNS)
    df = pd.DataFrame(rows)
    df = df.sort_values(["method", "seed", "trial"], kind="stable").reset_index(drop=True)
    df["best_so_far"] = best_so_far(df)
    order = {n: i for i, n in enumerate(names)}
    df = df.sort_values(
        ["method", "seed", "trial"], key=lambda c: c.map(order) if c.name == "method" else c
    )
    return df.reset_index(drop=True)[_COLUMNS]


_COLUMNS = [
    "method", "seed", "trial", "hparams", "loss", "metric", "seconds", "reused", "best_so_far"
]  # fmt: skip


def best_so_far(df: Any) -> Any:
    """Lowest finite loss over trials 0..t within each (method, seed); NaN/inf count as +inf."""
    import pandas as pd

    loss = df["loss"].astype(float).where(np.isfinite(df["loss"].astype(float)), np.inf)
    ordered = pd.DataFrame({"m": df["method"], "s": df["seed"], "t": df["trial"], "loss": loss})
    ordered = ordered.sort_values(["m", "s", "t"], kind="stable")
    best = ordered.groupby(["m", "s"], sort=False)["loss"].cummin()
    return best.reindex(df.index)


class _RayRunner:
    def __init__(self, train_fn: TrainFn, address: str | None):
        try:
            import ray
        except ImportError as e:
            raise ImportError("backend='ray' needs ray: pip install taskset-torch[ray]") from e
        self.ray = ray
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        self.fn = ray.put(train_fn)
        self.remote = ray.remote(num_cpus=1)(_run_trial)

    def submit(self, spec: Spec, seed: int) -> Any:
        return self.remote.remote(self.fn, spec, seed)

    def wait(self, refs: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
        done, _ = self.ray.wait(refs, num_returns=1)
        return [(r, self.ray.get(r)) for r in done]


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, show: bool) -> Any:
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="trials", unit="trial")
