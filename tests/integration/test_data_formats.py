"""The dataset formats people download, read as what they mean, trained for two steps.

The samples under tests/data/formats are faithful to how each format ships: Alpaca as
tatsu-lab/alpaca (with its `text` column) and as the original pretty-printed
alpaca_data.json, ShareGPT as LLaMA-Factory and Axolotl read it, TRL's prompt-completion,
a JSON array saved under a .jsonl name, CNN/DailyMail's columns, the official nested SQuAD
JSON, SQuAD v2 rows with unanswerable questions, binary feedback as trl-lib/kto-mix-14k has
it, and conversational prompts with a reference column as trl-lib/DeepMath-103K has them.
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
from modelforge_nb.errors import ConfigError
from modelforge_nb.plan import preview
from modelforge_nb.runs import Workspace

SAMPLES = REPO_ROOT / "tests" / "data" / "formats"
#: sample -> (task, method, the format it is recognised as, the tiny model that trains on it)
FORMATS = {
    "alpaca.jsonl": ("text-generation", "sft", "alpaca", "tiny_causal"),
    "alpaca_data.json": ("text-generation", "sft", "alpaca", "tiny_causal"),
    "array_saved_as.jsonl": ("text-generation", "sft", "alpaca", "tiny_causal"),
    "sharegpt.json": ("text-generation", "sft", "sharegpt", "tiny_causal"),
    "prompt_completion.jsonl": ("text-generation", "sft", "prompt-completion", "tiny_causal"),
    "prompt_completion_conversational.jsonl": (
        "text-generation",
        "sft",
        "conversational-prompt-completion",
        "tiny_causal",
    ),
    "wikitext.jsonl": ("text-generation", "sft", "text", "tiny_causal"),
    "preference_conversational.jsonl": (
        "text-generation",
        "dpo",
        "conversational-preference",
        "tiny_causal",
    ),
    "preference_implicit.jsonl": (
        "text-generation",
        "dpo",
        "implicit-prompt-preference",
        "tiny_causal",
    ),
    "hh_rlhf.jsonl": ("text-generation", "dpo", "implicit-prompt-preference", "tiny_causal"),
    "kto_binary_feedback.jsonl": (
        "text-generation",
        "kto",
        "conversational-binary-feedback",
        "tiny_causal",
    ),
    "cnn_dailymail.jsonl": ("summarization", "sft", "source-target", "tiny_seq2seq"),
    "squad_official.json": ("extractive-question-answering", "sft", "span", "tiny_qa"),
}
TWO_STEPS = {"max_steps": 2, "batch_size": 2, "logging_steps": 1, "save_steps": 100}


def _config(
    name: str, model: Path, task: str = "text-generation", method: str = "sft"
) -> FinetuneConfig:
    return FinetuneConfig(
        task=task, method=method, model=str(model), dataset=str(SAMPLES / name), training=TWO_STEPS
    )


def _sample(name: str, request: pytest.FixtureRequest) -> tuple[FinetuneConfig, str]:
    task, method, data_format, model = FORMATS[name]
    return _config(name, request.getfixturevalue(model), task, method), data_format


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_is_recognised_by_name(name: str, request: pytest.FixtureRequest) -> None:
    config, data_format = _sample(name, request)
    report = check_dataset(config)
    assert report.ok, report.summary()
    assert report.data_format == data_format
    assert report.rows == 12


def test_an_implicit_prompt_is_the_turns_both_answers_share(tiny_causal: Path) -> None:
    task = TASKS["text-generation"]
    for name in ("preference_implicit.jsonl", "hh_rlhf.jsonl"):
        loaded = load_dataset_for(_config(name, tiny_causal, method="dpo"))
        (example, *_) = build_examples(
            loaded.train, loaded.data_format, task, {"kind": "chat_template"}
        )
        assert example["prompt"] == [{"role": "user", "content": "What is five plus five?"}]
        assert example["chosen"] == [{"role": "assistant", "content": "Five plus five is ten."}]
        assert example["rejected"] == [
            {"role": "assistant", "content": "Five plus five is twelve."}
        ]


def test_unanswerable_squad_v2_questions_are_one_error_that_says_how_to_keep_them(
    tiny_qa: Path,
) -> None:
    config = _config("squad_v2.jsonl", tiny_qa, "extractive-question-answering")
    (error,) = check_dataset(config).errors
    assert error.code == "dataset.unanswerable" and error.file.endswith("squad_v2.jsonl")
    assert "2 unanswerable questions (SQuAD v2" in str(error) and "line 3, 8" in str(error)
    assert "allow_no_answer: true" in (error.hint or "") and "remove" in (error.hint or "")


@pytest.mark.slow
def test_unanswerable_questions_train_as_no_answer_when_asked(
    tiny_qa: Path, tmp_path: Path
) -> None:
    config = _config("squad_v2.jsonl", tiny_qa, "extractive-question-answering").model_copy(
        update={"allow_no_answer": True}
    )
    report = check_dataset(config)
    assert report.ok, report.summary()
    shown = preview(config, n=3)
    assert shown[2].line == 3 and shown[2].target == "[CLS]"  # "no answer"
    assert shown[0].target.strip().lower() == "denver broncos"
    run = Workspace(tmp_path).finetune(config, wait=True)
    assert run.status == "completed", run.error


def test_a_split_and_the_eval_split_of_a_saved_dataset(tmp_path: Path, tiny_causal: Path) -> None:
    from datasets import Dataset, DatasetDict

    rows = [json.loads(line) for line in (SAMPLES / "alpaca.jsonl").read_text().splitlines()]
    folder = tmp_path / "saved"
    DatasetDict(
        {"train": Dataset.from_list(rows[:8]), "validation": Dataset.from_list(rows[8:])}
    ).save_to_disk(str(folder))
    config = FinetuneConfig(model=str(tiny_causal), dataset=str(folder), dataset_split="validation")
    assert check_dataset(config).rows == 4
    paired = FinetuneConfig(model=str(tiny_causal), dataset=str(folder), eval_dataset=str(folder))
    report = check_dataset(paired)
    assert (report.rows, report.eval_rows) == (8, 4)
    (error,) = check_dataset(config.model_copy(update={"dataset_split": "test"})).errors
    assert "no 'test' split" in str(error) and "train, validation" in str(error)


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
    whole = build_examples(loaded.train, loaded.data_format, task, {"kind": "chat_template"}, "all")
    for row, example in zip(rows, whole, strict=True):
        expected = tokenizer.apply_chat_template(_sharegpt_as_messages(row), tokenize=False)
        assert tokenizer.apply_chat_template(example["messages"], tokenize=False) == expected
    # Learned answer by answer: one example per assistant turn, its history as the prompt.
    answers = build_examples(loaded.train, loaded.data_format, task, {"kind": "chat_template"})
    turns = [
        (messages[:i], m)
        for messages in map(_sharegpt_as_messages, rows)
        for i, m in enumerate(messages)
        if m["role"] == "assistant"
    ]
    assert [(e["prompt"], e["completion"]) for e in answers] == [(p, [m]) for p, m in turns]
    assert len(answers) == len(rows) + 3  # three of the twelve have a second answer
    pairs = load_dataset_for(_config("prompt_completion.jsonl", tiny_causal))
    examples = build_examples(pairs.train, pairs.data_format, task, {"kind": "chat_template"})
    for row, example in zip(pairs.train, examples, strict=True):
        messages = [{"role": "user", "content": row["prompt"]}]
        expected = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        assert render_prompt({"kind": "chat_template"}, example["prompt"], tokenizer) == expected
    for name in ("prompt_completion_conversational.jsonl", "preference_conversational.jsonl"):
        method = "dpo" if "preference" in name else "sft"
        loaded = load_dataset_for(_config(name, tiny_causal, method=method))
        examples = build_examples(loaded.train, loaded.data_format, task, {"kind": "chat_template"})
        for row, example in zip(loaded.train, examples, strict=True):
            expected = tokenizer.apply_chat_template(
                row["prompt"], tokenize=False, add_generation_prompt=True
            )
            assert (
                render_prompt({"kind": "chat_template"}, example["prompt"], tokenizer) == expected
            )


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
    config, _format = _sample(name, request)
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
    # Reported, it still trains: the four rows learn "no answer" in this window.
    short = config.model_copy(
        update={"training": config.training.model_copy(update={"max_steps": 2})}
    )
    run = Workspace(tmp_path / "home").finetune(short, wait=True)
    assert run.status == "completed", run.error


def _trl_sequences(config: FinetuneConfig, tmp_path: Path, n: int) -> list[dict[str, Any]]:
    """What trl's SFTTrainer itself builds from the same examples: input ids and loss mask."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from modelforge_nb.data import prompt_format_for

    tokenizer = AutoTokenizer.from_pretrained(config.model)
    task = TASKS[config.task]
    loaded = load_dataset_for(config)
    examples = build_examples(
        loaded.train[:n],
        loaded.data_format,
        task,
        prompt_format_for(tokenizer, task),
        config.training.loss_on,
    )[:n]
    answers_only = config.training.loss_on == "answers"
    trainer = SFTTrainer(
        model=config.model,
        args=SFTConfig(
            output_dir=str(tmp_path),
            report_to="none",
            use_cpu=True,
            completion_only_loss=answers_only,
        ),
        train_dataset=Dataset.from_list(examples),
        processing_class=tokenizer,
    )
    return list(trainer.train_dataset)


@pytest.mark.parametrize("loss_on", ["answers", "all"])
@pytest.mark.parametrize(
    "name", ["alpaca.jsonl", "prompt_completion.jsonl", "sharegpt.json", "wikitext.jsonl"]
)
def test_the_preview_is_the_sequence_trl_trains_on(
    name: str, loss_on: str, tiny_causal: Path, tmp_path: Path
) -> None:
    config = _config(name, tiny_causal).model_copy(
        update={"training": FinetuneConfig(model="m", dataset="d").training}
    )
    config.training.loss_on = loss_on  # type: ignore[assignment]
    shown = preview(config, n=3)
    trained = _trl_sequences(config, tmp_path, 3)
    assert len(shown) == 3 and shown[0].line == 1
    if loss_on == "all" or name == "wikitext.jsonl":
        assert all(all(s.loss) for s in shown)
    else:
        assert all(not s.loss[0] and s.loss[-1] for s in shown)
    for seen, sequence in zip(shown, trained, strict=True):
        assert seen.ids == sequence["input_ids"] and seen.cut == 0
        assert seen.loss == [label != -100 for label in sequence["labels"]]
        assert "".join(seen.tokens) == AutoTokenizer.from_pretrained(tiny_causal).decode(seen.ids)


def test_the_alpaca_preview_learns_the_output_and_reads_the_instruction(
    tiny_causal: Path,
) -> None:
    rows = [json.loads(line) for line in (SAMPLES / "alpaca.jsonl").read_text().splitlines()]
    config = _config("alpaca.jsonl", tiny_causal).model_copy(
        update={"training": FinetuneConfig(model="m", dataset="d").training}
    )
    for seen in preview(config, n=5):
        row = rows[seen.line - 1]
        assert row["output"] in seen.target and row["instruction"] not in seen.target
        assert row["instruction"] in seen.text and row["input"] in seen.text
    short = _config("alpaca.jsonl", tiny_causal).model_copy(
        update={
            "training": FinetuneConfig(
                model="m", dataset="d", training={"max_seq_length": 24}
            ).training
        }
    )
    (first,) = preview(short, n=1)
    assert len(first.ids) == 24 and first.cut > 0 and "cut" in str(first)


def test_columns_map_a_datasets_own_names(tmp_path: Path, tiny_causal: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_text("question,answer\nWhat is 2+2?,4\nName a colour.,Blue\n")
    config = FinetuneConfig(
        model=str(tiny_causal),
        dataset=str(path),
        columns={"prompt": "question", "completion": "answer"},
    )
    report = check_dataset(config)
    assert report.ok and report.data_format == "prompt-completion", report.summary()
    (first, _second) = preview(config, n=2)
    assert "What is 2+2?" in first.text and first.target.startswith("4")

    wrong = config.model_copy(update={"columns": {"prompt": "query", "completion": "answer"}})
    (error,) = check_dataset(wrong).errors
    assert error.code == "dataset.mapped_column_missing" and "'query'" in str(error)
    assert "columns.prompt" in str(error)


def test_a_mapping_or_format_the_task_does_not_have_is_a_config_error(tiny_causal: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig.from_dict({"model": "m", "dataset": "d.jsonl", "columns": {"question": "q"}})
    assert "columns.question" in str(caught.value) and "prompt" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig.from_dict({"model": "m", "dataset": "d.jsonl", "dataset_format": "squad"})
    assert "dataset_format" in str(caught.value) and "alpaca" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig.from_dict(
            {"model": "m", "dataset": "d", "method": "dpo", "training": {"loss_on": "all"}}
        )
    assert "training.loss_on" in str(caught.value)


def test_a_forced_format_that_does_not_fit_is_one_error(tiny_causal: Path) -> None:
    config = _config("alpaca.jsonl", tiny_causal).model_copy(update={"dataset_format": "sharegpt"})
    (error,) = check_dataset(config).errors
    assert error.code == "dataset.not_that_format" and "sharegpt" in str(error)
    assert "alpaca.jsonl" in error.file and "columns:" in (error.hint or "")
    forced = _config("alpaca.jsonl", tiny_causal).model_copy(update={"dataset_format": "alpaca"})
    assert check_dataset(forced).data_format == "alpaca"


def test_the_preview_magic_shows_the_examples(tiny_causal: Path, tmp_path: Path) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    from modelforge_nb.magics import ModelForgeMagics
    from modelforge_nb.session import Session

    magics = ModelForgeMagics(InteractiveShell.instance(), Session(tmp_path))
    shown: list[Any] = []
    magics._display = lambda *objects: shown.extend(objects)  # type: ignore[method-assign]
    magics.modelforge("preview 2", f"model: {tiny_causal}\ndataset: {SAMPLES / 'alpaca.jsonl'}\n")
    assert [s.line for s in shown] == [1, 2]
    assert "Give three tips" in shown[0]._repr_html_()


def test_tags_read_conversations_written_with_other_keys_and_speakers(
    tmp_path: Path, tiny_causal: Path
) -> None:
    """LLaMA-Factory's dataset tags: a support log with its own keys and speaker names."""
    rows = [
        {
            "dialog": [
                {"speaker": "customer", "text": f"Is order {n} shipped?"},
                {"speaker": "agent", "text": f"Order {n} left on Monday."},
            ]
        }
        for n in range(12)
    ]
    path = tmp_path / "support.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = FinetuneConfig.from_dict(
        {
            "model": str(tiny_causal),
            "dataset": str(path),
            "columns": {"conversations": "dialog"},
            "tags": {
                "role": "speaker",
                "content": "text",
                "user": "customer",
                "assistant": "agent",
            },
        }
    )
    report = check_dataset(config)
    assert report.ok and report.data_format == "sharegpt", report.summary()
    (first,) = preview(config, n=1)
    assert "Is order 0 shipped?" in first.text and first.target.startswith("Order 0 left")
    untagged = config.model_copy(update={"tags": {}})
    errors = check_dataset(untagged).errors
    assert errors[0].column == "conversations" and errors[0].line == 1
    assert "{from, value}" in str(errors[0])


def test_alpaca_history_comes_before_the_instruction(tmp_path: Path, tiny_causal: Path) -> None:
    row = {
        "instruction": "And in German?",
        "input": "",
        "output": "Der Kessel ist blau.",
        "history": [["Translate 'the kettle is blue' into French.", "La bouilloire est bleue."]],
    }
    path = tmp_path / "multi.jsonl"
    path.write_text(json.dumps(row) + "\n")
    config = FinetuneConfig(model=str(tiny_causal), dataset=str(path))
    assert check_dataset(config).data_format == "alpaca"
    (seen,) = preview(config, n=1)
    tokenizer = AutoTokenizer.from_pretrained(tiny_causal)
    messages = [
        {"role": "user", "content": row["history"][0][0]},
        {"role": "assistant", "content": row["history"][0][1]},
        {"role": "user", "content": row["instruction"]},
    ]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert seen.text.startswith(prompt) and seen.target.startswith("Der Kessel ist blau.")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**row, "history": ["just text"]}) + "\n")
    (error,) = check_dataset(FinetuneConfig(model=str(tiny_causal), dataset=str(bad))).errors
    assert error.column == "history" and "[instruction, answer] pairs" in str(error)


@pytest.mark.slow
def test_text_trains_packed(tiny_causal: Path, tmp_path: Path) -> None:
    config = _config("wikitext.jsonl", tiny_causal)
    packed = config.model_copy(
        update={"training": config.training.model_copy(update={"packing": True})}
    )
    run = Workspace(tmp_path).finetune(packed, wait=True)
    assert run.status == "completed", run.error
    assert run.metrics["global_step"] == 2
