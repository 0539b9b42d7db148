"""The quickstart notebook run cell by cell in JupyterLab, as a newcomer would.

Its screenshots are the ones the README and docs/quickstart.md show (``make screenshots``
copies them to docs/images). The lab's kernels run the notebook's fast mode.
"""

from __future__ import annotations

import shutil
from typing import Any

import nbformat
import pytest
from lab_helpers import (
    CONTRAST_JS,
    SCREENSHOTS,
    Lab,
    open_and_run_all,
    record_console,
    set_theme,
)
from repo_paths import REPO_ROOT

pytestmark = pytest.mark.slow


def test_quickstart_runs_in_jupyterlab_with_panel_dashboard_and_comparison(
    lab: Lab, browser: Any
) -> None:
    source = REPO_ROOT / "example_notebooks" / "01_quickstart.ipynb"
    shutil.copy(source, lab.root / "quickstart.ipynb")
    cells = len(nbformat.read(source, as_version=4).cells)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 1800})
    record_console(page, SCREENSHOTS / "quickstart-console.log")
    open_and_run_all(page, lab, "quickstart.ipynb", cells, workspace="quickstart")
    try:
        page.wait_for_selector(".modelforge-dashboard :text('completed')", timeout=300_000)
        page.wait_for_selector("th:text('fine-tuned')", timeout=300_000)
        page.wait_for_selector(":text('wrote quickstart-output')", timeout=120_000)
        # Back up to the panel's cell (cells far above the last one may render late).
        panel_cell = page.locator(".jp-Cell:has-text('%modelforge panel')").first
        panel_cell.scroll_into_view_if_needed()
        page.wait_for_selector(".modelforge-panel, :text('model not found')", timeout=60_000)
        # A user who scrolls back must see the panel, never "Error displaying widget: model
        # not found" (quickstart-console.log keeps what the browser said if it happens).
        assert not page.locator(":text('model not found')").count(), "the panel did not display"
        page.locator(".modelforge-panel").first.wait_for(state="attached", timeout=60_000)
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "quickstart-failure.png"))
        raise
    stderr = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    assert page.locator(stderr).count() == 0
    assert not page.locator(".jp-OutputArea-output :text('Traceback')").count()
    panel = page.locator(".modelforge-panel").first
    panel.scroll_into_view_if_needed()
    panel.screenshot(path=str(SCREENSHOTS / "quickstart-panel.png"))
    dashboard = page.locator(".modelforge-dashboard").first
    dashboard.scroll_into_view_if_needed()
    assert dashboard.locator("svg").count() >= 3
    dashboard.screenshot(path=str(SCREENSHOTS / "quickstart-dashboard.png"))
    assert (lab.root / "quickstart-output" / "summary.json").is_file()
    _chat_text_is_readable_in_both_themes(page)
    page.close()


def _chat_text_is_readable_in_both_themes(page: Any) -> None:
    """Ask the quickstart's chat a question (base vs fine-tuned); every piece of its text must
    have a WCAG contrast of at least 4.5:1 against what it is drawn on, light and dark."""
    chat = page.locator(".modelforge-chat").first
    chat.scroll_into_view_if_needed()
    box = chat.locator("textarea[placeholder='Say something...']")
    box.fill("What colour is")
    box.press("Shift+Enter")  # a new line, not a message
    assert box.input_value() == "What colour is\n"
    box.fill("What colour is the Zephyr kettle?")
    box.press("Enter")  # sends, as in every chat
    page.wait_for_selector(".modelforge-conversation :text('fine-tuned')", timeout=60_000)
    assert box.input_value() == ""
    # Send is disabled while the answers stream in, and enabled again when both are done.
    page.wait_for_selector(".modelforge-chat button:has-text('Send'):enabled", timeout=120_000)
    try:
        for theme, light in (("JupyterLab Light", True), ("JupyterLab Dark", False)):
            set_theme(page, theme, light=light)
            chat.scroll_into_view_if_needed()
            chat.screenshot(path=str(SCREENSHOTS / f"chat-{'light' if light else 'dark'}.png"))
            ratios = chat.locator(".modelforge-conversation").evaluate(CONTRAST_JS)
            assert ratios, "no chat text found"
            worst = min(ratios, key=lambda r: r["ratio"])
            assert worst["ratio"] >= 4.5, (theme, worst)
    finally:
        set_theme(page, "JupyterLab Light", light=True)
