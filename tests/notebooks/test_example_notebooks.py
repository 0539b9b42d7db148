"""The example notebooks, executed headless in a real kernel as a user would run them.

04 to 07 run whole on tiny local models (07 trains GRPO with reward functions defined in
the notebook, named in its ``%%modelforge finetune`` cell); 01 runs through ``make demo``'s
runner in fast mode;
02 and 03 (written for Colab and Kaggle GPUs) run here offline on the CPU, where they must
validate their configs, have preflight say what is missing, and skip the GPU cells cleanly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from nbclient import NotebookClient
from repo_paths import REPO_ROOT

pytestmark = pytest.mark.slow
EXAMPLES = REPO_ROOT / "example_notebooks"
ALL = sorted(p.name for p in EXAMPLES.glob("*.ipynb"))


def _execute(name: str, folder: Path) -> Any:
    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    return notebook


def _error_output(notebook: Any) -> list[str]:
    return [
        output.get("text") or "\n".join(output.get("traceback", []))
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.output_type == "error" or output.get("name") == "stderr"
    ]


def _text(notebook: Any) -> str:
    return json.dumps([cell.get("outputs", []) for cell in notebook.cells])


def _home_runs(home: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(home.glob("runs/*/status.json"))]


def test_there_are_the_seven_notebooks() -> None:
    assert ALL == [
        "01_quickstart.ipynb",
        "02_colab_qlora.ipynb",
        "03_kaggle.ipynb",
        "04_preference_dpo.ipynb",
        "05_summarization.ipynb",
        "06_extractive_qa.ipynb",
        "07_grpo_rewards.ipynb",
    ]


@pytest.mark.parametrize("name", ALL)
def test_every_code_cell_compiles_and_the_notebook_knows_where_it_runs(name: str) -> None:
    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    nbformat.validate(notebook)
    transform = TransformerManager().transform_cell
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            compile(transform(cell.source), f"{name} cell {index}", "exec")
        assert not cell.get("outputs"), f"{name} is committed with outputs in cell {index}"
    first_code = next(c.source for c in notebook.cells if c.cell_type == "code")
    assert "google.colab" in first_code and "KAGGLE_KERNEL_RUN_TYPE" in first_code
    assert "mf.detect_environment()" in first_code


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("04_preference_dpo.ipynb", "reward accuracy on held-out prompts"),
        ("05_summarization.ipynb", "rougeL"),
        ("06_extractive_qa.ipynb", "exact_match"),
    ],
)
def test_offline_examples_run_clean_and_report_their_metric(
    name: str, shown: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELFORGE_HOME", str(tmp_path / "home"))
    notebook = _execute(name, tmp_path)
    assert _error_output(notebook) == []
    assert [run["status"] for run in _home_runs(tmp_path / "home")] == ["completed"]
    text = _text(notebook)
    assert shown in text and "modelforge-static" in text


def test_quickstart_runs_through_the_demo_runner_in_fast_mode(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "modelforge_nb.demo", str(out), "--fast"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Answers with the taught fact:" in result.stdout
    assert "step 6/6" in result.stdout, "training progress is printed as it happens"
    executed = nbformat.read(out / "01_quickstart.ipynb", as_version=4)
    assert _error_output(executed) == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["heldout_total"] == len(summary["heldout"]) == 6
    assert summary["loss_last"] < summary["loss_first"]
    svg = (out / "loss.svg").read_text()
    assert svg.startswith("<svg xmlns=") and "<polyline" in svg
    assert [run["status"] for run in _home_runs(out / "home")] == ["completed"]


@pytest.mark.parametrize(
    ("name", "needs"),
    [
        ("02_colab_qlora.ipynb", "quant.needs_cuda"),
        ("03_kaggle.ipynb", "precision.fp16_needs_cuda"),
    ],
)
def test_gpu_notebooks_run_offline_on_the_cpu_and_say_what_they_need(
    name: str, needs: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    notebook = _execute(name, tmp_path)
    assert _error_output(notebook) == []
    text = _text(notebook)
    assert "Preflight: this run would fail." in text
    assert needs in text and "CUDA GPU" in text
    assert "Not training here" in text
    assert _home_runs(tmp_path / "home") == []


def test_the_grpo_notebook_raises_the_mean_reward_with_its_own_rewards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rewards are defined in a cell and named in the YAML: found in the notebook's
    namespace, shipped to the worker, and the mean reward rises over the 20 steps."""
    monkeypatch.setenv("MODELFORGE_HOME", str(tmp_path / "home"))
    notebook = _execute("07_grpo_rewards.ipynb", tmp_path)
    assert _error_output(notebook) == []
    (folder,) = (tmp_path / "home").glob("runs/grpo-example-*")
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    rewards = [e["reward"] for e in events if e["type"] == "log" and "reward" in e]
    assert len(rewards) == 20
    assert sum(rewards[-5:]) / 5 > sum(rewards[:5]) / 5 + 0.2, rewards
    config = json.loads((folder / "config.json").read_text())
    assert config["grpo"]["rewards"] == ["correct", "digits_only"]
    text = _text(notebook)  # the saved notebook keeps the reward plots and the samples
    assert "Reward (mean)" in text and "Sample completions and their rewards" in text
