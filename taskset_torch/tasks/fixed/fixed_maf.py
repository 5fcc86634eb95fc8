"""TaskSet's ``fixed_maf.py``: masked autoregressive flows of MNIST and CIFAR-10.

The sampled family's :class:`~taskset_torch.tasks.flows.MAFTask` with TaskSet's fixed choices:
relu, and ``w_init=None`` passed to ``masked_autoregressive_default_template``, i.e. TFP's
``masked_dense`` default, glorot_normal. FixedMAF_mnist_2layer's 2048-unit layers are wider than
the 784 pixels, so its MADE masks are real (the generic, data-dependent path); the thin MNIST and
the CIFAR-10 flows (hidden <= 1024 < 3072) reduce to per-pixel affine maps as in the family.
TaskSet drew the permutations from the unseeded global numpy RNG; here they are seeded from the
spec (as for the sampled family).
"""

from __future__ import annotations

from typing import Any

from taskset_torch.tasks.base import Task
from taskset_torch.tasks.fixed._image import image_row, load_fixed_images
from taskset_torch.tasks.fixed._spec import check_spec
from taskset_torch.tasks.flows import MAFTask, maf_permutation_seed

__all__ = ["SPECS", "build"]

_KEYS = ("dataset", "batch_size", "num_bijectors", "hidden_units", "activation", "w_init")
_GLOROT_NORMAL = ["glorot_normal", None]


def _row(dataset: str, num_bijectors: int, hidden: list[int]) -> dict[str, Any]:
    return image_row(
        dataset, 64, num_bijectors=num_bijectors, hidden_units=hidden, activation="relu",
        w_init=_GLOROT_NORMAL,
    )  # fmt: skip


SPECS: dict[str, dict[str, Any]] = {
    "FixedMAF_mnist_2layer_bs64": _row("mnist", 2, [2048, 2048]),
    "FixedMAF_mnist_3layer_thin_bs64": _row("mnist", 3, [128, 128]),
    "FixedMAF_cifar10_3layer_bs64": _row("cifar10", 3, [1024, 1024]),
}


def build(name: str, spec: dict[str, Any]) -> Task:
    spec = check_spec(spec, _KEYS, "fixed_maf")
    return MAFTask(
        permutation_seed=maf_permutation_seed(spec),
        dataset=load_fixed_images(spec),
        batch_size=spec["batch_size"],
        hidden_units=spec["hidden_units"],
        num_bijectors=spec["num_bijectors"],
        activation=spec["activation"],
        w_init=spec["w_init"],
        name=name,
    )
