"""Read-only panels: hardware (with memory bars), recommendations, the runs table, and a
preflight report (the form shows it under Check)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from modelforge_nb.widgets.curves import QUALITY_METRICS

if TYPE_CHECKING:
    from modelforge_nb.hardware import HardwareInfo

GB = 1e9
#: JupyterLab's theme colours (light and dark), with fallbacks where no theme is loaded.
ERROR_COLOR = "var(--jp-error-color1, #b00)"
WARN_COLOR = "var(--jp-warn-color1, #a60)"
GOOD_COLOR = "var(--jp-success-color1, #2a2)"


def _bar(used: float, total: float, label: str) -> str:
    share = 0 if total <= 0 else max(0.0, min(1.0, used / total))
    color = (
        "var(--jp-success-color1, #2ca02c)"
        if share < 0.7
        else "var(--jp-warn-color1, #ff7f0e)"
        if share < 0.9
        else "var(--jp-error-color1, #d62728)"
    )
    return (
        f"<div style='margin: 2px 0'><div style='font-size: 90%'>{html.escape(label)}</div>"
        "<div style='width: 320px; height: 10px; background: var(--jp-layout-color3, #eee); "
        "border-radius: 3px'>"
        f"<div style='width: {share * 100:.0f}%; height: 10px; background: {color}; "
        f"border-radius: 3px'></div></div></div>"
    )


def hardware_html(info: HardwareInfo) -> str:
    parts = [f"<div class='modelforge-hardware'><b>Hardware</b> · tier <b>{info.tier}</b>"]
    for gpu in info.gpus:
        used = gpu.total_bytes - gpu.free_bytes
        parts.append(
            _bar(
                used,
                gpu.total_bytes,
                f"GPU {gpu.index}: {gpu.name} · {used / GB:.1f} of "
                f"{gpu.total_gb:.1f} GB used · bf16 {'yes' if gpu.bf16 else 'no'}",
            )
        )
    if not info.gpus:
        parts.append("<div>No CUDA GPU: training runs on the CPU (small models only).</div>")
    used_ram = info.ram_total_bytes - info.ram_available_bytes
    parts.append(
        _bar(
            used_ram,
            info.ram_total_bytes,
            f"RAM: {used_ram / GB:.1f} of {info.ram_total_bytes / GB:.1f} GB used · "
            f"{info.cpu_count} CPU cores",
        )
    )
    parts.append("</div>")
    return "".join(parts)


def recommendations_html(task: str, picks: list[Any]) -> str:
    if not picks:
        return f"<div>No catalog model for {html.escape(task)} fits this machine.</div>"
    rows = "".join(f"<li>{html.escape(str(p))}</li>" for p in picks)
    title = f"<b>Recommended for {html.escape(task)}</b>"
    return f"<div class='modelforge-recommend'>{title}<ol>{rows}</ol></div>"


def runs_html(summaries: list[dict[str, Any]]) -> str:
    """The runs table, from ``Workspace.summaries()``."""
    if not summaries:
        return "<div>No runs yet.</div>"
    head = (
        "<tr><th>run</th><th>status</th><th>task</th><th>step</th><th>last loss</th>"
        "<th>final metrics</th></tr>"
    )
    rows = []
    for summary in summaries:
        shown = ", ".join(
            f"{k} {v:.4g}"
            for k, v in sorted(summary["metrics"].items())
            if k in QUALITY_METRICS and isinstance(v, float)
        )
        loss = summary.get("last_loss")
        rows.append(
            f"<tr><td>{html.escape(str(summary['id']))}</td>"
            f"<td>{html.escape(str(summary['status']))}</td>"
            f"<td>{html.escape(str(summary.get('task')))}</td>"
            f"<td>{summary['step']}/{summary.get('total_steps') or '?'}</td>"
            f"<td>{'' if loss is None else f'{loss:.4f}'}</td><td>{html.escape(shown)}</td></tr>"
        )
    return f"<table class='modelforge-runs'>{head}{''.join(rows)}</table>"


def _issue_rows(kind: str, color: str, issues: list[Any]) -> str:
    return "".join(
        f"<tr title='{html.escape(issue.code, quote=True)}'>"
        f"<td style='color: {color}'>{kind}</td>"
        f"<td><code>{html.escape(issue.field or '')}</code></td>"
        f"<td>{html.escape(issue.message)}</td><td>{html.escape(issue.hint or '')}</td></tr>"
        for issue in issues
    )


def _memory_rows(report: Any) -> str:
    from modelforge_nb.plan.fit import memory_budget

    estimate = report.estimate
    where = "GPU memory" if estimate.device == "cuda" else "RAM"
    if estimate.world_size > 1:
        where += f" per process ({estimate.strategy} over {estimate.world_size})"
    rows = [
        f"<tr><td>sequence length<div style='opacity: 0.75'>"
        f"{html.escape(estimate.sequence_basis)}</div></td>"
        f"<td style='text-align: right'>{estimate.sequence_length:,} tokens</td></tr>"
    ]
    rows += [
        f"<tr><td>{html.escape(name)}</td><td style='text-align: right'>{value / 1e9:.2f} GB"
        "</td></tr>"
        for name, value in estimate.terms().items()
    ]
    rows.append(
        f"<tr><td><b>peak {where}</b></td><td style='text-align: right'>"
        f"<b>{estimate.peak_bytes / 1e9:.2f} GB</b></td></tr>"
    )
    if report.hardware is not None:
        budget = memory_budget(report.hardware)
        rows.append(
            f"<tr><td>budget on this machine</td><td style='text-align: right'>"
            f"{budget / 1e9:.2f} GB</td></tr>"
        )
    rows.append(
        f"<tr><td>disk (download, checkpoints, weights, logs)</td>"
        f"<td style='text-align: right'>{estimate.disk_bytes / 1e9:.2f} GB</td></tr>"
    )
    if estimate.seconds_per_step:
        rows.append(
            f"<tr><td>time per optimizer step (rough)</td><td style='text-align: right'>"
            f"{estimate.seconds_per_step:,.1f} s</td></tr>"
        )
    if report.probe and "probe_peak_bytes" in report.probe:
        rows.append(
            f"<tr><td>measured peak (2 real steps)</td><td style='text-align: right'>"
            f"{report.probe['probe_peak_bytes'] / 1e9:.2f} GB</td></tr>"
        )
    return "".join(rows)


def preflight_html(report: Any) -> str:
    """The verdict, a table of problems and warnings (field, what, what to do; the code on
    hover) and a table of the memory terms, budget, disk and time."""
    verdict = (
        f"<b style='color: {GOOD_COLOR}'>Ready to train.</b>"
        if report.ok
        else f"<b style='color: {ERROR_COLOR}'>This run would fail:</b>"
    )
    issues = _issue_rows("problem", ERROR_COLOR, report.problems) + _issue_rows(
        "warning", WARN_COLOR, report.warnings
    )
    parts = [f"<div class='modelforge-preflight'>{verdict}"]
    if issues:
        parts.append(
            "<table class='modelforge-issues'><tr><th></th><th>field</th><th>what</th>"
            f"<th>what to do</th></tr>{issues}</table>"
        )
    if report.estimate is not None:
        parts.append(
            "<table class='modelforge-estimate'><caption style='text-align: left'>"
            f"<b>Estimate</b></caption>{_memory_rows(report)}</table>"
            f"<div style='opacity: 0.75'>{html.escape(report.estimate.how_sure)}</div>"
        )
    parts.append("</div>")
    return "".join(parts)
