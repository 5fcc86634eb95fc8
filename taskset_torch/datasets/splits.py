"""TaskSet's four splits carved from a dataset's source splits: a pure function of sizes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from taskset_torch.base import SPLITS

__all__ = ["SplitSlice", "carve_splits", "carve_text_splits"]


@dataclasses.dataclass(frozen=True)
class SplitSlice:
    """Examples ``[start, stop)`` of source split ``source`` make up one of TaskSet's splits."""

    source: str
    start: int
    stop: int

    @property
    def size(self) -> int:
        """Number of rows in the slice."""
        return self.stop - self.start


def _check_sizes(name: str, sizes: Mapping[str, int], num_per_valid: int) -> None:
    if num_per_valid < 1:
        raise ValueError(f"{name}: num_per_valid must be a positive int, got {num_per_valid}")
    for split, n in sizes.items():
        if n < 0:
            raise ValueError(f"{name}: source split {split!r} has negative size {n}")


def _take(name: str, train: SplitSlice, num_train: int | None) -> SplitSlice:
    # TaskSet: ``if num_train: train = train.take(num_train)`` -- a take longer than the split
    # yields the whole split, and 0/None mean "all".
    if num_train is not None and num_train < 0:
        raise ValueError(f"{name}: num_train must be None or a positive int, got {num_train}")
    if num_train:
        return SplitSlice(train.source, train.start, min(train.stop, train.start + num_train))
    return train


def _finish(
    name: str, out: dict[str, SplitSlice], num_train: int | None, just_train: bool
) -> dict[str, SplitSlice]:
    out["train"] = _take(name, out["train"], num_train)
    for split in SPLITS:
        if out[split].size <= 0:
            raise ValueError(
                f"{name}: split {split!r} would be empty ({out[split]}); the source splits are "
                f"too small for num_per_valid; pass a smaller num_per_valid"
            )
    if just_train:
        # TaskSet's just_train (char/word LM only) evaluates every split on the training data.
        out = {s: out["train"] for s in SPLITS}
    return {s: out[s] for s in SPLITS}


def carve_splits(
    sizes: Mapping[str, int],
    num_per_valid: int,
    num_train: int | None = None,
    *,
    just_train: bool = False,
    name: str = "dataset",
) -> dict[str, SplitSlice]:
    """TaskSet's image-dataset splits (``get_image_datasets``) from source split ``sizes``.

    * ``{train, validation, test}``: valid_inner = train[:N], train = train[N:],
      valid_outer = validation, test = test.
    * ``{train, test}`` or ``{train, validation}``: valid_inner = train[:N],
      valid_outer = train[N:2N], train = train[2N:], test = test (else validation).
    * ``{train}``: valid_inner, valid_outer, test = consecutive N-chunks of train, train = rest.

    ``num_train`` then truncates train. ``just_train`` makes all four splits train (TaskSet only
    applied it to language modelling; image loaders pass ``False``).
    """
    _check_sizes(name, sizes, num_per_valid)
    keys = set(sizes)
    n = num_per_valid
    if keys == {"train", "validation", "test"}:
        tr = sizes["train"]
        out = {
            "train": SplitSlice("train", n, tr),
            "valid_inner": SplitSlice("train", 0, min(n, tr)),
            "valid_outer": SplitSlice("validation", 0, sizes["validation"]),
            "test": SplitSlice("test", 0, sizes["test"]),
        }
    elif keys in ({"train", "test"}, {"train", "validation"}):
        tr = sizes["train"]
        held = "test" if "test" in keys else "validation"
        out = {
            "train": SplitSlice("train", 2 * n, tr),
            "valid_inner": SplitSlice("train", 0, min(n, tr)),
            "valid_outer": SplitSlice("train", n, min(2 * n, tr)),
            "test": SplitSlice(held, 0, sizes[held]),
        }
    elif keys == {"train"}:
        tr = sizes["train"]
        out = {
            "train": SplitSlice("train", 3 * n, tr),
            "valid_inner": SplitSlice("train", 0, min(n, tr)),
            "valid_outer": SplitSlice("train", n, min(2 * n, tr)),
            "test": SplitSlice("train", 2 * n, min(3 * n, tr)),
        }
    else:
        raise ValueError(
            f"{name}: cannot carve splits from source splits {sorted(keys)}; supported layouts are "
            "{train, validation, test}, {train, test}, {train, validation} and {train}"
        )
    return _finish(name, out, num_train, just_train)


def carve_text_splits(
    sizes: Mapping[str, int],
    num_per_valid: int,
    num_train: int | None = None,
    *,
    just_train: bool = False,
    name: str = "dataset",
) -> dict[str, SplitSlice]:
    """TaskSet's text splits (``random_slice_text_data``): valid_inner = train[:N],
    valid_outer = train[N:2N], train = train[2N:] (then ``num_train``), test = the source test
    split. Other source splits (validation, unsupervised) are ignored, as in TaskSet."""
    _check_sizes(name, sizes, num_per_valid)
    for need in ("train", "test"):
        if need not in sizes:
            raise ValueError(
                f"{name}: text datasets need source splits train and test, got {sorted(sizes)}"
            )
    n = num_per_valid
    tr = sizes["train"]
    out = {
        "train": SplitSlice("train", 2 * n, tr),
        "valid_inner": SplitSlice("train", 0, min(n, tr)),
        "valid_outer": SplitSlice("train", n, min(2 * n, tr)),
        "test": SplitSlice("test", 0, sizes["test"]),
    }
    return _finish(name, out, num_train, just_train)
