"""Getting a model out of a run, one module per way out.

- ``merged``: the adapter merged into its base, a full model that loads alone (``merge``).
- ``gguf``: one GGUF file for llama.cpp and Ollama, checked by loading it back.
- ``hub``: the adapter (or merged model) pushed to the Hugging Face Hub.
- ``card``: the model card those carry (training writes it beside the weights too).
- ``job``: a self-contained job folder, to train the run on a bigger machine.
- ``folders``: the rule each keeps: never write into a folder of the user's.

``from modelforge_nb.export import merge`` is the function, as when this package was one
module; the module is named apart from it (``merged``), so that holds whatever was imported
before. The names resolve on first use: training imports ``export.card`` without loading the
merge (this package's own modules sit in different layers: docs/architecture.md).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"MERGED_FOLDER": "modelforge_nb.export.merged", "merge": "modelforge_nb.export.merged"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelforge_nb.export' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
