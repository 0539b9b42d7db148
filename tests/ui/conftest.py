"""A real JupyterLab on 127.0.0.1 and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from lab_helpers import BROWSER_ARGS, CHROMIUM, REPO_ROOT, SCREENSHOTS, Lab, free_port


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab with this package's prebuilt extension and its server extension on."""
    root = tmp_path_factory.mktemp("lab")
    extensions = root / "labextensions"
    extensions.mkdir()
    # A copy, as a wheel installs it: jupyter_server 2.10 (the oldest allowed) answers 403 for
    # static files reached through a link that points outside the extensions folder.
    shutil.copytree(REPO_ROOT / "modelforge_nb" / "labextension", extensions / "modelforge-nb")
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "MODELFORGE_HOME": str(root / "home"),
        "JUPYTER_CONFIG_DIR": str(root / "cfg"),
        "MODELFORGE_EXAMPLE_FAST": "1",
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
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--LabApp.extra_labextensions_path={extensions}",
            # Notebook 7 is an app of its own: without this it would serve the copy that
            # `make setup` installed into the venv, however old.
            f"--JupyterNotebookApp.extra_labextensions_path={extensions}",
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
                f"http://127.0.0.1:{port}/api/status?token={token}",
                timeout=2,
            ):
                break
        except OSError:
            time.sleep(0.5)
    else:
        process.terminate()
        raise RuntimeError((root / "lab.log").read_text())
    yield Lab(root, port, token)
    process.terminate()
    process.wait(timeout=30)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(root / "lab.log", SCREENSHOTS / "lab.log")  # kept beside the screenshots


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield instance
        instance.close()
