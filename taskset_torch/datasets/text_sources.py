"""Text datasets by TaskSet name: prepared caches, TFDS text, local text files, substitutes."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
import torch

from taskset_torch.base import DataSource, fork_pool, usable_cpus
from taskset_torch.datasets import archives, cache
from taskset_torch.datasets.base import cached, check_substitute, get_data_dir
from taskset_torch.datasets.specs import TEXT_NUM_PER_VALID, TEXT_SPECS, TextSpec, text_spec
from taskset_torch.datasets.splits import carve_text_splits
from taskset_torch.datasets.text import RaggedTokens, TextDataset
from taskset_torch.datasets.tfds_source import iter_tfds, tfds_has_data
from taskset_torch.datasets.tokenizers import ByteEncoder, SubwordEncoder

__all__ = [
    "TEXT_DATASETS",
    "RawText",
    "encode_corpus",
    "load_text_dataset",
    "read_imdb_text",
    "read_local_text",
    "read_sotu_text",
    "read_tfds_text",
    "taskset_hash_fraction",
    "text_meta",
    "text_source_status",
]

#: Every text dataset TaskSet's char-LM, word-LM and text-classification samplers name.
TEXT_DATASETS = TEXT_SPECS

# TaskSet's tokenized builders: 70/30 train/test by hashing the example index; at most 1M
# wikipedia articles; subword vocabularies from the first 200k training examples.
_PERC_TRAIN = 0.7
_MAX_ARTICLES = 1_000_000
_VOCAB_EXAMPLES = 200_000
_SALT = b"token_wikipedia_salt"
# The pydoc substitute builds its vocabulary from its first 100k characters (TFDS's
# ``max_corpus_chars``), so that a process needing it waits seconds, not a minute.
_PYDOC_VOCAB_CHARS = 100_000


def taskset_hash_fraction(index: int, modulus: int) -> float:
    """TFDS ``Hasher("token_wikipedia_salt").hash_key(index) % modulus / modulus``: md5 of the
    salt followed by the decimal index, read as a 128-bit integer."""
    h = int(hashlib.md5(_SALT + str(index).encode()).hexdigest(), 16)
    return h % modulus / modulus


@dataclasses.dataclass
class RawText:
    """Source splits of raw text (and labels), before encoding."""

    texts: dict[str, list[str]]
    labels: dict[str, list[int]] | None


def _s(x: Any) -> str:
    return x.decode("utf-8", errors="replace") if isinstance(x, bytes) else str(x)


def read_tfds_text(spec: TextSpec, data_dir: Path, *, download: bool = False) -> RawText:
    """Raw text of ``spec`` from its TFDS parent, split as TaskSet's builders split it."""
    texts: dict[str, list[str]] = {"train": [], "test": []}
    labels: dict[str, list[int]] = {"train": [], "test": []}

    def add(split: str, text: str, label: int = 0) -> None:
        texts[split].append(text)
        labels[split].append(label)

    if spec.family in ("lm1b", "imdb_reviews"):
        for split in ("train", "test"):  # imdb's "unsupervised" split is not used by TaskSet
            for ex in iter_tfds(spec.tfds_name, split, data_dir, download=download):
                add(split, _s(ex["text"]), int(ex["label"]) if "label" in ex else 0)
    elif spec.family == "tokenized_wikipedia":
        gen: Iterator[dict] = iter_tfds(spec.tfds_name, "train", data_dir, download=download)
        for exi, ex in enumerate(gen):
            if exi > _MAX_ARTICLES:
                break
            split = "train" if taskset_hash_fraction(exi, 100000) < _PERC_TRAIN else "test"
            for para in _s(ex["text"]).split("\n"):
                if len(para.strip()) > 5:
                    add(split, para)
    elif spec.family == "tokenized_amazon_reviews":
        gen = iter_tfds(spec.tfds_name, "train", data_dir, download=download)
        for exi, ex in enumerate(gen):
            p = taskset_hash_fraction(exi, 1000)
            data = ex["data"]
            # TaskSet: train if p < 0.7, test if p > 0.7 (p == 0.7 is in neither).
            if p < _PERC_TRAIN or p > _PERC_TRAIN:
                add("train" if p < _PERC_TRAIN else "test", _s(data["review_body"]),
                    int(data["star_rating"]) - 1)  # fmt: skip
    else:
        raise ValueError(f"no TFDS reader for text family {spec.family!r}")
    return RawText(texts, labels if spec.num_classes is not None else None)


def read_local_text(spec: TextSpec, path: str | Path) -> RawText:
    """A real local copy: a directory with ``train.txt`` and ``test.txt``, one example per line;
    for labelled datasets each line is ``<label>\\t<text>`` with the label in [0, num_classes)."""
    d = Path(path).expanduser()
    texts: dict[str, list[str]] = {}
    labels: dict[str, list[int]] = {}
    for split in ("train", "test"):
        f = d / f"{split}.txt"
        if not f.is_file():
            raise FileNotFoundError(f"{d}: a local text dataset needs train.txt and test.txt")
        texts[split], labels[split] = [], []
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines()):
            if spec.num_classes is not None:
                lab, sep, text = line.partition("\t")
                if not sep or not lab.strip().isdigit() or int(lab) >= spec.num_classes:
                    raise ValueError(
                        f"{f}:{i + 1}: expected '<label>\\t<text>' with label in "
                        f"[0, {spec.num_classes}) for {spec.name}"
                    )
                labels[split].append(int(lab))
                texts[split].append(text)
            elif line.strip():
                texts[split].append(line)
        if not texts[split]:
            raise ValueError(f"{f} holds no examples")
    return RawText(texts, labels if spec.num_classes is not None else None)


def _pydoc_text(spec: TextSpec) -> RawText:
    """Paragraphs of Python's own documentation (``pydoc_data.topics``), real English prose,
    split 70/30 by the same index hash as TaskSet's builders. For labelled datasets the label is
    which of ``num_classes`` contiguous groups of the sorted topic names a paragraph came from."""
    from pydoc_data.topics import topics

    names = sorted(topics)
    k = spec.num_classes or 1
    texts: dict[str, list[str]] = {"train": [], "test": []}
    labels: dict[str, list[int]] = {"train": [], "test": []}
    i = 0
    for ti, topic in enumerate(names):
        for para in topics[topic].split("\n\n"):
            if len(para.strip()) > 5:
                split = "train" if taskset_hash_fraction(i, 1000) < _PERC_TRAIN else "test"
                texts[split].append(para)
                labels[split].append(ti * k // len(names))
                i += 1
    return RawText(texts, labels if spec.num_classes is not None else None)


def _substitute_detail(spec: TextSpec) -> str:
    detail = "English prose of Python's pydoc_data.topics (paragraphs)"
    if spec.language != "en":
        detail += f", standing in for {spec.language} text"
    if spec.num_classes is not None:
        detail += f"; label = topic group of {spec.num_classes}"
    return detail


def build_vocab(raw: RawText, max_corpus_chars: int | None = None) -> list[str]:
    """TFDS's ~8k subword vocabulary of the first 200k training examples of ``raw``."""
    return SubwordEncoder.build(
        raw.texts["train"][:_VOCAB_EXAMPLES], max_corpus_chars=max_corpus_chars
    ).subwords


#: Texts per worker task when a corpus is encoded in parallel (subword encoding is pure Python:
#: IMDB's 50k reviews take about a minute on one core).
_ENCODE_CHUNK = 2000


def _encode_chunk(encoder: ByteEncoder | SubwordEncoder, texts: list[str]) -> list[np.ndarray]:
    return [encoder.encode(t) for t in texts]


def _encode_all(encoder: ByteEncoder | SubwordEncoder, texts: list[str]) -> list[np.ndarray]:
    """``encoder.encode`` of every text, in order; subword corpora of several chunks are encoded
    by a pool of processes (one per core, at most 16) when the machine has more than one core."""
    workers = min(usable_cpus(), 16, -(-len(texts) // _ENCODE_CHUNK))
    if isinstance(encoder, ByteEncoder) or workers < 2:
        return _encode_chunk(encoder, texts)
    chunks = [texts[i : i + _ENCODE_CHUNK] for i in range(0, len(texts), _ENCODE_CHUNK)]
    with fork_pool(workers) as pool:
        if pool is not None:
            try:
                parts = list(pool.map(_encode_chunk, [encoder] * len(chunks), chunks))
                return [seq for part in parts for seq in part]
            except BrokenProcessPool:
                pass
    return _encode_chunk(encoder, texts)


def encode_corpus(
    spec: TextSpec, raw: RawText, vocab: list[str] | None = None
) -> tuple[dict[str, dict[str, np.ndarray]], list[str] | None]:
    """Encode raw text as flat ``tokens``/``lengths`` (and ``label``) per source split.

    Subword vocabularies are built from the first 200k training examples unless given."""
    if spec.encoding == "bytes":
        encoder: ByteEncoder | SubwordEncoder = ByteEncoder()
    else:
        if vocab is None:
            vocab = build_vocab(raw)
        encoder = SubwordEncoder(vocab)
    out: dict[str, dict[str, np.ndarray]] = {}
    # int16 ids when they fit (every TaskSet vocabulary does): half the memory and disk.
    dtype = np.int16 if encoder.vocab_size <= np.iinfo(np.int16).max + 1 else np.int32
    for split, texts in raw.texts.items():
        seqs = _encode_all(encoder, texts)
        keep = [i for i, s in enumerate(seqs) if len(s) > 0]  # an empty text has no patch
        arrays = {
            "tokens": np.concatenate([seqs[i] for i in keep]).astype(dtype),
            "lengths": np.asarray([len(seqs[i]) for i in keep], dtype=np.int64),
        }
        if raw.labels is not None:
            labels = np.asarray([raw.labels[split][i] for i in keep], dtype=np.int64)
            bad = (labels < 0) | (labels >= (spec.num_classes or 0))
            if bad.any():
                raise ValueError(
                    f"{spec.name} [{split}]: label {int(labels[bad][0])} outside "
                    f"[0, {spec.num_classes})"
                )
            arrays["label"] = labels
        out[split] = arrays
    return out, (vocab if spec.encoding != "bytes" else None)


#: Subword id layout of prepared text: TFDS's (0 pad, subwords, then bytes). Earlier caches put
#: the bytes first and are refused with a request to prepare them again.
SUBWORD_LAYOUT = "tfds"


def text_meta(spec: TextSpec, kind: str, detail: str, vocab_size: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "kind": "text",
        "source_kind": kind,
        "detail": detail,
        "encoding": spec.encoding,
        "vocab_size": vocab_size,
        "num_classes": spec.num_classes,
    }
    if spec.encoding != "bytes":
        meta["subword_layout"] = SUBWORD_LAYOUT
    return meta


def _check_layout(spec: TextSpec, meta: dict[str, Any], where: Path) -> None:
    if spec.encoding != "bytes" and meta.get("subword_layout") != SUBWORD_LAYOUT:
        raise ValueError(
            f"{where} holds {spec.name} in an older subword id layout (bytes first); prepare it "
            f"again: `taskset-torch data prepare {spec.name}` or `taskset-torch data add-local "
            f"{spec.name} PATH`"
        )


# --- real archives read in place (imdb) and the English prose stand-in (sotu) -----------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _hash_order(n: int, salt: str) -> list[int]:
    """A fixed shuffle of ``range(n)``: by md5 of ``salt`` and the index."""
    return sorted(range(n), key=lambda i: hashlib.md5(f"{salt}{i}".encode()).digest())


def read_imdb_text(path: Path) -> RawText:
    """The labelled IMDB archive as raw text (TFDS order; label neg 0, pos 1)."""
    texts, labels = archives.read_imdb_archive(path)
    return RawText(texts, labels)


def read_sotu_text(path: Path, num_classes: int | None = None) -> RawText:
    """State of the Union addresses as examples of English prose: one sentence per example, split
    70/30 by TaskSet's index hash, each split in a fixed hashed order. With ``num_classes`` the
    label is the period: which of ``num_classes`` equal groups of the addresses (by year) the
    sentence came from."""
    docs = archives.read_sotu_archive(path)
    k = num_classes or 1
    texts: dict[str, list[str]] = {"train": [], "test": []}
    labels: dict[str, list[int]] = {"train": [], "test": []}
    i = 0
    for di, (_, text) in enumerate(docs):
        for sent in _SENTENCE_END.split(text):
            if len(sent.strip()) > 5:
                split = "train" if taskset_hash_fraction(i, 1000) < _PERC_TRAIN else "test"
                texts[split].append(sent.strip())
                labels[split].append(di * k // len(docs))
                i += 1
    for split in ("train", "test"):
        order = _hash_order(len(texts[split]), f"sotu_{split}_")
        texts[split] = [texts[split][j] for j in order]
        labels[split] = [labels[split][j] for j in order]
    return RawText(texts, labels if num_classes is not None else None)


def _stand_in_for(spec: TextSpec) -> str:
    if spec.family == "lm1b":
        return "lm1b"
    if spec.family == "tokenized_wikipedia":
        return f"wikipedia {spec.config}" + ("" if spec.language == "en" else ", English text")
    if spec.family == "tokenized_amazon_reviews":
        return f"amazon reviews {spec.config}"
    return spec.family


def _archive_source(spec: TextSpec) -> tuple[str, Path] | None:
    """The real archive (``imdb``) or stand-in archive (``sotu``) that would serve ``spec``."""
    if spec.family == "imdb_reviews":
        p = archives.find_archive("imdb")
        if p is not None:
            return "imdb", p
    p = archives.find_archive("sotu")
    return None if p is None else ("sotu", p)


def _archive_detail(spec: TextSpec, key: str, path: Path) -> tuple[str, str]:
    """``(kind, detail)`` recorded for ``spec`` served from archive ``key`` at ``path``."""
    if key == "imdb":
        detail = f"{archives.ARCHIVES['imdb'].what} {path}"
        if spec.encoding != "bytes":
            detail += "; TFDS subwords8k vocabulary rebuilt from its train text"
        return "local", detail
    detail = f"english_text:sotu (stand-in for {_stand_in_for(spec)}) {path}; sentences"
    if spec.num_classes is not None:
        detail += f"; label = period of {spec.num_classes}"
    return "stand-in", detail


def _archive_raw(spec: TextSpec, key: str, path: Path) -> RawText:
    # Not kept in memory: reading takes seconds, beside minutes for a vocabulary.
    return read_imdb_text(path) if key == "imdb" else read_sotu_text(path, spec.num_classes)


def _archive_vocab(spec: TextSpec, key: str, path: Path, data_dir: Path) -> list[str]:
    """The subword vocabulary of an archive's train text: kept on disk, built once."""
    fp = archives.archive_fingerprint(path)
    name = f"{key}-subwords8k-vocab-{fp}"
    d = cache.archive_cache_dir(name, data_dir)

    def build() -> cache.Built:
        vocab = build_vocab(_archive_raw(spec, key, path))
        return {}, {"kind": "vocab", "archive": str(path), "subword_layout": SUBWORD_LAYOUT}, vocab

    def load() -> list[str]:
        vocab = cache.load_or_build(d, name, build)[2]
        if vocab is None:
            raise ValueError(f"{d} holds no vocab.json; delete it to rebuild the vocabulary")
        return vocab

    return archives.memo(("vocab", name), load)


def _archive_corpus(
    spec: TextSpec, key: str, path: Path, data_dir: Path
) -> tuple[dict[str, dict[str, np.ndarray]], list[str] | None, DataSource]:
    """Encoded arrays of ``spec`` from archive ``key``: decoded once, kept on disk."""
    fp = archives.archive_fingerprint(path)
    # Stand-ins depend on the encoding and the label count only: datasets share them.
    ident = spec.name if key == "imdb" else f"{spec.encoding}-{spec.num_classes}"
    name = f"{key}-{ident}-{fp}"
    d = cache.archive_cache_dir(name, data_dir)
    kind, detail = _archive_detail(spec, key, path)

    def build() -> cache.Built:
        vocab = None if spec.encoding == "bytes" else _archive_vocab(spec, key, path, data_dir)
        arrays, vocab = encode_corpus(spec, _archive_raw(spec, key, path), vocab)
        meta = text_meta(spec, kind, detail, _vocab_size(spec, vocab))
        return arrays, {**meta, "archive": str(path)}, vocab

    def load() -> tuple[dict[str, dict[str, np.ndarray]], list[str] | None]:
        arrays, meta, vocab = cache.load_or_build(d, name, build)
        _check_layout(spec, meta, d)
        return arrays, vocab

    # In memory per archive version (not per data dir): the content depends on the archive only.
    arrays, vocab = archives.memo(("text", name), load)
    return arrays, vocab, DataSource(spec.name, kind, detail)


@dataclasses.dataclass
class _Corpus:
    splits: dict[str, RaggedTokens]
    labels: dict[str, torch.Tensor] | None
    vocab_size: int
    source: DataSource
    subwords: list[str] | None = None


def _local_dir(spec: TextSpec, data_dir: Path) -> Path:
    return data_dir / "local" / spec.name.replace("/", "__")


def _vocab_size(spec: TextSpec, vocab: list[str] | None) -> int:
    return ByteEncoder.vocab_size if vocab is None else SubwordEncoder(vocab).vocab_size


def text_source_status(name: str) -> DataSource:
    """Which source would serve ``name`` now (looks at files, loads nothing)."""
    spec = text_spec(name)
    data_dir = get_data_dir()
    found = cache.prepared_or_tfds_source(name, spec.tfds_name, data_dir)
    if found is not None:
        return found
    if (_local_dir(spec, data_dir) / "train.txt").is_file():
        return DataSource(name, "local", str(_local_dir(spec, data_dir)))
    found = _archive_source(spec)
    if found is not None:
        return DataSource(name, *_archive_detail(spec, *found))
    return DataSource(name, "substitute", _substitute_detail(spec))


def _resolve(spec: TextSpec, data_dir: Path) -> _Corpus:
    if cache.has_prepared(spec.name, data_dir):
        arrays, meta, vocab = cache.read_prepared(spec.name, data_dir)
        _check_layout(spec, meta, cache.prepared_dir(spec.name, data_dir))
        source = DataSource(spec.name, meta["source_kind"], meta.get("detail", ""))
    elif (
        not tfds_has_data(spec.tfds_name, data_dir)
        and not (_local_dir(spec, data_dir) / "train.txt").is_file()
        and (found := _archive_source(spec)) is not None
    ):
        arrays, vocab, source = _archive_corpus(spec, *found, data_dir)
    else:
        if tfds_has_data(spec.tfds_name, data_dir):
            raw = read_tfds_text(spec, data_dir)
            kind, detail = "real", f"TFDS {spec.tfds_name}, encoded by taskset_torch"
        elif (_local_dir(spec, data_dir) / "train.txt").is_file():
            raw = read_local_text(spec, _local_dir(spec, data_dir))
            kind, detail = "local", str(_local_dir(spec, data_dir))
        else:
            raw = _pydoc_text(spec)
            kind, detail = "substitute", _substitute_detail(spec)
        vocab = None
        if kind == "substitute" and spec.encoding == "subwords8k":
            # Every substitute shares the same prose, so build its vocabulary once per process.
            vocab = cached(
                ("pydoc_subwords",), lambda: build_vocab(raw, max_corpus_chars=_PYDOC_VOCAB_CHARS)
            )
        arrays, vocab = encode_corpus(spec, raw, vocab)
        source = DataSource(spec.name, kind, detail)
        if kind == "real":  # keep plain arrays: later processes skip TFDS and the encoding
            meta = text_meta(spec, kind, detail, _vocab_size(spec, vocab))
            try:
                cache.write_prepared(spec.name, arrays, meta, vocab=vocab, data_dir=data_dir)
            except OSError:  # a read-only data dir only costs the speed-up
                pass
    splits = {
        s: RaggedTokens(torch.from_numpy(a["tokens"]), torch.from_numpy(a["lengths"]))
        for s, a in arrays.items()
    }
    labels = None
    if spec.num_classes is not None:
        labels = {s: torch.from_numpy(a["label"]) for s, a in arrays.items()}
    return _Corpus(splits, labels, _vocab_size(spec, vocab), source, vocab)


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

    ``num_per_valid`` defaults to TaskSet's language-model value (``TEXT_NUM_PER_VALID``: 3000
    for ``*bytes``, 10000 for ``*subwords8k``); text classification passes 3000
    (``TEXT_CLASSIFICATION_NUM_PER_VALID``). ``just_train``
    makes all four splits the training split (TaskSet's language models; its text classification
    ignored the flag, so that family passes ``False``). Datasets with labels (IMDB, Amazon) always
    yield them, as TaskSet's pipeline did; ``num_classes`` is ``None`` for the others.
    """
    spec = text_spec(name)
    if not isinstance(patch_length, int) or isinstance(patch_length, bool) or patch_length < 1:
        raise ValueError(f"patch_length must be a positive int, got {patch_length!r}")
    data_dir = get_data_dir()
    corpus = cached(("text", name, str(data_dir)), lambda: _resolve(spec, data_dir))
    check_substitute(
        name,
        corpus.source,
        allow_substitute,
        f"run `taskset-torch data prepare {name}` where TFDS can download "
        f"{spec.tfds_name}, or give a local copy with `taskset-torch data add-local {name} DIR` "
        "(train.txt and test.txt)",
    )
    n_valid = TEXT_NUM_PER_VALID[name] if num_per_valid is None else num_per_valid
    source = corpus.source
    sizes = {s: len(v) for s, v in corpus.splits.items()}
    if (source.is_substitute or source.is_stand_in) and 3 * n_valid >= sizes["train"]:
        # The stand-in is far smaller than the dataset: shrink the validation splits, say so.
        shrunk = max(1, sizes["train"] // 4)
        source = DataSource(
            name, source.kind, f"{source.detail}; num_per_valid {n_valid}->{shrunk}"
        )
        n_valid = shrunk
    carved = carve_text_splits(sizes, n_valid, num_train, just_train=just_train, name=name)
    splits = {s: corpus.splits[c.source].select(c.start, c.stop) for s, c in carved.items()}
    labels = None
    if corpus.labels is not None:
        labels = {s: corpus.labels[c.source][c.start : c.stop] for s, c in carved.items()}
    return TextDataset(
        name,
        splits,
        labels,
        patch_length=patch_length,
        vocab_size=corpus.vocab_size,
        num_classes=spec.num_classes,
        source=source,
        # "subwords": the vocabulary (SubwordEncoder(subwords) encodes and decodes), or None.
        info={"encoding": spec.encoding, "num_per_valid": n_valid, "subwords": corpus.subwords},
    )
