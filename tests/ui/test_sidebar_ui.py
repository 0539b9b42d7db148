"""The JupyterLab sidebar in headless Chromium: runs with status, Stop, both themes."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_helpers import REPO_ROOT, SCREENSHOTS, Lab, free_port

from modelforge_nb.config import FinetuneConfig
from modelforge_nb.runs import Run, Workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sidebar_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A JupyterLab with this package's prebuilt extension and its server extension on."""
    root = tmp_path_factory.mktemp("sidebar")
    extensions = root / "labextensions"
    extensions.mkdir()
    (extensions / "modelforge-nb").symlink_to(REPO_ROOT / "modelforge_nb" / "labextension")
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "MODELFORGE_HOME": str(root / "home"),
        "JUPYTER_CONFIG_DIR": str(root / "cfg"),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.extra_labextensions_path={extensions}",
            '--ServerApp.jpserver_extensions={"modelforge_nb": True}',
        ],
        stdout=subprocess.DEVNULL,
        stderr=(root / "lab.log").open("w"),
        env=env,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2
            ):
                break
        except OSError:
            time.sleep(0.5)
    yield Lab(root, port, token)
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def sidebar_runs(
    sidebar_lab: Lab, tiny_causal: Path, tiny_data: dict[str, Path]
) -> Iterator[dict[str, Run]]:
    workspace = Workspace(sidebar_lab.root / "home")
    done = workspace.finetune(
        FinetuneConfig(
            model=str(tiny_causal),
            dataset=str(tiny_data["sft"]),
            run_name="finished-run",
            training={"max_steps": 8, "batch_size": 4, "logging_steps": 1, "save_steps": 100},
        )
    )
    assert done.wait(timeout=300) == "completed"
    live = workspace.finetune(
        FinetuneConfig(
            model=str(tiny_causal),
            dataset=str(tiny_data["sft"]),
            run_name="live-run",
            training={"max_steps": 3000, "batch_size": 2, "logging_steps": 1, "save_steps": 5000},
        )
    )
    yield {"done": done, "live": live}
    live.stop(wait=True, timeout=120)


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
    sidebar_lab: Lab, sidebar_runs: dict[str, Run], browser: Any
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    panel = _open_sidebar(page, sidebar_lab)
    done = panel.locator(f"li.mf-run[data-run='{sidebar_runs['done'].id}']")
    done.wait_for(timeout=30_000)
    assert done.get_attribute("data-status") == "completed"
    assert done.locator("svg.mf-sparkline").count() == 1
    live = panel.locator(f"li.mf-run[data-run='{sidebar_runs['live'].id}']")
    page.wait_for_selector(
        f"li.mf-run[data-run='{sidebar_runs['live'].id}'][data-status='running']", timeout=90_000
    )
    assert panel.locator(".mf-hardware").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "sidebar-light.png"))
    live.locator("button[data-action='stop']").click()
    page.wait_for_selector(
        f"li.mf-run[data-run='{sidebar_runs['live'].id}'][data-status='stopped']", timeout=120_000
    )
    assert sidebar_runs["live"].status == "stopped"
    page.click("li.lm-MenuBar-item:has-text('Settings')")
    page.hover("li.lm-Menu-item:has-text('Theme')")
    page.click("li.lm-Menu-item:has-text('JupyterLab Dark')")
    page.wait_for_selector("body[data-jp-theme-light='false']", state="attached", timeout=30_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(SCREENSHOTS / "sidebar-dark.png"))
    page.close()
