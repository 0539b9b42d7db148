"""JupyterLab with our lab and server extensions disabled, as on Kaggle or in anyone's lab
that lacks them: no control of ours silently does nothing.

The panel and its Train, a training cell's dashboard (Stop answers within a second, or the
dashboard has said at once to press Interrupt, which stops the run with a checkpoint), the
chat's Send with its Enter hint, and a saved notebook reopened without its kernel.
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

pytestmark = pytest.mark.slow

_NOT_DRAWN = ":text('Error displaying widget')"
_STDERR = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"


def _cell(page: Any, index: int) -> Any:
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def _run_cell(page: Any, index: int) -> None:
    _cell(page, index).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")


def _open(page: Any, lab: Lab, notebook: str, workspace: str) -> None:
    page.goto(lab.url(f"/lab/workspaces/{workspace}/tree/{notebook}") + "&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    lab.wait_for_kernel(notebook)
    news = page.locator(".jp-toast-button:has-text('No')")
    if news.count():
        news.first.click()


def test_panel_train_stop_chat_and_reopen_without_our_extension(
    bare_lab: Lab, browser: Any, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    lab = bare_lab
    write_notebook(
        lab.root / "bare.ipynb",
        [
            "%load_ext modelforge_nb",
            f"%modelforge panel --model {tiny_causal} --dataset {tiny_data['sft']}",
            endless_run_cell("stop-bare", tiny_causal, tiny_data["sft"]),
            # The run the form's Train finished (the stopped one has no weights to chat with).
            "import modelforge_nb as mf\n"
            "trained = next(r for r in mf.list_runs() if r.status == 'completed')\n"
            "%modelforge chat {trained.id}",
        ],
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1300, "height": 1500})
    try:
        _open(page, lab, "bare.ipynb", "bare")
        assert page.locator("#modelforge-nb-sidebar").count() == 0  # the extension is off
        _run_cell(page, 0)
        _run_cell(page, 1)
        form = _cell(page, 1).locator(".modelforge-form")
        train = form.locator("button:has-text('Train'):enabled")
        train.wait_for(timeout=120_000)
        train.click()
        _cell(page, 1).locator(".modelforge-dashboard :text('completed')").wait_for(timeout=300_000)

        _run_cell(page, 2)
        board = _cell(page, 2).locator(".modelforge-dashboard")
        board.locator(":text('it/s')").wait_for(timeout=120_000)
        clicked = time.monotonic()
        board.locator("button:has-text('Stop')").click()
        hint = board.locator(".modelforge-stop-hint :text('Interrupt')")
        page.wait_for_selector(
            f"{STOP_FEEDBACK}, .modelforge-dashboard .modelforge-stop-hint :text('Interrupt')",
            timeout=5000,
        )
        answered = time.monotonic() - clicked
        assert answered <= 1.0, f"nothing answered Stop for {answered:.2f} s"
        if not board.locator(":text('Stopping'), :text('Stopped at step')").count():
            assert hint.is_visible()
            page.locator("jp-button[data-command='notebook:interrupt-kernel']").click()
        board.locator(":text('Stopped at step')").wait_for(timeout=60_000)
        _cell(page, 2).screenshot(path=str(SCREENSHOTS / "bare-lab-stopped.png"))
        (folder,) = (lab.root / "home" / "runs").glob("stop-bare-*")
        assert json.loads((folder / "status.json").read_text())["status"] == "stopped"

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
        _cell(page, 3).screenshot(path=str(SCREENSHOTS / "bare-lab-chat.png"))
        assert page.locator(_STDERR).count() == 0, page.locator(_STDERR).first.inner_text()
        assert page.locator(_NOT_DRAWN).count() == 0
        page.keyboard.press("Control+s")
        page.wait_for_selector(".jp-mod-dirty", state="detached", timeout=30_000)
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "bare-lab-failure.png"), full_page=True)
        raise
    finally:
        page.close()
    shut_down_kernels(lab)
    page = browser.new_page(viewport={"width": 1300, "height": 1500})
    try:
        _open(page, lab, "bare.ipynb", "bare-reopened")
        _cell(page, 2).locator(".modelforge-dashboard :text('Stopped at step')").wait_for(
            timeout=60_000
        )
        _cell(page, 3).locator(".modelforge-conversation :text('fine-tuned')").wait_for(
            timeout=60_000
        )
        assert page.locator(_NOT_DRAWN).count() == 0
        page.screenshot(path=str(SCREENSHOTS / "bare-lab-reopened.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "bare-lab-reopen-failure.png"), full_page=True)
        raise
    finally:
        page.close()
