"""The plots behind the dashboard: the incremental downsampler (bounded, faithful,
spike-keeping) and axis labels that say where they are."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from modelforge_nb.widgets.curves import RunCurves
from modelforge_nb.widgets.plot import (
    MAX_POINTS,
    Downsampler,
    _nice_ticks,
    count_points,
    downsample,
    tick_labels,
)


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
    assert "20,000" in curves.plots_html(), "the x axis reaches the last step"


@settings(max_examples=200)
@given(
    low=st.floats(min_value=-1e7, max_value=1e7, allow_nan=False),
    share=st.floats(min_value=1e-4, max_value=1e3, allow_nan=False),
)
def test_axis_labels_are_distinct_and_read_as_their_values(low: float, share: float) -> None:
    """Ticks at 12,000 and 12,500 must not both read 1.2e+04: each label is its exact value."""
    ticks = _nice_ticks(low, low + share * max(abs(low), 1.0))
    labels = tick_labels(ticks)
    assert len(set(labels)) == len(labels), (ticks, labels)
    for label, tick in zip(labels, ticks, strict=True):
        assert math.isclose(float(label.replace(",", "")), tick, rel_tol=1e-6, abs_tol=1e-9)


def test_thousands_read_as_plain_numbers() -> None:
    assert tick_labels([12000, 12500, 13000]) == ["12,000", "12,500", "13,000"]
