"""TaskSet's ``fixed_mlp.py``: MLP classifiers (CE or MSE loss, dropout, LayerNorm, BatchNorm).

Every layer is Sonnet's default (truncated normal 1/sqrt(fan_in), zero bias). Spec fields:
``hidden_units`` (the num_classes output layer is appended), ``activation``, ``loss`` (``ce``:
softmax cross entropy; ``mse``: mean over classes of (onehot - sigmoid(logits))^2), ``norm``
(None, ``layer_norm`` or ``batch_norm_frozen``) applied before each hidden activation, and
``dropout_keep_prob`` (None or the keep probability, applied before each hidden activation as
``snt.nets.MLP(use_dropout=True)`` does, also when evaluating: TaskSet never set is_training).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from taskset_torch.tasks.base import Batch, Params, Task
from taskset_torch.tasks.fixed._image import SNT_DEFAULT, image_row, load_fixed_images
from taskset_torch.tasks.fixed._spec import check_spec
from taskset_torch.tasks.image_common import ImageTask, check_int_list
from taskset_torch.tasks.layers import cross_entropy, get_activation, initialize, linear
from taskset_torch.tasks.norm_layers import batch_norm_frozen, dropout_scale, layer_norm

__all__ = ["SPECS", "build", "FixedMLPTask", "NORMS", "LOSSES"]

NORMS = (None, "layer_norm", "batch_norm_frozen")
LOSSES = ("ce", "mse")
_KEYS = ("dataset", "batch_size", "hidden_units", "activation", "loss", "norm",
         "dropout_keep_prob", "w_init")  # fmt: skip


def _row(dataset: str, hidden: list[int], activation: str = "relu", loss: str = "ce",
         norm: str | None = None, keep: float | None = None) -> dict[str, Any]:  # fmt: skip
    return image_row(
        dataset, 128, hidden_units=hidden, activation=activation, loss=loss, norm=norm,
        dropout_keep_prob=keep, w_init=SNT_DEFAULT,
    )  # fmt: skip


SPECS: dict[str, dict[str, Any]] = {}
# fixed_mlp.py `_make_task`: get_image_datasets(dataset, batch_size=128, shuffle_buffer=5000);
# the shuffle buffer is moot here (batches are uniform draws).
for _ds in ("cifar10", "mnist", "food101_32x32"):
    for _loss in ("mse", "ce"):
        _name = f"FixedMLP_{_ds.replace('_', '')}_{_loss}_128x128x128_relu_bs128"
        SPECS[_name] = _row(_ds, [128, 128, 128], loss=_loss)
for _keep, _tag in ((0.5, "05"), (0.8, "08"), (0.2, "02")):
    SPECS[f"FixedMLP_cifar10_Dropout{_tag}_128x128_relu_bs128"] = _row(
        "cifar10", [128, 128], keep=_keep
    )
for _act in ("relu", "tanh"):
    SPECS[f"FixedMLP_cifar10_LayerNorm_128x128x128_{_act}_bs128"] = _row(
        "cifar10", [128, 128, 128], activation=_act, norm="layer_norm"
    )
# fixed_mlp.py `_fc_batch_norm_loss_fn`: snt.BatchNormV2()(net, is_training=False) -- the moving
# statistics never update, so the layer is x / sqrt(1 + 1e-3) + offset throughout training.
SPECS["FixedMLP_cifar10_BatchNorm_128x128x128_relu_bs128"] = _row(
    "cifar10", [128, 128, 128], norm="batch_norm_frozen"
)
SPECS["FixedMLP_cifar10_BatchNorm_64x64x64x64x64_relu_bs128"] = _row(
    "cifar10", [64, 64, 64, 64, 64], norm="batch_norm_frozen"
)


class FixedMLPTask(ImageTask):
    """Flatten -> [Linear -> (norm) -> (dropout) -> act] x hidden -> Linear(classes) -> loss."""

    def __init__(self, spec: dict[str, Any], dataset: Any, name: str = ""):
        kind = "fixed_mlp"
        self.hidden = check_int_list(spec["hidden_units"], "hidden_units", kind)
        if spec["loss"] not in LOSSES:
            raise ValueError(f"{kind}: unknown loss {spec['loss']!r}; valid: {list(LOSSES)}")
        if spec["norm"] not in NORMS:
            raise ValueError(f"{kind}: unknown norm {spec['norm']!r}; valid: {list(NORMS)}")
        keep = spec["dropout_keep_prob"]
        if keep is not None and not (isinstance(keep, (int, float)) and 0.0 < keep <= 1.0):
            raise ValueError(f"{kind}: dropout_keep_prob must be null or in (0, 1], got {keep!r}")
        self.loss_type, self.norm, self.keep = spec["loss"], spec["norm"], keep
        self.activation = get_activation(spec["activation"])
        self.w_init = list(spec["w_init"])
        super().__init__(dataset, spec["batch_size"], center=False, flatten=True, name=name)
        self.sizes = [self.input_dim, *self.hidden, self.num_classes]
        self.activation_floats = self.batch_size * sum(self.sizes[1:]) * 3

    def init_params(self, generator: torch.Generator) -> Params:
        params: Params = {}
        for i, (din, dout) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            params[f"mlp/w{i}"] = initialize(self.w_init, (din, dout), generator)
            params[f"mlp/b{i}"] = torch.zeros(dout)
        for i, h in enumerate(self.hidden):
            if self.norm == "layer_norm":
                params[f"norm/scale{i}"] = torch.ones(h)
            if self.norm is not None:
                params[f"norm/offset{i}"] = torch.zeros(h)
        return params

    def batch(self, split: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        b = super().batch(split, generator)
        if self.keep is not None:
            dev = b["image"].device
            for i, h in enumerate(self.hidden):
                b[f"dropout{i}"] = dropout_scale((self.batch_size, h), self.keep, generator).to(dev)
        return b

    def set_loss(self, params: Params, batch: Batch) -> torch.Tensor:
        x = batch["image"]
        for i in range(len(self.sizes) - 1):
            x = linear(x, params[f"mlp/w{i}"], params[f"mlp/b{i}"])
            if i == len(self.hidden):
                break
            if self.norm == "layer_norm":
                x = layer_norm(x, params[f"norm/scale{i}"], params[f"norm/offset{i}"])
            elif self.norm == "batch_norm_frozen":
                x = batch_norm_frozen(x, params[f"norm/offset{i}"])
            if self.keep is not None:
                x = x * batch[f"dropout{i}"]
            x = self.activation(x)
        if self.loss_type == "ce":
            return cross_entropy(x, batch["label"]).mean(1)
        onehot = F.one_hot(batch["label"], self.num_classes).to(x.dtype)
        return (onehot - torch.sigmoid(x)).square().mean(-1).mean(-1)

    def num_params(self) -> int:
        dense = sum(a * b + b for a, b in zip(self.sizes[:-1], self.sizes[1:]))
        per_norm = {None: 0, "layer_norm": 2, "batch_norm_frozen": 1}[self.norm]
        return dense + per_norm * sum(self.hidden)


def build(name: str, spec: dict[str, Any]) -> Task:
    spec = check_spec(spec, _KEYS, "fixed_mlp")
    return FixedMLPTask(spec, load_fixed_images(spec), name=name)
