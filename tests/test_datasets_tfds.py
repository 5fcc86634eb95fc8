"""The TFDS path, exercised offline with ``tfds.testing.mock_data`` (no TensorFlow needed).

With TensorFlow absent, TFDS reads through ``tfds.data_source``; mock_data replaces the array_record
reader with generated examples of each dataset's real feature spec (shapes, dtypes, label keys),
so everything downstream of TFDS (resizing, label keys, hashing, encoding, caching) runs for real.
"""

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from taskset_torch import datasets as D
from taskset_torch.datasets import cache
from taskset_torch.datasets.text_sources import taskset_hash_fraction
from taskset_torch.datasets.tfds_source import tfds_scratch, tfds_split_names
from taskset_torch.datasets.tokenizers import SubwordEncoder

tfds = pytest.importorskip("tensorflow_datasets")


@pytest.fixture
def mock():
    with (
        tfds_scratch(),
        tfds.testing.mock_data(num_examples=24, policy=tfds.testing.MockPolicy.USE_CODE),
    ):
        yield


def _leaked_tfds_dirs() -> set:
    return {p.name for p in Path(tempfile.gettempdir()).glob("tmp*tfds")}


def test_building_a_tfds_builder_leaves_no_temporary_directory(tmp_path):
    """TFDS makes an empty temp dir per builder of unprepared data and keeps it; ours go away."""
    before = _leaked_tfds_dirs()
    names = tfds_split_names("mnist", tmp_path, ("x",))  # offline: no splits -> the default
    assert names and all(isinstance(n, str) for n in names)
    assert _leaked_tfds_dirs() == before


def test_split_hash_is_tfds_hasher():
    from tensorflow_datasets.core.hashing import Hasher

    h = Hasher("token_wikipedia_salt")
    for i in [0, 1, 7, 99, 12345, 999_999]:
        assert taskset_hash_fraction(i, 1000) == h.hash_key(i) % 1000 / 1000
        assert taskset_hash_fraction(i, 100000) == h.hash_key(i) % 100000 / 100000


def test_prepare_image_dataset_through_tfds(data_dir, mock):
    src = D.prepare_dataset("mnist")
    assert src.kind == "real" and cache.has_prepared("mnist", data_dir)
    want = tfds.data_source("mnist", split="test")
    expected = np.stack([want[i]["image"][..., 0] for i in range(len(want))])
    ds = D.load_image_dataset("mnist", num_per_valid=4)
    assert ds.source.kind == "real" and D.dataset_status()["mnist"].kind == "real"
    assert ds.size("train") == 24 - 8 and ds.size("test") == 24
    assert np.array_equal(ds.splits["test"]["image"][:, 0].numpy(), expected)
    D.set_allow_substitutes(False)  # a real dataset needs no permission
    assert D.load_image_dataset("mnist", num_per_valid=4).source.kind == "real"


def test_resized_builder_and_label_key(data_dir, mock):
    # coil100 (128x128 in TFDS) -> TaskSet's coil100_32x32, label = TFDS 2.0's angle_label.
    D.prepare_dataset("coil100_32x32")
    ds = D.load_image_dataset("coil100_32x32", num_per_valid=3)
    assert ds.image_shape == (3, 32, 32) and ds.num_classes == 72
    assert {ds.size(s) for s in ("valid_inner", "valid_outer", "test")} == {3}
    assert "resized bicubic" in ds.source.detail
    b = ds.batch("train", 5, torch.Generator().manual_seed(0))
    assert int(b["label"].max()) < 72


def test_tfds_data_on_disk_is_read_and_cached(data_dir, mock):
    info = data_dir / "tfds" / "cifar100" / "3.0.2" / "dataset_info.json"
    info.parent.mkdir(parents=True)
    info.write_text("{}")  # what TFDS leaves once a dataset is prepared
    assert D.dataset_status()["cifar100"].kind == "real"
    ds = D.load_image_dataset("cifar100", num_per_valid=2)
    assert ds.source.kind == "real" and ds.image_shape == (3, 32, 32)
    assert cache.has_prepared("cifar100", data_dir)  # later processes skip TFDS


def test_prepare_text_dataset_through_tfds(data_dir, mock):
    D.prepare_dataset("imdb_reviews/subwords8k")
    _, meta, vocab = cache.read_prepared("imdb_reviews/subwords8k", data_dir)
    assert meta["source_kind"] == "real" and vocab  # the vocabulary is stored with the data
    ds = D.load_text_dataset("imdb_reviews/subwords8k", patch_length=8, num_per_valid=3)
    assert ds.source.kind == "real" and ds.num_classes == 2
    assert ds.vocab_size == SubwordEncoder(vocab).vocab_size
    b = ds.batch("test", 6, torch.Generator().manual_seed(0))
    assert b["tokens"].shape == (6, 8) and set(b["label"].tolist()) <= {0, 1}
    # Stored ids decode back to the mocked review text.
    texts = [tfds.data_source("imdb_reviews/plain_text", split="test")[i]["text"] for i in range(3)]
    enc = SubwordEncoder(vocab)
    data = ds.splits["test"]
    first = data.tokens[: int(data.lengths[0])].tolist()
    t0 = texts[0].decode() if isinstance(texts[0], bytes) else texts[0]
    assert enc.decode(first) == t0

    D.prepare_dataset("lm1b/bytes")
    lm = D.load_text_dataset("lm1b/bytes", patch_length=5, num_per_valid=2, just_train=True)
    assert lm.source.kind == "real" and lm.num_classes is None and lm.vocab_size == 257
    assert all(lm.size(s) == lm.size("train") for s in ("valid_inner", "valid_outer", "test"))
