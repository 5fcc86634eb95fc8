"""Datasets with TaskSet's four splits: TFDS, real local copies, built-in data, labelled substitutes."""

from taskset_torch.datasets.base import (
    ArrayDataset,
    SubstituteError,
    check_split,
    clear_cache,
    get_allow_substitutes,
    get_data_dir,
    set_allow_substitutes,
    set_data_dir,
)
from taskset_torch.datasets.images import IMAGE_SHAPES, ImageDataset, load_image_dataset
from taskset_torch.datasets.splits import SplitSlice, carve_splits, carve_text_splits
from taskset_torch.datasets.text import TextDataset
from taskset_torch.datasets.text_sources import TEXT_DATASETS, load_text_dataset

__all__ = [
    "ArrayDataset",
    "IMAGE_SHAPES",
    "ImageDataset",
    "SplitSlice",
    "SubstituteError",
    "TEXT_DATASETS",
    "TextDataset",
    "carve_splits",
    "carve_text_splits",
    "check_split",
    "clear_cache",
    "get_allow_substitutes",
    "get_data_dir",
    "load_image_dataset",
    "load_text_dataset",
    "set_allow_substitutes",
    "set_data_dir",
]
