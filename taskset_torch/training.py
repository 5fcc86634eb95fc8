"""The vectorized trainer: K optimizer configs of one task trained together, TaskSet's protocol.

All K parameter sets live in one contiguous ``[K, P]`` buffer. Each step the task sees views of it,
``loss(params, batch) -> [K]`` is differentiated once (the K losses are independent, so the
gradient of their sum is every config's own gradient) and the update rule runs element-wise over
``[K, P]``. A config is marked diverged, as TaskSet recorded it, only when its *parameters* become
non-finite: its curve is NaN from then on (as TaskSet's replica means are) and its row is zeroed so
it cannot produce inf/NaN arithmetic, which never touches the other rows. A non-finite loss with
finite parameters is recorded as it is and training goes on (TaskSet kept training).

Randomness is shared by default (all K configs of a seed see one init and one batch sequence:
common random numbers, one program). ``TrainConfig(independent=True)`` gives every config its own
init and batches, drawn from (seed, config id), as TaskSet's independent runs had them.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from taskset_torch.base import SPLITS
from taskset_torch.tasks.base import Params, Task

__all__ = [
    "TrainConfig",
    "TrainResult",
    "eval_steps",
    "train",
    "FlatParams",
    "seed_generators",
    "config_seed",
    "zero_curve",
]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """TaskSet's protocol by default: 10000 steps, evaluation every 200, 50 batches per point.

    ``independent``: every config draws its own init and batches from (seed, config id) instead
    of sharing the seed's (slower: one program per config; see DESIGN.md for when it matters).
    """

    training_steps: int = 10000
    eval_every: int = 200
    eval_batches: int = 50
    device: str = "cpu"
    independent: bool = False

    def __post_init__(self) -> None:
        for field in ("training_steps", "eval_every", "eval_batches"):
            v = getattr(self, field)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{field} must be a positive integer, got {v!r}")
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(
                f"device must be a torch device name such as 'cpu', got {self.device!r}"
            )
        if not isinstance(self.independent, bool):
            raise ValueError(f"independent must be True or False, got {self.independent!r}")


@dataclasses.dataclass
class TrainResult:
    steps: np.ndarray  # int64 [S]: 0, eval_every, ..., training_steps
    values: np.ndarray  # float32 [K, S, 4]: mean loss over eval_batches per split
    diverged_at: np.ndarray  # int64 [K]: step at which the config diverged, -1 if never
    time_per_step: float  # wall seconds per training step of the whole K-config program
    eval_time: float  # wall seconds spent evaluating


def eval_steps(training_steps: int, eval_every: int) -> np.ndarray:
    """Steps with an evaluation: 0, every ``eval_every``, and the last step (TaskSet's 51 points)."""
    steps = list(range(0, training_steps + 1, eval_every))
    if steps[-1] != training_steps:
        steps.append(training_steps)
    return np.asarray(steps, dtype=np.int64)


def seed_generators(seed: int) -> dict[str, torch.Generator]:
    """Independent generators for init, training batches and evaluation batches of one seed.

    Evaluation draws from its own stream so that changing the evaluation schedule never changes
    the training trajectory (nor the batches a given step is evaluated on).
    """
    base = np.random.SeedSequence([int(seed), 0x7A5C5E7])
    seeds = base.generate_state(3, dtype=np.uint64)
    return {
        name: torch.Generator().manual_seed(int(s) & 0x7FFF_FFFF_FFFF_FFFF)
        for name, s in zip(("init", "train", "eval"), seeds)
    }


def config_seed(seed: int, config_id: int) -> int:
    """The seed of config ``config_id``'s own init and batches under independent randomness."""
    state = np.random.SeedSequence([int(seed), int(config_id), 0x1DE9E7]).generate_state(
        1, dtype=np.uint64
    )
    return int(state[0]) & 0x7FFF_FFFF_FFFF_FFFF


class FlatParams:
    """K parameter sets in one ``[K, P]`` buffer, and named views of it."""

    def __init__(self, params: Params):
        self.names = list(params)
        first = params[self.names[0]]
        self.k = first.shape[0]
        self.shapes = [tuple(params[n].shape[1:]) for n in self.names]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.flat = torch.cat(
            [params[n].reshape(self.k, -1) for n in self.names], dim=1
        ).contiguous()

    @property
    def num_params(self) -> int:
        return int(self.flat.shape[1])

    def views(self, flat: torch.Tensor) -> Params:
        out, start = {}, 0
        for name, shape, size in zip(self.names, self.shapes, self.sizes):
            out[name] = flat[:, start : start + size].view(flat.shape[0], *shape)
            start += size
        return out

    def loss_and_grad(
        self,
        flat: torch.Tensor,
        task: Task,
        batch: Mapping[str, torch.Tensor],
        grad_out: torch.Tensor,
    ) -> torch.Tensor:
        """``task.loss`` of the views of ``flat`` ([K]), its gradient written into ``grad_out``.

        The gradient is taken with respect to one leaf per parameter tensor (views sharing
        ``flat``'s storage), not with respect to ``flat`` itself: differentiating through slices
        of one buffer makes autograd write a zero-filled ``[K, P]`` tensor per parameter, which
        was measured 2-7x slower on CPU for flows and VAEs. A row with a non-finite loss gets
        whatever gradient its loss has (TaskSet applied it too); rows are independent, so it
        stays in that row.
        """
        leaves = {n: v.detach().requires_grad_(True) for n, v in self.views(flat).items()}
        loss = task.loss(leaves, batch)
        total = loss.sum()
        grads = torch.autograd.grad(total, list(leaves.values()), allow_unused=True)
        for view, g in zip(self.views(grad_out).values(), grads):
            if g is None:  # a parameter the loss does not use (e.g. after a 0x0 feature map)
                view.zero_()
            else:
                view.copy_(g)
        return loss.detach()


@torch.no_grad()
def _evaluate(task: Task, params: Params, k: int, batches: int, g: torch.Generator) -> torch.Tensor:
    out = torch.zeros(
        k, len(SPLITS), dtype=torch.float64, device=next(iter(params.values())).device
    )
    for j, split in enumerate(SPLITS):
        for _ in range(batches):
            out[:, j] += task.loss(params, task.batch(split, g)).double()
    return out / batches


def train(
    task: Task,
    optimizer: Any,
    *,
    num_configs: int,
    seed: int,
    config: TrainConfig = TrainConfig(),
    progress: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train ``num_configs`` parameter sets of ``task``, one per row of ``optimizer``'s hparams.

    ``optimizer`` is a vectorized update rule (``init(flat) -> state``,
    ``update(flat, grads, state, step)``) built for the same number of configs, e.g.
    ``get_space("adam8p_wide_grid").vectorized(configs, training_steps)``. ``progress`` is called
    with the number of training steps done since the last call.
    """
    if config.independent:
        raise ValueError(
            "train() runs K configs on shared randomness; for independent randomness use "
            "train_configs(..., config_ids=...), which gives each config its own program"
        )
    k = int(num_configs)
    device = torch.device(config.device)
    gens = seed_generators(seed)
    task = task.to(device)
    init = {n: v.to(device) for n, v in task.init(k, gens["init"]).items()}
    fp = FlatParams(init)
    flat = fp.flat
    if hasattr(optimizer, "to"):
        optimizer = optimizer.to(device)
    state = optimizer.init(flat)
    grad = torch.empty_like(flat)

    eval_base = int(torch.randint(2**40, (1,), generator=gens["eval"]))
    steps = eval_steps(config.training_steps, config.eval_every)
    eval_at = {int(s): i for i, s in enumerate(steps)}
    values = torch.full(
        (k, len(steps), len(SPLITS)), float("nan"), dtype=torch.float64, device=device
    )
    alive = torch.ones(k, dtype=torch.bool, device=device)
    any_dead = False
    diverged_at = torch.full((k,), -1, dtype=torch.int64, device=device)
    train_time = eval_time = 0.0
    pending = 0

    for step in range(config.training_steps + 1):
        if step in eval_at:
            t0 = time.perf_counter()
            # Evaluation batches depend only on (seed, step): fresh at every point, and the same
            # whatever the schedule, so curves of different protocols are comparable.
            eval_gen = torch.Generator().manual_seed(eval_base + 7919 * step)
            ev = _evaluate(task, fp.views(flat), k, config.eval_batches, eval_gen)
            values[:, eval_at[step]] = torch.where(alive.unsqueeze(1), ev, float("nan"))
            eval_time += time.perf_counter() - t0
        if step == config.training_steps:
            break
        t0 = time.perf_counter()
        batch = task.batch("train", gens["train"])
        fp.loss_and_grad(flat, task, batch, grad)
        optimizer.update(flat, grad, state, step)
        # Diverged = non-finite parameters after this step's update. A row sum is NaN/inf iff the
        # row holds a NaN/inf or overflows past 3e38 (then confirmed element-wise on those rows
        # only); the sum is ~20x cheaper than an element-wise isfinite over [K, P].
        suspect = alive & ~torch.isfinite(flat.sum(dim=1))
        if bool(suspect.any()):
            rows = suspect.nonzero().squeeze(1)
            bad = ~torch.isfinite(flat[rows]).all(dim=1)
            newly_dead = torch.zeros_like(alive)
            newly_dead[rows[bad]] = True
            diverged_at[newly_dead] = step
            alive &= ~newly_dead
            any_dead = any_dead or bool(bad.any())
        if any_dead:  # rows are independent: a dead row's NaNs stay in that row, then are reset
            flat[~alive] = 0.0
        train_time += time.perf_counter() - t0
        pending += 1
        if progress is not None and (pending >= 50 or step == config.training_steps - 1):
            progress(pending)
            pending = 0

    return TrainResult(
        steps=steps,
        values=values.float().cpu().numpy(),
        diverged_at=diverged_at.cpu().numpy(),
        time_per_step=train_time / max(config.training_steps, 1),
        eval_time=eval_time,
    )


def zero_curve(task: Task, *, seed: int, config: TrainConfig = TrainConfig()) -> TrainResult:
    """The curve of TaskSet's ``zero`` optimizer (every weight set to 0 at every step), cheaply.

    TaskSet evaluated the initial parameters at step 0; from the first update on every weight is 0
    whatever the gradient, so the later points are the all-zero model on that step's evaluation
    batches. No training step needs to run: the result equals ``train`` with a rule that zeroes
    the parameters (same seed, same evaluation batches), at the cost of the evaluations alone.
    """
    device = torch.device(config.device)
    gens = seed_generators(seed)
    task = task.to(device)
    init = {n: v.to(device) for n, v in task.init(1, gens["init"]).items()}
    fp = FlatParams(init)
    zeros = torch.zeros_like(fp.flat)
    eval_base = int(torch.randint(2**40, (1,), generator=gens["eval"]))
    steps = eval_steps(config.training_steps, config.eval_every)
    values = torch.empty((1, len(steps), len(SPLITS)), dtype=torch.float64, device=device)
    t0 = time.perf_counter()
    for i, step in enumerate(steps.tolist()):
        eval_gen = torch.Generator().manual_seed(eval_base + 7919 * step)
        params = fp.views(fp.flat if step == 0 else zeros)
        values[:, i] = _evaluate(task, params, 1, config.eval_batches, eval_gen)
    return TrainResult(
        steps=steps,
        values=values.float().cpu().numpy(),
        diverged_at=np.full(1, -1, dtype=np.int64),
        time_per_step=0.0,
        eval_time=time.perf_counter() - t0,
    )


def _train_independent(
    task: Task,
    space: Any,
    configs: Sequence[Mapping[str, Any]],
    config_ids: Sequence[int],
    seed: int,
    config: TrainConfig,
    progress: Callable[[int], None] | None,
) -> TrainResult:
    """One program per config, each seeded by :func:`config_seed` (seed, config id)."""
    shared = dataclasses.replace(config, independent=False)
    parts = [
        train(
            task,
            space.vectorized([c], config.training_steps),
            num_configs=1,
            seed=config_seed(seed, cid),
            config=shared,
            progress=progress,
        )
        for c, cid in zip(configs, config_ids)
    ]
    return TrainResult(
        steps=parts[0].steps,
        values=np.concatenate([p.values for p in parts]),
        diverged_at=np.concatenate([p.diverged_at for p in parts]),
        time_per_step=sum(p.time_per_step for p in parts),
        eval_time=sum(p.eval_time for p in parts),
    )


def train_configs(
    task: Task,
    space: str,
    configs: Sequence[Mapping[str, Any]],
    *,
    seed: int,
    config: TrainConfig = TrainConfig(),
    progress: Callable[[int], None] | None = None,
    config_ids: Sequence[int] | None = None,
) -> TrainResult:
    """Train ``task`` with each hyperparameter config of search space ``space``.

    ``config_ids`` (e.g. the N of ``<space>_seed<N>``) identify the configs; independent
    randomness (``config.independent``) needs them, so a config's curve depends on
    (task, config, seed) only, not on which other configs share its unit.
    """
    from taskset_torch.optimizers import get_space

    sp = get_space(space)
    configs = [sp.validate(c) for c in configs]
    if config.independent:
        if config_ids is None or len(config_ids) != len(configs):
            raise ValueError(
                "independent randomness needs one config id per config (config_ids=), got "
                f"{None if config_ids is None else len(config_ids)} for {len(configs)} configs"
            )
        return _train_independent(task, sp, configs, config_ids, seed, config, progress)
    opt = sp.vectorized(configs, config.training_steps)
    return train(task, opt, num_configs=len(configs), seed=seed, config=config, progress=progress)


__all__.append("train_configs")
