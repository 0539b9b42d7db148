"""Every way of building a config, fed what a hostile or careless user gives it: the
outcome is a config that holds only finite numbers within bounds, or a ``ConfigError``
whose every problem names its field. Never a raw exception, a hang or a changed value."""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from modelforge_nb.config import FinetuneConfig
from modelforge_nb.config.models import MAX_STEPS, LoraSettings, TrainingSettings
from modelforge_nb.errors import ConfigError, ModelForgeError
from tests.robustness.conftest import sweep_examples

BASE = {"model": "org/model", "dataset": "train.jsonl"}


def _leaves(annotation: Any) -> set[Any]:
    """The plain types an annotation allows (through Optional, unions, Annotated, Literal)."""
    arguments = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return {type(a) for a in arguments}
    if not arguments:
        return {annotation}
    return {leaf for a in arguments for leaf in _leaves(a)}


def _number_fields(model: type[BaseModel]) -> list[str]:
    """The fields of ``model`` that take a number (and not only a flag)."""
    return sorted(
        name
        for name, field in model.model_fields.items()
        if _leaves(field.annotation) & {int, float} and field.annotation is not bool
    )


def _sections() -> dict[str, type[BaseModel]]:
    """Every section of the config (a field that holds settings of its own)."""
    found = {}
    for name, field in FinetuneConfig.model_fields.items():
        models = [t for t in _leaves(field.annotation) if isinstance(t, type)]
        models = [t for t in models if issubclass(t, BaseModel)]
        if models:
            (found[name],) = models
    return found


#: Every number field of every section, read from the schema: a section or field added
#: later is swept too.
NUMBER_FIELDS = {
    section: fields for section, model in _sections().items() if (fields := _number_fields(model))
}
TOP_NUMBERS = _number_fields(FinetuneConfig)


def test_the_sweep_covers_every_method_and_section() -> None:
    assert TOP_NUMBERS == ["eval_fraction"]
    assert {"lora", "training", "dpo", "orpo", "kto", "grpo", "generation", "distributed"} <= set(
        NUMBER_FIELDS
    )
    assert {"learning_rate", "max_steps", "max_seq_length"} <= set(NUMBER_FIELDS["training"])


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([".inf", "-.inf", ".nan", "Infinity", "NaN", "1e308", "-0", "1e-320"]),
)


def _build(way: str, data: dict[str, Any]) -> FinetuneConfig:
    if way == "dict":
        return FinetuneConfig.from_dict(data)
    if way == "yaml":
        return FinetuneConfig.from_yaml(yaml.safe_dump(data))
    return FinetuneConfig(**data)


def _numbers_in(value: Any) -> list[float]:
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers_in(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers_in(v)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [value]
    return []


@settings(
    max_examples=sweep_examples(300),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.sampled_from(["dict", "yaml", "direct"]),
    st.fixed_dictionaries(
        {},
        optional={
            section: st.fixed_dictionaries({}, optional=dict.fromkeys(fields, numbers))
            for section, fields in NUMBER_FIELDS.items()
        },
    ),
    st.dictionaries(st.sampled_from(TOP_NUMBERS), numbers, max_size=1),
)
def test_numbers_are_finite_and_bounded_or_refused_by_field(
    way: str, sections: dict[str, dict[str, Any]], top: dict[str, Any]
) -> None:
    data: dict[str, Any] = {**BASE, **top, **sections}
    try:
        config = _build(way, data)
    except ConfigError as error:
        assert error.problems and all(p.field for p in error.problems), str(error)
        return
    numbers_kept = _numbers_in(config.to_dict())
    assert all(math.isfinite(n) for n in numbers_kept)
    steps = config.training.max_steps
    assert steps is None or steps <= MAX_STEPS


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("lora: {alpha: .inf}", "lora.alpha"),
        ("lora: {alpha: -.inf}", "lora.alpha"),
        ("lora: {alpha: 'Infinity'}", "lora.alpha"),
        ("lora: {alpha: 1.0e+308}", "lora.alpha"),
        ("training: {learning_rate: .nan}", "training.learning_rate"),
        ("training: {epochs: .inf}", "training.epochs"),
        ("lora: {dropout: .nan}", "lora.dropout"),
        ("dpo: {beta: .nan}", "dpo.beta"),
        ("generation: {temperature: .nan}", "generation.temperature"),
        ("eval_fraction: .nan", "eval_fraction"),
        (f"training: {{max_steps: {2**63}}}", "training.max_steps"),
        (f"training: {{save_steps: {2**63}}}", "training.save_steps"),
        (f"training: {{logging_steps: {2**64}}}", "training.logging_steps"),
    ],
)
def test_issue_non_finite_and_huge_numbers_are_refused_by_name(text: str, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig.from_yaml(f"model: org/model\ndataset: train.jsonl\n{text}\n")
    assert [p.field for p in caught.value.problems] == [field]


def test_issue_building_a_config_by_hand_raises_the_same_config_error() -> None:
    with pytest.raises(ConfigError) as direct:
        FinetuneConfig(model="org/model", dataset="train.jsonl", lora={"alpha": 0})
    with pytest.raises(ConfigError) as loaded:
        FinetuneConfig.from_dict({**BASE, "lora": {"alpha": 0}})
    assert isinstance(direct.value, ValueError)
    assert str(direct.value) == str(loaded.value)
    assert "lora.alpha" in str(direct.value)
    with pytest.raises(ConfigError) as section:
        LoraSettings(alpha=float("inf"))
    assert [p.field for p in section.value.problems] == ["alpha"]
    with pytest.raises(ConfigError):
        TrainingSettings(max_steps=2**63)


def test_issue_a_path_component_too_long_for_the_filesystem_is_named(tmp_path: Path) -> None:
    long_name = "x" * 300 + ".jsonl"
    for field in ("dataset", "model", "eval_dataset", "output_root"):
        data = {**BASE, field: str(tmp_path / long_name)}
        with pytest.raises(ConfigError) as caught:
            FinetuneConfig.from_dict(data)
        assert [p.field for p in caught.value.problems] == [field]
        assert "255" in str(caught.value)


def test_issue_a_home_folder_of_an_unknown_user_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        FinetuneConfig.from_dict({**BASE, "output_root": "~no-such-user-here/runs"})
    assert [p.field for p in caught.value.problems] == ["output_root"]
    assert "no user" in str(caught.value)


def test_issue_an_output_root_that_is_a_file_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine", encoding="utf-8")
    for root, words in ((a_file, "is a file"), (a_file / "runs", "which is a file")):
        with pytest.raises(ConfigError) as caught:
            FinetuneConfig.from_dict({**BASE, "output_root": str(root)})
        assert caught.value.problems[0].field == "output_root"
        assert words in str(caught.value)
    assert a_file.read_text(encoding="utf-8") == "mine"


@pytest.mark.parametrize("depth", [5000, 100_000])
def test_issue_yaml_nested_thousands_deep_is_a_config_error(depth: int) -> None:
    for text in (
        "model: org/model\ndataset: train.jsonl\nx: " + "[" * depth + "]" * depth,
        "model: org/model\ndataset: train.jsonl\nlora:\n  r: " + "{a: " * depth + "1" + "}" * depth,
    ):
        with pytest.raises(ModelForgeError) as caught:
            FinetuneConfig.from_yaml(text)
        assert caught.value.code.startswith("config.")
    deep: Any = "x"
    for _ in range(depth):
        deep = [deep]
    with pytest.raises(ConfigError):
        FinetuneConfig.from_dict({**BASE, "model": deep})
    with pytest.raises(ConfigError):
        FinetuneConfig(**BASE, columns=deep)


ALIAS_BOMB = "\n".join(
    [
        "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]",
        *(
            f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]"
            for p, n in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "model: *i",
        "dataset: *i",
        "lora: {target_modules: *i, alpha: *i}",
        "columns: *i",
    ]
)


def test_issue_a_yaml_alias_bomb_is_refused_at_once() -> None:
    """Nine levels of nine aliases: 387 million strings if anything expanded them."""
    outcome: dict[str, Any] = {}

    def load() -> None:
        try:
            FinetuneConfig.from_yaml(ALIAS_BOMB)
        except ConfigError as error:
            outcome["error"] = error

    started = time.monotonic()
    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "loading an alias bomb hung"
    assert time.monotonic() - started < 20
    error = outcome["error"]
    assert {"model", "dataset", "lora.alpha", "columns"} <= {p.field for p in error.problems}
    assert len(str(error)) < 10_000  # each value shown by its first items, not expanded


def test_sweep_budget_is_recorded() -> None:
    """The sweep runs a bounded number of examples here, more under `make robustness`."""
    assert sweep_examples(300) >= 1
    assert sys.getrecursionlimit() >= 1000
    assert os.environ.get("MODELFORGE_SWEEP_EXAMPLES", "300").isdigit()
