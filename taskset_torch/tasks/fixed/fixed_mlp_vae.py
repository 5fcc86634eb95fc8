"""TaskSet's ``fixed_mlp_vae.py``: MLP VAEs on images centered to [-1, 1].

The sampled family's :class:`~taskset_torch.tasks.mlp_vae.MLPVAETask` (encoder MLP(enc + [2 n_z])
-> q(z|x), decoder MLP(dec + [2 D]) clipped to [-10, 10] -> QuantizedNormal, analytic KL to
N(0, I)) with Sonnet's default init and, unlike the family, the input mapped to ``(x - 0.5) * 2``
(fixed_mlp_vae.py `fc_vae_loss_fn`). The quantization bin stays TaskSet's 1/255 although the
centered pixels are 2/255 apart (QuantizedNormal's default bin_size).
"""

from __future__ import annotations

from typing import Any

from taskset_torch.tasks.base import Task
from taskset_torch.tasks.fixed._image import SNT_DEFAULT, image_row, load_fixed_images
from taskset_torch.tasks.fixed._spec import check_spec
from taskset_torch.tasks.image_common import check_int_list
from taskset_torch.tasks.mlp_vae import MLPVAETask

__all__ = ["SPECS", "build", "FixedMLPVAETask"]

_KEYS = ("dataset", "batch_size", "enc_units", "dec_units", "n_z", "activation", "w_init")


def _row(dataset: str, bs: int, enc: list[int], n_z: int, dec: list[int]) -> dict[str, Any]:
    return image_row(
        dataset, bs, enc_units=enc, n_z=n_z, dec_units=dec, activation="relu", w_init=SNT_DEFAULT
    )


SPECS: dict[str, dict[str, Any]] = {
    "FixedMLPVAE_cifar101_128x32x128_bs128": _row("cifar10", 128, [128], 32, [128]),
    "FixedMLPVAE_cifar101_128x128x32x128x128_bs128": _row(
        "cifar10", 128, [128, 128], 32, [128, 128]
    ),
    "FixedMLPVAE_mnist_128x8x128x128_bs128": _row("mnist", 128, [128], 8, [128, 128]),
    "FixedMLPVAE_mnist_128x128x8x128_bs128": _row("mnist", 128, [128, 128], 8, [128]),
    "FixedMLPVAE_mnist_128x64x32x64x128_bs64": _row("mnist", 64, [128, 64], 32, [64, 128]),
    "FixedMLPVAE_food10132x32_128x64x32x64x128_bs64": _row(
        "food101_32x32", 64, [128, 64], 32, [64, 128]
    ),
    # Quirk (fixed_mlp_vae.py, Imagenet32x30_FC_VAE_...): named after Imagenet 32x32 but loads
    # get_image_datasets("food101_32x32", batch_size=256, shuffle_buffer=5000).
    "Imagenet32x30_FC_VAE_128x64x32x64x128_relu_bs256": _row(
        "food101_32x32", 256, [128, 64], 32, [64, 128]
    ),
}


class FixedMLPVAETask(MLPVAETask):
    """:class:`MLPVAETask` on centered images (``(x - 0.5) * 2``, done once per batch)."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.center = True  # fixed_mlp_vae.py: `net = (net - 0.5) * 2`


def build(name: str, spec: dict[str, Any]) -> Task:
    spec = check_spec(spec, _KEYS, "fixed_mlp_vae")
    enc = check_int_list(spec["enc_units"], "enc_units", "fixed_mlp_vae", allow_empty=True)
    n_z = check_int_list([spec["n_z"]], "n_z", "fixed_mlp_vae")[0]
    return FixedMLPVAETask(
        dataset=load_fixed_images(spec),
        batch_size=spec["batch_size"],
        # MLPVAETask's latent size is the last encoder entry: enc + [n_z] gives MLP(enc + [2 n_z]).
        enc_hidden_units=[*enc, n_z],
        dec_hidden_units=spec["dec_units"],
        activation=spec["activation"],
        w_init=spec["w_init"],
        name=name,
    )
