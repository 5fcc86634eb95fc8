"""mlp_ae_family: MLP autoencoders on flattened images with sampled output and loss types."""

from __future__ import annotations

from typing import Any

import torch

from taskset_torch.base import check_config
from taskset_torch.sampling import choice, rng_for, sample_log_int
from taskset_torch.tasks.base import Batch, Params, TaskFamily
from taskset_torch.tasks.image_common import (
    ImageTask,
    check_int_list,
    check_w_init,
    load_family_images,
)
from taskset_torch.tasks.layers import get_activation, mlp_apply, mlp_params
from taskset_torch.tasks.utils import sample_activation, sample_image_dataset, sample_initializer

__all__ = ["MLPAEFamily", "MLPAETask", "OUTPUT_TYPES", "LOSS_TYPES", "REDUCTION_TYPES"]

# Sampling lists as TaskSet wrote them (repeats are weights).
_OUTPUT_CHOICES = ("tanh", "tanh", "sigmoid", "sigmoid", "linear_center", "linear")
_LOSS_CHOICES = ("l2", "l2", "l1")
OUTPUT_TYPES = ("tanh", "sigmoid", "linear_center", "linear")
LOSS_TYPES = ("l2", "l1")
REDUCTION_TYPES = ("reduce_mean", "reduce_sum")
_KEYS = ("hidden_units", "activation", "w_init", "dataset", "output_type", "loss_type",
         "reduction_type")  # fmt: skip


class MLPAETask(ImageTask):
    """x (flattened; in [-1, 1] for tanh/linear_center outputs) -> MLP(hidden + [D]) -> output fn.

    Loss: mean over the batch of reduce_{mean|sum} over pixels of (out - x)^2 or |out - x|.
    """

    def __init__(
        self,
        *,
        dataset: Any,
        batch_size: int,
        hidden_units: list[int],
        activation: str,
        w_init: list[Any],
        output_type: str,
        loss_type: str,
        reduction_type: str,
        name: str = "",
    ):
        for field, value, valid in (
            ("output_type", output_type, OUTPUT_TYPES),
            ("loss_type", loss_type, LOSS_TYPES),
            ("reduction_type", reduction_type, REDUCTION_TYPES),
        ):
            if value not in valid:
                raise ValueError(f"mlp_ae_family: unknown {field} {value!r}; valid: {list(valid)}")
        # TaskSet centers the input (2x - 1) exactly when the output can reach [-1, 1].
        center = output_type in ("tanh", "linear_center")
        hidden_units = check_int_list(hidden_units, "hidden_units", "mlp_ae_family")
        self.w_init = check_w_init(w_init, "mlp_ae_family")
        self.activation = get_activation(activation)
        super().__init__(dataset, batch_size, center=center, flatten=True, name=name)
        self.sizes = [self.input_dim, *hidden_units, self.input_dim]
        self.activation_floats = self.batch_size * sum(self.sizes[1:]) * 2
        self.output_type = output_type
        self.loss_type = loss_type
        self.reduction_type = reduction_type

    def init_params(self, generator: torch.Generator) -> Params:
        return mlp_params(self.sizes, self.w_init, generator)

    def set_loss(self, params: Params, batch: Batch) -> torch.Tensor:
        x = batch["image"]  # [B, D], shared by the n parameter sets
        out = mlp_apply(params, x, len(self.sizes) - 1, self.activation)  # [n, B, D]
        if self.output_type == "sigmoid":
            out = torch.sigmoid(out)
        elif self.output_type == "tanh":
            out = torch.tanh(out)
        diff = out - x
        err = diff.square() if self.loss_type == "l2" else diff.abs()
        per_example = err.mean(-1) if self.reduction_type == "reduce_mean" else err.sum(-1)
        return per_example.mean(-1)

    def num_params(self) -> int:
        return sum(a * b + b for a, b in zip(self.sizes[:-1], self.sizes[1:]))


class MLPAEFamily(TaskFamily):
    name = "mlp_ae_family"

    def sample(self, seed: int) -> dict[str, Any]:
        rng = rng_for(seed, 0)
        n_layers = int(rng.choice([1, 2, 3, 4, 5, 6]))
        cfg: dict[str, Any] = {
            "hidden_units": [sample_log_int(rng, 32, 128) for _ in range(n_layers)]
        }
        cfg["activation"] = sample_activation(rng)
        cfg["w_init"] = sample_initializer(rng)
        cfg["dataset"] = sample_image_dataset(rng)
        cfg["output_type"] = choice(rng, _OUTPUT_CHOICES)
        cfg["loss_type"] = choice(rng, _LOSS_CHOICES)
        cfg["reduction_type"] = choice(rng, REDUCTION_TYPES)
        return cfg

    def build(self, config: dict[str, Any], name: str = "") -> MLPAETask:
        check_config(config, _KEYS, f"{self.name} config")
        return MLPAETask(
            dataset=load_family_images(config["dataset"]),
            batch_size=config["dataset"][1]["bs"],
            hidden_units=config["hidden_units"],
            activation=config["activation"],
            w_init=config["w_init"],
            output_type=config["output_type"],
            loss_type=config["loss_type"],
            reduction_type=config["reduction_type"],
            name=name,
        )
