"""char/word_rnn_language_model_family: Embed -> RNN core -> Linear(vocab), next-token loss.

TaskSet (``task_set/tasks/language_model.py``) clips tokens to ``vocab_size - 1``, embeds them,
runs the core over the whole patch with ``dynamic_rnn`` (no sequence lengths) and scores
``outputs[:, :-1]`` against ``tokens[:, 1:]`` with a plain mean sparse cross entropy.

Quirk kept by default: no padding mask. Patches shorter than ``patch_length`` are zero-padded and
the padded positions (predicting token 0) count in the mean, as in TaskSet's released curves.
``mask_padding=True`` averages over real target tokens only instead.
"""

from __future__ import annotations

import abc
from typing import Any

import torch

from taskset_torch.base import check_config
from taskset_torch.datasets.specs import TEXT_NUM_PER_VALID
from taskset_torch.sampling import choice, rng_for, sample_bool, sample_log_int
from taskset_torch.tasks.base import Batch, TaskFamily
from taskset_torch.tasks.layers import linear_cross_entropy
from taskset_torch.tasks.rnn import (
    CHAR_LM_DATASETS,
    WORD_LM_DATASETS,
    RNNSequenceTask,
    sample_char_lm_dataset,
    sample_rnn_core,
    sample_word_lm_dataset,
)
from taskset_torch.tasks.utils import sample_initializer

__all__ = ["RNNLanguageModelTask", "CharLMFamily", "WordLMFamily", "build_language_model"]


class RNNLanguageModelTask(RNNSequenceTask):
    """Predict token t+1 from tokens <= t; loss = mean cross entropy over (B, T-1) positions."""

    def __init__(self, *, mask_padding: bool = False, **kwargs: Any):
        super().__init__(out_dim=kwargs["vocab_size"], **kwargs)
        self.mask_padding = bool(mask_padding)

    def loss(self, params, batch: Batch) -> torch.Tensor:
        tokens = batch["tokens"].clamp(max=self.vocab_size - 1)
        if tokens.shape[1] < 2:
            raise ValueError(
                f"language modelling needs patches of >= 2 tokens, got {tokens.shape[1]}"
            )
        out = self.rnn_outputs(params, tokens)[:, :-1]  # [n, T-1, B, H]
        n, t, b, h = out.shape
        target = tokens[:, 1:].t().reshape(-1)  # time-major, like `out`
        # Fused output layer + softmax cross entropy: never holds the [n, T*B, vocab] logits.
        ce = linear_cross_entropy(
            out.reshape(n, t * b, h), params["linear/w"], params["linear/b"], target
        )
        if not self.mask_padding:
            return ce.mean(1)
        w = batch["mask"][:, 1:].t().reshape(1, -1).to(ce.dtype)
        return (ce * w).sum(1) / w.sum().clamp(min=1.0)


def _validate_lm_config(config: Any, datasets: tuple[str, ...], family: str) -> None:
    keys = ("embed_dim", "w_init", "vocab_size", "core", "trainable_init", "dataset")
    check_config(config, keys, f"{family} config")
    name, cfg = config["dataset"]
    if name not in datasets:
        raise ValueError(f"{family} dataset {name!r} is not one of {list(datasets)}")
    d_keys = ("patch_length", "batch_size", "just_train", "num_train")
    check_config(cfg, d_keys, f"{family} dataset config")


def build_language_model(
    config: dict[str, Any],
    *,
    num_per_valid: int,
    name: str = "",
    mask_padding: bool = False,
    dataset: Any = None,
) -> RNNLanguageModelTask:
    """The LM task of a char/word config (TaskSet applies ``just_train`` for LM datasets)."""
    ds_name, ds_cfg = config["dataset"]
    return RNNLanguageModelTask(
        dataset_name=ds_name,
        dataset_kwargs={
            "patch_length": ds_cfg["patch_length"],
            "num_train": ds_cfg["num_train"],
            "num_per_valid": num_per_valid,
            "just_train": ds_cfg["just_train"],
        },
        batch_size=ds_cfg["batch_size"],
        embed_dim=config["embed_dim"],
        vocab_size=config["vocab_size"],
        core=config["core"],
        w_init=config["w_init"],
        trainable_init=config["trainable_init"],
        mask_padding=mask_padding,
        dataset=dataset,
        name=name,
    )


class _RNNLMFamily(TaskFamily):
    """The char and word LM families differ only in vocabulary, datasets and validation size."""

    datasets: tuple[str, ...] = ()

    @abc.abstractmethod
    def _vocab_size(self, rng: Any) -> int:
        """Draw the vocabulary size (the family's one sampling difference besides data)."""

    @abc.abstractmethod
    def _dataset(self, rng: Any) -> list[Any]:
        """Draw the ``[name, cfg]`` dataset spec."""

    def sample(self, seed: int) -> dict[str, Any]:
        rng = rng_for(seed)
        cfg: dict[str, Any] = {"embed_dim": sample_log_int(rng, 8, 128)}
        cfg["w_init"] = sample_initializer(rng)
        cfg["vocab_size"] = self._vocab_size(rng)
        cfg["core"] = sample_rnn_core(rng)
        cfg["trainable_init"] = bool(choice(rng, [True, False]))
        cfg["dataset"] = self._dataset(rng)
        return cfg

    def build(
        self,
        config: dict[str, Any],
        name: str = "",
        *,
        mask_padding: bool = False,
        dataset: Any = None,
    ) -> RNNLanguageModelTask:
        _validate_lm_config(config, self.datasets, self.name)
        return build_language_model(
            config,
            num_per_valid=TEXT_NUM_PER_VALID[config["dataset"][0]],
            name=name,
            mask_padding=mask_padding,
            dataset=dataset,
        )


class CharLMFamily(_RNNLMFamily):
    """Byte-level LMs: vocab 256 (p = 0.8) or logint[100, 256]; 11 byte datasets."""

    name = "char_rnn_language_model_family"
    datasets = CHAR_LM_DATASETS

    def _vocab_size(self, rng: Any) -> int:
        return 256 if sample_bool(rng, 0.8) else sample_log_int(rng, 100, 256)

    def _dataset(self, rng: Any) -> list[Any]:
        return sample_char_lm_dataset(rng)


class WordLMFamily(_RNNLMFamily):
    """Subword LMs: vocab logint[1000, 30000] over the 11 subwords8k datasets."""

    name = "word_rnn_language_model_family"
    datasets = WORD_LM_DATASETS

    def _vocab_size(self, rng: Any) -> int:
        return sample_log_int(rng, 1000, 30000)

    def _dataset(self, rng: Any) -> list[Any]:
        return sample_word_lm_dataset(rng)
