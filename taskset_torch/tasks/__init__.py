"""TaskSet's tasks: the Task / TaskFamily contracts and the registry of families by name.

Example::

    >>> from taskset_torch.tasks import build_task, family_names
    >>> family_names()[:2]
    ['quadratic_family', 'mlp_family']
    >>> task = build_task("mlp_family_seed12")
"""

from taskset_torch.tasks.base import Task, TaskFamily
from taskset_torch.tasks.registry import (
    FAMILIES,
    build_task,
    canonical_task_name,
    family_names,
    get_family,
    task_config,
)

__all__ = [
    "FAMILIES",
    "Task",
    "TaskFamily",
    "build_task",
    "canonical_task_name",
    "family_names",
    "get_family",
    "task_config",
]
