"""One row per task: kind, family, size, estimated cost and data (what ``taskset-torch tasks`` lists)."""

from __future__ import annotations

from typing import Any

__all__ = ["describe_task"]


def describe_task(name: str, *, time_steps: int = 0) -> dict[str, Any]:
    """Build the task ``name`` (sampled ``<family>_seed<N>`` or fixed) and describe it.

    Returns a dict with ``task``, ``kind`` ("fixed" or "sampled"), ``family`` (for a fixed task:
    the TaskSet module it comes from), ``num_params``, ``est_gflop_per_step`` (6 x parameters x
    examples per batch, see :func:`~taskset_torch.cost.estimated_flops_per_step`) and
    ``data`` (its datasets and their sources); with ``time_steps`` > 0 also ``sec_per_step``,
    one config's training step measured over that many steps on this machine.

    Example::

        describe_task("quadratic_family_seed3")["num_params"]
    """
    from taskset_torch.cost import estimated_flops_per_step, step_seconds
    from taskset_torch.tasks.fixed import (
        build_fixed_task,
        fixed_task_kind,
        fixed_task_spec,
        is_fixed_task,
    )
    from taskset_torch.tasks.registry import get_family, parse_seed_name

    if is_fixed_task(name):
        # TaskSet's hand-designed tasks: "family" is the TaskSet module they come from.
        family, config = fixed_task_kind(name), fixed_task_spec(name)
        task = build_fixed_task(name)
    else:
        parsed = parse_seed_name(name)
        if parsed is None:
            raise KeyError(f"{name!r} is not of the form <family>_seed<N> nor a fixed task")
        family, seed = parsed
        fam = get_family(family)
        config = fam.sample(seed)
        task = fam.build(config, name=name)
    row = {
        "task": name,
        "kind": "fixed" if is_fixed_task(name) else "sampled",
        "family": family,
        "num_params": task.num_params(),
        "est_gflop_per_step": estimated_flops_per_step(task, config) / 1e9,
        "data": ", ".join(f"{s.dataset} ({s.kind})" for s in task.data_sources),
    }
    if time_steps:
        row["sec_per_step"] = step_seconds(task, steps=time_steps)
    return row
