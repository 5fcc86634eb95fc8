"""Text datasets: patches, padding, mask, labels, splits and sources."""

import pytest
import torch

from taskset_torch.datasets import (
    TEXT_DATASETS,
    SubstituteError,
    load_text_dataset,
)
from taskset_torch.datasets.text import RaggedTokens, random_patches
from taskset_torch.tasks.base import SPLITS


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
def test_load_text_dataset_contract(name):
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


def test_text_names_and_errors():
    assert len(TEXT_DATASETS) == 22
    with pytest.raises(KeyError, match="unknown text dataset"):
        load_text_dataset("nope/bytes", patch_length=4)
    d = load_text_dataset("lm1b/bytes", patch_length=4)
    if d.source.is_substitute:
        with pytest.raises(SubstituteError, match="lm1b/bytes"):
            load_text_dataset("lm1b/bytes", patch_length=4, allow_substitute=False)
