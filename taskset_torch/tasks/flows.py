"""nvp_family and maf_family: RealNVP and MAF density models of flattened images.

Both are TFP ``TransformedDistribution``s of a standard normal over the flattened (NHWC) image
through ``Chain(reversed([flow_0, perm_0, flow_1, ..., flow_{K-1}]))`` (the last permutation is
dropped). The loss is ``-mean log p(x + N(0, 0.01^2))``; the noise is drawn in the batch. Density
evaluation runs the bijectors' inverses: one pass, no autoregressive sampling loop.

Permutations: NVP uses TaskSet's ``np.random.RandomState(i).permutation(D)`` for bijector ``i``.
TaskSet drew MAF's permutations from the *unseeded* global numpy RNG; here they come from a
``RandomState`` seeded by a hash of the config (:func:`maf_permutation_seed`), a documented
departure. In TaskSet's MAF every (shift, log_scale) reduces to output biases (see
``flow_layers``), so the flow is a chain of per-dimension affine maps; zero-initialized biases and
element-wise optimizers make the training curves independent of the permutations.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np
import torch

from taskset_torch.base import check_config
from taskset_torch.sampling import rng_for, sample_log_int
from taskset_torch.tasks import noise as device_noise
from taskset_torch.tasks.base import Batch, Params, TaskFamily
from taskset_torch.tasks.flow_layers import (
    inverse_permutation,
    made_constant_from,
    made_masks,
    made_params,
    made_shift_log_scale,
)
from taskset_torch.tasks.image_common import (
    ImageTask,
    check_int_list,
    check_w_init,
    load_family_images,
)
from taskset_torch.tasks.layers import get_activation, mlp_apply, mlp_params
from taskset_torch.tasks.utils import sample_activation, sample_image_dataset, sample_initializer

__all__ = [
    "NVPFamily",
    "MAFFamily",
    "NVPTask",
    "MAFTask",
    "NOISE_STD",
    "nvp_permutations",
    "maf_permutation_seed",
    "maf_permutations",
]

#: Standard deviation of the Gaussian noise added to the image before its density is evaluated.
NOISE_STD = 0.01
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_KEYS = ("activation", "w_init", "dataset", "hidden_units", "num_bijectors")


def nvp_permutations(dim: int, num_bijectors: int) -> list[np.ndarray]:
    """TaskSet's fixed RealNVP permutations (one fewer than bijectors; the last is dropped)."""
    return [np.random.RandomState(i).permutation(dim) for i in range(num_bijectors - 1)]


def maf_permutation_seed(config: dict[str, Any]) -> int:
    """A 32-bit seed derived from the canonical JSON of a MAF config."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "little")


def maf_permutations(dim: int, num_bijectors: int, seed: int) -> list[np.ndarray]:
    """MAF permutations, drawn one after another from one seeded stream as TaskSet drew them."""
    rng = np.random.RandomState(seed)
    return [rng.permutation(dim) for _ in range(num_bijectors)][: num_bijectors - 1]


def _standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * z.square().sum(-1) - z.shape[-1] * _HALF_LOG_2PI


class _FlowTask(ImageTask):
    """Shared parts: config checks, the noisy flattened batch, permutations, the final loss."""

    family = "flow"

    def __init__(
        self,
        *,
        dataset: Any,
        batch_size: int,
        hidden_units: list[int],
        num_bijectors: int,
        activation: str,
        w_init: list[Any],
        name: str = "",
    ):
        self.hidden_units = check_int_list(hidden_units, "hidden_units", self.family)
        if (
            not isinstance(num_bijectors, int)
            or isinstance(num_bijectors, bool)
            or num_bijectors < 1
        ):
            raise ValueError(
                f"{self.family}: num_bijectors must be a positive int, got {num_bijectors!r}"
            )
        self.w_init = check_w_init(w_init, self.family)
        self.activation = get_activation(activation)
        super().__init__(dataset, batch_size, center=False, flatten=True, name=name)
        self.num_bijectors = num_bijectors

    def _set_permutations(self, perms: list[np.ndarray]) -> None:
        # Inverse of Permute(p) (forward y = x[..., p]) is a gather with argsort(p).
        self.inv_perms = [inverse_permutation(torch.as_tensor(p, dtype=torch.int64)) for p in perms]

    def batch(self, split: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        b = super().batch(split, generator)
        x = b["image"]
        b["noise"] = NOISE_STD * device_noise.randn(
            x.shape, generator, x.device
        )  # drawn on x's device
        return b

    def to(self, device: torch.device | str) -> _FlowTask:
        super().to(device)
        self.inv_perms = [p.to(device) for p in self.inv_perms]
        return self

    def num_params(self) -> int:
        per_bijector = sum(a * b + b for a, b in zip(self.sizes[:-1], self.sizes[1:]))
        return self.num_bijectors * per_bijector


class NVPTask(_FlowTask):
    """RealNVP with ``num_masked = D // 2`` and TFP's default shift-and-log-scale MLP."""

    family = "nvp_family"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        d = self.input_dim
        self.num_masked = d // 2
        self.sizes = [self.num_masked, *self.hidden_units, 2 * (d - self.num_masked)]
        self.activation_floats = self.batch_size * self.num_bijectors * (2 * d + sum(self.sizes))
        self._set_permutations(nvp_permutations(d, self.num_bijectors))

    def init_params(self, generator: torch.Generator) -> Params:
        params: Params = {}
        for i in range(self.num_bijectors):
            params.update(mlp_params(self.sizes, self.w_init, generator, prefix=f"nvp{i}"))
        return params

    def set_loss(self, params: Params, batch: Batch) -> torch.Tensor:
        z = batch["image"] + batch["noise"]  # [B, D], shared until the first coupling
        m, out = self.num_masked, self.sizes[-1] // 2
        n = params["nvp0/w0"].shape[0]
        ildj = torch.zeros((), device=z.device)
        for i in reversed(range(self.num_bijectors)):
            z0, z1 = z[..., :m], z[..., m:]
            h = mlp_apply(params, z0, len(self.sizes) - 1, self.activation, prefix=f"nvp{i}")
            shift, log_scale = h[..., :out], h[..., out:]
            x1 = (z1 - shift) * torch.exp(-log_scale)
            ildj = ildj - log_scale.sum(-1)
            if i > 0:
                z = torch.cat([z0.expand(n, z0.shape[-2], m), x1], dim=-1)
                z = z[..., self.inv_perms[i - 1]]
        # The base density of (z0, x1) without concatenating them.
        sq = z0.square().sum(-1) + x1.square().sum(-1)
        log_p = -0.5 * sq - self.input_dim * _HALF_LOG_2PI + ildj
        return -log_p.mean(-1)


class MAFTask(_FlowTask):
    """Masked autoregressive flow with TFP's default MADE template, density by one pass."""

    family = "maf_family"

    def __init__(self, *, permutation_seed: int, **kwargs: Any):
        super().__init__(**kwargs)
        d = self.input_dim
        self.sizes = [d, *self.hidden_units, 2 * d]
        self.masks = made_masks(d, self.hidden_units)
        # With a dead mask, (shift, log_scale) do not depend on the data: an element-wise affine.
        self.dead_layer = made_constant_from(self.masks)
        self.constant_flow = self.dead_layer is not None
        # The constant flow's cost is per-parameter work on [n, D] tensors plus one [n, B, D]
        # pass; it measured fastest unblocked, so it does not ask for CPU blocks.
        per_bijector = sum(self.sizes) + 2 * d
        self.activation_floats = (
            0 if self.constant_flow else self.batch_size * self.num_bijectors * per_bijector
        )
        self._set_permutations(maf_permutations(d, self.num_bijectors, permutation_seed))

    def init_params(self, generator: torch.Generator) -> Params:
        params: Params = {}
        for i in range(self.num_bijectors):
            params.update(made_params(self.sizes, self.masks, self.w_init, generator, f"maf{i}"))
        return params

    def to(self, device: torch.device | str) -> MAFTask:
        super().to(device)
        self.masks = [m.to(device) for m in self.masks]
        return self

    def set_loss(self, params: Params, batch: Batch) -> torch.Tensor:
        y = batch["image"] + batch["noise"]
        if self.constant_flow:
            return self._constant_loss(params, y)
        return self._generic_loss(params, y)

    def _generic_loss(self, params: Params, y: torch.Tensor) -> torch.Tensor:
        z = y
        ildj = torch.zeros((), device=y.device)
        for i in reversed(range(self.num_bijectors)):
            shift, log_scale = made_shift_log_scale(
                params, z, self.masks, self.activation, f"maf{i}", self.dead_layer
            )
            z = (z - shift) * torch.exp(-log_scale)
            ildj = ildj - log_scale.sum(-1)
            if i > 0:
                z = z[..., self.inv_perms[i - 1]]
        return -(_standard_normal_log_prob(z) + ildj).mean(-1)

    def _constant_loss(self, params: Params, y: torch.Tensor) -> torch.Tensor:
        """The same chain composed on the parameters: z = a * y[:, idx] + c, one [n, B, D] pass.

        Each inverse step maps z -> (z - shift) * exp(-log_scale), then undoes a permutation;
        composing them on ``[n, D]`` coefficients avoids a ``[n, B, D]`` tensor per bijector.
        """
        d = y.shape[-1]
        idx = torch.arange(d, device=y.device)
        a: torch.Tensor | None = None
        c: torch.Tensor | None = None
        ildj = torch.zeros((), device=y.device)
        start = self.dead_layer
        assert start is not None
        dead = []
        for i in reversed(range(self.num_bijectors)):
            shift, log_scale = made_shift_log_scale(
                params, y, self.masks, self.activation, f"maf{i}", self.dead_layer
            )
            shift, log_scale = shift[:, 0], log_scale[:, 0]  # [n, D]
            scale = torch.exp(-log_scale)
            a = scale if a is None else a * scale
            c = -shift * scale if c is None else (c - shift) * scale
            ildj = ildj - log_scale.sum(-1)
            if i > 0:
                inv = self.inv_perms[i - 1]
                a, c, idx = a[:, inv], c[:, inv], idx[inv]
            # Unused: the weights up to the dead layer and the biases before it.
            dead += [params[f"maf{i}/w{j}"] for j in range(start + 1)]
            dead += [params[f"maf{i}/b{j}"] for j in range(start)]
        assert a is not None and c is not None
        z = torch.addcmul(c.unsqueeze(1), a.unsqueeze(1), y[:, idx])  # [n, B, D]
        loss = -(_standard_normal_log_prob(z) + ildj.unsqueeze(-1)).mean(-1)
        # Keep the layers that cannot reach the output in the graph (gradient exactly zero), so
        # autograd over any subset of the parameters works.
        tie = sum(p.flatten(1).sum(1) for p in dead) if dead else 0.0
        return loss + 0.0 * tie


def _sample_flow(seed: int, offset: int) -> dict[str, Any]:
    rng = rng_for(seed, offset)
    cfg: dict[str, Any] = {"activation": sample_activation(rng)}
    cfg["w_init"] = sample_initializer(rng)
    cfg["dataset"] = sample_image_dataset(rng)
    n_layers = int(rng.choice([1, 2]))
    cfg["hidden_units"] = [sample_log_int(rng, 16, 128) for _ in range(n_layers)]
    cfg["num_bijectors"] = int(rng.choice([1, 2, 3, 4]))
    return cfg


def _flow_kwargs(config: dict[str, Any], family: str, name: str) -> dict[str, Any]:
    check_config(config, _KEYS, f"{family} config")
    return {
        "dataset": load_family_images(config["dataset"]),
        "batch_size": config["dataset"][1]["bs"],
        "hidden_units": config["hidden_units"],
        "num_bijectors": config["num_bijectors"],
        "activation": config["activation"],
        "w_init": config["w_init"],
        "name": name,
    }


class NVPFamily(TaskFamily):
    name = "nvp_family"

    def sample(self, seed: int) -> dict[str, Any]:
        return _sample_flow(seed, 123919936)

    def build(self, config: dict[str, Any], name: str = "") -> NVPTask:
        return NVPTask(**_flow_kwargs(config, self.name, name))


class MAFFamily(TaskFamily):
    name = "maf_family"

    def sample(self, seed: int) -> dict[str, Any]:
        return _sample_flow(seed, 6123348)

    def build(self, config: dict[str, Any], name: str = "") -> MAFTask:
        kwargs = _flow_kwargs(config, self.name, name)
        return MAFTask(permutation_seed=maf_permutation_seed(config), **kwargs)
