"""The one configuration schema, the task table and the method table."""

from modelforge_nb.config.methods import METHOD_NAMES, METHODS, Method
from modelforge_nb.config.models import (
    DistributedSettings,
    DpoSettings,
    FinetuneConfig,
    GenerationSettings,
    LoraSettings,
    QuantizationSettings,
    TrainingSettings,
    config_schema,
)
from modelforge_nb.config.tasks import TASK_NAMES, TASKS, DataFormat, Task, get_task

__all__ = [
    "METHODS",
    "METHOD_NAMES",
    "TASKS",
    "TASK_NAMES",
    "DataFormat",
    "DistributedSettings",
    "DpoSettings",
    "FinetuneConfig",
    "GenerationSettings",
    "LoraSettings",
    "Method",
    "QuantizationSettings",
    "Task",
    "TrainingSettings",
    "config_schema",
    "get_task",
]
