"""Text datasets: patches, padding, mask, labels, splits and sources."""

import numpy as np
import pytest
import torch

from taskset_torch import datasets as D
from taskset_torch.base import SPLITS
from taskset_torch.datasets import (
    TEXT_DATASETS,
    ByteEncoder,
    SubstituteError,
    SubwordEncoder,
    load_text_dataset,
)
from taskset_torch.datasets.synthetic import SequenceTaskData
from taskset_torch.datasets.text import RaggedTokens, random_patches


def test_random_patches_pad_and_slice():
    data = RaggedTokens.from_sequences([[5, 6, 7, 8, 9, 10], [3, 4]])
    g = torch.Generator().manual_seed(0)
    idx = torch.tensor([0] * 200 + [1])
    tok, mask = random_patches(data, idx, 3, g)
    assert tok.dtype == torch.int64 and mask.dtype == torch.float32
    # Long sequence: contiguous slices starting in [0, len - T) = [0, 3): never the last start.
    starts = set((tok[:200, 0] - 5).tolist())
    assert starts == {0, 1, 2}
    assert torch.equal(tok[:200, 1] - tok[:200, 0], torch.ones(200, dtype=torch.int64))
    assert mask[:200].eq(1).all()
    # Short sequence: zero padded at the end, mask marks real tokens.
    assert tok[200].tolist() == [3, 4, 0] and mask[200].tolist() == [1.0, 1.0, 0.0]


@pytest.mark.parametrize("name", ["lm1b/bytes", "imdb_reviews/subwords8k"])
def test_load_text_dataset_contract(name, data_dir):
    d = load_text_dataset(name, patch_length=16, num_per_valid=50)
    g = torch.Generator().manual_seed(1)
    for split in SPLITS:
        b = d.batch(split, 4, g)
        assert b["tokens"].shape == (4, 16) and b["tokens"].dtype == torch.int64
        assert b["mask"].shape == (4, 16) and b["mask"].dtype == torch.float32
        assert int(b["tokens"].max()) < d.vocab_size and int(b["tokens"].min()) >= 0
        assert torch.equal(b["tokens"] == 0, b["mask"] == 0)
        if d.num_classes is None:
            assert "label" not in b
        else:
            assert b["label"].shape == (4,) and int(b["label"].max()) < d.num_classes
    assert d.source.dataset == name and d.source.kind in {"real", "local", "builtin", "substitute"}


def test_text_names_and_errors(data_dir):
    assert len(TEXT_DATASETS) == 22
    with pytest.raises(KeyError, match="unknown text dataset"):
        load_text_dataset("nope/bytes", patch_length=4)
    d = load_text_dataset("lm1b/bytes", patch_length=4)
    if d.source.is_substitute:
        with pytest.raises(SubstituteError, match="lm1b/bytes"):
            load_text_dataset("lm1b/bytes", patch_length=4, allow_substitute=False)


# --- tokenizers ---------------------------------------------------------------------------


CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "the dog sleeps; the fox runs, and the fox jumps again!",
    "Über café naïve — 日本語のテキスト and русский текст.",
] * 20


def test_byte_encoder():
    enc = ByteEncoder()
    ids = enc.encode("aé")
    assert ids.tolist() == [ord("a") + 1, 0xC3 + 1, 0xA9 + 1] and enc.vocab_size == 257
    assert enc.decode(ids) == "aé"


def test_subword_encoder_is_deterministic_and_lossless():
    a = SubwordEncoder.build(CORPUS, vocab_size=300)
    b = SubwordEncoder.build(list(CORPUS), vocab_size=300)
    assert a.subwords == b.subwords and abs(a.vocab_size - 300) <= 30
    assert a.vocab_size == 1 + len(a.subwords) + 256  # TFDS layout: pad, subwords, bytes
    text = "the lazy fox, jumping — 日本 and unseen ✓ symbols"
    ids = a.encode(text)
    assert a.decode(ids) == text
    assert ids.min() >= 1 and ids.max() < a.vocab_size
    # Frequent words become single ids: far fewer ids than bytes.
    assert len(a.encode(CORPUS[0])) < len(CORPUS[0]) / 2
    # The stored vocabulary alone reproduces the encoding.
    assert SubwordEncoder(a.subwords).encode(text).tolist() == ids.tolist()
    with pytest.raises(ValueError, match="vocab_size"):
        SubwordEncoder.build(CORPUS, vocab_size=100)


def test_local_text_copy_with_labels(data_dir, tmp_path):
    src = tmp_path / "amazon"
    src.mkdir()
    (src / "train.txt").write_text(
        "".join(f"{i % 5}\treview number {i} is ok\n" for i in range(40))
    )
    (src / "test.txt").write_text("4\tgreat\n0\tawful product\n")
    name = "tokenized_amazon_reviews/Books_v1_02_bytes"
    assert D.add_local_dataset(name, src).kind == "local"
    ds = D.load_text_dataset(name, patch_length=6, num_per_valid=5, num_train=10)
    assert ds.source.kind == "local" and ds.num_classes == 5
    assert {s: ds.size(s) for s in SPLITS} == {
        "train": 10,
        "valid_inner": 5,
        "valid_outer": 5,
        "test": 2,
    }
    assert ds.labels["valid_inner"].tolist() == [0, 1, 2, 3, 4]
    assert ByteEncoder().decode(ds.splits["test"].tokens.tolist()) == "greatawful product"
    (src / "test.txt").write_text("9\tbad label\n")
    with pytest.raises(ValueError, match="label in"):
        D.add_local_dataset(name, src)


def test_just_train_and_substitute_details(data_dir):
    ds = D.load_text_dataset("imdb_reviews/bytes", patch_length=8, just_train=True, num_train=50)
    assert all(ds.size(s) == 50 for s in SPLITS)
    assert ds.source.is_substitute and "num_per_valid 3000->" in ds.source.detail
    ru = D.load_text_dataset("tokenized_wikipedia/20190301.ru_bytes", patch_length=8)
    assert "standing in for ru text" in ru.source.detail
    with pytest.raises(ValueError, match="patch_length"):
        D.load_text_dataset("lm1b/bytes", patch_length=0)


# --- synthetic sequences ------------------------------------------------------------------


def test_associative_sequence():
    g = torch.Generator().manual_seed(3)
    b = D.associative_sequence(64, 4, 10, g)
    inp, out, mask = b["input"], b["output"], b["loss_mask"]
    assert inp.shape == out.shape == mask.shape == (64, 10)
    keys, values = inp[:, 0:8:2], inp[:, 1:8:2]
    assert all(len(set(k.tolist())) == 4 for k in keys)  # keys are distinct
    assert (inp[:, 8] == 11).all() and (out[:, :-1] == 10).all()
    hit = keys == inp[:, 9:10]
    assert (hit.sum(1) == 1).all()
    assert torch.equal(out[:, -1], values[hit])
    assert mask[:, -1].eq(1).all() and mask[:, :-1].eq(0).all()
    again = D.associative_sequence(64, 4, 10, torch.Generator().manual_seed(3))
    assert torch.equal(again["input"], inp)
    with pytest.raises(ValueError, match="num_pairs"):
        D.associative_sequence(2, 11, 10, g)


def test_copy_sequence():
    g = torch.Generator().manual_seed(0)
    b = D.copy_sequence(8, 5, 3, g, num_separator=2, one_hot=True)
    assert b["input"].shape == (8, 12, 5) and b["output"].shape == (8, 12, 5)
    inp, out = b["input"].argmax(-1), b["output"].argmax(-1)
    assert (inp[:, 5:7] == 3).all() and (inp[:, 7:] == 4).all()
    assert torch.equal(out[:, 7:], inp[:, :5])
    assert b["loss_mask"].sum().item() == 8 * 5
    seq = SequenceTaskData("copy", sequence_length=5, num_tokens=3)
    assert seq.source.kind == "synthetic" and seq.batch("test", 2, g)["input"].shape == (2, 11)


def test_a_corpus_encoded_by_a_pool_of_processes_equals_one_encoded_in_order(monkeypatch):
    """Big subword corpora are encoded in parallel (a minute of pure Python for IMDB on one
    core); the ids and their order must be those of the one-process encoding."""
    from taskset_torch.datasets import text_sources
    from taskset_torch.datasets.subwords import build_subword_vocab
    from taskset_torch.datasets.tokenizers import SubwordEncoder

    texts = [
        f"review {i}: the film was {'good' if i % 2 else 'bad'}, said critic {i * 7}."
        for i in range(23)
    ]
    enc = SubwordEncoder(build_subword_vocab(texts, target_vocab_size=300))
    monkeypatch.setattr(text_sources, "_ENCODE_CHUNK", 4)
    monkeypatch.setattr(text_sources, "usable_cpus", lambda: 3)
    got = text_sources._encode_all(enc, texts)
    assert len(got) == len(texts)
    for g, t in zip(got, texts):
        assert g.tolist() == enc.encode(t).tolist()


def test_a_vocabulary_built_with_speculative_workers_is_the_serial_one(monkeypatch):
    """The binary search over min_count may build its next levels in parallel (a minute of pure
    Python for IMDB on one core); it must end on exactly the serial search's vocabulary."""
    from taskset_torch.datasets import subwords

    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("abcdefghij"), size=rng.integers(2, 9))) for _ in range(300)]
    texts = [" ".join(rng.choice(words, size=40, p=None)) + "." for _ in range(200)]
    monkeypatch.setattr(subwords, "usable_cpus", lambda: 1)
    serial = subwords.build_subword_vocab(texts, target_vocab_size=600)
    monkeypatch.setattr(subwords, "usable_cpus", lambda: 7)
    jumps = []
    real = subwords._Prefetcher.__call__

    def spy(self, lo, hi):
        before = len(self.built)
        real(self, lo, hi)
        jumps.append(len(self.built) - before)

    monkeypatch.setattr(subwords._Prefetcher, "__call__", spy)
    parallel = subwords.build_subword_vocab(texts, target_vocab_size=600)
    assert parallel == serial
    assert (
        max(jumps) >= 3
    )  # one round built several sizes ahead of the search (7 workers: 3 levels)
