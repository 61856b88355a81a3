"""The figures `/metrics` reads from the database at each scrape: waiting, longest wait,
wait alert per queue, and how long the oldest due notification has waited per channel."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from core.domain.notify import DeliveryStatus
from core.storage import live_figures
from core.storage.models import OutboxMessage
from tests.api.helpers import API, call_next, create_queue, join
from tests.conftest import Api, FakeClock


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in a scrape, or None when it is absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    match = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


async def scrape(api: Api) -> str:
    response = await api.call("GET", "/metrics", role=None)
    assert response.status_code == 200
    return response.text


async def test_queue_figures_are_read_from_the_database(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "PHARM", "A")
    await create_queue(api, "LAB", "L")
    r = await api.call("PUT", f"{API}/queues/PHARM/config", json={"wait_alert_s": 900})
    assert r.status_code == 200, r.text

    await join(api, "PHARM")  # waited 10 min at the scrape
    clock.advance(minutes=4)
    await join(api, "PHARM")
    await join(api, "PHARM")
    clock.advance(minutes=6)
    await call_next(api, "PHARM")  # the first one leaves the line: 2 wait, the longest 6 min

    text = await scrape(api)
    assert sample(text, "nextup_queue_waiting", queue="PHARM") == 2
    assert sample(text, "nextup_queue_longest_wait_seconds", queue="PHARM") == 360
    assert sample(text, "nextup_queue_wait_alert_seconds", queue="PHARM") == 900
    # A queue nobody waits in is there, at zero, with its default alert.
    assert sample(text, "nextup_queue_waiting", queue="LAB") == 0
    assert sample(text, "nextup_queue_longest_wait_seconds", queue="LAB") == 0
    assert sample(text, "nextup_queue_wait_alert_seconds", queue="LAB") == 3600

    clock.advance(seconds=30)  # read at the scrape, not kept from the last one
    text = await scrape(api)
    assert sample(text, "nextup_queue_longest_wait_seconds", queue="PHARM") == 390


async def test_outbox_age_counts_what_is_due_and_unsent(api: Api, clock: FakeClock) -> None:
    await create_queue(api, "PHARM", "A")
    text = await scrape(api)
    assert sample(text, "nextup_outbox_oldest_seconds", channel="telegram") == 0
    assert sample(text, "nextup_outbox_oldest_seconds", channel="sms") == 0

    # No dispatcher runs beside this server: what a join writes to the outbox stays queued.
    await join(api, "PHARM", telegram_chat_id=1001)
    first = await OutboxMessage.filter(channel="telegram").order_by("seq").first()
    assert first is not None and first.status == DeliveryStatus.QUEUED
    clock.advance(seconds=90)
    await join(api, "PHARM", phone="+34600000001")
    text = await scrape(api)
    assert sample(text, "nextup_outbox_oldest_seconds", channel="telegram") == 90
    assert sample(text, "nextup_outbox_oldest_seconds", channel="sms") == 0

    # Sent rows do not count; a retry waiting out its backoff is not late; a claim whose
    # lease ran out (its dispatcher died) is late from the end of the lease.
    await OutboxMessage.filter(channel="telegram").update(status=DeliveryStatus.SENT)
    await OutboxMessage.filter(channel="sms").update(
        status=DeliveryStatus.QUEUED, next_attempt_at=clock.now + timedelta(seconds=120)
    )
    text = await scrape(api)
    assert sample(text, "nextup_outbox_oldest_seconds", channel="telegram") == 0
    assert sample(text, "nextup_outbox_oldest_seconds", channel="sms") == 0

    await OutboxMessage.filter(channel="sms").update(
        status=DeliveryStatus.SENDING, claimed_until=clock.now - timedelta(seconds=45)
    )
    text = await scrape(api)
    assert sample(text, "nextup_outbox_oldest_seconds", channel="sms") == 45


async def test_a_database_that_fails_leaves_its_figures_out_not_the_scrape(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await create_queue(api, "PHARM", "A")

    async def unavailable(now: object) -> object:
        raise ConnectionError("database gone")

    monkeypatch.setattr(live_figures, "lines", unavailable)
    text = await scrape(api)
    assert "nextup_http_requests_total{" in text  # the process's own figures still come
    assert "nextup_queue_waiting" not in text and "nextup_outbox_oldest_seconds" not in text
