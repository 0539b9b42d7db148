"""How long a row is to the model: the text it reads, its tokens counted up to a limit, and
the sequence length training uses (``max_length_for``). Checks, preflight and the worker
measure with these, so a row is as long in each."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelforge_nb.config.tasks import DataFormat, sharegpt_messages
from modelforge_nb.data.format import auto_max_length

if TYPE_CHECKING:
    from modelforge_nb.config.models import FinetuneConfig


def _flat(value: Any) -> str:
    """The text in a value: a string, a message's content, or a list of those, joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _flat(value.get("content", ""))
    if isinstance(value, list):
        return "\n".join(_flat(item) for item in value)
    return ""


def example_text(data_format: DataFormat, row: dict[str, Any]) -> str:
    """The text of a row that the model reads, for length checks."""
    values = data_format.roles(row)
    if "conversations" in values:
        values["messages"] = sharegpt_messages(values.pop("conversations")) or []
    if "chosen" in values:
        answer = max(_flat(values["chosen"]), _flat(values["rejected"]), key=len)
        prompt = _flat(values.get("prompt", ""))
        return f"{prompt}\n{answer}" if prompt else answer
    if data_format.name == "source-target":
        return str(values["source"])
    return "\n".join(_flat(v) for v in values.values())


#: More characters than any tokenizer packs into one token of real text (English averages
#: about 4): a text's first ``(limit + 2) * _CHARS_PER_TOKEN`` characters hold more than
#: ``limit`` tokens whenever the whole text does, so no text is tokenized past that.
_CHARS_PER_TOKEN = 32


def length_limit(config: FinetuneConfig, tokenizer: Any) -> int:
    """The most tokens a training sequence can have: ``max_seq_length``, or for "auto" the
    longest that auto can choose."""
    if isinstance(config.training.max_seq_length, int):
        return config.training.max_seq_length
    return auto_max_length(1 << 30, getattr(tokenizer, "model_max_length", None))


def token_counter(tokenizer: Any, limit: int) -> Callable[[str], tuple[int, bool]]:
    """Count a text's tokens, exactly up to ``limit``; returns (tokens, exact). A longer
    text is tokenized only as far as shows it is over the limit, so one 50 MB row costs
    what a row of the limit does; its count is then a lower bound (exact is False)."""
    window = (limit + 2) * _CHARS_PER_TOKEN

    def count(text: str) -> tuple[int, bool]:
        if len(text) > window:
            head = len(tokenizer(text[:window], add_special_tokens=True)["input_ids"])
            if head > limit + 1:  # a cut can merge or split one token at the end, no more
                return head, False
        return len(tokenizer(text, add_special_tokens=True)["input_ids"]), True

    return count


def max_length_for(
    config: FinetuneConfig, tokenizer: Any, rows: list[dict[str, Any]], data_format: DataFormat
) -> int:
    """The sequence length training uses: ``max_seq_length``, or for "auto" the longest
    example (``auto_max_length``)."""
    if isinstance(config.training.max_seq_length, int):
        return config.training.max_seq_length
    count = token_counter(tokenizer, length_limit(config, tokenizer))
    longest = max((count(example_text(data_format, row))[0] for row in rows), default=32)
    return auto_max_length(longest, getattr(tokenizer, "model_max_length", None))
