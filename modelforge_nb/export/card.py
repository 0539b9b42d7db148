"""The model card of a fine-tuned model: one builder for the worker and the Hub push.

The metadata goes through huggingface_hub's ``ModelCardData``, so it has the fields and
spelling the Hub validates. ``base_model`` and ``datasets`` name Hub repositories only: the
embedded SmolLM2 becomes the repository it was published as, and a local folder or file is
left out (the Hub rejects a path there, and a path says nothing to a reader anyway).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.config.tasks import TASKS

# Config fields a card never shows: local paths and where runs are kept.
_PRIVATE_FIELDS = {"dataset", "eval_dataset", "output_root"}


def hub_reference(name: str | None) -> str | None:
    """``name`` as a Hub repository id, or None when it is a local path or no Hub id."""
    if not name:
        return None
    from modelforge_nb.embedded import hub_id, is_embedded

    if is_embedded(name):
        return hub_id(name)
    if name.startswith((".", "/", "~")) or Path(name).exists():
        return None
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return None
    return name


def build_model_card(
    config: FinetuneConfig,
    metrics: dict[str, Any],
    *,
    title: str,
    start: dict[str, Any] | None = None,
) -> Any:
    """A ``huggingface_hub.ModelCard`` for a run's saved weights.

    ``start`` is the run's start event (data fingerprint, row counts), when there is one.
    """
    from huggingface_hub import ModelCard, ModelCardData

    from modelforge_nb._version import __version__

    base = hub_reference(config.model)
    dataset = hub_reference(config.dataset)
    data = ModelCardData(
        base_model=base,
        datasets=[dataset] if dataset else None,
        library_name="transformers" if config.adapter == "full" else "peft",
        pipeline_tag=TASKS[config.task].pipeline,
        tags=["modelforge-nb", config.task, config.method, config.adapter],
    )
    shown = {k: v for k, v in config.to_dict().items() if k not in _PRIVATE_FIELDS}
    if base is None:
        shown.pop("model", None)
    origin = f"`{base}`" if base else "a local model folder"
    facts = start or {}
    lines = [
        f"# {title}",
        "",
        f"Fine-tuned from {origin} for **{config.task}** with **{config.method}** "
        f"({config.adapter}), using modelforge-nb {__version__}.",
        "",
        "- Dataset fingerprint (SHA-256 of the training data): "
        f"`{facts.get('data_hash', 'not recorded')}`",
        f"- Training rows: {facts.get('rows', 'not recorded')}, "
        f"evaluation rows: {facts.get('eval_rows', 0)}",
        "",
        "## Final metrics",
        "",
    ]
    lines += [
        f"- {k}: {v:.4g}" if isinstance(v, float) else f"- {k}: {v}"
        for k, v in sorted(metrics.items())
        if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    lines += ["", "## Configuration", "", "```json", json.dumps(shown, indent=2), "```", ""]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines))
