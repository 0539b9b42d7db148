"""modelforge-nb: fine-tune language models from a Jupyter notebook.

The public API is imported from here. Names are resolved lazily, so ``import
modelforge_nb`` (and ``%load_ext modelforge_nb``) loads no torch, transformers, trl or peft.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import CodeType, ModuleType
from typing import Any

#: The public API, the one list of it: each name and the module it is imported from on
#: first use. ``__all__`` and ``dir()`` derive from it.
_LAZY: dict[str, str] = {
    "__version__": "modelforge_nb._version",
    "ConfigError": "modelforge_nb.errors",
    "DatasetError": "modelforge_nb.errors",
    "ModelError": "modelforge_nb.errors",
    "ModelForgeError": "modelforge_nb.errors",
    "ModelForgeWarning": "modelforge_nb.errors",
    "PreflightError": "modelforge_nb.errors",
    "RunError": "modelforge_nb.errors",
    "FinetuneConfig": "modelforge_nb.config",
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
    "finetune": "modelforge_nb.runs",
    "get_run": "modelforge_nb.runs",
    "list_runs": "modelforge_nb.runs",
    "generate": "modelforge_nb.chat",
    "generate_pair": "modelforge_nb.chat",
    "unload": "modelforge_nb.chat",
    "merge": "modelforge_nb.export.merged",
    "export_gguf": "modelforge_nb.export.gguf",
    "push_to_hub": "modelforge_nb.export.hub",
    "export_job": "modelforge_nb.export.job",
    "EMBEDDED_MODEL_ID": "modelforge_nb.embedded",
    "prepare_embedded": "modelforge_nb.embedded",
    "resolve_model": "modelforge_nb.embedded",
    "detect_environment": "modelforge_nb.environment",
    "loss_svg": "modelforge_nb.widgets.curves",
}

#: Modules offered as attributes: ``mf.rewards.exact_match("answer")``.
_SUBMODULES = frozenset({"rewards"})

__all__ = sorted([*_LAZY, *_SUBMODULES])

#: Module paths from before getting a model out moved into ``export/``: importable (and
#: ``python -m modelforge_nb.job``, which older job folders' launch.sh runs) for one release.
#: An alias, not a file, so the old path holds no second copy and git follows each move.
_MOVED = {
    "modelforge_nb.card": "modelforge_nb.export.card",
    "modelforge_nb.gguf_export": "modelforge_nb.export.gguf",
    "modelforge_nb.hub": "modelforge_nb.export.hub",
    "modelforge_nb.job": "modelforge_nb.export.job",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.InspectLoader):
    """Finds a moved module's old name and answers with the module itself (one object, so
    its classes and state are shared), or with its code when run by ``python -m``."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,  # noqa: ARG002 - the signature is importlib's
        target: ModuleType | None = None,  # noqa: ARG002
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(_MOVED[spec.name])
        self._specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # Making the alias gave the module the alias's spec: it gets its own back.
        module.__spec__ = self._specs.pop(module.__name__, module.__spec__)

    def get_code(self, fullname: str) -> CodeType | None:
        spec = importlib.util.find_spec(_MOVED[fullname])
        if spec is None or not isinstance(spec.loader, importlib.abc.InspectLoader):
            raise ImportError(f"{_MOVED[fullname]} has no code to run", name=fullname)
        return spec.loader.get_code(_MOVED[fullname])

    def get_source(self, fullname: str) -> str | None:  # noqa: ARG002 - importlib's
        return None  # the code is the moved module's: get_code


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())


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
