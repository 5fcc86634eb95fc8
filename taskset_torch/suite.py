"""Curve suites: a spec of tasks x search spaces x configs x protocol, generated and shipped packed.

A *suite spec* is a small JSON file::

    {"name": "taskset-torch-v1",
     "protocol": {"steps": 1000, "eval_every": 100, "eval_batches": 10},
     "seeds": "0",
     "spaces": {"nadamw_grid": "0-255", "adam8p_wide_grid": "0-255"},
     "tasks": ["quadratic_family_seed3", "FixedMLP_mnist_ce_128x128x128_relu_bs128", ...]}

:func:`generate_commands` are the ``taskset-torch generate`` calls that train it into a curve
store (``taskset-torch suite generate`` runs them: resumable, locally, on a GPU or on Ray).
:func:`pack_suite` turns that store into one compact ``.npz`` (curves as float16 with an exact
power-of-two scale per task and space, so no finite value overflows),
with the spec, the code version and every task's data sources. :func:`load_suite` opens a packed
suite as a :class:`~taskset_torch.curves.CurveStore` (unpacked once into a cache directory in
TaskSet's released layout), so everything that reads a store reads a suite.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from taskset_torch.curves import Curves, CurveStoreError, atomic_save_npz, write_taskset_npz
from taskset_torch.curves.io import json_array, json_from_array, load_npz, to_json_text
from taskset_torch.curves.taskset_format import lookup_hparams

__all__ = [
    "SuiteSpec",
    "read_spec",
    "suite_dirs",
    "find_suite",
    "generate_commands",
    "pack_suite",
    "load_suite",
]

_FORMAT = "taskset-torch-suite/1"
ZERO = "zero"  # the zero optimizer's reference curves (taskset_torch.optimizers.zero.ZERO)
_F16_MAX = 60000.0  # below float16's largest finite value (65504), with room for rounding
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _int_set(text: str | int | Sequence[int], what: str) -> list[int]:
    """``"0-9,20"`` (or a list of ints) -> sorted unique non-negative ints."""
    if isinstance(text, int):
        items: list[int] = [text]
    elif isinstance(text, str):
        items = []
        for part in text.split(","):
            part = part.strip()
            try:
                if "-" in part:
                    lo, hi = (int(x) for x in part.split("-", 1))
                    if hi < lo:
                        raise ValueError
                    items.extend(range(lo, hi + 1))
                else:
                    items.append(int(part))
            except ValueError:
                raise ValueError(f"{what}: {text!r} is not like 0-9,20,30-31") from None
    else:
        items = [int(x) for x in text]
    if not items or min(items) < 0:
        raise ValueError(f"{what}: needs at least one value, all non-negative (got {text!r})")
    return sorted(set(items))


def _ranges(values: Sequence[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5" (the form ``taskset-torch generate`` takes)."""
    out, start, prev = [], None, None
    for v in values:
        if start is None:
            start = prev = v
        elif v == prev + 1:
            prev = v
        else:
            out.append(f"{start}-{prev}" if prev != start else f"{start}")
            start = prev = v
    if start is not None:
        out.append(f"{start}-{prev}" if prev != start else f"{start}")
    return ",".join(out)


@dataclasses.dataclass(frozen=True)
class SuiteSpec:
    """What a suite holds: tasks x spaces (config seeds each) x replica seeds, one protocol."""

    name: str
    tasks: tuple[str, ...]
    spaces: dict[str, tuple[int, ...]]
    seeds: tuple[int, ...] = (0,)
    steps: int = 10000
    eval_every: int = 200
    eval_batches: int = 50
    description: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"suite name {self.name!r}: use letters, digits, '_', '-', '.'")
        if not self.tasks:
            raise ValueError(f"suite {self.name}: no tasks")
        if len(set(self.tasks)) != len(self.tasks):
            dup = sorted({t for t in self.tasks if self.tasks.count(t) > 1})
            raise ValueError(f"suite {self.name}: tasks listed twice: {dup}")
        if not self.spaces:
            raise ValueError(f"suite {self.name}: no search spaces")
        for what, v in (("steps", self.steps), ("eval_every", self.eval_every)):
            if v < 1:
                raise ValueError(f"suite {self.name}: {what} must be >= 1, got {v}")
        if self.eval_batches < 1:
            raise ValueError(f"suite {self.name}: eval_batches must be >= 1")

    @classmethod
    def from_json(cls, obj: dict[str, Any], where: str = "suite spec") -> SuiteSpec:
        known = {"name", "tasks", "spaces", "seeds", "protocol", "description"}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown}; valid: {sorted(known)}")
        for key in ("name", "tasks", "spaces"):
            if key not in obj:
                raise ValueError(f"{where}: missing {key!r}")
        proto = dict(obj.get("protocol", {}))
        bad = sorted(set(proto) - {"steps", "eval_every", "eval_batches"})
        if bad:
            raise ValueError(f"{where}: unknown protocol keys {bad}")
        if not isinstance(obj["spaces"], dict):
            raise ValueError(f"{where}: 'spaces' maps a search space to config seeds like '0-255'")
        return cls(
            name=str(obj["name"]),
            tasks=tuple(str(t) for t in obj["tasks"]),
            spaces={
                str(s): tuple(_int_set(c, f"{where}: spaces.{s}")) for s, c in obj["spaces"].items()
            },
            seeds=tuple(_int_set(obj.get("seeds", "0"), f"{where}: seeds")),
            steps=int(proto.get("steps", 10000)),
            eval_every=int(proto.get("eval_every", 200)),
            eval_batches=int(proto.get("eval_batches", 50)),
            description=str(obj.get("description", "")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "protocol": {
                "steps": self.steps,
                "eval_every": self.eval_every,
                "eval_batches": self.eval_batches,
            },
            "seeds": _ranges(self.seeds),
            "spaces": {s: _ranges(c) for s, c in self.spaces.items()},
            "tasks": list(self.tasks),
        }


def read_spec(path: str | os.PathLike) -> SuiteSpec:
    """A suite spec from its JSON file (errors name the file and the field)."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"suite spec {path} does not exist") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"suite spec {path} is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"suite spec {path}: expected a JSON object")
    return SuiteSpec.from_json(obj, where=str(path))


def generate_commands(
    spec: SuiteSpec, store: str | os.PathLike, extra_args: Sequence[str] = ()
) -> list[list[str]]:
    """The ``taskset-torch`` argument lists that train every (space, task) of ``spec`` into
    ``store``, one ``generate`` per search space (resumable: units already in the store are kept).

    ``extra_args`` go to every call (e.g. ``["--device", "cuda"]`` or ``["--backend", "ray"]``).
    ``taskset-torch suite generate`` runs them (:func:`taskset_torch.cli.generate.generate_suite`).
    """
    return [
        [
            "generate",
            *spec.tasks,
            "--space",
            space,
            "--configs",
            _ranges(configs),
            "--seeds",
            _ranges(spec.seeds),
            "--steps",
            str(spec.steps),
            "--eval-every",
            str(spec.eval_every),
            "--eval-batches",
            str(spec.eval_batches),
            "--store",
            os.fspath(store),
            *extra_args,
        ]
        for space, configs in spec.spaces.items()
    ]


def _pack_values(values: np.ndarray) -> tuple[np.ndarray, float]:
    """float32 curves -> (float16 values / scale, scale) with scale a power of two >= 1."""
    finite = np.abs(values[np.isfinite(values)])
    peak = float(finite.max()) if finite.size else 0.0
    scale = 1.0
    if peak > _F16_MAX:
        scale = float(2.0 ** np.ceil(np.log2(peak / _F16_MAX)))
    return (values / scale).astype(np.float16), scale


def pack_suite(
    spec: SuiteSpec,
    store: str | os.PathLike,
    out: str | os.PathLike,
    *,
    allow_missing: bool = False,
) -> Path:
    """Pack the curves of ``spec`` from ``store`` into one compact ``.npz`` file at ``out``.

    Every (task, space, config, seed) of the spec must be in the store, unless ``allow_missing``
    (then missing runs are NaN and listed in the suite's metadata).
    """
    import taskset_torch
    from taskset_torch.curves import CurveStore

    src = CurveStore(store)
    arrays: dict[str, np.ndarray] = {}
    info: dict[str, Any] = {
        "format": _FORMAT,
        "spec": spec.to_json(),
        "code_version": taskset_torch.__version__,
        "spaces": {},
        "missing": [],
    }
    steps_ref: np.ndarray | None = None
    # The zero optimizer's reference curves (one per task and seed) travel with the suite when
    # the store has them for every task: they are what normalization uses by default.
    has_zero = all(ZERO in src.spaces(t) for t in spec.tasks)
    plan = list(spec.spaces.items()) + ([(ZERO, None)] if has_zero else [])
    for si, (space, configs) in enumerate(plan):
        names = [ZERO] if space == ZERO else [f"{space}_seed{c}" for c in configs]
        read: list[Curves | None] = []
        for task in spec.tasks:
            try:
                c = src.read(task, space)
            except CurveStoreError as e:
                if not allow_missing:
                    raise CurveStoreError(f"suite {spec.name}: {e}") from None
                info["missing"].append({"task": task, "space": space, "what": "all"})
                read.append(None)
                continue
            if steps_ref is None:
                steps_ref = np.asarray(c.steps)
            elif not np.array_equal(np.asarray(c.steps), steps_ref):
                raise CurveStoreError(
                    f"suite {spec.name}: {task}/{space} was evaluated at steps "
                    f"{list(c.steps)[:4]}..., other tasks at {list(steps_ref)[:4]}...; "
                    "regenerate it with the suite's protocol"
                )
            read.append(c)
        n_steps = 0 if steps_ref is None else len(steps_ref)
        values = np.full((len(spec.tasks), len(names), len(spec.seeds), n_steps, 4), np.nan)
        tasks_meta = []
        for ti, (task, c) in enumerate(zip(spec.tasks, read)):
            if c is None:
                tasks_meta.append({"task": task, "data_sources": [], "meta": {}})
                continue
            cpos = {n: i for i, n in enumerate(c.config_names)}
            spos = {int(r): i for i, r in enumerate(c.seeds)}
            present, c_values = c.present[0], c.values[0]
            for ci, n in enumerate(names):
                for ri, r in enumerate(spec.seeds):
                    if n in cpos and r in spos and present[cpos[n], spos[r]]:
                        values[ti, ci, ri] = c_values[cpos[n], spos[r]]
                    elif allow_missing:
                        info["missing"].append(
                            {"task": task, "space": space, "config": n, "seed": r}
                        )
                    else:
                        raise CurveStoreError(
                            f"suite {spec.name}: {task}/{space} has no curve for {n} seed {r}; "
                            "run `taskset-torch suite generate` first (or pack with "
                            "--allow-missing)"
                        )
            tasks_meta.append(
                {"task": task, "data_sources": c.data_sources.get(task, []), "meta": _plain(c.meta)}
            )
        scales = np.ones(len(spec.tasks), np.float32)
        packed = np.empty(values.shape, np.float16)
        for ti in range(len(spec.tasks)):
            packed[ti], scales[ti] = _pack_values(values[ti])
        arrays[f"values_{si}"] = packed
        arrays[f"scale_{si}"] = scales
        info["spaces"][space] = {"index": si, "config_names": names, "tasks": tasks_meta}
    if steps_ref is None:
        raise CurveStoreError(f"suite {spec.name}: the store {store} holds none of its curves")
    arrays["steps"] = np.asarray(steps_ref, np.int64)
    arrays["info"] = json_array(to_json_text(info, "suite metadata"))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return atomic_save_npz(out, arrays)


def _plain(meta: dict[str, Any]) -> dict[str, Any]:
    """The store metadata worth shipping (file lists are local detail)."""
    return {k: v for k, v in meta.items() if k not in ("files", "varying")}


def suite_dirs() -> list[Path]:
    """Where named suites are looked up: ``$TASKSET_TORCH_SUITES`` is the CLI's business; here the
    repository's ``data/suites`` and the installed package's ``taskset_torch/data/suites``."""
    here = Path(__file__).resolve().parent
    return [here.parent / "data" / "suites", here / "data" / "suites"]


def find_suite(name_or_path: str | os.PathLike) -> Path:
    """The packed file of a suite given by name (``taskset-torch-v1``) or path."""
    p = Path(name_or_path)
    if p.suffix == ".npz" or p.exists():
        if not p.is_file():
            raise ValueError(f"suite file {p} does not exist")
        return p
    name = str(name_or_path)
    found = []
    for d in suite_dirs():
        f = d / f"{name}.npz"
        if f.is_file():
            return f
        if d.is_dir():
            found += sorted(x.stem for x in d.glob("*.npz"))
    raise ValueError(
        f"unknown suite {name!r}; shipped suites: {sorted(set(found)) or 'none found'} "
        f"(looked in {', '.join(map(str, suite_dirs()))}); or pass a path to a .npz"
    )


def _hparams(names: Sequence[str]) -> list[dict[str, Any]]:
    """TaskSet's config of each optimizer name; ``{}`` where unknown (e.g. ``zero``)."""
    from taskset_torch.optimizers import optimizer_config

    return lookup_hparams(names, optimizer_config)


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "taskset_torch" / "suites"


def load_suite(name_or_path: str | os.PathLike, cache_dir: str | os.PathLike | None = None):
    """A packed suite as a :class:`~taskset_torch.curves.CurveStore` (read-only by convention).

    Example::

        store = load_suite("taskset-torch-v1")
        store.tasks("nadamw_grid")                # the suite's tasks
        curves = store.read(store.tasks("nadamw_grid")[0], "nadamw_grid")
    """
    from taskset_torch.curves import CurveStore

    path = find_suite(name_or_path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir is not None else _cache_root()
    target = root / f"{path.stem}-{digest}"
    done = target / ".complete"
    if done.is_file():
        return CurveStore(target)
    arrays = load_npz(path, ("steps", "info"), "a packed curve suite")
    info = json_from_array(arrays["info"], path, "info")
    if info.get("format") != _FORMAT:
        raise CurveStoreError(f"{path}: not a {_FORMAT} file (format {info.get('format')!r})")
    spec = SuiteSpec.from_json(info["spec"], where=f"{path}: spec")
    steps = arrays["steps"]
    for space, sinfo in info["spaces"].items():
        si = sinfo["index"]
        vals = arrays.get(f"values_{si}")
        scales = arrays.get(f"scale_{si}")
        if vals is None or scales is None:
            raise CurveStoreError(f"{path}: missing the curves of space {space}")
        names = sinfo["config_names"]
        for ti, tmeta in enumerate(sinfo["tasks"]):
            v = vals[ti].astype(np.float32) * np.float32(scales[ti])
            present = ~np.all(np.isnan(v), axis=(2, 3))
            curves = Curves(
                values=v[None],
                tasks=(tmeta["task"],),
                config_names=names,
                seeds=spec.seeds,
                steps=steps,
                space=space,
                hparams=_hparams(names),
                present=present[None],
                data_sources={tmeta["task"]: tmeta["data_sources"]},
                meta={**tmeta["meta"], "suite": spec.name, "suite_file": path.name},
            )
            write_taskset_npz(
                curves,
                target / tmeta["task"] / f"{space}_{spec.steps}_replica{len(spec.seeds)}.npz",
            )
    done.write_text(path.name + "\n", encoding="utf-8")
    return CurveStore(target)
