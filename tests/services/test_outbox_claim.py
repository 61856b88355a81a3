"""Claiming outbox rows on the database: "called" first, each row to one claimer, and
taken again once its lease runs out (the dispatcher's own tests run over a fake)."""

from __future__ import annotations

from core.domain.model import QueueConfig
from core.services.queues import new_join_request
from core.storage import outbox
from core.storage.models import OutboxMessage
from nextup.wiring import Container
from tests.conftest import FakeClock

LEASE_S = 30.0


async def three_joined_and_one_called(container: Container, clock: FakeClock) -> None:
    await container.queues.create_queue("PHARM", "Pharm", "A", QueueConfig(), ["1"])
    for n in range(3):
        await container.queues.join("PHARM", new_join_request(phone=f"+3460011122{n}"), "staff:ana")
        clock.advance(seconds=1)
    await container.queues.call_next("PHARM", "1", "staff:ana")


async def test_a_claim_takes_called_messages_first_and_each_row_once(
    container: Container, clock: FakeClock
) -> None:
    await three_joined_and_one_called(container, clock)
    kinds = sorted(m.kind for m in await OutboxMessage.filter(channel="sms"))
    assert kinds == ["called", "joined", "joined", "joined"]

    first = await outbox.claim("sms", clock(), 2, LEASE_S)
    assert [(m.kind, m.urgent) for m in first] == [("called", True), ("joined", False)]
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
    assert [m.kind for m in rest] == ["joined", "joined"]
    assert not {m.id for m in rest} & {m.id for m in first}
    assert await outbox.claim("sms", clock(), 10, LEASE_S) == []


async def test_a_row_whose_lease_ran_out_is_claimed_again(
    container: Container, clock: FakeClock
) -> None:
    await three_joined_and_one_called(container, clock)
    (called,) = await outbox.claim("sms", clock(), 1, LEASE_S, urgent_only=True)
    clock.advance(seconds=LEASE_S - 1)
    assert await outbox.claim("sms", clock(), 10, LEASE_S, urgent_only=True) == []

    clock.advance(seconds=2)
    (again,) = await outbox.claim("sms", clock(), 10, LEASE_S, urgent_only=True)
    assert again.id == called.id
    assert again.attempts == 2 and again.claim_token != called.claim_token
    # The presumed-dead claimer can no longer record a result.
    assert not await outbox.mark_sent(called, clock(), None, "dev_inbox", None)
    assert await outbox.mark_sent(again, clock(), None, "dev_inbox", None)
