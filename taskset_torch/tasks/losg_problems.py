"""The LOSG toy problems TaskSet's ``losg_tasks_family`` builds, batched over n parameter sets.

Facts from ``learned_optimizer/problems/problem_generator.py`` and ``datasets.py`` (tensorflow/models
research, copied into ``task_set/tasks/losg_problems``). Each problem has parameter shapes, an
initial-value distribution, an objective, and optionally a fixed dataset with a batch size. Every
objective here takes parameters with a leading dimension ``n`` and returns ``[n]``.

Randomness: the problem's fixed data (the ``W``, ``y`` of quadratic/norm; the generated datasets)
comes from ``np.random.RandomState(random_seed)``. For ``W``/``y`` this is exactly TaskSet's draw
(``np.random.seed(random_seed)`` then ``np.random.randn``). TaskSet built the datasets and the base
problem of ``sparse_problems`` with ``random_seed=None`` (fresh, unseeded data per run); here they
use the config's seed too, so a task is a deterministic function of its config.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from taskset_torch.tasks.layers import get_activation

__all__ = [
    "EPSILON",
    "L2_REG_SCALE",
    "OPT_TEST_PROBLEMS",
    "LOSGDataset",
    "Problem",
    "Quadratic",
    "Bowl",
    "Problem2D",
    "SparseSoftmaxRegression",
    "FullyConnected",
    "Norm",
    "DependencyChain",
    "MinMaxWell",
    "OutwardSnake",
    "ProjectionQuadratic",
    "SumOfQuadratics",
    "Rescale",
    "LogObjective",
    "SparseProblem",
    "noisy_parity_class",
    "random_mlp",
    "random_symmetric",
]

EPSILON = 1e-6  # problem_generator.EPSILON
L2_REG_SCALE = 1e-3  # the default of the LOSG flag `l2_reg_scale` (softmax classifier problems)

Tensors = Sequence[torch.Tensor]


@dataclasses.dataclass
class LOSGDataset:
    """A fixed supervised dataset: ``data`` [N, ...] float32 and ``labels`` [N] int64."""

    data: torch.Tensor
    labels: torch.Tensor

    def to(self, device: torch.device | str) -> LOSGDataset:
        return LOSGDataset(self.data.to(device), self.labels.to(device))


# ------------------------------------------------------------------------------------ datasets
def noisy_parity_class(
    n_samples: int,
    random_seed: int,
    n_classes: int = 2,
    n_context_ids: int = 5,
    noise_prob: float = 0.25,
) -> LOSGDataset:
    """Labels are the parity of ``n_context_ids`` random class ids, flipped with ``noise_prob``."""
    rng = np.random.RandomState(random_seed)
    x = rng.randint(0, n_classes, [n_samples, n_context_ids])
    noise = rng.binomial(1, noise_prob, [n_samples])
    y = (np.sum(x, 1) + noise) % n_classes
    return LOSGDataset(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64)))


def random_mlp(
    n_features: int, n_samples: int, random_seed: int, n_layers: int = 6, width: int = 20
) -> LOSGDataset:
    """Gaussian inputs labelled by the sign of a random 6-layer ReLU net's first output."""
    rng = np.random.RandomState(random_seed)
    x = rng.normal(size=(n_samples, n_features))
    y = x
    n_in = n_features
    # LOSG quirk kept: every layer uses the input layer's scale sqrt(2 / n_features).
    scale = np.sqrt(2.0) / np.sqrt(n_features)
    for _ in range(n_layers):
        y = np.dot(y, rng.normal(size=(n_in, width)) * scale).clip(min=0)
        n_in = width
    y = y[:, 0]
    y[y > 0] = 1
    return LOSGDataset(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64)))


def random_symmetric(n_features: int, n_samples: int, random_seed: int) -> LOSGDataset:
    """Gaussian points and their negatives (so the data's mean is exactly zero)."""
    rng = np.random.RandomState(random_seed)
    x1 = rng.normal(size=(int(n_samples / 2), n_features))
    x = np.concatenate((x1, -x1), axis=0)
    return LOSGDataset(
        torch.from_numpy(x.astype(np.float32)), torch.zeros(x.shape[0], dtype=torch.int64)
    )


# ------------------------------------------------------------------------------------ problems
class Problem:
    """Base: parameter shapes, N(0, 1) init, gradient noise ``noise_stdev`` (applied by the task)."""

    param_shapes: list[tuple[int, ...]]
    noise_stdev: float = 0.0
    #: objective reads a data batch (the task then draws one per step)
    uses_data: bool = False

    def init(self, generator: torch.Generator) -> list[torch.Tensor]:
        return [torch.randn(s, generator=generator) for s in self.param_shapes]

    def objective(
        self, params: Tensors, data: torch.Tensor | None, labels: torch.Tensor | None
    ) -> torch.Tensor:
        raise NotImplementedError

    def constants(self) -> dict[str, torch.Tensor]:
        """Fixed tensors the objective uses (moved by :meth:`to`)."""
        return {}

    def to(self, device: torch.device | str) -> Problem:
        for k, v in self.constants().items():
            setattr(self, k, v.to(device))
        return self


def _sq_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of squares over all but the leading (config) dimension."""
    return x.square().flatten(1).sum(1)


class Quadratic(Problem):
    """``0.5 ||W x - y||^2`` with ``W``, ``y`` standard normal (float32), x of shape [d, 1]."""

    def __init__(self, ndim: int, random_seed: int, noise_stdev: float = 0.0):
        rng = np.random.RandomState(random_seed)
        self.param_shapes = [(ndim, 1)]
        self.noise_stdev = noise_stdev
        self.w = torch.from_numpy(rng.randn(ndim, ndim).astype(np.float32))
        self.y = torch.from_numpy(rng.randn(ndim, 1).astype(np.float32))

    def constants(self) -> dict[str, torch.Tensor]:
        return {"w": self.w, "y": self.y}

    def objective(self, params, data=None, labels=None):
        return 0.5 * _sq_sum(torch.matmul(self.w, params[0]) - self.y)


class Norm(Problem):
    """``(sum (|W x - y| + eps)^p)^(1/p)`` with ``W``, ``y`` drawn as for :class:`Quadratic`."""

    def __init__(
        self, ndim: int, random_seed: int, norm_power: float = 2.0, noise_stdev: float = 0.0
    ):
        rng = np.random.RandomState(random_seed)
        self.param_shapes = [(ndim, 1)]
        self.noise_stdev = noise_stdev
        self.w = torch.from_numpy(rng.randn(ndim, ndim).astype(np.float32))
        self.y = torch.from_numpy(rng.randn(ndim, 1).astype(np.float32))
        self.norm_power = float(norm_power)

    def constants(self) -> dict[str, torch.Tensor]:
        return {"w": self.w, "y": self.y}

    def objective(self, params, data=None, labels=None):
        diff = torch.matmul(self.w, params[0]) - self.y
        total = (diff.abs() + EPSILON).pow(self.norm_power).flatten(1).sum(1)
        return total.pow(1.0 / self.norm_power)


class Bowl(Problem):
    """A 2-D bowl ``0.5 ||M x||^2``, ``M = sqrt(diag(cond, 1)) R(angle)``."""

    def __init__(self, condition_number: float, angle: float = 0.0, noise_stdev: float = 0.0):
        if not condition_number > 0:
            raise ValueError(f"bowl condition number must be positive, got {condition_number}")
        self.param_shapes = [(2, 1)]
        self.noise_stdev = noise_stdev
        # float32 Hessian, float64 rotation, float32 constant: the dtypes LOSG used.
        hessian = np.array([[condition_number, 0.0], [0.0, 1.0]], dtype=np.float32)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        self.matrix = torch.from_numpy(np.sqrt(hessian).dot(rot).astype(np.float32))

    def constants(self) -> dict[str, torch.Tensor]:
        return {"matrix": self.matrix}

    def objective(self, params, data=None, labels=None):
        return 0.5 * _sq_sum(torch.matmul(self.matrix, params[0]))


def _rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _logsumexp(x, y):
    return torch.log(
        torch.exp(x + 3.0 * y - 0.1) + torch.exp(x - 3.0 * y - 0.1) + torch.exp(-x - 0.1) + 1.0
    )


def _ackley(x, y):
    return (
        -20 * torch.exp(-0.2 * torch.sqrt(0.5 * (x**2 + y**2)))
        - torch.exp(0.5 * (torch.cos(2 * math.pi * x) + torch.cos(2 * math.pi * y)))
        + math.e
        + 20.0
    )


def _beale(x, y):
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _styblinski_tang(x, y):
    return 0.5 * ((x**4 - 16 * x**2 + 5 * x) + (y**4 - 16 * y**2 + 5 * y)) + 80.0


def _matyas(x, y):
    return 0.26 * (x**2 + y**2) - 0.48 * x * y


def _branin(x, y):
    b, c, t = 5.1 / (4.0 * math.pi**2), 5 / math.pi, 1 / (8.0 * math.pi)
    return (y - b * x**2 + c * x - 6.0) ** 2 + 10.0 * (1 - t) * torch.cos(x) + 10.0


def _michalewicz(x, y):
    m = 5  # steepness of the ridges
    return 2.0 - (
        torch.sin(x) * torch.sin(x**2 / math.pi) ** (2 * m)
        + torch.sin(y) * torch.sin(2 * y**2 / math.pi) ** (2 * m)
    )


# name -> (objective of (x, y), init bounds per coordinate or None for N(0, 1))
OPT_TEST_PROBLEMS: dict[
    str, tuple[Callable, tuple[tuple[float, float], tuple[float, float]] | None]
] = {
    "ackley": (_ackley, ((-32.768, 32.768), (-32.768, 32.768))),
    "beale": (_beale, ((-4.5, 4.5), (-4.5, 4.5))),
    "branin": (_branin, ((-5.0, 10.0), (0.0, 15.0))),
    "logsumexp": (_logsumexp, None),
    "matyas": (_matyas, ((-10.0, 10.0), (-10.0, 10.0))),
    "michalewicz": (_michalewicz, ((0.0, math.pi), (0.0, math.pi))),
    "rosenbrock": (_rosenbrock, ((-5.0, 10.0), (-5.0, 10.0))),
    "StyblinskiTang": (_styblinski_tang, ((-5.0, 5.0), (-5.0, 5.0))),
}


class Problem2D(Problem):
    """One of the classic 2-D optimization test functions, parameters of shape [2]."""

    def __init__(self, name: str, noise_stdev: float = 0.0):
        if name not in OPT_TEST_PROBLEMS:
            raise ValueError(
                f"unknown optimization test problem {name!r}; valid: {sorted(OPT_TEST_PROBLEMS)}"
            )
        self.name = name
        self.fn, self.bounds = OPT_TEST_PROBLEMS[name]
        self.param_shapes = [(2,)]
        self.noise_stdev = noise_stdev

    def init(self, generator):
        if self.bounds is None:
            return super().init(generator)
        u = torch.rand(2, generator=generator)
        lo = torch.tensor([b[0] for b in self.bounds])
        hi = torch.tensor([b[1] for b in self.bounds])
        return [lo + (hi - lo) * u]

    def objective(self, params, data=None, labels=None):
        p = params[0]
        return self.fn(p[:, 0], p[:, 1])


class _SoftmaxClassifier(Problem):
    """Two-class problems: sigmoid cross entropy on logit 0 plus ``1e-3 * mean_i ||p_i||^2``."""

    uses_data = True

    def init(self, generator):
        # LOSG: N(0, 1) * 1.2 / sqrt(shape[0]) for every parameter, biases included.
        return [
            torch.randn(s, generator=generator) * 1.2 / math.sqrt(s[0]) for s in self.param_shapes
        ]

    def inference(self, params: Tensors, data: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def objective(self, params, data, labels):
        logits = self.inference(params, data)  # [n, B, 2]
        target = labels.to(logits.dtype).expand(logits.shape[0], -1)
        # LOSG's two-class "softmax" loss is a sigmoid cross entropy on the first logit only.
        ce = F.binary_cross_entropy_with_logits(logits[..., 0], target, reduction="none").mean(1)
        l2 = torch.stack([_sq_sum(p) for p in params], 0).mean(0)
        return ce + l2 * L2_REG_SCALE


class SparseSoftmaxRegression(_SoftmaxClassifier):
    """Embed ``n_context_ids`` class ids (table [classes, features]), sum, then affine to logits."""

    def __init__(self, n_features: int, n_classes: int = 2, noise_stdev: float = 0.0):
        _check_two_classes(n_classes)
        self.param_shapes = [(n_classes, n_features), (n_features, n_classes), (n_classes,)]
        self.noise_stdev = noise_stdev

    def inference(self, params, data):
        table, w, b = params
        ids = data.to(torch.int64)  # [B, 5]
        emb = table[:, ids].sum(2)  # [n, B, features]
        return torch.baddbmm(b.unsqueeze(1), emb, w)


class FullyConnected(_SoftmaxClassifier):
    """An MLP classifier (hidden sizes, activation between layers) on ``n_features`` inputs."""

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        hidden_sizes: Sequence[int],
        activation: str,
        noise_stdev: float = 0.0,
    ):
        _check_two_classes(n_classes)
        self.n_features = n_features
        self.activation = get_activation(activation)
        sizes = [n_features, *hidden_sizes, n_classes]
        self.param_shapes = []
        for din, dout in zip(sizes[:-1], sizes[1:]):
            self.param_shapes += [(din, dout), (dout,)]
        self.noise_stdev = noise_stdev

    def inference(self, params, data):
        x = data.reshape(-1, self.n_features)
        pre = torch.matmul(x, params[0]) + params[1].unsqueeze(1)
        for i in range(2, len(params), 2):
            pre = torch.baddbmm(params[i + 1].unsqueeze(1), self.activation(pre), params[i])
        return pre


def _check_two_classes(n_classes: int) -> None:
    if n_classes != 2:
        # LOSG itself raises here: its loss is only defined for two classes.
        raise ValueError(f"LOSG classifier problems support n_classes=2 only, got {n_classes}")


class DependencyChain(Problem):
    """``sum_i p_0^2 + p_{i+1}^2 / (p_i^2 + eps)`` over i < d: each parameter waits for the last.

    LOSG broadcasts ``p_0^2`` into every term, so it counts ``d`` times; kept as written.
    """

    def __init__(self, ndim: int, noise_stdev: float = 0.0):
        self.param_shapes = [(ndim + 1,)]
        self.noise_stdev = noise_stdev

    def objective(self, params, data=None, labels=None):
        p = params[0]
        terms = p[:, :1] ** 2 + p[:, 1:] ** 2 / (p[:, :-1] ** 2 + EPSILON)
        return terms.sum(1)


class MinMaxWell(Problem):
    """``max p^2 + 1 / min p^2 - 2``: only the extreme parameters get a gradient."""

    def __init__(self, ndim: int, noise_stdev: float = 0.0):
        self.param_shapes = [(ndim,)]
        self.noise_stdev = noise_stdev

    def objective(self, params, data=None, labels=None):
        sq = params[0] ** 2
        return sq.max(1).values + 1.0 / sq.min(1).values - 2.0 + 1e-12


class OutwardSnake(Problem):
    """A winding path out to infinity, probed by data rows (weights of the two loss terms)."""

    uses_data = True

    def __init__(self, ndim: int, noise_stdev: float = 0.0):
        self.param_shapes = [(ndim,)]
        self.noise_stdev = noise_stdev

    def objective(self, params, data, labels=None):
        p = params[0]  # [n, d]
        radius = p.square().sum(1).sqrt()  # [n]
        rad_loss = (1.0 / (radius + 1e-6)) * data[:, 0].sum()
        sin_dist = p[:, 1:] - torch.cos(p[:, :-1]) * math.pi  # [n, d - 1]
        sin_loss = (sin_dist.unsqueeze(1) * data[:, 1:]).square().sum((1, 2))
        return rad_loss + sin_loss


class ProjectionQuadratic(Problem):
    """``sum_b ||p * x_b||^2`` over a batch of probe directions; minimum 0 at p = 0."""

    uses_data = True

    def __init__(self, ndim: int, noise_stdev: float = 0.0):
        self.param_shapes = [(1, ndim)]
        self.noise_stdev = noise_stdev

    def objective(self, params, data, labels=None):
        return (params[0] * data).square().sum((1, 2))


class SumOfQuadratics(Problem):
    """``sum_b ||p - x_b||^2 - ||x_b||^2`` (+1e-12): the data is symmetric, so the minimum is p = 0."""

    uses_data = True

    def __init__(self, ndim: int, noise_stdev: float = 0.0):
        self.param_shapes = [(1, ndim)]
        self.noise_stdev = noise_stdev

    def objective(self, params, data, labels=None):
        return (params[0] - data).square().sum((1, 2)) - data.square().sum() + 1e-12


# --------------------------------------------------------------------------------- modifiers
class _Wrapper(Problem):
    def __init__(self, base: Problem):
        self.base = base
        self.param_shapes = list(base.param_shapes)
        self.uses_data = base.uses_data

    def to(self, device):
        self.base.to(device)
        return self


class Rescale(_Wrapper):
    """The base problem in parameters scaled by ``scale`` (init scaled up, objective scaled down).

    The wrapper's own gradient noise is 0 and the base problem's noise is never applied (LOSG uses
    the outer problem's gradients), so ``noise_stdev`` is 0.
    """

    def __init__(self, base: Problem, scale: float):
        super().__init__(base)
        self.scale = float(scale)

    def init(self, generator):
        return [t * self.scale for t in self.base.init(generator)]

    def objective(self, params, data=None, labels=None):
        return self.base.objective([p / self.scale for p in params], data, labels)


class LogObjective(_Wrapper):
    """``log(f + eps) - log(eps)`` of the base objective.

    LOSG quirk kept: the wrapper does not delegate ``init``, so parameters start N(0, 1) whatever
    the base problem's own init; its gradient noise is 0 (the base's noise is not applied).
    """

    def objective(self, params, data=None, labels=None):
        return torch.log(self.base.objective(params, data, labels) + EPSILON) - math.log(EPSILON)


class SparseProblem(_Wrapper):
    """The base objective, but each gradient entry is zeroed with ``zero_probability`` per step and
    the others get ``noise_stdev`` Gaussian noise. Init is N(0, 1) (not delegated, as in LOSG)."""

    def __init__(self, base: Problem, zero_probability: float, noise_stdev: float = 0.0):
        super().__init__(base)
        self.zero_probability = float(zero_probability)
        self.noise_stdev = noise_stdev

    def objective(self, params, data=None, labels=None):
        return self.base.objective(params, data, labels)
