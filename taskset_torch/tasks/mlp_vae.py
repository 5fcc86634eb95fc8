"""mlp_vae_family: MLP VAEs on flattened images, quantized-normal likelihood, analytic KL."""

from __future__ import annotations

import math
from typing import Any

import torch

from taskset_torch.base import check_config
from taskset_torch.sampling import rng_for, sample_log_int
from taskset_torch.tasks import noise as device_noise
from taskset_torch.tasks.base import Batch, Params, TaskFamily
from taskset_torch.tasks.image_common import (
    ImageTask,
    check_int_list,
    check_w_init,
    load_family_images,
)
from taskset_torch.tasks.layers import get_activation, mlp_apply, mlp_params
from taskset_torch.tasks.utils import sample_activation, sample_image_dataset, sample_initializer

__all__ = ["MLPVAEFamily", "MLPVAETask", "BIN_SIZE", "DECODER_CLIP", "kl_to_standard_normal",
           "quantized_normal_log_prob"]  # fmt: skip

#: Width of a pixel's quantization bin (TaskSet's ``QuantizedNormal``): 8-bit images in [0, 1].
BIN_SIZE = 1.0 / 255.0
#: The decoder's outputs (mean and log std) are clipped to [-DECODER_CLIP, DECODER_CLIP].
DECODER_CLIP = 10.0
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_KEYS = ("enc_hidden_units", "dec_hidden_units", "activation", "w_init", "dataset")


def kl_to_standard_normal(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(log_sigma)^2) || N(0, 1)) summed over the last axis (TFP's analytic form)."""
    kl = 0.5 * mu.square() + 0.5 * torch.expm1(2.0 * log_sigma) - log_sigma
    return kl.sum(-1)


def quantized_normal_log_prob(
    x: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """TaskSet's ``QuantizedNormal.log_prob`` summed over the last axis.

    The density of ``x + noise`` (uniform noise within a bin) under N(mu, sigma), plus
    log(bin size) per dimension: a continuous bound on the discrete pixels' log mass.
    """
    z = (x + noise - mu) * torch.exp(-log_sigma)
    per_dim = -0.5 * z.square() - log_sigma - _HALF_LOG_2PI + math.log(BIN_SIZE)
    return per_dim.sum(-1)


class MLPVAETask(ImageTask):
    """Encoder MLP(enc[:-1] + [2L]) -> q(z|x); decoder MLP(dec + [2D]) -> clipped QuantizedNormal.

    L = enc_hidden_units[-1]. Loss: -mean ELBO = -mean(log p(x|z) - KL(q || N(0, I))), with x in
    [0, 1]. The reparameterization noise and the dequantization noise come from the batch.
    """

    def __init__(
        self,
        *,
        dataset: Any,
        batch_size: int,
        enc_hidden_units: list[int],
        dec_hidden_units: list[int],
        activation: str,
        w_init: list[Any],
        name: str = "",
    ):
        fam = "mlp_vae_family"
        enc_hidden_units = check_int_list(enc_hidden_units, "enc_hidden_units", fam)
        dec_hidden_units = check_int_list(dec_hidden_units, "dec_hidden_units", fam)
        self.w_init = check_w_init(w_init, fam)
        self.activation = get_activation(activation)
        super().__init__(dataset, batch_size, center=False, flatten=True, name=name)
        d = self.input_dim
        self.latent = enc_hidden_units[-1]
        self.enc_sizes = [d, *enc_hidden_units[:-1], 2 * self.latent]
        self.dec_sizes = [self.latent, *dec_hidden_units, 2 * d]
        self.activation_floats = self.batch_size * (sum(self.enc_sizes) + sum(self.dec_sizes) + d)

    def init_params(self, generator: torch.Generator) -> Params:
        params = mlp_params(self.enc_sizes, self.w_init, generator, prefix="encoder")
        params.update(mlp_params(self.dec_sizes, self.w_init, generator, prefix="decoder"))
        return params

    def batch(self, split: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        b = super().batch(split, generator)
        x = b["image"]
        bs, d = x.shape
        # Generated on the task's device (tasks/noise.py); on the CPU from ``generator`` itself.
        g = device_noise.noise_generator(generator, x.device)
        b["eps"] = torch.randn(bs, self.latent, generator=g, device=x.device)
        u = torch.rand(bs, d, generator=g, device=x.device)
        b["dequant"] = (u - 0.5) * BIN_SIZE
        return b

    def set_loss(self, params: Params, batch: Batch) -> torch.Tensor:
        x = batch["image"]  # [B, D] shared
        n_enc, n_dec = len(self.enc_sizes) - 1, len(self.dec_sizes) - 1
        q = mlp_apply(params, x, n_enc, self.activation, prefix="encoder")  # [n, B, 2L]
        mu, log_sigma = q[..., : self.latent], q[..., self.latent :]
        z = mu + torch.exp(log_sigma) * batch["eps"]
        kl = kl_to_standard_normal(mu, log_sigma)
        p = mlp_apply(params, z, n_dec, self.activation, prefix="decoder")
        p = p.clamp(-DECODER_CLIP, DECODER_CLIP)
        d = x.shape[-1]
        log_px = quantized_normal_log_prob(x, p[..., :d], p[..., d:], batch["dequant"])
        return -(log_px - kl).mean(-1)

    def num_params(self) -> int:
        sizes = list(zip(self.enc_sizes[:-1], self.enc_sizes[1:]))
        sizes += list(zip(self.dec_sizes[:-1], self.dec_sizes[1:]))
        return sum(a * b + b for a, b in sizes)


class MLPVAEFamily(TaskFamily):
    name = "mlp_vae_family"

    def sample(self, seed: int) -> dict[str, Any]:
        rng = rng_for(seed, 0)
        enc_n = int(rng.choice([1, 2, 3, 4]))
        cfg: dict[str, Any] = {
            "enc_hidden_units": [sample_log_int(rng, 32, 128) for _ in range(enc_n)]
        }
        dec_n = int(rng.choice([1, 2, 3]))
        cfg["dec_hidden_units"] = [sample_log_int(rng, 32, 128) for _ in range(dec_n)]
        cfg["activation"] = sample_activation(rng)
        cfg["w_init"] = sample_initializer(rng)
        cfg["dataset"] = sample_image_dataset(rng)
        return cfg

    def build(self, config: dict[str, Any], name: str = "") -> MLPVAETask:
        check_config(config, _KEYS, f"{self.name} config")
        return MLPVAETask(
            dataset=load_family_images(config["dataset"]),
            batch_size=config["dataset"][1]["bs"],
            enc_hidden_units=config["enc_hidden_units"],
            dec_hidden_units=config["dec_hidden_units"],
            activation=config["activation"],
            w_init=config["w_init"],
            name=name,
        )
