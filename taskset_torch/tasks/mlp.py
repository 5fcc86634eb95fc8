"""mlp_family: MLP image classifiers with sampled depth, width, activation, init and dataset."""

from __future__ import annotations

from typing import Any

import torch

from taskset_torch.base import check_config
from taskset_torch.sampling import rng_for, sample_log_int
from taskset_torch.tasks.base import Batch, Params, TaskFamily
from taskset_torch.tasks.image_common import ImageTask, load_family_images
from taskset_torch.tasks.layers import cross_entropy, get_activation, mlp_apply, mlp_params
from taskset_torch.tasks.utils import sample_activation, sample_image_dataset, sample_initializer

__all__ = ["MLPFamily", "MLPTask"]

_KEYS = ("layer_sizes", "activation", "w_init", "dataset", "center_data")


class MLPTask(ImageTask):
    """Flatten -> MLP(hidden sizes + [num_classes]) -> mean softmax cross entropy.

    Images are flattened in ``[C, H, W]`` order (the other families use TensorFlow's NHWC order;
    for an MLP the order only permutes the first layer's rows, and keeping it keeps the curves
    recorded so far). ``center`` maps images to [-1, 1], once per batch.
    """

    def __init__(
        self,
        *,
        dataset: Any,
        hidden: list[int],
        activation: str,
        w_init: list[Any],
        batch_size: int,
        center: bool = False,
        name: str = "",
    ):
        super().__init__(dataset, batch_size, center=center, flatten=False, name=name)
        self.sizes = [self.input_dim, *hidden, self.num_classes]
        self.activation = get_activation(activation)
        self.w_init = w_init

    def init_params(self, generator: torch.Generator) -> Params:
        return mlp_params(self.sizes, self.w_init, generator)

    def set_loss(self, params: Params, batch: Batch) -> torch.Tensor:
        x = batch["image"].flatten(1)
        logits = mlp_apply(params, x, len(self.sizes) - 1, self.activation)  # [n, B, classes]
        return cross_entropy(logits, batch["label"]).mean(1)

    def num_params(self) -> int:
        return sum(a * b + b for a, b in zip(self.sizes[:-1], self.sizes[1:]))


class MLPFamily(TaskFamily):
    name = "mlp_family"

    def sample(self, seed: int) -> dict[str, Any]:
        rng = rng_for(seed, 99123491)
        n_layers = int(rng.choice([1, 2, 3, 4, 5, 6]))
        return {
            "layer_sizes": [sample_log_int(rng, 16, 128) for _ in range(n_layers)],
            "activation": sample_activation(rng),
            "w_init": sample_initializer(rng),
            "dataset": sample_image_dataset(rng),
            "center_data": bool(rng.choice([True, False])),
        }

    def build(self, config: dict[str, Any], name: str = "") -> MLPTask:
        check_config(config, _KEYS, f"{self.name} config")
        return MLPTask(
            dataset=load_family_images(config["dataset"]),
            hidden=list(config["layer_sizes"]),
            activation=config["activation"],
            w_init=config["w_init"],
            batch_size=config["dataset"][1]["bs"],
            center=config["center_data"],
            name=name,
        )
