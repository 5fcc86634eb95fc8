"""TaskSet's shared samplers for task families: activations, initializers, image datasets.

The draw order of every function matters: it is TaskSet's, so that ``<family>_seed<N>``
reproduces the stored config exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from taskset_torch.sampling import sample_bool, sample_linear_int, sample_log_float, sample_log_int

__all__ = [
    "ACTIVATION_WEIGHTS",
    "INITIALIZER_WEIGHTS",
    "IMAGE_DATASETS",
    "weighted_choice",
    "sample_activation",
    "sample_initializer",
    "sample_augmentation",
    "sample_image_dataset",
]

ACTIVATION_WEIGHTS: dict[str, float] = {
    "relu": 6,
    "tanh": 3,
    "cos": 1,
    "elu": 1,
    "sigmoid": 1,
    "swish": 1,
    "leaky_relu4": 1,
    "leaky_relu2": 1,
    "leaky_relu1": 1,
}

# Initializers with weight 2 take no argument; the others take a scale ~ logU[0.1, 10].
INITIALIZER_WEIGHTS: dict[str, float] = {
    "he_normal": 2,
    "he_uniform": 2,
    "glorot_normal": 2,
    "glorot_uniform": 2,
    "orthogonal": 1,
    "random_uniform": 1,
    "random_normal": 1,
    "truncated_normal": 1,
    "variance_scaling": 1,
}
_INITIALIZERS_WITH_ARG = (
    "orthogonal",
    "random_uniform",
    "random_normal",
    "truncated_normal",
    "variance_scaling",
)

IMAGE_DATASETS: tuple[str, ...] = (
    "cifar10",
    "cifar100",
    "coil100_32x32",
    "deep_weeds_32x32",
    "fashion_mnist",
    "food101_32x32",
    "imagenet_resized/16x16",
    "imagenet_resized/32x32",
    "mnist",
    "sun397_32x32",
)


def weighted_choice(rng: np.random.RandomState, weights: dict[str, float]) -> str:
    """A weighted draw over the *sorted* names, as TaskSet draws it."""
    names = sorted(weights)
    p = np.array([weights[n] for n in names], dtype=np.float64)
    return str(names[int(rng.choice(len(names), p=p / p.sum()))])


def sample_activation(rng: np.random.RandomState) -> str:
    return weighted_choice(rng, ACTIVATION_WEIGHTS)


def sample_initializer(rng: np.random.RandomState) -> list[Any]:
    name = weighted_choice(rng, INITIALIZER_WEIGHTS)
    arg = sample_log_float(rng, 0.1, 10) if name in _INITIALIZERS_WITH_ARG else None
    return [name, arg]


def sample_augmentation(rng: np.random.RandomState) -> dict[str, Any]:
    return {
        "crop_amount": int(rng.choice([0, 0, 0, 1, 2])),
        # Fair coins drawn as integer choices (one 32-bit word each), not as uniform floats.
        "flip_left_right": bool(rng.choice([False, True])),
        "flip_up_down": bool(rng.choice([False, True])),
        "do_color_aug": bool(rng.choice([False, True])),
        "brightness": sample_log_float(rng, 0.001, 64.0 / 255.0),
        "saturation": sample_log_float(rng, 0.01, 1.0),
        "hue": sample_log_float(rng, 0.01, 0.5),
        "contrast": sample_log_float(rng, 0.01, 1.0),
    }


def sample_image_dataset(rng: np.random.RandomState) -> list[Any]:
    """``[name, {bs, num_train, just_train[, num_classes]}, augmentation or None]``."""
    name = IMAGE_DATASETS[int(rng.choice(len(IMAGE_DATASETS)))]
    aug = sample_augmentation(rng) if sample_bool(rng, 0.3) else None
    if name in ("mnist", "fashion_mnist"):
        cfg: dict[str, Any] = {
            "bs": sample_log_int(rng, 8, 512),
            "num_train": sample_linear_int(rng, 1000, 55000),
            "num_classes": 10,
            "just_train": sample_bool(rng, 0.1),
        }
    elif name in ("cifar10", "cifar100"):
        cfg = {
            "bs": sample_log_int(rng, 8, 256),
            "num_train": sample_linear_int(rng, 1000, 50000),
            "just_train": sample_bool(rng, 0.2),
        }
    else:
        cfg = {
            "bs": sample_log_int(rng, 8, 256),
            "just_train": sample_bool(rng, 0.2),
            "num_train": None,
        }
    return [name, cfg, aug]
