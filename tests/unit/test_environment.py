"""Colab, Kaggle or local: what the example notebooks and the default run folder rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelforge_nb.environment import detect_environment
from modelforge_nb.registry import default_home


def test_colab_is_recognised_by_its_module_or_its_variable() -> None:
    by_module = detect_environment({}, {"google.colab": object()})
    by_variable = detect_environment({"COLAB_RELEASE_TAG": "release-colab-x"}, {})
    for found in (by_module, by_variable):
        assert found.platform == "colab"
        assert found.runs_home == Path("/content/modelforge-runs")


def test_kaggle_outputs_go_to_kaggle_working_and_inputs_come_from_kaggle_input() -> None:
    found = detect_environment({"KAGGLE_KERNEL_RUN_TYPE": "Interactive"}, {})
    assert found.platform == "kaggle"
    assert found.input_dir == Path("/kaggle/input")
    assert found.runs_home == Path("/kaggle/working/modelforge-runs")
    assert "/kaggle/working" in str(found)


def test_local_keeps_the_user_data_folder() -> None:
    found = detect_environment({}, {})
    assert found.platform == "local"
    assert found.runs_home is None and found.input_dir is None


def test_runs_default_to_kaggle_working_on_kaggle_unless_modelforge_home_is_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MODELFORGE_HOME", raising=False)
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")
    assert default_home() == Path("/kaggle/working/modelforge-runs")
    monkeypatch.setenv("MODELFORGE_HOME", str(tmp_path))
    assert default_home() == tmp_path.resolve()
