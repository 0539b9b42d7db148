"""Validate a dataset against its task before training: columns, values, lengths, dupes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from modelforge_nb.config.tasks import (
    SHAREGPT_ROLES,
    TASKS,
    DataFormat,
    Task,
    implicit_pair,
    shared_prompt,
    sharegpt_messages,
)
from modelforge_nb.data.format import auto_max_length, span_features
from modelforge_nb.data.issues import DatasetIssue, DatasetReport

# example_text and max_length_for are re-exported: they lived here before data/lengths.py.
from modelforge_nb.data.lengths import example_text as example_text
from modelforge_nb.data.lengths import length_limit, token_counter
from modelforge_nb.data.lengths import max_length_for as max_length_for
from modelforge_nb.data.readers import RawRows, read_rows

if TYPE_CHECKING:
    from modelforge_nb.config.models import FinetuneConfig

MAX_ERRORS = 20
_CHAT_ROLES = frozenset({"system", "user", "assistant"})
_TEXT_ROLES = frozenset(
    {
        "prompt",
        "completion",
        "chosen",
        "rejected",
        "source",
        "target",
        "context",
        "question",
        "answer",
        "instruction",
    }
)


def _kind(value: Any) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "a true/false value"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _short(value: Any) -> str:
    """A value as a message shows it: a bounded repr, never the whole of a huge value."""
    import reprlib

    return reprlib.repr(value)


def _text_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"is {_kind(value)}, not text."
    if not value.strip():
        return "is empty."
    return None


def _messages_problem(value: Any) -> str | None:
    problem = _turns_problem(value)
    if problem:
        return problem
    if value[-1]["role"] != "assistant":
        return "does not end with an assistant message, so there is nothing to learn."
    if not any(m["role"] == "user" for m in value):
        return "has no user message."
    return None


def _turns_problem(value: Any) -> str | None:
    """Whether ``value`` is a non-empty list of well-formed chat messages."""
    if not isinstance(value, list) or not value:
        return f"is {_kind(value) if value != [] else 'an empty list'}, not a list of messages."
    for index, message in enumerate(value):
        if not isinstance(message, dict) or not {"role", "content"} <= set(message):
            return f"message {index + 1} is not an object with 'role' and 'content'."
        if not isinstance(message["role"], str) or message["role"] not in _CHAT_ROLES:
            return (
                f"message {index + 1} has role {_short(message['role'])}; use one of "
                f"{', '.join(sorted(_CHAT_ROLES))}."
            )
        problem = _text_problem(message["content"])
        if problem:
            return f"message {index + 1}'s content {problem}"
    return None


def _conversational_problem(role: str, value: Any) -> str | None:
    """A prompt, completion, chosen or rejected value given as a list of messages."""
    problem = _turns_problem(value)
    if problem:
        return problem
    roles = [m["role"] for m in value]
    if role == "prompt" and roles[-1] == "assistant":
        return "ends with an assistant message; the prompt is what comes before the answer."
    if role != "prompt" and "assistant" not in roles:
        return "has no assistant message, so there is nothing to learn."
    return None


def _implicit_problem(row: dict[str, Any], data_format: DataFormat) -> str | None:
    chosen, rejected = implicit_pair(data_format.roles(row))
    if type(chosen) is not type(rejected):
        return "chosen and rejected must both be texts or both be lists of messages."
    if isinstance(chosen, list):
        for problem in (_messages_problem(chosen), _messages_problem(rejected)):
            if problem:
                return problem
    size = shared_prompt(chosen, rejected)
    if size == 0:
        return (
            "chosen and rejected do not start with the same prompt, so there is none to "
            "find; give a prompt column, or start both with the prompt."
        )
    if size >= min(len(chosen), len(rejected)):
        return "chosen and rejected are the same after their shared prompt."
    return None


def _unanswerable(value: Any) -> bool:
    return isinstance(value, dict) and value.get("text") == [] and not value.get("answer_start")


def _answers_problem(value: Any, row: dict[str, Any]) -> str | None:
    if not isinstance(value, dict) or not {"text", "answer_start"} <= set(value):
        return "must be an object with 'text' and 'answer_start' lists."
    texts, starts = value["text"], value["answer_start"]
    if not isinstance(texts, list) or not isinstance(starts, list) or not texts:
        return "'text' and 'answer_start' must be non-empty lists."
    if len(texts) != len(starts):
        return f"has {len(texts)} texts but {len(starts)} answer_start values."
    context = row.get("context")
    for text, start in zip(texts, starts, strict=True):
        if not isinstance(text, str) or not text.strip():
            return f"answer {text!r} is not a non-empty text."
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            return f"answer_start {start!r} is not a position (a whole number from 0)."
        if isinstance(context, str) and context[start : start + len(text)] != text:
            return (
                f"answer {text!r} is not at position {start} of the context "
                f"(found {context[start : start + len(text)]!r})."
            )
    return None


def _answer_problem(value: Any, row: dict[str, Any]) -> str | None:
    problem = _text_problem(value)
    if problem:
        return problem
    context = row.get("context")
    if isinstance(context, str) and value not in context:
        return f"{value!r} does not occur in the context."
    return None


def _conversations_problem(value: Any) -> str | None:
    messages = sharegpt_messages(value)
    if messages is None:
        return "is not a list of {from, value} turns (ShareGPT)."
    for index, message in enumerate(messages):
        if not isinstance(message["role"], str) or message["role"] not in _CHAT_ROLES:
            tags = ", ".join(sorted(SHAREGPT_ROLES))
            return (
                f"turn {index + 1} is from {_short(message['role'])}; use one of {tags}, or map "
                "the tags with columns (see docs/datasets.md)."
            )
    return _messages_problem(messages)


def _optional_problem(column: str, value: Any) -> str | None:
    if column == "history":
        pairs = value or []
        if isinstance(pairs, list) and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(t, str) for t in p)
            for p in pairs
        ):
            return None
        return "is not a list of [instruction, answer] pairs (it may be empty or left out)."
    if value is None or isinstance(value, str):
        return None
    return f"is {_kind(value)}, not text (it may be empty or left out)."


def _label_problem(value: Any, _row: dict[str, Any]) -> str | None:
    if isinstance(value, bool):
        return None
    return f"is {_kind(value)}; use true (a good answer) or false (a bad one)."


def _pair_side_problem(value: Any, _row: dict[str, Any]) -> str | None:
    """Chosen or rejected with the prompt inside: a text, or a list of messages."""
    return _turns_problem(value) if isinstance(value, list) else _text_problem(value)


_ValueCheck = Callable[[Any, dict[str, Any]], str | None]


def _plain_text_problem(value: Any, _row: dict[str, Any]) -> str | None:
    return _text_problem(value)


#: The check of a column's value, by the role it plays; any other role holds text.
_VALUE_CHECKS: dict[str, _ValueCheck] = {
    "messages": lambda value, _row: _messages_problem(value),
    "conversations": lambda value, _row: _conversations_problem(value),
    "answers": _answers_problem,
    "answer": _answer_problem,
}


def _value_problem(
    role: str, value: Any, row: dict[str, Any], data_format: DataFormat
) -> str | None:
    """What is wrong with a value, or None. A label is a label in every format; in a
    conversational format every other value is a list of messages, and in an implicit-prompt
    preference one text or messages; elsewhere the role decides."""
    if role == "label":
        return _label_problem(value, row)
    if data_format.conversational:
        return _conversational_problem(role, value)
    if data_format.name == "implicit-prompt-preference":
        return _pair_side_problem(value, row)
    return _VALUE_CHECKS.get(role, _plain_text_problem)(value, row)


def _describe_formats(task: Task, method: str) -> str:
    return "; ".join(f.description for f in task.formats_for(method))


class _Collector:
    def __init__(self, report: DatasetReport, max_errors: int) -> None:
        self.report = report
        self.max_errors = max_errors

    def error(self, issue: DatasetIssue) -> None:
        if len(self.report.errors) < self.max_errors:
            self.report.errors.append(issue)
        else:
            self.report.errors_not_shown += 1


def _check_rows(
    raw: RawRows,
    task: Task,
    method: str,
    out: _Collector,
    *,
    data_format: DataFormat | None,
    count_tokens: Callable[[str], tuple[int, bool]] | None,
    max_tokens: int | None,
    wanted: str = "auto",
    allow_no_answer: bool = False,
) -> DataFormat | None:
    for issue in raw.issues:
        out.error(issue)
    if not raw.rows:
        if not raw.issues:
            out.error(
                DatasetIssue(
                    "dataset.empty", "has no rows.", raw.source, hint="Add at least one example."
                )
            )
        return data_format
    data_format = _row_format(raw, task, method, out, data_format, wanted)
    if data_format is None:
        return None
    tally = _Tally(raw, count_tokens, max_tokens)
    for row, line in zip(raw.rows, raw.lines, strict=True):
        if _row_fits(row, line, raw, data_format, out, tally, allow_no_answer):
            tally.add(row, line, data_format, out.report)
    tally.report(out)
    return data_format


def _row_format(
    raw: RawRows,
    task: Task,
    method: str,
    out: _Collector,
    data_format: DataFormat | None,
    wanted: str,
) -> DataFormat | None:
    """The format the rows are in (the first row's columns decide), or None after an error;
    warns of columns the format ignores."""
    columns: set[str] = set(raw.rows[0])
    if data_format is None:
        data_format = task.match_format(method, raw.rows[0], wanted)
    if data_format is None and wanted != "auto":
        described = "; ".join(f.description for f in task.formats_for(method) if f.name == wanted)
        out.error(
            DatasetIssue(
                "dataset.not_that_format",
                f"has the columns {sorted(columns)}, which are not {wanted} ({described}).",
                raw.source,
                hint="Map your columns to those with columns: (docs/datasets.md), or set "
                "dataset_format: auto.",
            )
        )
        return None
    if data_format is None:
        out.error(
            DatasetIssue(
                "dataset.columns",
                f"has the columns {sorted(columns)}, which do not fit {task.name} with {method}.",
                raw.source,
                hint=f"It needs one of: {_describe_formats(task, method)}.",
            )
        )
        return None
    extra = sorted(columns - set(data_format.columns) - set(data_format.optional))
    # keeps_extra formats (GRPO prompts) hand their other columns to the rewards
    if extra and not data_format.keeps_extra:
        out.report.warnings.append(
            DatasetIssue(
                "dataset.extra_columns", f"has extra columns {extra}; they are ignored.", raw.source
            )
        )
    return data_format


def _column_problem(
    row: dict[str, Any], column: str, role: str, data_format: DataFormat
) -> tuple[str, str] | None:
    """What is wrong with one of the format's columns in ``row``: (code, message), or None."""
    if column not in row:
        return "dataset.missing_column", "is missing."
    problem = _value_problem(role, row[column], row, data_format)
    return ("dataset.bad_value", problem) if problem else None


def _row_fits(
    row: dict[str, Any],
    line: int,
    raw: RawRows,
    data_format: DataFormat,
    out: _Collector,
    tally: _Tally,
    allow_no_answer: bool,
) -> bool:
    """Check each column of one row (the format's, then the optional ones); report what is
    wrong and return whether the row can be trained on."""
    found: list[tuple[str, str, str]] = []  # (code, message, column)
    unanswerable = False  # not an error of its own row: the summary counts them
    for column, role in data_format.columns.items():
        if role == "answers" and column in row and _unanswerable(row[column]):
            if not allow_no_answer:
                tally.unanswerable.append(line)
                unanswerable = True
            continue
        problem = _column_problem(row, column, role, data_format)
        if problem:
            found.append((*problem, column))
    if not found and not unanswerable and data_format.name == "implicit-prompt-preference":
        implicit = _implicit_problem(row, data_format)
        if implicit:
            found.append(("dataset.bad_value", implicit, "chosen"))
    for column in data_format.optional:
        optional = _optional_problem(column, row.get(column))
        if optional:
            found.append(("dataset.bad_value", optional, column))
    for code, message, column in found:
        out.error(DatasetIssue(code, message, raw.source, line, column, unit=raw.unit))
    return not found and not unanswerable


class _Tally:
    """What the rows that fit add up to: duplicates, unanswerable questions, lengths; each
    reported once, after the last row."""

    def __init__(
        self,
        raw: RawRows,
        count_tokens: Callable[[str], tuple[int, bool]] | None,
        max_tokens: int | None,
    ) -> None:
        self.raw = raw
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens
        self.seen: dict[str, int] = {}
        self.duplicates: list[int] = []
        self.unanswerable: list[int] = []
        self.too_long: list[tuple[int, int, bool]] = []
        self.long_texts: list[tuple[int, int]] = []

    def add(
        self, row: dict[str, Any], line: int, data_format: DataFormat, report: DatasetReport
    ) -> None:
        # default=str: Parquet and saved datasets hold dates and times JSON has no type for.
        key = json.dumps(data_format.roles(row), sort_keys=True, default=str)
        if key in self.seen:
            self.duplicates.append(line)
        else:
            self.seen[key] = line
        if self.count_tokens is None:
            return
        text = example_text(data_format, row)
        tokens, exact = self.count_tokens(text)
        report.longest_tokens = max(report.longest_tokens or 0, tokens)
        if self.max_tokens is not None and tokens > self.max_tokens:
            self.too_long.append((line, tokens, exact))
            self.long_texts.append((line, len(text)))

    def report(self, out: _Collector) -> None:
        raw = self.raw
        if self.unanswerable:
            out.error(
                DatasetIssue(
                    "dataset.unanswerable",
                    f"has {len(self.unanswerable)} unanswerable questions (SQuAD v2: empty "
                    f"answers), the first at {raw.unit} "
                    f"{', '.join(str(n) for n in self.unanswerable[:5])}.",
                    raw.source,
                    column="answers",
                    hint='Set allow_no_answer: true to train them as "no answer" (the [CLS] '
                    "position), or remove those rows.",
                )
            )
        if self.duplicates:
            out.report.warnings.append(
                DatasetIssue(
                    "dataset.duplicates",
                    f"has {len(self.duplicates)} duplicate rows (first at {raw.unit} "
                    f"{self.duplicates[0]}).",
                    raw.source,
                    hint="Duplicates weigh those examples more; remove them unless intended.",
                )
            )
        if self.too_long:
            out.report.warnings.append(self._too_long())

    def _too_long(self) -> DatasetIssue:
        raw, too_long = self.raw, self.too_long
        first = ", ".join(str(n) for n, _, _ in too_long[:5])
        line, tokens, _exact = max(too_long, key=lambda item: item[1])
        longest = f"the longest is {raw.unit} {line} with {tokens} tokens"
        if not all(done for _, _, done in too_long):  # some were measured only so far
            line, size = max(self.long_texts, key=lambda item: item[1])
            longest = (
                f"the longest text is {raw.unit} {line} ({size:,} characters; texts past "
                f"{self.max_tokens} tokens are measured only that far)"
            )
        return DatasetIssue(
            "dataset.too_long",
            f"has {len(too_long)} rows longer than max_seq_length ({self.max_tokens} tokens), "
            f"the first at {raw.unit} {first}; {longest}.",
            raw.source,
            hint="Their ends (for pairs, the answers) are cut before training: raise "
            "training.max_seq_length or shorten them; mf.preview(config) shows what is cut.",
        )


def _map_columns(raw: RawRows, columns: Mapping[str, str], out: _Collector) -> bool:
    """Rename the data's columns to the format's, as ``columns:`` maps them; False (and
    one error per name) when the data lacks a column the mapping names."""
    if not columns or not raw.rows:
        return True
    missing = [(t, s) for t, s in columns.items() if s not in raw.rows[0]]
    for target, source in missing:
        if source not in raw.rows[0]:
            out.error(
                DatasetIssue(
                    "dataset.mapped_column_missing",
                    f"has no column {source!r} (columns.{target} maps it); its columns are "
                    f"{sorted(raw.rows[0])}.",
                    raw.source,
                    column=source,
                    hint="Fix the name under columns:, or remove that line.",
                )
            )
    if missing:
        return False
    for row in raw.rows:
        for target, source in columns.items():
            if source in row:
                row[target] = row.pop(source)
    return True


#: A conversation column's own keys and speaker names, which ``tags`` stand in for.
_CONVERSATION_KEYS = {
    "messages": ("role", "content", {"user": "user", "assistant": "assistant", "system": "system"}),
    "conversations": ("from", "value", {"user": "human", "assistant": "gpt", "system": "system"}),
}


def _map_tags(raw: RawRows, tags: Mapping[Any, str]) -> None:
    """Rewrite each turn of a conversation column in the column's own keys and speaker
    names, as ``tags`` maps them (LLaMA-Factory's dataset tags)."""
    if not tags:
        return
    for row in raw.rows:
        for column, (role_key, content_key, names) in _CONVERSATION_KEYS.items():
            turns = row.get(column)
            if not isinstance(turns, list):
                continue
            speaker_key = tags.get("role", role_key)
            text_key = tags.get("content", content_key)
            speakers: dict[Any, str] = {tags[k]: names[k] for k in names if k in tags}
            row[column] = [
                {
                    role_key: _renamed(speakers, turn.get(speaker_key)),
                    content_key: turn.get(text_key),
                }
                if isinstance(turn, dict)
                else turn
                for turn in turns
            ]


def _renamed(names: Mapping[Any, str], speaker: Any) -> Any:
    """A speaker's name as ``names`` maps it; a speaker that is not text stays as it is
    (and is then reported as a bad role)."""
    return names.get(speaker, speaker) if isinstance(speaker, str) else speaker


def _warn_answers_past_window(
    raw: RawRows,
    data_format: DataFormat,
    task: Task,
    tokenizer: Any,
    window: int,
    report: DatasetReport,
) -> None:
    """Count the QA rows whose answer falls outside the tokens the model sees.

    Training labels them "no answer" (``span_features``, the rule training uses), so a
    model would learn to give up on them: they are named, never dropped silently.
    """
    examples = [task.to_example(data_format, row, chat=False) for row in raw.rows]
    labels = span_features(examples, tokenizer, max_length=window)["start_positions"]
    lost = [
        line
        for line, start, example in zip(raw.lines, labels, examples, strict=True)
        if start == 0 and example["start"] >= 0  # unanswerable ones are meant to be 0
    ]
    if lost:
        first = ", ".join(str(line) for line in lost[:5])
        report.warnings.append(
            DatasetIssue(
                "dataset.answer_past_window",
                f"has {len(lost)} of {len(raw.rows)} rows whose answer lies past the first "
                f'{window} tokens (question and context), so they would train as "no '
                f'answer"; the first at {raw.unit} {first}.',
                raw.source,
                hint="Raise training.max_seq_length (up to the model's limit), or shorten "
                "those contexts so the answer comes earlier.",
            )
        )


def check_rows(
    config: FinetuneConfig,
    *,
    tokenizer: Any = None,
    max_errors: int = MAX_ERRORS,
) -> tuple[DatasetReport, RawRows, RawRows | None]:
    """Read and check the training (and eval) data of ``config``; return the rows too."""
    task = TASKS[config.task]
    report = DatasetReport()
    out = _Collector(report, max_errors)
    count_tokens: Callable[[str], tuple[int, bool]] | None = None
    limit: int | None = None
    if tokenizer is not None:
        limit = length_limit(config, tokenizer)
        count_tokens = token_counter(tokenizer, limit)

    def read_and_check(
        source: str, split: str, known: DataFormat | None
    ) -> tuple[RawRows, DataFormat | None]:
        raw = read_rows(source, split=split, subset=config.dataset_subset)
        if not _map_columns(raw, config.columns, out):
            return raw, None
        _map_tags(raw, config.tags)
        found = _check_rows(
            raw,
            task,
            config.method,
            out,
            data_format=known,
            count_tokens=count_tokens,
            max_tokens=limit,
            wanted=config.dataset_format,
            allow_no_answer=config.allow_no_answer,
        )
        return raw, found

    train, data_format = read_and_check(config.dataset, config.dataset_split, None)
    if task.kind == "span" and tokenizer is not None and data_format and report.ok:
        window = (
            config.training.max_seq_length
            if isinstance(config.training.max_seq_length, int)
            else auto_max_length(
                report.longest_tokens or 32, getattr(tokenizer, "model_max_length", None)
            )
        )
        _warn_answers_past_window(train, data_format, task, tokenizer, window, report)
    report.rows = len(train.rows)
    report.columns = sorted(train.rows[0]) if train.rows else []
    report.data_format = data_format.name if data_format else None
    evaluation = None
    if config.eval_dataset is not None:
        same = config.eval_dataset == config.dataset
        split = config.eval_split or ("validation" if same else "train")
        evaluation, _format = read_and_check(config.eval_dataset, split, data_format)
        report.eval_rows = len(evaluation.rows)
    elif config.eval_fraction is not None and report.rows:
        report.eval_rows = max(1, round(report.rows * config.eval_fraction))
        if report.rows - report.eval_rows < 1:
            out.error(
                DatasetIssue(
                    "dataset.too_small_to_split",
                    f"has {report.rows} rows: too few to hold out eval_fraction "
                    f"{config.eval_fraction}.",
                    config.dataset,
                    hint="Add rows, or give eval_dataset instead.",
                )
            )
    return report, train, evaluation


def check_dataset(
    config: FinetuneConfig, *, tokenizer: Any = None, max_errors: int = MAX_ERRORS
) -> DatasetReport:
    """Check the training (and eval) data of ``config`` without loading any model weights.

    With a ``tokenizer``, rows longer than ``training.max_seq_length`` (for "auto", the
    longest auto can choose) are counted exactly in a warning; no text is tokenized past
    what shows it is too long (``token_counter``).
    """
    report, _train, _evaluation = check_rows(config, tokenizer=tokenizer, max_errors=max_errors)
    return report
