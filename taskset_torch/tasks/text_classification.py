"""rnn_text_classification_family: Embed -> RNN core -> last/avg/max over time -> Linear(2).

Quirk kept by default (``task_set/tasks/utils.py``): every sampled dataset key loads
``imdb_reviews/subwords8k`` (the loader is bound to that name for all keys, "a typo" per TaskSet's
own TODO, kept because its data was generated that way), so each task is 2-class IMDB sentiment
with ``num_per_valid = 3000``; ``just_train`` is sampled but never applied. The vocabulary is
``min(vocab_size, max_token = 8185)``; tokens are clipped to it. The aggregation over time reads
every position, padding included (TaskSet passes no sequence lengths to ``dynamic_rnn``).
``faithful_dataset=False`` loads the sampled key's dataset instead (the fused
``"imdb_reviews/subwords8kimdb_reviews/bytes"`` key then means imdb_reviews/subwords8k).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from taskset_torch.base import check_config
from taskset_torch.datasets.specs import TEXT_CLASSIFICATION_NUM_PER_VALID
from taskset_torch.sampling import choice, rng_for, sample_log_int
from taskset_torch.tasks.base import Batch, TaskFamily
from taskset_torch.tasks.layers import linear
from taskset_torch.tasks.rnn import (
    TEXT_CLASSIFICATION_DATASETS,
    RNNSequenceTask,
    sample_rnn_core,
    sample_text_classification_dataset,
)
from taskset_torch.tasks.utils import sample_initializer

__all__ = [
    "LOSS_COMPUTE",
    "IMDB_NUM_CLASSES",
    "AMAZON_NUM_CLASSES",
    "RNNTextClassificationTask",
    "TextClassificationFamily",
]

LOSS_COMPUTE: tuple[str, ...] = ("last", "avg", "max")
IMDB_NUM_CLASSES = 2  # TaskSet reads it off label_onehot; IMDB sentiment is binary
AMAZON_NUM_CLASSES = 5  # tokenized_amazon_reviews: label = star_rating - 1


class RNNTextClassificationTask(RNNSequenceTask):
    """Mean softmax cross entropy of Linear(num_classes) on the aggregated RNN outputs."""

    def __init__(self, *, loss_compute: str, num_classes: int = IMDB_NUM_CLASSES, **kwargs: Any):
        if loss_compute not in LOSS_COMPUTE:
            raise ValueError(
                f"loss_compute must be one of {list(LOSS_COMPUTE)}, got {loss_compute!r}"
            )
        super().__init__(out_dim=num_classes, **kwargs)
        self.loss_compute = loss_compute

    def loss(self, params, batch: Batch) -> torch.Tensor:
        out = self.rnn_outputs(params, batch["tokens"])  # [n, T, B, H]
        if self.loss_compute == "last":
            agg = out[:, -1]
        elif self.loss_compute == "avg":
            agg = out.mean(1)
        else:
            agg = out.amax(1)
        logits = linear(agg, params["linear/w"], params["linear/b"])  # [n, B, classes]
        n, b, k = logits.shape
        ce = F.cross_entropy(logits.reshape(n * b, k), batch["label"].repeat(n), reduction="none")
        return ce.view(n, b).mean(1)


_KEYS = ("embed_dim", "w_init", "dataset", "vocab_size", "core", "trainable_init", "loss_compute")


class TextClassificationFamily(TaskFamily):
    name = "rnn_text_classification_family"

    def sample(self, seed: int) -> dict[str, Any]:
        rng = rng_for(seed)
        cfg: dict[str, Any] = {"embed_dim": sample_log_int(rng, 8, 128)}
        cfg["w_init"] = sample_initializer(rng)
        cfg["dataset"] = sample_text_classification_dataset(rng)
        cfg["vocab_size"] = sample_log_int(rng, 100, 10000)
        cfg["core"] = sample_rnn_core(rng)
        cfg["trainable_init"] = bool(choice(rng, [True, False]))
        cfg["loss_compute"] = choice(rng, LOSS_COMPUTE)
        return cfg

    def build(
        self,
        config: dict[str, Any],
        name: str = "",
        *,
        faithful_dataset: bool = True,
        dataset: Any = None,
    ) -> RNNTextClassificationTask:
        check_config(config, _KEYS, f"{self.name} config")
        key, ds_cfg = config["dataset"]
        if key not in TEXT_CLASSIFICATION_DATASETS:
            raise ValueError(
                f"{self.name} dataset {key!r} is not one of {list(TEXT_CLASSIFICATION_DATASETS)}"
            )
        check_config(
            ds_cfg,
            ("bs", "num_train", "max_token", "patch_length"),
            f"{self.name} dataset config",
            optional=("just_train",),
        )
        if faithful_dataset or key.startswith("imdb_reviews/subwords8k"):
            ds_name, num_classes = "imdb_reviews/subwords8k", IMDB_NUM_CLASSES
        else:
            ds_name, num_classes = key, AMAZON_NUM_CLASSES
        vocab = config["vocab_size"]
        if ds_cfg["max_token"]:
            vocab = min(ds_cfg["max_token"], vocab)
        return RNNTextClassificationTask(
            dataset_name=ds_name,
            dataset_kwargs={
                "patch_length": ds_cfg["patch_length"],
                "num_train": ds_cfg["num_train"],
                "num_per_valid": TEXT_CLASSIFICATION_NUM_PER_VALID,
            },
            batch_size=ds_cfg["bs"],
            embed_dim=config["embed_dim"],
            vocab_size=vocab,
            core=config["core"],
            w_init=config["w_init"],
            trainable_init=config["trainable_init"],
            loss_compute=config["loss_compute"],
            num_classes=num_classes,
            dataset=dataset,
            name=name,
        )
