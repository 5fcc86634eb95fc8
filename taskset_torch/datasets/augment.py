"""TaskSet's sampled image augmentation, applied per batch and vectorized over the batch.

Mirrors the TF ops TaskSet mapped over every example (``tasks/utils.get_augmentation``): random
crop to ``(H - c, W - c)``, random left-right / up-down flips (p = 0.5 each), and for 3-channel
images random brightness, saturation, hue and contrast, in that order, without a final clip.
Every random number comes from the batch's generator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from taskset_torch.base import check_config

__all__ = ["AUGMENTATION_KEYS", "check_augmentation", "augment_images", "rgb_to_hsv", "hsv_to_rgb"]

AUGMENTATION_KEYS = (
    "crop_amount",
    "flip_left_right",
    "flip_up_down",
    "do_color_aug",
    "brightness",
    "saturation",
    "hue",
    "contrast",
)


def check_augmentation(cfg: Mapping[str, Any], image_shape: tuple[int, int, int]) -> dict:
    """Validate a TaskSet augmentation config against an image shape ``(C, H, W)``."""
    if not isinstance(cfg, Mapping):
        raise TypeError(f"augmentation must be a dict with keys {AUGMENTATION_KEYS} or None")
    check_config(cfg, AUGMENTATION_KEYS, "augmentation config")
    _, h, w = image_shape
    crop = cfg["crop_amount"]
    if not isinstance(crop, int) or isinstance(crop, bool) or not 0 <= crop < min(h, w):
        raise ValueError(f"crop_amount must be an int in [0, {min(h, w)}), got {crop!r}")
    for k in ("flip_left_right", "flip_up_down", "do_color_aug"):
        if not isinstance(cfg[k], bool):
            raise ValueError(f"augmentation {k} must be a bool, got {cfg[k]!r}")
    for k in ("brightness", "saturation", "hue", "contrast"):
        v = cfg[k]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not v >= 0:
            raise ValueError(f"augmentation {k} must be a non-negative number, got {v!r}")
    return dict(cfg)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """``[..., 3, H, W]`` RGB to HSV, hue in [0, 1) (TF's ``rgb_to_hsv`` formulas: the hue
    branch is that of the first channel holding the maximum, r then g then b)."""
    v, arg = x.max(-3, keepdim=True)
    rng = v - x.min(-3, keepdim=True).values
    s = torch.where(v > 0, rng / torch.where(v > 0, v, 1), 0)
    # (g - b, b - r, r - g)[arg] / range + 2 * arg, then / 6 mod 1.
    diffs = x.roll(-1, dims=-3) - x.roll(-2, dims=-3)
    num = diffs.gather(-3, arg)
    h = num / torch.where(rng > 0, rng, 1) + 2 * arg
    h = torch.where(rng > 0, torch.remainder(h / 6, 1.0), 0)
    return torch.cat([h, s, v], -3)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hsv` (TF's ``hsv_to_rgb``)."""
    h, s, v = x.split(1, dim=-3)
    dh = h * 6
    centres = torch.tensor([3.0, 2.0, 4.0], device=x.device).view(3, 1, 1)
    d = (dh - centres).abs()
    # red: |dh - 3| - 1; green, blue: 2 - |dh - c|; each clipped to [0, 1].
    d = torch.cat([d[..., :1, :, :] - 1, 2 - d[..., 1:, :, :]], -3).clamp_(0, 1)
    return v * ((1 - s) + s * d)


def _uniform(n: int, lo: float, hi: float, g: torch.Generator, device) -> torch.Tensor:
    return (lo + (hi - lo) * torch.rand(n, generator=g)).to(device)


def augment_images(
    images: torch.Tensor, cfg: Mapping[str, Any], generator: torch.Generator
) -> torch.Tensor:
    """Augment float images ``[B, C, H, W]`` in [0, 1] with TaskSet config ``cfg``."""
    bsz, c, h, w = images.shape
    dev = images.device
    crop = int(cfg["crop_amount"])
    if crop:
        # tf.image.random_crop: offsets uniform in [0, crop] on each axis, per image.
        oy = torch.randint(crop + 1, (bsz,), generator=generator).to(dev)
        ox = torch.randint(crop + 1, (bsz,), generator=generator).to(dev)
        rows = oy[:, None] + torch.arange(h - crop, device=dev)
        cols = ox[:, None] + torch.arange(w - crop, device=dev)
        bidx = torch.arange(bsz, device=dev)[:, None, None]
        images = images[bidx, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    if cfg["flip_left_right"]:
        flip = (torch.rand(bsz, generator=generator) < 0.5).to(dev)
        images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    if cfg["flip_up_down"]:
        flip = (torch.rand(bsz, generator=generator) < 0.5).to(dev)
        images = torch.where(flip[:, None, None, None], images.flip(-2), images)
    if cfg["do_color_aug"] and c == 3:
        bright, sat = float(cfg["brightness"]), float(cfg["saturation"])
        hue, con = float(cfg["hue"]), float(cfg["contrast"])
        delta = _uniform(bsz, -bright, bright, generator, dev)
        images = images + delta[:, None, None, None]
        # TF adjusts saturation and hue in two HSV round trips; the RGB between them converts
        # back to the same HSV (s = 0 wherever v <= 0), so one round trip gives the same result.
        hsv = rgb_to_hsv(images)
        factor = _uniform(bsz, 1 - sat, 1 + sat, generator, dev)
        shift = _uniform(bsz, -hue, hue, generator, dev)
        hsv[:, 1].mul_(factor[:, None, None]).clamp_(0, 1)
        hsv[:, 0] = torch.remainder(hsv[:, 0] + shift[:, None, None], 1.0)
        images = hsv_to_rgb(hsv)
        factor = _uniform(bsz, 1 - con, 1 + con, generator, dev)
        mean = images.mean(dim=(-2, -1), keepdim=True)
        images = (images - mean) * factor[:, None, None, None] + mean
    return images.contiguous()
