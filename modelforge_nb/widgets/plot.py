"""Line charts as SVG text, drawn in Python: they render wherever HTML does.

Curves are downsampled to a bounded number of points (min and max kept per bucket, so
spikes survive) rather than truncated, so a 100k-step run draws as fast as a short one.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

Point = tuple[float, float]
MAX_POINTS = 400
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd")


class Downsampler:
    """A growing curve kept downsampled as its points arrive, for redraws that cost O(limit).

    Points fill buckets of ``width`` points, each keeping its lowest and highest point; when
    there are more than ``limit // 2`` buckets, neighbours merge and the width doubles. The
    first and last points are always kept, so are spikes, and a redraw of a 100k-step run
    reads a few hundred points instead of re-bucketing all of them.
    """

    def __init__(self, limit: int = MAX_POINTS) -> None:
        self.limit = max(4, limit)
        self.width = 1
        self.buckets: list[list[Any]] = []  # [low, high, count]
        self.first: Point | None = None
        self.last: Point | None = None

    def add(self, point: Point) -> None:
        if not math.isfinite(point[1]):
            return
        if self.first is None:
            self.first = point
        self.last = point
        if self.buckets and self.buckets[-1][2] < self.width:
            bucket = self.buckets[-1]
            if point[1] < bucket[0][1]:
                bucket[0] = point
            if point[1] > bucket[1][1]:
                bucket[1] = point
            bucket[2] += 1
            return
        self.buckets.append([point, point, 1])
        if len(self.buckets) > (self.limit - 2) // 2:
            self._merge()

    def _merge(self) -> None:
        merged: list[list[Any]] = []
        for index in range(0, len(self.buckets), 2):
            pair = self.buckets[index : index + 2]
            low = min((b[0] for b in pair), key=lambda p: p[1])
            high = max((b[1] for b in pair), key=lambda p: p[1])
            merged.append([low, high, sum(b[2] for b in pair)])
        self.buckets = merged
        self.width *= 2

    def points(self) -> list[Point]:
        if self.first is None or self.last is None:
            return []
        out: list[Point] = [self.first]
        for low, high, _count in self.buckets:
            out.extend(sorted({low, high}, key=lambda p: p[0]))
        out.append(self.last)
        kept: list[Point] = []
        for point in out:
            if not kept or point != kept[-1]:
                kept.append(point)
        return kept


def _nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    if not math.isfinite(low) or not math.isfinite(high):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    start = math.ceil(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _label(value: float, digits: int) -> str:
    if value == 0:
        return "0"
    if 1000 <= abs(value) < 1e6 and digits <= 2:
        return f"{value:,.0f}"
    if abs(value) >= 1000 or abs(value) < 0.01:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits + 1}g}"


def tick_labels(ticks: list[float]) -> list[str]:
    """Labels for ``ticks``, as short as they can be while each reads as its exact value."""
    labels = [str(t) for t in ticks]
    for digits in range(2, 16):
        labels = [_label(t, digits) for t in ticks]
        exact = all(
            math.isclose(float(label.replace(",", "")), tick, rel_tol=1e-9)
            for label, tick in zip(labels, ticks, strict=True)
        )
        if exact:
            break
    return labels


def ema(points: Sequence[Point], weight: float) -> list[Point]:
    """TensorBoard's smoothing: an exponential moving average, debiased so the curve does
    not start at zero. ``weight`` 0 leaves the points as they are; 0.99 is very smooth."""
    if weight <= 0:
        return list(points)
    smoothed, last = [], 0.0
    for count, (x, y) in enumerate(points, start=1):
        last = last * weight + (1 - weight) * y
        smoothed.append((x, last / (1 - weight**count)))
    return smoothed


_TEXT = "fill: var(--jp-ui-font-color1, #222)"
_MUTED = "fill: var(--jp-ui-font-color2, #666)"
_GRID = "var(--jp-border-color2, #e0e0e0)"
_FRAME = "var(--jp-border-color1, #bbb)"


def line_chart(
    series: dict[str, Sequence[Point]],
    *,
    title: str,
    width: int = 360,
    height: int = 200,
    limit: int = MAX_POINTS,
    y_label: str = "",
    smoothing: float = 0.0,
    log_y: bool = False,
) -> str:
    """An SVG chart of one or more named curves (x = step).

    Drawn in the notebook theme's colours (JupyterLab's ``--jp-*`` variables, with light
    fallbacks elsewhere) and as wide as its cell. The legend sits above the plot, not on the
    curves; hovering a step shows every curve's value there. ``smoothing`` draws the EMA
    (TensorBoard's) over the faint raw curve; ``log_y`` puts the y axis on a log scale.
    """
    drawn = {
        name: downsample([p for p in pts if math.isfinite(p[1]) and (p[1] > 0 or not log_y)], limit)
        for name, pts in series.items()
    }
    drawn = {name: pts for name, pts in drawn.items() if pts}
    left, right, top, bottom = 56, 12, 30, 30
    inner_w, inner_h = width - left - right, height - top - bottom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{html.escape(title)}" preserveAspectRatio="xMinYMin meet" '
        f'style="max-width: {width * 2}px; font-family: sans-serif; font-size: 10px; '
        'background: var(--jp-layout-color0, white)">',
        f'<text x="{left}" y="14" font-size="12" font-weight="bold" style="{_TEXT}">'
        f"{html.escape(title)}</text>",
    ]
    if not drawn:
        parts.append(
            f'<text x="{left}" y="{top + inner_h / 2}" style="{_MUTED}">waiting for data</text>'
        )
        parts.append("</svg>")
        return "".join(parts)

    def scale(y: float) -> float:
        return math.log10(y) if log_y else y

    xs = [p[0] for pts in drawn.values() for p in pts]
    ys = [scale(p[1]) for pts in drawn.values() for p in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = (y1 - y0) * 0.05
    y0, y1 = y0 - pad, y1 + pad

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * inner_w

    def sy(y: float) -> float:
        return top + (1 - (scale(y) - y0) / (y1 - y0)) * inner_h

    parts.append(
        f'<rect x="{left}" y="{top}" width="{inner_w}" height="{inner_h}" '
        f'fill="none" stroke="{_FRAME}"/>'
    )
    decades = [float(e) for e in range(math.ceil(y0), math.floor(y1) + 1)]
    if log_y and len(decades) >= 2:
        labels = [f"1e{int(e)}" for e in decades]
        positions = [10**e for e in decades]
    elif log_y:  # less than two decades: plain values, placed on the log scale
        positions = [t for t in _nice_ticks(10**y0, 10**y1) if t > 0] or [10**y0]
        labels = tick_labels(positions)
    else:
        y_ticks = _nice_ticks(y0, y1)
        labels, positions = tick_labels(y_ticks), y_ticks
    for tick, label in zip(positions, labels, strict=True):
        y = sy(tick)
        parts.append(
            f'<line x1="{left}" x2="{left + inner_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="{_GRID}"/>'
        )
        parts.append(
            f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end" style="{_TEXT}">{label}</text>'
        )
    # Steps are whole numbers: no tick at 2.5.
    x_ticks = [t for t in _nice_ticks(x0, x1) if float(t).is_integer()] or [x0]
    for tick, label in zip(x_ticks, tick_labels(x_ticks), strict=True):
        x = sx(tick)
        parts.append(
            f'<text x="{x:.1f}" y="{height - 14}" text-anchor="middle" style="{_TEXT}">'
            f"{label}</text>"
        )
    parts.append(
        f'<text x="{left + inner_w}" y="{height - 2}" text-anchor="end" style="{_MUTED}">'
        "step</text>"
    )
    if y_label:
        parts.append(
            f'<text transform="translate(12 {top + inner_h / 2:.0f}) rotate(-90)" '
            f'text-anchor="middle" style="{_MUTED}">{html.escape(y_label)}</text>'
        )
    legend_x = width - right
    for index, (name, pts) in reversed(list(enumerate(drawn.items()))):
        color = _COLORS[index % len(_COLORS)]
        shown = ema(pts, smoothing)
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in shown)
        if len(shown) == 1:
            x, y = shown[0]
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}"/>')
        else:
            if smoothing > 0:  # the raw curve, faint, under the smoothed one
                raw = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
                parts.append(
                    f'<polyline class="raw" fill="none" stroke="{color}" stroke-opacity="0.25" '
                    f'stroke-width="1" points="{raw}"/>'
                )
            parts.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}"/>'
            )
        label = html.escape(name)
        legend_x -= 8 + 6 * len(name)
        parts.append(
            f'<rect x="{legend_x - 10}" y="8" width="8" height="8" fill="{color}"/>'
            f'<text x="{legend_x}" y="16" fill="{color}">{label}</text>'
        )
        legend_x -= 14
    parts.append(_hover_strips(drawn, sx, top, inner_h))
    parts.append("</svg>")
    return "".join(parts)


def _hover_strips(drawn: dict[str, list[Point]], sx: Any, top: float, inner_h: float) -> str:
    """Invisible strips, one per drawn step, whose tooltip lists every curve's value there."""
    by_step: dict[float, list[str]] = {}
    for name, pts in drawn.items():
        for x, y in pts:
            by_step.setdefault(x, []).append(f"{name} {y:.4g}")
    steps = sorted(by_step)
    if len(steps) < 2:
        return ""
    strips = []
    for index, step in enumerate(steps):
        lo = sx(steps[index - 1]) if index else sx(step)
        hi = sx(steps[index + 1]) if index + 1 < len(steps) else sx(step)
        x0, x1 = (lo + sx(step)) / 2, (hi + sx(step)) / 2
        label = html.escape(f"step {step:g}: " + ", ".join(by_step[step]))
        strips.append(
            f'<rect class="hover" x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 0.5):.1f}" '
            f'height="{inner_h}" fill="transparent"><title>{label}</title></rect>'
        )
    return "<g>" + "".join(strips) + "</g>"


def count_points(svg: str) -> int:
    """How many data points an SVG from ``line_chart`` draws (for tests and benchmarks);
    the faint raw curve under a smoothed one is not counted again."""
    total = svg.count("<circle ")
    for chunk in svg.split('<polyline fill="none"')[1:]:
        total += chunk.split('points="', 1)[1].split('"', 1)[0].count(",")
    return total


def downsample(points: Sequence[Point], limit: int = MAX_POINTS) -> list[Point]:
    """At most ``limit`` points of a whole curve at once, bucketed as ``Downsampler`` does."""
    sampler = Downsampler(limit)
    for point in points:
        sampler.add(point)
    return sampler.points()
