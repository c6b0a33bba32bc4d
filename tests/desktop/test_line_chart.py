"""The line chart's y axis: a flat (or nearly flat) series gets a band around it and two different labels."""

from __future__ import annotations

import pytest

from desktop.widgets.line_chart import LineChart, axis_labels, y_range


@pytest.mark.parametrize("lo, hi", [(0.9, 0.9), (0.0, 0.0), (2e-4, 2e-4), (-3.0, -3.0), (1e6, 1e6),
                                    (0.91231, 0.91232), (2e-4, 2.00001e-4), (1234.5, 1234.51)])
def test_a_flat_or_nearly_flat_series_gets_two_different_labels_around_it(lo, hi):
    bottom, top = y_range(lo, hi)
    assert bottom <= lo <= hi <= top and bottom < top
    low_text, high_text = axis_labels(bottom, top)
    assert low_text != high_text
    assert float(low_text) <= float(high_text)


def test_a_flat_series_is_centred_in_a_band_of_five_percent():
    assert y_range(0.9, 0.9) == pytest.approx((0.855, 0.945))
    assert y_range(0.0, 0.0) == (-0.5, 0.5)
    assert axis_labels(*y_range(0.9, 0.9)) == ("0.855", "0.945")


def test_a_series_with_a_real_spread_keeps_its_range_and_short_labels():
    assert y_range(0.1, 0.9) == (0.1, 0.9)
    assert axis_labels(0.1, 0.9) == ("0.1", "0.9")


def test_a_chart_of_one_flat_series_paints(qtbot):
    chart = LineChart("lr")
    qtbot.addWidget(chart)
    chart.resize(300, 200)
    for step in range(5):
        chart.add_point("lr", step, 2e-4)
    chart.show()
    chart.grab()  # paints without error
    assert chart.point_count("lr") == 5
