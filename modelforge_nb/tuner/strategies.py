"""How several processes share a run: accelerate's own config file for each strategy.

The worker is the same for one process and for many; ``accelerate launch --config_file``
starts the processes and sets up DDP, FSDP or DeepSpeed from the file written here, so no
launcher of our own stands between a run and accelerate. The file is the one
``accelerate config`` writes, and ``accelerate launch`` reads it as it would that one.
"""

from __future__ import annotations

from typing import Any

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.config.precision import is_mixed

CONFIG_FILE = "accelerate_config.yaml"


def block_classes(model: str, *, trust_remote_code: bool = False) -> tuple[str, ...]:
    """The model's repeated blocks (``LlamaDecoderLayer``), which FSDP wraps and shards one
    by one: transformers' own ``_no_split_modules`` of the model's class. Reads only the
    model's config."""
    import transformers

    from modelforge_nb.embedded import resolve_model

    settings = transformers.AutoConfig.from_pretrained(
        resolve_model(model), trust_remote_code=trust_remote_code
    )
    found: list[str] = []
    for name in getattr(settings, "architectures", None) or []:
        found += getattr(getattr(transformers, name, None), "_no_split_modules", None) or []
    return tuple(dict.fromkeys(found))


def distributed_type(config: FinetuneConfig) -> str:
    """accelerate's ``distributed_type`` for the run's strategy."""
    strategy = config.distributed.strategy
    if strategy == "fsdp":
        return "FSDP"
    if strategy.startswith("deepspeed"):
        return "DEEPSPEED"
    # MULTI_GPU picks accelerate's torchrun launcher, which also runs several CPU processes
    # (the trainer then uses gloo).
    return "MULTI_GPU"


def accelerate_config(
    config: FinetuneConfig, *, precision: str = "fp32", block_classes: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The accelerate config for ``config``'s ``distributed`` section.

    ``precision`` is the run's resolved precision; ``block_classes`` the model's repeated
    blocks (``ModelShape.block_classes``), which FSDP wraps one by one.
    """
    spread = config.distributed
    out: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "debug": False,
        "distributed_type": distributed_type(config),
        "downcast_bf16": "no",
        "machine_rank": spread.machine_rank,
        "main_training_function": "main",
        "mixed_precision": precision if is_mixed(precision) else "no",
        "num_machines": spread.num_machines,
        "num_processes": spread.num_processes,
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": False,
    }
    if spread.num_machines > 1:
        out["main_process_ip"] = spread.main_process_ip
        out["main_process_port"] = spread.main_process_port
    if spread.strategy == "fsdp":
        out["fsdp_config"] = {
            "fsdp_version": 2,
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "fsdp_transformer_layer_cls_to_wrap": ",".join(block_classes),
            "fsdp_reshard_after_forward": True,
            "fsdp_state_dict_type": "FULL_STATE_DICT",
            "fsdp_offload_params": False,
            "fsdp_cpu_ram_efficient_loading": True,
            "fsdp_activation_checkpointing": config.training.gradient_checkpointing,
        }
        if not block_classes:
            out["fsdp_config"]["fsdp_auto_wrap_policy"] = "SIZE_BASED_WRAP"
            out["fsdp_config"]["fsdp_min_num_params"] = 100_000_000
            del out["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"]
    if spread.strategy.startswith("deepspeed"):
        stage = 3 if spread.strategy.endswith("3") else 2
        out["deepspeed_config"] = {
            "zero_stage": stage,
            "gradient_accumulation_steps": config.training.grad_accum,
            "gradient_clipping": 1.0,
            "offload_optimizer_device": "none",
            "offload_param_device": "none",
            "zero3_init_flag": stage == 3,
            **({"zero3_save_16bit_model": True} if stage == 3 else {}),
        }
    return out
