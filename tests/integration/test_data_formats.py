"""The dataset formats people download, read as what they mean, trained for two steps.

The samples under tests/data/formats are faithful to how each format ships: Alpaca as
tatsu-lab/alpaca (with its `text` column) and as the original pretty-printed
alpaca_data.json, ShareGPT as LLaMA-Factory and Axolotl read it, TRL's prompt-completion,
a JSON array saved under a .jsonl name, CNN/DailyMail's columns, the official nested SQuAD
JSON, and SQuAD v2 rows with unanswerable questions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from repo_paths import REPO_ROOT
from transformers import AutoTokenizer

from modelforge_nb.config import TASKS, FinetuneConfig
from modelforge_nb.data import build_examples, check_dataset, load_dataset_for
from modelforge_nb.data.format import render_prompt
from modelforge_nb.runs import Workspace

SAMPLES = REPO_ROOT / "tests" / "data" / "formats"
#: sample -> (task, the format it is recognised as, the tiny model that trains on it)
FORMATS = {
    "alpaca.jsonl": ("text-generation", "alpaca", "tiny_causal"),
    "alpaca_data.json": ("text-generation", "alpaca", "tiny_causal"),
    "array_saved_as.jsonl": ("text-generation", "alpaca", "tiny_causal"),
    "sharegpt.json": ("text-generation", "sharegpt", "tiny_causal"),
    "prompt_completion.jsonl": ("text-generation", "prompt-completion", "tiny_causal"),
    "cnn_dailymail.jsonl": ("summarization", "source-target", "tiny_seq2seq"),
    "squad_official.json": ("extractive-question-answering", "span", "tiny_qa"),
}
TWO_STEPS = {"max_steps": 2, "batch_size": 2, "logging_steps": 1, "save_steps": 100}


def _config(name: str, model: Path, task: str = "text-generation") -> FinetuneConfig:
    return FinetuneConfig(
        task=task, model=str(model), dataset=str(SAMPLES / name), training=TWO_STEPS
    )


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_is_recognised_by_name(name: str, request: pytest.FixtureRequest) -> None:
    task, data_format, model = FORMATS[name]
    report = check_dataset(_config(name, request.getfixturevalue(model), task))
    assert report.ok, report.summary()
    assert report.data_format == data_format
    assert report.rows == 12


def test_unanswerable_squad_v2_questions_are_named_with_what_to_do(tiny_qa: Path) -> None:
    report = check_dataset(_config("squad_v2.jsonl", tiny_qa, "extractive-question-answering"))
    assert [(e.line, e.column) for e in report.errors] == [(3, "answers"), (8, "answers")]
    assert all("unanswerable" in str(e) and "Remove" in str(e) for e in report.errors)


def test_alpaca_rows_keep_their_instruction_and_input(tiny_causal: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_causal)
    loaded = load_dataset_for(_config("alpaca.jsonl", tiny_causal))
    task = TASKS["text-generation"]
    chat = build_examples(loaded.train, loaded.data_format, task, {"kind": "chat_template"})
    plain_format = {"kind": "plain", "template": "### Instruction:\n{prompt}\n\n### Response:\n"}
    plain = build_examples(loaded.train, loaded.data_format, task, plain_format)
    for row, in_chat, in_plain in zip(loaded.train, chat, plain, strict=True):
        rendered = render_prompt({"kind": "chat_template"}, in_chat["prompt"], tokenizer)
        for text in (rendered, in_plain["prompt"]):
            assert row["instruction"] in text
            assert row["input"] in text  # empty inputs are accepted, and add nothing
        assert in_chat["completion"] == [{"role": "assistant", "content": row["output"]}]
        assert in_plain["completion"] == row["output"]
    with_input = next(r for r in loaded.train if r["input"])
    user_turn = next(e for e in chat if with_input["instruction"] in e["prompt"][-1]["content"])
    assert user_turn["prompt"][-1]["content"] == (
        f"{with_input['instruction']}\n\n{with_input['input']}"
    )


def _sharegpt_as_messages(row: dict[str, Any]) -> list[dict[str, str]]:
    roles = {"system": "system", "human": "user", "gpt": "assistant"}
    return [{"role": roles[t["from"]], "content": t["value"]} for t in row["conversations"]]


def test_chat_formats_render_as_the_chat_template_renders_their_messages(
    tiny_causal: Path,
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_causal)
    task = TASKS["text-generation"]
    rows = json.loads((SAMPLES / "sharegpt.json").read_text())
    loaded = load_dataset_for(_config("sharegpt.json", tiny_causal))
    examples = build_examples(loaded.train, loaded.data_format, task, {"kind": "chat_template"})
    for row, example in zip(rows, examples, strict=True):
        expected = tokenizer.apply_chat_template(_sharegpt_as_messages(row), tokenize=False)
        assert tokenizer.apply_chat_template(example["messages"], tokenize=False) == expected
    pairs = load_dataset_for(_config("prompt_completion.jsonl", tiny_causal))
    examples = build_examples(pairs.train, pairs.data_format, task, {"kind": "chat_template"})
    for row, example in zip(pairs.train, examples, strict=True):
        messages = [{"role": "user", "content": row["prompt"]}]
        expected = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        assert render_prompt({"kind": "chat_template"}, example["prompt"], tokenizer) == expected


def test_an_unknown_sharegpt_speaker_is_one_clear_error(tmp_path: Path, tiny_causal: Path) -> None:
    rows = json.loads((SAMPLES / "sharegpt.json").read_text())
    rows[3]["conversations"][0]["from"] = "bot"
    path = tmp_path / "chats.json"
    path.write_text(json.dumps(rows))
    config = FinetuneConfig(model=str(tiny_causal), dataset=str(path))
    report = check_dataset(config)
    (error,) = report.errors
    assert error.column == "conversations" and error.line == 4
    assert "'bot'" in str(error) and "human" in str(error)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_trains_two_steps(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    task, _format, model = FORMATS[name]
    config = _config(name, request.getfixturevalue(model), task)
    run = Workspace(tmp_path).finetune(config, wait=True)
    assert run.status == "completed", run.error
    assert run.metrics["global_step"] == 2


def test_qa_answers_past_the_window_are_counted_in_preflight(tmp_path: Path, tiny_qa: Path) -> None:
    """An answer the model never sees would train as "no answer": preflight names them."""
    from modelforge_nb.plan import preflight

    filler = " ".join(["The hall was quiet and the lamps were low."] * 5)
    rows = []
    for index in range(12):
        far = index % 3 == 0  # rows 1, 4, 7, 10
        context = f"{filler} The key is in the drawer." if far else "The key is in the drawer."
        rows.append(
            {
                "context": context,
                "question": "Where is the key?",
                "answers": {"text": ["the drawer"], "answer_start": [context.index("the drawer")]},
            }
        )
    path = tmp_path / "far.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = FinetuneConfig(
        task="extractive-question-answering",
        model=str(tiny_qa),
        dataset=str(path),
        training={"max_seq_length": 64},
    )
    report = preflight(config)
    (warning,) = [w for w in report.warnings if w.code == "dataset.answer_past_window"]
    assert "4 of 12 rows" in str(warning) and "line 1, 4, 7, 10" in str(warning)
    assert "max_seq_length" in str(warning)
    wide = config.model_copy(
        update={"training": config.training.model_copy(update={"max_seq_length": 256})}
    )
    assert "dataset.answer_past_window" not in {w.code for w in preflight(wide).warnings}
