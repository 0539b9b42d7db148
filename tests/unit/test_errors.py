"""The error family: stable codes, one message style, one JSON shape."""

from __future__ import annotations

import pytest

from modelforge_nb.embedded import embedded_path, is_embedded
from modelforge_nb.errors import ConfigError, ModelError, ModelForgeError, PreflightError


def test_error_carries_code_field_and_hint() -> None:
    error = ModelForgeError(
        "disk.insufficient", "Only 2 GB free.", field="output_root", hint="Free some space."
    )
    assert error.code == "disk.insufficient"
    assert str(error) == "output_root: Only 2 GB free. Free some space."
    assert error.to_dict() == {
        "code": "disk.insufficient",
        "message": "output_root: Only 2 GB free. Free some space.",
        "field": "output_root",
    }


def test_subclasses_are_modelforge_errors() -> None:
    for cls in (ConfigError, ModelError):
        assert issubclass(cls, ModelForgeError)
    report = {"ok": False}
    error = PreflightError("preflight.failed", "The run would not fit.", report=report)
    assert error.report is report


def test_unknown_embedded_model_names_the_known_ones() -> None:
    assert is_embedded("modelforge:nope")
    assert not is_embedded("HuggingFaceTB/SmolLM2-135M-Instruct")
    with pytest.raises(ModelError) as caught:
        embedded_path("modelforge:nope")
    assert caught.value.field == "model"
    assert "modelforge:nope" in str(caught.value)
    assert "modelforge:smollm2-135m-instruct" in str(caught.value)
