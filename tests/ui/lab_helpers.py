"""Helpers for the UI tests: where screenshots go, and a running JupyterLab."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
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

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(self.url(f"/api/{path}"), timeout=10) as response:
            return json.load(response)

    def wait_for_kernel(self, notebook: str, timeout: float = 90) -> None:
        """Wait until the page's kernel for ``notebook`` is idle and the page holds its
        websocket: keys pressed before that run no cell (the notebook has no kernel yet)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for session in self.api("sessions"):
                if session["path"] == notebook and session.get("kernel"):
                    kernel = self.api(f"kernels/{session['kernel']['id']}")
                    if kernel["execution_state"] == "idle" and kernel["connections"] >= 1:
                        return
            time.sleep(0.25)
        raise TimeoutError(f"the kernel of {notebook} was not ready in {timeout:.0f} s")


def shut_down_kernels(server: Lab) -> None:
    """Shut down every session's kernel, as closing the notebook and its kernel does: the
    widget models live only in the kernel, so a page opened after this has none."""
    for session in server.api("sessions"):
        request = urllib.request.Request(server.url(f"/api/sessions/{session['id']}"))
        request.method = "DELETE"
        with urllib.request.urlopen(request, timeout=30):
            pass
    deadline = time.monotonic() + 30
    while server.api("kernels") and time.monotonic() < deadline:
        time.sleep(0.5)


def record_console(page: Any, path: Path) -> None:
    """Write the page's console warnings and errors, and its failed requests, to ``path``:
    what the browser knew when a widget failed to show."""
    path.parent.mkdir(parents=True, exist_ok=True)
    log = path.open("w", encoding="utf-8")

    def write(line: str) -> None:
        log.write(f"{time.strftime('%H:%M:%S')} {line}\n")
        log.flush()

    page.on(
        "console",
        lambda message: (
            message.type in {"warning", "error"} and write(f"{message.type}: {message.text}")
        ),
    )
    page.on("pageerror", lambda error: write(f"page error: {error}"))
    page.on("close", lambda _page: log.close())
    page.on(
        "response",
        lambda response: (
            response.status >= 400 and write(f"HTTP {response.status} {response.url.split('?')[0]}")
        ),
    )


def open_and_run_all(page: Any, lab: Lab, notebook: str, cells: int, workspace: str) -> None:
    """Open ``notebook`` in a workspace of its own and press Shift+Enter through its cells.

    A fresh workspace keeps notebooks other tests left open out of the way of the keys.
    """
    page.goto(lab.url(f"/lab/workspaces/{workspace}/tree/{notebook}") + "&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    lab.wait_for_kernel(notebook)
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


def copy_as_cell(page: Any, form: Any) -> str:
    """Click the form's Copy as cell; the text of the cell it inserted right below its own."""
    from playwright.sync_api import expect

    cells = page.locator(".jp-Notebook .jp-Cell")
    count = cells.count()
    own = next(i for i in range(count) if cells.nth(i).locator(".modelforge-form").count())
    form.locator(".modelforge-copy-cell").click()
    expect(cells).to_have_count(count + 1)
    return str(cells.nth(own + 1).locator(".cm-content").inner_text())


#: The dashboard says a stop was heard: stopping, or (when the step was short) stopped.
STOP_FEEDBACK = (
    ".modelforge-dashboard :text('Stopping at the next step'), "
    ".modelforge-dashboard :text('Stopped at step')"
)


def set_theme(page: Any, name: str, *, light: bool) -> None:
    """Switch JupyterLab's theme through its Settings menu (the lab keeps it afterwards)."""
    page.click("li.lm-MenuBar-item:has-text('Settings')")
    page.hover("li.lm-Menu-item:has-text('Theme')")
    page.click(f"li.lm-Menu-item:has-text('{name}')")
    state = "true" if light else "false"
    page.wait_for_selector(f"body[data-jp-theme-light='{state}']", state="attached", timeout=30_000)
    page.wait_for_function(THEME_APPLIED_JS, arg=light, timeout=30_000)


#: Whether the theme's own colours are in force: the lab's base layout colour, resolved by the
#: browser, is light or dark as the theme is (the attribute above can come before the CSS).
THEME_APPLIED_JS = """light => {
  const probe = document.createElement('div');
  probe.style.backgroundColor = 'var(--jp-layout-color0)';
  document.body.appendChild(probe);
  const rgb = getComputedStyle(probe).backgroundColor.match(/[0-9.]+/g).map(Number);
  probe.remove();
  const brightness = (rgb[0] + rgb[1] + rgb[2]) / 765;
  return light ? brightness > 0.5 : brightness < 0.5;
}"""


#: WCAG contrast of every piece of text under an element against what it is drawn on: the
#: nearest backgrounds that are not transparent, blended, and the text's own opacity.
CONTRAST_JS = """root => {
  const parse = c => {
    const p = c.match(/rgba?\\(([^)]+)\\)/)[1].split(',').map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const mix = (top, base, a) => top.map((v, i) => v * a + base[i] * (1 - a));
  const lum = rgb => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(rgb[0]) + 0.7152 * f(rgb[1]) + 0.0722 * f(rgb[2]);
  };
  const background = el => {
    const layers = [];
    for (let n = el; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let base = [255, 255, 255];
    if (layers.length && layers[layers.length - 1][3] >= 1) base = layers.pop().slice(0, 3);
    for (let i = layers.length - 1; i >= 0; i--) {
      base = mix(layers[i].slice(0, 3), base, layers[i][3]);
    }
    return base;
  };
  const out = [];
  for (const el of root.querySelectorAll('*')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    let opacity = 1;
    for (let n = el; n && n !== document.body; n = n.parentElement) {
      opacity *= parseFloat(getComputedStyle(n).opacity);
    }
    const bg = background(el);
    const fg = mix(parse(getComputedStyle(el).color).slice(0, 3), bg, opacity);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    out.push({text: el.textContent.trim().slice(0, 40), ratio: (hi + 0.05) / (lo + 0.05)});
  }
  return out;
}"""
