"""Turn checked rows into what each trainer takes, and record how prompts were shaped.

Causal tasks use the tokenizer's chat template when it has one; otherwise a plain
instruction template. That choice (the *prompt format*) is saved with the run so the
playground prompts the fine-tuned model exactly the way training did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelforge_nb.config.tasks import DataFormat, Task

PLAIN_PROMPT_TEMPLATE = "### Instruction:\n{prompt}\n\n### Response:\n"
AUTO_LENGTH_CAP = 2048


def auto_max_length(longest_tokens: int, model_max_length: int | None = None) -> int:
    """What ``max_seq_length: auto`` means: the longest example plus room for the template,
    rounded up to a multiple of 8, at most 2048 (or the model's own limit)."""
    limit = min(AUTO_LENGTH_CAP, model_max_length or AUTO_LENGTH_CAP)
    return int(min(limit, (longest_tokens + 32 + 7) // 8 * 8))


def prompt_format_for(tokenizer: Any, task: Task) -> dict[str, str]:
    """How prompts are shaped for ``task`` with ``tokenizer``: saved with every run."""
    if task.kind != "causal":
        return {"kind": task.kind}
    if getattr(tokenizer, "chat_template", None):
        return {"kind": "chat_template"}
    return {"kind": "plain", "template": PLAIN_PROMPT_TEMPLATE}


def _plain(prompt_format: Mapping[str, str], text: str) -> str:
    return prompt_format.get("template", PLAIN_PROMPT_TEMPLATE).format(prompt=text)


def _plain_conversation(
    prompt_format: Mapping[str, str], messages: Sequence[Mapping[str, str]]
) -> str:
    """A conversation as plain text, ending with the template's answer cue."""
    parts: list[str] = []
    pending_user: list[str] = []
    for message in messages:
        if message["role"] == "assistant":
            parts.append(_plain(prompt_format, "\n".join(pending_user)) + message["content"])
            pending_user = []
        else:
            pending_user.append(message["content"])
    parts.append(_plain(prompt_format, "\n".join(pending_user)))
    return "\n\n".join(parts)


def render_prompt(
    prompt_format: Mapping[str, str], messages: Sequence[Mapping[str, str]], tokenizer: Any
) -> str:
    """The text a causal model is given for ``messages``, ending where its answer starts."""
    if prompt_format.get("kind") == "chat_template":
        text: str = tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True
        )
        return text
    return _plain_conversation(prompt_format, messages)


def _per_answer(example: dict[str, Any]) -> list[dict[str, Any]]:
    if "messages" not in example:
        return [example]
    messages = example["messages"]
    return [
        {"prompt": messages[:index], "completion": [message]}
        for index, message in enumerate(messages)
        if message["role"] == "assistant" and index > 0
    ]


def build_examples(
    rows: Sequence[Mapping[str, Any]],
    data_format: DataFormat,
    task: Task,
    prompt_format: Mapping[str, str],
    loss_on: str = "answers",
) -> list[dict[str, Any]]:
    """Trainer-ready examples: conversational ones with a chat template, plain otherwise.

    With ``loss_on="answers"`` a conversation becomes one prompt-completion example per
    assistant turn (the turns before it as the prompt), so the loss falls on the answers
    alone whatever the chat template; with ``"all"`` it stays whole, every token learned.
    """
    chat = prompt_format.get("kind") == "chat_template"
    examples = [task.to_example(data_format, row, chat=chat) for row in rows]
    if loss_on == "answers":
        examples = [split for example in examples for split in _per_answer(example)]
    if chat or task.kind != "causal":
        return examples
    plain: list[dict[str, Any]] = []
    for example in examples:
        if "text" in example:
            plain.append(example)
        elif "messages" in example:
            messages = example["messages"]
            plain.append(
                {
                    "prompt": _plain_conversation(prompt_format, messages[:-1]),
                    "completion": messages[-1]["content"],
                }
            )
        elif isinstance(example["prompt"], list):  # conversational, without a chat template
            answers = {  # labels and reward columns stay as they are
                k: "\n".join(m["content"] for m in v) if isinstance(v, list) else v
                for k, v in example.items()
                if k != "prompt"
            }
            plain.append(
                {"prompt": _plain_conversation(prompt_format, example["prompt"]), **answers}
            )
        else:
            plain.append({**example, "prompt": _plain(prompt_format, example["prompt"])})
    return plain


def seq2seq_features(
    examples: Sequence[Mapping[str, str]],
    tokenizer: Any,
    *,
    max_source_length: int,
    max_target_length: int,
) -> dict[str, list[list[int]]]:
    """Encoder inputs from the document; labels from the summary alone."""
    encoded = tokenizer(
        [e["source"] for e in examples], max_length=max_source_length, truncation=True
    )
    labels = tokenizer(
        text_target=[e["target"] for e in examples], max_length=max_target_length, truncation=True
    )
    return {
        "input_ids": encoded["input_ids"],
        "attention_mask": encoded["attention_mask"],
        "labels": labels["input_ids"],
    }


def span_features(
    examples: Sequence[Mapping[str, Any]], tokenizer: Any, *, max_length: int
) -> dict[str, list[Any]]:
    """Question + context encodings with the answer's start and end token positions.

    A context cut off before the answer, and an unanswerable question (``start`` -1), get
    position 0 (the [CLS] token), the usual SQuAD convention for "no answer here".
    """
    encoded = tokenizer(
        [e["question"] for e in examples],
        [e["context"] for e in examples],
        max_length=max_length,
        truncation="only_second",
        padding="max_length",
        return_offsets_mapping=True,
    )
    starts: list[int] = []
    ends: list[int] = []
    for index, example in enumerate(examples):
        char_start = int(example["start"])
        char_end = char_start + len(example["answer"])
        sequence_ids = encoded.sequence_ids(index)
        offsets = encoded["offset_mapping"][index]
        start_token = end_token = 0
        for token, (offset, sequence) in enumerate(zip(offsets, sequence_ids, strict=True)):
            if sequence != 1:
                continue
            if offset[0] <= char_start < offset[1] and start_token == 0:
                start_token = token
            if offset[0] < char_end <= offset[1]:
                end_token = token
        if start_token == 0 or end_token < start_token:
            start_token = end_token = 0
        starts.append(start_token)
        ends.append(end_token)
    features = {k: v for k, v in encoded.items() if k != "offset_mapping"}
    features["start_positions"] = starts
    features["end_positions"] = ends
    return features


def extract_span(
    model: Any, tokenizer: Any, question: str, context: str, *, max_length: int | None = None
) -> str:
    """The span of ``context`` a span-head model picks: the best start/end pair, at most
    30 tokens long, inside the context."""
    import torch

    encoded = tokenizer(
        question,
        context,
        truncation="only_second",
        max_length=max_length,
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    offsets = encoded.pop("offset_mapping")[0]
    sequence_ids = encoded.sequence_ids(0)
    with torch.no_grad():
        output = model(**encoded.to(next(model.parameters()).device))
    start_logits, end_logits = output.start_logits[0], output.end_logits[0]
    tokens = [i for i, s in enumerate(sequence_ids) if s == 1]
    best, best_score = (tokens[0], tokens[0]), float("-inf")
    for i in tokens:
        for j in tokens:
            if i <= j < i + 30 and (score := float(start_logits[i] + end_logits[j])) > best_score:
                best, best_score = (i, j), score
    return context[int(offsets[best[0]][0]) : int(offsets[best[1]][1])]
