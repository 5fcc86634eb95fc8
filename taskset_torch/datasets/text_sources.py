"""Text corpora by TaskSet name and ``load_text_dataset``: real caches first, labelled substitutes last."""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import torch

from taskset_torch.datasets.base import cached, check_substitute
from taskset_torch.datasets.splits import carve_text_splits
from taskset_torch.datasets.text import RaggedTokens, TextDataset
from taskset_torch.tasks.base import SPLITS, DataSource

__all__ = ["TEXT_DATASETS", "TextSpec", "load_text_dataset", "byte_encode"]

WIKIPEDIA_LANGS = ("zh", "ru", "ja", "hsb", "en")
AMAZON_CATEGORIES = ("Books_v1_02", "Camera_v1_00", "Home_v1_00", "Video_v1_00")


@dataclasses.dataclass(frozen=True)
class TextSpec:
    """What a TaskSet text dataset is: its TFDS parent, encoding, labels and language."""

    name: str
    encoding: str  # "bytes" or "subwords8k"
    num_classes: int | None
    language: str = "en"


def _specs() -> dict[str, TextSpec]:
    out: dict[str, TextSpec] = {}
    for enc in ("bytes", "subwords8k"):
        out[f"lm1b/{enc}"] = TextSpec(f"lm1b/{enc}", enc, None)
        out[f"imdb_reviews/{enc}"] = TextSpec(f"imdb_reviews/{enc}", enc, 2)
        for lang in WIKIPEDIA_LANGS:
            n = f"tokenized_wikipedia/20190301.{lang}_{enc}"
            out[n] = TextSpec(n, enc, None, lang)
        for cat in AMAZON_CATEGORIES:
            n = f"tokenized_amazon_reviews/{cat}_{enc}"
            out[n] = TextSpec(n, enc, 5)
    return out


#: Every text dataset TaskSet's char-LM, word-LM and text-classification samplers name.
TEXT_DATASETS: dict[str, TextSpec] = _specs()

BYTE_VOCAB_SIZE = 257  # utf-8 bytes shifted by one; 0 is padding (TFDS ByteTextEncoder)


def byte_encode(text: str) -> np.ndarray:
    """UTF-8 bytes + 1, so that 0 stays free for padding (vocabulary of 257)."""
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32) + 1


def _pydoc_corpus(num_classes: int | None) -> tuple[list[str], list[int], dict[str, list[int]]]:
    """Paragraphs of Python's own documentation (``pydoc_data.topics``), real English prose.

    Split 70/30 into train/test by hashing the paragraph index (as TaskSet's tokenized builders
    hashed article indices). The label, for labelled datasets, is which of ``num_classes``
    contiguous groups of the sorted topic names the paragraph came from.
    """
    from pydoc_data.topics import topics

    names = sorted(topics)
    paras: list[str] = []
    labels: list[int] = []
    k = num_classes or 1
    for ti, topic in enumerate(names):
        for p in topics[topic].split("\n\n"):
            if len(p.strip()) > 5:
                paras.append(p)
                labels.append(ti * k // len(names))
    split: dict[str, list[int]] = {"train": [], "test": []}
    for i in range(len(paras)):
        p = zlib.crc32(f"taskset_torch:{i}".encode()) % 1000 / 1000.0
        split["train" if p < 0.7 else "test"].append(i)
    return paras, labels, split


@dataclasses.dataclass
class _Corpus:
    """A text dataset's source splits, encoded, before TaskSet's splits are carved."""

    splits: dict[str, RaggedTokens]
    labels: dict[str, torch.Tensor] | None
    vocab_size: int
    source: DataSource


def _substitute_corpus(spec: TextSpec) -> _Corpus:
    paras, labels, split = _pydoc_corpus(spec.num_classes)
    detail = "English prose of Python's pydoc_data.topics (paragraphs), byte encoded"
    if spec.language != "en":
        detail += f"; stands in for {spec.language} text"
    enc = byte_encode
    vocab = BYTE_VOCAB_SIZE
    srcs = {s: RaggedTokens.from_sequences([enc(paras[i]) for i in ix]) for s, ix in split.items()}
    labs = None
    if spec.num_classes is not None:
        labs = {
            s: torch.tensor([labels[i] for i in ix], dtype=torch.int64) for s, ix in split.items()
        }
        detail += f"; labels = topic group of {spec.num_classes}"
    return _Corpus(srcs, labs, vocab, DataSource(spec.name, "substitute", detail))


def _load_corpus(spec: TextSpec) -> _Corpus:
    return _substitute_corpus(spec)


def _default_num_per_valid(spec: TextSpec) -> int:
    # TaskSet: char-LM 3000 (bytes), word-LM 10000 (subwords8k); text classification passes 3000.
    return 3000 if spec.encoding == "bytes" else 10000


def load_text_dataset(
    name: str,
    *,
    patch_length: int,
    num_train: int | None = None,
    num_per_valid: int | None = None,
    just_train: bool = False,
    allow_substitute: bool | None = None,
) -> TextDataset:
    """A TaskSet text dataset with its four splits, yielding random ``patch_length`` patches.

    ``num_per_valid`` defaults to TaskSet's char-LM value (3000) for ``*bytes`` datasets and the
    word-LM value (10000) for ``*subwords8k``; text classification must pass 3000. ``just_train``
    makes all four splits the training split (TaskSet's language models; its text classification
    ignored the flag, so that family should pass ``False``).
    """
    if name not in TEXT_DATASETS:
        raise KeyError(f"unknown text dataset {name!r}; valid: {', '.join(sorted(TEXT_DATASETS))}")
    spec = TEXT_DATASETS[name]
    corpus = cached(("text_corpus", name), lambda: _load_corpus(spec))
    check_substitute(
        name,
        corpus.source,
        allow_substitute,
        f"run `taskset-torch data prepare {name}` on a machine with network and TensorFlow",
    )
    n_valid = _default_num_per_valid(spec) if num_per_valid is None else num_per_valid
    source = corpus.source
    sizes = {s: len(v) for s, v in corpus.splits.items()}
    if source.is_substitute and 3 * n_valid > sizes["train"]:
        # A small stand-in cannot hold TaskSet's validation sizes; shrink them and say so.
        shrunk = max(1, sizes["train"] // 4)
        source = DataSource(
            source.dataset, source.kind, f"{source.detail}; num_per_valid {n_valid} -> {shrunk}"
        )
        n_valid = shrunk
    carved = carve_text_splits(sizes, n_valid, num_train, just_train=just_train, name=name)
    splits = {s: corpus.splits[c.source].select(c.start, c.stop) for s, c in carved.items()}
    labels = None
    if corpus.labels is not None:
        labels = {s: corpus.labels[c.source][c.start : c.stop] for s, c in carved.items()}
    assert set(splits) == set(SPLITS)
    return TextDataset(
        name,
        splits,
        labels,
        patch_length=patch_length,
        vocab_size=corpus.vocab_size,
        num_classes=spec.num_classes,
        source=source,
        info={"encoding": spec.encoding, "num_per_valid": n_valid},
    )
