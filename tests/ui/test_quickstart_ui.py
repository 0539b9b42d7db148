"""The quickstart notebook run cell by cell in JupyterLab, as a newcomer would.

Its screenshots are the ones the README and docs/quickstart.md show (``make screenshots``
copies them to docs/images). The lab's kernels run the notebook's fast mode.
"""

from __future__ import annotations

import shutil
from typing import Any

import nbformat
import pytest
from lab_helpers import SCREENSHOTS, Lab, open_and_run_all
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
    open_and_run_all(page, lab, "quickstart.ipynb", cells, workspace="quickstart")
    try:
        page.wait_for_selector(".modelforge-dashboard :text('completed')", timeout=300_000)
        page.wait_for_selector("th:text('fine-tuned')", timeout=300_000)
        page.wait_for_selector(":text('wrote quickstart-output')", timeout=120_000)
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
    page.close()
