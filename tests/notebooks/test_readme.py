"""README.md's Quickstart, run exactly as printed: each of its Python blocks is one cell of a
notebook executed in a real kernel, on the embedded SmolLM2 (offline, on the CPU)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from repo_paths import REPO_ROOT

pytestmark = pytest.mark.slow


def quickstart_blocks() -> list[str]:
    """The ```python blocks of the README's "## Quickstart" section, in order."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_quickstart_runs_as_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = quickstart_blocks()
    assert len(blocks) == 2 and "%modelforge show {run.id}" in blocks[1]
    monkeypatch.setenv("MODELFORGE_HOME", str(tmp_path / "home"))
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(block) for block in blocks]
    NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    outputs = [output for cell in notebook.cells for output in cell.outputs]
    problems = [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"]
    assert not problems, problems
    shown = [o.data["text/plain"] for o in outputs if o.get("data", {}).get("text/plain")]
    assert shown[0].startswith("modelforge: ")  # the panel
    assert any("chat" in text for text in shown), shown
    printed = "".join(o.get("text", "") for o in notebook.cells[1].outputs if o.get("name"))
    assert printed.strip(), "the fine-tuned model's answer was not printed"
    (status,) = (tmp_path / "home" / "runs").glob("*/status.json")
    assert json.loads(status.read_text())["status"] == "completed"
    dashboard = json.dumps([o.get("data", {}) for o in notebook.cells[1].outputs])
    assert "completed" in dashboard and "<svg" in dashboard
