"""Config to library objects: quantization, LoRA, training arguments. Pure functions.

The installed trl (1.x) and transformers (5.x) take ``max_length`` (not
``max_seq_length``), ``processing_class`` (not ``tokenizer``), ``eval_strategy``,
``use_cpu``, ``dtype`` and a float ``warmup_steps`` for a ratio; SFTConfig and DPOConfig
default to bf16, so precision is always resolved and passed explicitly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.config.precision import dtype_name
from modelforge_nb.config.tasks import TASKS


def torch_dtype(name: str) -> Any:
    """The torch dtype of a precision (``bf16``) or of a dtype name (``bfloat16``)."""
    import torch

    return getattr(torch, dtype_name(name))


def load_dtype(config: FinetuneConfig, precision: str, on_gpu: bool) -> Any:
    """The dtype the base weights load in: fp32 for full training and on the CPU."""
    if not on_gpu or config.adapter == "full" or precision == "fp32":
        return torch_dtype("fp32")
    return torch_dtype(precision)


def quantization_config(config: FinetuneConfig, precision: str) -> Any:
    """bitsandbytes settings for QLoRA, or None."""
    if config.adapter != "qlora" or config.quantization is None:
        return None
    from transformers import BitsAndBytesConfig

    from modelforge_nb.optional import require

    require("bitsandbytes", "QLoRA", field="adapter")
    quant = config.quantization
    compute = quant.compute_dtype if quant.compute_dtype != "auto" else dtype_name(precision)
    if quant.bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quant.quant_type,
        bnb_4bit_use_double_quant=quant.double_quant,
        bnb_4bit_compute_dtype=torch_dtype(compute),
    )


def lora_config(config: FinetuneConfig) -> Any:
    """The peft LoraConfig, or None for full fine-tuning."""
    if config.adapter == "full":
        return None
    from peft import LoraConfig

    lora = config.lora
    task = TASKS[config.task]
    # The span head is trained in full (peft's modules_to_save), so it gets no adapter.
    exclude = ["qa_outputs"] if task.kind == "span" else None
    return LoraConfig(
        exclude_modules=exclude,
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        use_dora=lora.use_dora,
        task_type=task.peft_task_type,
    )


def common_arguments(
    config: FinetuneConfig, run_dir: Path, *, precision: str, on_gpu: bool, has_eval: bool
) -> dict[str, Any]:
    """TrainingArguments fields shared by every trainer."""
    training = config.training
    if training.eval_steps is not None and has_eval:
        eval_strategy = "steps"
    elif has_eval:
        eval_strategy = "epoch"
    else:
        eval_strategy = "no"
    arguments: dict[str, Any] = {
        "output_dir": str(run_dir / "checkpoints"),
        "num_train_epochs": training.epochs,
        "max_steps": training.max_steps or -1,
        "per_device_train_batch_size": training.batch_size,
        "per_device_eval_batch_size": training.batch_size,
        "gradient_accumulation_steps": training.grad_accum,
        "learning_rate": config.learning_rate,
        "lr_scheduler_type": training.scheduler,
        "warmup_steps": training.warmup_ratio,
        "weight_decay": training.weight_decay,
        "optim": training.optimizer,
        "seed": training.seed,
        "logging_steps": training.logging_steps,
        "logging_first_step": True,
        # Log a NaN or infinite loss as it is (the default shows the mean of earlier
        # losses instead), so the run can end failed at once rather than train on.
        "logging_nan_inf_filter": False,
        "eval_strategy": eval_strategy,
        "eval_steps": training.eval_steps,
        "save_strategy": "steps",
        "save_steps": training.save_steps,
        "save_total_limit": training.save_total_limit,
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "use_cpu": not on_gpu,
        "report_to": [] if config.report_to == "none" else [config.report_to],
        "gradient_checkpointing": training.gradient_checkpointing,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }
    return arguments


def sft_arguments(config: FinetuneConfig, run_dir: Path, *, max_length: int, **common: Any) -> Any:
    from trl import SFTConfig

    return SFTConfig(
        **common_arguments(config, run_dir, **common),
        max_length=max_length,
        packing=config.training.packing,
        # None is trl's own default: the loss on completions for prompt-completion data
        completion_only_loss=None if config.training.loss_on == "answers" else False,
    )


def dpo_arguments(config: FinetuneConfig, run_dir: Path, *, max_length: int, **common: Any) -> Any:
    from trl import DPOConfig

    return DPOConfig(
        **common_arguments(config, run_dir, **common),
        max_length=max_length,
        beta=config.dpo.beta,
        loss_type=[config.dpo.loss_type],
    )


def orpo_arguments(config: FinetuneConfig, run_dir: Path, *, max_length: int, **common: Any) -> Any:
    from trl.experimental.orpo import ORPOConfig

    return ORPOConfig(
        **common_arguments(config, run_dir, **common), max_length=max_length, beta=config.orpo.beta
    )


def kto_arguments(config: FinetuneConfig, run_dir: Path, *, max_length: int, **common: Any) -> Any:
    from trl import KTOConfig

    kto = config.kto
    return KTOConfig(
        **common_arguments(config, run_dir, **common),
        max_length=max_length,
        beta=kto.beta,
        desirable_weight=kto.desirable_weight,
        undesirable_weight=kto.undesirable_weight,
    )


def grpo_arguments(config: FinetuneConfig, run_dir: Path, *, max_length: int, **common: Any) -> Any:
    """trl's GRPO takes prompts whole (it has no prompt length to cut at): ``max_length``
    serves preflight's length check only."""
    from trl import GRPOConfig

    del max_length

    grpo = config.grpo
    return GRPOConfig(
        **common_arguments(config, run_dir, **common),
        num_generations=grpo.num_generations,
        max_completion_length=grpo.max_completion_length,
        temperature=grpo.temperature,
        beta=grpo.beta,
        # the rewards see the extra columns (an answer to compare with)
        remove_unused_columns=False,
        log_completions=False,
    )


def seq2seq_arguments(config: FinetuneConfig, run_dir: Path, **common: Any) -> Any:
    from transformers import Seq2SeqTrainingArguments

    return Seq2SeqTrainingArguments(**common_arguments(config, run_dir, **common))


def plain_arguments(config: FinetuneConfig, run_dir: Path, **common: Any) -> Any:
    from transformers import TrainingArguments

    return TrainingArguments(**common_arguments(config, run_dir, **common))
