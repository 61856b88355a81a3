"""Settling a command: the patients behind are advised, events become notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.domain.events import EtaRevised, TicketCancelled, TicketJoined
from core.domain.settle import settle
from tests.domain.conftest import build_queue, join_ticket

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_each_event_carries_the_notifications_it_causes() -> None:
    queue = build_queue(counters=("1",))
    join_ticket(queue, "bot", T0, telegram_chat_id=5)
    join_ticket(queue, "walk-in", T0)  # no phone, no chat: nobody to tell

    settled = settle([queue], queue.events, T0)

    assert [type(s.event) for s in settled] == [TicketJoined, TicketJoined]
    assert [[i.kind for i in s.intents] for s in settled] == [["joined"], []]
    assert settled[0].ticket is queue.tickets["bot"]


def test_a_changed_wait_is_advised_in_the_same_settlement() -> None:
    queue = build_queue(counters=("1",), default_service_s=1200, notify_positions=())
    join_ticket(queue, "first", T0)
    join_ticket(queue, "behind", T0, telegram_chat_id=5)
    settle([queue], queue.events, T0)
    queue.events.clear()
    later = T0 + timedelta(minutes=30)

    queue.cancel("first", later, "staff:alice")  # "behind" is next, with no wait left
    settled = settle([queue], queue.events, later)

    advised = settled[-1]
    assert type(advised.event) is EtaRevised and advised.event.ticket_id == "behind"
    assert [i.kind for i in advised.intents] == ["eta_changed"]
    assert type(settled[0].event) is TicketCancelled
    assert queue.tickets["behind"].announced_at == later
