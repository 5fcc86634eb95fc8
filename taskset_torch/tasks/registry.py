"""Task families by TaskSet name; ``<family>_seed<N>`` names resolve to configs and tasks."""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from taskset_torch.curves.names import parse_seed_name
from taskset_torch.tasks.base import Task, TaskFamily

__all__ = [
    "FAMILIES",
    "family_names",
    "get_family",
    "parse_seed_name",
    "canonical_task_name",
    "task_config",
    "build_task",
]

# family name -> "module:Class"; modules import lazily so a family's heavy parts load on use.
FAMILIES: dict[str, str] = {
    "quadratic_family": "taskset_torch.tasks.quadratic:QuadraticFamily",
    "mlp_family": "taskset_torch.tasks.mlp:MLPFamily",
    "mlp_ae_family": "taskset_torch.tasks.mlp_ae:MLPAEFamily",
    "mlp_vae_family": "taskset_torch.tasks.mlp_vae:MLPVAEFamily",
    "conv_pooling_family": "taskset_torch.tasks.conv:ConvPoolingFamily",
    "conv_fc_family": "taskset_torch.tasks.conv:ConvFCFamily",
    "nvp_family": "taskset_torch.tasks.flows:NVPFamily",
    "maf_family": "taskset_torch.tasks.flows:MAFFamily",
    "char_rnn_language_model_family": "taskset_torch.tasks.language_model:CharLMFamily",
    "word_rnn_language_model_family": "taskset_torch.tasks.language_model:WordLMFamily",
    "rnn_text_classification_family": "taskset_torch.tasks.text_classification:TextClassificationFamily",
    "losg_tasks_family": "taskset_torch.tasks.losg:LOSGFamily",
}


def family_names() -> list[str]:
    """The names of the twelve sampled families, in registration order."""
    return list(FAMILIES)


def _closest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=3, cutoff=0.5)
    return f" Did you mean {', '.join(close)}?" if close else ""


def get_family(name: str) -> TaskFamily:
    """The family registered as ``name`` (e.g. ``"mlp_family"``); a KeyError lists valid names."""
    if name not in FAMILIES:
        raise KeyError(
            f"unknown task family {name!r}.{_closest(name, list(FAMILIES))} "
            f"Valid families: {', '.join(FAMILIES)}"
        )
    module, cls = FAMILIES[name].split(":")
    return getattr(importlib.import_module(module), cls)()


def _family_and_seed(name: str) -> tuple[str, int]:
    """``"mlp_family_seed12"`` -> ``("mlp_family", 12)``; KeyError for other names."""
    parsed = parse_seed_name(name)
    if parsed is None:
        raise KeyError(f"{name!r} is not of the form <family>_seed<N>")
    return parsed


def canonical_task_name(name: str, *, check: bool = True) -> str:
    """The one spelling of a task name: ``quadratic_family_seed01`` -> ``quadratic_family_seed1``.

    Fixed (hand-designed) task names are returned as they are. With ``check``, a name that is
    neither a fixed task nor ``<family>_seed<N>`` of a registered family raises a KeyError that
    says what it is instead (e.g. an optimizer config) and what is valid.
    """
    from taskset_torch.tasks.fixed import is_fixed_task

    if not isinstance(name, str) or not name.strip():
        raise KeyError(f"a task name must be a non-empty string, got {name!r}")
    name = name.strip()
    if is_fixed_task(name):
        return name
    parsed = parse_seed_name(name)
    if parsed:
        name = f"{parsed[0]}_seed{parsed[1]}"
    if not check or (parsed and parsed[0] in FAMILIES):
        return name
    prefix = parsed[0] if parsed else None
    from taskset_torch.optimizers import SPACES  # only to say what the name is instead

    if prefix in SPACES:
        raise KeyError(
            f"{name!r} is an optimizer config of search space {prefix!r}, not a task; tasks are "
            f"<family>_seed<N> (e.g. mlp_family_seed12) or fixed task names. Families: "
            f"{', '.join(FAMILIES)}"
        )
    raise KeyError(
        f"unknown task {name!r}: task names are <family>_seed<N> (e.g. mlp_family_seed12) or "
        f"fixed task names (e.g. TwoD_Bowl1).{_closest(name, [f + '_seed0' for f in FAMILIES])} "
        f"Families: {', '.join(FAMILIES)}"
    )


def task_config(name: str) -> Any:
    """TaskSet's config for a task name: a sampled ``mlp_family_seed12`` or a fixed task's spec."""
    from taskset_torch.tasks.fixed import fixed_task_spec, is_fixed_task

    if is_fixed_task(name):
        return fixed_task_spec(name)
    try:
        family, seed = _family_and_seed(name)
    except KeyError:
        raise KeyError(
            f"unknown task {name!r}: task names look like <family>_seed<N>, e.g. mlp_family_seed12."
            f"{_closest(name, [f + '_seed0' for f in FAMILIES])}"
        ) from None
    return get_family(family).sample(seed)


def build_task(name: str, config: Any | None = None) -> Task:
    """The task behind a TaskSet name: a sampled ``<family>_seed<N>`` or a fixed task.

    Args:
        name: e.g. ``"mlp_family_seed12"`` or ``"FixedMLP_mnist_ce_128x128x128_relu_bs128"``.
        config: the config to build instead of the one ``name`` samples (or looks up), e.g. an
            edited copy of :func:`task_config`'s; its keys are checked.

    Returns:
        The :class:`~taskset_torch.tasks.base.Task`, named ``name``. Data loads on first use.

    Raises:
        KeyError: an unknown name (the error says what is valid).
        ValueError: a config with missing or unknown keys, or bad values.

    Example::

        >>> import torch
        >>> from taskset_torch.tasks import build_task
        >>> task = build_task("quadratic_family_seed3")
        >>> g = torch.Generator().manual_seed(0)
        >>> params = task.init(2, g)                      # 2 parameter sets (configs), one init
        >>> task.loss(params, task.batch("train", g)).shape
        torch.Size([2])
    """
    from taskset_torch.tasks.fixed import build_fixed_task, is_fixed_task

    if is_fixed_task(name):
        return build_fixed_task(name, config)
    family, seed = _family_and_seed(name)
    fam = get_family(family)
    return fam.build(fam.sample(seed) if config is None else config, name=name)
