"""Read rows from JSONL, JSON, CSV, Parquet, a saved ``datasets`` folder, or the Hub.

The file formats are parsed here rather than by ``datasets`` so that every problem can
name the file and the 1-based line it is on.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelforge_nb.config.models import DATA_FILE_SUFFIXES
from modelforge_nb.data.issues import DatasetIssue

SUPPORTED_SUFFIXES = DATA_FILE_SUFFIXES


@dataclass
class RawRows:
    """Rows as dicts, each with the line (or row) number it came from."""

    source: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    issues: list[DatasetIssue] = field(default_factory=list)
    unit: str = "line"
    files: list[str] = field(default_factory=list)

    def add(self, row: dict[str, Any], line: int) -> None:
        self.rows.append(row)
        self.lines.append(line)


class _JsonProblem(ValueError):
    """Text that is not JSON this reader can take, with the 1-based line and column."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        self.message, self.line, self.column = message, line, column
        super().__init__(message)


def _parse(text: str) -> Any:
    """``json.loads``, with every way it can fail as ``_JsonProblem``: bad syntax, nesting
    deeper than Python can follow, an integer too long to convert."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise _JsonProblem(error.msg, error.lineno, error.colno) from None
    except RecursionError:
        raise _JsonProblem("nested too deeply (thousands of levels)") from None
    except ValueError as error:  # e.g. an integer of more than 4300 digits
        raise _JsonProblem(str(error).split(";")[0]) from None


def _decode(path: Path, out: RawRows) -> str | None:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        out.issues.append(
            DatasetIssue(
                "dataset.encoding",
                f"is not UTF-8 text (byte 0x{data[error.start]:02x}).",
                str(path),
                line,
                hint="Save the file as UTF-8.",
            )
        )
        return None


def _whole_json(text: str) -> Any:
    """The file as one JSON document when it is one (an array or a pretty-printed object
    saved under a ``.jsonl`` name), else None."""
    first = next((line for line in _lines(text) if line.strip()), "")
    try:
        if isinstance(_parse(first), dict):
            return None  # the first line is an object of its own: JSON Lines
    except _JsonProblem:
        pass
    try:
        return _parse(text)
    except _JsonProblem:
        return None


def _lines(text: str) -> list[str]:
    """JSON Lines' lines: split at "\n" only (with a "\r" before it dropped). JSON text
    may hold U+2028, U+0085 and other characters ``str.splitlines`` breaks at, raw."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def _read_jsonl(path: Path, out: RawRows) -> None:
    text = _decode(path, out)
    if text is None:
        return
    whole = _whole_json(text)
    if isinstance(whole, list | dict):
        _add_json_rows(path, whole, out)
        return
    for number, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        try:
            value = _parse(line)
        except _JsonProblem as error:
            out.issues.append(
                DatasetIssue(
                    "dataset.unreadable_line",
                    f"is not valid JSON at character {error.column}: {error.message}.",
                    str(path),
                    number,
                    hint="Each line must be one JSON object.",
                )
            )
            continue
        if not isinstance(value, dict):
            out.issues.append(
                DatasetIssue(
                    "dataset.not_an_object",
                    f"is a JSON {type(value).__name__}, not an object.",
                    str(path),
                    number,
                    hint='Write each row as {"column": "value", ...}.',
                )
            )
            continue
        out.add(value, number)


def _read_json(path: Path, out: RawRows) -> None:
    text = _decode(path, out)
    if text is None:
        return
    try:
        value = _parse(text)
    except _JsonProblem as error:
        if text.lstrip().startswith("{") and "\n{" in text:
            _read_jsonl(path, out)
            return
        out.issues.append(
            DatasetIssue(
                "dataset.unreadable_line",
                f"is not valid JSON at character {error.column}: {error.message}.",
                str(path),
                error.line,
                hint="Fix the JSON, or write one object per line as .jsonl.",
            )
        )
        return
    _add_json_rows(path, value, out)


def _squad_rows(value: Any) -> list[dict[str, Any]] | None:
    """The official SQuAD JSON (``data[].paragraphs[].qas[]``) as one row per question."""
    articles = value.get("data") if isinstance(value, dict) else None
    if not isinstance(articles, list) or not all(
        isinstance(a, dict) and isinstance(a.get("paragraphs"), list) for a in articles
    ):
        return None
    rows = []
    for article in articles:
        for paragraph in article["paragraphs"]:
            for qa in paragraph.get("qas", []):
                answers = qa.get("answers") or []
                rows.append(
                    {
                        "id": qa.get("id"),
                        "title": article.get("title"),
                        "context": paragraph.get("context"),
                        "question": qa.get("question"),
                        "answers": {
                            "text": [a.get("text") for a in answers],
                            "answer_start": [a.get("answer_start") for a in answers],
                        },
                    }
                )
    return rows


def _add_json_rows(path: Path, value: Any, out: RawRows) -> None:
    """Rows of a JSON document: an array of objects, an object holding one such array, or
    the official SQuAD layout."""
    squad = _squad_rows(value)
    if squad is not None:
        value = squad
    elif isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        value = lists[0] if len(lists) == 1 else [value]
    if not isinstance(value, list):
        out.issues.append(
            DatasetIssue(
                "dataset.not_rows",
                f"holds a single JSON {'null' if value is None else type(value).__name__}, "
                "not rows.",
                str(path),
                1,
                hint='Write a list of objects, [{"column": "value"}, ...], or one object '
                "per line as .jsonl.",
            )
        )
        return
    out.unit = "row"
    for number, row in enumerate(value, start=1):
        if isinstance(row, dict):
            out.add(row, number)
        else:
            out.issues.append(
                DatasetIssue(
                    "dataset.not_an_object",
                    f"is a JSON {type(row).__name__}, not an object.",
                    str(path),
                    number,
                    unit="row",
                )
            )


def _read_csv(path: Path, out: RawRows) -> None:
    text = _decode(path, out)
    if text is None:
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:
            out.issues.append(
                DatasetIssue(
                    "dataset.csv_header",
                    f"has the column {', '.join(repr(n) for n in repeated)} more than once in "
                    "its header, so one would silently replace the other.",
                    str(path),
                    1,
                    hint="Give each column its own name.",
                )
            )
            return
        for row in reader:
            line = reader.line_num
            if None in row or any(v is None for v in row.values()):
                out.issues.append(
                    DatasetIssue(
                        "dataset.csv_fields",
                        f"has a different number of fields than the header "
                        f"({len(reader.fieldnames or [])}).",
                        str(path),
                        line,
                        hint="Quote values that contain commas.",
                    )
                )
                continue
            out.add(dict(row), line)
    except csv.Error as error:
        out.issues.append(
            DatasetIssue(
                "dataset.unreadable_line", f"is not valid CSV: {error}.", str(path), reader.line_num
            )
        )


def _read_parquet(path: Path, out: RawRows) -> None:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises several unrelated types for a bad file
        out.issues.append(
            DatasetIssue(
                "dataset.unreadable", f"is not a readable Parquet file: {error}.", str(path)
            )
        )
        return
    out.unit = "row"
    for number, row in enumerate(table.to_pylist(), start=1):
        out.add(row, number)


_READERS = {
    ".jsonl": _read_jsonl,
    ".json": _read_json,
    ".csv": _read_csv,
    ".parquet": _read_parquet,
}


def _read_saved_dataset(folder: Path, out: RawRows, split: str) -> None:
    from datasets import DatasetDict, load_from_disk

    loaded = load_from_disk(str(folder))
    if isinstance(loaded, DatasetDict):
        if split not in loaded:
            out.issues.append(
                DatasetIssue(
                    "dataset.no_split",
                    f"has no '{split}' split (it has: {', '.join(loaded)}).",
                    str(folder),
                )
            )
            return
        loaded = loaded[split]
    out.unit = "row"
    for number, row in enumerate(loaded, start=1):
        out.add(dict(row), number)


def _read_hub(dataset_id: str, out: RawRows, split: str, subset: str | None) -> None:
    from datasets import load_dataset

    try:
        loaded = load_dataset(dataset_id, subset, split=split)
    except Exception as error:  # network, auth and format errors all surface here
        out.issues.append(
            DatasetIssue(
                "dataset.hub_unavailable",
                f"could not be loaded from the Hub: {type(error).__name__}: {error}",
                dataset_id,
                hint="Check the id and your connection, or give a local file.",
            )
        )
        return
    out.unit = "row"
    for number, row in enumerate(loaded, start=1):
        out.add(dict(row), number)


def read_rows(source: str, *, split: str = "train", subset: str | None = None) -> RawRows:
    """Every row of ``source`` with its line number, and what could not be read.

    ``split`` picks the split of a Hub dataset or a saved DatasetDict folder, ``subset`` a
    Hub dataset's configuration; a file is one split.
    """
    out = RawRows(source)
    path = Path(source)
    if path.is_dir():
        if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
            _read_saved_dataset(path, out, split)
            return out
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES)
        if not files:
            out.issues.append(
                DatasetIssue(
                    "dataset.empty_folder",
                    f"holds no {', '.join(SUPPORTED_SUFFIXES)} file and no saved dataset.",
                    source,
                )
            )
        for file in files:
            part = read_rows(str(file))
            out.unit = part.unit
            out.rows += part.rows
            out.lines += part.lines
            out.issues += part.issues
            out.files.append(str(file))
        return out
    if path.is_absolute() or path.exists():
        if path.exists() and not path.is_file():
            out.issues.append(
                DatasetIssue(
                    "dataset.not_a_file",
                    "is not a regular file (a pipe, a device or a socket), so it cannot be "
                    "read as data.",
                    source,
                    hint="Save the data to a file and give its path.",
                )
            )
            return out
        if not path.exists():
            out.issues.append(
                DatasetIssue(
                    "dataset.missing",
                    "does not exist.",
                    source,
                    hint="Check the path (relative paths are resolved against the "
                    "notebook's folder).",
                )
            )
            return out
        reader = _READERS.get(path.suffix.lower())
        if reader is None:
            out.issues.append(
                DatasetIssue(
                    "dataset.format",
                    f"has the unsupported extension '{path.suffix}'.",
                    source,
                    hint=f"Use one of: {', '.join(SUPPORTED_SUFFIXES)}.",
                )
            )
            return out
        reader(path, out)
        out.files.append(source)
        return out
    _read_hub(source, out, split, subset)
    return out
