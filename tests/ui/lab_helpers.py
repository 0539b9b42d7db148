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
