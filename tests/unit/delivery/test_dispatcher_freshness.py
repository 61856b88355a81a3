"""The dispatcher with its outbox faked: stale messages are superseded at the claim and
just before the send, a recipient's messages go in the order decided, and claims are
renewed while held and only while held."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

from core.bus.memory import InProcessBus
from core.delivery import Outgoing, Receipt
from core.delivery.dispatcher import Dispatcher, DispatchSettings
from core.delivery.limits import ChannelLimits
from core.storage.models import OutboxMessage
from core.storage.outbox import Standing
from tests.conftest import FakeClock
from tests.unit.delivery.fakes import FakeContacts, FakeOutbox, FakeSender, Result, outbox_row

SETTINGS = DispatchSettings(base_url="https://nextup.test", poll_interval_s=0.05)
FAST = ChannelLimits.at(1000)
CLOSE = {
    "queue_name": "Pharmacy",
    "number": "P-001",
    "position": 2,
    "eta_s": 300,
    "eta_low_s": 240,
    "eta_high_s": 360,
}


def dispatcher(
    outbox: FakeOutbox,
    sender: Any,
    clock: FakeClock,
    settings: DispatchSettings = SETTINGS,
) -> Dispatcher:
    return Dispatcher(
        {"sms": sender}, {"sms": FAST}, InProcessBus(), settings, clock, outbox, FakeContacts()
    )


def add(outbox: FakeOutbox, *rows: OutboxMessage) -> None:
    outbox.rows |= {row.id: row for row in rows}


async def run_until(outbox: FakeOutbox, worker: Dispatcher, results: int) -> list[Result]:
    running = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(5):
            return await outbox.wait_for_results(results)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_a_stale_message_is_superseded_at_the_claim_and_holds_nothing_back(
    clock: FakeClock,
) -> None:
    outbox, sender = FakeOutbox(), FakeSender()
    close = outbox_row("+1555", clock(), kind="close", payload=CLOSE, ticket_id="t1")
    called = outbox_row("+1555", clock(), kind="called", urgent=True, ticket_id="t1")
    add(outbox, close, called)
    outbox.ticket_statuses["t1"] = "called"

    results = await run_until(outbox, dispatcher(outbox, sender, clock), 2)

    assert [(r.outcome, r.row_id) for r in results] == [
        ("superseded", close.id),
        ("sent", called.id),
    ]
    assert [m.kind for m in sender.sent] == ["called"]


class CallLandsAfterTheClaim(FakeOutbox):
    """The ticket is called once the message has left the lane for its send."""

    async def standing(self, row: OutboxMessage) -> Standing:
        self.ticket_statuses["t1"] = "called"
        return await super().standing(row)


async def test_a_message_made_stale_after_its_claim_is_superseded_before_the_send(
    clock: FakeClock,
) -> None:
    outbox, sender = CallLandsAfterTheClaim(), FakeSender()
    close = outbox_row("+1555", clock(), kind="close", payload=CLOSE, ticket_id="t1")
    add(outbox, close)
    outbox.ticket_statuses["t1"] = "waiting"

    results = await run_until(outbox, dispatcher(outbox, sender, clock), 1)

    assert results == [Result("superseded", close.id, "superseded: the ticket is called now")]
    assert sender.sent == []


async def test_a_recipients_messages_go_in_the_order_decided_even_a_call(
    clock: FakeClock,
) -> None:
    outbox, sender = FakeOutbox(), FakeSender()
    first = outbox_row("+1555", clock(), kind="done", payload={"queue_name": "P"})
    then = outbox_row("+1555", clock(), kind="called", urgent=True)
    other = outbox_row("+1666", clock(), kind="called", urgent=True)
    add(outbox, first, then, other)

    await run_until(outbox, dispatcher(outbox, sender, clock), 3)

    to_1555 = [m.id for m in sender.sent if m.recipient == "+1555"]
    assert to_1555 == [first.id, then.id]
    assert sender.sent[0].id == other.id  # among recipients, "called" first


class SlowSender(FakeSender):
    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.done_at: datetime | None = None

    async def send(self, message: Outgoing) -> Receipt:
        receipt = await super().send(message)
        await asyncio.sleep(self.delay_s)
        return receipt


async def test_a_claim_is_renewed_while_its_send_is_in_flight_and_not_after(
    clock: FakeClock,
) -> None:
    outbox, sender = FakeOutbox(), SlowSender(delay_s=0.5)
    settings = DispatchSettings(base_url="https://x.test", poll_interval_s=0.05, lease_s=0.15)
    row = outbox_row("+1555", clock())
    add(outbox, row)
    worker = dispatcher(outbox, sender, clock, settings)
    running = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(5):
            await outbox.wait_for_results(1)
        renewals_at_the_end = len(outbox.renewals)
        await asyncio.sleep(0.3)  # six more renewal rounds, had it kept renewing
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    during = [r for r in outbox.renewals[:renewals_at_the_end] if row.id in r]
    assert len(during) >= 3  # 0.5 s of send, a renewal every 0.05 s
    assert not any(row.id in r for r in outbox.renewals[renewals_at_the_end:])
    assert outbox.results == [Result("sent", row.id, provider_message_id="msg-1")]


async def test_a_lost_claim_is_neither_renewed_nor_sent(clock: FakeClock) -> None:
    outbox, sender = FakeOutbox(), FakeSender()
    row = outbox_row("+1555", clock())
    add(outbox, row)
    worker = dispatcher(outbox, sender, clock)
    assert await worker.claim_once() == 1
    outbox.lost_claims.add(row.id)  # its lease ran out and another dispatcher took it

    await worker.renew_once()
    await worker.renew_once()

    assert outbox.renewals == [set()]  # asked once, then dropped: not taken back
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(0.2)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert sender.sent == []


async def test_a_message_waiting_in_the_lane_is_superseded_when_its_patient_is_called(
    clock: FakeClock,
) -> None:
    """The lane holds the "getting close" (claimed, not yet sent); the call lands; the next
    claim supersedes it there, and the call goes first."""
    outbox, sender = FakeOutbox(), FakeSender()
    close = outbox_row("+1555", clock(), kind="close", payload=CLOSE, ticket_id="t1")
    add(outbox, close)
    outbox.ticket_statuses["t1"] = "waiting"
    worker = dispatcher(outbox, sender, clock)
    assert await worker.claim_once() == 1
    assert [p.row.id for p in worker.lanes["sms"].pending] == [close.id]

    outbox.ticket_statuses["t1"] = "called"
    called = outbox_row("+1555", clock(), kind="called", urgent=True, ticket_id="t1")
    add(outbox, called)
    assert await worker.claim_once() == 1
    assert [p.row.id for p in worker.lanes["sms"].pending] == [called.id]
    assert outbox.rows[close.id].status == "superseded"
