"""The task families by task name: where the pipeline, loader, exporter, server, planner and
`update` find what differs between tasks.

A task's family is the `FAMILY` of the module its `TaskSpec.family` names
(`trainforge.config.tasks.TASKS`); modules are imported on first use, so asking for one family
imports no other family's dependencies.

Example:
    >>> family_of(load_config("examples/sst2.yaml")).input_kind
    'text'
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

from trainforge.config.tasks import TASKS, task_spec
from trainforge.tasks.family import TaskFamily

if TYPE_CHECKING:
    from trainforge.config import ExperimentConfig


@cache
def family(task: str) -> TaskFamily:
    """The family that serves `task` (a key of `trainforge.config.tasks.TASKS`)."""
    module = importlib.import_module(task_spec(task).family)
    found = getattr(module, "FAMILY", None)
    if not isinstance(found, TaskFamily):
        raise TypeError(f"{module.__name__}.FAMILY must be a TaskFamily; got {found!r}")
    return found


def family_of(cfg: ExperimentConfig) -> TaskFamily:
    """The family of a config's task."""
    return family(cfg.task)


def families() -> dict[str, TaskFamily]:
    """Every registered family by name (one family may serve several tasks)."""
    return {family(task).name: family(task) for task in TASKS}
