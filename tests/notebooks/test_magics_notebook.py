"""Notebooks executed headless in a real kernel: the magics end to end, and interrupts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient

pytestmark = pytest.mark.slow


def _cell_config(model: Path, data: Path, **training: int) -> str:
    steps = {
        "max_steps": 12,
        "learning_rate": 0.01,
        "batch_size": 8,
        "grad_accum": 1,
        "logging_steps": 2,
        "save_steps": 6,
        **training,
    }
    body = "\n".join(f"  {k}: {v}" for k, v in steps.items())
    return f"model: {model}\ndataset: {data}\ntraining:\n{body}\n"


def test_magics_notebook_runs_clean_and_keeps_a_static_plot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    monkeypatch.setenv("MODELFORGE_HOME", str(tmp_path / "home"))
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("%load_ext modelforge_nb"),
        nbformat.v4.new_code_cell("%modelforge hardware"),
        nbformat.v4.new_code_cell(
            "%%modelforge finetune --name nb-run\n" + _cell_config(tiny_causal, tiny_data["sft"])
        ),
        nbformat.v4.new_code_cell("%modelforge runs"),
        nbformat.v4.new_code_cell(
            "import modelforge_nb as mf\nrun_id = mf.list_runs()[0].id\n"
            "get_ipython().run_line_magic('modelforge', f'show {run_id}')"
        ),
        nbformat.v4.new_code_cell("%modelforge bogus-command"),
        nbformat.v4.new_code_cell("%%modelforge finetune\nmodel: m\nlora: {alpha: 0}\n"),
    ]
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    path = tmp_path / "executed.ipynb"
    nbformat.write(notebook, path)
    outputs = [o for cell in notebook.cells for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [
        o for o in outputs if o.get("name") == "stderr" and "Traceback" in o.get("text", "")
    ]
    text = path.read_text()
    assert "modelforge-static" in text and "<svg" in text
    finetune_text = "".join(o.get("text", "") for o in notebook.cells[2].outputs)
    assert "completed" in finetune_text
    runs_html = json.dumps([o.get("data", {}) for o in notebook.cells[3].outputs])
    assert "nb-run" in runs_html and "completed" in runs_html
    assert "invalid choice" in notebook.cells[5].outputs[0]["text"]
    config_error = notebook.cells[6].outputs[0]["text"]
    assert "lora.alpha" in config_error and "dataset" in config_error
    assert "Traceback" not in config_error


def test_interrupt_stops_with_a_checkpoint_and_resume_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("MODELFORGE_HOME", str(home))
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        client.execute_interactive("%load_ext modelforge_nb", timeout=120)
        cell = "%%modelforge finetune --name interrupted\n" + _cell_config(
            tiny_causal,
            tiny_data["sft"],
            max_steps=80,
            batch_size=2,
            logging_steps=1,
            save_steps=1000,
        )
        message_id = client.execute(cell)
        deadline = time.monotonic() + 180
        events: list[Path] = []
        while time.monotonic() < deadline:
            events = list(home.glob("runs/*/events.jsonl"))
            if events and events[0].read_text().count('"type": "log"') >= 3:
                break
            time.sleep(0.3)
        manager.interrupt_kernel()
        reply = client.get_shell_msg(timeout=180)
        while reply["parent_header"].get("msg_id") != message_id:
            reply = client.get_shell_msg(timeout=180)
        run_dir = events[0].parent
        status = json.loads((run_dir / "status.json").read_text())
        assert status["status"] == "stopped"
        assert list((run_dir / "checkpoints").glob("checkpoint-*/.modelforge-complete"))
        run_id = run_dir.name
        outputs: list[str] = []
        client.execute_interactive(
            f"%modelforge resume {run_id}",
            timeout=600,
            output_hook=lambda m: outputs.append(m["content"].get("text", "")),
        )
        assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"
        assert f"run {run_id}: completed" in "".join(outputs)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_a_fresh_kernels_first_screen_is_the_panel_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``%load_ext`` then a bare ``%modelforge`` in a new kernel: one output, the panel (its
    widget and HTML copy); no warning, no stderr, nothing else saved into the notebook."""
    monkeypatch.setenv("MODELFORGE_HOME", str(tmp_path / "home"))
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("%load_ext modelforge_nb"),
        nbformat.v4.new_code_cell("%modelforge"),
    ]
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    assert notebook.cells[0].outputs == []
    # The panel, then the empty place where its Train's run will show (a display to update).
    panel, *rest = notebook.cells[1].outputs
    assert [output.get("data") for output in rest] == [{"text/plain": ""}], rest
    assert panel.output_type == "display_data", panel
    assert panel.data["text/plain"].startswith("modelforge: ")
    assert "application/vnd.jupyter.widget-view+json" in panel.data
    assert "Recommended" in panel.data["text/html"]
