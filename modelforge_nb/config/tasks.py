"""THE task table: every validator, form, dataset check, recommender and trainer reads it.

A task says which dataset columns it accepts for each method (keyed by the method table's
names, ``config/methods.py``), which model architectures can learn it (named by
transformers' Auto class mappings, resolved lazily so this module loads no transformers),
the methods it allows, the pipeline name written into saved metadata, and how a dataset row
becomes a training example.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelforge_nb.config.methods import METHODS
from modelforge_nb.errors import ConfigError

Row = Mapping[str, Any]
Example = dict[str, Any]


@dataclass(frozen=True)
class DataFormat:
    """One accepted set of dataset columns and the roles they play.

    ``columns`` maps a dataset column to its role (``prompt``, ``completion``,
    ``messages``, ``chosen``, ``rejected``, ``source``, ``target``, ``context``,
    ``question``, ``answers``, ``answer``). Columns are matched by name, never by order.
    """

    name: str
    columns: Mapping[str, str]
    description: str
    optional: Mapping[str, str] = field(default_factory=dict)
    """Columns a row may have or leave out (or leave empty), with their roles."""
    conversational: bool | None = None
    """True: the values are lists of messages; False: texts; None: either."""
    keeps_extra: bool = False
    """Other columns travel with each example (GRPO hands them to the reward functions)."""

    def fits(self, row: Mapping[str, Any]) -> bool:
        """Whether ``row`` has this format's columns, with values of its kind."""
        if not set(self.columns) <= set(row):
            return False
        if self.conversational is None:
            return True
        first = row[next(iter(self.columns))]
        return isinstance(first, list) == self.conversational

    def roles(self, row: Row) -> dict[str, Any]:
        """The row's values keyed by role instead of by column name."""
        values = {role: row[column] for column, role in self.columns.items()}
        for column, role in self.optional.items():
            if row.get(column) is not None:
                values[role] = row[column]
        return values


#: ShareGPT's speaker tags, as LLaMA-Factory and Axolotl read them.
SHAREGPT_ROLES: Mapping[str, str] = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "system": "system",
}


def sharegpt_messages(turns: Any) -> list[dict[str, Any]] | None:
    """ShareGPT ``conversations`` (``from``/``value``) as messages; None when malformed."""
    if not isinstance(turns, list):
        return None
    messages = []
    for turn in turns:
        if not isinstance(turn, dict) or not {"from", "value"} <= set(turn):
            return None
        speaker = turn["from"]
        role = SHAREGPT_ROLES.get(speaker, speaker) if isinstance(speaker, str) else speaker
        messages.append({"role": role, "content": turn["value"]})
    return messages


def alpaca_prompt(values: Mapping[str, Any]) -> str:
    """Alpaca's user turn: the instruction, then (after a blank line) the input if any."""
    extra = values.get("input")
    instruction = str(values["instruction"])
    return f"{instruction}\n\n{extra}" if isinstance(extra, str) and extra.strip() else instruction


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def _prompt_completion(values: Mapping[str, Any], chat: bool) -> Example:
    if chat:
        return {"prompt": _user(values["prompt"]), "completion": _assistant(values["completion"])}
    return {"prompt": values["prompt"], "completion": values["completion"]}


def _messages(values: Mapping[str, Any], _chat: bool) -> Example:
    return {"messages": [dict(m) for m in values["messages"]]}


def _preference(values: Mapping[str, Any], chat: bool) -> Example:
    if chat:
        return {
            "prompt": _user(values["prompt"]),
            "chosen": _assistant(values["chosen"]),
            "rejected": _assistant(values["rejected"]),
        }
    return {k: values[k] for k in ("prompt", "chosen", "rejected")}


def _alpaca(values: Mapping[str, Any], chat: bool) -> Example:
    system = values.get("system")
    system = system if isinstance(system, str) and system.strip() else None
    prompt = alpaca_prompt(values)
    earlier = [
        turn
        for asked, answered in values.get("history") or []
        for turn in (*_user(asked), *_assistant(answered))
    ]
    if chat or earlier:
        turns = [{"role": "system", "content": system}] if system else []
        return {
            "prompt": turns + earlier + _user(prompt),
            "completion": _assistant(values["completion"]),
        }
    return {
        "prompt": f"{system}\n\n{prompt}" if system else prompt,
        "completion": values["completion"],
    }


def _sharegpt(values: Mapping[str, Any], _chat: bool) -> Example:
    return {"messages": sharegpt_messages(values["conversations"])}


def _conversational(values: Mapping[str, Any], _chat: bool) -> Example:
    return {role: [dict(m) for m in turns] for role, turns in values.items()}


def _binary_feedback(values: Mapping[str, Any], chat: bool) -> Example:
    if isinstance(values["prompt"], list):
        example = _conversational({k: values[k] for k in ("prompt", "completion")}, chat)
    else:
        example = _prompt_completion(values, chat)
    return {**example, "label": values["label"]}


def _prompt_only(values: Mapping[str, Any], chat: bool) -> Example:
    prompt = values["prompt"]
    if isinstance(prompt, list):
        return {"prompt": [dict(m) for m in prompt]}
    return {"prompt": _user(prompt) if chat else prompt}


def _text(values: Mapping[str, Any], _chat: bool) -> Example:
    return {"text": values["text"]}


def shared_prompt(chosen: Any, rejected: Any) -> int:
    """How long the prompt that ``chosen`` and ``rejected`` start with is (messages for
    conversations, characters cut back to a word boundary for texts)."""
    size = 0
    for a, b in zip(chosen, rejected, strict=False):
        if a != b:
            break
        size += 1
    if isinstance(chosen, str):
        size = chosen.rfind(" ", 0, size + 1) + 1 if size < len(chosen) else size
    else:
        while size and chosen[size - 1].get("role") == "assistant":
            size -= 1  # the prompt ends where an answer would start
    return size


_HH_TURN = re.compile(r"\n\n(Human|Assistant): ?")


def hh_messages(text: Any) -> list[dict[str, str]] | None:
    """Anthropic HH-RLHF's "\\n\\nHuman: ... \\n\\nAssistant: ..." text as messages, or None
    when ``text`` is not written that way."""
    if not isinstance(text, str) or not _HH_TURN.match(text):
        return None
    parts = _HH_TURN.split(text)[1:]
    roles = {"Human": "user", "Assistant": "assistant"}
    return [
        {"role": roles[speaker], "content": content.strip()}
        for speaker, content in zip(parts[::2], parts[1::2], strict=True)
    ]


def implicit_pair(values: Mapping[str, Any]) -> tuple[Any, Any]:
    """``chosen`` and ``rejected`` of an implicit-prompt pair, HH-RLHF texts as messages."""
    chosen, rejected = values["chosen"], values["rejected"]
    as_messages = hh_messages(chosen), hh_messages(rejected)
    if as_messages[0] is not None and as_messages[1] is not None:
        return as_messages
    return chosen, rejected


def _implicit_preference(values: Mapping[str, Any], chat: bool) -> Example:
    chosen, rejected = implicit_pair(values)
    size = shared_prompt(chosen, rejected)
    split = {"prompt": chosen[:size], "chosen": chosen[size:], "rejected": rejected[size:]}
    return _preference(split, chat) if isinstance(chosen, str) else split


def _source_target(values: Mapping[str, Any], _chat: bool) -> Example:
    return {"source": values["source"], "target": values["target"]}


def _span(values: Mapping[str, Any], _chat: bool) -> Example:
    context: str = values["context"]
    if "answers" in values and not values["answers"]["text"]:
        text, start = "", -1  # unanswerable: labelled "no answer" (span_features)
    elif "answers" in values:
        answers = values["answers"]
        text, start = answers["text"][0], int(answers["answer_start"][0])
    else:
        text = values["answer"]
        start = context.index(text)
    return {"context": context, "question": values["question"], "answer": text, "start": start}


_EXAMPLE_BUILDERS: dict[str, Callable[[Mapping[str, Any], bool], Example]] = {
    "prompt-completion": _prompt_completion,
    "alpaca": _alpaca,
    "conversational-prompt-completion": _conversational,
    "messages": _messages,
    "sharegpt": _sharegpt,
    "text": _text,
    "conversational-preference": _conversational,
    "binary-feedback": _binary_feedback,
    "conversational-binary-feedback": _binary_feedback,
    "prompt-only": _prompt_only,
    "conversational-prompt-only": _prompt_only,
    "implicit-prompt-preference": _implicit_preference,
    "preference": _preference,
    "source-target": _source_target,
    "span": _span,
}

INSTRUCTION = DataFormat(
    "prompt-completion",
    {"input": "prompt", "output": "completion"},
    "instruction pairs: `input` (the prompt) and `output` (the answer)",
)
ALPACA = DataFormat(
    "alpaca",
    {"instruction": "instruction", "output": "completion"},
    "Alpaca: `instruction`, an optional `input` (may be empty), `output`, optional `system` "
    "and `history` (earlier [instruction, answer] pairs)",
    optional={"input": "input", "system": "system", "history": "history"},
)
PROMPT_COMPLETION = DataFormat(
    "prompt-completion",
    {"prompt": "prompt", "completion": "completion"},
    "TRL prompt-completion: `prompt` and `completion` texts",
    conversational=False,
)
CONVERSATIONAL_PROMPT_COMPLETION = DataFormat(
    "conversational-prompt-completion",
    {"prompt": "prompt", "completion": "completion"},
    "TRL conversational prompt-completion: `prompt` and `completion` as lists of messages",
    conversational=True,
)
TEXT = DataFormat(
    "text",
    {"text": "text"},
    "plain text for continued pretraining: `text` (the loss is on every token)",
)
SHAREGPT = DataFormat(
    "sharegpt",
    {"conversations": "conversations"},
    "ShareGPT: `conversations`, a list of {from, value} turns (from: human, gpt, system)",
)
CHAT = DataFormat(
    "messages",
    {"messages": "messages"},
    "chat: `messages`, a list of {role, content} ending with an assistant turn",
)
PREFERENCE = DataFormat(
    "preference",
    {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"},
    "preference pairs: `prompt`, the `chosen` answer and the `rejected` one",
    conversational=False,
)
CONVERSATIONAL_PREFERENCE = DataFormat(
    "conversational-preference",
    {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"},
    "conversational preference: `prompt`, `chosen` and `rejected` as lists of messages",
    conversational=True,
)
IMPLICIT_PREFERENCE = DataFormat(
    "implicit-prompt-preference",
    {"chosen": "chosen", "rejected": "rejected"},
    "preference with an implicit prompt: `chosen` and `rejected` whole conversations (or "
    "texts) that start with the same prompt",
)
BINARY_FEEDBACK = DataFormat(
    "binary-feedback",
    {"prompt": "prompt", "completion": "completion", "label": "label"},
    "binary feedback (TRL's unpaired preference): `prompt`, `completion` texts and `label`, "
    "true for a good answer and false for a bad one",
    conversational=False,
)
CONVERSATIONAL_BINARY_FEEDBACK = DataFormat(
    "conversational-binary-feedback",
    {"prompt": "prompt", "completion": "completion", "label": "label"},
    "conversational binary feedback: `prompt` and `completion` as lists of messages, `label` "
    "true or false",
    conversational=True,
)
PROMPT_ONLY = DataFormat(
    "prompt-only",
    {"prompt": "prompt"},
    "prompts: `prompt` texts; other columns (e.g. `answer`) are passed to the reward functions",
    conversational=False,
    keeps_extra=True,
)
CONVERSATIONAL_PROMPT_ONLY = DataFormat(
    "conversational-prompt-only",
    {"prompt": "prompt"},
    "conversational prompts: `prompt` as a list of messages; other columns are passed to the "
    "reward functions",
    conversational=True,
    keeps_extra=True,
)
PREFERENCE_FORMATS = (PREFERENCE, CONVERSATIONAL_PREFERENCE, IMPLICIT_PREFERENCE)
SUMMARY_FORMATS = (
    DataFormat(
        "source-target",
        {"input": "source", "output": "target"},
        "`input` (the document) and `output` (its summary)",
    ),
    DataFormat(
        "source-target",
        {"document": "source", "summary": "target"},
        "`document` and `summary`",
    ),
    DataFormat(
        "source-target",
        {"article": "source", "summary": "target"},
        "`article` and `summary`",
    ),
    DataFormat(
        "source-target",
        {"article": "source", "highlights": "target"},
        "CNN/DailyMail: `article` and `highlights`",
    ),
)
SPAN_FORMATS = (
    DataFormat(
        "span",
        {"context": "context", "question": "question", "answers": "answers"},
        "SQuAD style: `context`, `question`, `answers` with `text` and `answer_start`",
    ),
    DataFormat(
        "span",
        {"context": "context", "question": "question", "answer": "answer"},
        "`context`, `question` and `answer`, a string that occurs in the context",
    ),
)


@dataclass(frozen=True)
class Task:
    """What one task accepts, trains and records."""

    name: str
    description: str
    formats: Mapping[str, tuple[DataFormat, ...]]
    mapping_names: tuple[str, ...]
    auto_class: str
    pipeline: str
    peft_task_type: str
    kind: str
    excluded_mapping_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        unknown = set(self.formats) - set(METHODS)
        if unknown:  # the formats are keyed by the method table's names
            raise ValueError(f"task {self.name!r} has formats for unknown methods {unknown}")

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods this task trains with: those it has formats for, in the method
        table's order."""
        return tuple(m for m in METHODS if m in self.formats)

    def formats_for(self, method: str) -> tuple[DataFormat, ...]:
        return self.formats.get(method, ())

    def match_format(
        self, method: str, row: Mapping[str, Any], name: str = "auto"
    ) -> DataFormat | None:
        """The first accepted format (called ``name``, unless "auto") that ``row`` (the
        first of a dataset) fits: its columns, by name, holding values of the format's kind
        (texts or lists of messages)."""
        for candidate in self.formats_for(method):
            if name in ("auto", candidate.name) and candidate.fits(row):
                return candidate
        return None

    def to_example(self, data_format: DataFormat, row: Row, *, chat: bool) -> Example:
        """How a dataset row becomes a training example for this task's trainer."""
        example = _EXAMPLE_BUILDERS[data_format.name](data_format.roles(row), chat)
        if data_format.keeps_extra:
            example.update({k: v for k, v in row.items() if k not in data_format.columns})
        return example

    def architectures(self) -> frozenset[str]:
        """Model types (``config.model_type``) that can learn this task.

        Those the task's Auto class loads, less encoder-only families (BERT and kin have
        a causal-LM class, but they are not generators unless configured as decoders).
        """
        from transformers.models.auto import modeling_auto

        names: set[str] = set()
        for mapping in self.mapping_names:
            names.update(getattr(modeling_auto, mapping).keys())
        for mapping in self.excluded_mapping_names:
            names.difference_update(getattr(modeling_auto, mapping).keys())
        return frozenset(names)

    def accepts(self, model_config: Mapping[str, Any]) -> bool:
        """Whether a model with this ``config.json`` can learn the task."""
        model_type = model_config.get("model_type")
        if model_type in self.architectures():
            return True
        return bool(model_config.get("is_decoder")) and model_type in _mapped(self.mapping_names)


def _mapped(mapping_names: tuple[str, ...]) -> set[str]:
    from transformers.models.auto import modeling_auto

    return {name for m in mapping_names for name in getattr(modeling_auto, m)}


TASKS: dict[str, Task] = {
    "text-generation": Task(
        name="text-generation",
        description="Instruction or chat tuning of a causal language model.",
        formats={
            "sft": (
                ALPACA,
                INSTRUCTION,
                PROMPT_COMPLETION,
                CONVERSATIONAL_PROMPT_COMPLETION,
                CHAT,
                SHAREGPT,
                TEXT,
            ),
            "dpo": PREFERENCE_FORMATS,
            "orpo": PREFERENCE_FORMATS,
            "kto": (BINARY_FEEDBACK, CONVERSATIONAL_BINARY_FEEDBACK, *PREFERENCE_FORMATS),
            "grpo": (PROMPT_ONLY, CONVERSATIONAL_PROMPT_ONLY),
        },
        mapping_names=("MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",),
        auto_class="AutoModelForCausalLM",
        pipeline="text-generation",
        peft_task_type="CAUSAL_LM",
        kind="causal",
        excluded_mapping_names=("MODEL_FOR_MASKED_LM_MAPPING_NAMES",),
    ),
    "summarization": Task(
        name="summarization",
        description="A seq2seq model: the encoder reads the document, the labels are the summary.",
        formats={"sft": SUMMARY_FORMATS},
        mapping_names=("MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",),
        auto_class="AutoModelForSeq2SeqLM",
        pipeline="summarization",
        peft_task_type="SEQ_2_SEQ_LM",
        kind="seq2seq",
    ),
    "extractive-question-answering": Task(
        name="extractive-question-answering",
        description="An encoder with a span head finds the answer inside a context (SQuAD).",
        formats={"sft": SPAN_FORMATS},
        mapping_names=("MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES",),
        auto_class="AutoModelForQuestionAnswering",
        pipeline="question-answering",
        peft_task_type="QUESTION_ANS",
        kind="span",
    ),
}

TASK_NAMES: tuple[str, ...] = tuple(TASKS)
#: Every dataset format's name, in the order formats are tried.
DATA_FORMAT_NAMES: tuple[str, ...] = tuple(
    dict.fromkeys(f.name for task in TASKS.values() for fs in task.formats.values() for f in fs)
)


def get_task(name: str) -> Task:
    """The task called ``name``; an unknown name is refused with the valid ones."""
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            "config.task_unknown",
            f"Unknown task {name!r}.",
            field="task",
            hint=f"Use one of: {', '.join(TASK_NAMES)}.",
        ) from None
