"""``FinetuneConfig``: the one schema every entry point builds.

Its fields and sections are ``config/schema.py``; the rules that involve several fields,
which run once every field is parsed and defaults are applied
(``model_validator(mode="after")``), are ``config/rules.py``. Every public name of those
modules stays importable from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import model_validator

from modelforge_nb.config.methods import default_learning_rate
from modelforge_nb.config.rules import CrossFieldError, check_cross_fields, cross_field_problems
from modelforge_nb.config.schema import (
    DATA_FILE_SUFFIXES,
    MAX_STEPS,
    RUN_NAME_PATTERN,
    STRATEGIES,
    DistributedSettings,
    DpoSettings,
    FinetuneFields,
    GenerationSettings,
    GrpoSettings,
    KtoSettings,
    LoraSettings,
    MethodSection,
    OrpoSettings,
    QuantizationSettings,
    Section,
    TrainingSettings,
)

__all__ = [
    "DATA_FILE_SUFFIXES",
    "MAX_STEPS",
    "RUN_NAME_PATTERN",
    "STRATEGIES",
    "CrossFieldError",
    "DistributedSettings",
    "DpoSettings",
    "FinetuneConfig",
    "GenerationSettings",
    "GrpoSettings",
    "KtoSettings",
    "LoraSettings",
    "MethodSection",
    "OrpoSettings",
    "QuantizationSettings",
    "Section",
    "TrainingSettings",
    "config_schema",
    "cross_field_problems",
    "resolve_ref",
]


class FinetuneConfig(FinetuneFields):
    """Everything a fine-tuning run needs, validated once."""

    @model_validator(mode="after")
    def _cross_field_rules(self) -> FinetuneConfig:
        check_cross_fields(self)
        return self

    @property
    def learning_rate(self) -> float:
        """The run's peak learning rate: ``training.learning_rate``, or where that is unset
        the method table's default for the method and adapter (``config/methods.py``)."""
        explicit = self.training.learning_rate
        return (
            explicit if explicit is not None else default_learning_rate(self.method, self.adapter)
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict that rebuilds the same config."""
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_dict(cls, data: Any, *, base_dir: str | Path | None = None) -> FinetuneConfig:
        """Build from a dict; bad input raises ``ConfigError`` listing every bad field."""
        from modelforge_nb.config.io import config_from_dict

        return config_from_dict(cls, data, base_dir=base_dir)

    @classmethod
    def from_yaml(cls, text: str, *, base_dir: str | Path | None = None) -> FinetuneConfig:
        """Build from YAML (or JSON) text; errors name the field or the line."""
        from modelforge_nb.config.io import config_from_yaml

        return config_from_yaml(cls, text, base_dir=base_dir)

    @classmethod
    def from_file(cls, path: str | Path) -> FinetuneConfig:
        """Build from a YAML or JSON file; relative paths resolve against its folder."""
        from modelforge_nb.config.io import config_from_file

        return config_from_file(cls, path)


def config_schema() -> dict[str, Any]:
    """The JSON schema of ``FinetuneConfig``, for the form, REST and the docs."""
    return FinetuneConfig.model_json_schema()


def resolve_ref(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A schema node with its ``$ref`` (direct, or inside a nullable ``anyOf``) followed into
    ``$defs``; any other node as it is. The form and the reference both read the schema so."""
    ref = node.get("$ref") or next((o["$ref"] for o in node.get("anyOf", []) if "$ref" in o), None)
    if not ref:
        return node
    resolved: dict[str, Any] = schema["$defs"][ref.rsplit("/", 1)[-1]]
    return resolved
