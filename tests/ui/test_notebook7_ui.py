"""Notebook 7 (the classic-style interface on JupyterLab's parts): the dashboard's Stop on a
foreground cell, the runs sidebar in its left area and the form's Copy as cell, in headless
Chromium."""

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
    copy_as_cell,
    endless_run_cell,
    write_notebook,
)

pytestmark = pytest.mark.slow


def test_stop_and_the_sidebar_work_in_notebook_7(
    lab: Lab, browser: Any, tiny_causal: Path, tiny_data: dict[str, Path]
) -> None:
    cells = write_notebook(
        lab.root / "nb7.ipynb",
        [
            "%load_ext modelforge_nb",
            endless_run_cell("stop-nb7", tiny_causal, tiny_data["sft"]),
            "%modelforge panel",
        ],
    )
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    try:
        page.goto(lab.url("/notebooks/nb7.ipynb"))
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        lab.wait_for_kernel("nb7.ipynb")
        page.locator(".jp-Notebook .jp-Cell").first.click()
        for _cell in range(cells):
            page.keyboard.press("Shift+Enter")
        dashboard = page.locator(".modelforge-dashboard").first
        dashboard.wait_for(timeout=120_000)
        page.wait_for_selector(".modelforge-dashboard :text('it/s')", timeout=120_000)
        clicked = time.monotonic()
        dashboard.locator("button:has-text('Stop')").click()
        page.wait_for_selector(STOP_FEEDBACK, timeout=1000)
        answered = time.monotonic() - clicked
        page.wait_for_selector(".modelforge-dashboard :text('Stopped at step')", timeout=60_000)
        assert answered <= 1.0
        (folder,) = (lab.root / "home" / "runs").glob("stop-nb7-*")
        assert json.loads((folder / "status.json").read_text())["status"] == "stopped"
        # The runs sidebar lives in Notebook 7's left area (View > Left Sidebar).
        page.click("li.lm-MenuBar-item:has-text('View')")
        page.hover("li.lm-Menu-item:has-text('Left Sidebar')")
        page.click("li.lm-Menu-item:has-text('Show ModelForge runs')")
        sidebar = page.locator("#modelforge-nb-sidebar")
        sidebar.wait_for(timeout=30_000)
        page.wait_for_selector("#modelforge-nb-sidebar :text('stop-nb7')", timeout=30_000)
        sidebar.screenshot(path=str(SCREENSHOTS / "sidebar-notebook7.png"))
        # Copy as cell inserts the form's cell below it here too.
        form = page.locator(".modelforge-form").first
        form.wait_for(timeout=60_000)
        assert copy_as_cell(page, form).startswith("%%modelforge finetune\nmodel: ")
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "notebook7-failure.png"))
        raise
    finally:
        page.close()
