"""Image datasets (interim: every name resolves to scikit-learn's 8x8 digits, labelled substitute)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from taskset_torch.datasets.base import ArrayDataset
from taskset_torch.tasks.base import DataSource

__all__ = ["IMAGE_SHAPES", "ImageDataset", "load_image_dataset"]

IMAGE_SHAPES: dict[str, tuple[int, int, int, int]] = {  # name -> (C, H, W, num_classes)
    "mnist": (1, 28, 28, 10),
    "fashion_mnist": (1, 28, 28, 10),
    "cifar10": (3, 32, 32, 10),
    "cifar100": (3, 32, 32, 100),
    "imagenet_resized/16x16": (3, 16, 16, 1000),
    "imagenet_resized/32x32": (3, 32, 32, 1000),
    "food101_32x32": (3, 32, 32, 101),
    "food101_64x64": (3, 64, 64, 101),
    "coil100_32x32": (3, 32, 32, 100),
    "deep_weeds_32x32": (3, 32, 32, 9),
    "sun397_32x32": (3, 32, 32, 397),
    "colorectal_histology_32x32": (3, 32, 32, 8),
}


class ImageDataset(ArrayDataset):
    """Images stored uint8 [N, C, H, W]; batches are float32 in [0, 1]."""

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.splits["train"]["image"].shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return int(self.info["num_classes"])

    def batch(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        b = self.sample(split, batch_size, generator)
        return {"image": b["image"].float().div_(255.0), "label": b["label"]}


def load_image_dataset(name: str, **_: object) -> ImageDataset:
    from sklearn.datasets import load_digits

    if name not in IMAGE_SHAPES:
        raise KeyError(f"unknown image dataset {name!r}; valid: {sorted(IMAGE_SHAPES)}")
    c, h, w, k = IMAGE_SHAPES[name]
    x, y = load_digits(return_X_y=True)
    img = torch.tensor(x, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    img = F.interpolate(img, size=(h, w), mode="bilinear", align_corners=False).repeat(1, c, 1, 1)
    img = (img.clamp(0, 1) * 255).round().to(torch.uint8)
    lab = torch.tensor(y, dtype=torch.int64) % k
    n = 300
    splits = {
        "valid_inner": {"image": img[:n], "label": lab[:n]},
        "valid_outer": {"image": img[n : 2 * n], "label": lab[n : 2 * n]},
        "test": {"image": img[2 * n : 3 * n], "label": lab[2 * n : 3 * n]},
        "train": {"image": img[3 * n :], "label": lab[3 * n :]},
    }
    src = DataSource(name, "substitute", "sklearn digits 8x8, resized")
    return ImageDataset(name, splits, src, {"num_classes": k})
