"""Broadcast: who staff's message to the line is addressed to, and the events it makes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from core.domain.broadcast import (
    MAX_BROADCAST_CHARS,
    Audience,
    BroadcastTooLong,
    audience_of,
    checked_text,
)
from core.domain.errors import InvalidValue
from core.domain.events import TicketBroadcast
from core.domain.freshness import still_true
from core.domain.model import TicketStatus
from core.domain.notify import Channel, MessageKind
from core.domain.settle import settle

if TYPE_CHECKING:
    from tests.domain.conftest import Join, MakeQueue

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def line(make_queue: MakeQueue, join: Join):  # type: ignore[no-untyped-def]
    """a on Telegram called; b by SMS and c on Telegram waiting; d a walk-in with no channel."""
    q = make_queue()
    join(q, "a", at(0), telegram_chat_id=11)
    join(q, "b", at(1), phone="+15550001111")
    join(q, "c", at(2), telegram_chat_id=33)
    join(q, "d", at(3))
    q.call_next("1", at(4), "staff:ana")
    q.rank(at(4))
    q.events.clear()
    return q


def test_waiting_reaches_the_reachable_patients_in_line(make_queue: MakeQueue, join: Join) -> None:
    q = line(make_queue, join)
    reached = q.broadcast("  Back at 14:00  ", Audience.WAITING, at(5), "staff:ana")
    assert [t.id for t in reached] == ["b", "c"]  # d has no channel, a is called
    assert all(isinstance(e, TicketBroadcast) for e in q.events)
    assert [(e.ticket_id, e.text, e.actor, e.audience) for e in q.events] == [  # type: ignore[attr-defined]
        ("b", "Back at 14:00", "staff:ana", "waiting"),
        ("c", "Back at 14:00", "staff:ana", "waiting"),
    ]
    assert {t.status for t in q.tickets.values()} == {TicketStatus.CALLED, TicketStatus.WAITING}


def test_all_reaches_the_called_too(make_queue: MakeQueue, join: Join) -> None:
    q = line(make_queue, join)
    q.start("a", at(4.5), "staff:ana")
    reached = q.broadcast("Closing early", Audience.ALL, at(5), "staff:ana")
    assert [t.id for t in reached] == ["a", "b", "c"]


def test_each_event_becomes_one_broadcast_on_the_patients_channel(
    make_queue: MakeQueue, join: Join
) -> None:
    q = line(make_queue, join)
    q.broadcast("Back at 14:00", Audience.WAITING, at(5), "staff:ana")
    settled = [s for s in settle([q], q.events, at(5)) if isinstance(s.event, TicketBroadcast)]
    intents = [i for s in settled for i in s.intents]
    assert [(i.kind, i.channel, i.recipient) for i in intents] == [
        (MessageKind.BROADCAST, Channel.SMS, "+15550001111"),
        (MessageKind.BROADCAST, Channel.TELEGRAM, "33"),
    ]
    assert all(i.params["text"] == "Back at 14:00" for i in intents)


def test_a_broadcast_holds_while_the_visit_goes_on() -> None:
    for status in TicketStatus:
        live = status in (TicketStatus.WAITING, TicketStatus.CALLED, TicketStatus.SERVING)
        assert still_true(MessageKind.BROADCAST, status, [MessageKind.CALLED]) is live


@pytest.mark.parametrize("text", ["", "   ", "\n", "x" * (MAX_BROADCAST_CHARS + 1), "a\x00b"])
def test_an_empty_or_oversized_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidValue, match="text"):
        checked_text(text)


def test_the_longest_text_is_taken() -> None:
    assert checked_text("x" * MAX_BROADCAST_CHARS) == "x" * MAX_BROADCAST_CHARS


def test_the_audience_is_waiting_or_all() -> None:
    assert audience_of("all") is Audience.ALL
    with pytest.raises(InvalidValue, match="waiting, all"):
        audience_of("everyone")


def test_too_long_says_the_count() -> None:
    error = BroadcastTooLong(3, 2)
    assert error.code == "broadcast_too_long"
    assert error.details() == {"segments": 3, "max_segments": 2, "sms_patients": 2}
    assert "3 segments" in str(error)
