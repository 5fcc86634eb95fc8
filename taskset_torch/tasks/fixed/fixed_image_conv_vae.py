"""TaskSet's ``fixed_image_conv_vae.py``: conv VAEs, -ELBO on images centered to [-1, 1].

Encoder convs -> ``snt.Linear(2 n_z)`` -> q(z|x) = N(mu, exp(log_sigma)); decoder (see
``_conv_coder``) -> 1x1 conv to 2 C channels clipped to [-10, 10], split along channels into the
mean and log std of TaskSet's QuantizedNormal (bin 1/255, uniform dequantization noise); analytic
KL to N(0, I). The likelihood and KL are those of the sampled MLP VAE family
(``tasks/mlp_vae.py``). Two-layer coders start the decoder at H/4 (7x7 or 8x8), the three-layer
``three_layer_conv_vae_loss_fn`` at 4x4 (CIFAR-10 only).
"""

from __future__ import annotations

from typing import Any

import torch

from taskset_torch.tasks.base import Batch, Params, Task
from taskset_torch.tasks.fixed._conv_coder import ConvCoderTask
from taskset_torch.tasks.fixed._image import image_row, load_fixed_images
from taskset_torch.tasks.fixed._spec import check_spec
from taskset_torch.tasks.image_common import check_int_list
from taskset_torch.tasks.mlp_vae import (
    BIN_SIZE,
    DECODER_CLIP,
    kl_to_standard_normal,
    quantized_normal_log_prob,
)

__all__ = ["SPECS", "build", "FixedConvVAETask"]

_KEYS = ("dataset", "batch_size", "enc_units", "n_z", "dec_units", "activation")


def _row(dataset: str, bs: int, enc: list[int], n_z: int, dec: list[int]) -> dict[str, Any]:
    return image_row(dataset, bs, enc_units=enc, n_z=n_z, dec_units=dec, activation="relu")


SPECS: dict[str, dict[str, Any]] = {
    "FixedImageConvVAE_mnist_32x32x32x32x32_bs128": _row("mnist", 128, [32, 32], 32, [32, 32]),
    # Quirk (fixed_image_conv_vae.py, FixedImageConvVAE_mnist_32x64x32x64x32_bs128): named mnist,
    # built on get_image_datasets("cifar10", batch_size=128).
    "FixedImageConvVAE_mnist_32x64x32x64x32_bs128": _row("cifar10", 128, [32, 64], 32, [64, 32]),
    "FixedImageConvVAE_cifar10_32x64x128x64x32_bs128": _row(
        "cifar10", 128, [32, 64], 128, [64, 32]
    ),
    "FixedImageConvVAE_mnist_64x128x128x128x64_bs128": _row(
        "mnist", 128, [64, 128], 128, [128, 64]
    ),
    "FixedImageConvVAE_cifar10_64x128x256x128x256x128x64_bs128": _row(
        "cifar10", 128, [64, 128, 256], 128, [256, 128, 64]
    ),
    "FixedImageConvVAE_cifar10_32x64x128x64x128x64x32_bs128": _row(
        "cifar10", 128, [32, 64, 128], 64, [128, 64, 32]
    ),
    "FixedImageConvVAE_cifar10_32x64x128x64x128x64x32_bs512": _row(
        "cifar10", 512, [32, 64, 128], 64, [128, 64, 32]
    ),
}


class FixedConvVAETask(ConvCoderTask):
    kind = "fixed_image_conv_vae"

    def __init__(self, spec: dict[str, Any], dataset: Any, name: str = ""):
        n_z = check_int_list([spec["n_z"]], "n_z", self.kind)[0]
        # input_image = (batch["image"] - 0.5) * 2: centered once per batch.
        super().__init__(
            spec, dataset, code_size=2 * n_z, latent_size=n_z, out_per_channel=2, center=True,
            name=name,
        )  # fmt: skip
        self.n_z = n_z

    def batch(self, split: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        b = super().batch(split, generator)
        x = b["image"]
        gdev = generator.device
        b["eps"] = torch.randn(x.shape[0], self.n_z, generator=generator, device=gdev).to(x.device)
        u = torch.rand(x.shape, generator=generator, device=gdev).to(x.device)
        b["dequant"] = ((u - 0.5) * BIN_SIZE).flatten(1)
        return b

    def set_loss(self, params: Params, batch: Batch) -> torch.Tensor:
        x = batch["image"]  # [B, C, H, W] in [-1, 1]
        q = self.encode(params, x)  # [n, B, 2 n_z]: [mu, log_sigma]
        mu, log_sigma = q[..., : self.n_z], q[..., self.n_z :]
        z = mu + torch.exp(log_sigma) * batch["eps"]
        kl = kl_to_standard_normal(mu, log_sigma)
        out = self.decode(params, z).clamp(-DECODER_CLIP, DECODER_CLIP)  # [n, B, 2C, H, W]
        c = x.shape[1]
        p_mu, p_log_sigma = out[:, :, :c].flatten(2), out[:, :, c:].flatten(2)
        log_px = quantized_normal_log_prob(x.flatten(1), p_mu, p_log_sigma, batch["dequant"])
        return -(log_px - kl).mean(-1)

    def num_params(self) -> int:
        return int(sum(p.numel() for p in self.init_params(torch.Generator()).values()))


def build(name: str, spec: dict[str, Any]) -> Task:
    spec = check_spec(spec, _KEYS, "fixed_image_conv_vae")
    return FixedConvVAETask(spec, load_fixed_images(spec), name=name)
