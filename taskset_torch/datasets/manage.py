"""Preparing datasets ahead of training: TFDS downloads, real local copies, and a status report."""

from __future__ import annotations

import os
from pathlib import Path

from taskset_torch.base import DataSource
from taskset_torch.datasets import archives, cache
from taskset_torch.datasets.base import clear_cache, get_data_dir
from taskset_torch.datasets.images import (
    archive_detail,
    image_meta,
    image_source_status,
    read_image_archive,
    read_local_images,
    read_tfds_images,
)
from taskset_torch.datasets.specs import IMAGE_SPECS, TEXT_SPECS
from taskset_torch.datasets.text_sources import (
    _archive_detail,
    encode_corpus,
    read_imdb_text,
    read_local_text,
    read_sotu_text,
    read_tfds_text,
    text_meta,
    text_source_status,
)
from taskset_torch.datasets.tokenizers import ByteEncoder, SubwordEncoder

__all__ = [
    "ARCHIVE_DATASETS",
    "add_local_dataset",
    "dataset_names",
    "dataset_status",
    "prepare_dataset",
]

#: Which datasets each known archive can serve as it is (the sotu archive as a stand-in).
ARCHIVE_DATASETS: dict[str, tuple[str, ...]] = {
    "imdb": ("imdb_reviews/bytes", "imdb_reviews/subwords8k"),
    "cifar10": ("cifar10",),
    "sotu": tuple(n for n in TEXT_SPECS if not n.startswith("imdb_reviews/")),
}


def dataset_names() -> list[str]:
    """Every dataset name TaskSet's tasks use (image, then text)."""
    return list(IMAGE_SPECS) + list(TEXT_SPECS)


def _check_name(name: str) -> None:
    if name not in IMAGE_SPECS and name not in TEXT_SPECS:
        raise KeyError(f"unknown dataset {name!r}; valid: {', '.join(dataset_names())}")


def dataset_status() -> dict[str, DataSource]:
    """For every dataset name TaskSet uses, the source that would serve it now."""
    out: dict[str, DataSource] = {}
    for name in IMAGE_SPECS:
        out[name] = image_source_status(name)
    for name in TEXT_SPECS:
        out[name] = text_source_status(name)
    return out


def _store_text(name: str, raw, kind: str, detail: str) -> DataSource:
    spec = TEXT_SPECS[name]
    arrays, vocab = encode_corpus(spec, raw)
    vsize = ByteEncoder.vocab_size if vocab is None else SubwordEncoder(vocab).vocab_size
    cache.write_prepared(name, arrays, text_meta(spec, kind, detail, vsize), vocab=vocab)
    clear_cache()
    return DataSource(name, kind, detail)


def prepare_dataset(name: str) -> DataSource:
    """Download ``name`` through TFDS (TaskSet's parent dataset for its custom builders), carve
    nothing yet, and store plain arrays under the data directory so training reads no TFDS.

    Needs tensorflow-datasets (``pip install taskset-torch[tfds]``), a network, and for most
    datasets TensorFlow (without it TFDS can only prepare ``array_record`` builders)."""
    _check_name(name)
    data_dir = get_data_dir()
    if name in IMAGE_SPECS:
        spec = IMAGE_SPECS[name]
        arrays = read_tfds_images(spec, data_dir, download=True)
        detail = f"TFDS {spec.tfds_name}"
        if spec.resized:
            detail += f", resized bicubic to {spec.height}x{spec.width}"
        source = DataSource(name, "real", detail)
        cache.write_prepared(name, arrays, image_meta(spec, source))
        clear_cache()
        return source
    spec = TEXT_SPECS[name]
    raw = read_tfds_text(spec, data_dir, download=True)
    return _store_text(name, raw, "real", f"TFDS {spec.tfds_name}, encoded by taskset_torch")


def _add_archive(name: str, key: str, p: Path) -> DataSource:
    """Store ``name`` read from the known archive ``key`` at ``p``."""
    if name not in ARCHIVE_DATASETS[key]:
        serves = ", ".join(ARCHIVE_DATASETS[key])
        raise ValueError(
            f"{p} is the {archives.ARCHIVES[key].filename} archive ({key}); it serves "
            f"{serves}, not {name!r}"
        )
    if name in IMAGE_SPECS:
        spec = IMAGE_SPECS[name]
        source = DataSource(name, "local", archive_detail(spec, p))
        cache.write_prepared(name, read_image_archive(spec, p), image_meta(spec, source))
        clear_cache()
        return source
    spec = TEXT_SPECS[name]
    kind, detail = _archive_detail(spec, key, p)
    raw = read_imdb_text(p) if key == "imdb" else read_sotu_text(p, spec.num_classes)
    return _store_text(name, raw, kind, detail)


def add_local_dataset(name: str, path: str | os.PathLike[str]) -> DataSource:
    """Register a real local copy of ``name``: read and check it, then store it prepared.

    Images: a directory of MNIST-layout IDX files (``train-images-idx3-ubyte[.gz]`` ...), an
    ``.npz`` with ``x_train``/``y_train``/``x_test``/``y_test``, or (cifar10) the CIFAR-10 JPEG
    archive ``cifar10_jpg.tar.gz``. Text: a directory with ``train.txt`` and ``test.txt`` (one
    example a line; ``<label>\\t<text>`` when labelled), the labelled IMDB archive
    ``aclImdb_labelled.tar.gz`` (imdb_reviews), or the State of the Union archive
    ``sotu_1790_2021.tar.gz`` (registered as a stand-in for the other text datasets)."""
    _check_name(name)
    p = Path(path).expanduser().resolve()
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist")
    key = archives.detect_archive(p) if p.is_file() else None
    if key is not None:
        return _add_archive(name, key, p)
    if name in IMAGE_SPECS:
        spec = IMAGE_SPECS[name]
        arrays = read_local_images(spec, p)
        source = DataSource(name, "local", str(p))
        cache.write_prepared(name, arrays, image_meta(spec, source))
        clear_cache()
        return source
    return _store_text(name, read_local_text(TEXT_SPECS[name], p), "local", str(p))
