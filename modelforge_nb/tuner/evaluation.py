"""After training: evaluation loss and the task's own metrics (ROUGE, SQuAD EM/F1, reward
accuracy, perplexity), as plain numbers for ``metrics.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.config.tasks import TASKS
from modelforge_nb.rundir import read_events

#: How many held-out examples the generated metrics (ROUGE, EM/F1) look at.
_METRIC_SAMPLES = 32


def _numbers(values: dict[str, Any]) -> dict[str, float | int]:
    """The numeric entries of a metrics dict; 0-d tensors and numpy scalars become numbers."""
    out: dict[str, float | int] = {}
    for key, value in values.items():
        number = value.item() if hasattr(value, "item") else value
        if isinstance(number, int | float) and not isinstance(number, bool):
            out[key] = number
    return out


def _summaries(
    model: Any, tokenizer: Any, examples: list[dict[str, Any]], max_length: int
) -> dict[str, float]:
    import torch

    from modelforge_nb.tuner.metrics import rouge

    model.eval()
    predictions, references = [], []
    device = next(model.parameters()).device
    for example in examples[:_METRIC_SAMPLES]:
        inputs = tokenizer(
            example["source"], return_tensors="pt", truncation=True, max_length=max_length
        ).to(device)
        with torch.no_grad():
            output = model.generate(**inputs, max_new_tokens=64, do_sample=False)
        predictions.append(tokenizer.decode(output[0], skip_special_tokens=True))
        references.append(example["target"])
    return rouge(predictions, references)


def _spans(
    model: Any, tokenizer: Any, examples: list[dict[str, Any]], max_length: int
) -> dict[str, float]:
    from modelforge_nb.data.format import extract_span
    from modelforge_nb.tuner.metrics import squad_scores

    model.eval()
    predictions, references = [], []
    for example in examples[:_METRIC_SAMPLES]:
        predictions.append(
            extract_span(
                model, tokenizer, example["question"], example["context"], max_length=max_length
            )
        )
        references.append(example["answer"])
    return squad_scores(predictions, references)


def evaluate(
    trainer: Any,
    config: FinetuneConfig,
    tokenizer: Any,
    examples: list[dict[str, Any]],
    max_length: int,
    run_dir: Path,
) -> dict[str, Any]:
    """The trainer's evaluation and the task's metrics on the held-out ``examples``."""
    from modelforge_nb.tuner.metrics import perplexity

    task = TASKS[config.task]
    evaluation = _numbers(trainer.evaluate())
    # Some trainers (trl's DPO in some releases) put their metrics only into the log call,
    # which the event callback recorded as the last eval event.
    events = read_events(run_dir)[0]
    logged: dict[str, Any] = next((e for e in reversed(events) if e["type"] == "eval"), {})
    extra = {k: v for k, v in logged.items() if k.startswith("eval_")}
    metrics: dict[str, Any] = {**_numbers(extra), **evaluation}
    if task.kind == "causal" and config.method == "sft":
        metrics["perplexity"] = perplexity(metrics.get("eval_loss"))
    accuracy = next((v for k, v in metrics.items() if "accuracies" in k), None)
    if accuracy is not None:
        metrics["reward_accuracy"] = accuracy
    if task.kind == "seq2seq":
        metrics.update(_summaries(trainer.model, tokenizer, examples, max_length))
    elif task.kind == "span":
        metrics.update(_spans(trainer.model, tokenizer, examples, max_length))
    return metrics
