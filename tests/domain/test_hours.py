"""Opening hours and closures: weekdays, intervals over midnight, DST days, closures, and
what a join meets when the queue is closed, paused or about to close."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.domain.errors import InvalidValue, QueueClosed, QueueClosing
from core.domain.events import QueuePaused, QueueResumed, TicketClosed, TicketJoined
from core.domain.hours import Schedule, parse_closures, parse_hours
from core.domain.model import OnClose, QueueConfig, TicketStatus
from core.domain.queue import Queue
from tests.domain.conftest import build_queue, join_ticket

MADRID = ZoneInfo("Europe/Madrid")
NEW_YORK = ZoneInfo("America/New_York")
PHARMACY = {"mon": [["08:00", "13:00"], ["14:00", "18:00"]], "tue": [["08:00", "18:00"]]}


def local(zone: ZoneInfo, *fields: int) -> datetime:
    return datetime(*fields, tzinfo=zone)  # type: ignore[misc]


def schedule(
    hours: dict[str, list[list[str]]] | None,
    zone: ZoneInfo = MADRID,
    closures: tuple[date, ...] = (),
) -> Schedule:
    return Schedule(None if hours is None else parse_hours(hours), closures, zone)


# 2026-12-07 is a Monday.


def test_open_within_a_weekday_interval_and_closed_at_lunch_and_on_missing_days() -> None:
    hours = schedule(PHARMACY)
    assert hours.is_open(local(MADRID, 2026, 12, 7, 8, 0))
    assert hours.is_open(local(MADRID, 2026, 12, 7, 12, 59))
    assert not hours.is_open(local(MADRID, 2026, 12, 7, 13, 0))  # an end is exclusive
    assert not hours.is_open(local(MADRID, 2026, 12, 7, 13, 30))
    assert not hours.is_open(local(MADRID, 2026, 12, 9, 10, 0))  # Wednesday: not in the week


def test_closes_at_and_opens_at_name_the_next_change() -> None:
    hours = schedule(PHARMACY)
    morning = local(MADRID, 2026, 12, 7, 9, 0)
    assert hours.closes_at(morning) == local(MADRID, 2026, 12, 7, 13, 0)
    assert hours.opens_at(morning) == local(MADRID, 2026, 12, 7, 14, 0)
    evening = local(MADRID, 2026, 12, 7, 19, 0)
    assert hours.closes_at(evening) is None
    assert hours.opens_at(evening) == local(MADRID, 2026, 12, 8, 8, 0)
    after_tuesday = local(MADRID, 2026, 12, 8, 18, 0)
    assert hours.opens_at(after_tuesday) == local(MADRID, 2026, 12, 14, 8, 0)  # next Monday


def test_an_interval_over_midnight_belongs_to_the_day_it_starts() -> None:
    hours = schedule({"fri": [["22:00", "02:00"]]})
    assert hours.is_open(local(MADRID, 2026, 12, 11, 23, 0))
    assert hours.is_open(local(MADRID, 2026, 12, 12, 1, 59))  # Saturday, from Friday
    assert not hours.is_open(local(MADRID, 2026, 12, 12, 2, 0))
    assert not hours.is_open(local(MADRID, 2026, 12, 12, 23, 0))  # Saturday has no hours
    assert hours.closes_at(local(MADRID, 2026, 12, 11, 23, 0)) == local(MADRID, 2026, 12, 12, 2, 0)


def test_periods_that_touch_close_as_one() -> None:
    hours = schedule({"fri": [["22:00", "00:00"]], "sat": [["00:00", "03:00"]]})
    assert hours.closes_at(local(MADRID, 2026, 12, 11, 22, 30)) == local(MADRID, 2026, 12, 12, 3, 0)


def test_a_closure_shuts_the_day_and_the_interval_starting_on_it() -> None:
    hours = schedule(
        {"fri": [["22:00", "02:00"]], "mon": [["08:00", "18:00"]]},
        closures=(date(2026, 12, 11), date(2026, 12, 14)),
    )
    assert not hours.is_open(local(MADRID, 2026, 12, 11, 23, 0))
    assert not hours.is_open(local(MADRID, 2026, 12, 12, 1, 0))
    assert hours.opens_at(local(MADRID, 2026, 12, 11, 23, 0)) == local(MADRID, 2026, 12, 18, 22, 0)


def test_without_hours_a_queue_is_open_but_on_its_closures() -> None:
    assert schedule(None).always_open()
    assert schedule(None).is_open(local(MADRID, 2026, 12, 25, 10, 0))
    assert schedule(None).opens_at(local(MADRID, 2026, 12, 25, 10, 0)) is None
    christmas = schedule(None, closures=(date(2026, 12, 25),))
    assert not christmas.is_open(local(MADRID, 2026, 12, 25, 10, 0))
    assert christmas.opens_at(local(MADRID, 2026, 12, 25, 10, 0)) == local(
        MADRID, 2026, 12, 26, 0, 0
    )
    assert christmas.closes_at(local(MADRID, 2026, 12, 24, 10, 0)) == local(
        MADRID, 2026, 12, 25, 0, 0
    )


def test_a_week_without_any_hours_never_opens() -> None:
    hours = schedule({})
    assert not hours.is_open(local(MADRID, 2026, 12, 7, 10, 0))
    assert hours.opens_at(local(MADRID, 2026, 12, 7, 10, 0)) is None


# Europe/Madrid springs forward on 2026-03-29 (02:00 -> 03:00) and falls back on
# 2026-10-25 (03:00 -> 02:00); both are Sundays.


def test_spring_forward_day_keeps_its_hours_in_local_time() -> None:
    hours = schedule({"sun": [["08:00", "14:00"]], "sat": [["22:00", "04:00"]]})
    opens = hours.opens_at(local(MADRID, 2026, 3, 29, 5, 0))
    assert opens == local(MADRID, 2026, 3, 29, 8, 0)
    assert opens is not None and opens.utcoffset() in (None, timedelta(0))  # an instant
    assert opens.astimezone(MADRID).hour == 8  # summer time already
    # Saturday 22:00 to Sunday 04:00 is five hours long that night, not six.
    start = local(MADRID, 2026, 3, 28, 22, 0)
    closes = hours.closes_at(start)
    assert closes is not None and closes - start == timedelta(hours=5)


def test_a_time_the_clocks_skip_is_read_as_late_after_the_jump() -> None:
    hours = schedule({"sun": [["02:30", "05:00"]]})
    # 02:30 does not exist that night: it is 03:30 summer time.
    assert hours.opens_at(local(MADRID, 2026, 3, 29, 0, 0)) == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )
    assert not hours.is_open(datetime(2026, 3, 29, 1, 29, tzinfo=UTC))


def test_an_ambiguous_time_on_fall_back_is_the_first_of_the_two() -> None:
    hours = schedule({"sun": [["02:30", "05:00"]]})
    # 02:30 happens twice on 2026-10-25: first at 00:30 UTC (summer time).
    assert hours.opens_at(local(MADRID, 2026, 10, 25, 0, 0)) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )
    closes = hours.closes_at(datetime(2026, 10, 25, 1, 0, tzinfo=UTC))
    assert closes == datetime(2026, 10, 25, 4, 0, tzinfo=UTC)


def test_new_york_fall_back_day_is_an_hour_longer() -> None:
    hours = schedule({"sun": [["00:00", "12:00"]]}, zone=NEW_YORK)
    start = local(NEW_YORK, 2026, 11, 1, 0, 0)
    closes = hours.closes_at(start)
    assert closes is not None and closes - start == timedelta(hours=13)


@pytest.mark.parametrize(
    ("hours", "words"),
    [
        ({"monday": [["08:00", "12:00"]]}, "unknown weekday monday"),
        ({"mon": [["8:00", "12:00"]]}, "'8:00' is not a time as HH:MM"),
        ({"mon": [["08:00", "24:00"]]}, "'24:00' is not a time"),
        ({"mon": [["08:00", "08:00"]]}, "is empty"),
        (
            {"mon": [["08:00", "12:00"], ["11:00", "13:00"]]},
            "mon 08:00-12:00 overlaps mon 11:00-13:00",
        ),
        (
            {"mon": [["22:00", "03:00"]], "tue": [["02:00", "05:00"]]},
            "mon 22:00-03:00 overlaps tue",
        ),
        ({"sun": [["22:00", "03:00"]], "mon": [["02:00", "05:00"]]}, "overlaps"),
        ({"mon": [["08:00"]]}, "each interval is [start, end]"),
        ({"mon": "08:00-12:00"}, "a list of [start, end] intervals"),
    ],
)
def test_bad_hours_are_refused_in_words(hours: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidValue, match=None) as refused:
        parse_hours(hours)
    assert words in str(refused.value)


@pytest.mark.parametrize("raw", [["2026-13-01"], ["25/12/2026"], ["2026-12-1"], "2026-12-25", [3]])
def test_bad_closures_are_refused(raw: object) -> None:
    with pytest.raises(InvalidValue, match="closures"):
        parse_closures(raw)


def test_closures_are_sorted_and_kept_once() -> None:
    assert parse_closures(["2026-12-25", "2026-01-01", "2026-12-25"]) == (
        date(2026, 1, 1),
        date(2026, 12, 25),
    )


def test_hours_round_trip_through_their_json() -> None:
    parsed = parse_hours(PHARMACY)
    assert parse_hours(parsed.to_json()) == parsed
    assert parsed.to_json()["sun"] == []


clock = st.times().map(lambda t: t.replace(second=0, microsecond=0))


@given(
    start=clock,
    length_min=st.integers(1, 23 * 60),
    moment=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    zone=st.sampled_from([MADRID, NEW_YORK, ZoneInfo("UTC"), ZoneInfo("Australia/Lord_Howe")]),
)
def test_every_day_interval_is_consistent(
    start: object, length_min: int, moment: datetime, zone: ZoneInfo
) -> None:
    """Whatever the interval and the moment: open exactly when a closing time lies ahead,
    the next opening is in the future and the queue is open then, and just before it not."""
    begin = datetime.combine(date(2026, 1, 1), start)
    end = (begin + timedelta(minutes=length_min)).time()
    text = [begin.strftime("%H:%M"), end.strftime("%H:%M")]
    hours = schedule(
        {day: [text] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}, zone
    )
    closes = hours.closes_at(moment)
    assert (closes is not None) == hours.is_open(moment)
    if closes is not None:
        assert closes > moment
        assert not hours.is_open(closes)
    opens = hours.opens_at(moment)
    assert opens is not None and opens > moment
    assert hours.is_open(opens)
    assert not hours.is_open(opens - timedelta(microseconds=1))


# -- joins ------------------------------------------------------------------------------

MONDAY_9 = local(MADRID, 2026, 12, 7, 9, 0)


def pharmacy(**config: object) -> Queue:
    return build_queue(opening_hours=parse_hours(PHARMACY), timezone="Europe/Madrid", **config)


def test_a_join_while_closed_is_refused_with_the_next_opening() -> None:
    queue = pharmacy()
    with pytest.raises(QueueClosed) as refused:
        join_ticket(queue, "t", local(MADRID, 2026, 12, 7, 13, 30))
    assert refused.value.opens_at == local(MADRID, 2026, 12, 7, 14, 0)
    assert refused.value.details() == {
        "queue": "A",
        "opens_at": "2026-12-07T13:00:00+00:00",
    }
    assert queue.tickets == {}


def test_a_forced_join_while_closed_is_taken_and_recorded_as_forced() -> None:
    queue = pharmacy()
    ticket = join_ticket(queue, "t", local(MADRID, 2026, 12, 7, 20, 0), force=True)
    joined = [e for e in queue.events if isinstance(e, TicketJoined)]
    assert joined[0].forced and joined[0].ticket_id == ticket.id


def test_a_join_is_taken_in_hours_and_not_recorded_as_forced() -> None:
    queue = pharmacy()
    join_ticket(queue, "t", MONDAY_9)
    assert not queue.events[0].forced


def test_a_paused_queue_refuses_joins_with_its_message_and_no_opening() -> None:
    queue = build_queue()
    now = datetime(2026, 12, 7, 9, tzinfo=UTC)
    queue.pause_joins("  Fire drill, back at 10  ", now, "staff:ana")
    assert isinstance(queue.events[-1], QueuePaused)
    with pytest.raises(QueueClosed) as refused:
        join_ticket(queue, "t", now)
    assert refused.value.details() == {
        "queue": "A",
        "opens_at": None,
        "message": "Fire drill, back at 10",
    }
    queue.resume_joins(now, "staff:ana")
    assert isinstance(queue.events[-1], QueueResumed)
    assert join_ticket(queue, "t", now).number == "A-001"


def test_a_pause_message_has_a_limit() -> None:
    with pytest.raises(InvalidValue, match="160"):
        build_queue().pause_joins("x" * 161, MONDAY_9, "staff:ana")


def test_resuming_a_queue_that_is_not_paused_changes_nothing() -> None:
    queue = build_queue()
    queue.resume_joins(MONDAY_9, "staff:ana")
    assert queue.events == [] and queue.pause is None


def test_a_join_that_would_be_called_after_closing_is_refused() -> None:
    # One counter, 30 min a visit: at 12:10 with two waiting, a third is called at about
    # 13:10, past the 13:00 closing.
    queue = pharmacy(default_service_s=1800)
    del queue.counters["2"]
    noon = local(MADRID, 2026, 12, 7, 12, 10)
    join_ticket(queue, "a", noon)
    join_ticket(queue, "b", noon)
    with pytest.raises(QueueClosing) as refused:
        join_ticket(queue, "c", noon)
    assert refused.value.details() == {
        "queue": "A",
        "closes_at": "2026-12-07T12:00:00+00:00",
        "opens_at": "2026-12-07T13:00:00+00:00",
    }
    assert set(queue.tickets) == {"a", "b"}
    assert queue.day_seq == 2
    assert join_ticket(queue, "c", noon, force=True).number == "A-003"


def test_refusing_past_closing_can_be_switched_off() -> None:
    queue = pharmacy(default_service_s=1800, refuse_past_closing=False)
    del queue.counters["2"]
    noon = local(MADRID, 2026, 12, 7, 12, 0)
    for ticket_id in "abc":
        join_ticket(queue, ticket_id, noon)
    assert len(queue.tickets) == 3


def test_opening_reports_paused_and_hours_apart() -> None:
    queue = pharmacy()
    queue.pause_joins(None, MONDAY_9, "staff:ana")
    opening = queue.opening(MONDAY_9)
    assert not opening.open and opening.in_hours
    assert opening.closes_at == local(MADRID, 2026, 12, 7, 13, 0)
    assert opening.pause.message is None


def test_queue_config_keeps_hours_and_closures() -> None:
    config = QueueConfig(opening_hours=parse_hours(PHARMACY), closures=(date(2026, 12, 25),))
    assert not config.schedule().is_open(local(MADRID, 2026, 12, 25, 10, 0))


# -- closing time -------------------------------------------------------------------------


def closing_queue(**config: object) -> Queue:
    return pharmacy(on_close=OnClose.CLOSE_REMAINING, **config)


def test_close_remaining_ends_the_line_that_joined_while_open() -> None:
    queue = closing_queue()
    join_ticket(queue, "a", MONDAY_9)
    join_ticket(queue, "b", MONDAY_9)
    assert queue.close_remaining(local(MADRID, 2026, 12, 7, 12, 0)) == []  # still open
    after = local(MADRID, 2026, 12, 7, 13, 5)
    closed = queue.close_remaining(after)
    assert [t.id for t in closed] == ["a", "b"]
    assert {t.status for t in queue.tickets.values()} == {TicketStatus.CLOSED}
    assert all(t.finished_at == after and t.position is None for t in closed)
    events = [e for e in queue.events if isinstance(e, TicketClosed)]
    assert [(e.ticket_id, e.from_status, e.to_status, e.actor) for e in events] == [
        ("a", TicketStatus.WAITING, TicketStatus.CLOSED, "system:close"),
        ("b", TicketStatus.WAITING, TicketStatus.CLOSED, "system:close"),
    ]
    assert queue.close_remaining(after + timedelta(minutes=1)) == []  # once


def test_a_walk_in_forced_while_closed_is_not_closed_with_the_line() -> None:
    queue = closing_queue()
    lunch = local(MADRID, 2026, 12, 7, 13, 30)
    join_ticket(queue, "walk-in", lunch, force=True)
    assert queue.close_remaining(lunch + timedelta(minutes=5)) == []
    assert queue.ticket("walk-in").status is TicketStatus.WAITING


def test_serve_remaining_and_a_queue_without_hours_close_nobody() -> None:
    serving = pharmacy()
    join_ticket(serving, "a", MONDAY_9)
    assert serving.close_remaining(local(MADRID, 2026, 12, 7, 20, 0)) == []
    always = build_queue(on_close=OnClose.CLOSE_REMAINING)
    join_ticket(always, "a", MONDAY_9)
    assert always.close_remaining(local(MADRID, 2026, 12, 8, 20, 0)) == []


def test_called_and_served_patients_are_left_to_staff_at_closing() -> None:
    queue = closing_queue()
    join_ticket(queue, "a", MONDAY_9)
    join_ticket(queue, "b", MONDAY_9)
    queue.call_next("1", MONDAY_9, "staff:ana")
    closed = queue.close_remaining(local(MADRID, 2026, 12, 7, 13, 5))
    assert [t.id for t in closed] == ["b"]
    assert queue.ticket("a").status is TicketStatus.CALLED
