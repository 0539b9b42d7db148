"""The one configuration schema and the task table."""

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
    "TASKS",
    "TASK_NAMES",
    "DataFormat",
    "DistributedSettings",
    "DpoSettings",
    "FinetuneConfig",
    "GenerationSettings",
    "LoraSettings",
    "QuantizationSettings",
    "Task",
    "TrainingSettings",
    "config_schema",
    "get_task",
]
