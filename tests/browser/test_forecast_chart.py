"""The board's chart of the next two hours: drawn under the queue's panel with the
forecast's figures, with the counters open now and with one more, and drawn again after
the board's events."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import Page, expect

from core.storage.models import HourlyMetric, QueueRow
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_console import make_queue
from tests.conftest import Api, FakeClock


async def join(api: Api, count: int) -> None:
    for _ in range(count):
        assert (await api.call("POST", "/api/v1/queues/PHARM/tickets", json={})).is_success


async def test_the_next_two_hours_on_the_board(page: Page, api: Api, clock: FakeClock) -> None:
    await make_queue(api, counters=("1",))
    pharm = await QueueRow.get(code="PHARM")
    hour = clock.now.replace(minute=0, second=0, microsecond=0)
    for back in range(1, 8):  # a week of 9 joins in each of the next three hours of the day
        for ahead in range(3):
            start = hour + timedelta(days=-back, hours=ahead)
            await HourlyMetric.create(queue=pharm, hour_start=start, joined=9)
    await join(api, 6)
    await log_in(page, api, "staff")
    forecast = page.locator("section#queue-PHARM .forecast")
    charts = forecast.locator("svg.chart")
    await expect(charts).to_have_count(2)
    line, wait = charts.nth(0), charts.nth(1)
    for chart in (line, wait):
        for series in ("1 counter", "2 counters"):  # eight quarters, now and one more
            points = chart.locator(f'g.series[data-series="{series}"] circle.point')
            await expect(points).to_have_count(8)
    first = await line.locator(
        'g.series[data-series="1 counter"] circle.point title'
    ).first.text_content()
    assert first is not None and first.endswith(" waiting")
    waiting_first = float(first.split(": ")[1].removesuffix(" waiting"))
    assert 3 < waiting_first <= 6  # six in line, a counter at work on them
    more = await line.locator(
        'g.series[data-series="2 counters"] circle.point title'
    ).first.text_content()
    assert more is not None and float(more.split(": ")[1].removesuffix(" waiting")) < waiting_first
    # Nine an hour keep a line (about two) after the six have gone: learned, not drained.
    last = await line.locator(
        'g.series[data-series="1 counter"] circle.point title'
    ).last.text_content()
    assert last is not None and float(last.split(": ")[1].removesuffix(" waiting")) > 0.3
    headline = forecast.locator(".forecast-headline")
    await expect(headline).to_contain_text("with 1 counter open; with one more, within")
    await screenshot(page, "console-forecast")

    # Twenty more join: the chart is drawn again once the events settle (not per event).
    before = await headline.text_content()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if r.url.endswith("/forecast") else None)
    await join(api, 20)
    await expect(headline).not_to_have_text(before or "", timeout=25_000)
    assert len(requests) <= 2, requests
