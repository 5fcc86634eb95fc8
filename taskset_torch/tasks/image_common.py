"""Shared parts of the sampled image families: dataset loading, batches, flattening, checks."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import torch

from taskset_torch.base import DataSource, check_config
from taskset_torch.tasks.base import Batch, Params, Task

__all__ = [
    "load_family_images",
    "flatten_hwc",
    "ImageTask",
    "check_int_list",
    "check_w_init",
    "CPU_BLOCK_FLOATS",
    "split_sets",
]

#: On CPU, parameter sets are run in blocks whose activations total about this many floats (a few
#: MB, cache-sized): one [n, B, ...] pass over all n sets is memory-bound and measured 1.5-2x
#: slower per set than blocks of 4-16 for conv and RealNVP tasks. Accelerators take all n at once.
CPU_BLOCK_FLOATS = 3 << 19


def load_family_images(spec: Sequence[Any]):
    """The image dataset of a sampled ``[name, cfg, augmentation]`` spec, loaded as TaskSet did.

    TaskSet's `_get_image` never applies ``just_train`` to image tasks, so it is ignored here too;
    ``num_per_valid`` is the loader's default, TaskSet's sampled-family table. Images stay in
    [0, 1]: tasks center them (:class:`ImageTask`'s ``center``, or by output type).
    """
    from taskset_torch.datasets import load_image_dataset

    if not isinstance(spec, (list, tuple)) or len(spec) != 3 or not isinstance(spec[1], dict):
        raise ValueError(
            f"dataset spec must be [name, {{bs, num_train, ...}}, aug|None], got {spec!r}"
        )
    name, cfg, aug = spec
    check_config(
        cfg, ("bs",), "image dataset config", optional=("num_train", "just_train", "num_classes")
    )
    return load_image_dataset(
        name,
        num_train=cfg.get("num_train"),
        augmentation=aug,
    )


def flatten_hwc(image: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W]`` -> ``[B, H*W*C]`` in TensorFlow's NHWC order.

    The order matters where positions are structural: RealNVP masks the first half of this vector
    and the flows permute it with TaskSet's fixed permutations.
    """
    return image.permute(0, 2, 3, 1).reshape(image.shape[0], -1)


def split_sets(params: Params, block: int) -> list[Params]:
    """Split n parameter sets into blocks of ``block`` (``torch.split``: one cat in backward)."""
    parts = {k: torch.split(v, block) for k, v in params.items()}
    count = len(next(iter(parts.values())))
    return [{k: p[j] for k, p in parts.items()} for j in range(count)]


def check_int_list(value: Any, field: str, family: str, allow_empty: bool = False) -> list[int]:
    """``value`` as a list of positive ints (layer widths), else a ValueError naming ``field``."""
    ok = isinstance(value, (list, tuple)) and (allow_empty or len(value) > 0)
    if not ok or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        empty = "" if allow_empty else "non-empty "
        raise ValueError(f"{family}: {field} must be a {empty}list of positive ints, got {value!r}")
    return [int(v) for v in value]


def check_w_init(w_init: Any, family: str) -> list[Any]:
    """A TaskSet initializer spec ``[name, arg]``; unknown names fail here, not at init time."""
    from taskset_torch.tasks.layers import initialize

    if not isinstance(w_init, (list, tuple)) or len(w_init) != 2:
        raise ValueError(f"{family}: w_init must be [name, arg_or_null], got {w_init!r}")
    try:
        initialize(w_init, (1, 1), torch.Generator().manual_seed(0))
    except (ValueError, TypeError) as e:
        raise ValueError(f"{family}: bad w_init {w_init!r}: {e}") from None
    return list(w_init)


class ImageTask(Task):
    """A task on a sampled image dataset: batches of TaskSet's ``bs``, shared by the n sets.

    ``center`` maps images from [0, 1] to [-1, 1]; ``flatten`` gives ``[B, H*W*C]`` (NHWC order).
    Both are done once per batch, not once per parameter set.
    """

    def __init__(
        self, dataset: Any, batch_size: int, *, center: bool, flatten: bool, name: str = ""
    ):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(
                f"batch size (dataset cfg 'bs') must be a positive int, got {batch_size!r}"
            )
        self.name = name
        self.dataset = dataset
        self.batch_size = batch_size
        self.center = bool(center)
        self.flatten = bool(flatten)
        # Probe one example: augmentation crops change the shape TaskSet's model saw.
        probe = dataset.batch("train", 1, torch.Generator().manual_seed(0))["image"]
        self.image_shape: tuple[int, int, int] = tuple(int(s) for s in probe.shape[1:])  # type: ignore[assignment]
        self.num_classes = int(dataset.num_classes)

    #: Activation floats one parameter set needs per step (set by subclasses; sizes CPU blocks).
    activation_floats: int = 0

    @abc.abstractmethod
    def set_loss(self, params: Params, batch: Batch) -> torch.Tensor:
        """The loss of ``n`` parameter sets, all at once: ``[n]``."""

    def loss(self, params: Params, batch: Batch) -> torch.Tensor:
        """:meth:`set_loss` over all sets, in cache-sized blocks of sets on the CPU."""
        n = next(iter(params.values())).shape[0]
        x = batch["image"]
        block = n
        if x.device.type == "cpu":
            block = max(1, min(n, CPU_BLOCK_FLOATS // max(self.activation_floats, 1)))
        if block >= n:
            return self.set_loss(params, batch)
        return torch.cat([self.set_loss(p, batch) for p in split_sets(params, block)])

    @property
    def input_dim(self) -> int:
        """Pixels times channels of one (possibly cropped) image."""
        c, h, w = self.image_shape
        return c * h * w

    def batch(self, split: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """``{"image", "label"}`` of ``batch_size`` examples, centered and flattened as set."""
        b = self.dataset.batch(split, self.batch_size, generator)
        x = b["image"]
        if self.center:
            x = x * 2.0 - 1.0
        if self.flatten:
            x = flatten_hwc(x)
        return {"image": x, "label": b["label"]}

    @property
    def data_sources(self) -> tuple[DataSource, ...]:
        """The image dataset's source."""
        return (self.dataset.source,)

    def to(self, device: torch.device | str) -> ImageTask:
        """Move the dataset to ``device``; returns ``self``."""
        self.dataset = self.dataset.to(device)
        return self
