"""Shared parts of the fixed image tasks: spec checks, data loading, conv stacks with batch norm,
transposed-conv decoders (TF ``SAME`` semantics), all batched over n parameter sets.

Layouts follow ``tasks/conv.py``: weights ``[3, 3, cin, cout]`` (TF layout and fans), feature
maps ``[B, n*C, H, W]`` with set k owning channel block k, flattening in TF's NHWC order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from taskset_torch.tasks.base import Params
from taskset_torch.tasks.conv import ConvLayer
from taskset_torch.tasks.grouped_conv import grouped_conv2d
from taskset_torch.tasks.layers import initialize
from taskset_torch.tasks.norm_layers import batch_norm_batch_stats

__all__ = [
    "SNT_DEFAULT",
    "image_row",
    "load_fixed_images",
    "split_channel_sets",
    "flatten_sets_nhwc",
    "conv_bn_stack_apply",
    "DeconvLayer",
    "deconv_geometry",
    "deconv_params",
    "deconv_stack_apply",
    "conv1x1_params",
    "conv1x1_apply",
]

#: Sonnet 1's default weight init (``snt.Linear``, ``snt.Conv2D``): truncated_normal(1/sqrt(fan_in)).
SNT_DEFAULT: list[Any] = ["sonnet_default", None]


def image_row(dataset: str, batch_size: int, num_per_valid: int = 3000, **model: Any) -> dict:
    """One table row: TaskSet's ``get_image_datasets(dataset, batch_size, num_per_valid=3000)``
    plus the model fields. ``num_per_valid`` 3000 is that function's default."""
    return {"dataset": dataset, "batch_size": batch_size, "num_per_valid": num_per_valid, **model}


def load_fixed_images(spec: dict[str, Any]):
    """The dataset of a fixed image spec, with its ``num_per_valid`` (TaskSet's fixed default 3000)."""
    from taskset_torch.datasets import FIXED_NUM_PER_VALID, load_image_dataset

    return load_image_dataset(
        spec["dataset"], num_per_valid=int(spec.get("num_per_valid", FIXED_NUM_PER_VALID))
    )


def split_channel_sets(x: torch.Tensor, n: int) -> torch.Tensor:
    """``[B, n*C, H, W]`` -> ``[n, B, C, H, W]`` (a view)."""
    return x.unflatten(1, (n, -1)).transpose(0, 1)


def flatten_sets_nhwc(x: torch.Tensor, n: int) -> torch.Tensor:
    """``[B, n*C, H, W]`` -> ``[n, B, H*W*C]`` in TF's NHWC order."""
    s = split_channel_sets(x, n)
    return s.permute(0, 1, 3, 4, 2).reshape(n, x.shape[0], -1)


def _conv_weight(w: torch.Tensor) -> torch.Tensor:
    """``[n, kh, kw, cin, cout]`` -> grouped conv2d weight ``[n*cout, cin, kh, kw]``."""
    n, kh, kw, cin, cout = w.shape
    return w.permute(0, 4, 3, 1, 2).reshape(n * cout, cin, kh, kw)


def conv_bn_stack_apply(
    params: Params,
    image: torch.Tensor,
    layers: Sequence[ConvLayer],
    activation: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """``snt.nets.ConvNet2D(use_batch_norm=True, activate_final=True)`` called with
    ``is_training=True``: conv (+ bias) -> BatchNorm on batch moments (offset, no scale) -> act.

    Shared ``[B, C, H, W]`` image -> ``[B, n*Cout, H', W']``. Batch moments are taken per channel
    over (B, H, W), so each set's statistics stay its own.
    """
    x = image.contiguous(memory_format=torch.channels_last)
    for i, layer in enumerate(layers):
        w = params[f"conv/w{i}"]
        n = w.shape[0]
        bias = params[f"conv/b{i}"].reshape(-1)
        pt, pb, pl, pr = layer.pad
        if pt == pb and pl == pr:
            padding: tuple[int, int] = (pt, pl)
        else:
            x = F.pad(x, (pl, pr, pt, pb))
            padding = (0, 0)
        x = grouped_conv2d(
            x, _conv_weight(w), bias, stride=layer.stride, padding=padding,
            groups=1 if i == 0 else n,
        )  # fmt: skip
        offset = params[f"bn/offset{i}"].reshape(1, -1, 1, 1)
        x = activation(batch_norm_batch_stats(x, offset, dims=(0, 2, 3)))
    return x


@dataclasses.dataclass(frozen=True)
class DeconvLayer:
    """A 3x3 stride-2 ``SAME`` transposed conv: ``(h, w)`` -> ``(2h, 2w)``."""

    cin: int
    cout: int
    in_hw: tuple[int, int]

    @property
    def out_hw(self) -> tuple[int, int]:
        return (2 * self.in_hw[0], 2 * self.in_hw[1])


def deconv_geometry(
    cin: int, start_hw: tuple[int, int], channels: Sequence[int]
) -> list[DeconvLayer]:
    """``snt.nets.ConvNet2DTranspose`` with 3x3 kernels, stride 2, SAME, doubling each layer."""
    out, (h, w) = [], start_hw
    for c in channels:
        out.append(DeconvLayer(int(cin), int(c), (h, w)))
        cin, h, w = int(c), 2 * h, 2 * w
    return out


def deconv_params(
    layers: Sequence[DeconvLayer], w_init: Sequence[Any], generator: torch.Generator
) -> Params:
    """Weights ``[3, 3, cin, cout]`` (fan_in = 9 * cin, as Sonnet's transpose conv), zero biases."""
    params: Params = {}
    for i, lay in enumerate(layers):
        params[f"deconv/w{i}"] = initialize(w_init, (3, 3, lay.cin, lay.cout), generator)
        params[f"deconv/b{i}"] = torch.zeros(lay.cout)
    return params


def deconv_stack_apply(
    params: Params,
    x: torch.Tensor,
    layers: Sequence[DeconvLayer],
    activation: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """``[B, n*cin, h, w]`` -> ``[B, n*cout, 2^L h, 2^L w]``, every layer activated.

    TF's SAME transposed conv from h to 2h is the adjoint of a stride-2 conv that pads one row at
    the bottom (none at the top): an unpadded transposed conv gives 2h + 1 rows, the last of which
    is that padding row and is dropped.
    """
    for i, lay in enumerate(layers):
        w = params[f"deconv/w{i}"]  # [n, 3, 3, cin, cout]
        n = w.shape[0]
        weight = w.permute(0, 3, 4, 1, 2).reshape(n * lay.cin, lay.cout, 3, 3)
        bias = params[f"deconv/b{i}"].reshape(-1)
        y = F.conv_transpose2d(x, weight, bias, stride=2, groups=n)
        h, w_ = lay.out_hw
        x = activation(y[:, :, :h, :w_])
    return x


def conv1x1_params(cin: int, cout: int, generator: torch.Generator, prefix: str) -> Params:
    """``snt.Conv2D(cout, kernel_shape=(1, 1))`` with Sonnet's default init (fan_in = cin)."""
    return {
        f"{prefix}/w": initialize(SNT_DEFAULT, (1, 1, cin, cout), generator),
        f"{prefix}/b": torch.zeros(cout),
    }


def conv1x1_apply(params: Params, x: torch.Tensor, prefix: str) -> torch.Tensor:
    w = params[f"{prefix}/w"]
    return F.conv2d(x, _conv_weight(w), params[f"{prefix}/b"].reshape(-1), groups=w.shape[0])
