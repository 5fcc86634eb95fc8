"""TaskSet's four-way split carving, checked on synthetic sizes of every source layout."""

import pytest

from taskset_torch.base import SPLITS
from taskset_torch.datasets import SplitSlice, carve_splits, carve_text_splits


def test_train_validation_test_layout():
    s = carve_splits({"train": 100, "validation": 30, "test": 40}, 10)
    assert s == {
        "train": SplitSlice("train", 10, 100),
        "valid_inner": SplitSlice("train", 0, 10),
        "valid_outer": SplitSlice("validation", 0, 30),
        "test": SplitSlice("test", 0, 40),
    }


@pytest.mark.parametrize("held", ["test", "validation"])
def test_train_and_one_heldout_layout(held):
    s = carve_splits({"train": 100, held: 25}, 10)
    assert s == {
        "train": SplitSlice("train", 20, 100),
        "valid_inner": SplitSlice("train", 0, 10),
        "valid_outer": SplitSlice("train", 10, 20),
        "test": SplitSlice(held, 0, 25),
    }


def test_train_only_layout():
    s = carve_splits({"train": 100}, 10)
    assert s == {
        "train": SplitSlice("train", 30, 100),
        "valid_inner": SplitSlice("train", 0, 10),
        "valid_outer": SplitSlice("train", 10, 20),
        "test": SplitSlice("train", 20, 30),
    }
    # The four splits of a train-only dataset never overlap and cover it.
    covered = sorted(i for x in s.values() for i in range(x.start, x.stop))
    assert covered == list(range(100))


def test_num_train_truncates_train_only():
    s = carve_splits({"train": 100, "test": 25}, 10, num_train=30)
    assert s["train"] == SplitSlice("train", 20, 50)
    assert s["valid_inner"].size == s["valid_outer"].size == 10
    # TaskSet's .take(): a num_train beyond the split keeps it whole; None/0 mean all.
    assert carve_splits({"train": 100, "test": 25}, 10, num_train=10**6)["train"].size == 80
    assert carve_splits({"train": 100, "test": 25}, 10, num_train=0)["train"].size == 80


def test_just_train_makes_every_split_train():
    s = carve_splits({"train": 100, "test": 25}, 10, num_train=30, just_train=True)
    assert all(s[k] == SplitSlice("train", 20, 50) for k in SPLITS)


def test_text_layout_ignores_extra_source_splits():
    sizes = {"train": 50, "test": 7, "unsupervised": 1000}
    s = carve_text_splits(sizes, 5, num_train=12)
    assert s == {
        "train": SplitSlice("train", 10, 22),
        "valid_inner": SplitSlice("train", 0, 5),
        "valid_outer": SplitSlice("train", 5, 10),
        "test": SplitSlice("test", 0, 7),
    }


def test_bad_layouts_and_sizes_are_clear_errors():
    with pytest.raises(ValueError, match="cannot carve splits"):
        carve_splits({"test": 5}, 1)
    with pytest.raises(ValueError, match="'train' would be empty"):
        carve_splits({"train": 20, "test": 5}, 10, name="tiny")
    with pytest.raises(ValueError, match="num_per_valid"):
        carve_splits({"train": 20}, 0)
    with pytest.raises(ValueError, match="num_train"):
        carve_splits({"train": 100}, 1, num_train=-3)
    with pytest.raises(ValueError, match="need source splits train and test"):
        carve_text_splits({"train": 100}, 1)
