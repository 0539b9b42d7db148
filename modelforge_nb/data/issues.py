"""What a dataset check finds: each issue names the file, the line or row, and the column."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DatasetIssue:
    """One problem (blocking) or warning found in a dataset."""

    code: str
    message: str
    file: str
    line: int | None = None
    column: str | None = None
    hint: str | None = None
    unit: str = "line"

    @property
    def where(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(f"{self.unit} {self.line}")
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        tail = f" {self.hint}" if self.hint else ""
        return f"{self.where}: {self.message}{tail}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": str(self),
            "file": self.file,
            "line": self.line,
            "column": self.column,
        }


@dataclass
class DatasetReport:
    """The verdict on one dataset (and its eval split, when there is one)."""

    errors: list[DatasetIssue] = field(default_factory=list)
    warnings: list[DatasetIssue] = field(default_factory=list)
    rows: int = 0
    eval_rows: int = 0
    data_format: str | None = None
    columns: list[str] = field(default_factory=list)
    errors_not_shown: int = 0
    longest_tokens: int | None = None
    """The longest example in tokens, when a tokenizer was given."""

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if self.ok:
            head = f"Dataset OK: {self.rows} training rows ({self.data_format})"
            if self.eval_rows:
                head += f", {self.eval_rows} eval rows"
            lines = [head + "."]
        else:
            total = len(self.errors) + self.errors_not_shown
            lines = [f"Dataset has {total} error{'s' if total != 1 else ''}:"]
            lines += [f"- {issue}" for issue in self.errors]
            if self.errors_not_shown:
                lines.append(f"- ... and {self.errors_not_shown} more errors not shown.")
        lines += [f"warning: {issue}" for issue in self.warnings]
        return "\n".join(lines)
