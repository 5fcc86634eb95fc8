"""A directory of training curves per (task, search space): atomic unit files, merged on read.

Layout under ``root``::

    <task>/<space>/seed<seed>_<hash of config names>.npz   one unit: a chunk of configs, one seed
    <task>/<space>[_1k]_<steps>_replica<R>.npz              TaskSet's released layout (read too)

    <task>/<space>/protocol.json                            what shaped every curve there
    <task>/<space>/.set_aside/                              broken or superseded files, kept

There is no index: the directory listing is the index, so writers need no lock. Each unit is
written once, atomically (temp file + fsync + rename), under a name derived from what it holds, so
a rerun overwrites rather than duplicates it. A writer killed at any moment leaves the complete
unit or none, plus at most a temp file that readers ignore and the next writer there removes.

A unit's identity is its seed and configs *and* the protocol that produced its curves (training
settings, data sources, curve format and code version). The first writer of a (task, space)
records that protocol in ``protocol.json`` (created exclusively, so two writers cannot both claim
it); a writer with another protocol is refused with what differs. :meth:`CurveStore.scan` tells
which configs each seed already holds in whole, readable units and which files are broken, so a
runner computes each config once per store whatever the chunking, and recomputes broken units.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from taskset_torch.curves.grid import combine
from taskset_torch.curves.io import (
    CurveStoreError,
    _host,
    clean_stale_temp_files,
    to_json_text,
)
from taskset_torch.curves.merge import (
    DUPLICATE_RTOL,
    CurveStoreWarning,
    merge_curves,
    protocol_differences,
)
from taskset_torch.curves.model import SPLITS, Curves
from taskset_torch.curves.taskset_format import (
    ConfigLookup,
    parse_taskset_filename,
    read_taskset_npz,
    write_taskset_npz,
)
from taskset_torch.curves.unit_format import read_unit as _read_unit
from taskset_torch.curves.unit_format import unit_file_name as _unit_name
from taskset_torch.curves.unit_format import write_unit_file

__all__ = [
    "CurveStore",
    "CurveStoreError",
    "CurveStoreWarning",
    "DUPLICATE_RTOL",
    "ProtocolMismatch",
    "StoreScan",
]

PROTOCOL_FILE = "protocol.json"
SET_ASIDE_DIR = ".set_aside"
_RECOMPUTE_HINT = (
    ". Running the generate command that made it again sets broken units aside (in .set_aside/) "
    "and recomputes them"
)


class ProtocolMismatch(CurveStoreError):
    """A run's protocol differs from the one recorded for a (task, space) of the store.

    ``differences`` maps each differing field to ``(recorded, asked)``.
    """

    def __init__(self, message: str, differences: dict[str, tuple[Any, Any]]):
        super().__init__(message)
        self.differences = differences


def _check_name(name: Any, what: str) -> str:
    bad = (
        not isinstance(name, str)
        or not name
        or name.startswith(".")
        or any(c in name for c in "/\\\0")
        or any(ord(c) < 32 for c in name)
    )
    if bad:
        raise ValueError(
            f"invalid {what} name {name!r}: it must be a non-empty string that does not start "
            "with '.' and holds no '/', '\\' or control characters (it names a directory)"
        )
    return name


@dataclasses.dataclass
class StoreScan:
    """What :meth:`CurveStore.scan` found: ``done[seed]`` = configs in whole units, ``broken`` =
    ``(path, reason)`` of unit files that cannot be used."""

    done: dict[int, set[str]]
    broken: list[tuple[Path, str]]


class CurveStore:
    """Training curves under ``root``, one atomic npz file per unit of work (see module doc).

    ``config_lookup`` (``name -> hyperparameters``, e.g.
    ``taskset_torch.optimizers.optimizer_config``) fills in the hyperparameters of TaskSet's bare
    released files, which store config names only; without it they read as ``{}``.

    Example::

        store = CurveStore("runs/demo")
        store.tasks("nadamw_grid")                           # tasks with curves in that space
        one = store.read("quadratic_family_seed0", "nadamw_grid")  # Curves of one task
        pool = store.load(space="nadamw_grid")               # Curves of every task, one grid
        df = store.to_dataframe(space="nadamw_grid")         # tidy rows
    """

    def __init__(self, root: str | os.PathLike, *, config_lookup: ConfigLookup | None = None):
        self.root = Path(root)
        self.config_lookup = config_lookup
        if self.root.exists() and not self.root.is_dir():
            raise CurveStoreError(f"{self.root}: a curve store root must be a directory")

    def __repr__(self) -> str:
        return f"CurveStore({str(self.root)!r})"

    # --- units -----------------------------------------------------------------------------

    def unit_path(self, task: str, space: str, seed: int, config_names: Sequence[str]) -> Path:
        """Where the unit (task, space, seed, config chunk) lives; derived from its contents."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        names = [str(n) for n in config_names]
        if not names:
            raise ValueError("a unit needs at least one config name")
        space_dir = self.root / _check_name(task, "task") / _check_name(space, "space")
        return space_dir / _unit_name(int(seed), names)

    def has_unit(self, task: str, space: str, seed: int, config_names: Sequence[str]) -> bool:
        """Whether that unit is in the store, whole and readable (a broken file is not a unit)."""
        path = self.unit_path(task, space, seed, config_names)
        if not path.is_file():
            return False
        try:
            _read_unit(path)
        except CurveStoreError:
            return False
        return True

    # --- protocol: what shaped the curves of a (task, space) -------------------------------------

    def _space_dir(self, task: str, space: str) -> Path:
        return self.root / _check_name(task, "task") / _check_name(space, "space")

    def protocol(self, task: str, space: str) -> dict | None:
        """The protocol recorded for (task, space), or None if none was recorded yet."""
        path = self._space_dir(task, space) / PROTOCOL_FILE
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise CurveStoreError(f"{path}: cannot read the recorded protocol ({e})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise CurveStoreError(
                f"{path}: the recorded protocol is not valid JSON ({e}); move the file away to "
                "record the protocol of the units there again"
            ) from None
        if not isinstance(data, dict):
            raise CurveStoreError(f"{path}: the recorded protocol must be a JSON object")
        return data

    def _legacy_protocol(self, task: str, space: str) -> dict | None:
        """What units written before protocols were recorded say about their training settings."""
        for f in self.units(task, space):
            try:
                c = _read_unit(f)
            except CurveStoreError:
                continue
            if "protocol" in c.meta:
                return c.meta["protocol"]
            keys = ("training_steps", "eval_every", "eval_batches")
            train = {k: c.meta[k] for k in keys if k in c.meta}
            return {"train": train} if train else None
        return None

    def claim_protocol(
        self, task: str, space: str, protocol: Mapping[str, Any], *, force: bool = False
    ) -> list[Path]:
        """Record ``protocol`` for (task, space), or check it against the recorded one.

        A different recorded protocol raises :class:`ProtocolMismatch` naming each differing
        field, unless ``force``: then the units and the old protocol are moved to
        ``<task>/<space>/.set_aside/`` (returned) and ``protocol`` is recorded. The record is
        created exclusively, so of two writers with different protocols only one succeeds.
        """
        protocol = json.loads(to_json_text(protocol, "protocol"))
        d = self._space_dir(task, space)
        recorded = self.protocol(task, space)
        legacy = recorded is None
        if legacy:
            recorded = self._legacy_protocol(task, space)
        moved: list[Path] = []
        if recorded is not None:
            diff = protocol_differences(recorded, protocol)
            if legacy:  # old units recorded a few fields only: compare those
                diff = {k: v for k, v in diff.items() if v[0] is not None}
            if diff and not force:
                what = "; ".join(f"{k}: stored {a!r}, asked {b!r}" for k, (a, b) in diff.items())
                raise ProtocolMismatch(
                    f"{d}: holds curves made under another protocol ({what}). Curves of "
                    "different protocols cannot be merged: use another store directory, or "
                    "force to set the existing curves aside and start this (task, space) over",
                    diff,
                )
            if diff:
                stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{uuid.uuid4().hex[:6]}"
                for f in [*self.units(task, space), d / PROTOCOL_FILE]:
                    if f.exists():
                        dest = self.set_aside(f, f"superseded-{stamp}")
                        if dest is not None:
                            moved.append(dest)
            elif not legacy:
                return moved
        d.mkdir(parents=True, exist_ok=True)
        text = json.dumps(protocol, indent=1, sort_keys=True) + "\n"
        tmp = d / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-protocol.json.part"
        try:
            tmp.write_text(text)
            try:
                os.link(tmp, d / PROTOCOL_FILE)  # fails if another writer claimed it first
            except FileExistsError:
                pass
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        diff = protocol_differences(self.protocol(task, space) or {}, protocol)
        if diff:  # another writer claimed (task, space) first, with another protocol
            raise ProtocolMismatch(
                f"{d}: another writer recorded a different protocol at the same time "
                f"({', '.join(diff)} differ); use another store directory",
                diff,
            )
        return moved

    # --- verification: which configs are done, which files are broken ---------------------------

    def scan(self, task: str, space: str) -> StoreScan:
        """Read every unit of (task, space): the configs each seed holds in whole, readable units
        (of the recorded protocol), and the files that are broken (with the reason)."""
        recorded = self.protocol(task, space)
        done: dict[int, set[str]] = {}
        broken: list[tuple[Path, str]] = []
        for f in self.units(task, space):
            try:
                c = _read_unit(f)
                if (c.task, c.space) != (task, space):
                    raise CurveStoreError(f"{f}: holds curves of {c.task}/{c.space}")
                if recorded is not None and "protocol" in c.meta:
                    diff = protocol_differences(recorded, c.meta["protocol"])
                    if diff:
                        raise CurveStoreError(
                            f"{f}: made under another protocol than {PROTOCOL_FILE} "
                            f"({', '.join(diff)} differ)"
                        )
            except CurveStoreError as e:
                broken.append((f, str(e)))
                continue
            done.setdefault(c.seeds[0], set()).update(
                n for n, p in zip(c.config_names, c.present[0, :, 0]) if p
            )
        return StoreScan(done=done, broken=broken)

    def set_aside(self, path: str | os.PathLike, tag: str = "broken") -> Path | None:
        """Move a file of the store to ``.set_aside/`` beside it (readers skip it); None if it
        is already gone (another process set it aside)."""
        path = Path(path)
        dest_dir = path.parent / SET_ASIDE_DIR
        dest_dir.mkdir(exist_ok=True)
        dest = dest_dir / f"{path.name}.{tag}-{uuid.uuid4().hex[:6]}"
        try:
            os.replace(path, dest)
        except FileNotFoundError:
            return None
        return dest

    def check_writable(self, nbytes: int = 0) -> None:
        """Fail now, before any training, if the store cannot take a file of ``nbytes``
        (missing permission, read-only or full file system)."""
        probe = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            name = f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-{_host()}--write-probe.part"
            probe = self.root / name
            with open(probe, "xb") as f:
                chunk = b"\0" * min(max(int(nbytes), 1), 1 << 20)
                left = max(int(nbytes), 1)
                while left > 0:
                    left -= f.write(chunk[:left])
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise CurveStoreError(
                f"{self.root}: cannot write curves here ({e.strerror or e}); pick another --store "
                "directory or free space/permissions"
            ) from None
        finally:
            if probe is not None:
                with contextlib.suppress(OSError):
                    probe.unlink()

    def write_unit(self, unit: Curves, *, protocol: Mapping[str, Any] | None = None) -> Path:
        """Atomically write one unit: curves of one task and one seed (see :meth:`Curves.unit`).

        Writing a unit that exists replaces it (same name), so a rerun never duplicates curves.
        With ``protocol`` (what shaped the curves), the unit is refused if (task, space) records
        another one (:meth:`claim_protocol`), and the unit carries it.
        """
        if not isinstance(unit, Curves):
            raise TypeError(f"write_unit takes Curves (see Curves.unit), got {type(unit).__name__}")
        if len(unit.tasks) != 1 or len(unit.seeds) != 1 or unit.splits != SPLITS:
            raise ValueError(
                "a unit holds one task and one seed on all four splits; got tasks "
                f"{list(unit.tasks)}, seeds {list(unit.seeds)}, splits {list(unit.splits)}"
            )
        task, space, seed = unit.task, unit.space, unit.seeds[0]
        path = self.unit_path(task, _check_name(space, "space"), seed, unit.config_names)
        recorded = None
        if protocol is not None:
            self.claim_protocol(task, space, protocol)
            recorded = json.loads(to_json_text(protocol, "protocol"))
        clean_stale_temp_files(path.parent)
        return write_unit_file(unit, path, recorded)

    def units(self, task: str, space: str) -> list[Path]:
        """The unit files of (task, space), sorted by name."""
        d = self.root / _check_name(task, "task") / _check_name(space, "space")
        return sorted(d.glob("*.npz")) if d.is_dir() else []

    def _released(self, task: str) -> dict[str, list[Path]]:
        d = self.root / task
        out: dict[str, list[Path]] = {}
        if d.is_dir():
            for f in sorted(d.iterdir()):
                parsed = parse_taskset_filename(f.name)
                if parsed and f.is_file():
                    out.setdefault(parsed[0], []).append(f)
        return out

    # --- reading -----------------------------------------------------------------------------

    def read(self, task: str, space: str) -> Curves:
        """All curves of (task, space): unit files and released-layout files, merged.

        Returns :class:`Curves` of that one task (``values[0]`` is ``[config, seed, step,
        split]``, configs in :func:`config_sort_key` order, seeds ascending; runs no file holds are
        NaN and not ``present``). Raises :class:`CurveStoreError` for a broken, foreign or
        conflicting file, naming it. ``meta`` holds the keys every file agrees on, ``files`` (paths relative to the root) and
        ``varying`` (each other key's value per file, aligned with ``files``).
        """
        units = self.units(task, space)
        released = self._released(task).get(space, [])
        if not units and not released:
            have = self.spaces(task)
            raise CurveStoreError(
                f"{self.root}: no curves for task {task!r} in space {space!r}; this task has "
                f"spaces {have}" + ("" if have else f" (tasks: {self.tasks()[:20]})")
            )
        clean_stale_temp_files(self.root / task / space)
        recorded = self.protocol(task, space) if units else None
        parts = []
        for f in units:
            try:
                c = _read_unit(f)
            except CurveStoreError as e:
                raise CurveStoreError(f"{e}{_RECOMPUTE_HINT}") from None
            if (c.task, c.space) != (task, space):
                raise CurveStoreError(
                    f"{f}: holds curves of {c.task}/{c.space} but is stored under {task}/{space}"
                )
            if recorded is not None and "protocol" in c.meta:
                diff = protocol_differences(recorded, c.meta["protocol"])
                if diff:
                    raise CurveStoreError(
                        f"{f}: made under another protocol than {PROTOCOL_FILE} beside it "
                        f"({', '.join(diff)} differ){_RECOMPUTE_HINT}"
                    )
            parts.append((f.relative_to(self.root).as_posix(), c))
        for f in released:
            c = read_taskset_npz(f, task, space, config_lookup=self.config_lookup)
            parts.append((f.relative_to(self.root).as_posix(), c))
        return merge_curves(parts)

    def tasks(self, space: str | None = None) -> list[str]:
        """Tasks with curves (in ``space`` if given), sorted."""
        if not self.root.is_dir():
            return []
        out = []
        for d in sorted(self.root.iterdir()):
            if d.is_dir() and not d.name.startswith("."):
                have = self.spaces(d.name)
                if have and (space is None or space in have):
                    out.append(d.name)
        return out

    def spaces(self, task: str | None = None) -> list[str]:
        """Search spaces with curves (of ``task`` if given), sorted."""
        if task is None:
            return sorted({s for t in self.tasks() for s in self.spaces(t)})
        d = self.root / _check_name(task, "task")
        if not d.is_dir():
            return []
        found = set(self._released(task))
        for sub in d.iterdir():
            if sub.is_dir() and not sub.name.startswith(".") and any(sub.glob("*.npz")):
                found.add(sub.name)
        return sorted(found)

    def _resolve_space(self, tasks: Sequence[str] | None, space: str | None) -> str:
        if space is not None:
            return _check_name(space, "space")
        have = sorted({s for t in tasks for s in self.spaces(t)}) if tasks else self.spaces()
        have = [s for s in have if s != "zero"]  # the zero optimizer's curves: not a search space
        if not have:
            self._require_curves()
        if len(have) != 1:
            raise ValueError(f"space= is required: {self.root} holds spaces {have}")
        return have[0]

    def _require_curves(self, space: str | None = None) -> None:
        """A clear error when the store does not exist, is empty, or lacks ``space``."""
        if not self.root.exists():
            raise CurveStoreError(
                f"{self.root}: no such curve store (the directory does not exist)"
            )
        have = self.spaces()
        if not have:
            raise CurveStoreError(f"{self.root}: the curve store is empty (no curves of any space)")
        if space is not None and space not in have:
            raise CurveStoreError(
                f"{self.root}: the curve store holds no curves of space {space!r}; it holds "
                f"{', '.join(have)}"
            )

    def load(
        self,
        tasks: Sequence[str] | None = None,
        space: str | None = None,
        seeds: Sequence[int] | None = None,
        configs: Sequence[str] | None = None,
        steps: Sequence[int] | None = None,
        splits: Sequence[str] | None = None,
    ) -> Curves:
        """The curves of ``tasks`` (default: every task of ``space``) on one grid (:func:`combine`).

        ``space`` may be left out when the store (or ``tasks``) holds one space. ``configs`` and
        ``seeds`` default to the union over tasks, ``splits`` to all four. ``steps`` defaults to
        the tasks' common eval steps (an error if they differ; pass ``steps`` to pick some).
        A task lacking a run is NaN there (and not ``present``).
        """
        space = self._resolve_space(tasks, space)
        task_list = list(tasks) if tasks is not None else self.tasks(space)
        if not task_list:
            self._require_curves(space)
        return combine(
            [self.read(t, space) for t in task_list],
            space=space,
            configs=configs,
            seeds=seeds,
            steps=steps,
            splits=splits,
        )

    def to_dataframe(
        self, tasks: Sequence[str] | None = None, space: str | None = None, hparams: bool = False
    ) -> Any:
        """Long format of ``tasks`` (default all) in ``space`` (default all spaces): one row per
        (task, space, config, seed, step, split) that was run (see :func:`tidy`).

        Columns ``task, space, config, seed, step, split, value`` (strings as categoricals), plus
        one ``hp_<name>`` column per hyperparameter if ``hparams``. Runs never made have no rows;
        diverged runs keep their NaN values.
        """
        from taskset_torch.curves.frames import tidy

        task_list = list(tasks) if tasks is not None else self.tasks(space)
        reads = (
            self.read(task, sp)
            for task in task_list
            for sp in ([space] if space is not None else self.spaces(task))
        )
        return tidy(reads, hparams=hparams, tasks=task_list)

    # --- TaskSet's released layout -----------------------------------------------------------

    def import_taskset_npz(
        self, path: str | os.PathLike, task: str | None = None, space: str | None = None
    ) -> Path:
        """Copy a released-layout file in as ``<task>/<space>_<steps>_replica<R>.npz``.

        The file is read and checked first; the copy also records hyperparameters (from the
        store's ``config_lookup``) so reading it later needs no lookup.
        """
        curves = read_taskset_npz(path, task, space, config_lookup=self.config_lookup)
        _check_name(curves.task, "task")
        _check_name(curves.space, "space")
        training_steps = int(curves.meta.get("training_steps", curves.steps[-1]))
        name = f"{curves.space}_{training_steps}_replica{len(curves.seeds)}.npz"
        return write_taskset_npz(curves, self.root / curves.task / name)

    def export_taskset_npz(self, task: str, space: str, path: str | os.PathLike) -> Path:
        """Write the curves of (task, space) in TaskSet's layout to ``path``.

        If ``path`` is a directory, the file goes to ``<path>/<task>/<space>_<steps>_replica<R>.npz``
        as in TaskSet's bucket.
        """
        curves = self.read(task, space)
        path = Path(path)
        if path.is_dir():
            training_steps = int(curves.meta.get("training_steps", curves.steps[-1]))
            path = path / task / f"{space}_{training_steps}_replica{len(curves.seeds)}.npz"
        return write_taskset_npz(curves, path)

    def clean_temp_files(self) -> list[Path]:
        """Remove every stale temp file in the store (see ``clean_stale_temp_files``)."""
        removed = []
        if self.root.is_dir():
            for d in (self.root, *self.root.glob("*"), *self.root.glob("*/*")):
                if d.is_dir():
                    removed += clean_stale_temp_files(d)
        return removed
