"""A run's progress as data: curves, status, ETA and metrics, built from its events.

Kept apart from the widgets so the dashboard, the static HTML copy, the text renderer and
the tests share one reading of the event log.
"""

from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass, field
from typing import Any

from modelforge_nb.widgets.plot import Downsampler, Point, line_chart

#: The final metrics that say how good a run is: the runs table shows these.
QUALITY_METRICS = frozenset(
    {
        "train_loss",
        "eval_loss",
        "perplexity",
        "rouge1",
        "rouge2",
        "rougeL",
        "exact_match",
        "f1",
        "reward_accuracy",
    }
)
#: The final metrics the dashboard shows: quality, and how the run went.
SHOWN_METRICS = QUALITY_METRICS | {"eval_mean_token_accuracy", "global_step", "runtime_s"}


def _finite(value: Any) -> float | None:
    """A logged number to plot; None for a missing value and for "nan" or "inf" (logged
    as text when training diverges: the run's error says so, the plot skips them)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass
class RunCurves:
    loss: list[Point] = field(default_factory=list)
    eval_loss: list[Point] = field(default_factory=list)
    learning_rate: list[Point] = field(default_factory=list)
    tokens_per_second: list[Point] = field(default_factory=list)
    step: int = 0
    total_steps: int | None = None
    status: str = "queued"
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    _first: tuple[float, int] | None = None
    _last_time: float | None = None
    _drawn: dict[str, Downsampler] = field(default_factory=dict)

    def _keep(self, curve: list[Point], name: str, point: Point) -> None:
        curve.append(point)
        self._drawn.setdefault(name, Downsampler()).add(point)

    def _drawable(self, name: str) -> list[Point]:
        sampler = self._drawn.get(name)
        return sampler.points() if sampler else []

    def apply(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            kind = event.get("type")
            step = int(event.get("step") or 0)
            if kind == "log":
                self.step = max(self.step, step)
                self.total_steps = event.get("total_steps") or self.total_steps
                loss, rate = _finite(event.get("loss")), _finite(event.get("learning_rate"))
                speed = _finite(event.get("tokens_per_second"))
                if loss is not None:
                    self._keep(self.loss, "loss", (step, loss))
                if rate is not None:
                    self._keep(self.learning_rate, "learning_rate", (step, rate))
                if speed:
                    self._keep(self.tokens_per_second, "tokens_per_second", (step, speed))
                stamp = float(event.get("time", time.time()))
                if self._first is None or step < self._first[1]:
                    self._first = (stamp, step)
                self._last_time = stamp
                self.status = "running"
            elif kind == "eval" and _finite(event.get("eval_loss")) is not None:
                self._keep(self.eval_loss, "eval_loss", (step, float(event["eval_loss"])))
            elif kind == "start":
                self.status = "running"
                self.device = event.get("device")
                self._first = None
            elif kind == "end":
                self.status = str(event.get("status"))
                self.error = event.get("error")
                self.metrics = dict(event.get("metrics") or {})

    @property
    def ended(self) -> bool:
        return self.status in {"completed", "failed", "stopped"}

    def eta_seconds(self) -> float | None:
        if self._first is None or self._last_time is None or not self.total_steps:
            return None
        start_time, start_step = self._first
        done = self.step - start_step
        if done <= 0:
            return None
        per_step = (self._last_time - start_time) / done
        return max(0.0, per_step * (self.total_steps - self.step))

    def progress_text(self) -> str:
        total = self.total_steps or "?"
        text = f"step {self.step}/{total}"
        eta = self.eta_seconds()
        if eta is not None and not self.ended:
            text += f" · ETA {int(eta // 60)}:{int(eta % 60):02d}"
        if self.loss:
            text += f" · loss {self.loss[-1][1]:.4f}"
        return text

    def plots_html(self) -> str:
        drawable = self._drawable
        charts = [
            line_chart({"train": drawable("loss"), "eval": drawable("eval_loss")}, title="Loss"),
            line_chart({"lr": drawable("learning_rate")}, title="Learning rate"),
            line_chart({"tokens/s": drawable("tokens_per_second")}, title="Throughput (tokens/s)"),
        ]
        cells = "".join(f'<div style="flex: 0 0 auto">{c}</div>' for c in charts)
        return f'<div style="display: flex; flex-wrap: wrap; gap: 8px">{cells}</div>'

    def metrics_html(self) -> str:
        shown = {
            k: v
            for k, v in self.metrics.items()
            if k in SHOWN_METRICS and isinstance(v, int | float)
        }
        if not shown:
            return ""
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td style='text-align: right'>{v:.4g}</td></tr>"
            if isinstance(v, float)
            else f"<tr><td>{html.escape(k)}</td><td style='text-align: right'>{v}</td></tr>"
            for k, v in sorted(shown.items())
        )
        return (
            f"<table><caption style='text-align: left'><b>Final metrics</b></caption>{rows}</table>"
        )

    def static_html(self, title: str) -> str:
        """The final curves and metrics as plain HTML, for viewers that show no widgets."""
        head = (
            f"<h4 style='margin: 4px 0'>{html.escape(title)}: {html.escape(self.status)}"
            f" · {html.escape(self.progress_text())}</h4>"
        )
        error = f"<p style='color: #b00'>{html.escape(self.error)}</p>" if self.error else ""
        return (
            f"<div class='modelforge-static'>{head}{error}{self.plots_html()}"
            f"{self.metrics_html()}</div>"
        )


def curves_of(run: Any) -> RunCurves:
    """The curves of a run (a ``Run``) as its event log has them now."""
    curves = RunCurves()
    curves.apply(run.events)
    return curves


def loss_svg(run: Any, *, width: int = 640, height: int = 320) -> str:
    """The run's train and eval loss as a standalone SVG document, for a file or a report."""
    curves = curves_of(run)
    return line_chart(
        {"train": curves.loss, "eval": curves.eval_loss},
        title=f"Loss: {getattr(run, 'name', '')}".rstrip(": "),
        width=width,
        height=height,
    )
