"""A waiting patient says what their visit is for (`Queue.choose_service`)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from core.domain.errors import IllegalTransition, InvalidValue
from core.domain.events import EtaRevised, LineMoved, TicketServiceChosen
from core.domain.model import QueueMode
from core.domain.queue import Queue
from core.domain.settle import settlement

if TYPE_CHECKING:
    from tests.domain.conftest import Join, MakeQueue

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
KINDS = {"pickup": 120, "consultation": 900}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def line(q: Queue) -> list[str]:
    return [t.id for t in q.waiting()]


@pytest.fixture
def short_first(make_queue: MakeQueue) -> Queue:
    return make_queue(counters=("1",), mode=QueueMode.SHORT_FIRST, service_times_s=KINDS)


def test_a_pickup_chosen_moves_the_patient_ahead_of_longer_visits(
    short_first: Queue, join: Join
) -> None:
    join(short_first, "long", at(0), service="consultation")
    join(short_first, "unsure", at(10))  # the default 300 s: behind nobody shorter
    assert line(short_first) == ["unsure", "long"]
    join(short_first, "me", at(20))
    assert line(short_first) == ["unsure", "me", "long"]
    short_first.events.clear()

    ticket = short_first.choose_service("me", "pickup", at(30), "patient:telegram")

    assert ticket.service == "pickup"
    assert line(short_first) == ["me", "unsure", "long"]
    [event] = short_first.events
    assert isinstance(event, TicketServiceChosen)
    assert (event.service, event.previous_service) == ("pickup", None)
    assert (event.old_position, event.new_position) == (2, 1)
    assert event.actor == "patient:telegram"
    assert short_first.line_moved_by == "patient:telegram"


def test_not_sure_takes_the_kind_back_to_unknown(short_first: Queue, join: Join) -> None:
    join(short_first, "me", at(0), service="consultation")
    short_first.events.clear()
    short_first.choose_service("me", None, at(5), "patient:web")
    [event] = short_first.events
    assert isinstance(event, TicketServiceChosen)
    assert (event.service, event.previous_service) == (None, "consultation")
    assert short_first.ticket("me").service is None


def test_choosing_what_is_chosen_changes_nothing(short_first: Queue, join: Join) -> None:
    join(short_first, "me", at(0), service="pickup")
    join(short_first, "other", at(1))
    short_first.events.clear()
    short_first.line_moved_by = None
    short_first.choose_service("me", "pickup", at(5), "patient:sms")
    short_first.choose_service("other", None, at(5), "patient:sms")
    assert short_first.events == []
    assert short_first.line_moved_by is None


def test_a_kind_the_queue_does_not_offer_is_refused(short_first: Queue, join: Join) -> None:
    join(short_first, "me", at(0))
    with pytest.raises(InvalidValue, match="consultation, pickup"):
        short_first.choose_service("me", "xray", at(5), "patient:sms")
    assert short_first.ticket("me").service is None


def test_only_while_waiting(short_first: Queue, join: Join) -> None:
    join(short_first, "me", at(0))
    short_first.call_next("1", at(5), "staff")
    with pytest.raises(IllegalTransition, match="kind of visit"):
        short_first.choose_service("me", "pickup", at(6), "patient:telegram")


def test_in_fifo_the_place_holds_and_the_waits_behind_change(
    make_queue: MakeQueue, join: Join
) -> None:
    queue = make_queue(counters=("1",), service_times_s=KINDS, default_service_s=300)
    join(queue, "me", at(0))
    join(queue, "behind", at(1), telegram_chat_id=7)
    before = queue.estimates(at(2))["behind"]
    queue.choose_service("me", "consultation", at(2), "patient:telegram")
    assert line(queue) == ["me", "behind"]
    after = queue.estimates(at(2))["behind"]
    assert after.eta_s > before.eta_s  # 900 s ahead of them now, not 300


def test_settling_tells_the_chooser_nothing_more_and_announces_the_moved_line(
    short_first: Queue, join: Join
) -> None:
    # every change of wait is worth a message here, so the one not sent is left out on purpose
    short_first.config = dataclasses.replace(
        short_first.config, eta_update_interval_s=0, eta_change_margin_s=1
    )
    join(short_first, "unsure", at(0), telegram_chat_id=1)
    join(short_first, "me", at(1), service="consultation", telegram_chat_id=2)
    events = short_first.events
    settlement([short_first], events, at(1))  # what each was told at join
    events.clear()
    short_first.choose_service("me", "pickup", at(2), "patient:telegram")
    settled = settlement([short_first], events, at(2))
    revised = [s.event.ticket_id for s in settled.events if isinstance(s.event, EtaRevised)]
    assert revised == ["unsure"]  # now behind a pickup; the chooser reads theirs in the reply
    assert [type(s.event) for s in settled.events if isinstance(s.event, LineMoved)] == [LineMoved]
    assert short_first.ticket("me").announced_eta_s == settled.estimates["A"]["me"].eta_s
