"""Data files as people have them, and as they break: the checker names the file, the
line and what to do, or accepts the data. Never a raw exception, a hang or shifted lines."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelforge_nb.config import FinetuneConfig
from modelforge_nb.data import check_dataset, load_dataset_for
from modelforge_nb.data.checks import DatasetReport
from modelforge_nb.errors import DatasetError
from tests.robustness.conftest import sweep_examples

#: (task, method) pairs whose formats the sweep writes rows for.
TASK_METHODS = [
    ("text-generation", "sft"),
    ("text-generation", "dpo"),
    ("summarization", "sft"),
    ("extractive-question-answering", "sft"),
]
COLUMNS = [
    "instruction",
    "input",
    "output",
    "system",
    "history",
    "prompt",
    "completion",
    "messages",
    "conversations",
    "text",
    "chosen",
    "rejected",
    "document",
    "summary",
    "article",
    "highlights",
    "question",
    "context",
    "answers",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**80), 2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["user", "assistant", "system", "human", "gpt", "", " "]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(["role", "content", "from", "value", "text", "answer_start", "x"]),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)
rows = st.dictionaries(st.sampled_from(COLUMNS), values, min_size=1, max_size=5)


def _report(path: Path, task: str = "text-generation", method: str = "sft") -> DatasetReport:
    config = FinetuneConfig(model="org/model", dataset=str(path), task=task, method=method)
    report = check_dataset(config)
    for issue in [*report.errors, *report.warnings]:
        assert issue.code.startswith("dataset.") and issue.file, issue
    if not report.ok:
        with pytest.raises(DatasetError):
            load_dataset_for(config)
    return report


@settings(
    max_examples=sweep_examples(200),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(rows, min_size=1, max_size=4), st.sampled_from(TASK_METHODS))
def test_any_rows_in_any_format_are_accepted_or_named(
    tmp_path: Path, data: list[dict[str, Any]], task_method: tuple[str, str]
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(
        "\n".join(json.dumps(row, ensure_ascii=False) for row in data) + "\n", encoding="utf-8"
    )
    _report(path, *task_method)
    as_json = tmp_path / "rows.json"
    as_json.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    _report(as_json, *task_method)


@settings(
    max_examples=sweep_examples(200),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.binary(max_size=300), st.sampled_from([".jsonl", ".json", ".csv", ".parquet"]))
def test_any_bytes_under_any_data_name_are_refused_by_name_or_read(
    tmp_path: Path, content: bytes, suffix: str
) -> None:
    path = tmp_path / f"data{suffix}"
    path.write_bytes(content)
    _report(path)


def _one_error(path: Path, **config: str) -> Any:
    report = _report(path, **config)
    assert not report.ok
    return report.errors[0]


@pytest.mark.parametrize("role", [["user"], {"name": "user"}, 7, None])
def test_issue_a_role_that_is_not_text_is_named(tmp_path: Path, role: Any) -> None:
    messages = tmp_path / "chat.jsonl"
    turns = [{"role": role, "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    good = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    messages.write_text(
        json.dumps({"messages": good}) + "\n" + json.dumps({"messages": turns}) + "\n",
        encoding="utf-8",
    )
    error = _one_error(messages)
    assert (error.line, error.column, error.code) == (2, "messages", "dataset.bad_value")
    assert "message 1 has role" in error.message
    sharegpt = tmp_path / "sharegpt.jsonl"
    sharegpt.write_text(
        json.dumps(
            {"conversations": [{"from": role, "value": "Hi"}, {"from": "gpt", "value": "x"}]}
        )
        + "\n",
        encoding="utf-8",
    )
    assert _one_error(sharegpt).line == 1
    tagged = FinetuneConfig(model="org/model", dataset=str(messages), tags={"user": "customer"})
    assert not check_dataset(tagged).ok


@pytest.mark.parametrize(("content", "kind"), [("42", "int"), ("null", "null"), ('"x"', "str")])
def test_issue_a_json_file_holding_one_value_is_named(
    tmp_path: Path, content: str, kind: str
) -> None:
    path = tmp_path / "data.json"
    path.write_text(content, encoding="utf-8")
    error = _one_error(path)
    assert error.code == "dataset.not_rows" and kind in error.message


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_issue_nesting_a_hundred_thousand_deep_is_named_with_its_line(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"deep{suffix}"
    good = json.dumps({"text": "fine"})
    path.write_text(good + "\n" + '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    error = _one_error(path)
    assert "nested too deeply" in error.message
    if suffix == ".jsonl":
        assert error.line == 2


def test_issue_a_ten_thousand_digit_integer_is_named(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_text(
        json.dumps({"text": "ok"}) + "\n" + '{"text": "a", "n": ' + "9" * 10_000 + "}\n",
        encoding="utf-8",
    )
    error = _one_error(path)
    assert error.line == 2 and "digits" in error.message


def test_issue_parquet_with_timestamps_in_structs_checks_duplicates(tmp_path: Path) -> None:
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    when = datetime.datetime(2026, 1, 2, 3, 4, 5)
    row = {"text": "same", "meta": {"at": when, "source": "crawl"}}
    pq.write_table(
        pa.Table.from_pylist([row, row, {**row, "text": "other"}]), tmp_path / "d.parquet"
    )
    report = _report(tmp_path / "d.parquet")
    assert report.ok and report.rows == 3
    assert [w.code for w in report.warnings if w.code == "dataset.duplicates"]


def test_issue_a_fifo_named_like_data_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "x.jsonl"
    os.mkfifo(fifo)
    found: list[Any] = []
    checker = threading.Thread(target=lambda: found.append(_one_error(fifo)), daemon=True)
    checker.start()
    checker.join(timeout=30)
    if checker.is_alive():  # free the thread before failing: open the pipe's other end
        with fifo.open("w"):
            pass
    assert found, "checking a FIFO hung"
    assert found[0].code == "dataset.not_a_file"


def test_issue_jsonl_lines_split_at_newline_only(tmp_path: Path) -> None:
    """U+2028, U+2029 and U+0085 inside strings are written raw by ensure_ascii=False."""
    rows = [
        {"prompt": "a\u2028b", "completion": "c\u0085d"},
        {"prompt": "e\u2029f", "completion": "g"},
        {"prompt": "h\x1ci", "completion": "j\x0bk"},
    ]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    path = tmp_path / "raw.jsonl"
    path.write_text(text + "{broken\n", encoding="utf-8")
    report = _report(path)
    assert [(e.line, e.code) for e in report.errors] == [(4, "dataset.unreadable_line")]
    path.write_text(text.replace("\n", "\r\n"), encoding="utf-8")
    report = _report(path)
    assert report.ok and report.rows == 3
    data = load_dataset_for(FinetuneConfig(model="org/model", dataset=str(path)))
    assert data.train[0]["prompt"] == "a\u2028b"


def test_issue_a_csv_with_a_repeated_column_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("prompt,completion,prompt\nq,a,other\n", encoding="utf-8")
    error = _one_error(path)
    assert (error.code, error.line) == ("dataset.csv_header", 1)
    assert "'prompt'" in error.message


def test_issue_preflight_measures_a_huge_row_only_as_far_as_it_must(
    tmp_path: Path, tiny_causal: Path
) -> None:
    """One 20 MB row among short ones: counted as too long, named, in seconds, not minutes."""
    import time

    from transformers import AutoTokenizer

    path = tmp_path / "long.jsonl"
    rows = [{"prompt": f"q{i}", "completion": "short answer"} for i in range(20)]
    rows[3] = {"prompt": "What?", "completion": "word " * 4_000_000}
    rows[7] = {"prompt": "And?", "completion": "word " * 1_000}
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_causal))
    for length in ("auto", 128):
        config = FinetuneConfig(
            model=str(tiny_causal), dataset=str(path), training={"max_seq_length": length}
        )
        started = time.monotonic()
        report = check_dataset(config, tokenizer=tokenizer)
        assert time.monotonic() - started < 30
        (warning,) = [w for w in report.warnings if w.code == "dataset.too_long"]
        assert "has 2 rows longer than" in warning.message
        assert "the first at line 4, 8" in warning.message
        assert "the longest text is line 4 (20,000,0" in warning.message
