"""Dataset reading and checking: every format, every error, named by file, line and column."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from modelforge_nb.config import FinetuneConfig
from modelforge_nb.data import check_dataset, load_dataset_for
from modelforge_nb.errors import DatasetError

ROWS = [{"input": f"question {i}", "output": f"answer {i}"} for i in range(6)]


def _config(dataset: Path | str, **extra: Any) -> FinetuneConfig:
    return FinetuneConfig.from_dict({"model": "org/model", "dataset": str(dataset), **extra})


def _jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_jsonl(tmp_path: Path) -> None:
    report = check_dataset(_config(_jsonl(tmp_path / "d.jsonl", ROWS)))
    assert report.ok and report.rows == 6 and report.data_format == "prompt-completion"


def test_json_list_and_wrapped(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(ROWS), encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps({"data": ROWS}), encoding="utf-8")
    for name in ("a.json", "b.json"):
        report = check_dataset(_config(tmp_path / name))
        assert report.ok and report.rows == 6


def test_csv(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["output", "input"])
        writer.writeheader()
        writer.writerows(ROWS)
    report = check_dataset(_config(path))
    assert report.ok and report.rows == 6


def test_parquet_and_saved_dataset_and_folder(tmp_path: Path) -> None:
    import datasets

    table = datasets.Dataset.from_list(ROWS)
    table.to_parquet(str(tmp_path / "d.parquet"))
    table.save_to_disk(str(tmp_path / "saved"))
    datasets.DatasetDict({"train": table}).save_to_disk(str(tmp_path / "saved_dict"))
    folder = tmp_path / "folder"
    folder.mkdir()
    _jsonl(folder / "part1.jsonl", ROWS[:3])
    _jsonl(folder / "part2.jsonl", ROWS[3:])
    for source in ("d.parquet", "saved", "saved_dict", "folder"):
        report = check_dataset(_config(tmp_path / source))
        assert report.ok, (source, report.summary())
        assert report.rows == 6


def test_hub_id_unreachable_is_a_clear_error() -> None:
    report = check_dataset(_config("someone/no-such-dataset"))
    assert not report.ok
    (issue,) = report.errors
    assert issue.code == "dataset.hub_unavailable"
    assert "someone/no-such-dataset" in str(issue)


def test_summarization_columns_by_name_never_by_order(tmp_path: Path) -> None:
    rows = [{"summary": f"s {i}", "article": f"a long article {i}"} for i in range(3)]
    config = _config(_jsonl(tmp_path / "s.jsonl", rows), task="summarization")
    loaded = load_dataset_for(config)
    assert loaded.data_format.columns == {"article": "source", "summary": "target"}
    from modelforge_nb.config import TASKS

    example = TASKS["summarization"].to_example(loaded.data_format, loaded.train[0], chat=False)
    assert example == {"source": "a long article 0", "target": "s 0"}


def test_errors_name_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"input": "fine", "output": "fine"}),
                "{not json",
                json.dumps([1, 2]),
                json.dumps({"input": 3, "output": "x"}),
                json.dumps({"input": "   ", "output": "x"}),
                json.dumps({"output": "x", "input": None}),
                json.dumps({"output": "x"}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    report = check_dataset(_config(path))
    found = {(e.line, e.column, e.code) for e in report.errors}
    assert found == {
        (2, None, "dataset.unreadable_line"),
        (3, None, "dataset.not_an_object"),
        (4, "input", "dataset.bad_value"),
        (5, "input", "dataset.bad_value"),
        (6, "input", "dataset.bad_value"),
        (7, "input", "dataset.missing_column"),
    }
    text = report.summary()
    assert f"{path}, line 4, column 'input': is a number (3), not text." in text
    assert f"{path}, line 5, column 'input': is empty." in text
    with pytest.raises(DatasetError) as caught:
        load_dataset_for(_config(path))
    assert "line 2" in str(caught.value)


def test_wrong_columns_say_what_the_task_needs(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "d.jsonl", [{"question": "q", "reply": "a"}])
    report = check_dataset(_config(path))
    (issue,) = report.errors
    assert issue.code == "dataset.columns"
    assert "['question', 'reply']" in issue.message
    assert "`input`" in str(issue) and "`messages`" in str(issue)


def test_extra_columns_and_duplicates_are_warnings(tmp_path: Path) -> None:
    rows = [{**ROWS[0], "source": "x"}, {**ROWS[0], "source": "y"}, {**ROWS[1], "source": "z"}]
    report = check_dataset(_config(_jsonl(tmp_path / "d.jsonl", rows)))
    assert report.ok
    codes = {w.code for w in report.warnings}
    assert codes == {"dataset.extra_columns", "dataset.duplicates"}
    assert "line 2" in str(next(w for w in report.warnings if w.code == "dataset.duplicates"))


def test_wrong_encoding_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    good = json.dumps(ROWS[0]).encode() + b"\n"
    path.write_bytes(good + '{"input": "caf\u00e9", "output": "x"}\n'.encode("latin-1"))
    (issue,) = check_dataset(_config(path)).errors
    assert issue.code == "dataset.encoding" and issue.line == 2
    assert "UTF-8" in str(issue)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    (issue,) = check_dataset(_config(tmp_path / "empty.jsonl")).errors
    assert issue.code == "dataset.empty"
    (missing,) = check_dataset(_config(tmp_path / "nope.jsonl")).errors
    assert missing.code == "dataset.missing"
    (tmp_path / "data.xlsx").write_text("x", encoding="utf-8")
    (unsupported,) = check_dataset(_config(tmp_path / "data.xlsx")).errors
    assert unsupported.code == "dataset.format"


def test_csv_with_a_broken_row(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("input,output\nq,a\nq2,a2,extra\n", encoding="utf-8")
    (issue,) = check_dataset(_config(path)).errors
    assert (issue.code, issue.line) == ("dataset.csv_fields", 3)


def test_error_count_is_capped_with_the_rest_counted(tmp_path: Path) -> None:
    rows = [{"input": i, "output": "x"} for i in range(50)]
    report = check_dataset(_config(_jsonl(tmp_path / "d.jsonl", rows)), max_errors=10)
    assert len(report.errors) == 10 and report.errors_not_shown == 40
    assert "40 more errors" in report.summary()


def test_chat_messages_are_checked(tmp_path: Path) -> None:
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    no_answer = {"messages": [{"role": "user", "content": "hi"}]}
    bad_role = {
        "messages": [{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "x"}]
    }
    report = check_dataset(_config(_jsonl(tmp_path / "c.jsonl", [good, no_answer, bad_role])))
    assert report.data_format == "messages"
    assert [(e.line, e.column) for e in report.errors] == [(2, "messages"), (3, "messages")]
    assert "assistant" in str(report.errors[0]) and "robot" in str(report.errors[1])


def test_preference_and_span_data(tmp_path: Path) -> None:
    dpo = _jsonl(tmp_path / "p.jsonl", [{"prompt": "p", "chosen": "c", "rejected": ""}])
    (issue,) = check_dataset(_config(dpo, method="dpo")).errors
    assert issue.column == "rejected"
    qa_rows = [
        {
            "context": "The cat sat.",
            "question": "Who sat?",
            "answers": {"text": ["cat"], "answer_start": [4]},
        },
        {
            "context": "The cat sat.",
            "question": "Who sat?",
            "answers": {"text": ["cat"], "answer_start": [0]},
        },
    ]
    report = check_dataset(
        _config(_jsonl(tmp_path / "q.jsonl", qa_rows), task="extractive-question-answering")
    )
    (span,) = report.errors
    assert (span.line, span.column) == (2, "answers")
    assert "not at position 0" in span.message
    plain = [{"context": "The cat sat.", "question": "Who?", "answer": "dog"}]
    report = check_dataset(
        _config(_jsonl(tmp_path / "a.jsonl", plain), task="extractive-question-answering")
    )
    assert "does not occur in the context" in str(report.errors[0])


def test_eval_fraction_holds_out_a_seeded_share(tmp_path: Path) -> None:
    rows = [{"input": f"q{i}", "output": f"a{i}"} for i in range(20)]
    config = _config(_jsonl(tmp_path / "d.jsonl", rows), eval_fraction=0.25)
    first, second = load_dataset_for(config), load_dataset_for(config)
    assert first.eval is not None and len(first.eval) == 5 and len(first.train) == 15
    assert first.eval == second.eval
    assert not {r["input"] for r in first.eval} & {r["input"] for r in first.train}
