"""The board's chart of the next two hours (`core.domain.horizon`): the expected line and
the p90 wait per quarter of an hour, with the counters open now and with one more, as
server-rendered SVG (`web.console.charts`). Fetched on its own, every minute and after
the board's events (static/console.js), never once per event."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from markupsafe import Markup

from core.domain.horizon import Horizon
from web.console.charts import Series, line_chart

CHART_WIDTH = 480
CHART_HEIGHT = 220


def one_decimal(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def forecast_context(horizon: Horizon, timezone: str) -> dict[str, object]:
    """The template's figures: the slots' local start times, both charts, and the headline
    of the hour ahead (the largest p90 wait now and with one more counter)."""
    zone = ZoneInfo(timezone)
    labels = [s.start.astimezone(zone).strftime("%H:%M") for s in horizon.slots]
    now, plus_one = horizon.open_counters, horizon.open_counters + 1

    def counters(count: int) -> str:
        return f"{count} counter" + ("" if count == 1 else "s")

    line = line_chart(
        labels,
        [
            Series(counters(now), [s.line_length for s in horizon.slots]),
            Series(counters(plus_one), [s.line_length_plus_one for s in horizon.slots]),
        ],
        title="Expected line, next two hours",
        x_label=f"Quarter starting ({timezone})",
        y_label="Waiting",
        unit=" waiting",
        fmt=one_decimal,
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
    )
    wait = line_chart(
        labels,
        [
            Series(counters(now), [_minutes(s.p90_wait_s) for s in horizon.slots]),
            Series(counters(plus_one), [_minutes(s.p90_wait_s_plus_one) for s in horizon.slots]),
        ],
        title="Wait of 9 in 10 joining, next two hours",
        x_label=f"Quarter starting ({timezone})",
        y_label="p90 wait (min)",
        unit=" min",
        fmt=one_decimal,
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        empty="Closed: nobody joins in the next two hours",
    )
    ahead, ahead_plus_one = horizon.worst_p90_within(3600)
    return {
        "line_chart": Markup(line),  # escaped as it was drawn (web.console.charts)
        "wait_chart": Markup(wait),
        "ahead_min": None if ahead is None else round(ahead / 60),
        "ahead_plus_one_min": None if ahead_plus_one is None else round(ahead_plus_one / 60),
        "open_counters": now,
        "generated_at": horizon.generated_at.astimezone(zone).strftime("%H:%M"),
    }


def _minutes(seconds: int | None) -> float | None:
    return None if seconds is None else seconds / 60
