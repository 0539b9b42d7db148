"""A run's progress as data: curves, status, ETA and metrics, built from its events.

Kept apart from the widgets so the dashboard, the static HTML copy, the text renderer and
the tests share one reading of the event log.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence
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
#: Each metric's name for people, and its unit, in the order the dashboard lists them.
METRIC_NAMES = {
    "train_loss": ("average train loss", ""),
    "eval_loss": ("eval loss", ""),
    "perplexity": ("eval perplexity", ""),
    "eval_mean_token_accuracy": ("eval token accuracy", "%"),
    "rouge1": ("ROUGE-1", "%"),
    "rouge2": ("ROUGE-2", "%"),
    "rougeL": ("ROUGE-L", "%"),
    "exact_match": ("exact match", "%"),
    "f1": ("F1", "%"),
    "reward_accuracy": ("reward accuracy (chosen over rejected)", "%"),
    "global_step": ("optimizer steps", ""),
    "runtime_s": ("run time", "time"),
}
#: Metrics recorded as a fraction of 1 (the others with a % are already percentages).
_FRACTIONS = {"eval_mean_token_accuracy", "rouge1", "rouge2", "rougeL", "reward_accuracy"}


def metric_name(key: str) -> str:
    return METRIC_NAMES.get(key, (key, ""))[0]


def metric_value(key: str, value: float) -> str:
    """A metric as people read it: percentages with a %, the run time as h:mm:ss."""
    unit = METRIC_NAMES.get(key, (key, ""))[1]
    if unit == "time":
        return _clock(float(value))
    if unit == "%":
        return f"{value * 100 if key in _FRACTIONS else value:.1f}%"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


#: GRPO's logged values plotted besides the per-reward ones (``rewards/NAME/...``).
_RL_KEYS = frozenset({"reward", "kl", "completions/mean_length"})


def _score(value: Any) -> str:
    number = _finite(value)
    return "none" if number is None else f"{number:.3g}"


def _finite(value: Any) -> float | None:
    """A logged number to plot; None for a missing value and for "nan" or "inf" (logged
    as text when training diverges: the run's error says so, the plot skips them)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _clock(seconds: float) -> str:
    """mm:ss, or h:mm:ss past an hour (the transformers progress bar's format)."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


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
    epoch: float | None = None
    stage: str | None = None
    """What the worker is doing before the first step (``stage`` events)."""
    rl: dict[str, list[Point]] = field(default_factory=dict)
    """GRPO's logged curves by trl's names: ``rewards/NAME/mean`` and ``/std``, ``reward``,
    ``kl``, ``completions/mean_length``."""
    samples: list[dict[str, Any]] = field(default_factory=list)
    """GRPO: completions of the first prompts with each reward, tried before training."""
    _began: float | None = None
    _ended_at: float | None = None
    _first: tuple[float, int] | None = None
    _last_time: float | None = None
    _drawn: dict[str, Downsampler] = field(default_factory=dict)
    _points: int = 0

    def _keep(self, curve: list[Point], name: str, point: Point) -> None:
        curve.append(point)
        self._drawn.setdefault(name, Downsampler()).add(point)
        self._points += 1

    def points_drawn(self) -> int:
        """How many points the curves have taken in: the plots change only when this does."""
        return self._points

    def _drawable(self, name: str) -> list[Point]:
        sampler = self._drawn.get(name)
        return sampler.points() if sampler else []

    def apply(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            kind = event.get("type")
            step = int(event.get("step") or 0)
            if kind == "stage":
                self.stage = str(event.get("name"))
                self.status = "running"
                if self._began is None:
                    self._began = float(event.get("time", time.time()))
            elif kind == "log":
                self.step = max(self.step, step)
                self.epoch = _finite(event.get("epoch")) or self.epoch
                self.total_steps = event.get("total_steps") or self.total_steps
                loss, rate = _finite(event.get("loss")), _finite(event.get("learning_rate"))
                speed = _finite(event.get("tokens_per_second"))
                if loss is not None:
                    self._keep(self.loss, "loss", (step, loss))
                if rate is not None:
                    self._keep(self.learning_rate, "learning_rate", (step, rate))
                if speed:
                    self._keep(self.tokens_per_second, "tokens_per_second", (step, speed))
                for key, value in event.items():
                    if key.startswith("rewards/") or key in _RL_KEYS:
                        number = _finite(value)
                        if number is not None:
                            self._keep(self.rl.setdefault(key, []), key, (step, number))
                stamp = float(event.get("time", time.time()))
                if self._first is None or step < self._first[1]:
                    self._first = (stamp, step)
                self._last_time = stamp
                self.status = "running"
            elif kind == "samples":
                self.samples = [dict(s) for s in event.get("samples") or []]
            elif kind == "eval" and _finite(event.get("eval_loss")) is not None:
                self._keep(self.eval_loss, "eval_loss", (step, float(event["eval_loss"])))
            elif kind == "start":
                self.status = "running"
                self.device = event.get("device")
                self._first = None
                if self._began is None or self.step:  # a resumed run starts its clock again
                    self._began = float(event.get("time", time.time()))
            elif kind == "end":
                self._ended_at = _finite(event.get("time"))
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

    def seconds_per_step(self) -> float | None:
        if self._first is None or self._last_time is None:
            return None
        done = self.step - self._first[1]
        return (self._last_time - self._first[0]) / done if done > 0 else None

    def progress_text(self, now: float | None = None) -> str:
        """One line, as transformers' notebook bar has it: the stage before the first step
        ("loading the model… 00:12"), then step, elapsed < remaining, speed, epoch, loss."""
        now = time.time() if now is None else now
        elapsed = None
        if self._began is not None:
            end = (self._ended_at or self._last_time or now) if self.ended else now
            elapsed = max(0.0, end - self._began)
        if self.step == 0 and not self.ended:
            if self.stage and elapsed is not None:
                return f"{self.stage}… {_clock(elapsed)}"
            return "queued: waiting for the worker to start"
        text = f"step {self.step}/{self.total_steps or '?'}"
        eta = self.eta_seconds()
        if elapsed is not None:
            text += f" · {_clock(elapsed)}"
            if eta is not None and not self.ended:
                text += f" < {_clock(eta)}"
        per_step = self.seconds_per_step()
        if per_step:
            text += f", {per_step:.2f} s/step" if per_step >= 1 else f", {1 / per_step:.2f} it/s"
        if self.epoch is not None:
            text += f" · epoch {self.epoch:.2f}"
        if self.loss:
            text += f" · loss {self.loss[-1][1]:.4f}"
        return text

    def plots_html(self, *, smoothing: float = 0.0, log_y: bool = False) -> str:
        """Loss, learning rate and throughput, side by side as wide as the cell allows;
        ``smoothing`` (EMA, as TensorBoard) and ``log_y`` apply to the loss."""
        drawable = self._drawable
        charts = [
            line_chart(
                {"train": drawable("loss"), "eval": drawable("eval_loss")},
                title="Loss",
                y_label="loss" + (" (log)" if log_y else ""),
                smoothing=smoothing,
                log_y=log_y,
            ),
            line_chart({"lr": drawable("learning_rate")}, title="Learning rate", y_label="rate"),
            line_chart(
                {"tokens/s": drawable("tokens_per_second")},
                title="Throughput",
                y_label="tokens/s",
            ),
        ]
        charts += self._rl_charts(smoothing)
        cells = "".join(f"<div>{c}</div>" for c in charts)
        return (
            '<div style="display: grid; gap: 8px; '
            'grid-template-columns: repeat(auto-fit, minmax(300px, 1fr))">'
            f"{cells}</div>"
        )

    def _rl_charts(self, smoothing: float) -> list[str]:
        """GRPO: each reward's mean and spread within the groups, the KL to the base model
        and the completions' length."""
        if not self.rl:
            return []
        drawable = self._drawable
        names = sorted({k.split("/")[1] for k in self.rl if k.count("/") == 2})
        means: dict[str, Sequence[Point]] = {
            name: drawable(f"rewards/{name}/mean") for name in names
        }
        if "reward" in self.rl:
            means["total"] = drawable("reward")
        charts = [
            line_chart(means, title="Reward (mean)", y_label="reward", smoothing=smoothing),
            line_chart(
                {name: drawable(f"rewards/{name}/std") for name in names},
                title="Reward (std within a group)",
                y_label="std",
            ),
        ]
        if "kl" in self.rl:
            charts.append(line_chart({"kl": drawable("kl")}, title="KL to the base", y_label="kl"))
        if "completions/mean_length" in self.rl:
            charts.append(
                line_chart(
                    {"mean": drawable("completions/mean_length")},
                    title="Completion length",
                    y_label="tokens",
                )
            )
        return charts

    def samples_html(self) -> str:
        """GRPO: the completions the rewards were tried on, each with its rewards."""
        if not self.samples:
            return ""
        names = list(self.samples[0].get("rewards", {}))
        head = "".join(f"<th>{html.escape(n)}</th>" for n in ["prompt", "completion", *names])
        rows = ""
        for sample in self.samples:
            rewards = sample.get("rewards", {})
            cells = [str(sample.get("prompt", "")), str(sample.get("completion", ""))]
            scores = "".join(
                f"<td style='text-align: right'>{_score(rewards.get(n))}</td>" for n in names
            )
            rows += (
                "<tr>"
                + "".join(
                    f"<td style='white-space: pre-wrap'>{html.escape(c[:300])}</td>" for c in cells
                )
                + f"{scores}</tr>"
            )
        return (
            "<table><caption style='text-align: left'><b>Sample completions and their rewards "
            f"(before training)</b></caption><tr>{head}</tr>{rows}</table>"
        )

    def metrics_html(self) -> str:
        """The final metrics with their human names and units, and why the average train
        loss differs from the last logged one."""
        shown = {
            k: v
            for k, v in self.metrics.items()
            if k in SHOWN_METRICS and isinstance(v, int | float)
        }
        if not shown:
            return ""
        order = list(METRIC_NAMES)
        rows = "".join(
            f"<tr title='{html.escape(k, quote=True)}'><td>{html.escape(metric_name(k))}</td>"
            f"<td style='text-align: right'>{html.escape(metric_value(k, v))}</td></tr>"
            for k, v in sorted(shown.items(), key=lambda kv: order.index(kv[0]))
        )
        note = ""
        if "train_loss" in shown and self.loss:
            step, last = self.loss[-1]
            note = (
                "<div style='opacity: 0.75'>The average train loss is the mean over every "
                "step of the run, the first (untrained) steps included; the last logged loss "
                f"(step {step}) is {last:.4f}.</div>"
            )
        return (
            f"<table><caption style='text-align: left'><b>Final metrics</b></caption>{rows}"
            f"</table>{note}"
        )

    def static_html(self, title: str) -> str:
        """The final curves and metrics as plain HTML, for viewers that show no widgets."""
        head = (
            f"<h4 style='margin: 4px 0'>{html.escape(title)}: {html.escape(self.status)}"
            f" · {html.escape(self.progress_text())}</h4>"
        )
        error = (
            f"<p style='color: var(--jp-error-color1, #b00)'>{html.escape(self.error)}</p>"
            if self.error
            else ""
        )
        return (
            f"<div class='modelforge-static'>{head}{error}{self.plots_html()}"
            f"{self.metrics_html()}{self.samples_html()}</div>"
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
