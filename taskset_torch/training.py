"""The vectorized trainer: K optimizer configs of one task trained together, TaskSet's protocol.

All K parameter sets live in one contiguous ``[K, P]`` buffer. Each step the task sees views of it,
``loss(params, batch) -> [K]`` is differentiated once (the K losses are independent, so the
gradient of their sum is every config's own gradient) and the update rule runs element-wise over
``[K, P]``. A config whose loss or gradient goes non-finite is marked diverged: its curve is NaN
from then on (as TaskSet's replica means are) and its row is zeroed so it cannot produce inf/NaN
arithmetic, which never touches the other rows.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from taskset_torch.tasks.base import SPLITS, Params, Task

__all__ = ["TrainConfig", "TrainResult", "eval_steps", "train", "FlatParams", "seed_generators"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """TaskSet's protocol by default: 10000 steps, evaluation every 200, 50 batches per point."""

    training_steps: int = 10000
    eval_every: int = 200
    eval_batches: int = 50
    device: str = "cpu"

    def __post_init__(self) -> None:
        for field in ("training_steps", "eval_every", "eval_batches"):
            v = getattr(self, field)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{field} must be a positive integer, got {v!r}")
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(
                f"device must be a torch device name such as 'cpu', got {self.device!r}"
            )


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
        was measured 2-7x slower on CPU for flows and VAEs. Non-finite losses contribute no
        gradient (their rows are dealt with by the caller).
        """
        leaves = {n: v.detach().requires_grad_(True) for n, v in self.views(flat).items()}
        loss = task.loss(leaves, batch)
        total = torch.where(torch.isfinite(loss), loss, 0.0).sum()
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
        loss = fp.loss_and_grad(flat, task, batch, grad)
        finite = torch.isfinite(loss)
        # A row sum is NaN/inf iff the row holds a NaN/inf (barring a finite overflow past 3e38),
        # and is ~20x cheaper than an element-wise isfinite over [K, P].
        newly_dead = alive & ~(finite & torch.isfinite(grad.sum(dim=1)))
        if bool(newly_dead.any()):
            diverged_at[newly_dead] = step
            alive &= ~newly_dead
            any_dead = True
        optimizer.update(flat, grad, state, step)
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


def train_configs(
    task: Task,
    space: str,
    configs: Sequence[Mapping[str, Any]],
    *,
    seed: int,
    config: TrainConfig = TrainConfig(),
    progress: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train ``task`` with each hyperparameter config of search space ``space``."""
    from taskset_torch.optimizers import get_space

    sp = get_space(space)
    configs = [sp.validate(c) for c in configs]
    opt = sp.vectorized(configs, config.training_steps)
    return train(task, opt, num_configs=len(configs), seed=seed, config=config, progress=progress)


__all__.append("train_configs")
