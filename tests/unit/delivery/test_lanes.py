"""A channel's lane: which claimed message goes next, under the channel's limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.delivery import Outgoing
from core.delivery.dispatcher import Lane, Pending
from core.delivery.limits import ChannelLimits
from tests.unit.delivery.fakes import FakeSender, outbox_row

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
UNLIMITED = ChannelLimits(per_second=1000)


def pending(recipient: str, minute: int, urgent: bool = False) -> Pending:
    row = outbox_row(recipient, T0 + timedelta(minutes=minute), urgent=urgent)
    return Pending(row, Outgoing(row.id, row.channel, recipient, row.kind, f"{recipient}@{minute}"))


def lane(limits: ChannelLimits = UNLIMITED) -> Lane:
    return Lane("sms", FakeSender(), limits)


def drain(lane: Lane, now: float = 0.0) -> list[str]:
    texts: list[str] = []
    while True:
        item, _ = lane.take_next(now)
        if item is None:
            return texts
        texts.append(item.message.text)


def test_called_messages_go_first_then_the_oldest() -> None:
    sms = lane()
    sms.add([pending("a", 1), pending("b", 2), pending("c", 3, urgent=True)])
    assert drain(sms) == ["c@3", "a@1", "b@2"]


def test_messages_to_one_recipient_keep_their_order() -> None:
    sms = lane()
    sms.add([pending("a", 2)])
    sms.add([pending("a", 1)])  # claimed later, written earlier
    assert drain(sms) == ["a@1", "a@2"]


def test_a_recipient_with_a_send_in_flight_waits_and_does_not_hold_up_others() -> None:
    sms = lane()
    sms.add([pending("a", 1), pending("a", 2), pending("b", 3)])
    sms.busy_recipients.add("a")
    assert drain(sms) == ["b@3"]
    sms.busy_recipients.discard("a")
    assert drain(sms) == ["a@1", "a@2"]


def test_a_recipient_inside_its_gap_is_passed_over_for_the_next() -> None:
    sms = lane(ChannelLimits(per_second=100, per_recipient_interval_s=1.0))
    sms.add([pending("a", 1), pending("b", 2)])
    sms.limiter.take("a", now=10.0)
    item, _ = sms.take_next(now=10.02)
    assert item is not None and item.message.text == "b@2"


def test_when_nothing_may_go_it_says_when_the_first_will() -> None:
    sms = lane(ChannelLimits(per_second=100, per_recipient_interval_s=1.0))
    sms.add([pending("a", 1), pending("b", 2)])
    sms.limiter.take("a", now=10.0)
    sms.limiter.hold_recipient("b", until=12.0)
    item, ready_at = sms.take_next(now=10.5)
    assert item is None and ready_at == pytest.approx(11.0)
    assert lane().take_next(now=0.0) == (None, None)


@pytest.mark.parametrize(
    ("per_second", "capacity"), [(1.0, 8), (29.5, 30), (64.0, 64), (1000.0, 64)]
)
def test_a_lane_holds_about_a_second_of_sends(per_second: float, capacity: int) -> None:
    sms = lane(ChannelLimits(per_second=per_second))
    assert sms.capacity == capacity
    sms.add([pending(f"r{n}", n) for n in range(3)])
    assert sms.room() == capacity - 3
