"""The SVG charts: well-formed, accessible, escaped, and drawn to scale."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from web.console.charts import Series, axis_max, bar_chart, line_chart, nice_ceiling, number

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def find_all(root: ET.Element, tag: str, cls: str | None = None) -> list[ET.Element]:
    found = root.iter(f"{SVG}{tag}")
    return [e for e in found if cls is None or cls in (e.get("class") or "").split()]


def texts(root: ET.Element, cls: str) -> list[str]:
    return [e.text or "" for e in find_all(root, "text", cls)]


def bars(unit: str = " visits") -> str:
    return bar_chart(
        ["09:00", "10:00", "11:00"],
        [2, 8, 5],
        title="Arrivals",
        x_label="Hour",
        y_label="Visits",
        unit=unit,
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 1),
        (-3, 1),
        (0.3, 0.5),
        (1, 1),
        (1.2, 2),
        (2.2, 2.5),
        (3, 5),
        (7, 10),
        (26, 50),
        (250, 250),
    ],
)
def test_nice_ceiling_is_a_round_number_at_least_the_value(value: float, expected: float) -> None:
    assert nice_ceiling(value) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("values", "top"), [([], 4), ([0, 0], 4), ([8], 8), ([9], 10), ([13], 20), ([2.4], 4)]
)
def test_axis_max_is_four_round_ticks_over_the_largest_value(
    values: list[float], top: float
) -> None:
    assert axis_max(values) == pytest.approx(top)


def test_number_is_short() -> None:
    assert [number(3.0), number(2.5), number(1 / 3)] == ["3", "2.5", "0.33"]


def test_bar_chart_is_accessible_svg_with_labelled_axes() -> None:
    root = parse(bars())
    assert root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and title.text == "Arrivals"
    assert desc is not None and desc.text == "09:00: 2 visits; 10:00: 8 visits; 11:00: 5 visits"
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert texts(root, "axis-label") == ["Hour", "Visits"]
    assert [t for t in texts(root, "tick") if ":" in t] == ["09:00", "10:00", "11:00"]
    assert [t for t in texts(root, "tick") if ":" not in t] == ["0", "2", "4", "6", "8"]


def test_every_bar_has_a_tooltip_and_a_height_to_scale() -> None:
    root = parse(bars())
    rects = find_all(root, "rect", "bar")
    assert [r.findtext(f"{SVG}title") for r in rects] == [
        "09:00: 2 visits",
        "10:00: 8 visits",
        "11:00: 5 visits",
    ]
    heights = [float(r.get("height") or 0) for r in rects]
    # The axis tops out at 8, so the tallest bar fills the plot and the others scale.
    assert heights[0] / heights[1] == pytest.approx(2 / 8, abs=0.01)
    assert heights[2] / heights[1] == pytest.approx(5 / 8, abs=0.01)
    assert all(
        float(r.get("y") or 0) + h == pytest.approx(212)
        for r, h in zip(rects, heights, strict=True)
    )


def test_text_is_escaped() -> None:
    svg = bar_chart(["<b>&"], [1], title='A "quoted" <script>', x_label="x & y", y_label="<y>")
    assert "<script>" not in svg and "<b>" not in svg
    root = parse(svg)
    assert root.findtext(f"{SVG}title") == 'A "quoted" <script>'
    assert texts(root, "axis-label") == ["x & y", "<y>"]
    assert find_all(root, "rect", "bar")[0].findtext(f"{SVG}title") == "<b>&: 1"


def test_many_labels_are_thinned_but_every_bar_is_drawn() -> None:
    labels = [f"{h:02d}:00" for h in range(24)]
    root = parse(bar_chart(labels, [1] * 24, title="t", x_label="x", y_label="y"))
    assert len(find_all(root, "rect", "bar")) == 24
    shown = [t for t in texts(root, "tick") if ":" in t]
    assert shown == labels[::2]


def test_empty_bar_chart_says_so() -> None:
    root = parse(bar_chart([], [], title="t", x_label="x", y_label="y", empty="No visits"))
    assert texts(root, "chart-empty") == ["No visits"]
    assert not find_all(root, "rect", "bar")


def test_all_zero_bars_draw_flat() -> None:
    root = parse(bar_chart(["a", "b"], [0, 0], title="t", x_label="x", y_label="y"))
    assert [float(r.get("height") or 0) for r in find_all(root, "rect", "bar")] == [0, 0]


def test_values_must_match_labels() -> None:
    with pytest.raises(ValueError):
        bar_chart(["a"], [1, 2], title="t", x_label="x", y_label="y")
    with pytest.raises(ValueError):
        line_chart(["a"], [Series("s", [1, 2])], title="t", x_label="x", y_label="y")


def waits() -> ET.Element:
    return parse(
        line_chart(
            ["09:00", "10:00", "11:00", "12:00"],
            [Series("Average", [5, None, 7.25, 6]), Series("90th percentile", [9, 10, 12, 8])],
            title="Wait",
            x_label="Hour",
            y_label="Wait (min)",
            unit=" min",
        )
    )


def test_line_chart_has_a_line_per_series_with_gaps_and_a_legend() -> None:
    root = waits()
    groups = [g for g in find_all(root, "g", "series")]
    assert [g.get("data-series") for g in groups] == ["Average", "90th percentile"]
    average, p90 = groups
    # A missing value breaks the line: one point alone (no polyline), then a segment.
    assert len(average.findall(f"{SVG}polyline")) == 1
    assert len(average.findall(f"{SVG}circle")) == 3
    assert len(p90.findall(f"{SVG}polyline")) == 1
    assert len(p90.findall(f"{SVG}circle")) == 4
    assert [c.findtext(f"{SVG}title") for c in average.findall(f"{SVG}circle")] == [
        "09:00, Average: 5 min",
        "11:00, Average: 7.25 min",
        "12:00, Average: 6 min",
    ]
    legend = [t.text for g in find_all(root, "g", "legend-item") for t in g.iter(f"{SVG}text")]
    assert legend == ["Average", "90th percentile"]
    # The second series is dashed, so the two differ without colour.
    assert p90.find(f"{SVG}polyline").get("stroke-dasharray")  # type: ignore[union-attr]
    assert average.find(f"{SVG}polyline").get("stroke-dasharray") is None  # type: ignore[union-attr]


def test_line_points_are_to_scale() -> None:
    root = waits()
    p90 = find_all(root, "g", "series")[1]
    ys = [float(c.get("cy") or 0) for c in p90.findall(f"{SVG}circle")]
    # Largest value 12: four round ticks of 5, so the axis runs 0..20 over the plot from
    # y=212 (0) up to y=30 (20).
    assert texts(root, "tick")[:5] == ["0", "5", "10", "15", "20"]
    assert ys == pytest.approx([212 - 182 * v / 20 for v in (9, 10, 12, 8)], abs=0.06)


def test_line_chart_with_no_known_value_is_an_empty_state() -> None:
    svg = line_chart(
        ["a", "b"],
        [Series("s", [None, None])],
        title="t",
        x_label="x",
        y_label="y",
        empty="None yet",
    )
    root = parse(svg)
    assert texts(root, "chart-empty") == ["None yet"]
    assert not find_all(root, "polyline")


def test_custom_format_is_used_for_ticks_and_tooltips() -> None:
    root = parse(
        bar_chart(["a"], [1.25], title="t", x_label="x", y_label="y", fmt=lambda v: f"{v:.1f}")
    )
    assert "a: 1.2" in (root.findtext(f"{SVG}desc") or "")
    assert texts(root, "tick")[:2] == ["0.0", "0.5"]


def test_small_values_never_repeat_a_tick_label() -> None:
    # service times of a few seconds, in minutes with one decimal: the step is 0.05
    svg = line_chart(
        ["09:00", "10:00"],
        [Series("Average", [0.1, 0.2])],
        title="t",
        x_label="x",
        y_label="y",
        fmt=lambda v: f"{v:.1f}",
    )
    ticks = texts(parse(svg), "tick")
    y_ticks = ticks[:5]
    assert y_ticks == ["0", "0.05", "0.1", "0.15", "0.2"]
    assert len(set(y_ticks)) == len(y_ticks)
