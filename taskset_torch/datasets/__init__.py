"""Datasets with TaskSet's four splits: TFDS, real local copies, built-in data, labelled substitutes."""

from taskset_torch.datasets.base import ArrayDataset, check_split
from taskset_torch.datasets.images import IMAGE_SHAPES, ImageDataset, load_image_dataset

__all__ = ["ArrayDataset", "check_split", "IMAGE_SHAPES", "ImageDataset", "load_image_dataset"]
