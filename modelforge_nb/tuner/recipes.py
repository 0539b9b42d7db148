"""One recipe per task kind and method: a transformers/trl arguments class and trainer pair,
like trl's own SFTConfig/SFTTrainer. The worker picks one from ``RECIPES`` and runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.config.tasks import TASKS
from modelforge_nb.tuner import builders

Examples = list[dict[str, Any]]


def _causal(
    config: FinetuneConfig,
    model: Any,
    tokenizer: Any,
    train: Examples,
    evaluation: Examples | None,
    *,
    run_dir: Path,
    max_length: int,
    callbacks: list[Any],
    common: dict[str, Any],
) -> Any:
    """SFT or DPO with trl: trl wraps the model in the LoRA adapter itself."""
    from datasets import Dataset
    from trl import DPOTrainer, SFTTrainer

    dpo = config.method == "dpo"
    arguments = builders.dpo_arguments if dpo else builders.sft_arguments
    return (DPOTrainer if dpo else SFTTrainer)(
        model=model,
        args=arguments(config, run_dir, max_length=max_length, **common),
        train_dataset=Dataset.from_list(train),
        eval_dataset=Dataset.from_list(evaluation) if evaluation else None,
        processing_class=tokenizer,
        peft_config=builders.lora_config(config),
        callbacks=callbacks,
    )


def _with_adapter(config: FinetuneConfig, model: Any) -> Any:
    peft_config = builders.lora_config(config)
    if peft_config is None:
        return model
    from peft import get_peft_model

    return get_peft_model(model, peft_config)


def _seq2seq(
    config: FinetuneConfig,
    model: Any,
    tokenizer: Any,
    train: Examples,
    evaluation: Examples | None,
    *,
    run_dir: Path,
    max_length: int,
    callbacks: list[Any],
    common: dict[str, Any],
) -> Any:
    """Summarization: transformers' Seq2SeqTrainer on source/target token ids."""
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer

    from modelforge_nb.data.format import seq2seq_features

    model = _with_adapter(config, model)

    def features(examples: Examples) -> Any:
        return Dataset.from_dict(
            seq2seq_features(
                examples,
                tokenizer,
                max_source_length=max_length,
                max_target_length=max(16, max_length // 2),
            )
        )

    return Seq2SeqTrainer(
        model=model,
        args=builders.seq2seq_arguments(config, run_dir, **common),
        train_dataset=features(train),
        eval_dataset=features(evaluation) if evaluation else None,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
        processing_class=tokenizer,
        callbacks=callbacks,
    )


def _span(
    config: FinetuneConfig,
    model: Any,
    tokenizer: Any,
    train: Examples,
    evaluation: Examples | None,
    *,
    run_dir: Path,
    max_length: int,
    callbacks: list[Any],
    common: dict[str, Any],
) -> Any:
    """Extractive QA: transformers' Trainer on start/end positions."""
    from datasets import Dataset
    from transformers import Trainer, default_data_collator

    from modelforge_nb.data.format import span_features

    model = _with_adapter(config, model)

    def features(examples: Examples) -> Any:
        return Dataset.from_dict(span_features(examples, tokenizer, max_length=max_length))

    return Trainer(
        model=model,
        args=builders.plain_arguments(config, run_dir, **common),
        train_dataset=features(train),
        eval_dataset=features(evaluation) if evaluation else None,
        data_collator=default_data_collator,
        processing_class=tokenizer,
        callbacks=callbacks,
    )


#: The recipe for each kind of task (``Task.kind`` in the task table).
RECIPES: dict[str, Callable[..., Any]] = {"causal": _causal, "seq2seq": _seq2seq, "span": _span}


def build_trainer(
    config: FinetuneConfig,
    model: Any,
    tokenizer: Any,
    train: Examples,
    evaluation: Examples | None,
    *,
    run_dir: Path,
    max_length: int,
    callbacks: list[Any],
    precision: str,
    on_gpu: bool,
) -> Any:
    """The trainer for ``config``'s task and method, ready to ``train()``."""
    common = {"precision": precision, "on_gpu": on_gpu, "has_eval": evaluation is not None}
    recipe = RECIPES[TASKS[config.task].kind]
    return recipe(
        config,
        model,
        tokenizer,
        train,
        evaluation,
        run_dir=run_dir,
        max_length=max_length,
        callbacks=callbacks,
        common=common,
    )
