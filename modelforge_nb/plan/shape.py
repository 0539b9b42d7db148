"""A model's shape, counted from its ``config.json`` alone: no weights are read.

The model is built on PyTorch's ``meta`` device from its config (nothing is allocated)
and its modules are counted, so the parameter counts are exact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from modelforge_nb.config.tasks import TASKS
from modelforge_nb.errors import ModelError

__all__ = ["ModelShape", "model_shape", "needs_remote_code", "read_model_config"]


@dataclass(frozen=True)
class ModelShape:
    """The facts about a model that estimates need, counted from its config."""

    model_type: str
    params: int
    linear_params: int
    lora_units: int
    hidden_size: int
    num_layers: int
    vocab_size: int
    needs_remote_code: bool = False
    module_units: tuple[tuple[str, int], ...] = ()
    """In + out features of the linear layers, summed by module name (``q_proj``, ...)."""
    num_heads: int = 0
    kv_width: int = 0
    """Key/value features per token per layer: key/value heads x head size (a model with
    grouped-query attention keeps fewer than ``hidden_size``)."""
    attention: str = "sdpa"
    """The attention transformers loads: ``eager`` keeps each layer's score matrix."""

    def units_for(self, target_modules: str | list[str]) -> int:
        """The LoRA units (in + out features) of the modules ``target_modules`` names.

        Like peft, a name matches a module whose name is it or ends with ``.name``;
        ``all-linear`` is every linear layer but the output head.
        """
        if target_modules == "all-linear":
            return self.lora_units
        leaves = {name.rsplit(".", 1)[-1] for name in target_modules}
        return sum(units for name, units in self.module_units if name in leaves)


def read_model_config(model: str) -> dict[str, Any]:
    """The model's ``config.json`` as a dict: from a folder, the Hub, or the catalog.

    Only the config is read, never the weights. An embedded model that is not converted
    yet is described by its catalog entry.
    """
    from modelforge_nb.embedded import embedded_path, is_embedded, is_prepared

    if is_embedded(model):
        if is_prepared(model):
            return _read_json(embedded_path(model) / "config.json", model)
        from modelforge_nb.plan.catalog import catalog_entry

        entry = catalog_entry(model)
        if entry is None:
            embedded_path(model)  # raises the "unknown embedded model" error
            raise ModelError("model.unknown", f"No description of {model}.", field="model")
        return dict(entry["config"])
    folder = Path(model)
    if folder.is_absolute() or folder.exists():
        if not folder.is_dir():
            raise ModelError(
                "model.missing",
                f"The model folder {model} does not exist.",
                field="model",
                hint="Check the path, or give a Hub id such as HuggingFaceTB/SmolLM2-135M.",
            )
        return _read_json(folder / "config.json", model)
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(model, "config.json")
    except Exception as error:  # offline, unknown repo, gated repo: all stop here
        raise ModelError(
            "model.unreachable",
            f"Cannot read config.json of '{model}' from the Hub ({type(error).__name__}).",
            field="model",
            hint="Check the id, your connection and your Hub token, or give a local folder.",
        ) from None
    return _read_json(Path(path), model)


def _read_json(path: Path, model: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ModelError(
            "model.no_config",
            f"{model} has no readable config.json ({type(error).__name__}).",
            field="model",
            hint="Point model at a folder saved with save_pretrained.",
        ) from None
    return data


def needs_remote_code(config: dict[str, Any]) -> bool:
    """Whether the architecture is only defined by code shipped with the model."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return config.get("model_type") not in CONFIG_MAPPING_NAMES and "auto_map" in config


@lru_cache(maxsize=64)
def _shape(config_json: str, auto_class: str) -> ModelShape:
    import torch
    import transformers
    from transformers import AutoConfig

    data = json.loads(config_json)
    config = AutoConfig.for_model(**data)
    with torch.device("meta"):
        model = getattr(transformers, auto_class).from_config(config)
    # Some transformers releases (5.0) leave tied embeddings untied on the meta device.
    model.tie_weights()
    unique = {id(p): p for p in model.parameters()}
    output = model.get_output_embeddings()
    linear_params = lora_units = 0
    by_name: dict[str, int] = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and module is not output:
            units = module.in_features + module.out_features
            linear_params += module.weight.numel()
            lora_units += units
            leaf = name.rsplit(".", 1)[-1]
            by_name[leaf] = by_name.get(leaf, 0) + units
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = getattr(text, "num_attention_heads", 0) or getattr(text, "num_heads", 0)
    hidden = int(getattr(text, "hidden_size", 0) or getattr(text, "d_model", 0))
    head_size = getattr(text, "head_dim", None) or (hidden // heads if heads else 0)
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    return ModelShape(
        model_type=config.model_type,
        params=sum(p.numel() for p in unique.values()),
        linear_params=linear_params,
        lora_units=lora_units,
        hidden_size=hidden,
        num_layers=int(getattr(text, "num_hidden_layers", 0) or getattr(text, "num_layers", 0)),
        vocab_size=int(getattr(text, "vocab_size", 0)),
        module_units=tuple(sorted(by_name.items())),
        num_heads=int(heads or 0),
        kv_width=int(kv_heads or 0) * int(head_size or 0) or hidden,
        # transformers loads SDPA where the architecture supports it, else eager attention
        attention="sdpa" if getattr(model, "_supports_sdpa", False) else "eager",
    )


def model_shape(config: dict[str, Any], task: str) -> ModelShape:
    """Exact parameter counts for ``config`` loaded by ``task``'s Auto class."""
    if needs_remote_code(config):
        return ModelShape(
            model_type=str(config.get("model_type")),
            params=0,
            linear_params=0,
            lora_units=0,
            hidden_size=0,
            num_layers=0,
            vocab_size=0,
            needs_remote_code=True,
        )
    cleaned = {k: v for k, v in config.items() if k not in {"quantization_config", "auto_map"}}
    return _shape(json.dumps(cleaned, sort_keys=True), TASKS[task].auto_class)
