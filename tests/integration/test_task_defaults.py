"""Every task's default config on the tiny models and example data validates and checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoConfig, AutoTokenizer

from modelforge_nb.config import TASKS, FinetuneConfig
from modelforge_nb.data import build_examples, check_dataset, load_dataset_for, prompt_format_for
from modelforge_nb.data.format import render_prompt, seq2seq_features, span_features

CASES = [
    ("text-generation", "sft", "tiny_causal", "sft"),
    ("text-generation", "sft", "tiny_causal", "chat"),
    ("text-generation", "dpo", "tiny_causal", "dpo"),
    ("summarization", "sft", "tiny_seq2seq", "summarization"),
    ("extractive-question-answering", "sft", "tiny_qa", "qa"),
]


@pytest.mark.parametrize(("task", "method", "model_fixture", "data"), CASES)
def test_default_config_validates_and_data_checks(
    task: str,
    method: str,
    model_fixture: str,
    data: str,
    tiny_data: dict[str, Path],
    request: pytest.FixtureRequest,
) -> None:
    model: Path = request.getfixturevalue(model_fixture)
    config = FinetuneConfig(
        task=task,
        method=method,
        model=str(model),
        dataset=str(tiny_data[data]),
        eval_dataset=str(tiny_data[f"{data}_eval"]),
    )
    tokenizer = AutoTokenizer.from_pretrained(model)
    report = check_dataset(config, tokenizer=tokenizer)
    assert report.ok, report.summary()
    assert report.rows > 0 and report.eval_rows > 0
    assert AutoConfig.from_pretrained(model).model_type in TASKS[task].architectures()


def test_too_long_rows_are_counted_with_a_tokenizer(
    tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    config = FinetuneConfig(
        model=str(tiny_causal), dataset=str(tiny_data["sft"]), training={"max_seq_length": 8}
    )
    report = check_dataset(config, tokenizer=AutoTokenizer.from_pretrained(tiny_causal))
    (warning,) = [w for w in report.warnings if w.code == "dataset.too_long"]
    assert "max_seq_length (8 tokens)" in warning.message
    assert "the first at line 1, 2, 3, 4, 5;" in warning.message


def test_prompt_format_follows_the_tokenizer(tiny_causal: Path, tiny_data: dict[str, Path]) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_causal)
    task = TASKS["text-generation"]
    config = FinetuneConfig(model=str(tiny_causal), dataset=str(tiny_data["sft"]))
    loaded = load_dataset_for(config)
    chat_format = prompt_format_for(tokenizer, task)
    assert chat_format == {"kind": "chat_template"}
    example = build_examples(loaded.train[:1], loaded.data_format, task, chat_format)[0]
    assert example["prompt"][0]["role"] == "user"
    tokenizer.chat_template = None
    plain_format = prompt_format_for(tokenizer, task)
    plain = build_examples(loaded.train[:1], loaded.data_format, task, plain_format)[0]
    assert plain["prompt"].startswith("### Instruction:\n") and plain["prompt"].endswith(
        "### Response:\n"
    )
    messages = [{"role": "user", "content": loaded.train[0]["input"]}]
    assert render_prompt(plain_format, messages, tokenizer) == plain["prompt"]


def test_seq2seq_labels_are_the_summary_alone(tiny_seq2seq: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_seq2seq)
    features = seq2seq_features(
        [{"source": "The goat from Tilden won the chess final.", "target": "The goat won."}],
        tokenizer,
        max_source_length=64,
        max_target_length=16,
    )
    assert tokenizer.decode(features["labels"][0], skip_special_tokens=True) == "The goat won."


def test_span_positions_point_at_the_answer(tiny_qa: Path, tiny_data: dict[str, Path]) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_qa)
    config = FinetuneConfig(
        task="extractive-question-answering", model=str(tiny_qa), dataset=str(tiny_data["qa"])
    )
    loaded = load_dataset_for(config)
    task = TASKS[config.task]
    examples = build_examples(loaded.train[:20], loaded.data_format, task, {"kind": "span"})
    features = span_features(examples, tokenizer, max_length=64)
    for index, example in enumerate(examples):
        start, end = features["start_positions"][index], features["end_positions"][index]
        ids = features["input_ids"][index][start : end + 1]
        assert tokenizer.decode(ids).lower() == example["answer"].lower()
