"""Comparing runs (W&B's most-used view) and naming runs by name in every command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelforge_nb.config import FinetuneConfig
from modelforge_nb.errors import RunError
from modelforge_nb.runs import Run, Workspace
from modelforge_nb.widgets.compare import compare_html, config_differences
from modelforge_nb.widgets.plot import count_points

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, tiny_causal: Path, tiny_data: dict[str, Path]
) -> tuple[Workspace, list[Run]]:
    workspace = Workspace(tmp_path_factory.mktemp("home"))
    runs = []
    for name, rate in (("slow-lr", 1e-4), ("fast-lr", 1e-3), ("fast-lr", 1e-3)):
        config = FinetuneConfig(
            model=str(tiny_causal),
            dataset=str(tiny_data["sft"]),
            run_name=name,
            training={"max_steps": 6, "batch_size": 2, "learning_rate": rate, "save_steps": 100},
        )
        run = workspace.finetune(config)
        assert run.wait(timeout=300) == "completed", run.error
        runs.append(run)
    return workspace, runs


def test_compare_overlays_the_curves_and_lists_only_the_fields_that_differ(
    trained: tuple[Workspace, list[Run]],
) -> None:
    _workspace, (slow, fast, _again) = trained
    differences = config_differences([slow, fast])
    assert differences == {
        "run_name": ["slow-lr", "fast-lr"],
        "training.learning_rate": [0.0001, 0.001],
    }
    page = compare_html([slow, fast])
    train_chart = page[: page.index("</svg>") + 6]
    assert count_points(train_chart) == 12  # six logged steps of each run
    assert ">slow-lr</text>" in train_chart and ">fast-lr</text>" in train_chart
    cells = re.findall(r"<td><code>([^<]+)</code></td>", page)
    assert cells == ["run_name", "training.learning_rate"]
    assert "<td>completed</td><td>completed</td>" in page
    assert "The configs are the same." in compare_html([fast, _again])


def test_a_run_reports_each_stage_before_its_first_step(
    trained: tuple[Workspace, list[Run]],
) -> None:
    _workspace, (slow, _fast, _again) = trained
    kinds = [e.get("name", e["type"]) for e in slow.events if e["type"] in {"stage", "start"}]
    assert kinds == [
        "loading libraries",
        "reading the data",
        "start",
        "loading the model",
        "tokenizing",
        "training",
    ]
    first_log = next(i for i, e in enumerate(slow.events) if e["type"] == "log")
    assert slow.events[first_log - 1]["name"] == "training"


def test_a_unique_name_works_wherever_an_id_does(trained: tuple[Workspace, list[Run]]) -> None:
    workspace, (slow, fast, again) = trained
    assert workspace.get_run("slow-lr").id == slow.id
    assert workspace.get_run(fast.id).id == fast.id
    with pytest.raises(RunError) as caught:
        workspace.get_run("fast-lr")
    assert caught.value.code == "run.ambiguous"
    assert fast.id in str(caught.value) and again.id in str(caught.value)
    with pytest.raises(RunError) as unknown:
        workspace.get_run("no-such-name")
    assert unknown.value.code == "run.unknown"


def test_the_compare_magic_shows_the_runs_by_name_and_id(
    trained: tuple[Workspace, list[Run]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    from modelforge_nb.magics import ModelForgeMagics
    from modelforge_nb.session import Session

    workspace, (_slow, fast, _again) = trained
    magics = ModelForgeMagics(InteractiveShell.instance(), Session(workspace.home))
    shown: list[object] = []
    monkeypatch.setattr(magics, "_display", lambda *objects: shown.extend(objects))
    magics.modelforge(f"compare slow-lr {fast.id}")
    (page,) = shown
    assert "training.learning_rate" in page.data  # type: ignore[attr-defined]
