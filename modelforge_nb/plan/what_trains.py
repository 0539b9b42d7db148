"""``preview(config, n)``: the first examples exactly as the model will see them.

Each example is the token sequence training builds, token by token, with whether the token
carries the loss, and the tokens ``max_seq_length`` cuts off. The sequences are built the
way the trainers build them: trl's ``SFTTrainer`` for causal SFT (the chat template on the
prompt alone and on prompt + completion, the completion starting where the two diverge; an
EOS appended to plain completions and texts), trl's ``DPOTrainer`` pairs (the prompt, then
each answer), the encoder/labels split for summarization, and the answer span for
extractive QA (``data.format.span_features``). Only the tokenizer is loaded, never weights.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from typing import Any

from modelforge_nb.config.models import FinetuneConfig
from modelforge_nb.config.tasks import TASKS
from modelforge_nb.data import build_examples, load_dataset_for, prompt_format_for
from modelforge_nb.data.format import span_features
from modelforge_nb.data.lengths import max_length_for


@dataclass(frozen=True)
class PreviewExample:
    """One training sequence: its tokens, which of them carry the loss, what is cut."""

    line: int
    part: str
    """``example``; for preference pairs ``chosen`` or ``rejected``; for KTO
    ``desirable`` or ``undesirable``; for GRPO ``prompt`` (no loss: the model writes the
    completions); for summarization ``source`` or ``target``."""
    ids: list[int]
    tokens: list[str]
    loss: list[bool]
    max_length: int
    cut: int
    """Tokens past ``max_length``: training never sees them."""

    @property
    def text(self) -> str:
        """The whole sequence as the model reads it (special tokens included)."""
        return "".join(self.tokens)

    @property
    def target(self) -> str:
        """What the loss is taken on."""
        return "".join(t for t, on in zip(self.tokens, self.loss, strict=True) if on)

    def __str__(self) -> str:
        marked = "".join(f"[[{text}]]" if on else text for text, on in self._runs())
        cut = (
            f" ({self.cut} tokens past max_seq_length {self.max_length} are cut)"
            if self.cut
            else ""
        )
        return f"--- line {self.line}, {self.part}: loss on [[...]]{cut}\n{marked}"

    def _runs(self) -> list[tuple[str, bool]]:
        """Neighbouring tokens joined while they agree on the loss."""
        runs: list[tuple[str, bool]] = []
        for token, on in zip(self.tokens, self.loss, strict=True):
            if runs and runs[-1][1] == on:
                runs[-1] = (runs[-1][0] + token, on)
            else:
                runs.append((token, on))
        return runs

    def _repr_html_(self) -> str:
        spans = "".join(
            f"<span style='background: rgba(44,160,44,0.25)'>{html.escape(text)}</span>"
            if on
            else f"<span style='opacity: 0.75'>{html.escape(text)}</span>"
            for text, on in self._runs()
        )
        cut = f"; {self.cut} tokens past max_seq_length are cut" if self.cut else ""
        head = (
            f"<div style='font-size: 90%; color: #888'>line {self.line}, {self.part}: "
            f"{len(self.tokens)} tokens, {sum(self.loss)} with loss (highlighted){cut}</div>"
        )
        body = f"<pre style='white-space: pre-wrap; margin: 2px 0 8px'>{spans}</pre>"
        return f"<div class='modelforge-preview'>{head}{body}</div>"


def _tokenizer(config: FinetuneConfig) -> Any:
    from transformers import AutoTokenizer

    from modelforge_nb.embedded import resolve_model

    return AutoTokenizer.from_pretrained(
        resolve_model(config.model), trust_remote_code=config.trust_remote_code
    )


def _ids(tokenizer: Any, value: Any, *, generation_prompt: bool = False) -> list[int]:
    if isinstance(value, list):
        encoded = tokenizer.apply_chat_template(
            value, tokenize=True, add_generation_prompt=generation_prompt
        )
        return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)
    return list(tokenizer(value)["input_ids"])


def _with_eos(tokenizer: Any, text: str) -> str:
    eos = tokenizer.eos_token or ""
    return text if text.endswith(eos) else text + eos


def _common_prefix(a: list[int], b: list[int]) -> int:
    size = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        size += 1
    return size


def _pieces(tokenizer: Any, ids: list[int]) -> list[str]:
    """Each token's text as it reads in the decoded whole (spaces and word pieces joined)."""
    pieces, before = [], ""
    for end in range(1, len(ids) + 1):
        text = tokenizer.decode(ids[:end])
        pieces.append(
            text[len(before) :] if text.startswith(before) else tokenizer.decode(ids[end - 1 : end])
        )
        before = text
    return pieces


def _sequence(
    tokenizer: Any, ids: list[int], loss: list[bool], line: int, part: str, max_length: int
) -> PreviewExample:
    kept = ids[:max_length]
    return PreviewExample(
        line=line,
        part=part,
        ids=kept,
        tokens=_pieces(tokenizer, kept),
        loss=loss[:max_length],
        max_length=max_length,
        cut=max(0, len(ids) - max_length),
    )


def _prompt_then(tokenizer: Any, prompt: Any, answer: Any) -> tuple[list[int], list[bool]]:
    """Prompt + answer tokens, the loss on the answer (where the two encodings diverge)."""
    if isinstance(prompt, list):
        prompt_ids = _ids(tokenizer, prompt, generation_prompt=True)
        full = _ids(tokenizer, prompt + answer)
    else:
        prompt_ids = _ids(tokenizer, prompt)
        full = _ids(tokenizer, prompt + _with_eos(tokenizer, answer))
    start = _common_prefix(prompt_ids, full)
    return full, [False] * start + [True] * (len(full) - start)


def _causal(
    example: dict[str, Any], tokenizer: Any, method: str, loss_on: str
) -> list[tuple[str, Any, Any]]:
    """(part, ids, loss) for one causal example."""
    if "chosen" in example:  # a preference pair (dpo, orpo, kto unpairs it)
        return [
            (part, *_prompt_then(tokenizer, example["prompt"], example[part]))
            for part in ("chosen", "rejected")
        ]
    if "label" in example:  # kto: one answer, marked good or bad
        part = "desirable" if example["label"] else "undesirable"
        return [(part, *_prompt_then(tokenizer, example["prompt"], example["completion"]))]
    if method == "grpo":  # the prompt only: the model writes the completions
        ids = _ids(tokenizer, example["prompt"], generation_prompt=True)
        return [("prompt", ids, [False] * len(ids))]
    if "text" in example:
        ids = _ids(tokenizer, _with_eos(tokenizer, example["text"]))
        return [("example", ids, [True] * len(ids))]
    if "messages" in example:  # trl trains on every token of a conversation
        ids = _ids(tokenizer, example["messages"])
        return [("example", ids, [True] * len(ids))]
    ids, loss = _prompt_then(tokenizer, example["prompt"], example["completion"])
    return [("example", ids, loss if loss_on == "answers" else [True] * len(ids))]


def preview(config: FinetuneConfig, n: int = 3) -> list[PreviewExample]:
    """The first ``n`` training examples of ``config`` as the model will see them (a
    conversation learned answer by answer gives one example per assistant turn).

    Raises ``DatasetError`` for data that would not train, as training would.
    """
    task = TASKS[config.task]
    data = load_dataset_for(config)
    tokenizer = _tokenizer(config)
    max_length = max_length_for(config, tokenizer, data.train, data.data_format)
    prompt_format = prompt_format_for(tokenizer, task)
    loss_on = config.training.loss_on
    examples = [
        (line, example)
        for row, line in zip(data.train[:n], data.train_lines, strict=False)
        for example in build_examples([row], data.data_format, task, prompt_format, loss_on)
    ][:n]
    shown: list[PreviewExample] = []
    for line, example in examples:
        if task.kind == "causal":
            for part, ids, loss in _causal(example, tokenizer, config.method, loss_on):
                shown.append(_sequence(tokenizer, ids, loss, line, part, max_length))
        elif task.kind == "seq2seq":
            source = _ids(tokenizer, example["source"])
            target = list(tokenizer(text_target=example["target"])["input_ids"])
            shown.append(
                _sequence(tokenizer, source, [False] * len(source), line, "source", max_length)
            )
            target_length = max(16, max_length // 2)
            shown.append(
                _sequence(tokenizer, target, [True] * len(target), line, "target", target_length)
            )
        else:
            features = span_features([example], tokenizer, max_length=max_length)
            ids = [
                i
                for i, m in zip(
                    features["input_ids"][0], features["attention_mask"][0], strict=True
                )
                if m
            ]
            start, end = features["start_positions"][0], features["end_positions"][0]
            loss = [start <= index <= end for index in range(len(ids))]
            whole = len(tokenizer(example["question"], example["context"])["input_ids"])
            item = _sequence(tokenizer, ids, loss, line, "example", max_length)
            shown.append(replace(item, cut=max(0, whole - len(ids))))
    return shown
