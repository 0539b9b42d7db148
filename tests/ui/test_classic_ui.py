"""Classic Notebook 6.5 with ipywidgets 7.7's widgetsnbextension and ipykernel 6.17: the
front end closest to Colab's that runs here, with no extension of ours in it. Its kernels
follow runs in the foreground, as Colab's do. Run by ``make test-colab``, in Colab's stack.

Every control answers here: the panel and its Train, the dashboard of a training cell (Stop
within a second, though the cell is busy), the chat's Send; a saved notebook reopened
without its kernel shows what the user last saw.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from lab_helpers import (
    SCREENSHOTS,
    STOP_FEEDBACK,
    Lab,
    endless_run_cell,
    shut_down_kernels,
    write_notebook,
)

pytestmark = [pytest.mark.colab, pytest.mark.slow]

#: What classic Notebook writes into a cell when a widget cannot be drawn.
_NOT_DRAWN = (
    ":text('could not be displayed'), :text('Error rendering Jupyter widget'), "
    ":text('Error displaying widget')"
)
_STDERR = ".output_stderr, .output_error"


def _open(page: Any, server: Lab, notebook: str) -> None:
    page.goto(server.url(f"/notebooks/{notebook}"))
    page.wait_for_function(
        "window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel"
        " && Jupyter.notebook.kernel.is_connected() && Jupyter.notebook.kernel.widget_manager",
        timeout=90_000,
    )
    server.wait_for_kernel(notebook)


def _run_cell(page: Any, index: int) -> None:
    page.evaluate(f"Jupyter.notebook.execute_cells([{index}])")


def _cell(page: Any, index: int) -> Any:
    return page.locator("#notebook-container .cell").nth(index)


def test_panel_train_stop_chat_and_reopen_in_classic_notebook(
    classic: Lab, browser: Any, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    write_notebook(
        classic.root / "classic.ipynb",
        [
            "%load_ext modelforge_nb",
            f"%modelforge panel --model {tiny_causal} --dataset {tiny_data['sft']}",
            endless_run_cell("stop-classic", tiny_causal, tiny_data["sft"]),
            # The run the form's Train finished (the stopped one has no weights to chat with).
            "import modelforge_nb as mf\n"
            "trained = next(r for r in mf.list_runs() if r.status == 'completed')\n"
            "%modelforge chat {trained.id}",
        ],
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1300, "height": 1500})
    try:
        _open(page, classic, "classic.ipynb")
        # The panel, its section titles, and nothing on stderr in a fresh kernel.
        _run_cell(page, 0)
        _run_cell(page, 1)
        form = _cell(page, 1).locator(".modelforge-form")
        form.wait_for(timeout=120_000)
        train = form.locator("button:has-text('Train'):enabled")
        train.wait_for(timeout=120_000)
        assert _cell(page, 1).locator(":text('Training')").count() >= 1  # a section title
        _cell(page, 1).screenshot(path=str(SCREENSHOTS / "classic-panel.png"))

        # Train: the run is followed in the panel's cell, live, to its end.
        train.click()
        board = _cell(page, 1).locator(".modelforge-dashboard")
        board.wait_for(timeout=120_000)
        board.locator(":text('completed')").wait_for(timeout=300_000)

        # A training cell: its dashboard is live while the cell is busy, and Stop answers.
        _run_cell(page, 2)
        board = _cell(page, 2).locator(".modelforge-dashboard")
        board.locator(":text('it/s')").wait_for(timeout=120_000)
        clicked = time.monotonic()
        board.locator("button:has-text('Stop')").click()
        page.wait_for_selector(STOP_FEEDBACK, timeout=5000)
        answered = time.monotonic() - clicked
        board.locator(":text('Stopped at step')").wait_for(timeout=60_000)
        _cell(page, 2).screenshot(path=str(SCREENSHOTS / "classic-stopped.png"))
        assert answered <= 1.0, f"Stop answered after {answered:.2f} s"
        (folder,) = (classic.root / "home" / "runs").glob("stop-classic-*")
        assert json.loads((folder / "status.json").read_text())["status"] == "stopped"

        # The chat: Send answers, and the box says Enter needs the extension.
        _run_cell(page, 3)
        chat = _cell(page, 3).locator(".modelforge-chat")
        chat.wait_for(timeout=120_000)
        assert chat.locator(".modelforge-enter-hint").is_visible()
        chat.locator("textarea[placeholder='Say something...']").fill("What colour is it?")
        chat.locator("button:has-text('Send')").click()
        chat.locator(".modelforge-conversation :text('you:')").wait_for(timeout=120_000)
        chat.locator("button:has-text('Send'):enabled").wait_for(timeout=120_000)
        assert chat.locator(".modelforge-chat-error").count() == 0
        answers = chat.locator(".modelforge-conversation").inner_text()
        assert answers.count("What colour is it?") == 1
        assert answers.split("fine-tuned", 1)[1].strip(), "the fine-tuned model said nothing"
        _cell(page, 3).screenshot(path=str(SCREENSHOTS / "classic-chat.png"))
        assert page.locator(_STDERR).count() == 0, page.locator(_STDERR).first.inner_text()
        assert page.locator(_NOT_DRAWN).count() == 0

        # Saved with its widget state (Widgets > Save Notebook Widget State), closed, its
        # kernel shut down: reopened, every output reads as it did.
        page.click("a.dropdown-toggle:has-text('Widgets')")
        page.click("#widget-submenu a:has-text('Save Notebook Widget State')")
        page.wait_for_function(
            "Jupyter.notebook.metadata.widgets && !Jupyter.notebook.dirty", timeout=30_000
        )
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "classic-failure.png"), full_page=True)
        raise
    finally:
        page.close()
    shut_down_kernels(classic)
    page = browser.new_page(viewport={"width": 1300, "height": 1500})
    try:
        _open(page, classic, "classic.ipynb")
        _cell(page, 2).locator(".modelforge-dashboard :text('Stopped at step')").wait_for(
            timeout=60_000
        )
        _cell(page, 3).locator(".modelforge-conversation :text('fine-tuned')").wait_for(
            timeout=60_000
        )
        assert _cell(page, 1).locator(".modelforge-form").count() == 1
        assert page.locator(_NOT_DRAWN).count() == 0
        page.screenshot(path=str(SCREENSHOTS / "classic-reopened.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "classic-reopen-failure.png"), full_page=True)
        raise
    finally:
        page.close()
