"""What a run will need, from the model's config alone: parameters, peak memory, disk.

The parameter count is exact: the model is built on PyTorch's ``meta`` device from its
config (no weights are read or allocated), and its modules are counted. Memory and disk
are estimates with the assumptions stated beside each term.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelforge_nb.config.tasks import TASKS
from modelforge_nb.errors import ModelError
from modelforge_nb.hardware import resolve_precision

if TYPE_CHECKING:
    from modelforge_nb.config.models import FinetuneConfig
    from modelforge_nb.hardware import HardwareInfo

__all__ = ["Estimate", "ModelShape", "estimate_run", "model_shape", "resolve_precision"]

GB = 1e9
_OPTIMIZER_BYTES = {  # optimizer state bytes per trainable parameter
    "adamw_torch": 8,
    "adamw_torch_fused": 8,
    "adamw_8bit": 2,
    "paged_adamw_8bit": 2,
    "adafactor": 4,
    "sgd": 0,
}
_PEAK_TFLOPS = {  # dense 16-bit peak, by a substring of the GPU name
    "H200": 989,
    "H100": 989,
    "A100": 312,
    "L40S": 362,
    "L40": 181,
    "A10": 125,
    "L4": 121,
    "4090": 165,
    "3090": 71,
    "V100": 125,
    "T4": 65,
    "P100": 19,
}
_AUTO_SEQUENCE = 512
_LOG_BYTES = 20_000_000
# CPU terms, fitted to the probe's measured peak RSS over 8 settings of SmolLM2-135M LoRA
# (batch 1-4, 256-1024 tokens, with and without gradient checkpointing; every row within
# 2%): `python -m bench.calibrate_cpu`, rows in data/calibration.json.
_CPU_SAVED_FACTOR = 1.70  # activations kept for backward, per unit of linear in+out features
_CPU_LOGITS_COPIES = 10.8  # fp32 vocabulary-sized tensors per token: logits, loss, trl's metrics
# The worker's resident imports (the tiny model's whole probe peaks at 0.57 GB in `make bench`)
# and loading's transient copies, in proportion to the weights (the rest of the grid's base).
_CPU_RUNTIME_BYTES = 550_000_000
_CPU_LOADING_FACTOR = 0.17


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


@dataclass(frozen=True)
class Estimate:
    """Peak memory (GPU, or RAM on a CPU run) and disk for one config on one machine."""

    device: str
    precision: str
    sequence_length: int
    params: int
    trainable_params: int
    weights_bytes: int
    adapter_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activations_bytes: int
    overhead_bytes: int
    download_bytes: int
    checkpoints_bytes: int
    final_bytes: int
    logs_bytes: int
    tokens_per_second: float | None

    @property
    def peak_bytes(self) -> int:
        return (
            self.weights_bytes
            + self.adapter_bytes
            + self.gradients_bytes
            + self.optimizer_bytes
            + self.activations_bytes
            + self.overhead_bytes
        )

    @property
    def disk_bytes(self) -> int:
        return self.download_bytes + self.checkpoints_bytes + self.final_bytes + self.logs_bytes

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["peak_bytes"] = self.peak_bytes
        out["disk_bytes"] = self.disk_bytes
        return out

    def summary(self) -> str:
        memory = "VRAM" if self.device == "cuda" else "RAM"
        parts = [
            f"weights {self.weights_bytes / GB:.2f}",
            f"adapter {self.adapter_bytes / GB:.2f}",
            f"gradients {self.gradients_bytes / GB:.2f}",
            f"optimizer {self.optimizer_bytes / GB:.2f}",
            f"activations {self.activations_bytes / GB:.2f}",
            f"overhead {self.overhead_bytes / GB:.2f}",
        ]
        text = (
            f"peak {memory} about {self.peak_bytes / GB:.2f} GB ({', '.join(parts)}); "
            f"disk about {self.disk_bytes / GB:.2f} GB; "
            f"{self.trainable_params:,} of {self.params:,} parameters trained"
        )
        if self.tokens_per_second:
            text += f"; roughly {self.tokens_per_second:,.0f} tokens/s"
        return f"{text}. {self.how_sure}"

    @property
    def how_sure(self) -> str:
        """How far the memory estimate can be trusted, from its calibration data."""
        if self.device == "cpu":
            return (
                "How sure: the CPU terms are fitted to measured peaks (plan/data/calibration.json, "
                "within 15%); preflight(config, probe=True) measures this run."
            )
        return (
            "How sure: the GPU terms are not yet calibrated against measured peaks; "
            "preflight(config, probe=True) measures this run."
        )


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
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and module is not output:
            linear_params += module.weight.numel()
            lora_units += module.in_features + module.out_features
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return ModelShape(
        model_type=config.model_type,
        params=sum(p.numel() for p in unique.values()),
        linear_params=linear_params,
        lora_units=lora_units,
        hidden_size=int(getattr(text, "hidden_size", 0) or getattr(text, "d_model", 0)),
        num_layers=int(getattr(text, "num_hidden_layers", 0) or getattr(text, "num_layers", 0)),
        vocab_size=int(getattr(text, "vocab_size", 0)),
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


def _tokens_per_second(hardware: HardwareInfo, shape: ModelShape, trains_all: bool) -> float | None:
    flops_per_token = (6 if trains_all else 4) * max(shape.params, 1)
    if hardware.has_cuda:
        name = hardware.gpus[0].name
        peak = next((v for k, v in _PEAK_TFLOPS.items() if k in name), None)
        if peak is None:
            return None
        return peak * 1e12 * 0.3 * len(hardware.gpus) / flops_per_token
    return hardware.cpu_count * 15e9 / flops_per_token


def estimate_run(
    config: FinetuneConfig,
    shape: ModelShape,
    hardware: HardwareInfo,
    *,
    longest_tokens: int | None = None,
    download_bytes: int = 0,
) -> Estimate:
    """Peak memory and disk for ``config`` on ``hardware``, broken down by term.

    ``longest_tokens`` (the data's longest example) is what ``max_seq_length: auto`` resolves
    from, as in the worker; without it "auto" is taken as 512 tokens.
    """
    from modelforge_nb.data.format import auto_max_length

    training = config.training
    precision = resolve_precision(training.precision, hardware)
    on_gpu = hardware.has_cuda
    half = 2 if precision in {"bf16", "fp16"} else 4
    if isinstance(training.max_seq_length, int):
        seq = training.max_seq_length
    else:
        seq = auto_max_length(longest_tokens) if longest_tokens else _AUTO_SEQUENCE
    params = shape.params
    embedding_params = params - shape.linear_params
    if config.adapter == "full":
        trainable = params
        weights = params * 4  # fp32 master weights under mixed precision
        adapter = 0
        gradients = params * 4
    else:
        trainable = config.lora.r * shape.lora_units
        if config.lora.use_dora:
            trainable += shape.lora_units // 2
        if config.adapter == "qlora" and config.quantization is not None:
            bits = config.quantization.bits
            # quantized linear weights plus their scales (about 0.5 bit per weight)
            weights = int(shape.linear_params * (bits + 0.5) / 8) + embedding_params * 2
        else:
            weights = params * half
        adapter = trainable * 4
        gradients = trainable * 4
    optimizer = trainable * _OPTIMIZER_BYTES[training.optimizer]
    tokens = training.batch_size * seq
    logits = TASKS[config.task].kind != "span"
    checkpointing = training.gradient_checkpointing
    if on_gpu:
        layer_bytes = tokens * shape.hidden_size * half
        if checkpointing:
            activations = layer_bytes * shape.num_layers + layer_bytes * 17
        else:
            activations = layer_bytes * shape.num_layers * 17
        if logits:
            activations += tokens * shape.vocab_size * 4 * 2  # fp32 logits and their gradient
        # CUDA context and allocator slack
        overhead = int(0.6 * GB + 0.1 * (weights + adapter + gradients + optimizer + activations))
    else:
        layers = max(shape.num_layers, 1)
        saved = shape.lora_units / layers if checkpointing else shape.lora_units
        activations = int(tokens * saved * 4 * _CPU_SAVED_FACTOR)
        if checkpointing:  # each layer's input, kept to recompute it
            activations += tokens * shape.num_layers * shape.hidden_size * 4
        if logits:
            activations += int(tokens * shape.vocab_size * 4 * _CPU_LOGITS_COPIES)
        overhead = int(_CPU_RUNTIME_BYTES + _CPU_LOADING_FACTOR * weights)
    if config.adapter == "full":
        checkpoint = params * half + params * _OPTIMIZER_BYTES[training.optimizer]
        final = params * half
    else:
        checkpoint = trainable * 4 + optimizer
        final = trainable * 4
    return Estimate(
        device="cuda" if on_gpu else "cpu",
        precision=precision,
        sequence_length=seq,
        params=params,
        trainable_params=trainable,
        weights_bytes=int(weights),
        adapter_bytes=int(adapter),
        gradients_bytes=int(gradients),
        optimizer_bytes=int(optimizer),
        activations_bytes=int(activations),
        overhead_bytes=overhead,
        download_bytes=download_bytes,
        checkpoints_bytes=int(checkpoint * training.save_total_limit + 1_000_000),
        final_bytes=int(final),
        logs_bytes=_LOG_BYTES,
        tokens_per_second=_tokens_per_second(hardware, shape, config.adapter == "full"),
    )


def hub_download_bytes(model: str) -> int | None:
    """Bytes still to download for a Hub model: 0 when cached or local, None if unknown."""
    from modelforge_nb.embedded import is_embedded

    if is_embedded(model) or Path(model).is_absolute() or Path(model).exists():
        return 0
    from huggingface_hub import HfApi, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(model, "config.json"), str):
        return 0
    try:
        info = HfApi().model_info(model, files_metadata=True)
    except Exception:  # offline or unknown: the size is simply not known
        return None
    wanted = (".safetensors", ".json", ".model", ".txt", ".jinja")
    return sum(s.size or 0 for s in info.siblings or [] if s.rfilename.endswith(wanted))
