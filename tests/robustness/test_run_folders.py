"""Damaged run folders, many runs of one name, and the index against the folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelforge_nb.config import FinetuneConfig
from modelforge_nb.errors import RunError
from modelforge_nb.runs import Workspace
from modelforge_nb.widgets.panels import runs_html


def _config(model: Path, data: Path, name: str | None = None) -> FinetuneConfig:
    return FinetuneConfig(model=str(model), dataset=str(data), run_name=name)


@pytest.mark.parametrize(
    ("file", "content", "words"),
    [
        ("config.json", "{not json", "config.json is empty or not JSON"),
        ("config.json", '{"model": 42, "dataset": []}', "does not hold a valid config"),
        ("config.json", "[1, 2]", "config.json does not hold a run's config"),
        ("run.json", "", "run.json is empty or not JSON"),
        ("run.json", '{"name": "x"}', "run.json does not hold a run's identity"),
        ("status.json", "\x00\x01", None),
    ],
)
def test_issue_one_damaged_run_folder_does_not_take_down_the_listing(
    tmp_path: Path,
    tiny_causal: Path,
    tiny_data: dict[str, Path],
    file: str,
    content: str,
    words: str | None,
) -> None:
    workspace = Workspace(tmp_path / "home")
    whole = workspace.create_run(_config(tiny_causal, tiny_data["sft"], "whole"))
    damaged = workspace.create_run(_config(tiny_causal, tiny_data["sft"], "damaged"))
    (damaged.output_dir / file).write_text(content, encoding="utf-8")
    for listing in (workspace, Workspace(tmp_path / "home")):
        summaries = {s["id"]: s for s in listing.summaries()}
        assert set(summaries) == {whole.id, damaged.id}
        assert summaries[whole.id]["status"] == "queued"
        shown = summaries[damaged.id]
        assert "damaged" in runs_html(list(summaries.values()))
        assert {r.id for r in listing.list_runs()} == {whole.id, damaged.id}
        again = listing.get_run(damaged.id)
        if words is None:  # an unreadable status is a queued run: nothing is lost
            assert shown["status"] == "queued"
            continue
        assert shown["status"] == "damaged" and words in shown["error"]
        assert again.status == "damaged"
        if file == "config.json" or file == "run.json":
            with pytest.raises(RunError) as caught:
                again.resume()
            assert caught.value.code == "run.damaged"


def test_a_config_that_no_longer_validates_is_a_run_error_naming_the_file(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    run = Workspace(tmp_path / "home").create_run(_config(tiny_causal, tiny_data["sft"]))
    (run.output_dir / "config.json").write_text(
        '{"model": "m", "dataset": "d.jsonl", "lora": {"r": 0}}'
    )
    with pytest.raises(RunError) as caught:
        _ = run.config
    assert caught.value.code == "run.damaged"
    assert "config.json" in str(caught.value) and "lora.r" in str(caught.value)


def test_issue_many_runs_of_one_name_get_distinct_ids(
    tmp_path: Path, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    workspace = Workspace(tmp_path / "home")
    config = _config(tiny_causal, tiny_data["sft"], "same")
    made = [workspace.create_run(config).id for _ in range(400)]
    assert len(set(made)) == 400
    assert len(workspace.summaries()) == 400
