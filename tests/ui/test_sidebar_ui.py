"""The JupyterLab sidebar in headless Chromium: runs with status, Stop, both themes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_helpers import SCREENSHOTS, Lab, set_theme
from run_helpers import finished_and_live

from modelforge_nb.runs import Run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sidebar_runs(
    lab: Lab, tiny_causal: Path, tiny_data: dict[str, Path]
) -> Iterator[dict[str, Run]]:
    with finished_and_live(lab.root / "home", tiny_causal, tiny_data["sft"]) as runs:
        yield runs


def _open_sidebar(page: Any, lab: Lab) -> Any:
    page.goto(lab.url("/lab"))
    tab = page.locator("li.lm-TabBar-tab[data-id='modelforge-nb-sidebar']")
    tab.wait_for(timeout=90_000)
    tab.click()
    panel = page.locator("#modelforge-nb-sidebar")
    panel.wait_for(timeout=30_000)
    news = page.locator(".jp-toast-button:has-text('No')")
    if news.count():
        news.first.click()
    return panel


def test_sidebar_lists_runs_and_stops_a_live_one(
    lab: Lab, sidebar_runs: dict[str, Run], browser: Any
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    panel = _open_sidebar(page, lab)
    done = panel.locator(f"li.mf-run[data-run='{sidebar_runs['done'].id}']")
    done.wait_for(timeout=30_000)
    assert done.get_attribute("data-status") == "completed"
    assert done.locator("svg.mf-sparkline").count() == 1
    live = panel.locator(f"li.mf-run[data-run='{sidebar_runs['live'].id}']")
    page.wait_for_selector(
        f"li.mf-run[data-run='{sidebar_runs['live'].id}'][data-status='running']", timeout=90_000
    )
    assert panel.locator(".mf-hardware").count() == 1
    # Each card: model, start time and duration; its buttons on one row.
    facts = done.locator(".mf-run-facts").inner_text()
    assert "causal" in facts and "started" in facts, facts
    boxes = [b.bounding_box() for b in live.locator(".mf-actions button").all()]
    assert len(boxes) == 3 and len({round(b["y"]) for b in boxes if b}) == 1, boxes
    page.screenshot(path=str(SCREENSHOTS / "sidebar-light.png"))
    live.locator("button[data-action='stop']").click()
    # Feedback at once, kept until the run has stopped.
    page.wait_for_selector(
        f"li.mf-run[data-run='{sidebar_runs['live'].id}'] button:has-text('Stopping')",
        timeout=1_000,
    )
    page.wait_for_selector(
        f"li.mf-run[data-run='{sidebar_runs['live'].id}'][data-status='stopped']", timeout=120_000
    )
    assert sidebar_runs["live"].status == "stopped"
    set_theme(page, "JupyterLab Dark", light=False)
    page.screenshot(path=str(SCREENSHOTS / "sidebar-dark.png"))
    page.close()
