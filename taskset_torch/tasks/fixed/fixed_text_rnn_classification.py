"""TaskSet's 12 fixed RNN text classifiers (``task_set/tasks/fixed/fixed_text_rnn_classification.py``).

Every task: IMDB sentiment on ``imdb_reviews/subwords8k`` (random patches, TaskSet's default
``num_per_valid = 3000``), tokens clipped to ``vocab_size - 1 = 9999``, ``snt.Embed(10000, E)``,
a default-initialized Sonnet core with a trainable (zero-initialized) initial state, the last
output or the mean over time (padding included: no sequence lengths), ``snt.Linear(2)`` and the
mean softmax cross entropy. Built as the sampled family's :class:`RNNTextClassificationTask`.
"""

from __future__ import annotations

from typing import Any

from taskset_torch.datasets.specs import TEXT_CLASSIFICATION_NUM_PER_VALID
from taskset_torch.tasks.fixed._spec import check_spec
from taskset_torch.tasks.fixed.sonnet_cores import SNT_LINEAR_INIT, sonnet_core
from taskset_torch.tasks.text_classification import IMDB_NUM_CLASSES, RNNTextClassificationTask

__all__ = ["SPECS", "build"]

_DATASET = "imdb_reviews/subwords8k"
_NUM_PER_VALID = TEXT_CLASSIFICATION_NUM_PER_VALID  # imdb_subword passes none
# rnn_classification's default: 10000 > the ~8k subword ids, so the clip never bites on IMDB.
_VOCAB_SIZE = 10000

# (name suffix after "FixedTextRNNClassification_imdb_", patch, batch, core, units, activation,
#  embed_dim, aggregation); activation only matters for VRNN/IRNN (snt.VanillaRNN's default tanh).
_TABLE: list[tuple[str, int, int, str, int, str, int, str]] = [
    ("patch32_LSTM128_bs128", 32, 128, "LSTM", 128, "tanh", 64, "last"),
    ("patch128_LSTM128_bs64", 128, 64, "LSTM", 128, "tanh", 64, "last"),
    ("patch32_LSTM128_E128_bs128", 32, 128, "LSTM", 128, "tanh", 128, "last"),
    ("patch128_LSTM128_embed128_bs64", 128, 64, "LSTM", 128, "tanh", 128, "last"),
    ("patch128_LSTM128_avg_bs64", 128, 64, "LSTM", 128, "tanh", 64, "avg"),
    ("patch32_GRU128_bs128", 32, 128, "GRU", 128, "tanh", 64, "last"),
    ("patch32_GRU64_avg_bs128", 32, 128, "GRU", 64, "tanh", 64, "avg"),
    ("patch32_VRNN128_tanh_bs128", 32, 128, "VRNN", 128, "tanh", 64, "last"),
    ("patch32_VRNN64_tanh_avg_bs128", 32, 128, "VRNN", 64, "tanh", 64, "avg"),
    ("patch32_VRNN64_relu_avg_bs128", 32, 128, "VRNN", 64, "relu", 64, "avg"),
    ("patch32_IRNN64_relu_avg_bs128", 32, 128, "IRNN", 64, "relu", 64, "avg"),
    ("patch32_IRNN64_relu_last_bs128", 32, 128, "IRNN", 64, "relu", 64, "last"),
]


def _spec(patch: int, bs: int, kind: str, units: int, act: str, embed: int, agg: str) -> dict:
    return {
        "dataset": _DATASET,
        "patch_length": patch,
        "batch_size": bs,
        "num_per_valid": _NUM_PER_VALID,
        "num_train": None,
        "vocab_size": _VOCAB_SIZE,
        "embed_dim": embed,
        "core": sonnet_core(kind, units, act),
        "trainable_init": True,
        "loss_compute": agg,
        "w_init": list(SNT_LINEAR_INIT),  # snt.Linear(2)'s default weight init, zero bias
        "num_classes": IMDB_NUM_CLASSES,
    }


SPECS: dict[str, dict[str, Any]] = {
    f"FixedTextRNNClassification_imdb_{row[0]}": _spec(*row[1:]) for row in _TABLE
}

_KEYS = tuple(next(iter(SPECS.values())))


def build(name: str, spec: dict[str, Any], *, dataset: Any = None) -> RNNTextClassificationTask:
    """The task of ``spec`` (a :data:`SPECS` row, possibly edited); ``dataset`` injects data."""
    check_spec(spec, _KEYS, name)
    return RNNTextClassificationTask(
        dataset_name=spec["dataset"],
        dataset_kwargs={
            "patch_length": spec["patch_length"],
            "num_train": spec["num_train"],
            "num_per_valid": spec["num_per_valid"],
        },
        batch_size=spec["batch_size"],
        embed_dim=spec["embed_dim"],
        vocab_size=spec["vocab_size"],
        core=spec["core"],
        w_init=spec["w_init"],
        trainable_init=spec["trainable_init"],
        loss_compute=spec["loss_compute"],
        num_classes=spec["num_classes"],
        dataset=dataset,
        name=name,
    )
