"""The incremental downsampler behind the dashboard's plots: bounded, faithful, spike-keeping."""

from __future__ import annotations

import math

from modelforge_nb.widgets.curves import RunCurves
from modelforge_nb.widgets.plot import MAX_POINTS, Downsampler, count_points, downsample


def _fed(points: list[tuple[float, float]], limit: int = MAX_POINTS) -> Downsampler:
    sampler = Downsampler(limit)
    for point in points:
        sampler.add(point)
    return sampler


def test_a_short_curve_is_drawn_point_for_point() -> None:
    points = [(float(i), math.sin(i)) for i in range(50)]
    assert _fed(points).points() == points == downsample(points)


def test_a_long_curve_stays_bounded_and_keeps_its_ends_and_spikes() -> None:
    points = [(float(i), 1.0 / (1 + i)) for i in range(100_000)]
    points[61_234] = (61_234.0, 9.0)
    points[77_777] = (77_777.0, -3.0)
    kept = _fed(points).points()
    assert len(kept) <= MAX_POINTS
    assert kept[0] == points[0] and kept[-1] == points[-1]
    assert (61_234.0, 9.0) in kept and (77_777.0, -3.0) in kept
    assert [p[0] for p in kept] == sorted(p[0] for p in kept)


def test_non_finite_values_are_left_out() -> None:
    kept = _fed([(0.0, 1.0), (1.0, math.nan), (2.0, math.inf), (3.0, 0.5)]).points()
    assert kept == [(0.0, 1.0), (3.0, 0.5)]


def test_the_dashboard_draws_a_bounded_number_of_points_for_a_long_run() -> None:
    curves = RunCurves()
    curves.apply(
        [
            {"type": "log", "step": i, "loss": 1 / i, "learning_rate": 1e-3, "time": float(i)}
            for i in range(1, 20_001)
        ]
    )
    assert len(curves.loss) == 20_000
    assert count_points(curves.plots_html()) <= 3 * MAX_POINTS
    assert "2.0e+04" in curves.plots_html(), "the x axis reaches the last step"
