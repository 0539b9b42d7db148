"""Arbitrary input to the config loader: a valid config, or an error that names fields."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelforge_nb.config import FinetuneConfig
from modelforge_nb.errors import ConfigError

FIELDS = [*FinetuneConfig.model_fields, "lora", "training", "bogus"]
SECTION_FIELDS = [
    "r",
    "alpha",
    "dropout",
    "batch_size",
    "epochs",
    "max_steps",
    "precision",
    "max_seq_length",
    "eval_steps",
    "bits",
    "beta",
    "num_processes",
    "x",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10_000),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "lora",
            "qlora",
            "full",
            "sft",
            "dpo",
            "auto",
            "bf16",
            "summarization",
            "text-generation",
            "org/model",
            "data.jsonl",
            "all-linear",
            "nf4",
        ]
    ),
)
sections = st.dictionaries(st.sampled_from(SECTION_FIELDS), scalars, max_size=5)
configs = st.dictionaries(st.sampled_from(FIELDS), st.one_of(scalars, sections), max_size=10)


def _check(outcome: Any) -> None:
    assert isinstance(outcome, FinetuneConfig)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs)
def test_arbitrary_dicts(data: dict[str, Any]) -> None:
    try:
        _check(FinetuneConfig.from_dict(data))
    except ConfigError as error:
        assert error.problems, "a ConfigError from a mapping lists its problems"
        assert all(p.field for p in error.problems)
        assert str(error)
    try:
        direct = FinetuneConfig(**data)
    except ConfigError as error:
        assert all(p.field for p in error.problems)
    else:
        assert direct == FinetuneConfig.from_dict(data)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), configs.map(lambda d: yaml.safe_dump(d))))
def test_arbitrary_yaml(text: str) -> None:
    try:
        _check(FinetuneConfig.from_yaml(text))
    except ConfigError as error:
        assert error.code.startswith("config.")
        assert all(p.field for p in error.problems)
