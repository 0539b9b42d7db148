"""Helpers for the UI tests: where screenshots go, and a running JupyterLab."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = REPO_ROOT / "build" / "screenshots"
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Lab:
    def __init__(self, root: Path, port: int, token: str) -> None:
        self.root = root
        self.port = port
        self.token = token

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}?token={self.token}"


def open_and_run_all(page: Any, lab: Lab, notebook: str, cells: int, workspace: str) -> None:
    """Open ``notebook`` in a workspace of its own and press Shift+Enter through its cells.

    A fresh workspace keeps notebooks other tests left open out of the way of the keys.
    """
    page.goto(lab.url(f"/lab/workspaces/{workspace}/tree/{notebook}") + "&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_selector(".jp-StatusBar-Widget :text('Idle')", timeout=90_000)
    news = page.locator(".jp-toast-button:has-text('No')")
    if news.count():
        news.first.click()
    page.locator(".jp-Notebook .jp-Cell").first.click()
    for _cell in range(cells):
        page.keyboard.press("Shift+Enter")


def write_notebook(path: Path, sources: list[str]) -> int:
    """A notebook of code cells for the Python 3 kernel; returns how many cells it has."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.write(notebook, path)
    return len(sources)


def endless_run_cell(name: str, model: Path, data: Path) -> str:
    """A ``%%modelforge finetune`` cell whose run goes on until it is stopped."""
    return (
        f"%%modelforge finetune --name {name}\nmodel: {model}\ndataset: {data}\n"
        "training: {max_steps: 100000, batch_size: 2, grad_accum: 1, logging_steps: 1, "
        "save_steps: 100000}"
    )


#: The dashboard says a stop was heard: stopping, or (when the step was short) stopped.
STOP_FEEDBACK = (
    ".modelforge-dashboard :text('Stopping at the next step'), "
    ".modelforge-dashboard :text('Stopped at step')"
)
