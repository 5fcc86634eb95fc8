"""TaskSet's 18 synthetic sequence tasks (``task_set/tasks/synthetic_sequence.py``).

``Associative_*`` (key/value retrieval) and ``Copy_*`` problems, generated fresh for every batch
from :meth:`Task.batch`'s generator with the same process for all four splits
(:mod:`taskset_torch.datasets.synthetic`). The model is TaskSet's ``sequence_to_sequence_rnn``:
one-hot inputs over ``num_tokens + 2`` symbols straight into a default-initialized Sonnet core (no
embedding; zero, non-trainable initial state), ``snt.Linear(num_tokens + 2)`` at every step, and
the softmax cross entropy averaged with the loss mask as weights (``sum(mask * ce) / sum(mask)``):
the last step for associative retrieval, the copied half for copy.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from taskset_torch.base import DataSource
from taskset_torch.datasets.synthetic import SequenceTaskData
from taskset_torch.tasks.base import Batch, Params, Task
from taskset_torch.tasks.fixed._spec import check_spec
from taskset_torch.tasks.fixed.sonnet_cores import SNT_LINEAR_INIT, sonnet_core
from taskset_torch.tasks.layers import initialize, linear
from taskset_torch.tasks.rnn import rnn_core_apply, rnn_core_params, validate_rnn_core

__all__ = ["SPECS", "build", "SequenceToSequenceRNNTask"]

# (core, units, batch size, num_pairs, num_tokens), TaskSet's associative table in its order.
_ASSOCIATIVE = [
    ("LSTM", 128, 128, 5, 20),
    ("LSTM", 128, 128, 20, 50),
    ("LSTM", 256, 128, 40, 100),
    ("LSTM", 128, 128, 10, 50),
    ("GRU", 128, 128, 10, 50),
    ("VRNN", 128, 128, 10, 50),
    ("LSTM", 256, 128, 20, 50),
    ("GRU", 256, 128, 20, 50),
    ("VRNN", 256, 128, 20, 50),
]
# (core, units, batch size, sequence_length, num_tokens); copy_fn passes num_separator=1.
_COPY = [
    ("LSTM", 128, 128, 5, 10),
    ("LSTM", 128, 128, 20, 20),
    ("LSTM", 128, 128, 50, 5),
    ("LSTM", 128, 128, 20, 10),
    ("GRU", 128, 128, 20, 10),
    ("VRNN", 128, 128, 20, 10),
    ("LSTM", 256, 128, 40, 50),
    ("GRU", 256, 128, 40, 50),
    ("VRNN", 256, 128, 40, 50),
]


def _spec(dataset: str, data: dict[str, int], core: str, units: int, bs: int) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "data": data,
        "batch_size": bs,
        "core": sonnet_core(core, units),  # snt.VanillaRNN here is tanh (its default)
        "w_init": list(SNT_LINEAR_INIT),  # snt.Linear's default weight init, zero bias
    }


SPECS: dict[str, dict[str, Any]] = {}
for _c, _u, _bs, _p, _t in _ASSOCIATIVE:
    SPECS[f"Associative_{_c}{_u}_BS{_bs}_Pairs{_p}_Tokens{_t}"] = _spec(
        "associative_sequence", {"num_pairs": _p, "num_tokens": _t}, _c, _u, _bs
    )
for _c, _u, _bs, _len, _t in _COPY:
    SPECS[f"Copy_{_c}{_u}_BS{_bs}_Length{_len}_Tokens{_t}"] = _spec(
        "copy_sequence",
        {"sequence_length": _len, "num_separator": 1, "num_tokens": _t},
        _c,
        _u,
        _bs,
    )

_KINDS = {"associative_sequence": "associative", "copy_sequence": "copy"}
# Generator settings per dataset: (required, optional).
_DATA_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "associative_sequence": (("num_pairs", "num_tokens"), ()),
    "copy_sequence": (("sequence_length", "num_tokens"), ("num_separator",)),
}


class SequenceToSequenceRNNTask(Task):
    """One-hot symbols -> RNN core -> Linear(symbols) per step; loss-mask-weighted mean CE."""

    def __init__(
        self, *, data: SequenceTaskData, batch_size: int, core: Any, w_init: Any, name: str = ""
    ):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        validate_rnn_core(core)
        self.name = name
        self.data = data
        self.batch_size = batch_size
        self.core = core
        self.hidden = int(core[1]["core_dim"])
        self.symbols = data.num_symbols
        self.w_init = w_init
        self._device = torch.device("cpu")

    def init_params(self, generator: torch.Generator) -> Params:
        # rnn.initial_state(bs) without trainable=True: zeros, not parameters.
        p = rnn_core_params(self.core, self.symbols, generator, trainable_init=False)
        p["linear/w"] = initialize(self.w_init, (self.hidden, self.symbols), generator)
        p["linear/b"] = torch.zeros(self.symbols)
        return p

    def batch(self, split: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        b = self.data.batch(split, self.batch_size, generator)
        return {k: v.to(self._device) for k, v in b.items()}

    def loss(self, params: Params, batch: Batch) -> torch.Tensor:
        inp, target, mask = batch["input"], batch["output"], batch["loss_mask"]
        n = params["linear/w"].shape[0]
        b, t = inp.shape
        # One-hot inputs shared by the n sets (an expanded view, no copy), time-major.
        x = F.one_hot(inp.t(), self.symbols).to(params["linear/w"].dtype)
        out = rnn_core_apply(self.core, params, x.unsqueeze(0).expand(n, t, b, self.symbols))
        logits = linear(out.reshape(n, t * b, self.hidden), params["linear/w"], params["linear/b"])
        ce = F.cross_entropy(
            logits.reshape(n * t * b, self.symbols), target.t().reshape(-1).repeat(n),
            reduction="none",
        ).view(n, t * b)  # fmt: skip
        w = mask.t().reshape(1, t * b).to(ce.dtype)
        return (ce * w).sum(1) / w.sum()

    @property
    def data_sources(self) -> tuple[DataSource, ...]:
        return (self.data.source,)

    def to(self, device: torch.device | str) -> SequenceToSequenceRNNTask:
        self._device = torch.device(device)
        return self


def build(name: str, spec: dict[str, Any]) -> SequenceToSequenceRNNTask:
    """The task of ``spec`` (a :data:`SPECS` row, possibly edited)."""
    check_spec(spec, ("dataset", "data", "batch_size", "core", "w_init"), name)
    if spec["dataset"] not in _KINDS:
        raise ValueError(f"{name}: dataset {spec['dataset']!r} is not one of {list(_KINDS)}")
    need = _DATA_KEYS[spec["dataset"]]
    if not isinstance(spec["data"], dict) or not set(need[0]) <= set(spec["data"]) <= set(
        sum(need, ())
    ):
        raise ValueError(
            f"{name}: {spec['dataset']} data settings need {list(need[0])} (optional: "
            f"{list(need[1])}), got {spec['data']!r}"
        )
    data = SequenceTaskData(_KINDS[spec["dataset"]], **spec["data"])
    return SequenceToSequenceRNNTask(
        data=data,
        batch_size=spec["batch_size"],
        core=spec["core"],
        w_init=spec["w_init"],
        name=name,
    )
