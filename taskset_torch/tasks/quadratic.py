"""quadratic_family: f(x) = output_fn(||A x||^2) with sampled spectra, init, output and noise.

As in TaskSet, the config's ``seed`` fixes the matrix ``A`` and the initial ``x`` (every replica
starts from the same point); replicas differ only through the per-step noise matrix, which is
drawn in :meth:`QuadraticTask.batch` and shared by all configs of a step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from taskset_torch.base import DataSource, check_config
from taskset_torch.sampling import rng_for, sample_log_float, sample_log_int
from taskset_torch.tasks.base import Batch, Params, Task, TaskFamily

__all__ = ["QuadraticFamily", "QuadraticTask", "sample_matrix_dist", "draw_matrix"]

_KEYS = ("A_dist", "initial_dist", "output_fn", "dims", "seed", "loss_scale")

_MATRIX_DISTS = ("normal", "linspace_eigen", "uniform", "logspace_eigen")


def sample_matrix_dist(rng: np.random.RandomState, noise: bool = False) -> list[Any]:
    """A matrix distribution ``[name, params]``; ``noise`` uses TaskSet's scaled-down ranges."""
    name = _MATRIX_DISTS[int(rng.choice(len(_MATRIX_DISTS)))]
    if name == "normal":
        params = {
            "mean": rng.normal(0, 0.05 if noise else 1),
            "std": rng.uniform(0, 0.05 if noise else 2),
        }
    elif name == "uniform":
        lo = rng.uniform(-0.15, 0.05) if noise else rng.uniform(-3, 1)
        params = {"min": lo, "max": lo + (rng.uniform(0, 0.25) if noise else rng.uniform(0, 5))}
    elif name == "linspace_eigen":
        lo = rng.uniform(0.01, 2) if noise else rng.uniform(0.01, 50)
        params = {"min": lo, "max": lo + (rng.uniform(0, 10) if noise else rng.uniform(0, 100))}
    else:
        params = {"min": 1e-5, "max": rng.uniform(1, 10) if noise else rng.uniform(1, 1000)}
    return [name, {k: float(v) for k, v in params.items()}]


def _random_orthogonal(d: int, g: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.empty(d, d, dtype=dtype).uniform_(-1, 1, generator=g))
    return q * torch.sign(torch.diagonal(r)).unsqueeze(0)  # sign fix: a Haar-like draw


def draw_matrix(spec: list[Any], d: int, g: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    """One ``[d, d]`` matrix from a distribution spec."""
    name, p = spec
    if name == "normal":
        return torch.empty(d, d, dtype=dtype).normal_(p["mean"], p["std"], generator=g)
    if name == "uniform":
        return torch.empty(d, d, dtype=dtype).uniform_(p["min"], p["max"], generator=g)
    if name == "linspace_eigen":
        eig = torch.linspace(p["min"], p["max"], d, dtype=dtype)
    elif name == "logspace_eigen":
        eig = torch.logspace(math.log10(p["min"]), math.log10(p["max"]), d, dtype=dtype)
    else:
        raise ValueError(f"unknown matrix distribution {name!r}; valid: {_MATRIX_DISTS}")
    q = _random_orthogonal(d, g, dtype)
    return (q * eig.unsqueeze(0)) @ q.T


class QuadraticTask(Task):
    def __init__(self, config: dict[str, Any], name: str = ""):
        self.name = name
        self.config = config
        self.dims = int(config["dims"])
        if config["initial_dist"][0] not in ("normal", "uniform"):
            raise ValueError(
                f"unknown initial_dist {config['initial_dist'][0]!r}; valid: normal, uniform"
            )
        self._A: torch.Tensor | None = None  # drawn on first use: a 3000-dim eigen draw takes ~1 s
        self._x0: torch.Tensor | None = None
        self._device: torch.device | str = "cpu"
        if config["output_fn"] not in ("identity", "log"):
            raise ValueError(f"unknown output_fn {config['output_fn']!r}; valid: identity, log")
        noise = config.get("noise") or {}
        self.noise_spec = noise.get("A_noise")
        self.loss_scale = float(config["loss_scale"])

    def _draw(self) -> None:
        g = torch.Generator().manual_seed(int(self.config["seed"]))
        a = draw_matrix(self.config["A_dist"], self.dims, g)
        init_name, ip = self.config["initial_dist"]
        if init_name == "normal":
            x0 = torch.empty(self.dims).normal_(ip["mean"], ip["std"], generator=g)
        else:
            x0 = torch.empty(self.dims).uniform_(ip["min"], ip["max"], generator=g)
        self._A, self._x0 = a.to(self._device), x0.to(self._device)

    @property
    def A(self) -> torch.Tensor:
        if self._A is None:
            self._draw()
        return self._A  # type: ignore[return-value]

    @property
    def x0(self) -> torch.Tensor:
        if self._x0 is None:
            self._draw()
        return self._x0  # type: ignore[return-value]

    def init_params(self, generator: torch.Generator) -> Params:
        return {"x": self.x0.clone()}

    def loss(self, params: Params, batch: Batch) -> torch.Tensor:
        a = self.A if "A_noise" not in batch else self.A + batch["A_noise"]
        r = params["x"] @ a.T  # [n, d]
        val = (r * r).sum(-1)
        if self.config["output_fn"] == "log":
            val = torch.log(torch.clamp(val, min=0) + 1e-8)
        return val * self.loss_scale

    def batch(self, split: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        if self.noise_spec is None:
            return {}
        return {"A_noise": draw_matrix(self.noise_spec, self.dims, generator).to(self.A.device)}

    @property
    def data_sources(self) -> tuple[DataSource, ...]:
        return (DataSource("quadratic", "synthetic", "matrix drawn from the config's seed"),)

    def num_params(self) -> int:
        return self.dims

    def to(self, device: torch.device | str) -> QuadraticTask:
        self._device = device
        if self._A is not None:
            self._A, self._x0 = self._A.to(device), self._x0.to(device)  # type: ignore[union-attr]
        return self


class QuadraticFamily(TaskFamily):
    name = "quadratic_family"

    def sample(self, seed: int) -> dict[str, Any]:
        rng = rng_for(seed)
        a_dist = sample_matrix_dist(rng)
        if int(rng.choice(2)) == 0:
            init = ["normal", {"mean": float(rng.normal(0, 1)), "std": float(rng.uniform(0, 2))}]
        else:
            lo = float(rng.uniform(-5, 2.5))
            init = ["uniform", {"min": lo, "max": lo + float(rng.uniform(0, 5))}]
        output_fn = ["identity", "log"][int(rng.choice(2))]
        dims = sample_log_int(rng, 2, 3000)
        task_seed = int(rng.randint(0, 100000))
        loss_scale = sample_log_float(rng, 1e-5, 1e3)
        noise = (
            {"A_noise": sample_matrix_dist(rng, noise=True)}
            if bool(rng.choice([True, False]))
            else None
        )
        return {
            "A_dist": a_dist,
            "initial_dist": init,
            "output_fn": output_fn,
            "dims": dims,
            "seed": task_seed,
            "loss_scale": loss_scale,
            "noise": noise,
        }

    def build(self, config: dict[str, Any], name: str = "") -> QuadraticTask:
        check_config(config, _KEYS, f"{self.name} config", optional=("noise",))
        return QuadraticTask(config, name=name)
