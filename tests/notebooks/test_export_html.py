"""A saved notebook shows what the user saw last, wherever it is opened: `jupyter nbconvert
--to html` of a notebook with a run from the form's Train, a detached run, a foreground run
and a chat holds every run's plots and the transcript, and no widget's repr."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

STEPS = {"max_steps": 4, "batch_size": 4, "grad_accum": 1, "logging_steps": 1, "save_steps": 100}
TRAINING = "{" + ", ".join(f"{k}: {v}" for k, v in STEPS.items()) + "}"


def test_nbconvert_html_holds_every_runs_plots_and_the_transcript(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    monkeypatch.setenv("MODELFORGE_HOME", str(tmp_path / "home"))
    data = tiny_data["sft"]
    cell = f"model: {tiny_causal}\ndataset: {data}\ntraining: {TRAINING}\n"
    session = "get_ipython().magics_manager.registry['ModelForgeMagics'].session"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("%load_ext modelforge_nb\nimport modelforge_nb as mf"),
        nbformat.v4.new_code_cell(
            f"form = {session}.main_panel(dataset={str(data)!r}, model={str(tiny_causal)!r})\n"
            f"form.set_values({{'run_name': 'from-form', 'training': {STEPS!r}}})"
        ),
        nbformat.v4.new_code_cell(
            f"run = form.train()\nrun.wait()\n{session}.dashboards[run.id].join(60)"
        ),
        nbformat.v4.new_code_cell(f"%%modelforge finetune --detach --name detached\n{cell}"),
        nbformat.v4.new_code_cell(
            f"board = {session}.dashboards[mf.get_run('detached').id]\n"
            "board.run.wait()\nboard.join(60)"
        ),
        nbformat.v4.new_code_cell(f"%%modelforge finetune --name foreground\n{cell}"),
        nbformat.v4.new_code_cell(
            "from modelforge_nb.widgets.chat import ChatWidget\n"
            "chat = ChatWidget(mf.get_run('foreground'))\n"
            "chat.max_new_tokens.value = 4\n"
            "display(chat)\n"
            "chat.send('What colour is the sky?')\n"
            "chat.wait()"
        ),
    ]
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
        # Saved as JupyterLab saves by default (and as Colab, VS Code and GitHub have it):
        # without the widgets' state, so what shows is each output's HTML.
        store_widget_state=False,
    )
    client.execute()
    errors = [o for c in notebook.cells for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    path = tmp_path / "saved.ipynb"
    nbformat.write(notebook, path)
    subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", str(path)],
        check=True,
        capture_output=True,
    )
    page = (tmp_path / "saved.html").read_text(encoding="utf-8")
    copies = re.split(r"class=[\"']modelforge-static[\"']", page)[1:]
    assert len(copies) == 3  # one per run: no second copy under a live dashboard
    for name, copy in zip(("from-form", "detached", "foreground"), copies, strict=True):
        assert f"{name}: completed · step 4/4" in copy
        assert copy.count("<svg") >= 3  # loss, learning rate, throughput
    assert "What colour is the sky?" in page and "modelforge-chat-static" in page
    assert "No messages yet" not in page
    for stale in ("VBox(", "HTML(value", "queued", "Stopping at the next step", "Resuming"):
        assert stale not in page, stale
