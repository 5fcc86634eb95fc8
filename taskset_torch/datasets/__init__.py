"""Datasets with TaskSet's four splits: TFDS, real local copies, built-in data, labelled substitutes."""

from taskset_torch.datasets.archives import (
    clear_archive_memo,
    default_search_path,
    find_archive,
    get_search_path,
    set_search_path,
)
from taskset_torch.datasets.augment import augment_images
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
from taskset_torch.datasets.manage import (
    ARCHIVE_DATASETS,
    add_local_dataset,
    dataset_names,
    dataset_status,
    prepare_dataset,
)
from taskset_torch.datasets.specs import (
    FIXED_NUM_PER_VALID,
    IMAGE_NUM_PER_VALID,
    IMAGE_SPECS,
    TEXT_CLASSIFICATION_NUM_PER_VALID,
    TEXT_NUM_PER_VALID,
    TEXT_SPECS,
)
from taskset_torch.datasets.splits import SplitSlice, carve_splits, carve_text_splits
from taskset_torch.datasets.synthetic import SequenceTaskData, associative_sequence, copy_sequence
from taskset_torch.datasets.text import TextDataset
from taskset_torch.datasets.text_sources import TEXT_DATASETS, load_text_dataset
from taskset_torch.datasets.tokenizers import ByteEncoder, SubwordEncoder

__all__ = [
    "ARCHIVE_DATASETS",
    "ArrayDataset",
    "ByteEncoder",
    "FIXED_NUM_PER_VALID",
    "IMAGE_NUM_PER_VALID",
    "IMAGE_SHAPES",
    "IMAGE_SPECS",
    "ImageDataset",
    "SequenceTaskData",
    "SplitSlice",
    "SubstituteError",
    "SubwordEncoder",
    "TEXT_CLASSIFICATION_NUM_PER_VALID",
    "TEXT_DATASETS",
    "TEXT_NUM_PER_VALID",
    "TEXT_SPECS",
    "TextDataset",
    "add_local_dataset",
    "associative_sequence",
    "augment_images",
    "carve_splits",
    "carve_text_splits",
    "check_split",
    "clear_archive_memo",
    "clear_cache",
    "copy_sequence",
    "dataset_names",
    "dataset_status",
    "default_search_path",
    "find_archive",
    "get_allow_substitutes",
    "get_data_dir",
    "get_search_path",
    "load_image_dataset",
    "load_text_dataset",
    "prepare_dataset",
    "set_allow_substitutes",
    "set_data_dir",
    "set_search_path",
]
