"""Building blocks of TaskSet's flows: TFP's MADE masks and templates, batched over n sets.

Facts carried over from TensorFlow Probability (the 0.8-era API TaskSet used):

* ``real_nvp_default_template(hidden)``: dense layers ``hidden + [2 * out_units]`` on the masked
  half, activation between them, outputs split as ``[shift, log_scale]`` (no clipping).
* ``masked_autoregressive_default_template(hidden)``: ``masked_dense`` layers with
  ``num_blocks = input_depth``; the first hidden layer's mask is "exclusive", the others
  "inclusive"; the output has ``2 * D`` units read as ``[D, 2] -> (shift, log_scale)`` and
  ``log_scale`` is clipped to [-5, 3] in the forward pass only (the gradient passes unclipped).
  Masks come from ``_gen_slices``: block ``k`` connects input columns ``[k*d_in, (k+1)*d_in)`` to
  output rows ``[k*d_out (+ d_out if exclusive), end)`` with ``d_in = n_in // D`` and
  ``d_out = n_out // D``. Kernels start as ``mask * init`` and TF1 optimizers re-apply the mask
  after every update (the layer's kernel constraint), i.e. the effective kernel is ``mask * w``.

TFP documents that hidden layers must be wider than D for the MADE to be autoregressive. TaskSet's
MAF family uses at most 128 hidden units on images with D >= 768, so ``d_out = 0`` and
``d_in = 0`` beyond the first layer: the first layer is dense, every later mask is all zeros and
(shift, log_scale) are the output biases alone. :func:`made_constant_from` finds that case so the
loss can skip the dead layers; the arithmetic is the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from taskset_torch.tasks.base import Params
from taskset_torch.tasks.layers import initialize, linear

__all__ = [
    "MAF_LOG_SCALE_CLIP",
    "made_mask",
    "made_masks",
    "made_params",
    "made_constant_from",
    "made_shift_log_scale",
    "clip_preserve_grad",
    "inverse_permutation",
]

#: ``masked_autoregressive_default_template``'s clip of log_scale (forward value only).
MAF_LOG_SCALE_CLIP = (-5.0, 3.0)


def made_mask(num_blocks: int, n_in: int, n_out: int, exclusive: bool) -> torch.Tensor:
    """TFP's ``_gen_mask(...).T``: a ``[n_in, n_out]`` 0/1 mask for a ``[n_in, n_out]`` kernel."""
    if num_blocks < 1 or n_in < 1 or n_out < 1:
        raise ValueError(f"MADE mask needs positive sizes, got {num_blocks=}, {n_in=}, {n_out=}")
    mask = torch.zeros(n_out, n_in)
    d_in, d_out = n_in // num_blocks, n_out // num_blocks
    if d_in:
        # Block k owns input columns [k*d_in, (k+1)*d_in) and reaches rows from k*d_out on
        # (one block later when exclusive); the blocks' column ranges are disjoint.
        cols = torch.arange(num_blocks * d_in)
        first_row = (cols // d_in) * d_out + (d_out if exclusive else 0)
        mask[:, cols] = (torch.arange(n_out).unsqueeze(1) >= first_row).float()
    return mask.T.contiguous()


def made_masks(input_dim: int, hidden_units: Sequence[int]) -> list[torch.Tensor]:
    """Masks of the MADE ``input_dim -> hidden_units -> 2 * input_dim``, as TFP builds them."""
    sizes = [input_dim, *hidden_units, 2 * input_dim]
    return [
        made_mask(input_dim, a, b, exclusive=(j == 0 and j < len(hidden_units)))
        for j, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
    ]


def made_params(
    sizes: Sequence[int],
    masks: Sequence[torch.Tensor],
    w_init: Sequence[Any],
    generator: torch.Generator,
    prefix: str,
) -> Params:
    """Unbatched MADE weights: ``mask * init`` (TFP's masked initializer), zero biases."""
    params: Params = {}
    for j, (din, dout) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = initialize(w_init, (din, dout), generator)
        params[f"{prefix}/w{j}"] = w * masks[j].to(w.device)  # masks may live on the task's device
        params[f"{prefix}/b{j}"] = torch.zeros(dout)
    return params


def made_constant_from(masks: Sequence[torch.Tensor]) -> int | None:
    """Index of the last all-zero mask: layers before it cannot reach the output (else None)."""
    dead = [j for j, m in enumerate(masks) if not bool(m.any())]
    return dead[-1] if dead else None


def clip_preserve_grad(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Clipped value, identity gradient (TFP's ``clip_by_value_preserve_gradient``)."""
    return x + (x.clamp(low, high) - x).detach()


def made_shift_log_scale(
    params: Params,
    x: torch.Tensor,
    masks: Sequence[torch.Tensor],
    activation: Callable[[torch.Tensor], torch.Tensor],
    prefix: str,
    dead: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(shift, clipped log_scale) of a MADE on ``x`` (``[B, D]`` shared or ``[n, B, D]``).

    ``dead`` is ``made_constant_from(masks)``. Returns ``[n, B, D]`` tensors, or ``[n, 1, D]``
    when a dead mask makes them independent of ``x`` (then the layers before the dead one are
    skipped: they cannot change the output).
    """
    num = len(masks)
    start = dead
    if start is None:
        h = x
        first = 0
    else:
        # Layer `start` sees only its bias; what came before it is irrelevant.
        b = params[f"{prefix}/b{start}"]
        h = b.unsqueeze(1)  # [n, 1, units]
        if start < num - 1:
            h = activation(h)
        first = start + 1
    for j in range(first, num):
        w = params[f"{prefix}/w{j}"] * masks[j].to(h.device)
        h = linear(h, w, params[f"{prefix}/b{j}"])
        if j < num - 1:
            h = activation(h)
    out = h.unflatten(-1, (-1, 2))  # TFP reads the 2*D outputs as [D, 2]
    lo, hi = MAF_LOG_SCALE_CLIP
    return out[..., 0], clip_preserve_grad(out[..., 1], lo, hi)


def inverse_permutation(perm: torch.Tensor) -> torch.Tensor:
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel(), device=perm.device)
    return inv
