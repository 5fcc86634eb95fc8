"""Reading TensorFlow Datasets: ``tfds.load`` with TensorFlow, ``tfds.data_source`` without it."""

from __future__ import annotations

import contextlib
import importlib.util
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "TFDS_EXTRA",
    "tfds_installed",
    "tf_installed",
    "import_tfds",
    "tfds_data_dir",
    "tfds_has_data",
    "tfds_split_names",
    "iter_tfds",
    "tfds_scratch",
]

TFDS_EXTRA = "pip install taskset-torch[tfds]"


def tfds_installed() -> bool:
    return importlib.util.find_spec("tensorflow_datasets") is not None


def tf_installed() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


def import_tfds() -> Any:
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise ImportError(f"reading TFDS datasets needs tensorflow-datasets: {TFDS_EXTRA}") from e
    return tfds


@contextlib.contextmanager
def tfds_scratch() -> Iterator[None]:
    """Contain the temporary directories TFDS makes while it builds a dataset builder.

    For a dataset not prepared on disk, TFDS's builder looks for its metadata in a fresh
    ``tempfile.mkdtemp("tfds")`` and, offline, never removes it: one empty ``/tmp/tmp*tfds`` per
    builder, thousands after a while. Inside this context such directories go into one private
    temporary directory that is deleted on exit. Not thread-safe (it sets ``tempfile.tempdir``);
    wrap construction only, never a generator's ``yield``.
    """
    with tempfile.TemporaryDirectory(prefix="taskset_torch_tfds_") as scratch:
        before = tempfile.tempdir
        tempfile.tempdir = scratch
        try:
            yield
        finally:
            tempfile.tempdir = before


def tfds_data_dir(data_dir: Path) -> Path:
    """Where TFDS data lives inside the taskset-torch data directory."""
    return data_dir / "tfds"


def tfds_has_data(tfds_name: str, data_dir: Path) -> bool:
    """Whether TFDS has prepared ``tfds_name`` under ``data_dir`` (a cheap file check)."""
    base = tfds_data_dir(data_dir) / tfds_name
    return base.is_dir() and any(base.rglob("dataset_info.json"))


def tfds_split_names(tfds_name: str, data_dir: Path, default: tuple[str, ...]) -> tuple[str, ...]:
    """The dataset's split names from its TFDS info, or ``default`` when TFDS does not say."""
    tfds = import_tfds()
    with tfds_scratch():
        builder = tfds.builder(tfds_name, data_dir=str(tfds_data_dir(data_dir)))
    names = tuple(builder.info.splits.keys())
    return names or default


def iter_tfds(
    tfds_name: str, split: str, data_dir: Path, *, download: bool = False
) -> Iterator[dict[str, Any]]:
    """Examples of one split as numpy values.

    With TensorFlow installed this is ``tfds.load`` (downloading when asked). Without it, TFDS
    can still read ``array_record`` files through ``tfds.data_source``; downloading then asks
    the builder to prepare ``array_record`` files, which not every builder can do without TF.
    """
    tfds = import_tfds()
    ddir = str(tfds_data_dir(data_dir))
    if tf_installed():
        with tfds_scratch():
            ds = tfds.load(tfds_name, split=split, data_dir=ddir, download=download)
        yield from tfds.as_numpy(ds)
        return
    if download:
        with tfds_scratch():
            builder = tfds.builder(tfds_name, data_dir=ddir)
        builder.download_and_prepare(file_format="array_record")
    with tfds_scratch():
        source = tfds.data_source(tfds_name, split=split, data_dir=ddir, download=False)
    for i in range(len(source)):
        yield source[i]
