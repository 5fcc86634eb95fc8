"""Pickle-free, atomic npz I/O for curve files: temp file + fsync + rename, JSON inside npz."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
import uuid
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = [
    "CurveStoreError",
    "STALE_TEMP_SECONDS",
    "atomic_save_npz",
    "atomic_write",
    "atomic_write_text",
    "clean_stale_temp_files",
    "load_npz",
    "json_array",
    "json_from_array",
    "to_json_text",
]


class CurveStoreError(ValueError):
    """A curve file or store that is corrupt, foreign or inconsistent; the message names the file."""


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
    """The JSON value stored by :func:`json_array` under ``key``; a :class:`CurveStoreError`
    naming the file and key if it is not a JSON string."""
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


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Write a file through ``write(f)`` so that readers see the whole file or nothing.

    ``write`` fills a uniquely named temp file in the same directory (named like every temp file
    of this package, so :func:`clean_stale_temp_files` knows it); the file is fsynced, renamed over
    ``path`` (atomic on POSIX and Windows) and the directory fsynced so the rename survives a power
    cut. On any error the temp file is removed and ``path`` keeps its old content.
    """
    path = Path(path)
    tmp = path.parent / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-{_host()}--{path.name}.part"
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` of ``text`` as UTF-8."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """:func:`atomic_write` of ``arrays`` as an ``.npz`` (creating the directory if needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda f: np.savez(f, **arrays))


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
