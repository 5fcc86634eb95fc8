"""Curves in memory and in npz files: TaskSet's released layout, atomic pickle-free writes.

TaskSet released one file per (task, search space): ``<task>/<space>_1k_10000_replica5.npz`` with
``optimizers`` (config names as bytes), ``xs`` (eval steps) and ``ys[config, replica, step, split]``.
:func:`write_taskset_npz` writes exactly those keys (so TaskSet's own readers load the files) plus
namespaced ``taskset_torch_*`` keys with what that layout cannot hold (seeds, hyperparameters,
timings, data provenance), so an exported file reads back identically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import re
import socket
import time
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "SPLITS",
    "CurveStoreError",
    "Curves",
    "config_sort_key",
    "parse_taskset_filename",
    "read_taskset_npz",
    "write_taskset_npz",
    "atomic_save_npz",
    "clean_stale_temp_files",
    "load_npz",
    "lookup_hparams",
    "json_array",
    "json_from_array",
    "to_json_text",
]

#: The last axis of every curve. Same tuple as ``taskset_torch.tasks.base.SPLITS`` (a test checks);
#: repeated here so reading curves does not import torch.
SPLITS: tuple[str, ...] = ("train", "valid_inner", "valid_outer", "test")

_SEED_NAME = re.compile(r"^(?P<prefix>.*)_seed(?P<n>\d+)$")
# `<space>[_1k]_<training steps>_replica<replicas>.npz`; "_1k" (1000 configs) is not part of the
# search space's name (`adam8p_wide_grid_1k` holds `adam8p_wide_grid_seed<N>` configs).
_RELEASED_NAME = re.compile(
    r"^(?P<space>.+?)(?:_1k)?_(?P<steps>\d+)_replica(?P<replicas>\d+)\.npz$"
)
_EXTRA_JSON = "taskset_torch_json"
_EXTRA_TIME = "taskset_torch_time_per_step"
_EXTRA_PRESENT = "taskset_torch_present"


class CurveStoreError(ValueError):
    """A curve file or store that is corrupt, foreign or inconsistent; the message names the file."""


def config_sort_key(name: str) -> tuple[int, str, int, str]:
    """Stable config order: ``<prefix>_seed<N>`` names by prefix then N, other names after, A-Z."""
    m = _SEED_NAME.match(name)
    if m:
        return (0, m["prefix"], int(m["n"]), name)
    return (1, name, 0, name)


@dataclasses.dataclass(eq=False)
class Curves:
    """Training curves of one (task, search space): ``values[config, seed, step, split]``.

    ``present[c, r]`` is False where config ``c`` was never run with seed ``r`` (its values and time
    are NaN); a run that diverged is present with NaN values. ``None`` means all present.
    """

    task: str
    space: str
    config_names: list[str]
    hparams: list[dict]
    seeds: list[int]
    steps: np.ndarray
    values: np.ndarray
    time_per_step: np.ndarray
    data_sources: list[dict] = dataclasses.field(default_factory=list)
    meta: dict = dataclasses.field(default_factory=dict)
    present: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.config_names = [str(n) for n in self.config_names]
        self.seeds = [_as_int(s, "seed") for s in self.seeds]
        for what, items in (("hparams", self.hparams), ("data_sources", self.data_sources)):
            bad = [x for x in items if not isinstance(x, Mapping)]
            if bad:
                raise ValueError(f"every entry of {what} must be a dict, got {bad[0]!r}")
        self.hparams = [dict(h) for h in self.hparams]
        self.data_sources = [dict(d) for d in self.data_sources]
        self.meta = dict(self.meta)
        self.steps = _check_steps(self.steps)
        n_c, n_r, n_s = len(self.config_names), len(self.seeds), len(self.steps)
        if len(set(self.config_names)) != n_c:
            raise ValueError(f"config_names of {self.task}/{self.space} are not unique")
        if len(set(self.seeds)) != n_r:
            raise ValueError(f"seeds of {self.task}/{self.space} are not unique: {self.seeds}")
        if len(self.hparams) != n_c:
            raise ValueError(f"{len(self.hparams)} hparams for {n_c} config_names")
        self.values = np.asarray(self.values, dtype=np.float32)
        expected = (n_c, n_r, n_s, len(SPLITS))
        if self.values.shape != expected:
            raise ValueError(
                f"values of {self.task}/{self.space} have shape {self.values.shape}; expected "
                f"[config, seed, step, split] = {expected}"
            )
        self.time_per_step = np.asarray(self.time_per_step, dtype=np.float64)
        if self.time_per_step.shape != (n_c, n_r):
            raise ValueError(
                f"time_per_step has shape {self.time_per_step.shape}; expected [config, seed] = "
                f"{(n_c, n_r)}"
            )
        if self.present is None:
            self.present = np.ones((n_c, n_r), dtype=bool)
        self.present = np.asarray(self.present, dtype=bool)
        if self.present.shape != (n_c, n_r):
            raise ValueError(f"present has shape {self.present.shape}; expected {(n_c, n_r)}")

    def equals(self, other: Curves) -> bool:
        """Same labels, metadata and values (NaN equal to NaN)."""
        return (
            (self.task, self.space, self.config_names, self.seeds)
            == (other.task, other.space, other.config_names, other.seeds)
            and _json(self.hparams) == _json(other.hparams)
            and _json(self.data_sources) == _json(other.data_sources)
            and _json(self.meta) == _json(other.meta)
            and np.array_equal(self.steps, other.steps)
            and np.array_equal(self.values, other.values, equal_nan=True)
            and np.array_equal(self.time_per_step, other.time_per_step, equal_nan=True)
            and np.array_equal(self.present, other.present)
        )


def _as_int(x: Any, what: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise ValueError(f"{what} must be an integer, got {x!r}")
    return int(x)


def _check_steps(steps: Any) -> np.ndarray:
    arr = np.asarray(steps)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"steps must be a non-empty 1-D array of eval steps, got shape {arr.shape}"
        )
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"steps must be whole numbers, got {arr[:5]}...")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"steps must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr[0] < 0 or np.any(np.diff(arr) <= 0):
        raise ValueError(f"steps must be non-negative and strictly increasing, got {arr.tolist()}")
    return arr


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "to_json"):  # e.g. taskset_torch.tasks.base.DataSource
        return obj.to_json()
    raise TypeError(f"{type(obj).__name__} is not JSON-serializable")


def _json(obj: Any, sort_keys: bool = True) -> str:
    return json.dumps(obj, default=_json_default, sort_keys=sort_keys)


def to_json_text(obj: Any, what: str, sort_keys: bool = True) -> str:
    """``obj`` as JSON text (sorted keys: a canonical form to compare; unsorted to store as
    given); a clear error naming ``what`` if it holds something JSON cannot."""
    try:
        return _json(obj, sort_keys)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} must be JSON-serializable: {e}") from None


def json_array(text: str) -> np.ndarray:
    """A JSON string as a 0-d numpy unicode array: stored in npz without pickle."""
    return np.array(text, dtype=np.str_)


def load_npz(path: Path, required: Sequence[str], what: str) -> dict[str, np.ndarray]:
    """Every array of an npz file, never unpickling; a :class:`CurveStoreError` naming the file
    (and the missing key) if it is truncated, corrupt or lacks ``required`` keys."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in required if k not in npz.files]
            if missing:
                raise CurveStoreError(f"{path}: not {what} (missing key {missing[0]!r})")
            return {k: npz[k] for k in npz.files}
    except CurveStoreError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise CurveStoreError(
            f"{path}: unreadable, truncated or not an npz file; expected {what} ({e})"
        ) from None


def json_from_array(arr: np.ndarray, path: Path, key: str) -> Any:
    if arr.dtype.kind != "U" or arr.ndim != 0:
        raise CurveStoreError(
            f"{path}: key {key!r} must be a JSON string, got {arr.dtype} {arr.shape}"
        )
    try:
        return json.loads(str(arr[()]))
    except json.JSONDecodeError as e:
        raise CurveStoreError(f"{path}: key {key!r} is not valid JSON ({e})") from None


# --- atomic writes -----------------------------------------------------------------------------

# `.tmp-<pid>-<random>-<host>--<final name>.part`: unique per writer, never ends in `.npz` (so
# readers skip it), and says who wrote it so a later writer can tell a dead writer's leftover.
_TEMP_NAME = re.compile(r"^\.tmp-(?P<pid>\d+)-[0-9a-f]{8}-(?P<host>[A-Za-z0-9_-]*)--.+\.part$")
#: A temp file older than this is a leftover whatever wrote it (writing one unit takes far less).
STALE_TEMP_SECONDS = 3600.0


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:64]


def atomic_save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write ``arrays`` to ``path`` so that readers see the whole file or nothing.

    Writes a uniquely named temp file in the same directory, fsyncs it, renames it over ``path``
    (atomic on POSIX and Windows) and fsyncs the directory so the rename survives a power cut.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-{_host()}--{path.name}.part"
    try:
        with open(tmp, "xb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    # Directories cannot be opened for fsync on Windows; there the rename is durable enough.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def clean_stale_temp_files(directory: str | os.PathLike) -> list[Path]:
    """Remove temp files that a killed writer left in ``directory``; returns what was removed.

    A temp file is stale when its writer (same host) is no longer running, or when it is older
    than :data:`STALE_TEMP_SECONDS`. Files of live writers are left alone. Errors (e.g. a
    read-only store) are ignored: stray temp files are harmless, readers skip them.
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    now, host = time.time(), _host()
    for entry in entries:
        m = _TEMP_NAME.match(entry.name)
        if not m:
            continue
        try:
            old = now - entry.stat().st_mtime > STALE_TEMP_SECONDS
            dead = (
                m["host"] == host and int(m["pid"]) != os.getpid() and not _pid_alive(int(m["pid"]))
            )
            if old or dead:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


# --- TaskSet's released layout -----------------------------------------------------------------


def parse_taskset_filename(name: str) -> tuple[str, int, int] | None:
    """``"adam8p_wide_grid_1k_10000_replica5.npz"`` -> ``("adam8p_wide_grid", 10000, 5)``."""
    m = _RELEASED_NAME.match(name)
    return (m["space"], int(m["steps"]), int(m["replicas"])) if m else None


def _space_from_names(names: Sequence[str]) -> str | None:
    prefixes = {m["prefix"] for m in map(_SEED_NAME.match, names) if m}
    return prefixes.pop() if len(prefixes) == 1 else None


def lookup_hparams(names: Sequence[str]) -> list[dict]:
    """TaskSet's config of each optimizer name, ``{}`` where unknown (or without the optimizers)."""
    return [dict(_hparams_of(name)) for name in names]


@functools.lru_cache(maxsize=16384)
def _hparams_of(name: str) -> dict:
    # Cached: every released file of a space names the same 1000 configs.
    try:
        from taskset_torch.optimizers import optimizer_config
    except ImportError:
        return {}
    try:
        return dict(optimizer_config(name))
    except (KeyError, ValueError):
        return {}


def read_taskset_npz(
    path: str | os.PathLike, task: str | None = None, space: str | None = None
) -> Curves:
    """Curves from a file in TaskSet's released layout (or one :func:`write_taskset_npz` wrote).

    ``task`` defaults to the name stored by :func:`write_taskset_npz`, else the file's directory;
    ``space`` to the stored name, else the file name (``_1k`` dropped), else the common
    ``<space>_seed<N>`` prefix of the config names. Replicas become seeds ``0..R-1``.
    """
    path = Path(path)
    what = "a TaskSet curve file (keys optimizers, xs, ys)"
    arrays = load_npz(path, ("optimizers", "xs", "ys"), what)
    names_arr = arrays["optimizers"]
    if names_arr.ndim != 1 or names_arr.dtype.kind not in "SU":
        raise CurveStoreError(
            f"{path}: 'optimizers' must be a 1-D array of names, got {names_arr.dtype}"
        )
    try:
        names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names_arr.tolist()]
    except UnicodeDecodeError as e:
        raise CurveStoreError(
            f"{path}: 'optimizers' holds names that are not UTF-8 ({e})"
        ) from None
    try:
        steps = _check_steps(arrays["xs"])
    except ValueError as e:
        raise CurveStoreError(f"{path}: bad 'xs': {e}") from None
    ys = arrays["ys"]
    if ys.ndim != 4 or ys.shape[0] != len(names) or ys.shape[2:] != (len(steps), len(SPLITS)):
        raise CurveStoreError(
            f"{path}: 'ys' has shape {ys.shape}; expected [config, replica, step, split] = "
            f"[{len(names)}, R, {len(steps)}, {len(SPLITS)}]"
        )
    if ys.dtype.kind not in "fiu":
        raise CurveStoreError(f"{path}: 'ys' must be numeric, got {ys.dtype}")
    n_rep = ys.shape[1]
    extra = (
        json_from_array(arrays[_EXTRA_JSON], path, _EXTRA_JSON) if _EXTRA_JSON in arrays else None
    )
    parsed = parse_taskset_filename(path.name)
    if extra is not None:
        info = extra
    else:
        meta: dict[str, Any] = {"source": "taskset_release", "file": path.name}
        if parsed is not None:
            meta["training_steps"] = parsed[1]
        info = {
            "task": path.resolve().parent.name,
            "space": parsed[0] if parsed else _space_from_names(names),
            "seeds": list(range(n_rep)),
            "hparams": lookup_hparams(names),
            "data_sources": [],
            "meta": meta,
        }
    task = task or info.get("task")
    space = space or info.get("space")
    if not space:
        raise CurveStoreError(
            f"{path}: cannot tell the search space (file name is not <space>_<steps>_replica<R>.npz "
            "and config names are not <space>_seed<N>); pass space="
        )
    time_per_step = arrays.get(_EXTRA_TIME, np.full((len(names), n_rep), np.nan))
    try:
        return Curves(
            task=task,
            space=space,
            config_names=names,
            hparams=info["hparams"],
            seeds=info["seeds"],
            steps=steps,
            values=ys.astype(np.float32),
            time_per_step=time_per_step,
            data_sources=info["data_sources"],
            meta=info["meta"],
            present=arrays.get(_EXTRA_PRESENT),
        )
    except (KeyError, ValueError, TypeError) as e:
        raise CurveStoreError(f"{path}: inconsistent TaskSet curve file ({e})") from None


def write_taskset_npz(curves: Curves, path: str | os.PathLike) -> Path:
    """Write ``curves`` in TaskSet's released layout (atomically); missing runs are NaN in ``ys``."""
    extra = {
        "task": curves.task,
        "space": curves.space,
        "seeds": curves.seeds,
        "hparams": curves.hparams,
        "data_sources": curves.data_sources,
        "meta": curves.meta,
    }
    arrays = {
        "optimizers": np.array([n.encode("utf-8") for n in curves.config_names], dtype=np.bytes_),
        "xs": curves.steps.astype(np.int64),
        "ys": curves.values.astype(np.float32),
        _EXTRA_JSON: json_array(to_json_text(extra, "curves metadata", sort_keys=False)),
        _EXTRA_TIME: curves.time_per_step.astype(np.float64),
        _EXTRA_PRESENT: curves.present,
    }
    if not curves.config_names:  # np.array([], dtype=bytes_) has itemsize 0, which npz rejects
        arrays["optimizers"] = np.zeros(0, dtype="S1")
    return atomic_save_npz(path, arrays)
