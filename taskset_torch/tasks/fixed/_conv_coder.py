"""The conv encoder / transposed-conv decoder shared by TaskSet's fixed conv AEs and VAEs.

Encoder: ``snt.nets.ConvNet2D(enc_units, 3x3, stride 2, SAME, activate_final=True)``, NHWC
flatten, ``snt.Linear(code)``. Decoder: ``snt.Linear(h0 * w0 * 32)`` reshaped to ``[h0, w0, 32]``
(``h0 = H / 2^len(dec_units)``: 7x7 for MNIST and 8x8 for CIFAR-10 with two layers, 4x4 with
three), ``snt.nets.ConvNet2DTranspose(dec_units, 3x3, stride 2, SAME, activate_final=True)`` and
a 1x1 ``snt.Conv2D`` to the output channels. Every layer uses Sonnet's default init.
"""

from __future__ import annotations

from typing import Any

import torch

from taskset_torch.tasks.base import Params
from taskset_torch.tasks.conv import conv_geometry, conv_stack_apply, conv_stack_params
from taskset_torch.tasks.fixed._image import (
    SNT_DEFAULT,
    conv1x1_apply,
    conv1x1_params,
    deconv_geometry,
    deconv_params,
    deconv_stack_apply,
    flatten_sets_nhwc,
    split_channel_sets,
)
from taskset_torch.tasks.image_common import ImageTask, check_int_list
from taskset_torch.tasks.layers import get_activation, initialize, linear

__all__ = ["ConvCoderTask", "DECODER_CHANNELS"]

#: Channels of the decoder's first feature map (``snt.Linear(h0 * w0 * 32)`` in both files).
DECODER_CHANNELS = 32


class ConvCoderTask(ImageTask):
    """Conv encoder to ``code_size`` values, decoder from ``latent_size`` to ``out_channels``."""

    kind = "fixed_conv_coder"

    def __init__(
        self,
        spec: dict[str, Any],
        dataset: Any,
        *,
        code_size: int,
        latent_size: int,
        out_per_channel: int,
        center: bool,
        name: str = "",
    ):
        self.enc_units = check_int_list(spec["enc_units"], "enc_units", self.kind)
        self.dec_units = check_int_list(spec["dec_units"], "dec_units", self.kind)
        self.activation = get_activation(spec["activation"])
        super().__init__(dataset, spec["batch_size"], center=center, flatten=False, name=name)
        c, h, w = self.image_shape
        n_up = len(self.dec_units)
        if h % 2**n_up or w % 2**n_up:
            raise ValueError(
                f"{self.kind}: {len(self.dec_units)} stride-2 decoder layers cannot produce a "
                f"{h}x{w} image (TaskSet supports 28x28 and 32x32 with two layers, 32x32 with three)"
            )
        n_enc = len(self.enc_units)
        self.enc_layers = conv_geometry(
            self.image_shape, self.enc_units, [2] * n_enc, ["SAME"] * n_enc, self.kind
        )
        last = self.enc_layers[-1]
        self.flat_dim = last.cout * last.out_hw[0] * last.out_hw[1]
        self.code_size, self.latent_size = int(code_size), int(latent_size)
        self.start_hw = (h // 2**n_up, w // 2**n_up)
        self.dec_layers = deconv_geometry(DECODER_CHANNELS, self.start_hw, self.dec_units)
        self.out_channels = out_per_channel * c
        maps = sum(lay.cout * lay.out_hw[0] * lay.out_hw[1] for lay in self.enc_layers)
        maps += sum(lay.cout * lay.out_hw[0] * lay.out_hw[1] for lay in self.dec_layers)
        self.activation_floats = self.batch_size * 2 * (maps + self.out_channels * h * w)

    def init_params(self, generator: torch.Generator) -> Params:
        params = conv_stack_params(self.enc_layers, SNT_DEFAULT, True, generator)
        params["code/w"] = initialize(SNT_DEFAULT, (self.flat_dim, self.code_size), generator)
        params["code/b"] = torch.zeros(self.code_size)
        h0, w0 = self.start_hw
        dec_in = h0 * w0 * DECODER_CHANNELS
        params["dec_linear/w"] = initialize(SNT_DEFAULT, (self.latent_size, dec_in), generator)
        params["dec_linear/b"] = torch.zeros(dec_in)
        params.update(deconv_params(self.dec_layers, SNT_DEFAULT, generator))
        params.update(conv1x1_params(self.dec_units[-1], self.out_channels, generator, "out"))
        return params

    def encode(self, params: Params, image: torch.Tensor) -> torch.Tensor:
        """Shared image ``[B, C, H, W]`` -> code ``[n, B, code_size]``."""
        n = params["code/w"].shape[0]
        h = conv_stack_apply(params, image, self.enc_layers, self.activation, True)
        return linear(flatten_sets_nhwc(h, n), params["code/w"], params["code/b"])

    def decode(self, params: Params, z: torch.Tensor) -> torch.Tensor:
        """Latent ``[n, B, latent_size]`` -> output map ``[n, B, out_channels, H, W]``."""
        n, b = z.shape[:2]
        h0, w0 = self.start_hw
        x = linear(z, params["dec_linear/w"], params["dec_linear/b"])
        # tf.reshape(net, [-1, h0, w0, 32]): NHWC, then to [B, n*32, h0, w0].
        x = x.view(n, b, h0, w0, DECODER_CHANNELS).permute(1, 0, 4, 2, 3)
        x = x.reshape(b, n * DECODER_CHANNELS, h0, w0)
        x = deconv_stack_apply(params, x, self.dec_layers, self.activation)
        return split_channel_sets(conv1x1_apply(params, x, "out"), n)
