"""TaskSet's fixed ``zero`` optimizer: every weight set to 0 at every step.

TaskSet (``task_set/optimizers/zero.py``) kept it as a sanity check whose values "are used for
normalization": the loss of the all-zero model (ln(classes) for a classifier) is the reference a
task's losses are scaled against (``hparam_lists.normalize``, ``norm_ref="zero"``). Its curve is
stored as the search space ``zero`` with the single config ``zero``, one unit per (task, seed);
``taskset_torch.training.zero_curve`` computes it without running training steps.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["ZERO", "ZeroRule"]

#: The name of the optimizer, of its one config and of the store "space" holding its curves.
ZERO = "zero"


class ZeroRule:
    """Vectorized update rule that zeroes every row (used to check ``zero_curve``)."""

    def init(self, flat: torch.Tensor) -> dict[str, Any]:
        """No state."""
        return {}

    def update(
        self, flat: torch.Tensor, grads: torch.Tensor, state: dict[str, Any], step: int
    ) -> None:
        """Set every weight to 0, in place."""
        flat.zero_()
