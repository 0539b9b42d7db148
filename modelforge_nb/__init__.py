"""modelforge-nb: fine-tune language models from a Jupyter notebook.

The public API is imported from here. Names are resolved lazily, so ``import
modelforge_nb`` (and ``%load_ext modelforge_nb``) loads no torch, transformers, trl or peft.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from modelforge_nb._version import __version__
from modelforge_nb.errors import (
    ConfigError,
    DatasetError,
    ModelError,
    ModelForgeError,
    ModelForgeWarning,
    PreflightError,
    RunError,
)

if TYPE_CHECKING:
    from modelforge_nb import rewards
    from modelforge_nb.chat import generate, generate_pair, unload
    from modelforge_nb.config import TASK_NAMES, TASKS, FinetuneConfig, config_schema
    from modelforge_nb.data import check_dataset, load_dataset_for
    from modelforge_nb.embedded import EMBEDDED_MODEL_ID, prepare_embedded, resolve_model
    from modelforge_nb.environment import detect_environment
    from modelforge_nb.export import merge
    from modelforge_nb.gguf_export import export_gguf
    from modelforge_nb.hardware import detect_hardware, hardware_profile
    from modelforge_nb.hub import push_to_hub
    from modelforge_nb.job import export_job
    from modelforge_nb.plan import preflight, preview
    from modelforge_nb.plan.recommend import recommend
    from modelforge_nb.runs import Run, Workspace, attach, finetune, get_run, list_runs
    from modelforge_nb.widgets.curves import loss_svg

_LAZY: dict[str, str] = {
    "FinetuneConfig": "modelforge_nb.config",
    "generate": "modelforge_nb.chat",
    "generate_pair": "modelforge_nb.chat",
    "merge": "modelforge_nb.export",
    "export_gguf": "modelforge_nb.gguf_export",
    "unload": "modelforge_nb.chat",
    "push_to_hub": "modelforge_nb.hub",
    "TASKS": "modelforge_nb.config",
    "TASK_NAMES": "modelforge_nb.config",
    "config_schema": "modelforge_nb.config",
    "check_dataset": "modelforge_nb.data",
    "load_dataset_for": "modelforge_nb.data",
    "detect_hardware": "modelforge_nb.hardware",
    "hardware_profile": "modelforge_nb.hardware",
    "preflight": "modelforge_nb.plan",
    "preview": "modelforge_nb.plan",
    "recommend": "modelforge_nb.plan",
    "Run": "modelforge_nb.runs",
    "Workspace": "modelforge_nb.runs",
    "attach": "modelforge_nb.runs",
    "export_job": "modelforge_nb.job",
    "finetune": "modelforge_nb.runs",
    "get_run": "modelforge_nb.runs",
    "list_runs": "modelforge_nb.runs",
    "EMBEDDED_MODEL_ID": "modelforge_nb.embedded",
    "prepare_embedded": "modelforge_nb.embedded",
    "resolve_model": "modelforge_nb.embedded",
    "detect_environment": "modelforge_nb.environment",
    "loss_svg": "modelforge_nb.widgets.curves",
}

__all__ = [
    "EMBEDDED_MODEL_ID",
    "TASKS",
    "TASK_NAMES",
    "ConfigError",
    "DatasetError",
    "FinetuneConfig",
    "ModelError",
    "ModelForgeError",
    "ModelForgeWarning",
    "PreflightError",
    "Run",
    "RunError",
    "Workspace",
    "__version__",
    "attach",
    "check_dataset",
    "config_schema",
    "detect_environment",
    "detect_hardware",
    "export_gguf",
    "export_job",
    "finetune",
    "generate",
    "generate_pair",
    "get_run",
    "hardware_profile",
    "list_runs",
    "load_dataset_for",
    "loss_svg",
    "merge",
    "preflight",
    "prepare_embedded",
    "preview",
    "push_to_hub",
    "recommend",
    "resolve_model",
    "rewards",
    "unload",
]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext modelforge_nb``: register the ``%modelforge`` magics."""
    from modelforge_nb.magics import ModelForgeMagics

    ipython.register_magics(ModelForgeMagics(ipython))


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "modelforge_nb"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from modelforge_nb.server import load

    load(serverapp)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "modelforge-nb"}]


#: Modules offered as attributes: ``mf.rewards.exact_match("answer")``.
_SUBMODULES = frozenset({"rewards"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"modelforge_nb.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelforge_nb' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
