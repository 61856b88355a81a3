"""The dispatcher with its outbox, contacts and sender faked: what it claims, and what it
records for each answer a provider can give."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace
from datetime import timedelta

import pytest

from core.bus.memory import InProcessBus
from core.delivery import (
    PermanentFailure,
    Receipt,
    RecipientOptedOut,
    RetryAfter,
    TemporaryFailure,
)
from core.delivery.dispatcher import Dispatcher, DispatchSettings, RetryPolicy
from core.delivery.limits import ChannelLimits, LocalLimiter, Rule, Verdict
from core.storage.models import OutboxMessage, TicketRow
from tests.conftest import FakeClock
from tests.unit.delivery.fakes import FakeContacts, FakeOutbox, FakeSender, Result, outbox_row

RETRY = RetryPolicy(max_attempts=3, base_delay_s=2.0, max_delay_s=60.0)
SETTINGS = DispatchSettings(base_url="https://nextup.test", poll_interval_s=0.05, retry=RETRY)
FAST = ChannelLimits.at(1000)
"""No waiting for the limiter: these tests are about outcomes, not pace."""


@pytest.fixture
def outbox() -> FakeOutbox:
    return FakeOutbox()


@pytest.fixture
def contacts() -> FakeContacts:
    return FakeContacts()


@pytest.fixture
def sender() -> FakeSender:
    return FakeSender()


def dispatcher(
    outbox: FakeOutbox,
    contacts: FakeContacts,
    sender: FakeSender,
    clock: FakeClock,
    limits: ChannelLimits = FAST,
    settings: DispatchSettings = SETTINGS,
    bus: InProcessBus | None = None,
) -> Dispatcher:
    return Dispatcher(
        {"sms": sender}, {"sms": limits}, bus or InProcessBus(), settings, clock, outbox, contacts
    )


def queue(outbox: FakeOutbox, *rows: OutboxMessage) -> Iterator[OutboxMessage]:
    outbox.rows |= {row.id: row for row in rows}
    return iter(rows)


@contextlib.asynccontextmanager
async def running(dispatcher: Dispatcher) -> AsyncIterator[None]:
    """The dispatcher running in the background until the block ends."""
    task = asyncio.create_task(dispatcher.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def run_until(outbox: FakeOutbox, dispatcher: Dispatcher, results: int) -> list[Result]:
    """Runs the dispatcher until it has recorded `results` results, then stops it."""
    async with running(dispatcher), asyncio.timeout(5):
        return await outbox.wait_for_results(results)


# -- claiming ------------------------------------------------------------------------------


async def test_a_claim_takes_called_messages_first_then_what_the_lane_has_room_for(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    queue(outbox, *(outbox_row(f"+1555000{n:04}", clock()) for n in range(10)))
    queue(outbox, *(outbox_row(f"+1555100{n:04}", clock(), urgent=True) for n in range(2)))
    limits = ChannelLimits.at(8)  # a lane of 8
    worker = dispatcher(outbox, contacts, sender, clock, limits)

    assert await worker.claim_once() == 8
    assert outbox.claims == [("sms", 8, False)]  # an empty lane: one claim, "called" first
    assert [p.row.urgent for p in worker.lanes["sms"].pending] == [True] * 2 + [False] * 6


async def test_called_messages_are_claimed_even_when_the_lane_is_full(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    queue(outbox, *(outbox_row(f"+1555000{n:04}", clock()) for n in range(8)))
    worker = dispatcher(outbox, contacts, sender, clock, ChannelLimits.at(8))
    await worker.claim_once()
    (called,) = queue(outbox, outbox_row("+15551000000", clock(), urgent=True))

    assert await worker.claim_once() == 1
    assert outbox.claims[1] == ("sms", 8, True)  # past the lane's room
    assert worker.lanes["sms"].pending[0].row is called
    assert worker.lanes["sms"].room() == -1


async def test_wakes_close_together_share_one_claim_round(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    """Every command wakes the claimer; ten in a few milliseconds are one round (or two, on
    a slow machine), not ten: a claim round is two statements per channel."""
    bus = InProcessBus()
    settings = replace(SETTINGS, poll_interval_s=30.0)  # no polling: only wakes claim
    worker = dispatcher(outbox, contacts, sender, clock, settings=settings, bus=bus)
    async with running(worker):
        await asyncio.sleep(0.2)  # the round at start, and past its gap
        at_start = len(outbox.claims)
        for _ in range(10):
            await bus.publish([{"type": "ticket_joined"}])
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.2)
        assert 1 <= len(outbox.claims) - at_start <= 3


async def test_more_due_than_a_lane_takes_all_goes_out_without_the_poll(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    """Wakes sharing a round must not strand what one round could not take: a claim that
    came back full, or a finished send, claims again (the poll is 30 s here)."""
    rows = list(queue(outbox, *(outbox_row(f"+1555000{n:04}", clock()) for n in range(20))))
    settings = replace(SETTINGS, poll_interval_s=30.0)
    worker = dispatcher(outbox, contacts, sender, clock, ChannelLimits.at(8), settings)
    results = await run_until(outbox, worker, len(rows))
    assert {r.row_id for r in results} == {row.id for row in rows}


async def test_messages_not_yet_due_are_left(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    queue(outbox, outbox_row("+15550000001", clock() + timedelta(seconds=30)))
    worker = dispatcher(outbox, contacts, sender, clock)
    assert await worker.claim_once() == 0
    clock.advance(seconds=30)
    assert await worker.claim_once() == 1


async def test_a_recipient_who_opted_out_is_not_written_to(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    blocked, allowed = queue(
        outbox, outbox_row("+15550000001", clock()), outbox_row("+15550000002", clock())
    )
    contacts.opted_out_of.add(("sms", blocked.recipient))
    worker = dispatcher(outbox, contacts, sender, clock)

    assert await worker.claim_once() == 2
    assert outbox.results == [
        Result("suppressed", blocked.id, "the patient opted out of sms messages")
    ]
    assert [p.row for p in worker.lanes["sms"].pending] == [allowed]


async def test_a_message_that_cannot_be_rendered_fails_alone(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    broken, fine = queue(
        outbox,
        outbox_row("+15550000001", clock(), payload={}),
        outbox_row("+15550000002", clock()),
    )
    worker = dispatcher(outbox, contacts, sender, clock)

    await worker.claim_once()
    (result,) = outbox.results
    assert (result.outcome, result.row_id) == ("failed", broken.id)
    assert result.error is not None and result.error.startswith("cannot render the message: ")
    assert [p.row for p in worker.lanes["sms"].pending] == [fine]


# -- sending -------------------------------------------------------------------------------


async def test_a_sent_message_is_recorded_with_what_the_provider_said(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    (row,) = queue(outbox, outbox_row("+15550000001", clock()))
    sender.answers[row.recipient] = Receipt("SM1", "sms", segments=1, provider_status="queued")

    results = await run_until(outbox, dispatcher(outbox, contacts, sender, clock), 1)

    assert results == [Result("sent", row.id, provider_message_id="SM1")]
    assert outbox.provider_statuses == [(row.id, "SM1", "queued")]
    assert [m.text for m in sender.sent] == [
        "Pharmacy: P-001, it's your turn! Please go to counter 1 now."
    ]


async def test_a_send_whose_claim_ran_out_records_nothing_more(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    lost, kept = queue(
        outbox, outbox_row("+15550000001", clock()), outbox_row("+15550000002", clock())
    )
    outbox.lost_claims.add(lost.id)
    sender.answers = {
        r.recipient: Receipt("SM", "sms", provider_status="queued") for r in (lost, kept)
    }

    results = await run_until(outbox, dispatcher(outbox, contacts, sender, clock), 1)

    assert [r.row_id for r in results] == [kept.id]
    assert [s[0] for s in outbox.provider_statuses] == [kept.id]


async def test_a_provider_asking_to_wait_is_retried_after_its_delay_and_the_channel_paused(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    (row,) = queue(outbox, outbox_row("+15550000001", clock()))
    sender.answers[row.recipient] = RetryAfter("Too Many Requests", delay_s=30.0)
    worker = dispatcher(outbox, contacts, sender, clock)

    results = await run_until(outbox, worker, 1)

    assert results == [
        Result("queued", row.id, "Too Many Requests", retry_at=clock() + timedelta(seconds=30))
    ]
    lane = worker.lanes["sms"]
    [(_, rules)] = lane.limits.choices("+15550000002")  # any recipient: the channel waits
    verdict = await lane.limiter.acquire(rules)
    assert not verdict.granted and verdict.wait_s > 29


async def test_a_temporary_failure_is_retried_with_backoff(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    (row,) = queue(outbox, outbox_row("+15550000001", clock()))
    sender.answers[row.recipient] = TemporaryFailure("HTTP 503")

    (result,) = await run_until(outbox, dispatcher(outbox, contacts, sender, clock), 1)

    assert (result.outcome, result.error) == ("queued", "HTTP 503")
    assert result.retry_at is not None
    # The first attempt: between half and all of the base delay.
    assert clock() + timedelta(seconds=1) <= result.retry_at <= clock() + timedelta(seconds=2)


async def test_an_unexpected_error_is_retried_and_named(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    (row,) = queue(outbox, outbox_row("+15550000001", clock()))
    sender.answers[row.recipient] = ValueError("bad JSON")

    (result,) = await run_until(outbox, dispatcher(outbox, contacts, sender, clock), 1)

    assert (result.outcome, result.error) == ("queued", "ValueError: bad JSON")


async def test_the_last_allowed_attempt_gives_up(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    (row,) = queue(outbox, outbox_row("+15550000001", clock(), attempts=RETRY.max_attempts - 1))
    sender.answers[row.recipient] = TemporaryFailure("HTTP 503")

    results = await run_until(outbox, dispatcher(outbox, contacts, sender, clock), 1)

    assert results == [Result("failed", row.id, "gave up after 3 attempts: HTTP 503")]


async def test_a_permanent_failure_fails_at_once(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    (row,) = queue(outbox, outbox_row("+15550000001", clock()))
    sender.answers[row.recipient] = PermanentFailure("invalid number")

    results = await run_until(outbox, dispatcher(outbox, contacts, sender, clock), 1)

    assert results == [Result("failed", row.id, "invalid number")]


async def test_a_recipient_who_opted_out_at_the_provider_is_written_down(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    (row,) = queue(outbox, outbox_row("+15550000001", clock()))
    sender.answers[row.recipient] = RecipientOptedOut("unsubscribed recipient")

    results = await run_until(outbox, dispatcher(outbox, contacts, sender, clock), 1)

    assert results == [Result("suppressed", row.id, "the patient opted out of sms messages")]
    assert contacts.opted_out_of == {("sms", row.recipient)}


async def test_every_message_to_a_recipient_goes_in_order(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    rows = [outbox_row("+15550000001", clock() + timedelta(seconds=n)) for n in range(3)]
    clock.advance(seconds=3)
    queue(outbox, *reversed(rows))

    await run_until(outbox, dispatcher(outbox, contacts, sender, clock), 3)

    assert [m.id for m in sender.sent] == [r.id for r in rows]


# -- the call ladder -----------------------------------------------------------------------


def called_ticket(outbox: FakeOutbox, clock: FakeClock, phone: str | None) -> OutboxMessage:
    """A ticket called on Telegram just now, its "called" message sent."""
    ticket = TicketRow(id="T1", number="P-001", status="called", phone=phone)
    ticket.acknowledged_at = ticket.unreachable_at = None
    outbox.called.append(ticket)
    call = outbox_row("4242", clock(), channel="telegram", urgent=True)
    call.ticket_id, call.event_id = "T1", "E1"
    call.status, call.sent_at = "sent", clock()
    queue(outbox, call)
    return call


async def test_no_ladder_is_climbed_when_the_dispatcher_is_told_not_to(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    off = DispatchSettings(base_url=SETTINGS.base_url, ladder=False)
    assert await dispatcher(outbox, contacts, sender, clock, settings=off).climb_ladders_once() == 0
    assert outbox.open_call_reads == 0


async def test_an_unanswered_call_gets_its_sms_once_then_is_marked_unreachable(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    marked: list[tuple[str, object]] = []

    async def mark(ticket_id: str, call_at: object) -> bool:
        marked.append((ticket_id, call_at))
        return True

    settings = DispatchSettings(base_url=SETTINGS.base_url, ladder_channels=frozenset({"sms"}))
    ladder = Dispatcher(
        {"sms": sender}, {"sms": FAST}, InProcessBus(), settings, clock, outbox, contacts, mark
    )
    call = called_ticket(outbox, clock, "+15551230007")
    clock.advance(seconds=59)
    assert await ladder.climb_ladders_once() == 0
    clock.advance(seconds=1)
    assert await ladder.climb_ladders_once() == 1
    [sms] = [r for r in outbox.rows.values() if r.channel == "sms"]
    assert (sms.recipient, sms.kind, sms.urgent) == ("+15551230007", "called", True)
    assert sms.idempotency_key == "E1:sms:+15551230007"
    assert sms.payload["escalated_from"] == call.id
    assert await ladder.climb_ladders_once() == 0  # not twice, and the SMS is not out yet
    sms.status, sms.sent_at = "sent", clock()
    clock.advance(seconds=89)  # voice is not set up: "unreachable" 90 s after the SMS
    assert await ladder.climb_ladders_once() == 0
    clock.advance(seconds=1)
    assert await ladder.climb_ladders_once() == 1
    assert marked == [("T1", call.created_at)]


async def test_without_a_phone_the_ladder_only_marks_unreachable(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    marked: list[str] = []

    async def mark(ticket_id: str, call_at: object) -> bool:
        marked.append(ticket_id)
        return True

    settings = DispatchSettings(base_url=SETTINGS.base_url, ladder_channels=frozenset({"sms"}))
    ladder = Dispatcher(
        {"sms": sender}, {"sms": FAST}, InProcessBus(), settings, clock, outbox, contacts, mark
    )
    called_ticket(outbox, clock, None)
    clock.advance(seconds=89)
    assert await ladder.climb_ladders_once() == 0
    clock.advance(seconds=1)
    assert await ladder.climb_ladders_once() == 1
    assert marked == ["T1"]
    assert [r.channel for r in outbox.rows.values()] == ["telegram"]


class ElsewhereFor(LocalLimiter):
    """Another process sends to `recipient` while Redis is down."""

    def __init__(self, recipient: str) -> None:
        super().__init__()
        self.recipient = recipient

    async def acquire(self, rules: Sequence[Rule]) -> Verdict:
        for rule in rules:
            if rule.per_recipient and rule.key.endswith(f":to:{self.recipient}"):
                return Verdict(1.0, rule, elsewhere=True)
        return await super().acquire(rules)


async def test_a_recipient_another_process_sends_to_is_handed_back_due_now(
    outbox: FakeOutbox, contacts: FakeContacts, sender: FakeSender, clock: FakeClock
) -> None:
    mine, theirs = queue(
        outbox, outbox_row("+15550000001", clock()), outbox_row("+15550000002", clock())
    )
    limits = ChannelLimits.at(1000, recipient_window_s=1.0)
    worker = Dispatcher(
        {"sms": sender},
        {"sms": limits},
        InProcessBus(),
        SETTINGS,
        clock,
        outbox,
        contacts,
        limiter=ElsewhereFor(theirs.recipient),
    )

    results = await run_until(outbox, worker, 3)

    # handed back due now, for another process to claim (here: this one, again and again)
    assert {(r.outcome, r.retry_at) for r in results if r.row_id == theirs.id} == {
        ("queued", clock())
    }
    assert [r.outcome for r in results if r.row_id == mine.id] in ([], ["sent"])
    assert theirs.recipient not in [m.recipient for m in sender.sent]
