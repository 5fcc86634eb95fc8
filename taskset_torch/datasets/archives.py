"""Real dataset archives read in place: IMDB reviews, CIFAR-10 JPEGs and English prose (SOTU).

These are the archives of ``../shared/data`` (README_real_datasets.md there), read as they are:

* ``imdb_reviews/aclImdb_labelled.tar.gz``: ``<top>/{train,test}/{pos,neg}/<id>_<rating>.txt``.
* ``cifar10/cifar10_jpg.tar.gz``: ``{train,test}/<class>/NNNN.jpg`` (32x32 RGB JPEG).
* ``english_text/sotu_1790_2021.tar.gz``: ``data/<year>_<name>_<party>.txt``.

A *search path* of directories is looked through for them (each archive either under its folder,
as in ``shared/data``, or directly in a directory); by default it holds the ``shared/data``
folder beside the repository root when there is one, so a checkout next to ``shared`` gets the
real data without a manual step. Decoding is done once per archive version (its size and
modification time) and kept in the data directory; a process also remembers it in memory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np

__all__ = [
    "ARCHIVES",
    "CIFAR10_CLASSES",
    "CIFAR10_SHUFFLE_SEED",
    "ArchiveKind",
    "archive_fingerprint",
    "clear_archive_memo",
    "default_search_path",
    "detect_archive",
    "find_archive",
    "get_search_path",
    "memo",
    "read_cifar10_archive",
    "read_imdb_archive",
    "read_sotu_archive",
    "set_search_path",
]

T = TypeVar("T")

#: CIFAR-10's label order (alphabetical, as the archive's folder names sort).
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
#: The archive groups files by class; each split is shuffled with this seed before carving.
CIFAR10_SHUFFLE_SEED = 0


@dataclasses.dataclass(frozen=True)
class ArchiveKind:
    """One known archive: where it sits under a data folder and what it holds."""

    key: str  # "imdb", "cifar10", "sotu"
    folder: str
    filename: str
    what: str  # the name recorded for curves, e.g. "imdb_reviews (aclImdb labelled, local copy)"


ARCHIVES: dict[str, ArchiveKind] = {
    a.key: a
    for a in [
        ArchiveKind(
            "imdb", "imdb_reviews", "aclImdb_labelled.tar.gz",
            "imdb_reviews (aclImdb labelled, local copy)",
        ),
        ArchiveKind(
            "cifar10", "cifar10", "cifar10_jpg.tar.gz", "cifar10 (JPEG re-encoded local copy)"
        ),
        ArchiveKind("sotu", "english_text", "sotu_1790_2021.tar.gz", "english_text:sotu"),
    ]
}  # fmt: skip

_settings: dict[str, list[Path] | None] = {"search_path": None}


def default_search_path() -> list[Path]:
    """``shared/data`` beside the repository (or installed package) root, when it exists."""
    root = Path(__file__).resolve().parents[2]
    d = root.parent / "shared" / "data"
    return [d] if d.is_dir() else []


def set_search_path(paths: list[str | os.PathLike[str]] | None) -> None:
    """Directories searched for the real archives (``None``: :func:`default_search_path`;
    ``[]``: none, so only registered copies, TFDS data and substitutes serve datasets)."""
    from taskset_torch.datasets.base import clear_cache

    if paths is not None and (isinstance(paths, (str, bytes)) or not hasattr(paths, "__iter__")):
        raise TypeError(f"set_search_path expects a list of directories or None, got {paths!r}")
    new = None if paths is None else [Path(p).expanduser() for p in paths]
    if new != _settings["search_path"]:
        _settings["search_path"] = new
        clear_cache()  # which source serves a dataset may change


def get_search_path() -> list[Path]:
    """The folders searched for dataset archives, in order (``set_search_path``'s or the default)."""
    p = _settings["search_path"]
    return default_search_path() if p is None else list(p)


def find_archive(key: str) -> Path | None:
    """The first copy of archive ``key`` on the search path (``<dir>/<folder>/<file>`` or
    ``<dir>/<file>``), or ``None``."""
    kind = ARCHIVES[key]
    for d in get_search_path():
        for p in (d / kind.folder / kind.filename, d / kind.filename):
            if p.is_file():
                return p.resolve()
    return None


def archive_fingerprint(path: Path) -> str:
    """Identifies one version of an archive file: its path, size and modification time."""
    st = path.stat()
    h = hashlib.sha256(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


_memo: dict[tuple, object] = {}
_memo_lock = threading.Lock()


def memo(key: tuple, build: Callable[[], T]) -> T:
    """Build once per process per ``key`` (an archive fingerprint and what was made of it).

    Unlike the dataset cache this survives :func:`set_data_dir`: the result depends on the
    archive's content only."""
    with _memo_lock:
        if key in _memo:
            return _memo[key]  # type: ignore[return-value]
    value = build()
    with _memo_lock:
        return _memo.setdefault(key, value)  # type: ignore[return-value]


def clear_archive_memo() -> None:
    """Forget which archive was found for each dataset (after archives were added or removed)."""
    with _memo_lock:
        _memo.clear()


def _open(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as e:
        raise ValueError(f"{path}: not a readable tar archive ({e})") from None


def _files(tf: tarfile.TarFile) -> Iterator[tuple[str, tarfile.TarInfo]]:
    for m in tf:
        if m.isfile():
            yield m.name.lstrip("./") if m.name.startswith("./") else m.name, m


_IMDB = re.compile(r"^(?:[^/]+/)?(train|test)/(pos|neg)/([^/]+\.txt)$")
_CIFAR = re.compile(r"^(?:[^/]+/)?(train|test)/([^/]+)/([^/]+\.(?:jpe?g|png))$", re.IGNORECASE)
_SOTU = re.compile(r"^(?:[^/]+/)?(\d{4})_([^/]+)\.txt$")


def detect_archive(path: str | os.PathLike[str]) -> str | None:
    """Which known archive layout ``path`` is (``"imdb"``, ``"cifar10"``, ``"sotu"``), judged
    from its first members; ``None`` for anything that is not a tar archive of these layouts."""
    p = Path(path)
    if not p.is_file() or not tarfile.is_tarfile(p):
        return None
    with _open(p) as tf:
        for i, (name, _) in enumerate(_files(tf)):
            for key, rx in (("imdb", _IMDB), ("cifar10", _CIFAR), ("sotu", _SOTU)):
                if rx.match(name):
                    return key
            if i > 50:
                break
    return None


def _tfds_order(keys: list[str], split: str) -> list[int]:
    """TFDS 4's on-disk example order: sorted by md5(split name + example key) as a 128-bit
    integer (its ``Hasher(salt=split).hash_key``)."""
    salt = hashlib.md5(split.encode())

    def hkey(k: str) -> int:
        m = salt.copy()
        m.update(k.encode())
        return int(m.hexdigest(), 16)

    return sorted(range(len(keys)), key=lambda i: hkey(keys[i]))


def read_imdb_archive(path: Path) -> tuple[dict[str, list[str]], dict[str, list[int]]]:
    """Texts and labels (neg 0, pos 1, TFDS's ClassLabel order) of the labelled IMDB archive.

    Each review is its file's text stripped of surrounding whitespace, as TFDS read it. Files are
    grouped by label in the archive, so each split is put in TFDS's order: by the hash of the
    example's key in the official archive (``aclImdb/<split>/<label>/<file>``)."""
    raw: dict[str, list[tuple[str, str, int]]] = {"train": [], "test": []}
    with _open(path) as tf:
        for name, m in _files(tf):
            mm = _IMDB.match(name)
            if not mm:
                continue
            split, lab, fn = mm.groups()
            f = tf.extractfile(m)
            if f is None:
                continue
            try:
                text = f.read().strip().decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(f"{path}: {name} is not UTF-8 text ({e})") from None
            raw[split].append((f"aclImdb/{split}/{lab}/{fn}", text, int(lab == "pos")))
    for split in ("train", "test"):
        if not raw[split]:
            raise ValueError(
                f"{path}: no IMDB reviews for split {split!r}; expected members "
                f"'<top>/{split}/{{pos,neg}}/<id>_<rating>.txt' (aclImdb labelled layout)"
            )
    texts: dict[str, list[str]] = {}
    labels: dict[str, list[int]] = {}
    for split, rows in raw.items():
        order = _tfds_order([r[0] for r in rows], split)
        texts[split] = [rows[i][1] for i in order]
        labels[split] = [rows[i][2] for i in order]
    return texts, labels


def read_cifar10_archive(
    path: Path, seed: int = CIFAR10_SHUFFLE_SEED
) -> dict[str, dict[str, np.ndarray]]:
    """``{"train"|"test": {"image": uint8 [N, 3, 32, 32], "label": int64 [N]}}`` decoded with
    Pillow from the JPEG archive; label = index of the class folder in CIFAR-10's class order.

    Members are first sorted by name (the archive's order does not matter), then each split is
    permuted with ``numpy.random.RandomState(seed)``: the files are grouped by class."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency of matplotlib
        raise ImportError(
            "decoding the CIFAR-10 JPEG archive needs Pillow (pip install pillow)"
        ) from None
    found: dict[str, list[tuple[str, int, bytes]]] = {"train": [], "test": []}
    with _open(path) as tf:
        for name, m in _files(tf):
            mm = _CIFAR.match(name)
            if not mm:
                continue
            split, cls, _ = mm.groups()
            if cls not in CIFAR10_CLASSES:
                raise ValueError(
                    f"{path}: {name} is in class folder {cls!r}; CIFAR-10's classes are "
                    f"{', '.join(CIFAR10_CLASSES)}"
                )
            f = tf.extractfile(m)
            if f is not None:
                found[split].append((name, CIFAR10_CLASSES.index(cls), f.read()))
    out: dict[str, dict[str, np.ndarray]] = {}
    for split in ("train", "test"):
        rows = sorted(found[split], key=lambda r: r[0])
        if not rows:
            raise ValueError(
                f"{path}: no images for split {split!r}; expected members "
                f"'{split}/<class>/NNNN.jpg' with CIFAR-10's class folder names"
            )
        images = np.empty((len(rows), 3, 32, 32), dtype=np.uint8)
        for i, (name, _, data) in enumerate(rows):
            with Image.open(io.BytesIO(data)) as im:
                arr = np.asarray(im.convert("RGB"))
            if arr.shape != (32, 32, 3):
                raise ValueError(f"{path}: {name} is {arr.shape[1]}x{arr.shape[0]}, not 32x32")
            images[i] = arr.transpose(2, 0, 1)
        labels = np.asarray([r[1] for r in rows], dtype=np.int64)
        perm = np.random.RandomState(seed).permutation(len(rows))
        out[split] = {"image": images[perm], "label": labels[perm]}
    return out


def read_sotu_archive(path: Path) -> list[tuple[int, str]]:
    """``(year, text)`` of every address in the State of the Union archive, by file name."""
    docs: list[tuple[str, int, str]] = []
    with _open(path) as tf:
        for name, m in _files(tf):
            mm = _SOTU.match(name)
            if not mm:
                continue
            f = tf.extractfile(m)
            if f is not None:
                docs.append((name, int(mm.group(1)), f.read().decode("utf-8", errors="replace")))
    if not docs:
        raise ValueError(
            f"{path}: no addresses found; expected members 'data/<year>_<name>_<party>.txt'"
        )
    docs.sort()
    return [(year, text) for _, year, text in docs]
