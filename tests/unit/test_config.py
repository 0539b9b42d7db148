"""FinetuneConfig: one schema, cross-field rules, paths, and errors that name fields."""

from __future__ import annotations

import inspect
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelforge_nb.config import TASK_NAMES, TASKS, FinetuneConfig, config_schema, get_task
from modelforge_nb.errors import ConfigError, ModelForgeError

BASE: dict[str, Any] = {"model": "org/some-model", "dataset": "train.jsonl"}


def _problem_fields(error: ConfigError) -> set[str | None]:
    return {p.field for p in error.problems}


@pytest.mark.parametrize("alpha", [4, 8, 16, 32, 128, 0.5, 1e-3])
def test_audit_03_lora_alpha_any_positive(alpha: float) -> None:
    config = FinetuneConfig.from_dict({**BASE, "lora": {"r": 8, "alpha": alpha}})
    assert config.lora.alpha == alpha
    assert config.lora.r == 8


@pytest.mark.parametrize("alpha", [0, -1, "abc", None])
def test_audit_03_lora_alpha_refused_naming_alpha(alpha: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig.from_dict({**BASE, "lora": {"r": 8, "alpha": alpha}})
    assert _problem_fields(caught.value) == {"lora.alpha"}
    assert "lora.alpha" in str(caught.value)
    with pytest.raises(ConfigError) as direct:
        FinetuneConfig(**BASE, lora={"r": 8, "alpha": alpha})
    assert isinstance(direct.value, ValueError)
    assert _problem_fields(direct.value) == {"lora.alpha"}
    assert str(direct.value) == str(caught.value)


def test_audit_04_cross_field_rules_ignore_field_order() -> None:
    """The verdict is the same in every key order, with defaults applied."""
    fields: dict[str, Any] = {
        **BASE,
        "adapter": "qlora",
        "training": {"eval_steps": 5},
        "method": "sft",
        "task": "text-generation",
    }
    verdicts = set()
    for order in itertools.permutations(fields):
        with pytest.raises(ConfigError) as caught:
            FinetuneConfig.from_dict({k: fields[k] for k in order})
        verdicts.add(frozenset(_problem_fields(caught.value)))
    assert verdicts == {frozenset({"training.eval_steps"})}
    fixed = {**fields, "eval_fraction": 0.1}
    for order in itertools.permutations(fixed):
        config = FinetuneConfig.from_dict({k: fixed[k] for k in order})
        assert config.quantization is not None and config.quantization.bits == 4


def test_audit_04_rule_reads_defaults_not_raw_input() -> None:
    """logging_steps defaults to 1: a rule comparing it with max_steps sees the default."""
    config = FinetuneConfig.from_dict({**BASE, "training": {"max_steps": 1}})
    assert config.training.logging_steps == 1
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig.from_dict({**BASE, "training": {"logging_steps": 10, "max_steps": 3}})
    assert _problem_fields(caught.value) == {"training.logging_steps"}


def test_audit_05_one_task_table() -> None:
    assert set(TASK_NAMES) == {"text-generation", "summarization", "extractive-question-answering"}
    for name in TASK_NAMES:
        config = FinetuneConfig.from_dict({**BASE, "task": name})
        assert get_task(config.task) is TASKS[name]
    schema = config_schema()
    assert schema["properties"]["task"]["enum"] == list(TASK_NAMES)


def test_audit_05_unknown_task_lists_valid_names() -> None:
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig.from_dict({**BASE, "task": "text_generation"})
    assert _problem_fields(caught.value) == {"task"}
    for name in TASK_NAMES:
        assert name in str(caught.value)
    with pytest.raises(ConfigError) as direct:
        get_task("summarisation")
    assert direct.value.field == "task"
    assert "summarization" in str(direct.value)


def test_method_must_fit_the_task() -> None:
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig.from_dict({**BASE, "task": "summarization", "method": "dpo"})
    assert _problem_fields(caught.value) == {"method"}
    assert "sft" in str(caught.value)


def test_qlora_gets_quantization_and_others_refuse_it() -> None:
    config = FinetuneConfig.from_dict({**BASE, "adapter": "qlora"})
    assert config.quantization is not None
    assert (config.quantization.bits, config.quantization.quant_type) == (4, "nf4")
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig.from_dict({**BASE, "adapter": "lora", "quantization": {"bits": 4}})
    assert _problem_fields(caught.value) == {"quantization"}
    with pytest.raises(ConfigError) as clash:
        FinetuneConfig.from_dict(
            {
                **BASE,
                "adapter": "qlora",
                "quantization": {"compute_dtype": "float16"},
                "training": {"precision": "bf16"},
            }
        )
    assert _problem_fields(clash.value) == {"quantization.compute_dtype"}


def test_several_cross_field_problems_are_listed_together() -> None:
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig.from_dict(
            {
                **BASE,
                "task": "summarization",
                "method": "dpo",
                "eval_dataset": "e.jsonl",
                "eval_fraction": 0.1,
                "training": {"packing": True},
            }
        )
    assert _problem_fields(caught.value) == {"method", "eval_fraction", "training.packing"}


def test_audit_10_every_entry_point_uses_the_one_schema(tmp_path: Path) -> None:
    bad = {**BASE, "training": {"batch_size": 0}}
    with pytest.raises(ConfigError):
        FinetuneConfig(**bad)
    with pytest.raises(ConfigError):
        FinetuneConfig.from_dict(bad)
    with pytest.raises(ConfigError):
        FinetuneConfig.from_yaml(json.dumps(bad))
    path = tmp_path / "run.yaml"
    path.write_text("model: m\ndataset: d.jsonl\ntraining:\n  batch_size: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig.from_file(path)
    assert _problem_fields(caught.value) == {"training.batch_size"}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("model: [", "line 1"),
        ("model: m\n  dataset: x\n bad", "line 2"),
        ("", "empty"),
        ("- a\n- b", "mapping"),
        ("just text", "mapping"),
        ("1: 2", "text"),
    ],
)
def test_bad_yaml_is_a_config_error_naming_the_line(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig.from_yaml(text)
    assert needle in str(caught.value)


def test_unknown_field_suggests_the_close_one() -> None:
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig.from_dict({**BASE, "lora": {"alhpa": 16}, "trainig": {}})
    message = str(caught.value)
    assert "lora.alhpa" in message and "Did you mean 'alpha'" in message
    assert "Did you mean 'training'" in message


def test_audit_14_paths_resolved_once_against_the_notebook_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text('{"input": "a", "output": "b"}\n', encoding="utf-8")
    (tmp_path / "model").mkdir()
    config = FinetuneConfig.from_yaml(
        "model: model\ndataset: data/train.jsonl\noutput_root: out\neval_dataset: ./e.jsonl",
        base_dir=tmp_path,
    )
    assert config.model == str(tmp_path / "model")
    assert config.dataset == str(data / "train.jsonl")
    assert config.output_root == str(tmp_path / "out")
    assert config.eval_dataset == str(tmp_path / "e.jsonl")
    hub = FinetuneConfig.from_dict({"model": "HuggingFaceTB/SmolLM2-135M", "dataset": "org/set"})
    assert hub.model == "HuggingFaceTB/SmolLM2-135M"
    assert hub.dataset == "org/set"
    embedded = FinetuneConfig.from_dict({**BASE, "model": "modelforge:smollm2-135m-instruct"})
    assert embedded.model == "modelforge:smollm2-135m-instruct"
    # Another process in another folder sees the same files.
    probe = (
        "import json, sys, pathlib; from modelforge_nb.config import FinetuneConfig; "
        "c = FinetuneConfig.model_validate(json.loads(sys.argv[1])); "
        "print(pathlib.Path(c.dataset).is_file(), pathlib.Path(c.model).is_dir())"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(config.to_dict())],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["True", "True"]


def test_config_file_paths_resolve_against_its_folder(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    path = tmp_path / "cfg" / "run.yaml"
    path.write_text("model: m/n\ndataset: ../train.jsonl\n", encoding="utf-8")
    assert FinetuneConfig.from_file(path).dataset == str(tmp_path / "train.jsonl")


def test_round_trips() -> None:
    config = FinetuneConfig.from_dict(
        {
            **BASE,
            "adapter": "qlora",
            "lora": {"target_modules": ["q_proj", "v_proj"]},
            "training": {"max_seq_length": 512, "max_steps": 20},
            "run_name": "my-run.1",
        }
    )
    assert FinetuneConfig.from_yaml(config.to_yaml()) == config
    assert FinetuneConfig.model_validate(config.model_dump()) == config
    assert FinetuneConfig.model_validate_json(config.model_dump_json()) == config


@pytest.mark.parametrize("name", ["../escape", "a/b", "", " x", "x" * 65, "run;rm -rf"])
def test_audit_09_run_names_are_safe_folder_names(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig.from_dict({**BASE, "run_name": name})
    assert _problem_fields(caught.value) == {"run_name"}


def test_audit_15_one_error_family() -> None:
    with pytest.raises(ModelForgeError) as caught:
        FinetuneConfig.from_dict({**BASE, "adapter": "half"})
    error = caught.value
    assert isinstance(error, ConfigError)
    assert error.code == "config.invalid"
    assert error.to_dict()["code"] == "config.invalid"
    assert all(isinstance(p, ModelForgeError) and p.code for p in error.problems)


@pytest.mark.parametrize(
    "bad",
    [
        {"lora": {"alpha": -2}},
        {"lora": {"r": "big"}},
        {"adapter": "half"},
        {"training": {"learning_rate": 0}},
        {"training": {"precision": "fp8"}},
        {"training": {"max_seq_length": 3}},
        {"training": {"epochs": "many"}},
        {"quantization": {"bits": 3}, "adapter": "qlora"},
        {"eval_fraction": 0.9},
        {"run_name": "../x"},
    ],
)
def test_audit_19_messages_name_field_value_and_fix(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig.from_dict({**BASE, **bad})
    (problem,) = caught.value.problems
    assert problem.field and str(problem).startswith(problem.field + ":")
    assert "(got " in problem.message, "the offending value is shown"
    assert problem.hint, "every message says what to do"


def test_audit_20_public_functions_take_config_first_then_keywords() -> None:
    from modelforge_nb.data import check_dataset, load_dataset_for

    for function in (check_dataset, load_dataset_for):
        parameters = list(inspect.signature(function).parameters.values())
        assert parameters[0].name == "config"
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters[1:])
    for method in (FinetuneConfig.from_yaml, FinetuneConfig.from_dict):
        parameters = list(inspect.signature(method).parameters.values())
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters[1:])


def test_every_field_is_described() -> None:
    def walk(schema: dict[str, Any], defs: dict[str, Any], path: str) -> list[str]:
        missing = []
        for name, prop in schema.get("properties", {}).items():
            ref = prop.get("$ref") or next(
                (o.get("$ref") for o in prop.get("anyOf", []) if "$ref" in o), None
            )
            if ref:
                missing += walk(defs[ref.split("/")[-1]], defs, f"{path}{name}.")
            elif not prop.get("description"):
                missing.append(path + name)
        return missing

    schema = config_schema()
    assert walk(schema, schema["$defs"], "") == []


def test_a_home_folder_of_an_unknown_user_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig.from_dict({"model": "~0", "dataset": "d.jsonl"})
    assert _problem_fields(caught.value) == {"model"}
    assert "no user '0'" in str(caught.value)
