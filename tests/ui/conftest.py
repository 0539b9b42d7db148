"""A real JupyterLab on 127.0.0.1 and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import json
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
def classic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Classic Notebook 6.5 with ipywidgets 7's widgetsnbextension: the front end closest to
    Colab's that runs here (make test-colab's venv has it). No extension of ours is in it,
    and its kernels follow runs in the foreground, as on Colab."""
    root = tmp_path_factory.mktemp("classic")
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "MODELFORGE_HOME": str(root / "home"),
        "JUPYTER_CONFIG_DIR": str(root / "cfg"),
        "MODELFORGE_FOREGROUND": "1",
    }
    argv = [
        sys.executable,
        "-m",
        "notebook",
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--NotebookApp.token={token}",
        f"--NotebookApp.notebook_dir={root}",
    ]
    yield from _serve(argv, Lab(root, port, token), env)


@pytest.fixture(scope="session")
def bare_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab with this package's lab and server extensions both disabled: Kaggle's
    JupyterLab, or anyone's without our extension."""
    root = tmp_path_factory.mktemp("bare-lab")
    config = root / "cfg"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"modelforge-nb": True}})
    )
    # Settings > Save Widget State Automatically (what docs/install.md asks of such a lab).
    settings = root / "settings" / "@jupyter-widgets" / "jupyterlab-manager"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text(json.dumps({"saveState": True}))
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "MODELFORGE_HOME": str(root / "home"),
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),
    }
    argv = [
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
        '--ServerApp.jpserver_extensions={"modelforge_nb": False}',
    ]
    yield from _serve(argv, Lab(root, port, token), env)


def _serve(argv: list[str], lab: Lab, env: dict[str, str]) -> Iterator[Lab]:
    log = lab.root / "server.log"
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log.open("w"), env=env)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(lab.url("/api/status"), timeout=2):
                break
        except OSError:
            time.sleep(0.5)
    else:
        process.terminate()
        raise RuntimeError(log.read_text())
    yield lab
    process.terminate()
    process.wait(timeout=30)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(log, SCREENSHOTS / f"{lab.root.name}.log")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield instance
        instance.close()
