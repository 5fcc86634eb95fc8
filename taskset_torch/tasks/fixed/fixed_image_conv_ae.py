"""TaskSet's ``fixed_image_conv_ae.py``: conv autoencoders with sigmoid output and MSE.

Encoder convs -> ``snt.Linear(num_latents)`` -> (no activation) decoder (see ``_conv_coder``) ->
1x1 conv to the image channels -> sigmoid; the loss is the mean over pixels and channels of
(x - sigmoid(out))^2, averaged over the batch, with x in [0, 1].
"""

from __future__ import annotations

from typing import Any

import torch

from taskset_torch.tasks.base import Batch, Params, Task
from taskset_torch.tasks.fixed._conv_coder import ConvCoderTask
from taskset_torch.tasks.fixed._image import image_row, load_fixed_images
from taskset_torch.tasks.fixed._spec import check_spec
from taskset_torch.tasks.image_common import check_int_list

__all__ = ["SPECS", "build", "FixedConvAETask"]

_KEYS = ("dataset", "batch_size", "enc_units", "num_latents", "dec_units", "activation")


def _row(dataset: str, bs: int, enc: list[int], latents: int, dec: list[int]) -> dict[str, Any]:
    return image_row(
        dataset, bs, enc_units=enc, num_latents=latents, dec_units=dec, activation="relu"
    )


SPECS: dict[str, dict[str, Any]] = {
    "FixedImageConvAE_mnist_32x32x32x32x32_bs128": _row("mnist", 128, [32, 32], 32, [32, 32]),
    "FixedImageConvAE_mnist_32x64x8x64x32_bs128": _row("mnist", 128, [32, 64], 8, [64, 32]),
    # Quirk (fixed_image_conv_ae.py, FixedImageConvAE_mnist_32x64x32x64x32_bs512): the name says
    # decoder 64x32, the code builds conv_ae_loss_fn([32, 64], [64, 64], 32, ...).
    "FixedImageConvAE_mnist_32x64x32x64x32_bs512": _row("mnist", 512, [32, 64], 32, [64, 64]),
    "FixedImageConvAE_cifar10_32x32x32x32x32_bs128": _row("cifar10", 128, [32, 32], 32, [32, 32]),
    "FixedImageConvAE_cifar10_32x64x8x64x32_bs128": _row("cifar10", 128, [32, 64], 8, [64, 32]),
}


class FixedConvAETask(ConvCoderTask):
    kind = "fixed_image_conv_ae"

    def __init__(self, spec: dict[str, Any], dataset: Any, name: str = ""):
        latents = check_int_list([spec["num_latents"]], "num_latents", self.kind)[0]
        super().__init__(
            spec, dataset, code_size=latents, latent_size=latents, out_per_channel=1,
            center=False, name=name,
        )  # fmt: skip

    def set_loss(self, params: Params, batch: Batch) -> torch.Tensor:
        x = batch["image"]  # [B, C, H, W] in [0, 1]
        out = self.decode(params, self.encode(params, x))  # [n, B, C, H, W]
        return (x - torch.sigmoid(out)).square().mean((2, 3, 4)).mean(1)

    def num_params(self) -> int:
        return int(sum(p.numel() for p in self.init_params(torch.Generator()).values()))


def build(name: str, spec: dict[str, Any]) -> Task:
    spec = check_spec(spec, _KEYS, "fixed_image_conv_ae")
    return FixedConvAETask(spec, load_fixed_images(spec), name=name)
