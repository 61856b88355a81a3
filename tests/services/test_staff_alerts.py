"""Staff alerts on the real storage (SQLite, PostgreSQL): one message per episode to each
staff chat linked to the queue, however many processes look, an episode that ends and
starts again, and a counter idle while patients wait."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.domain.horizon import Horizon
from core.domain.model import QueueConfig
from core.services import accounts, staff_alerts
from core.services.housekeeping import housekeeping_forever
from core.services.queues import QueueService, QueueStatus, new_join_request
from core.services.staff_alerts import StaffAlerts
from core.storage.models import (
    HourlyMetric,
    OutboxMessage,
    QueueRow,
    StaffAccount,
    StaffAlertRow,
)
from nextup.wiring import Container
from tests.conftest import FakeClock

CONFIG = QueueConfig(default_service_s=600, wait_alert_s=1800, notify_positions=())
CHATS = {"ana": 501, "admin": 502, "lab": 503, "unlinked": None}


async def staff() -> None:
    """ana works on PHARM, admin on everything, lab on LAB only; unlinked has no chat."""
    for name, queues in (("ana", ["PHARM"]), ("admin", []), ("lab", ["LAB"]), ("unlinked", ["*"])):
        role = "admin" if name == "admin" else "pharmacist"
        await accounts.create_account(name, role, "correct horse", queues=queues)
        await StaffAccount.filter(name=name).update(telegram_chat_id=CHATS[name])


async def messages(kind: str) -> list[str]:
    rows = await OutboxMessage.filter(kind=kind).order_by("recipient", "created_at")
    return [r.recipient for r in rows]


def two_processes(container: Container) -> tuple[StaffAlerts, StaffAlerts]:
    """Two service instances on the one database, as two servers would have."""
    other = QueueService(container.bus, container.clock)
    return StaffAlerts(container.queues), StaffAlerts(other)


async def test_one_message_per_episode_to_the_queues_chats_whatever_the_processes(
    container: Container, clock: FakeClock
) -> None:
    await staff()
    queues = container.queues
    await queues.create_queue("PHARM", "Pharmacy", "A", CONFIG, ["1"])
    await queues.create_queue("LAB", "Lab", "L", CONFIG, ["1"])
    first, second = two_processes(container)
    tickets = [await queues.join("PHARM", new_join_request(), "staff") for _ in range(4)]
    # Four visits of 10 min ahead of someone joining now, one counter: 40 min > 30.
    results = await asyncio.gather(first.evaluate("PHARM"), second.evaluate("PHARM"))
    assert sorted(results) == [[], ["wait"]]
    assert await messages("staff_alert_wait") == ["501", "502"]
    [row] = await OutboxMessage.filter(kind="staff_alert_wait", recipient="501")
    assert row.ticket_id is None  # type: ignore[attr-defined]
    assert row.payload["joiner_min"] == 40 and row.payload["queue_name"] == "Pharmacy"
    assert row.payload["with_one_more_min"] == 20 and row.payload["reason"] == "forecast"
    for _ in range(2):  # later rounds, in either process: the same episode
        assert await first.evaluate("PHARM") == [] and await second.evaluate("PHARM") == []
    assert len(await messages("staff_alert_wait")) == 2

    # 24 min: still above 80% of 30 min, the episode goes on.
    await queues.ticket_action(tickets[0].ticket.id, "cancel", "staff")
    await queues.ticket_action(tickets[1].ticket.id, "cancel", "staff")
    await queues.join("PHARM", new_join_request(), "staff")
    assert await first.evaluate("PHARM") == []
    # 20 min: below 24 min, the episode ends; nothing is sent for that.
    await queues.ticket_action(tickets[2].ticket.id, "cancel", "staff")
    assert await second.evaluate("PHARM") == []
    wait_row = await StaffAlertRow.get(queue__code="PHARM", subject="wait")
    assert (wait_row.since, wait_row.alerted) == (None, False)
    # Past it again: a new episode, one more message each.
    for _ in range(2):
        await queues.join("PHARM", new_join_request(), "staff")
    clock.advance(seconds=1)
    results = await asyncio.gather(second.evaluate("PHARM"), first.evaluate("PHARM"))
    assert sorted(results) == [[], ["wait"]]
    assert await messages("staff_alert_wait") == ["501", "501", "502", "502"]
    assert await OutboxMessage.filter(kind__startswith="staff_alert", recipient="503").count() == 0


async def test_an_episode_ends_when_the_line_empties(
    container: Container, clock: FakeClock
) -> None:
    await staff()
    queues = container.queues
    await queues.create_queue("PHARM", "Pharmacy", "A", CONFIG, ["1"])
    alerts = StaffAlerts(queues)
    tickets = [await queues.join("PHARM", new_join_request(), "staff") for _ in range(4)]
    assert await alerts.evaluate_all(["PHARM"]) == {"PHARM": ["wait"]}
    for t in tickets:
        await queues.ticket_action(t.ticket.id, "cancel", "staff")
    # Nobody in line (not a live line), yet looked at: its episode is going on.
    assert await alerts.evaluate_all([]) == {}
    assert (await StaffAlertRow.get(subject="wait")).since is None
    clock.advance(minutes=1)
    for _ in range(4):
        await queues.join("PHARM", new_join_request(), "staff")
    assert await alerts.evaluate_all(["PHARM"]) == {"PHARM": ["wait"]}
    assert len(await messages("staff_alert_wait")) == 4


async def test_a_counter_idle_for_five_minutes_while_patients_wait(
    container: Container, clock: FakeClock
) -> None:
    await staff()
    queues = container.queues
    await queues.create_queue("PHARM", "Pharmacy", "A", QueueConfig(wait_alert_s=86400), ["1", "2"])
    first, second = two_processes(container)
    for _ in range(3):
        await queues.join("PHARM", new_join_request(), "staff")
    await queues.call_next("PHARM", "1", "staff")
    assert await first.evaluate("PHARM") == []  # counter 2 seen idle: the clock starts
    clock.advance(minutes=4, seconds=59)
    assert await second.evaluate("PHARM") == []
    clock.advance(seconds=1)
    results = await asyncio.gather(first.evaluate("PHARM"), second.evaluate("PHARM"))
    assert sorted(results) == [[], ["idle:2"]]
    rows = await OutboxMessage.filter(kind="staff_alert_idle").order_by("recipient")
    assert [(r.recipient, r.payload["counter"], r.payload["idle_min"]) for r in rows] == [
        ("501", "2", 5),
        ("502", "2", 5),
    ]
    clock.advance(minutes=10)
    assert await first.evaluate("PHARM") == []  # once per idle episode
    await queues.call_next("PHARM", "2", "staff")  # busy again: the episode ends
    assert await first.evaluate("PHARM") == []
    await queues.ticket_action(
        (await queues.status("PHARM")).queue.at_counters()[0].id, "complete", "staff"
    )
    clock.advance(minutes=1)
    assert await second.evaluate("PHARM") == []  # idle again: a new episode starts
    clock.advance(minutes=5)
    assert await first.evaluate("PHARM") != []
    assert await OutboxMessage.filter(kind="staff_alert_idle").count() == 4


async def test_the_housekeeping_rounds_alert(container: Container) -> None:
    await staff()
    queues = container.queues
    await queues.create_queue("PHARM", "Pharmacy", "A", CONFIG, ["1"])
    for _ in range(4):
        await queues.join("PHARM", new_join_request(), "staff")
    rounds = asyncio.create_task(
        housekeeping_forever(queues, sweep_interval_s=0.01, alerts=StaffAlerts(queues))
    )
    try:
        for _ in range(500):
            if await OutboxMessage.filter(kind="staff_alert_wait").count() == 2:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # more rounds: still one episode
    finally:
        rounds.cancel()
    assert await messages("staff_alert_wait") == ["501", "502"]


async def test_a_rush_the_last_week_had_at_this_hour_alerts_before_it_comes(
    container: Container, clock: FakeClock
) -> None:
    await staff()
    queues = container.queues
    await queues.create_queue("PHARM", "Pharmacy", "A", CONFIG, ["1"])
    pharm = await QueueRow.get(code="PHARM")
    for back in range(1, 8):  # 12 joined in this hour of each of the last seven days
        await HourlyMetric.create(
            queue=pharm, hour_start=clock.now - timedelta(days=back), joined=12
        )
    await queues.join("PHARM", new_join_request(), "staff")
    alerts = StaffAlerts(queues)
    # One waiting, 10 min ahead of a joiner: quiet now. 12 an hour of 10 min on one
    # counter is twice what it serves: within the hour, waits pass 30 min.
    assert await alerts.evaluate("PHARM") == ["wait"]
    [row] = await OutboxMessage.filter(kind="staff_alert_wait", recipient="501")
    payload = row.payload
    assert payload["reason"] == "ahead" and payload["joiner_min"] == 10
    assert payload["ahead_min"] > 30 and payload["ahead_plus_one_min"] < payload["ahead_min"]
    assert await alerts.evaluate("PHARM") == []  # once per episode


async def test_the_two_hour_forecast_is_made_again_only_when_the_line_or_a_minute_moved_on(
    container: Container, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[int] = []
    real = staff_alerts.horizon_of

    async def counted(status: QueueStatus) -> Horizon:
        made.append(status.queue.size())
        return await real(status)

    monkeypatch.setattr(staff_alerts, "horizon_of", counted)
    queues = container.queues
    await queues.create_queue("PHARM", "Pharmacy", "A", CONFIG, ["1"])
    for _ in range(30):
        await queues.join("PHARM", new_join_request(), "staff")
    alerts = StaffAlerts(queues)
    await alerts.evaluate("PHARM")
    await queues.join("PHARM", new_join_request(), "staff")  # 31: within a tenth
    clock.advance(seconds=15)
    await alerts.evaluate("PHARM")
    assert made == [30]
    for _ in range(3):  # 34: more than a tenth of 30
        await queues.join("PHARM", new_join_request(), "staff")
    await alerts.evaluate("PHARM")
    clock.advance(minutes=1)
    await alerts.evaluate("PHARM")
    assert made == [30, 34, 34]
