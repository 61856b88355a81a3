"""Settling a command hands on the wait each waiting ticket was advised on (the simulator
records the one given at join)."""

from __future__ import annotations

from datetime import UTC, datetime

from core.domain.eta import Eta
from core.domain.events import TicketCalled, TicketJoined
from core.domain.settle import settle, settlement
from tests.domain.conftest import build_queue, join_ticket

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_settled_event_carries_the_wait_its_waiting_ticket_was_given() -> None:
    queue = build_queue(counters=("1",), default_service_s=600)
    join_ticket(queue, "first", T0, telegram_chat_id=5)
    join_ticket(queue, "walk-in", T0)  # nobody to tell, but a wait all the same
    settled = settle([queue], queue.events, T0)
    queue.events.clear()

    joined = [s for s in settled if isinstance(s.event, TicketJoined)]
    assert [s.estimate for s in joined] == [queue.estimates(T0)[t] for t in ("first", "walk-in")]
    assert joined[1].estimate is not None and joined[1].estimate.eta_s > 0
    told = joined[0].intents[0].params
    assert joined[0].estimate == Eta(told["eta_s"], told["eta_low_s"], told["eta_high_s"])

    queue.call_next("1", T0, "staff:alice")  # no longer waiting: no wait to carry
    (called,) = [s for s in settle([queue], queue.events, T0) if isinstance(s.event, TicketCalled)]
    assert called.ticket is queue.tickets["first"] and called.estimate is None


def test_the_settlement_keeps_the_forecast_of_each_queue_the_command_touched() -> None:
    touched = build_queue(code="A", counters=("1",), default_service_s=600)
    untouched = build_queue(code="B", counters=("1",), default_service_s=600)
    join_ticket(untouched, "elsewhere", T0)
    settle([untouched], untouched.events, T0)
    untouched.events.clear()
    join_ticket(touched, "first", T0, telegram_chat_id=5)
    join_ticket(touched, "second", T0, phone="+15550000002")

    done = settlement([touched, untouched], touched.events, T0)

    # What the queue's status and a join's answer read instead of forecasting again.
    assert done.estimates == {"A": touched.estimates(T0)}
    assert set(done.estimates["A"]) == {"first", "second"}
    joined = [s for s in done.events if isinstance(s.event, TicketJoined)]
    assert [s.estimate for s in joined] == [done.estimates["A"][t] for t in ("first", "second")]
