"""Runs side by side: their loss curves on one chart, and the config fields that differ
(what a W&B run comparison shows first)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from modelforge_nb.widgets.curves import QUALITY_METRICS, curves_of
from modelforge_nb.widgets.plot import Point, line_chart


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """A config dict as dotted field names (``training.learning_rate``) to values."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def config_differences(runs: list[Any]) -> dict[str, list[Any]]:
    """The config fields whose values differ between ``runs``, each with every run's value."""
    flat = [_flat(run.config.to_dict()) for run in runs]
    names = sorted({name for fields in flat for name in fields})
    return {
        name: [fields.get(name) for fields in flat]
        for name in names
        if len({repr(fields.get(name)) for fields in flat}) > 1
    }


def _shown(value: Any) -> str:
    """A table cell's text: a field that is not set reads as a dash, not as Python's None."""
    return "—" if value is None else str(value)


def _label(run: Any, runs: list[Any]) -> str:
    """A run's name, or its id where another compared run has the same name."""
    same = [other for other in runs if other.name == run.name]
    return str(run.name if len(same) == 1 else run.id)


def compare_html(runs: list[Any], *, width: int = 640, height: int = 280) -> str:
    """The runs' train (and eval) loss overlaid, their final metrics, and a table of the
    config fields that differ."""
    labels = [_label(run, runs) for run in runs]
    curves = [curves_of(run) for run in runs]
    train = line_chart(
        {label: c.loss for label, c in zip(labels, curves, strict=True)},
        title="Train loss",
        width=width,
        height=height,
    )
    evals: dict[str, Sequence[Point]] = {
        label: c.eval_loss for label, c in zip(labels, curves, strict=True) if c.eval_loss
    }
    eval_chart = line_chart(evals, title="Eval loss", width=width, height=height) if evals else ""
    head = "".join(f"<th>{html.escape(label)}</th>" for label in labels)
    rows = []
    for name, values in config_differences(runs).items():
        cells = "".join(f"<td>{html.escape(_shown(v))}</td>" for v in values)
        rows.append(f"<tr><td><code>{html.escape(name)}</code></td>{cells}</tr>")
    metrics = sorted({k for run in runs for k in run.metrics if k in QUALITY_METRICS})
    for name in ["status", *metrics]:
        values = [run.status if name == "status" else run.metrics.get(name) for run in runs]
        cells = "".join(
            f"<td>{v:.4g}</td>" if isinstance(v, float) else f"<td>{html.escape(_shown(v))}</td>"
            for v in values
        )
        rows.append(f"<tr><td>{html.escape(name)}</td>{cells}</tr>")
    if len(rows) == 1 + len(metrics):
        rows.insert(0, f"<tr><td colspan='{len(runs) + 1}'>The configs are the same.</td></tr>")
    table = (
        f"<table class='modelforge-compare'><tr><th>field</th>{head}</tr>{''.join(rows)}</table>"
    )
    return f"<div class='modelforge-compare'>{train}{eval_chart}{table}</div>"
