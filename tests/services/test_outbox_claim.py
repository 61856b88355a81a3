"""Claiming outbox rows on the database: "called" first, each row to one claimer, one at a
time per recipient in the order decided, stale rows superseded by the domain's rule, and
leases renewed only by their holder (the dispatcher's own tests run over a fake)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from core.domain.freshness import FRESHNESS, still_true
from core.domain.model import QueueConfig, TicketStatus
from core.domain.notify import MessageKind
from core.services.queues import new_join_request
from core.storage import outbox
from core.storage.models import OutboxMessage, TicketRow
from nextup.wiring import Container
from tests.conftest import FakeClock

LEASE_S = 5.0


async def three_joined_and_one_called(container: Container, clock: FakeClock) -> None:
    await container.queues.create_queue("PHARM", "Pharm", "A", QueueConfig(), ["1"])
    for n in range(3):
        await container.queues.join("PHARM", new_join_request(phone=f"+3460011122{n}"), "staff:ana")
        clock.advance(seconds=1)
    await container.queues.call_next("PHARM", "1", "staff:ana")


async def add_row(
    recipient: str,
    at: datetime,
    *,
    kind: str = "eta_changed",
    channel: str = "sms",
    ticket_id: str | None = None,
    urgent: bool = False,
) -> OutboxMessage:
    row_id = str(uuid.uuid4())
    await OutboxMessage.create(
        id=row_id,
        idempotency_key=row_id,
        ticket_id=ticket_id,
        channel=channel,
        recipient=recipient,
        kind=kind,
        urgent=urgent,
        next_attempt_at=at,
        created_at=at,
    )
    return await OutboxMessage.get(id=row_id)


async def test_a_claim_takes_called_messages_first_and_each_row_once(
    container: Container, clock: FakeClock
) -> None:
    await three_joined_and_one_called(container, clock)
    kinds = sorted(m.kind for m in await OutboxMessage.filter(channel="sms"))
    assert kinds == ["called", "joined", "joined", "joined"]

    # The called patient's "joined" would hold their call back, and is stale anyway.
    (superseded_id,) = await outbox.supersede_stale("sms", clock())
    (superseded,) = await OutboxMessage.filter(status="superseded")
    assert superseded.id == superseded_id
    assert superseded.kind == "joined"
    assert superseded.last_error == outbox.SUPERSEDED_AT_CLAIM

    first = await outbox.claim("sms", clock(), 2, LEASE_S)
    assert [(m.kind, m.urgent) for m in first] == [("called", True), ("joined", False)]
    assert first[0].recipient == superseded.recipient
    assert {m.claim_token for m in first} == {first[0].claim_token}
    assert [(m.status, m.attempts) for m in first] == [("sending", 1)] * 2
    stored = await OutboxMessage.get(id=first[0].id)
    assert (stored.status, stored.claim_token, stored.attempts) == (
        "sending",
        first[0].claim_token,
        1,
    )

    assert await outbox.claim("sms", clock(), 10, LEASE_S, urgent_only=True) == []
    rest = await outbox.claim("sms", clock(), 10, LEASE_S)
    assert [m.kind for m in rest] == ["joined"]
    assert not {m.id for m in rest} & {m.id for m in first}
    assert await outbox.claim("sms", clock(), 10, LEASE_S) == []


async def test_a_row_whose_lease_ran_out_is_claimed_again(
    container: Container, clock: FakeClock
) -> None:
    await three_joined_and_one_called(container, clock)
    await outbox.supersede_stale("sms", clock())
    (called,) = await outbox.claim("sms", clock(), 1, LEASE_S, urgent_only=True)
    clock.advance(seconds=LEASE_S - 1)
    assert await outbox.claim("sms", clock(), 10, LEASE_S, urgent_only=True) == []

    clock.advance(seconds=2)
    (again,) = await outbox.claim("sms", clock(), 10, LEASE_S, urgent_only=True)
    assert again.id == called.id
    assert again.attempts == 2 and again.claim_token != called.claim_token
    # The presumed-dead claimer can no longer record a result, nor renew its claim.
    assert await outbox.renew([called], clock(), LEASE_S) == set()
    assert not await outbox.mark_sent(called, clock(), None, "dev_inbox", None)
    assert await outbox.mark_sent(again, clock(), None, "dev_inbox", None)


async def test_the_decided_order_is_exact_where_created_at_ties(
    container: Container, clock: FakeClock
) -> None:
    """One command's messages share `created_at`; `seq` keeps the order they were written
    in, within a command and across commands, whoever inserts (the command or the ORM)."""
    await three_joined_and_one_called(container, clock)
    by_order = await OutboxMessage.all().order_by("seq")
    assert all(m.seq is not None for m in by_order)
    assert [m.kind for m in by_order] == ["joined", "joined", "joined", "called"]
    assert len({m.seq for m in by_order}) == 4
    later = await add_row("+34600111229", clock())
    assert later.seq is not None and later.seq > by_order[-1].seq


async def test_a_recipients_messages_are_claimed_one_at_a_time_in_the_order_decided(
    container: Container, clock: FakeClock
) -> None:
    now = clock()
    first = await add_row("+34600000001", now)
    second = await add_row("+34600000001", now, kind="called", urgent=True)
    other = await add_row("+34600000002", now)
    on_telegram = await add_row("+34600000001", now, channel="telegram")

    # Urgent or not, the second waits for the first; another recipient or channel does not.
    assert await outbox.claim("sms", now, 10, LEASE_S, urgent_only=True) == []
    claimed = await outbox.claim("sms", now, 10, LEASE_S)
    assert {m.id for m in claimed} == {first.id, other.id}
    assert [m.id for m in await outbox.claim("telegram", now, 10, LEASE_S)] == [on_telegram.id]
    assert await outbox.claim("sms", now, 10, LEASE_S) == []

    # Still waiting while the first is retried later; next once it is sent.
    held = next(m for m in claimed if m.id == first.id)
    assert await outbox.mark_sent(next(m for m in claimed if m.id == other.id), now, None, "sms", 1)
    assert await outbox.retry_later(held, now + timedelta(seconds=60), "503")
    assert await outbox.claim("sms", now, 10, LEASE_S) == []
    (retried,) = await outbox.claim("sms", now + timedelta(seconds=61), 10, LEASE_S)
    assert retried.id == first.id
    assert await outbox.mark_sent(retried, now, None, "sms", 1)
    (after,) = await outbox.claim("sms", now, 10, LEASE_S)
    assert after.id == second.id


async def test_renewal_extends_only_the_holders_live_claims(
    container: Container, clock: FakeClock
) -> None:
    now = clock()
    await add_row("+34600000001", now)
    await add_row("+34600000002", now)
    a, b = await outbox.claim("sms", now, 10, LEASE_S)
    later = now + timedelta(seconds=3)
    assert await outbox.renew([a, b], later, LEASE_S) == {a.id, b.id}
    stored = await OutboxMessage.get(id=a.id)
    assert stored.claimed_until == later + timedelta(seconds=LEASE_S)

    # Once recorded, a row is no longer renewed: renewal stops with the send.
    assert await outbox.mark_sent(a, later, None, "sms", 1)
    assert await outbox.renew([a, b], later, LEASE_S) == {b.id}
    sent = await OutboxMessage.get(id=a.id)
    assert (sent.status, sent.claimed_until) == ("sent", None)


async def test_the_supersede_rule_in_sql_agrees_with_the_domain(
    container: Container, clock: FakeClock
) -> None:
    """Every kind, against every ticket status and every newer kind (or none): the claim's
    SQL supersedes exactly what `still_true` calls stale, and the last look before a send
    reads what `still_true` needs."""
    await container.queues.create_queue("PHARM", "Pharm", "A", QueueConfig(), ["1"])
    joined = await container.queues.join("PHARM", new_join_request(), "staff:ana")
    model = await TicketRow.get(id=joined.ticket.id)
    now = clock()
    tickets: list[TicketRow] = []
    rows: list[OutboxMessage] = []
    expected = {}

    def row(kind: str, channel: str, ticket_id: str) -> OutboxMessage:
        row_id = str(uuid.uuid4())
        rows.append(
            OutboxMessage(
                id=row_id,
                idempotency_key=row_id,
                ticket_id=ticket_id,
                channel=channel,
                recipient=ticket_id,
                kind=kind,
                next_attempt_at=now,
                created_at=now,
            )
        )
        return rows[-1]

    for case, (kind, status, newer) in enumerate(
        (kind, status, newer)
        for kind in [*FRESHNESS, "reply"]
        for status in TicketStatus
        for newer in [None, *MessageKind]
    ):
        ticket_id = str(uuid.uuid4())  # a ticket per case: newer messages are per ticket
        tickets.append(
            TicketRow(
                id=ticket_id,
                queue_id=model.queue_id,  # type: ignore[attr-defined]
                number=f"A-{case}",
                seq=case + 2,
                token=ticket_id,
                status=status.value,
                joined_at=now,
                line_at=now,
            )
        )
        checked = row(kind, "sms", ticket_id)
        if newer is not None:
            row(newer, "sms", ticket_id)
            row(newer, "telegram", ticket_id)  # another channel: never replaces
        expected[checked.id] = still_true(kind, status, [newer] if newer else [])
    await TicketRow.bulk_create(tickets)
    await OutboxMessage.bulk_create(rows)  # in this order: `seq` follows it
    await outbox.supersede_stale("sms", now)
    statuses = dict(await OutboxMessage.all().values_list("id", "status"))
    for row_id, true in expected.items():
        assert statuses[row_id] == ("queued" if true else "superseded"), row_id
    assert any(true for true in expected.values())
    assert not all(true for true in expected.values())


async def test_the_last_look_before_a_send_reads_the_claim_the_ticket_and_newer_messages(
    container: Container, clock: FakeClock
) -> None:
    await three_joined_and_one_called(container, clock)
    await outbox.supersede_stale("sms", clock())
    (called,) = await outbox.claim("sms", clock(), 1, LEASE_S, urgent_only=True)
    standing = await outbox.standing(called)
    assert (standing.held, standing.ticket_status, standing.newer_kinds) == (
        True,
        "called",
        frozenset(),
    )
    waiting = await OutboxMessage.filter(kind="joined", status="queued").first()
    assert waiting is not None
    await add_row(waiting.recipient, clock(), kind="close", ticket_id=waiting.ticket_id)
    (joined,) = [m for m in await outbox.claim("sms", clock(), 10, LEASE_S) if m.id == waiting.id]
    standing = await outbox.standing(joined)
    assert (standing.held, standing.ticket_status, standing.newer_kinds) == (
        True,
        "waiting",
        frozenset({"close"}),
    )
    clock.advance(seconds=LEASE_S + 1)
    await outbox.claim("sms", clock(), 10, LEASE_S)  # another dispatcher takes it over
    assert not (await outbox.standing(joined)).held


async def test_a_claimed_message_not_yet_sent_is_superseded_only_by_its_holder(
    container: Container, clock: FakeClock
) -> None:
    """A "joined" waiting in a dispatcher's lane when its patient is called: the holder
    supersedes it at its next claim, so the call is not kept behind it; nobody else can."""
    await container.queues.create_queue("PHARM", "Pharm", "A", QueueConfig(), ["1"])
    await container.queues.join("PHARM", new_join_request(phone="+34600111220"), "staff:ana")
    (joined,) = await outbox.claim("sms", clock(), 10, LEASE_S)
    await container.queues.call_next("PHARM", "1", "staff:ana")

    assert await outbox.supersede_stale("sms", clock()) == set()  # held, and not ours to say
    assert await outbox.claim("sms", clock(), 10, LEASE_S) == []  # the call waits behind it
    assert await outbox.supersede_stale("sms", clock(), [joined]) == {joined.id}
    (called,) = await outbox.claim("sms", clock(), 10, LEASE_S)
    assert called.kind == "called"
    assert not (await outbox.standing(joined)).held
