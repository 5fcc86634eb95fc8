"""Activations, TF-semantics initializers and hand-batched layers for tasks vectorized over ``n``.

Parameters carry a leading dimension ``n`` (one slice per optimizer config); inputs are either
shared by all slices (``[B, ...]``, the first layer) or already batched (``[n, B, ...]``).
Initializers follow TensorFlow 1.x/Sonnet 1, which produced TaskSet's curves: weights are stored
``[fan_in, fan_out]`` and biases start at zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "ACTIVATIONS",
    "get_activation",
    "initialize",
    "linear",
    "cross_entropy",
    "linear_cross_entropy",
    "mlp_params",
    "mlp_apply",
]

# TF's truncated normal (cut at 2 stddev) has this stddev per unit of its scale parameter.
_TRUNC_STD = 0.87962566103423978


def _leaky(alpha: float) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: F.leaky_relu(x, alpha)


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "cos": torch.cos,
    "elu": F.elu,
    "sigmoid": torch.sigmoid,
    "swish": F.silu,
    "leaky_relu4": _leaky(0.4),
    "leaky_relu2": _leaky(0.2),
    "leaky_relu1": _leaky(0.1),
}


def get_activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; valid: {sorted(ACTIVATIONS)}") from None


def _truncated_normal(shape: Sequence[int], std: float, g: torch.Generator) -> torch.Tensor:
    t = torch.empty(shape)
    torch.nn.init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std, generator=g)
    return t


def _fans(shape: Sequence[int]) -> tuple[int, int]:
    """TF's fan computation: the receptive field times the last two dims (in, out)."""
    if len(shape) < 2:
        return int(shape[0]) if shape else 1, int(shape[0]) if shape else 1
    receptive = math.prod(shape[:-2])
    return int(shape[-2] * receptive), int(shape[-1] * receptive)


def initialize(
    spec: Sequence[Any], shape: Sequence[int], generator: torch.Generator
) -> torch.Tensor:
    """Draw a weight of ``shape`` from a TaskSet initializer spec ``[name, arg]``."""
    name, arg = spec[0], spec[1] if len(spec) > 1 else None
    fan_in, fan_out = _fans(shape)
    g = generator
    if name == "he_normal":
        return _truncated_normal(shape, math.sqrt(2.0 / fan_in) / _TRUNC_STD, g)
    if name == "he_uniform":
        lim = math.sqrt(6.0 / fan_in)
        return torch.empty(shape).uniform_(-lim, lim, generator=g)
    if name == "glorot_normal":
        return _truncated_normal(shape, math.sqrt(2.0 / (fan_in + fan_out)) / _TRUNC_STD, g)
    if name == "glorot_uniform":
        lim = math.sqrt(6.0 / (fan_in + fan_out))
        return torch.empty(shape).uniform_(-lim, lim, generator=g)
    if name == "orthogonal":
        flat = torch.empty(math.prod(shape[:-1]), shape[-1])
        torch.nn.init.orthogonal_(flat, gain=float(arg), generator=g)
        return flat.reshape(shape)
    if name == "random_uniform":
        return torch.empty(shape).uniform_(-float(arg), float(arg), generator=g)
    if name in ("random_normal", "truncated_normal"):
        # TaskSet quirk: its "truncated_normal" calls random_normal(stddev=arg).
        return torch.empty(shape).normal_(0.0, float(arg), generator=g)
    if name == "variance_scaling":
        # TF1 VarianceScaling defaults: mode fan_in, truncated normal.
        return _truncated_normal(shape, math.sqrt(float(arg) / fan_in) / _TRUNC_STD, g)
    if name == "sonnet_default":
        # Sonnet 1's default for snt.Linear / snt.Conv2D(Transpose): truncated_normal(1/sqrt(fan_in)).
        return _truncated_normal(shape, 1.0 / math.sqrt(fan_in), g)
    if name == "contrib_variance_scaling":
        # tf.contrib.layers.variance_scaling_initializer() defaults: factor 2, fan_in, truncated
        # normal with stddev parameter sqrt(1.3 * factor / fan_in).
        return _truncated_normal(shape, math.sqrt(1.3 * 2.0 / fan_in), g)
    if name == "identity":
        # tf.initializers.identity(gain): TaskSet's fixed IRNN tasks; no family samples it.
        if len(shape) != 2:
            raise ValueError(f"the identity initializer needs a 2-D shape, got {tuple(shape)}")
        return float(1.0 if arg is None else arg) * torch.eye(*shape)
    raise ValueError(
        f"unknown initializer {name!r}; valid: he_normal, he_uniform, glorot_normal, glorot_uniform, "
        "orthogonal, random_uniform, random_normal, truncated_normal, variance_scaling, "
        "sonnet_default, contrib_variance_scaling, identity"
    )


def linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """Batched affine map. ``w``: [n, din, dout]; ``x``: [B, din] (shared) or [n, B, din].

    A shared input is expanded (no copy) and fused with the bias in one ``baddbmm``: measured
    2-3x faster on CPU than ``matmul`` followed by a broadcast add.
    """
    if x.dim() == 2:
        x = x.expand(w.shape[0], *x.shape)
    return torch.bmm(x, w) if b is None else torch.baddbmm(b.unsqueeze(1), x, w)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-example softmax cross entropy ``[n, B]`` of logits ``[n, B, k]`` and labels ``[B]``.

    With few classes the class axis goes in the middle first: PyTorch's CPU softmax kernels
    are ~5x faster reducing a middle axis of size k than a last axis of size 10.
    """
    n, b, k = logits.shape
    if k <= 64:
        return F.cross_entropy(
            logits.transpose(1, 2).contiguous(), labels.expand(n, b), reduction="none"
        )
    return F.cross_entropy(logits.reshape(n * b, k), labels.repeat(n), reduction="none").view(n, b)


# Rows x classes per block of the fused output layer: 16 MB of float32 logits, within the
# last-level cache; smaller blocks measured slower with 2 threads on a loaded 2-core machine
# (per-op thread synchronisation), larger ones slower single-threaded.
_CE_BLOCK_ELEMENTS = 1 << 22


class _LinearCrossEntropy(torch.autograd.Function):
    """``cross_entropy(x @ w + b, labels)`` per row, in row blocks, without keeping the logits.

    A language model's ``[n, rows, vocab]`` logits (hundreds of MB at n = 64) make the separate
    matmul, log-softmax and their backward passes memory-bound: each streams the whole tensor
    through DRAM several times and allocates it anew. Here each block of rows is produced,
    reduced to its log-sum-exp and dropped while in cache; the backward pass recomputes the
    block's logits (one more matmul of the output layer) and turns them into the gradient in
    place.
    """

    @staticmethod
    def forward(ctx, x, w, b, labels, block):
        n, rows, _ = x.shape
        lse = x.new_empty(n, rows)
        picked = x.new_empty(n, rows)
        lab = labels.view(1, rows, 1).expand(n, rows, 1)
        for r0 in range(0, rows, block):
            r1 = min(r0 + block, rows)
            logits = torch.baddbmm(b.unsqueeze(1), x[:, r0:r1], w)
            torch.logsumexp(logits, 2, out=lse[:, r0:r1])
            picked[:, r0:r1] = logits.gather(2, lab[:, r0:r1]).squeeze(2)
        ctx.save_for_backward(x, w, b, labels, lse)
        ctx.block = block
        return lse - picked

    @staticmethod
    def backward(ctx, grad):
        x, w, b, labels, lse = ctx.saved_tensors
        n, rows, _ = x.shape
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = torch.empty_like(x) if need_x else None
        gw = torch.zeros_like(w) if need_w else None
        gb = torch.zeros_like(b) if need_b else None
        lab = labels.view(1, rows, 1).expand(n, rows, 1)
        wt = w.transpose(1, 2).contiguous() if need_x else None
        for r0 in range(0, rows, ctx.block):
            r1 = min(r0 + ctx.block, rows)
            g = grad[:, r0:r1].unsqueeze(2)
            # d loss / d logits = (softmax - onehot) * grad, built in the logits' buffer.
            d = torch.baddbmm(b.unsqueeze(1), x[:, r0:r1], w)
            d.sub_(lse[:, r0:r1].unsqueeze(2)).exp_()
            d.scatter_add_(2, lab[:, r0:r1], torch.full_like(g, -1.0))
            d.mul_(g)
            if need_x:
                gx[:, r0:r1] = torch.bmm(d, wt)  # (bmm's out= into a strided slice is slow)
            if need_w:
                gw.baddbmm_(x[:, r0:r1].transpose(1, 2), d)
            if need_b:
                gb.add_(d.sum(1))
        return gx, gw, gb, None, None


def linear_cross_entropy(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Per-row softmax cross entropy ``[n, R]`` of the logits ``x @ w + b`` and ``labels`` [R].

    ``x``: [n, R, din], ``w``: [n, din, k], ``b``: [n, k]. Equals ``cross_entropy`` of
    ``linear(x, w, b)`` but never holds all the logits (see :class:`_LinearCrossEntropy`): for
    wide outputs over many rows (language models) it is several times faster on CPU.
    """
    n, rows, _ = x.shape
    k = w.shape[2]
    if labels.shape != (rows,):
        raise ValueError(f"labels must have shape [{rows}], got {list(labels.shape)}")
    block = max(1, min(rows, _CE_BLOCK_ELEMENTS // max(n * k, 1)))
    return _LinearCrossEntropy.apply(x, w, b, labels, block)


def mlp_params(
    sizes: Sequence[int], w_init: Sequence[Any], generator: torch.Generator, prefix: str = "mlp"
) -> dict[str, torch.Tensor]:
    """Unbatched weights of an MLP through ``sizes`` (input size first), zero biases."""
    params: dict[str, torch.Tensor] = {}
    for i, (din, dout) in enumerate(zip(sizes[:-1], sizes[1:])):
        params[f"{prefix}/w{i}"] = initialize(w_init, (din, dout), generator)
        params[f"{prefix}/b{i}"] = torch.zeros(dout)
    return params


def mlp_apply(
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    num_layers: int,
    activation: Callable[[torch.Tensor], torch.Tensor],
    prefix: str = "mlp",
    activate_final: bool = False,
) -> torch.Tensor:
    for i in range(num_layers):
        x = linear(x, params[f"{prefix}/w{i}"], params[f"{prefix}/b{i}"])
        if i < num_layers - 1 or activate_final:
            x = activation(x)
    return x
