"""Widget clicks while a cell is busy: the kernel's waiting messages, handled from the loop
that follows a run.

A busy kernel handles a click on the dashboard's Stop only when the cell ends, unless the
cell itself takes the click off the kernel's queue. jupyter-ui-poll does that on ipykernel 6
(Colab, Kaggle, VS Code, classic Notebook), through the kernel's ``do_one_iteration``, and
holds back cells queued meanwhile until this one ends. ipykernel 7 has no such step (its
shell runs on anyio): there jupyter-ui-poll would do nothing, silently. Where it cannot work
(ipykernel 7, outside a cell's main thread, e.g. in a widget's own callback, or without an
ipykernel), ``ui_events`` yields None and the dashboard says to interrupt; in JupyterLab and
Notebook 7 our extension sends Stop through the server instead, and hides that hint.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: How many waiting messages one call handles at most.
_BATCH = 20


def _running_a_cell() -> bool:
    """Whether this is the main thread of a kernel that can take messages in between,
    running a cell (not a widget callback)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell: Any = get_ipython()
    kernel = getattr(shell, "kernel", None)
    if kernel is None or not hasattr(kernel, "get_parent"):
        return False
    if not callable(getattr(kernel, "do_one_iteration", None)):  # ipykernel 7
        return False
    try:
        parent = kernel.get_parent()
    except TypeError:  # ipykernel 6.0-6.x took the channel as a required argument
        parent = kernel.get_parent("shell")
    return bool(parent) and parent.get("header", {}).get("msg_type") == "execute_request"


@contextmanager
def ui_events() -> Iterator[Callable[[], None] | None]:
    """A function that handles the widget messages waiting for the kernel, or None where
    this kernel cannot."""
    if not _running_a_cell():
        yield None
        return
    try:
        from jupyter_ui_poll import ui_events as poll_events

        context: Any = poll_events()
        poll = context.__enter__()
    except Exception:  # an unknown kernel: Stop still works, through Interrupt
        yield None
        return
    try:
        yield lambda: poll(_BATCH)
    finally:
        context.__exit__(None, None, None)
