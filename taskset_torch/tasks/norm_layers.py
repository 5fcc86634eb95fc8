"""Normalization and dropout layers of TaskSet's hand-designed tasks, batched over n sets.

Sonnet 1 semantics (the library that produced TaskSet's curves):

* ``snt.BatchNormV2`` / ``snt.BatchNorm``: offset (beta, zero init) but no scale by default,
  ``eps = 1e-3``. With ``is_training=False`` the moving statistics are used; they start at mean 0
  and variance 1 and are only updated in training mode, so the layer stays ``x / sqrt(1 + eps) +
  beta`` for the whole run (:func:`batch_norm_frozen`). In training mode the batch moments
  (biased variance) over every axis but the channel axis are used (:func:`batch_norm_batch_stats`).
* ``snt.LayerNorm``: normalizes over all but the batch axis with scale (gamma, init 1) and offset
  (beta, init 0), ``eps = 1e-5``.
* ``tf.nn.dropout(keep_prob)``: keeps a unit with probability ``keep_prob`` and scales it by
  ``1 / keep_prob``. The mask is drawn in ``Task.batch`` (shared by the n sets) via
  :func:`dropout_scale`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = [
    "BN_EPS",
    "LN_EPS",
    "batch_norm_frozen",
    "batch_norm_batch_stats",
    "layer_norm",
    "dropout_scale",
]

BN_EPS = 1e-3
LN_EPS = 1e-5


def _per_set(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``[n, C]`` -> broadcastable against ``x`` of shape ``[n, B, C]``."""
    return v.unsqueeze(1) if x.dim() == 3 else v


def batch_norm_frozen(x: torch.Tensor, offset: torch.Tensor, eps: float = BN_EPS) -> torch.Tensor:
    """Sonnet BatchNorm with ``is_training=False`` and untouched moving stats (mean 0, var 1).

    ``x``: ``[n, B, C]``; ``offset``: ``[n, C]``.
    """
    return x * (1.0 / (1.0 + eps) ** 0.5) + _per_set(offset, x)


def batch_norm_batch_stats(
    x: torch.Tensor, offset: torch.Tensor, dims: Sequence[int], eps: float = BN_EPS
) -> torch.Tensor:
    """Sonnet BatchNorm in training mode: batch moments over ``dims``, plus ``offset``, no scale.

    ``offset`` must already broadcast against ``x`` (the caller lays out its channel axis).
    """
    var, mean = torch.var_mean(x, dim=tuple(dims), keepdim=True, correction=0)
    return (x - mean) * torch.rsqrt(var + eps) + offset


def layer_norm(
    x: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor, eps: float = LN_EPS
) -> torch.Tensor:
    """Sonnet LayerNorm over the last axis: ``x`` ``[n, B, C]``, ``scale``/``offset`` ``[n, C]``."""
    var, mean = torch.var_mean(x, dim=-1, keepdim=True, correction=0)
    return (x - mean) * torch.rsqrt(var + eps) * _per_set(scale, x) + _per_set(offset, x)


def dropout_scale(
    shape: Sequence[int], keep_prob: float, generator: torch.Generator
) -> torch.Tensor:
    """TF dropout's multiplier: ``1 / keep_prob`` where ``U[0, 1) < keep_prob``, else 0."""
    if not 0.0 < keep_prob <= 1.0:
        raise ValueError(f"dropout keep_prob must be in (0, 1], got {keep_prob!r}")
    u = torch.rand(tuple(shape), generator=generator, device=generator.device)
    return (u < keep_prob).to(torch.float32) / keep_prob
