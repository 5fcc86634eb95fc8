"""TaskSet's hand-designed ("fixed") tasks, resolvable by their TaskSet names.

Each kind lives in its own module (named after TaskSet's ``task_set/tasks/fixed/<module>.py``) and
exposes two things:

``SPECS: dict[str, dict]``
    TaskSet name -> a plain-JSON spec (architecture, dataset, batch size, init, options). This is
    what ``taskset-torch config NAME`` prints. Adding a fixed task means adding a row here.
``build(name: str, spec: dict) -> Task``
    The task a spec describes, built from the same layers and losses as the sampled families and
    vectorized over K parameter sets like every task.

Modules import lazily, so listing names does not import torch-heavy code of every kind.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from taskset_torch.tasks.base import Task

__all__ = [
    "FIXED_KINDS",
    "fixed_task_names",
    "fixed_task_kind",
    "fixed_task_spec",
    "build_fixed_task",
    "is_fixed_task",
]

#: TaskSet module name -> our module (``taskset_torch.tasks.fixed.<module>``).
FIXED_KINDS: dict[str, str] = {
    "fixed_2d": "taskset_torch.tasks.fixed.fixed_2d",
    "fixed_image_conv": "taskset_torch.tasks.fixed.fixed_image_conv",
    "fixed_image_conv_ae": "taskset_torch.tasks.fixed.fixed_image_conv_ae",
    "fixed_image_conv_vae": "taskset_torch.tasks.fixed.fixed_image_conv_vae",
    "fixed_language_modeling": "taskset_torch.tasks.fixed.fixed_language_modeling",
    "fixed_maf": "taskset_torch.tasks.fixed.fixed_maf",
    "fixed_mlp": "taskset_torch.tasks.fixed.fixed_mlp",
    "fixed_mlp_ae": "taskset_torch.tasks.fixed.fixed_mlp_ae",
    "fixed_mlp_vae": "taskset_torch.tasks.fixed.fixed_mlp_vae",
    "fixed_nvp": "taskset_torch.tasks.fixed.fixed_nvp",
    "fixed_text_rnn_classification": "taskset_torch.tasks.fixed.fixed_text_rnn_classification",
    "synthetic_sequence": "taskset_torch.tasks.fixed.synthetic_sequence",
}


def _module(kind: str):
    return importlib.import_module(FIXED_KINDS[kind])


def _index() -> dict[str, str]:
    """Every fixed task name -> its kind."""
    return {name: kind for kind in FIXED_KINDS for name in _module(kind).SPECS}


def fixed_task_names(kind: str | None = None) -> list[str]:
    """Names of the fixed tasks (of one ``kind``, e.g. ``"fixed_mlp"``), in table order."""
    index = _index()
    return [n for n, k in index.items() if kind is None or k == kind]


def is_fixed_task(name: str) -> bool:
    """True when ``name`` is one of TaskSet's hand-designed tasks (e.g. ``TwoD_Bowl1``)."""
    return name in _index()


def fixed_task_kind(name: str) -> str:
    """The TaskSet module a fixed task comes from, e.g. ``"fixed_image_conv"``."""
    index = _index()
    if name not in index:
        close = difflib.get_close_matches(name, list(index), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(
            f"unknown fixed task {name!r}.{hint} `taskset-torch tasks --kind fixed` lists them."
        )
    return index[name]


def fixed_task_spec(name: str) -> dict[str, Any]:
    """The spec (plain JSON) of a fixed task."""
    return dict(_module(fixed_task_kind(name)).SPECS[name])


def build_fixed_task(name: str, spec: dict[str, Any] | None = None) -> Task:
    """The task behind a fixed task name (its table spec unless ``spec`` is given)."""
    mod = _module(fixed_task_kind(name))
    task = mod.build(name, dict(mod.SPECS[name]) if spec is None else spec)
    task.name = name
    return task
