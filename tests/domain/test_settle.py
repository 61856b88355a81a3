"""Settling a command: the patients behind are advised, events become notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.domain.eta import Eta
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


def test_a_settled_event_carries_the_wait_its_waiting_ticket_was_given() -> None:
    queue = build_queue(counters=("1",), default_service_s=600)
    join_ticket(queue, "first", T0, telegram_chat_id=5)
    join_ticket(queue, "walk-in", T0)  # nobody to tell, but a wait all the same
    settled = settle([queue], queue.events, T0)
    queue.events.clear()

    assert [s.estimate for s in settled] == [queue.estimates(T0)[t] for t in ("first", "walk-in")]
    assert settled[1].estimate is not None and settled[1].estimate.eta_s > 0
    told = settled[0].intents[0].params
    assert settled[0].estimate == Eta(told["eta_s"], told["eta_low_s"], told["eta_high_s"])

    queue.call_next("1", T0, "staff:alice")  # no longer waiting: no wait to carry
    called = settle([queue], queue.events, T0)
    assert called[0].ticket is queue.tickets["first"] and called[0].estimate is None
