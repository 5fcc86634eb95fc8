"""The grouped convolution that runs K configs' conv layers as one op, in two implementations.

A conv layer of K parameter sets reads ``[B, K*Cin, H, W]`` and applies set k's weights to channel
block k: ``F.conv2d(..., groups=K)``. That is the fast form on CPU (oneDNN, channels-last). On a
GPU, cuDNN's grouped kernels were measured at about 2.4 TFLOP/s for a FixedImageConv task at
K=64 on an H200 (2026-11-30), far below the chip's matmul rate; the ``"bmm"`` form unfolds the
input once (im2col) and multiplies each set's patches by its weights in one batched matmul,
which is the shape GPUs are fastest at (and takes TF32 where it is allowed). Both compute the same
function (a test checks values and gradients); which is faster is a property of the machine, so
it is a setting: :func:`set_grouped_conv` or ``TASKSET_TORCH_GROUPED_CONV=native|bmm``
(default ``native``), compared by ``benchmarks/bench_conv.py``.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

__all__ = ["GROUPED_CONV_IMPLS", "get_grouped_conv", "grouped_conv2d", "set_grouped_conv"]

GROUPED_CONV_IMPLS = ("native", "bmm")
_ENV = "TASKSET_TORCH_GROUPED_CONV"
_setting: dict[str, str | None] = {"impl": None}


def set_grouped_conv(impl: str | None) -> None:
    """Use ``impl`` (``"native"`` or ``"bmm"``) for grouped convolutions; ``None``: the
    ``TASKSET_TORCH_GROUPED_CONV`` environment variable, else ``"native"``."""
    if impl is not None and impl not in GROUPED_CONV_IMPLS:
        raise ValueError(
            f"grouped conv implementation must be one of {GROUPED_CONV_IMPLS}, got {impl!r}"
        )
    _setting["impl"] = impl


def get_grouped_conv() -> str:
    """The implementation in use (see :func:`set_grouped_conv`)."""
    impl = _setting["impl"] or os.environ.get(_ENV) or "native"
    if impl not in GROUPED_CONV_IMPLS:
        raise ValueError(f"{_ENV}={impl!r}: use one of {GROUPED_CONV_IMPLS}")
    return impl


def _out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def _conv_bmm(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    groups: int,
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, stride, padding, groups=groups)`` as im2col + one bmm."""
    b, _, h, w = x.shape
    out_ch, cin, kh, kw = weight.shape
    cout = out_ch // groups
    ho, wo = _out_size(h, kh, stride[0], padding[0]), _out_size(w, kw, stride[1], padding[1])
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # [B, G*cin*kh*kw, L]
    length = cols.shape[-1]
    # [G, B*L, cin*kh*kw]: unfold orders a channel's kh*kw taps together, channels in order.
    cols = cols.view(b, groups, cin * kh * kw, length).permute(1, 0, 3, 2)
    cols = cols.reshape(groups, b * length, cin * kh * kw)
    mats = weight.view(groups, cout, cin * kh * kw).transpose(1, 2)  # [G, cin*kh*kw, cout]
    y = torch.bmm(cols, mats).view(groups, b, ho, wo, cout)
    y = y.permute(1, 0, 4, 2, 3).reshape(b, groups * cout, ho, wo)
    return y if bias is None else y + bias.view(1, -1, 1, 1)


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def grouped_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    groups: int = 1,
) -> torch.Tensor:
    """``F.conv2d`` with ``groups`` parameter sets, in the implementation of
    :func:`get_grouped_conv` (a single group always runs natively)."""
    if groups > 1 and get_grouped_conv() == "bmm":
        return _conv_bmm(x, weight, bias, _pair(stride), _pair(padding), groups)
    return F.conv2d(x, weight, bias, stride=stride, padding=padding, groups=groups)
