"""TaskSet's ``fixed_image_conv.py``: conv classifiers with a pooled or a flatten + MLP head.

Both heads use ``snt.nets.ConvNet2D`` with 3x3 kernels, stride 2 on the first layer and 1 after,
SAME padding and every layer activated (``activate_final=True``):

* ``head="pool"`` (``ce_pool_loss``): spatial mean (``avg``) or max, then ``snt.Linear(classes)``
  with Sonnet's default init whatever the conv init; ``batch_norm`` puts a BatchNorm on batch
  moments (offset, no scale; TaskSet calls the net with ``is_training=True`` for every split)
  between each conv and its activation. Built on the sampled family's
  :class:`~taskset_torch.tasks.conv.ConvPoolingTask`.
* ``head="flatten"`` (``ce_flatten_loss``): NHWC flatten, then ``fc_hidden_units`` linear layers
  with the activation and a final linear layer; ``w_init`` applies to the conv *and* the linear
  layers. This is exactly :class:`~taskset_torch.tasks.conv.ConvFCTask`.

Inits (``w_init``): Sonnet default; ``he_normal`` (tf.initializers.he_normal); ``random_normal``
0.02 / 0.2 / 0.002 (the ``normal``, ``largenormal``, ``smallnormal`` tasks); and
``contrib_variance_scaling`` (tf.contrib.layers.variance_scaling_initializer()).
"""

from __future__ import annotations

from typing import Any

import torch

from taskset_torch.tasks.base import Batch, Params, Task
from taskset_torch.tasks.conv import ConvFCTask, ConvPoolingTask, conv_stack_params
from taskset_torch.tasks.fixed._image import (
    SNT_DEFAULT,
    conv_bn_stack_apply,
    image_row,
    load_fixed_images,
)
from taskset_torch.tasks.fixed._spec import check_spec
from taskset_torch.tasks.layers import initialize, linear

__all__ = ["SPECS", "build", "FixedConvPoolTask"]

_KEYS = ("dataset", "batch_size", "head", "hidden_units", "activation", "w_init")
_POOLS = {"avg": "mean", "max": "max"}
_HE = ["he_normal", None]
_VS = ["contrib_variance_scaling", None]


def _pool(dataset: str, bs: int, hidden: list[int], act: str = "relu", w_init=SNT_DEFAULT,
          pool: str = "avg", bn: bool = False, **kw: Any) -> dict[str, Any]:  # fmt: skip
    return image_row(
        dataset, bs, **kw, head="pool", hidden_units=hidden, activation=act, w_init=w_init,
        pool=pool, batch_norm=bn,
    )  # fmt: skip


def _flat(dataset: str, bs: int, hidden: list[int], act: str, fc: list[int],
          w_init=SNT_DEFAULT, **kw: Any) -> dict[str, Any]:  # fmt: skip
    return image_row(
        dataset, bs, **kw, head="flatten", hidden_units=hidden, activation=act, w_init=w_init,
        fc_hidden_units=fc,
    )  # fmt: skip


SPECS: dict[str, dict[str, Any]] = {
    "FixedImageConv_cifar10_32x64x64_bs128": _pool("cifar10", 128, [32, 64, 64]),
    "FixedImageConv_cifar10_32x64x64_tanh_bs64": _pool("cifar10", 64, [32, 64, 64], "tanh"),
    # The "_he_" task uses max pooling; "normal"/"largenormal"/"smallnormal" are N(0, s) with
    # s = 0.02 / 0.2 / 0.002 (fixed_image_conv.py), all tanh.
    "FixedImageConv_cifar10_32x64x128_he_bs64": _pool(
        "cifar10", 64, [32, 64, 128], "tanh", _HE, pool="max"
    ),
    "FixedImageConv_cifar10_32x64x128_normal_bs64": _pool(
        "cifar10", 64, [32, 64, 128], "tanh", ["random_normal", 0.02]
    ),
    "FixedImageConv_cifar10_32x64x128_largenormal_bs64": _pool(
        "cifar10", 64, [32, 64, 128], "tanh", ["random_normal", 0.2]
    ),
    "FixedImageConv_cifar10_32x64x128_smallnormal_bs64": _pool(
        "cifar10", 64, [32, 64, 128], "tanh", ["random_normal", 0.002]
    ),
    "FixedImageConv_cifar10_32x64x128x128x128_avg_he_bs64": _pool(
        "cifar10", 64, [32, 64, 128, 128, 128], "tanh", _HE
    ),
    "FixedImageConv_cifar10_batchnorm_32x64x64_bs128": _pool("cifar10", 128, [32, 64, 64], bn=True),
    "FixedImageConv_cifar10_batchnorm_32x32x32x64x64_bs128": _pool(
        "cifar10", 128, [32, 32, 32, 64, 64], bn=True
    ),
    "FixedImageConv_food101_batchnorm_32x32x32x64x64_bs128": _pool(
        "food101_32x32", 128, [32, 32, 32, 64, 64], bn=True
    ),
    "FixedImageConv_cifar100_bn_32x64x128x128_bs128": _pool(
        "cifar100", 128, [32, 64, 128, 128], bn=True
    ),
    "FixedImageConv_coil10032x32_bn_32x64x128x128_bs128": _pool(
        "coil100_32x32", 128, [32, 64, 128, 128], bn=True, num_per_valid=800
    ),
    "FixedImageConv_sun39732x32_bn_32x64x128x128_bs128": _pool(
        "sun397_32x32", 128, [32, 64, 128, 128], bn=True
    ),
    "FixedImageConv_cifar10_32x64x64_flatten_bs128": _flat(
        "cifar10", 128, [32, 64, 64], "relu", []
    ),
    "FixedImageConv_cifar10_32x64x64_fc_64_bs128": _flat(
        "cifar10", 128, [32, 64, 64], "relu", [64]
    ),
    "FixedImageConv_mnist_32x64x64_fc_64_bs128": _flat("mnist", 128, [32, 64, 64], "relu", [64]),
    "Mnist_Conv_32x16x64_flatten_FC32_tanh_bs32": _flat("mnist", 32, [32, 16, 64], "tanh", [32]),
    "FixedImageConv_cifar10_32x64x128_flatten_FC64x32_tanh_he_bs8": _flat(
        "cifar10", 8, [32, 64, 128], "tanh", [64, 32], _HE
    ),
    "FixedImageConv_cifar10_32x64x128_flatten_FC64x32_tanh_variance_scaling_bs64": _flat(
        "cifar10", 64, [32, 64, 128], "tanh", [64, 32], _VS
    ),
    "FixedImageConv_cifar100_32x64x128_FC64x32_tanh_variance_scaling_bs64": _flat(
        "cifar100", 64, [32, 64, 128], "tanh", [64, 32], _VS
    ),
    "FixedImageConv_cifar100_32x64x64_flatten_bs128": _flat(
        "cifar100", 128, [32, 64, 64], "relu", []
    ),
    "FixedImageConv_food10164x64_Conv_32x64x64_flatten_bs64": _flat(
        "food101_64x64", 64, [32, 64, 64], "relu", []
    ),
    "FixedImageConv_colorectalhistology32x32_32x64x64_flatten_bs128": _flat(
        "colorectal_histology_32x32", 128, [32, 64, 64], "relu", [], num_per_valid=700
    ),
}


class FixedConvPoolTask(ConvPoolingTask):
    """``ce_pool_loss``: the pooled conv classifier, optionally with batch-moment BatchNorm, and
    a default-initialized output layer."""

    family = "fixed_image_conv"

    def __init__(self, *, batch_norm: bool, **kwargs: Any):
        super().__init__(**kwargs)
        self.batch_norm = bool(batch_norm)

    def init_params(self, generator: torch.Generator) -> Params:
        params = conv_stack_params(self.layers, self.w_init, True, generator)
        if self.batch_norm:
            for i, lay in enumerate(self.layers):
                params[f"bn/offset{i}"] = torch.zeros(lay.cout)
        c = self.layers[-1].cout
        # ce_pool_loss: `snt.Linear(num_classes)` gets no initializers, so Sonnet's default.
        params["linear/w"] = initialize(SNT_DEFAULT, (c, self.num_classes), generator)
        params["linear/b"] = torch.zeros(self.num_classes)
        return params

    def set_loss(self, params: Params, batch: Batch) -> torch.Tensor:
        if not self.batch_norm:
            return super().set_loss(params, batch)
        h = conv_bn_stack_apply(params, batch["image"], self.layers, self.activation)
        pooled = h.mean((2, 3)) if self.pool_type == "mean" else h.amax((2, 3))
        n = params["linear/w"].shape[0]
        sets = pooled.unflatten(1, (n, -1)).transpose(0, 1)  # [n, B, C]
        logits = linear(sets, params["linear/w"], params["linear/b"])
        return self._cross_entropy(logits, batch["label"])

    def num_params(self) -> int:
        bn = sum(lay.cout for lay in self.layers) if self.batch_norm else 0
        return super().num_params() + bn


def build(name: str, spec: dict[str, Any]) -> Task:
    spec = check_spec(spec, _KEYS, "fixed_image_conv")
    n = len(spec["hidden_units"]) if isinstance(spec["hidden_units"], list) else 0
    common = {
        "dataset": load_fixed_images(spec),
        "batch_size": spec["batch_size"],
        "hidden_units": spec["hidden_units"],
        # ConvNet2D(strides=[2] + [1] * (n - 1), paddings=[SAME]) in both helpers.
        "strides": [[2, 2]] + [[1, 1]] * (n - 1),
        "padding": ["SAME"] * n,
        "activation": spec["activation"],
        "w_init": spec["w_init"],
        "use_bias": True,
        "center_data": False,
        "name": name,
    }
    if spec["head"] == "pool":
        check_spec(spec, ("pool", "batch_norm"), "fixed_image_conv (pool head)")
        if spec["pool"] not in _POOLS:
            raise ValueError(
                f"fixed_image_conv: pool must be one of {list(_POOLS)}, got {spec['pool']!r}"
            )
        return FixedConvPoolTask(
            pool_type=_POOLS[spec["pool"]], batch_norm=spec["batch_norm"], **common
        )
    if spec["head"] == "flatten":
        check_spec(spec, ("fc_hidden_units",), "fixed_image_conv (flatten head)")
        return ConvFCTask(fc_hidden_units=spec["fc_hidden_units"], **common)
    raise ValueError(f"fixed_image_conv: head must be 'pool' or 'flatten', got {spec['head']!r}")
