"""A channel's lane: which claimed message goes next, under the channel's limits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from core.delivery import Outgoing
from core.delivery.dispatcher import Lane, Pending
from core.delivery.limits import ChannelLimits, LocalLimiter, Rule, Verdict
from tests.unit.delivery.fakes import FakeSender, outbox_row

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
UNLIMITED = ChannelLimits.at(1000)


class Clock:
    def __init__(self, now: float = 10.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def pending(recipient: str, minute: int, urgent: bool = False) -> Pending:
    row = outbox_row(recipient, T0 + timedelta(minutes=minute), urgent=urgent)
    return Pending(row, Outgoing(row.id, row.channel, recipient, row.kind, f"{recipient}@{minute}"))


def lane(limits: ChannelLimits = UNLIMITED, clock: Clock | None = None) -> Lane:
    return Lane("sms", FakeSender(), limits, LocalLimiter(clock or Clock()))


async def drain(lane: Lane, now: float = 10.0) -> list[str]:
    """What may go at `now`, each answered at once."""
    texts: list[str] = []
    while True:
        item, _ = await lane.take_next(now)
        if item is None:
            return texts
        await lane.answered(item)
        texts.append(item.message.text)


async def test_called_messages_go_first_then_the_oldest() -> None:
    sms = lane()
    sms.add([pending("a", 1), pending("b", 2), pending("c", 3, urgent=True)])
    assert await drain(sms) == ["c@3", "a@1", "b@2"]


async def test_messages_to_one_recipient_keep_their_order() -> None:
    sms = lane()
    sms.add([pending("a", 2)])
    sms.add([pending("a", 1)])  # claimed later, written earlier
    assert await drain(sms) == ["a@1", "a@2"]


async def test_a_recipient_with_a_send_in_flight_waits_and_does_not_hold_up_others() -> None:
    sms = lane()
    sms.add([pending("a", 1), pending("a", 2), pending("b", 3)])
    sms.busy_recipients.add("a")
    assert await drain(sms) == ["b@3"]
    sms.busy_recipients.discard("a")
    assert await drain(sms) == ["a@1", "a@2"]


async def test_a_recipient_inside_its_gap_is_passed_over_for_the_next() -> None:
    clock = Clock(10.0)
    sms = lane(ChannelLimits.at(100, recipient_window_s=1.0), clock)
    sms.add([pending("a", 1), pending("a", 2), pending("b", 3)])
    assert await drain(sms) == ["a@1", "b@3"]
    clock.now = 10.5
    item, ready_at = await sms.take_next(10.5)
    assert item is None and ready_at == pytest.approx(11.0)
    clock.now = 11.0
    assert await drain(sms, 11.0) == ["a@2"]


async def test_a_recipient_whose_last_send_is_unanswered_waits_for_its_answer() -> None:
    clock = Clock(10.0)
    sms = lane(ChannelLimits.at(100, recipient_window_s=1.0), clock)
    sms.add([pending("a", 1), pending("a", 2)])
    first, _ = await sms.take_next(10.0)
    assert first is not None
    clock.now = 12.0  # a slow provider: two seconds and no answer yet
    item, ready_at = await sms.take_next(12.0)
    assert item is None and ready_at is not None and ready_at < 12.1  # it asks again soon
    sms.recipient_free_at.clear()
    await sms.answered(first)  # answered at 12.0: the next may go a window later
    clock.now = 12.5
    assert (await sms.take_next(12.5))[0] is None
    clock.now = 13.0
    assert await drain(sms, 13.0) == ["a@2"]


async def test_a_full_channel_stops_every_recipient_and_says_when_the_next_may_go() -> None:
    clock = Clock(10.0)
    sms = lane(ChannelLimits.at(2), clock)
    sms.add([pending(r, n) for n, r in enumerate("abcd")])
    assert await drain(sms) == ["a@0", "b@1"]
    clock.now = 10.25
    item, ready_at = await sms.take_next(10.25)
    assert item is None and ready_at == pytest.approx(11.0)
    assert await lane().take_next(now=0.0) == (None, None)


async def test_each_origin_has_its_own_limit_and_a_send_takes_the_first_with_room() -> None:
    clock = Clock(10.0)
    limits = ChannelLimits("twilio", count=1, window_s=1.0, origins=("+1555A", "+1555B"))
    sms = lane(limits, clock)
    sms.add([pending(f"r{n}", n) for n in range(3)])
    first, second = (await sms.take_next(10.0))[0], (await sms.take_next(10.0))[0]
    assert first is not None and second is not None
    await sms.answered(first)
    await sms.answered(second)
    assert {first.message.origin, second.message.origin} == {"+1555A", "+1555B"}
    item, ready_at = await sms.take_next(10.0)
    assert item is None and ready_at == pytest.approx(11.0)


class ElsewhereFor(LocalLimiter):
    """Another process sends to `recipient` (as while Redis is down)."""

    def __init__(self, recipient: str) -> None:
        super().__init__(Clock())
        self.recipient = recipient

    async def acquire(self, rules: Sequence[Rule]) -> Verdict:
        for rule in rules:
            if rule.per_recipient and rule.key.endswith(f":to:{self.recipient}"):
                return Verdict(1.0, rule, elsewhere=True)
        return await super().acquire(rules)


async def test_a_recipient_another_process_sends_to_is_handed_back_with_its_messages() -> None:
    limits = ChannelLimits.at(100, recipient_window_s=1.0)
    sms = Lane("sms", FakeSender(), limits, ElsewhereFor("a"))
    sms.add([pending("a", 1), pending("b", 2), pending("a", 3)])
    assert await drain(sms) == ["b@2"]
    assert [p.message.text for p in sms.handed_back] == ["a@1", "a@3"]
    assert sms.pending == []


@pytest.mark.parametrize(
    ("per_second", "capacity"), [(1.0, 8), (29.5, 30), (64.0, 64), (1000.0, 64)]
)
def test_a_lane_holds_about_a_second_of_sends(per_second: float, capacity: int) -> None:
    sms = lane(ChannelLimits.at(per_second))
    assert sms.capacity == capacity
    sms.add([pending(f"r{n}", n) for n in range(3)])
    assert sms.room() == capacity - 3
