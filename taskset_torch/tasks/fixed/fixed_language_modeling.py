"""TaskSet's 5 fixed byte-level language models (``task_set/tasks/fixed/fixed_language_modeling.py``).

Every task: ``lm1b/bytes`` in patches of 128, batch 128 (TaskSet's default ``num_per_valid =
3000``, all four splits carved as usual: no ``just_train``), ``snt.Embed(256, 64)``, a
default-initialized Sonnet core with a trainable (zero-initialized) initial state,
``snt.Linear(256)`` on outputs ``[:, :-1]`` against tokens ``[:, 1:]``. Unlike the sampled LM
families, the cross entropy is masked: ``sum(mask[:, 1:] * ce) / sum(mask[:, 1:])``, so padding
does not count (``teacher_force_language_modeling``). There is no vocabulary clip in TaskSet (byte
ids are < 256); ids are clamped to 255 anyway, which changes nothing for bytes.

The names say ``avg`` but nothing is averaged over time beyond the masked mean (TaskSet's names).
"""

from __future__ import annotations

from typing import Any

from taskset_torch.tasks.fixed._spec import check_spec
from taskset_torch.tasks.fixed.sonnet_cores import SNT_LINEAR_INIT, sonnet_core
from taskset_torch.tasks.language_model import RNNLanguageModelTask

__all__ = ["SPECS", "build"]

# (core, units) of FixedLM_lm1b_patch128_<core><units>_embed64_avg_bs128, in TaskSet's order.
_TABLE = [("GRU", 64), ("GRU", 128), ("GRU", 256), ("LSTM", 128), ("LSTM", 256)]

SPECS: dict[str, dict[str, Any]] = {
    f"FixedLM_lm1b_patch128_{kind}{units}_embed64_avg_bs128": {
        "dataset": "lm1b/bytes",
        "patch_length": 128,
        "batch_size": 128,
        "num_per_valid": 3000,  # random_slice_text_data's default; lm1b_byte passes none
        "num_train": None,
        "vocab_size": 256,
        "embed_dim": 64,
        "core": sonnet_core(kind, units),
        "trainable_init": True,
        "w_init": list(SNT_LINEAR_INIT),  # snt.Linear(256)'s default weight init, zero bias
        "mask_padding": True,  # teacher_force_language_modeling weights the CE by the mask
    }
    for kind, units in _TABLE
}

_KEYS = tuple(next(iter(SPECS.values())))


def build(name: str, spec: dict[str, Any], *, dataset: Any = None) -> RNNLanguageModelTask:
    """The task of ``spec`` (a :data:`SPECS` row, possibly edited); ``dataset`` injects data."""
    check_spec(spec, _KEYS, name)
    return RNNLanguageModelTask(
        dataset_name=spec["dataset"],
        dataset_kwargs={
            "patch_length": spec["patch_length"],
            "num_train": spec["num_train"],
            "num_per_valid": spec["num_per_valid"],
            "just_train": False,
        },
        batch_size=spec["batch_size"],
        embed_dim=spec["embed_dim"],
        vocab_size=spec["vocab_size"],
        core=spec["core"],
        w_init=spec["w_init"],
        trainable_init=spec["trainable_init"],
        mask_padding=bool(spec["mask_padding"]),
        dataset=dataset,
        name=name,
    )
