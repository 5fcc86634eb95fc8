"""Sonnet 1's default RNN cores and Linear layer, as the fixed sequence tasks build them.

TaskSet's hand-designed sequence tasks construct ``snt.LSTM(n)``, ``snt.GRU(n)`` and
``snt.VanillaRNN(n)`` with no initializers, so Sonnet 1's defaults apply. They are expressed here
as the ``[core, args]`` specs of :mod:`taskset_torch.tasks.rnn` (the sampled families' cores), so
fixed and sampled tasks share one implementation:

- ``snt.Linear`` / LSTM gate weights and biases: ``truncated_normal(stddev=1/sqrt(fan_in))`` cut
  at two stddevs (``create_linear_initializer``), the ``sonnet_default`` initializer of
  :func:`~taskset_torch.tasks.layers.initialize`. ``snt.Linear`` biases start at zero.
- ``snt.GRU``: no initializer is passed to ``tf.get_variable``, so every weight and bias is
  ``glorot_uniform`` (TF's default).
- ``snt.VanillaRNN``: two ``snt.Linear`` (input-to-hidden, hidden-to-hidden), zero biases,
  ``tanh`` unless an activation is given. TaskSet's IRNN sets the hidden-to-hidden weight to
  ``tf.initializers.identity(1.0)`` with ``relu``.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["TRUNC_STD", "SNT_LINEAR_INIT", "GLOROT_UNIFORM", "CORE_KINDS", "sonnet_core"]

#: Standard deviation of a unit normal truncated at +-2 (TF's ``truncated_normal``).
TRUNC_STD: float = math.sqrt(
    1.0 - 4.0 * math.exp(-2.0) / math.sqrt(2.0 * math.pi) / math.erf(math.sqrt(2.0))
)
#: Sonnet 1's default Linear initializer, truncated_normal(1/sqrt(fan_in)), as an init spec.
SNT_LINEAR_INIT: list[Any] = ["sonnet_default", None]
GLOROT_UNIFORM: list[Any] = ["glorot_uniform", None]

#: TaskSet's core names in task names -> our core.
CORE_KINDS: dict[str, str] = {"LSTM": "lstm", "GRU": "gru", "VRNN": "vrnn", "IRNN": "vrnn"}


def sonnet_core(kind: str, units: int, activation: str = "tanh") -> list[Any]:
    """``[core, args]`` of a default-initialized Sonnet 1 core (``kind`` as in TaskSet's names).

    ``activation`` applies to VRNN / IRNN only (IRNN is TaskSet's ``_get_irnn_cell_fn``: a relu
    VanillaRNN whose hidden-to-hidden weight starts as the identity).
    """
    if kind not in CORE_KINDS:
        raise ValueError(f"unknown core kind {kind!r}; valid: {list(CORE_KINDS)}")
    if not isinstance(units, int) or isinstance(units, bool) or units < 1:
        raise ValueError(f"units must be a positive int, got {units!r}")
    if kind == "LSTM":
        return ["lstm", {"w_gates": list(SNT_LINEAR_INIT), "core_dim": units}]
    if kind == "GRU":
        args: dict[str, Any] = {"core_dim": units}
        args.update({k: list(GLOROT_UNIFORM) for k in ("wh", "wz", "wr", "uh", "uz", "ur")})
        return ["gru", args]
    hidden = ["identity", 1.0] if kind == "IRNN" else list(SNT_LINEAR_INIT)
    return [
        "vrnn",
        {
            "hidden_to_hidden": hidden,
            "in_to_hidden": list(SNT_LINEAR_INIT),
            "act_fn": activation,
            "core_dim": units,
        },
    ]
