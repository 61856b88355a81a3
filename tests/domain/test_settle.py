"""Settling a command: the patients behind are advised, events become notifications, and
a changed line is announced once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.domain.events import (
    DomainEvent,
    EtaRevised,
    LineMoved,
    PositionChanged,
    TicketCalled,
    TicketCancelled,
    TicketJoined,
)
from core.domain.model import QueueMode
from core.domain.queue import Queue
from core.domain.settle import SettledEvent, settle
from tests.domain.conftest import build_queue, join_ticket

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_each_event_carries_the_notifications_it_causes() -> None:
    queue = build_queue(counters=("1",))
    join_ticket(queue, "bot", T0, telegram_chat_id=5)
    join_ticket(queue, "walk-in", T0)  # no phone, no chat: nobody to tell

    settled = settle([queue], queue.events, T0)

    assert [type(s.event) for s in settled] == [TicketJoined, TicketJoined, LineMoved]
    assert [[i.kind for i in s.intents] for s in settled] == [["joined"], [], []]
    assert settled[0].ticket is queue.tickets["bot"]
    assert settled[2].ticket is None


def test_a_changed_wait_is_advised_in_the_same_settlement() -> None:
    queue = build_queue(counters=("1",), default_service_s=1200, notify_positions=())
    join_ticket(queue, "first", T0)
    join_ticket(queue, "behind", T0, telegram_chat_id=5)
    settle([queue], queue.events, T0)
    queue.events.clear()
    later = T0 + timedelta(minutes=30)

    queue.cancel("first", later, "staff:alice")  # "behind" is next, with no wait left
    settled = settle([queue], queue.events, later)

    assert [type(s.event) for s in settled] == [TicketCancelled, EtaRevised, LineMoved]
    advised = settled[1]
    assert advised.event.ticket_id == "behind"  # type: ignore[attr-defined]
    assert [i.kind for i in advised.intents] == ["eta_changed"]
    assert queue.tickets["behind"].announced_at == later
    assert queue.tickets["behind"].told_position == 1


# -- one "line moved" per command --------------------------------------------------------


def settle_command(queue: Queue, at: datetime) -> list[SettledEvent]:
    """What the service layer does after each command: settle, then start a new list."""
    settled = settle([queue], queue.events, at)
    queue.events.clear()
    return settled


def of_type(settled: list[SettledEvent], kind: type[DomainEvent]) -> list[DomainEvent]:
    return [s.event for s in settled if isinstance(s.event, kind)]


def test_a_call_in_a_long_line_is_one_line_moved_and_no_event_per_ticket() -> None:
    queue = build_queue(counters=("1",), notify_positions=())
    for i in range(50):
        join_ticket(queue, f"t{i}", T0 + timedelta(seconds=i))
    settle_command(queue, T0)

    at = T0 + timedelta(minutes=5)
    queue.call_next("1", at, "staff:ana")
    settled = settle_command(queue, at)

    assert [type(s.event) for s in settled] == [TicketCalled, LineMoved]
    assert settled[-1].event == LineMoved(queue="A", at=at, actor="staff:ana", waiting=49)
    assert settled[-1].event.to_dict()["type"] == "line_moved"
    assert [t.id for t in queue.waiting()[:2]] == ["t1", "t2"]
    assert queue.line_moved_by is None  # announced once


def test_a_command_that_leaves_the_line_alone_announces_nothing() -> None:
    queue = build_queue(counters=("1",))
    join_ticket(queue, "a", T0)
    join_ticket(queue, "b", T0)
    queue.call_next("1", T0, "staff")
    settle_command(queue, T0)

    queue.recall("a", T0 + timedelta(minutes=1), "staff")
    settled = settle_command(queue, T0 + timedelta(minutes=1))
    assert of_type(settled, LineMoved) == []


def test_a_transfer_announces_both_lines() -> None:
    source, target = build_queue("A"), build_queue("B")
    join_ticket(source, "x", T0)
    join_ticket(target, "y", T0)
    events: list[DomainEvent] = []
    source.events = target.events = events
    source.line_moved_by = target.line_moved_by = None

    ticket = source.transfer_out("x", "B", T0, "staff")
    target.accept_transfer(ticket, "A", T0, "staff")
    settled = settle([source, target], events, T0)

    moved = of_type(settled, LineMoved)
    assert [(e.queue, e.waiting) for e in moved] == [("A", 0), ("B", 2)]  # type: ignore[attr-defined]


# -- "getting close" ---------------------------------------------------------------------


def closes(settled: list[SettledEvent]) -> list[tuple[str, int | None, int]]:
    return [
        (e.ticket_id, e.old_position, e.new_position)
        for e in of_type(settled, PositionChanged)
        if isinstance(e, PositionChanged)
    ]


def line_of(size: int, chat_of: str) -> Queue:
    """`size` walk-ins, the one named `chat_of` on Telegram; joins settled."""
    queue = build_queue(counters=("1",), no_show_grace_s=0)
    for i in range(size):
        extra = {"telegram_chat_id": 7} if f"t{i}" == chat_of else {}
        join_ticket(queue, f"t{i}", T0 + timedelta(seconds=i), **extra)
        settle_command(queue, T0)
    return queue


def call_and_finish(queue: Queue, at: datetime) -> list[SettledEvent]:
    ticket = queue.call_next("1", at, "staff")
    queue.complete(ticket.id, at, "staff")
    return settle_command(queue, at)


def test_getting_close_is_sent_on_reaching_3_and_1_once_each() -> None:
    queue = line_of(6, chat_of="t5")  # joined 6th
    assert queue.tickets["t5"].told_position == 6
    sent = []
    for minute in range(1, 6):
        at = T0 + timedelta(minutes=minute)
        settled = call_and_finish(queue, at)
        sent += closes(settled)
        if closes(settled):
            intents = [i.kind for s in settled for i in s.intents]
            assert "close" in intents
    assert sent == [("t5", 6, 3), ("t5", 3, 1)]
    assert queue.tickets["t5"].told_position == 1


def test_joining_at_3_is_told_by_the_join_alone() -> None:
    queue = build_queue(counters=("1",))
    join_ticket(queue, "t0", T0)
    join_ticket(queue, "t1", T0)
    join_ticket(queue, "me", T0, telegram_chat_id=7)
    settled = settle_command(queue, T0)
    assert closes(settled) == []
    assert [i.kind for s in settled for i in s.intents] == ["joined"]
    assert queue.tickets["me"].told_position == 3

    queue.call_next("1", T0 + timedelta(minutes=1), "staff")  # now 2nd: not a warned place
    assert closes(settle_command(queue, T0 + timedelta(minutes=1))) == []


def test_stepping_back_and_forward_again_tells_3_once() -> None:
    queue = line_of(4, chat_of="t3")
    queue.call_next("1", T0 + timedelta(minutes=1), "staff")
    assert closes(settle_command(queue, T0 + timedelta(minutes=1))) == [("t3", 4, 3)]

    urgent = T0 + timedelta(minutes=2)
    join_ticket(queue, "urgent", urgent, priority=3)  # FIFO: priority does not jump the line
    queue.config = build_queue(mode=QueueMode.DYNAMIC).config  # staff switch to dynamic order
    queue.reposition(urgent, "staff")
    settle_command(queue, urgent)
    assert queue.tickets["t3"].position == 4  # stepped back behind the urgent patient

    queue.cancel("urgent", urgent + timedelta(minutes=1), "patient")
    settled = settle_command(queue, urgent + timedelta(minutes=1))
    assert queue.tickets["t3"].position == 3
    assert closes(settled) == []  # 3, 4, 3 again: no second message


def test_a_patient_never_told_a_place_hears_on_reaching_one() -> None:
    queue = line_of(3, chat_of="t2")
    far = queue.tickets["t2"]
    far.told_position = None  # a patient who linked Telegram after joining on the web
    settled = settle_command(queue, T0)  # nothing happened: nothing to look at
    assert closes(settled) == []
    queue.reposition(T0, "staff")
    assert closes(settle_command(queue, T0)) == [("t2", None, 3)]
