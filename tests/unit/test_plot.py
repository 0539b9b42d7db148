"""The SVG charts: integer step ticks, a legend off the curves, hover values, TensorBoard's
smoothing, a log scale, theme colours and the cell's width."""

from __future__ import annotations

import itertools
import re

from modelforge_nb.widgets.plot import count_points, ema, line_chart

LOSS = [(float(step), 4.0 / step + (0.5 if step % 2 else 0.0)) for step in range(1, 8)]


def _y_of(svg: str, series_color: str) -> list[float]:
    line = re.search(rf'<polyline fill="none" stroke="{series_color}"[^>]*points="([^"]+)"', svg)
    assert line
    return [float(p.split(",")[1]) for p in line.group(1).split()]


def test_steps_are_whole_numbers_and_the_legend_is_above_the_plot() -> None:
    svg = line_chart({"train": LOSS, "eval": LOSS[::3]}, title="Loss", y_label="loss")
    x_labels = re.findall(r'<text x="[\d.]+" y="\d+" text-anchor="middle" [^>]*>([^<]+)<', svg)
    assert x_labels and all(label.replace(",", "").isdigit() for label in x_labels)
    legend = re.findall(r'<text x="[\d.]+" y="(\d+)" fill="#[0-9a-f]+">(train|eval)</text>', svg)
    assert {name for _y, name in legend} == {"train", "eval"}
    assert all(int(y) < 30 for y, _name in legend)  # above the plot area, which starts at 30
    assert "rotate(-90)" in svg and ">loss</text>" in svg
    assert 'width="100%"' in svg and "var(--jp-layout-color0" in svg


def test_hovering_a_step_shows_every_curves_value_there() -> None:
    svg = line_chart({"train": LOSS, "eval": [(4.0, 1.5)]}, title="Loss")
    tips = re.findall(r"<title>([^<]+)</title>", svg)
    assert "step 4: train 1, eval 1.5" in tips
    assert len(tips) == len(LOSS)
    assert count_points(svg) == len(LOSS) + 1


def test_smoothing_is_tensorboards_debiased_ema_drawn_over_the_raw_curve() -> None:
    assert ema([(1, 2.0), (2, 4.0)], 0.5) == [(1, 2.0), (2, (0.5 * 1.0 + 2.0) / 0.75)]
    assert ema(LOSS, 0.0) == LOSS
    svg = line_chart({"train": LOSS}, title="Loss", smoothing=0.9)
    assert 'class="raw"' in svg and count_points(svg) == len(LOSS)
    smooth = _y_of(svg, "#1f77b4")
    jumps = [abs(b - a) for a, b in itertools.pairwise(smooth)]
    raw = _y_of(line_chart({"train": LOSS}, title="Loss"), "#1f77b4")
    raw_jumps = [abs(b - a) for a, b in itertools.pairwise(raw)]
    assert max(jumps) < max(raw_jumps)


def test_a_log_scale_labels_powers_of_ten_and_drops_what_it_cannot_draw() -> None:
    points = [(1.0, 100.0), (2.0, 10.0), (3.0, 1.0), (4.0, 0.1), (5.0, 0.0)]
    svg = line_chart({"train": points}, title="Loss", log_y=True)
    labels = re.findall(r'text-anchor="end" style="[^"]*">([^<]+)</text>', svg)
    assert {"1e0", "1e1"} <= set(labels)
    assert count_points(svg) == 4  # zero has no logarithm
    ys = _y_of(svg, "#1f77b4")
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(ys)]
    assert len(set(gaps)) == 1  # each decade the same height


def test_a_log_scale_within_a_decade_still_labels_several_values() -> None:
    points = [(1.0, 6.6), (2.0, 6.2), (3.0, 5.9), (4.0, 5.75)]
    svg = line_chart({"train": points}, title="Loss", log_y=True)
    labels = re.findall(r'text-anchor="end" style="[^"]*">([^<]+)</text>', svg)
    labels.remove("step")  # the x axis's name
    assert len(labels) >= 3 and all(5.7 <= float(label) <= 6.7 for label in labels), labels
