"""The live run dashboard: status, progress with ETA, SVG plots, metrics, Stop and Resume.

It follows ``events.jsonl`` and redraws at most a few times a second whatever the logging
rate (the interval grows when drawing is slow), so the training loop never waits for the
notebook and the front end gets a bounded number of messages. A poll with nothing new costs
three ``stat`` calls (the log, the status, the stop request), with a full read once a
second; the log is read only past its last byte, the plots are drawn again only when they
gained points, and the progress line's clock ticks once a second.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

import modelforge_nb.rundir as rundir
from modelforge_nb.widgets.compat import set_tooltip
from modelforge_nb.widgets.curves import RunCurves
from modelforge_nb.widgets.kernel_events import ui_events
from modelforge_nb.widgets.live import LiveDisplay

if TYPE_CHECKING:
    from modelforge_nb.runs import Run

#: JupyterLab's theme colours (light and dark), with fallbacks where no theme is loaded.
_STATUS_COLORS = {
    "queued": "var(--jp-ui-font-color2, #666)",
    "running": "var(--jp-brand-color1, #1f77b4)",
    "completed": "var(--jp-success-color1, #2ca02c)",
    "failed": "var(--jp-error-color1, #d62728)",
    "stopped": "var(--jp-warn-color1, #ff7f0e)",
}


_STOPPING = "Stopping at the next step (a checkpoint is saved)..."
#: Shown under Stop while a cell follows the run and this kernel cannot take a click before
#: the cell ends (an ipykernel 7 without our JupyterLab extension, for one).
INTERRUPT_HINT = (
    "If Stop does not answer within a second, press the notebook's Interrupt (■): the run "
    "stops cleanly, with a checkpoint."
)
#: How often the progress line's clock ticks when no event came.
_TICK_SECONDS = 1.0
#: The files a poll looks at before reading anything.
_WATCHED = (rundir.EVENTS_FILE, rundir.STATUS_FILE, rundir.STOP_REQUEST)


def _mark(path: Path) -> tuple[int, int, int] | None:
    """A file's inode (an atomic rewrite makes a new one), size and modification time;
    None when it is not there."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


class Dashboard:
    """A run's dashboard; ``widget`` is what the notebook displays."""

    def __init__(
        self, run: Run, *, min_interval: float = 0.3, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.run = run
        self.clock = clock
        self.curves = RunCurves()
        self.min_interval = min_interval
        self.interval = min_interval
        self._last_draw = 0.0
        self._last_tick = 0.0
        self._last_read = 0.0
        self._marks: tuple[tuple[int, int, int] | None, ...] = ()
        self._seen = 0
        self._plotted: tuple[Any, ...] | None = None
        self._lock = threading.RLock()  # a click's callback may run on another thread
        self._thread: threading.Thread | None = None
        self._transient = False
        """The message says "Stopping..." or "Resuming...": replaced when the run ends."""
        self.header = widgets.HTML()
        self.progress = widgets.IntProgress(
            min=0, max=1, value=0, layout=widgets.Layout(width="360px")
        )
        self.progress_label = widgets.Label()
        self.plots = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.smoothing = widgets.FloatSlider(
            value=0.0,
            min=0.0,
            max=0.99,
            step=0.01,
            description="smoothing",
            readout_format=".2f",
        )
        set_tooltip(self.smoothing, "Exponential moving average of the loss, as TensorBoard's")
        self.log_scale = widgets.Checkbox(value=False, description="log scale", indent=False)
        self.smoothing.observe(lambda _change: self._draw_plots(), names="value")
        self.log_scale.observe(lambda _change: self._draw_plots(), names="value")
        self.metrics = widgets.HTML()
        self.message = widgets.HTML()
        self.hint = widgets.HTML()
        self.hint.add_class("modelforge-stop-hint")
        self.stop_button = widgets.Button(
            description="Stop",
            icon="stop",
            button_style="warning",
            tooltip="Stop at the next step, saving a checkpoint",
        )
        self.resume_button = widgets.Button(
            description="Resume", icon="play", tooltip="Continue from the last checkpoint"
        )
        self.stop_button.on_click(lambda _button: self.stop())
        # The JupyterLab / Notebook 7 extension finds the button and its run by these
        # classes and asks the server to stop the run while the kernel is busy.
        self.stop_button.add_class("modelforge-stop")
        self.resume_button.on_click(lambda _button: self.resume())
        self.widget = widgets.VBox(
            [
                self.header,
                widgets.HBox([self.progress, self.progress_label]),
                widgets.HBox([self.smoothing, self.log_scale]),
                self.plots,
                self.metrics,
                widgets.HBox([self.stop_button, self.resume_button, self.hint]),
                self.message,
            ],
            layout=widgets.Layout(border="1px solid var(--jp-border-color2, #ddd)", padding="6px"),
        )
        self.widget.add_class("modelforge-dashboard")
        self.widget.add_class(f"modelforge-run-{run.id}")
        self.live = LiveDisplay(self.widget, f"run {run.name}")
        self.update(force=True)

    def _ipython_display_(self) -> None:
        self.live.show(self.static_html())

    def show(self) -> None:
        """Display the dashboard, with its static copy for viewers without widgets."""
        self.live.show(self.static_html())

    def keep_static_copy(self, _board: Any = None) -> None:
        """Bring the static copy up to date (at the end of a run): what a saved notebook or
        ``nbconvert`` shows."""
        self.live.refresh(self.static_html())

    def _files_changed(self, now: float) -> bool:
        """Whether the run's log, status or stop request changed on disk since the last
        look (three ``stat`` calls), or a second has passed: the full read also notices a
        worker that died without a word, which changes no file."""
        marks = tuple(_mark(self.run.output_dir / name) for name in _WATCHED)
        if marks == self._marks and now - self._last_read < _TICK_SECONDS:
            return False
        self._marks, self._last_read = marks, now
        return True

    def _read(self, *, force: bool = False) -> bool:
        """Take in what is new; whether anything is (events, status or error)."""
        if not self._files_changed(self.clock()) and not force:
            return False
        new = self.run.events_after(self._seen)
        self.curves.apply(new)
        self._seen += len(new)
        # status.json is the authority: after a resume the log still ends with the old
        # run's "end" event until the new worker starts.
        before = (self.curves.status, self.curves.error)
        self.curves.status = self.run.status
        if self.curves.ended or before[1] is not None:
            self.curves.error = self.run.error
        if self.curves.ended and not self.curves.metrics:
            self.curves.metrics = self.run.metrics
        return bool(new) or before != (self.curves.status, self.curves.error)

    def update(self, *, force: bool = False) -> bool:
        """Read new events; redraw if something changed and enough time has passed (the
        progress line alone once a second, for its clock). Returns whether it redrew."""
        with self._lock:
            changed = self._read(force=force)
            now = self.clock()
            due = now - self._last_draw >= self.interval
            if not (force or self._stop_unshown() or (changed and due)):
                if not self.curves.ended and now - self._last_tick >= _TICK_SECONDS:
                    self._last_tick = now
                    self.progress_label.value = self.curves.progress_text()
                return False
            self._draw()
            spent = self.clock() - now
            self.interval = max(self.min_interval, 4 * spent)
            self._last_draw = self._last_tick = self.clock()
            return True

    def _draw(self) -> None:
        curves = self.curves
        color = _STATUS_COLORS.get(curves.status, _STATUS_COLORS["queued"])
        self.header.value = (
            f"<b>{html.escape(self.run.name)}</b> <span style='color: {color}'>"
            f"● {html.escape(curves.status)}</span> <span style='opacity: 0.7'>"
            f"({html.escape(self.run.id)})</span>"
        )
        self.progress.max = max(curves.total_steps or 1, 1)
        self.progress.value = min(curves.step, self.progress.max)
        self.progress.bar_style = {
            "completed": "success",
            "failed": "danger",
            "stopped": "warning",
        }.get(curves.status, "info")
        self.progress_label.value = curves.progress_text()
        self._draw_plots()
        self.metrics.value = curves.metrics_html() + curves.samples_html()
        self.stop_button.disabled = curves.ended
        self.resume_button.disabled = curves.status not in {"stopped", "failed"}
        if self._stop_unshown():
            # asked for elsewhere: the sidebar, REST, or this Stop while the kernel was busy
            self.message.value = _STOPPING
            self._transient = True
        if curves.ended and (self._transient or curves.status == "stopped"):
            self._transient = False  # "Stopping..." or "Resuming..." is over
            self.message.value = (
                f"Stopped at step {curves.step}; a checkpoint is saved and Resume continues "
                "from it."
                if curves.status == "stopped"
                else ""
            )
        if curves.error:
            details = self.run.error_details  # a reward's own traceback
            self.message.value = (
                f"<span style='color: var(--jp-error-color1, #b00)'>"
                f"{html.escape(curves.error)}</span>"
                + (f"<pre>{html.escape(details)}</pre>" if details else "")
            )

    def _stop_unshown(self) -> bool:
        """A stop was asked for and the dashboard does not say so yet: shown at once."""
        return not self.curves.ended and not self._transient and self.run.stop_requested

    def _draw_plots(self) -> None:
        """Draw the charts again when they gained points or their settings changed."""
        key = (self.curves.points_drawn(), self.smoothing.value, self.log_scale.value)
        if key == self._plotted:
            return
        self._plotted = key
        self.plots.value = self.curves.plots_html(
            smoothing=self.smoothing.value, log_y=self.log_scale.value
        )

    def stop(self) -> None:
        with self._lock:
            if self.curves.ended:
                return
            self.message.value = _STOPPING
            self._transient = True
            self.run.stop()
            self.update(force=True)

    def resume(self) -> None:
        self.message.value = "Resuming from the last complete checkpoint..."
        self.run.resume()
        self.curves.status = "queued"
        self.curves.error = None
        self._transient = True
        self.follow_in_background()

    def follow(self, *, poll: float = 0.2, on_end: Any = None) -> str:
        """Follow the run in the foreground until it ends (the Colab-safe way).

        The kernel is busy meanwhile, so between polls this loop takes the widget clicks
        waiting for it (``ui_events``): Stop answers within a poll. Where the kernel does
        not allow that, the dashboard says to interrupt; in JupyterLab and Notebook 7 the
        extension also sends Stop to the server at once (REST), and this loop shows
        "Stopping..." as soon as the request is there. Interrupting the cell (the notebook's
        stop button) stops the run cleanly too: it saves a checkpoint and ends ``stopped``.
        """
        with ui_events() as take_clicks:
            self.hint.value = "" if take_clicks is not None else _hint_html()
            try:
                while True:
                    self.update()
                    if self.curves.ended:
                        break
                    if take_clicks is not None:
                        take_clicks()
                    time.sleep(poll)
            except KeyboardInterrupt:
                self.message.value = "Interrupted: stopping the run with a checkpoint..."
                self.run.stop(wait=True, timeout=600)
        self.hint.value = ""
        self.update(force=True)
        self.keep_static_copy()
        if on_end is not None:
            on_end(self)
        return self.curves.status

    def follow_in_background(self, *, poll: float = 0.2) -> None:
        """Keep the dashboard live from a thread (JupyterLab, Notebook 7, VS Code)."""
        if self._thread is not None and self._thread.is_alive():
            return

        def loop() -> None:
            while True:
                self.update()
                if self.curves.ended:
                    self.update(force=True)
                    self.keep_static_copy()
                    return
                time.sleep(poll)

        self._thread = threading.Thread(target=loop, name=f"dashboard-{self.run.id}", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait until a background follow has ended (its static copy is then current)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def static_html(self) -> str:
        return self.curves.static_html(self.run.name)


def _hint_html() -> str:
    return f"<span style='opacity: 0.85'>{html.escape(INTERRUPT_HINT)}</span>"
