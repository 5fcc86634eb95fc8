"""TaskSet's ``fixed_nvp.py``: RealNVP density models of MNIST.

The sampled family's :class:`~taskset_torch.tasks.flows.NVPTask` with TaskSet's fixed choices:
relu, and ``w_init=None`` passed to ``real_nvp_default_template``, i.e. ``tf.layers.dense``'s
default kernel init, glorot_uniform.
"""

from __future__ import annotations

from typing import Any

from taskset_torch.tasks.base import Task
from taskset_torch.tasks.fixed._image import image_row, load_fixed_images
from taskset_torch.tasks.fixed._spec import check_spec
from taskset_torch.tasks.flows import NVPTask

__all__ = ["SPECS", "build"]

_KEYS = ("dataset", "batch_size", "num_bijectors", "hidden_units", "activation", "w_init")
_GLOROT_UNIFORM = ["glorot_uniform", None]


def _row(num_bijectors: int, hidden: list[int], bs: int = 64) -> dict[str, Any]:
    return image_row(
        "mnist", bs, num_bijectors=num_bijectors, hidden_units=hidden, activation="relu",
        w_init=_GLOROT_UNIFORM,
    )  # fmt: skip


SPECS: dict[str, dict[str, Any]] = {
    "FixedNVP_mnist_2layer_bs64": _row(2, [2048, 2048]),
    "FixedNVP_mnist_5layer_bs64": _row(5, [2048, 2048]),
    "FixedNVP_mnist_5layer_thin_bs64": _row(5, [128, 128]),
    "FixedNVP_mnist_3layer_thin_bs64": _row(3, [128, 128]),
    # Quirk (fixed_nvp.py, FixedNVP_mnist_9layer_thin_bs16): named bs16, built with batch_size=64.
    "FixedNVP_mnist_9layer_thin_bs16": _row(9, [128, 128], bs=64),
}


def build(name: str, spec: dict[str, Any]) -> Task:
    spec = check_spec(spec, _KEYS, "fixed_nvp")
    return NVPTask(
        dataset=load_fixed_images(spec),
        batch_size=spec["batch_size"],
        hidden_units=spec["hidden_units"],
        num_bijectors=spec["num_bijectors"],
        activation=spec["activation"],
        w_init=spec["w_init"],
        name=name,
    )
