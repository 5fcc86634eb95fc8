"""losg_tasks_family: the 14 "Learned Optimizers that Scale and Generalize" problem types.

A config is ``[key, sub_config, random_seed]`` (TaskSet's ``sample_losg_tasks_family_cfg``). The
loss is the problem's objective; data batches are uniform draws from the problem's fixed dataset
and the split is ignored (LOSG problems have one data source), so the data source is "synthetic".

Gradient noise and sparsity, which LOSG applies to the *gradients* only (TaskSet wraps the
objective in a ``tf.custom_gradient``), are reproduced with zero-valued terms: the loss value is
the exact objective while its gradient becomes ``mask * (grad + noise_stdev * eps)``. ``eps`` and
the masks are drawn in :meth:`LOSGTask.batch`, shared by the n parameter sets. Only the outermost
problem's noise counts (as in TaskSet, where the wrappers' ``gradients`` method is the one used).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from taskset_torch.base import DataSource, check_config
from taskset_torch.datasets.base import check_split
from taskset_torch.sampling import choice, rng_for, sample_bool, sample_log_float, sample_log_int
from taskset_torch.tasks import losg_problems as lp
from taskset_torch.tasks import noise as device_noise
from taskset_torch.tasks.base import Batch, Params, Task, TaskFamily
from taskset_torch.tasks.utils import ACTIVATION_WEIGHTS, sample_activation

__all__ = [
    "LOSG_PROBLEM_TYPES",
    "MODIFIABLE_PROBLEMS",
    "sample_losg_config",
    "build_problem",
    "LOSGTask",
    "LOSGFamily",
]

# The problems the three modifiers (sparse, rescale, log) wrap, in TaskSet's `_to_modify` order.
MODIFIABLE_PROBLEMS: tuple[str, ...] = (
    "quadratic",
    "bowl",
    "optimization_test_problems",
    "fully_connected",
    "norm",
    "dependency_chain",
    "outward_snake",
    "min_max_well",
    "sum_of_quadratics",
    "projection_quadratic",
)


# ------------------------------------------------------------------------------------- samplers
def _noise(rng: np.random.RandomState, is_noise: bool) -> float:
    return sample_log_float(rng, 0.01, 10.0) if is_noise else 0.0


def _sample_quadratic(rng):
    is_noise = sample_bool(rng, 0.5)
    return {"dim": sample_log_int(rng, 10, 1000), "noise_stdev": _noise(rng, is_noise)}


def _sample_bowl(rng):
    is_noise = sample_bool(rng, 0.5)
    return {
        "cond": sample_log_float(rng, 0.01, 100),
        "angle": float(choice(rng, [0.0, 0.0, math.pi / 4.0, math.pi / 3])),
        "noise_stdev": _noise(rng, is_noise),
    }


def _sample_sparse_softmax_regression(rng):
    is_noise = sample_bool(rng, 0.5)
    return {
        "n_features": sample_log_int(rng, 2, 100),
        "n_classes": 2,
        "noise_stdev": _noise(rng, is_noise),
        "bs": sample_log_int(rng, 1, 50),
        "n_samples": sample_log_int(rng, 1, 30),
    }


def _sample_optimization_test_problems(rng):
    is_noise = sample_bool(rng, 0.5)
    return {
        "problem": choice(rng, sorted(lp.OPT_TEST_PROBLEMS)),
        "noise_stdev": _noise(rng, is_noise),
    }


def _sample_fully_connected(rng):
    n_layer = int(choice(rng, [2, 3, 4, 5]))
    fixed = sample_bool(rng, 0.5)
    cfg: dict[str, Any] = {
        "n_features": sample_log_int(rng, 1, 16),
        "n_classes": 2,
        "activation": sample_activation(rng),
        "bs": sample_log_int(rng, 1, 200),
        "n_samples": sample_log_int(rng, 1, 30),
    }
    if fixed:
        cfg["hidden_sizes"] = [sample_log_int(rng, 4, 32)] * n_layer
    else:
        cfg["hidden_sizes"] = [sample_log_int(rng, 4, 32) for _ in range(n_layer)]
    return cfg


def _sample_norm(rng):
    return {"dim": sample_log_int(rng, 3, 1000), "norm_power": float(rng.uniform(0.1, 5.0))}


def _sample_data_problem(rng):
    """dependency_chain, outward_snake, sum_of_quadratics and projection_quadratic draw alike."""
    return {
        "dim": sample_log_int(rng, 3, 100),
        "bs": sample_log_int(rng, 1, 200),
        "n_samples": sample_log_int(rng, 100, 20000),
    }


def _sample_min_max_well(rng):
    is_noise = sample_bool(rng, 0.5)
    return {"dim": sample_log_int(rng, 10, 1000), "noise_stdev": _noise(rng, is_noise)}


def _sample_base(rng):
    key = choice(rng, MODIFIABLE_PROBLEMS)
    return [key, _SAMPLERS[key](rng)]


def _sample_sparse_problems(rng):
    is_noise = sample_bool(rng, 0.5)
    return {
        "base": _sample_base(rng),
        "zero_probability": float(rng.uniform(0.9, 0.99)),
        "noise_stdev": _noise(rng, is_noise),
    }


def _sample_rescale_problems(rng):
    return {"base": _sample_base(rng), "scale": sample_log_float(rng, 0.001, 1000.0)}


def _sample_log_objective(rng):
    return {"base": _sample_base(rng)}


_SAMPLERS = {
    "quadratic": _sample_quadratic,
    "bowl": _sample_bowl,
    "sparse_softmax_regression": _sample_sparse_softmax_regression,
    "optimization_test_problems": _sample_optimization_test_problems,
    "fully_connected": _sample_fully_connected,
    "norm": _sample_norm,
    "dependency_chain": _sample_data_problem,
    "outward_snake": _sample_data_problem,
    "min_max_well": _sample_min_max_well,
    "sum_of_quadratics": _sample_data_problem,
    "projection_quadratic": _sample_data_problem,
    "sparse_problems": _sample_sparse_problems,
    "rescale_problems": _sample_rescale_problems,
    "log_objective": _sample_log_objective,
}

#: The 14 problem types, sorted as TaskSet draws over them.
LOSG_PROBLEM_TYPES: tuple[str, ...] = tuple(sorted(_SAMPLERS))


def sample_losg_config(seed: int) -> list[Any]:
    """``[key, sub_config, random_seed]`` exactly as TaskSet stores ``losg_tasks_family_seed<N>``."""
    rng = rng_for(seed)
    key = choice(rng, LOSG_PROBLEM_TYPES)
    sub = _SAMPLERS[key](rng)
    return [key, sub, int(rng.uniform(0, 100000))]


# ------------------------------------------------------------------------------------- builders
#: The keys of each problem type's sub-config, as TaskSet's samplers write them.
_KEYS: dict[str, tuple[str, ...]] = {
    "quadratic": ("dim", "noise_stdev"),
    "bowl": ("cond", "angle", "noise_stdev"),
    "optimization_test_problems": ("problem", "noise_stdev"),
    "norm": ("dim", "norm_power"),
    "min_max_well": ("dim", "noise_stdev"),
    "sparse_softmax_regression": ("n_features", "n_classes", "noise_stdev", "bs", "n_samples"),
    "fully_connected": ("n_features", "n_classes", "activation", "bs", "n_samples", "hidden_sizes"),
    "dependency_chain": ("dim", "bs", "n_samples"),
    "outward_snake": ("dim", "bs", "n_samples"),
    "sum_of_quadratics": ("dim", "bs", "n_samples"),
    "projection_quadratic": ("dim", "bs", "n_samples"),
    "sparse_problems": ("base", "zero_probability", "noise_stdev"),
    "rescale_problems": ("base", "scale"),
    "log_objective": ("base",),
}


def _need(cfg: Any, key: Any) -> None:
    """A clear error unless ``key`` is a problem type and ``cfg`` holds exactly its keys."""
    if not isinstance(key, str) or key not in _KEYS:
        raise ValueError(f"unknown LOSG problem type {key!r}; valid: {list(LOSG_PROBLEM_TYPES)}")
    check_config(cfg, _KEYS[key], f"{key} config")


def _build_base(key: str, cfg: dict[str, Any], seed: int):
    """(problem, dataset or None, batch size or None) for one non-modifier problem type."""
    _need(cfg, key)
    if key == "quadratic":
        return lp.Quadratic(cfg["dim"], seed, noise_stdev=cfg["noise_stdev"]), None, None
    if key == "bowl":
        return lp.Bowl(cfg["cond"], cfg["angle"], noise_stdev=cfg["noise_stdev"]), None, None
    if key == "optimization_test_problems":
        return lp.Problem2D(cfg["problem"], noise_stdev=cfg["noise_stdev"]), None, None
    if key == "norm":
        return lp.Norm(cfg["dim"], seed, norm_power=cfg["norm_power"]), None, None
    if key == "min_max_well":
        return lp.MinMaxWell(cfg["dim"], noise_stdev=cfg["noise_stdev"]), None, None
    if key == "sparse_softmax_regression":
        prob = lp.SparseSoftmaxRegression(cfg["n_features"], cfg["n_classes"], cfg["noise_stdev"])
        data = lp.noisy_parity_class(cfg["n_samples"], seed, n_classes=cfg["n_classes"])
        return prob, data, cfg["bs"]
    if key == "fully_connected":
        if cfg["activation"] not in ACTIVATION_WEIGHTS:
            raise ValueError(
                f"unknown activation {cfg['activation']!r}; valid: {sorted(ACTIVATION_WEIGHTS)}"
            )
        prob = lp.FullyConnected(
            cfg["n_features"], cfg["n_classes"], cfg["hidden_sizes"], cfg["activation"]
        )
        return prob, lp.random_mlp(cfg["n_features"], cfg["n_samples"], seed), cfg["bs"]
    if key in ("dependency_chain", "outward_snake", "sum_of_quadratics", "projection_quadratic"):
        dim, n = cfg["dim"], cfg["n_samples"]
        if key == "dependency_chain":
            # TaskSet attaches a random_mlp dataset, but the objective never reads it.
            return lp.DependencyChain(dim), None, None
        if key == "outward_snake":
            return lp.OutwardSnake(dim), lp.random_mlp(dim, n, seed), cfg["bs"]
        # "dataset size must be divisible by 2"
        data = lp.random_symmetric(dim, int(n // 2) * 2, seed)
        cls = lp.SumOfQuadratics if key == "sum_of_quadratics" else lp.ProjectionQuadratic
        return cls(dim), data, cfg["bs"]
    raise ValueError(f"unknown LOSG problem type {key!r}; valid: {list(LOSG_PROBLEM_TYPES)}")


def build_problem(config: Any) -> tuple[lp.Problem, lp.LOSGDataset | None, int | None]:
    """The problem, its fixed dataset and batch size for a ``[key, sub_config, random_seed]``."""
    if not isinstance(config, (list, tuple)) or len(config) != 3:
        raise ValueError(
            f"a losg_tasks_family config is [key, sub_config, random_seed], got {config!r}"
        )
    key, cfg, seed = config
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ValueError(f"LOSG random_seed must be an integer in [0, 2**32), got {seed!r}")
    if key in ("sparse_problems", "rescale_problems", "log_objective"):
        _need(cfg, key)
        base_key, base_cfg = cfg["base"]
        if base_key not in MODIFIABLE_PROBLEMS:
            raise ValueError(
                f"{key} base must be one of {list(MODIFIABLE_PROBLEMS)}, got {base_key!r}"
            )
        base, data, bs = _build_base(base_key, base_cfg, int(seed))
        if key == "sparse_problems":
            return lp.SparseProblem(base, cfg["zero_probability"], cfg["noise_stdev"]), data, bs
        if key == "rescale_problems":
            return lp.Rescale(base, cfg["scale"]), data, bs
        return lp.LogObjective(base), data, bs
    return _build_base(key, cfg, int(seed))


# ----------------------------------------------------------------------------------------- task
class LOSGTask(Task):
    """One LOSG problem vectorized over n parameter sets (``param{i}`` in LOSG's order)."""

    def __init__(self, config: Any, name: str = ""):
        self.name = name
        self.config = config
        self.problem, self.dataset, self.batch_size = build_problem(config)
        self.names = [f"param{i}" for i in range(len(self.problem.param_shapes))]
        self.sparse = isinstance(self.problem, lp.SparseProblem)
        self.noise_stdev = float(self.problem.noise_stdev)
        self.device = torch.device("cpu")
        if not self.noise_stdev >= 0:
            raise ValueError(f"noise_stdev must be >= 0, got {self.noise_stdev}")

    def init_params(self, generator: torch.Generator) -> Params:
        return dict(zip(self.names, self.problem.init(generator)))

    def batch(self, split: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        check_split(split)  # LOSG problems ignore the split: every split is the same data
        out: dict[str, torch.Tensor] = {}
        if self.dataset is not None and self.problem.uses_data:
            idx = torch.randint(self.dataset.data.shape[0], (self.batch_size,), generator=generator)
            idx = idx.to(self.device)
            out["data"], out["label"] = self.dataset.data[idx], self.dataset.labels[idx]
        device = self.device
        # Per-step noise is generated on the task's device (tasks/noise.py).
        g = device_noise.noise_generator(generator, device)
        for k, shape in zip(self.names, self.problem.param_shapes):
            if self.noise_stdev > 0:
                out[f"noise/{k}"] = torch.randn(shape, generator=g, device=device)
            if self.sparse:
                # LOSG zeroes a gradient entry where zero_prob > U[0, 1).
                u = torch.rand(shape, generator=g, device=device)
                out[f"keep/{k}"] = (u >= self.problem.zero_probability).to(torch.float32)
        return out

    def loss(self, params: Params, batch: Batch) -> torch.Tensor:
        ps = [params[k] for k in self.names]
        if self.sparse:
            # Same value, gradient masked: p_eff = p.detach() + keep * (p - p.detach()).
            ps = [
                p.detach() + batch[f"keep/{k}"] * (p - p.detach()) for k, p in zip(self.names, ps)
            ]
        obj = self.problem.objective(ps, batch.get("data"), batch.get("label"))
        if self.noise_stdev > 0:
            # A term whose value is exactly 0 and whose gradient is the (masked) gradient noise.
            for k, p in zip(self.names, ps):
                delta = (p - p.detach()).flatten(1)
                obj = obj + self.noise_stdev * (delta * batch[f"noise/{k}"].flatten()).sum(1)
        return obj

    @property
    def data_sources(self) -> tuple[DataSource, ...]:
        key, sub = self.config[0], self.config[1]
        base = f"{key}({sub['base'][0]})" if isinstance(sub, dict) and "base" in sub else key
        detail = f"LOSG problem {base}, data seeded by random_seed {self.config[2]}"
        return (DataSource(f"losg/{key}", "synthetic", detail),)

    def num_params(self) -> int:
        return int(sum(math.prod(s) for s in self.problem.param_shapes))

    def to(self, device: torch.device | str) -> LOSGTask:
        self.device = torch.device(device)
        self.problem.to(device)
        if self.dataset is not None:
            self.dataset = self.dataset.to(device)
        return self


class LOSGFamily(TaskFamily):
    name = "losg_tasks_family"

    def sample(self, seed: int) -> list[Any]:
        return sample_losg_config(seed)

    def build(self, config: Any, name: str = "") -> LOSGTask:
        return LOSGTask(config, name=name)
