"""Prepared datasets on disk: plain ``.npy`` arrays and a JSON manifest per dataset, no pickle.

Layout under the data directory: ``prepared/<name with '/' as '__'>/`` holds ``meta.json`` and one
``<split>.<field>.npy`` per array of each source split (``image``/``label`` for images,
``tokens``/``lengths``/``label`` for text) and, for subword datasets, ``vocab.json``. A directory
is written under a temporary name and renamed into place, so a reader never sees half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from taskset_torch.base import DataSource
from taskset_torch.datasets.base import get_data_dir
from taskset_torch.datasets.tfds_source import tfds_has_data

__all__ = [
    "archive_cache_dir",
    "has_prepared",
    "load_or_build",
    "prepared_dir",
    "read_arrays_dir",
    "read_meta",
    "read_prepared",
    "write_arrays_dir",
    "write_prepared",
]

_FORMAT = 1


def _safe(name: str) -> str:
    return name.replace("/", "__")


def prepared_dir(name: str, data_dir: Path | None = None) -> Path:
    return (data_dir or get_data_dir()) / "prepared" / _safe(name)


def archive_cache_dir(key: str, data_dir: Path | None = None) -> Path:
    """Where arrays decoded from a real archive (or a stand-in corpus) are kept: apart from
    ``prepared/``, so that they never shadow a registered copy or TFDS data."""
    return (data_dir or get_data_dir()) / "archive_cache" / _safe(key)


def has_prepared(name: str, data_dir: Path | None = None) -> bool:
    return (prepared_dir(name, data_dir) / "meta.json").is_file()


def write_prepared(
    name: str,
    arrays: Mapping[str, Mapping[str, np.ndarray]],
    meta: Mapping[str, Any],
    *,
    vocab: list[str] | None = None,
    data_dir: Path | None = None,
) -> Path:
    """Store ``arrays[source_split][field]`` and ``meta`` for dataset ``name``; returns the dir."""
    return write_arrays_dir(prepared_dir(name, data_dir), name, arrays, meta, vocab=vocab)


def write_arrays_dir(
    final: Path,
    name: str,
    arrays: Mapping[str, Mapping[str, np.ndarray]],
    meta: Mapping[str, Any],
    *,
    vocab: list[str] | None = None,
) -> Path:
    """Write one directory of arrays, manifest and vocabulary atomically (see module doc)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        for split, fields in arrays.items():
            for field, arr in fields.items():
                np.save(tmp / f"{split}.{field}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        manifest = dict(meta)
        manifest.update(
            name=name,
            format=_FORMAT,
            arrays={s: sorted(f) for s, f in arrays.items()},
        )
        if vocab is not None:
            (tmp / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
        (tmp / "meta.json").write_text(json.dumps(manifest, indent=1))
        old = None
        if final.exists():  # re-preparing: move the old copy aside first
            old = final.with_name(f"{final.name}.old.{os.getpid()}")
            try:
                os.replace(final, old)
            except FileNotFoundError:
                old = None
        try:
            os.replace(tmp, final)
        except OSError:
            # Another process (e.g. a parallel worker) put a complete copy in place first.
            if not (final / "meta.json").is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def read_meta(name: str, data_dir: Path | None = None) -> dict[str, Any]:
    """The manifest of a prepared dataset (checked to be this format and this dataset)."""
    return _read_manifest(prepared_dir(name, data_dir), name)


def _read_manifest(d: Path, name: str) -> dict[str, Any]:
    meta = json.loads((d / "meta.json").read_text())
    if meta.get("format") != _FORMAT or meta.get("name") != name:
        raise ValueError(
            f"{d} holds format {meta.get('format')} of {meta.get('name')!r}; expected format "
            f"{_FORMAT} of {name!r}. Re-run `taskset-torch data prepare {name}`."
        )
    return meta


def read_prepared(
    name: str, data_dir: Path | None = None
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any], list[str] | None]:
    """``(arrays, meta, vocab)`` of a prepared dataset; arrays are read without pickle."""
    return read_arrays_dir(prepared_dir(name, data_dir), name)


def read_arrays_dir(
    d: Path, name: str
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any], list[str] | None]:
    """``(arrays, meta, vocab)`` of a directory written by :func:`write_arrays_dir`."""
    meta = _read_manifest(d, name)
    arrays = {
        split: {f: np.load(d / f"{split}.{f}.npy", allow_pickle=False) for f in fields}
        for split, fields in meta["arrays"].items()
    }
    vocab_path = d / "vocab.json"
    vocab = json.loads(vocab_path.read_text()) if vocab_path.is_file() else None
    return arrays, meta, vocab


def prepared_or_tfds_source(name: str, tfds_name: str, data_dir: Path) -> DataSource | None:
    """The source that would serve ``name`` from a prepared cache or TFDS data on disk, if any.

    The first two steps of every dataset's resolution order (images and text alike); cheap:
    it looks at files and loads nothing.
    """
    if has_prepared(name, data_dir):
        meta = read_meta(name, data_dir)
        return DataSource(name, meta["source_kind"], meta.get("detail", ""))
    if tfds_has_data(tfds_name, data_dir):
        return DataSource(name, "real", f"TFDS {tfds_name} in {data_dir / 'tfds'}")
    return None


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (POSIX ``flock``; nothing where unavailable or the
    directory is read-only): parallel workers wait for one build instead of repeating it."""
    try:
        import fcntl

        fh = open(lock_path, "a+")  # noqa: SIM115 - closed in finally
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
    finally:
        fh.close()  # releases the lock


Built = tuple[dict[str, dict[str, np.ndarray]], dict[str, Any], "list[str] | None"]


def load_or_build(d: Path, name: str, build: Callable[[], Built]) -> Built:
    """``(arrays, meta, vocab)`` of directory ``d``, built by ``build()`` and written there first
    when it does not exist yet (one process builds, others wait and read)."""
    if (d / "meta.json").is_file():
        return read_arrays_dir(d, name)
    try:
        d.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return build()
    with _exclusive(d.parent / f".{d.name}.lock"):
        if (d / "meta.json").is_file():  # another process built it while we waited
            return read_arrays_dir(d, name)
        arrays, meta, vocab = build()
        try:
            write_arrays_dir(d, name, arrays, meta, vocab=vocab)
        except OSError:  # a read-only data dir only costs the speed-up
            pass
        return arrays, meta, vocab
