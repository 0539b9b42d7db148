"""One recipe per task kind and method: a transformers/trl arguments class and trainer pair,
like trl's own SFTConfig/SFTTrainer. The worker picks one from ``RECIPES`` and runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelforge_nb.config.methods import METHODS
from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.config.tasks import TASKS
from modelforge_nb.tuner import builders

Examples = list[dict[str, Any]]


@dataclass(frozen=True)
class Job:
    """What every recipe gets: the config, the loaded model and tokenizer, the examples."""

    config: FinetuneConfig
    model: Any
    tokenizer: Any
    train: Examples
    evaluation: Examples | None
    run_dir: Path
    max_length: int
    callbacks: list[Any]
    precision: str
    on_gpu: bool
    rewards: tuple[Any, ...] = ()
    """GRPO's reward functions, in the order of ``grpo.rewards``."""

    @property
    def common(self) -> dict[str, Any]:
        """The arguments every ``builders.*_arguments`` takes."""
        has_eval = self.evaluation is not None
        return {"precision": self.precision, "on_gpu": self.on_gpu, "has_eval": has_eval}


#: Each causal method's trl trainer (module, class) and its arguments builder, as the method
#: table (``config/methods.py``) names them.
_CAUSAL_METHODS: dict[str, tuple[str, str, Callable[..., Any]]] = {
    name: (method.trainer_module, method.trainer_class, getattr(builders, method.arguments))
    for name, method in METHODS.items()
}


def _causal(job: Job) -> Any:
    """SFT, DPO, ORPO, KTO or GRPO with trl: trl wraps the model in the LoRA adapter itself."""
    import importlib

    from datasets import Dataset

    method = job.config.method
    module, trainer, arguments = _CAUSAL_METHODS[method]
    extra: dict[str, Any] = {}
    if method == "grpo":
        extra["reward_funcs"] = list(job.rewards)
    return getattr(importlib.import_module(module), trainer)(
        model=job.model,
        args=arguments(job.config, job.run_dir, max_length=job.max_length, **job.common),
        train_dataset=Dataset.from_list(job.train),
        eval_dataset=Dataset.from_list(job.evaluation) if job.evaluation else None,
        processing_class=job.tokenizer,
        peft_config=builders.lora_config(job.config),
        callbacks=job.callbacks,
        **extra,
    )


def _with_adapter(config: FinetuneConfig, model: Any) -> Any:
    peft_config = builders.lora_config(config)
    if peft_config is None:
        return model
    from peft import get_peft_model

    return get_peft_model(model, peft_config)


def _seq2seq(job: Job) -> Any:
    """Summarization: transformers' Seq2SeqTrainer on source/target token ids."""
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer

    from modelforge_nb.data.format import seq2seq_features

    model = _with_adapter(job.config, job.model)

    def features(examples: Examples) -> Any:
        return Dataset.from_dict(
            seq2seq_features(
                examples,
                job.tokenizer,
                max_source_length=job.max_length,
                max_target_length=max(16, job.max_length // 2),
            )
        )

    return Seq2SeqTrainer(
        model=model,
        args=builders.seq2seq_arguments(job.config, job.run_dir, **job.common),
        train_dataset=features(job.train),
        eval_dataset=features(job.evaluation) if job.evaluation else None,
        data_collator=DataCollatorForSeq2Seq(job.tokenizer, model=model),
        processing_class=job.tokenizer,
        callbacks=job.callbacks,
    )


def _span(job: Job) -> Any:
    """Extractive QA: transformers' Trainer on start/end positions."""
    from datasets import Dataset
    from transformers import Trainer, default_data_collator

    from modelforge_nb.data.format import span_features

    def features(examples: Examples) -> Any:
        return Dataset.from_dict(span_features(examples, job.tokenizer, max_length=job.max_length))

    return Trainer(
        model=_with_adapter(job.config, job.model),
        args=builders.plain_arguments(job.config, job.run_dir, **job.common),
        train_dataset=features(job.train),
        eval_dataset=features(job.evaluation) if job.evaluation else None,
        data_collator=default_data_collator,
        processing_class=job.tokenizer,
        callbacks=job.callbacks,
    )


#: The recipe for each kind of task (``Task.kind`` in the task table).
RECIPES: dict[str, Callable[[Job], Any]] = {"causal": _causal, "seq2seq": _seq2seq, "span": _span}


def build_trainer(job: Job) -> Any:
    """The trainer for the job's task and method, ready to ``train()``."""
    return RECIPES[TASKS[job.config.task].kind](job)
