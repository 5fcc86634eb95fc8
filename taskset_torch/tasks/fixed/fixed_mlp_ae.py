"""TaskSet's ``fixed_mlp_ae.py``: MLP autoencoders, sigmoid output, mean squared error.

Built as the sampled family's :class:`~taskset_torch.tasks.mlp_ae.MLPAETask` with TaskSet's fixed
choices: Sonnet's default init, input in [0, 1] (not centered), ``output_type="sigmoid"``,
``loss_type="l2"``, ``reduction_type="reduce_mean"`` (mean over pixels, then over the batch).
"""

from __future__ import annotations

from typing import Any

from taskset_torch.tasks.base import Task
from taskset_torch.tasks.fixed._image import SNT_DEFAULT, image_row, load_fixed_images
from taskset_torch.tasks.fixed._spec import check_spec
from taskset_torch.tasks.mlp_ae import MLPAETask

__all__ = ["SPECS", "build"]

_KEYS = ("dataset", "batch_size", "hidden_units", "activation", "w_init")


def _row(dataset: str, hidden: list[int]) -> dict[str, Any]:
    return image_row(dataset, 128, hidden_units=hidden, activation="relu", w_init=SNT_DEFAULT)


SPECS: dict[str, dict[str, Any]] = {
    "FixedMLPAE_mnist_32x32x32_bs128": _row("mnist", [32, 32, 32]),
    "FixedMLPAE_mnist_128x32x128_bs128": _row("mnist", [128, 32, 128]),
    "FixedMLPAE_cifar10_128x32x128_bs128": _row("cifar10", [128, 32, 128]),
}


def build(name: str, spec: dict[str, Any]) -> Task:
    spec = check_spec(spec, _KEYS, "fixed_mlp_ae")
    return MLPAETask(
        dataset=load_fixed_images(spec),
        batch_size=spec["batch_size"],
        hidden_units=spec["hidden_units"],
        activation=spec["activation"],
        w_init=spec["w_init"],
        output_type="sigmoid",
        loss_type="l2",
        reduction_type="reduce_mean",
        name=name,
    )
