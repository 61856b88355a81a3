"""Ordering of the waiting line: FIFO, and the seed plan's weighted dynamic score."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.domain.model import QueueConfig, QueueMode, Ticket, Weights
from core.domain.ordering import (
    appointment_score,
    dynamic_score,
    priority_score,
    rank,
    wait_time_score,
)

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
FIFO = QueueConfig(mode=QueueMode.FIFO)
DYNAMIC = QueueConfig(mode=QueueMode.DYNAMIC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def ahead(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def ticket(
    ticket_id: str,
    *,
    seq: int = 1,
    line_at: datetime = NOW,
    priority: int = 0,
    appointment_at: datetime | None = None,
) -> Ticket:
    return Ticket(
        id=ticket_id,
        queue="A",
        number=f"A-{seq:03d}",
        seq=seq,
        token=f"tok-{ticket_id}",
        joined_at=line_at,
        line_at=line_at,
        priority=priority,
        appointment_at=appointment_at,
    )


def ids(tickets: list[Ticket]) -> list[str]:
    return [t.id for t in tickets]


# -- factor scores -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "expected"),
    [(0, 0.0), (1, 1 / 3), (2, 2 / 3), (3, 1.0)],
)
def test_priority_score_is_normalised_to_max_priority(priority: int, expected: float) -> None:
    assert priority_score(ticket("t", priority=priority)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("waited_s", "horizon_s", "expected"),
    [
        (0, 3600, 0.0),
        (900, 3600, 0.25),
        (1800, 3600, 0.5),
        (2700, 3600, 0.75),
        (3600, 3600, 1.0),
        (7200, 3600, 1.0),  # capped at 1
        (86400, 3600, 1.0),
        (-60, 3600, 0.0),  # line_at in the future never goes negative
        (300, 600, 0.5),
        (600, 600, 1.0),
    ],
)
def test_wait_time_score_against_a_fixed_horizon(
    waited_s: int, horizon_s: int, expected: float
) -> None:
    t = ticket("t", line_at=ago(waited_s))
    assert wait_time_score(t, NOW, horizon_s) == pytest.approx(expected)


def test_wait_time_score_uses_line_at_not_joined_at() -> None:
    t = ticket("t", line_at=ago(1800))
    t.joined_at = ago(7200)
    assert wait_time_score(t, NOW, 3600) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("until_s", "window_s", "expected"),
    [
        (None, 1800, 0.0),  # walk-in
        (7200, 1800, 0.0),  # far beyond the window
        (1801, 1800, 0.0),
        (1800, 1800, 0.0),  # exactly at the window edge
        (1350, 1800, 0.25),
        (900, 1800, 0.5),
        (450, 1800, 0.75),
        (1, 1800, 1 - 1 / 1800),
        (0, 1800, 1.0),  # due now
        (-600, 1800, 1.0),  # past due
        (-86400, 1800, 1.0),
        (60, 0, 0.0),  # window 0: only a due appointment counts
        (0, 0, 1.0),
        (-1, 0, 1.0),
    ],
)
def test_appointment_score(until_s: int | None, window_s: int, expected: float) -> None:
    appointment = None if until_s is None else ahead(until_s)
    t = ticket("t", appointment_at=appointment)
    assert appointment_score(t, NOW, window_s) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("priority", "waited_s", "appointment_in_s", "expected"),
    [
        (0, 0, None, 0.0),
        (3, 0, None, 0.5),
        (0, 3600, None, 0.3),
        (0, 0, 0, 0.2),
        (3, 3600, 0, 1.0),
        (3, 99_999, -99_999, 1.0),
        # 0.5 * 2/3 + 0.3 * 1800/3600 + 0.2 * (1 - 900/1800)
        (2, 1800, 900, 1 / 3 + 0.15 + 0.1),
        # 0.5 * 1/3 + 0.3 * 900/3600 + 0.2 * 0 (beyond the window)
        (1, 900, 3600, 1 / 6 + 0.075),
    ],
)
def test_dynamic_score_with_default_weights(
    priority: int, waited_s: int, appointment_in_s: int | None, expected: float
) -> None:
    appointment = None if appointment_in_s is None else ahead(appointment_in_s)
    t = ticket("t", priority=priority, line_at=ago(waited_s), appointment_at=appointment)
    assert dynamic_score(t, NOW, DYNAMIC) == pytest.approx(expected)


def test_default_weights_are_those_of_the_seed_plan() -> None:
    assert Weights() == Weights(priority=0.5, wait_time=0.3, appointment=0.2)
    assert QueueConfig().weights == Weights(0.5, 0.3, 0.2)
    assert QueueConfig().mode is QueueMode.FIFO


# -- FIFO --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tickets", "expected"),
    [
        pytest.param(
            [
                ticket("c", seq=3, line_at=ago(60)),
                ticket("a", seq=1, line_at=ago(600)),
                ticket("b", seq=2, line_at=ago(300)),
            ],
            ["a", "b", "c"],
            id="by-line-at",
        ),
        pytest.param(
            [
                ticket("late-p3", seq=2, line_at=ago(10), priority=3),
                ticket("early-p0", seq=1, line_at=ago(20)),
                ticket("appt-due", seq=3, line_at=ago(5), appointment_at=ago(600)),
            ],
            ["early-p0", "late-p3", "appt-due"],
            id="priority-and-appointments-ignored",
        ),
        pytest.param(
            [
                ticket("s3", seq=3, line_at=ago(100)),
                ticket("s1", seq=1, line_at=ago(100)),
                ticket("s2", seq=2, line_at=ago(100)),
            ],
            ["s1", "s2", "s3"],
            id="same-line-at-then-seq",
        ),
        pytest.param(
            [
                ticket("newer-low-seq", seq=1, line_at=ago(60)),
                ticket("older-high-seq", seq=9, line_at=ago(120)),
            ],
            ["older-high-seq", "newer-low-seq"],
            id="line-at-beats-seq",
        ),
        pytest.param([], [], id="empty"),
    ],
)
def test_fifo_rank(tickets: list[Ticket], expected: list[str]) -> None:
    assert ids(rank(tickets, NOW, FIFO)) == expected


def test_fifo_rank_does_not_depend_on_now() -> None:
    tickets = [
        ticket("b", seq=2, line_at=ago(60), priority=3),
        ticket("a", seq=1, line_at=ago(120)),
    ]
    for now in (NOW, NOW + timedelta(hours=5), NOW + timedelta(days=2)):
        assert ids(rank(tickets, now, FIFO)) == ["a", "b"]


# -- dynamic -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tickets", "expected"),
    [
        pytest.param(
            [
                # 0.5 * 1/3 = 0.1667
                ticket("p1-new", seq=3, line_at=NOW, priority=1),
                # 0.3 * 3600/3600 = 0.3
                ticket("p0-hour", seq=1, line_at=ago(3600)),
                # 0.3 * 600/3600 + 0.2 * 1 = 0.25
                ticket("appt-due", seq=2, line_at=ago(600), appointment_at=NOW),
            ],
            ["p0-hour", "appt-due", "p1-new"],
            id="three-factors",
        ),
        pytest.param(
            [
                ticket("p0-hour", seq=1, line_at=ago(3600)),  # 0.3
                ticket("p3-new", seq=2, line_at=NOW, priority=3),  # 0.5
            ],
            ["p3-new", "p0-hour"],
            id="emergency-before-an-hour-of-waiting",
        ),
        pytest.param(
            [
                ticket("p0-2h", seq=1, line_at=ago(7200)),  # 0.3 (capped)
                ticket("p1-30m", seq=2, line_at=ago(1800), priority=1),  # 0.1667 + 0.15
            ],
            ["p1-30m", "p0-2h"],
            id="wait-score-is-capped",
        ),
        pytest.param(
            [
                # 0.3 * 2000/3600 = 0.16667
                ticket("p0-2000s", seq=1, line_at=ago(2000)),
                # 0.5 * 1/3 = 0.16667: equal score, higher priority first
                ticket("p1-new", seq=2, line_at=NOW, priority=1),
            ],
            ["p1-new", "p0-2000s"],
            id="tie-higher-priority-first",
        ),
        pytest.param(
            [
                # 0.2 * 1 (due) = 0.2
                ticket("appt-new", seq=1, line_at=NOW, appointment_at=NOW),
                # 0.3 * 2400/3600 = 0.2: equal score and priority, earlier line_at first
                ticket("walkin-40m", seq=2, line_at=ago(2400)),
            ],
            ["walkin-40m", "appt-new"],
            id="tie-then-earlier-line-at",
        ),
        pytest.param(
            [
                ticket("s3", seq=3, line_at=ago(60), priority=2),
                ticket("s1", seq=1, line_at=ago(60), priority=2),
                ticket("s2", seq=2, line_at=ago(60), priority=2),
            ],
            ["s1", "s2", "s3"],
            id="tie-then-seq",
        ),
        pytest.param(
            [
                ticket("p0", seq=1, line_at=ago(60)),
                ticket("p2", seq=2, line_at=ago(60), priority=2),
                ticket("p3", seq=3, line_at=ago(60), priority=3),
                ticket("p1", seq=4, line_at=ago(60), priority=1),
            ],
            ["p3", "p2", "p1", "p0"],
            id="same-wait-by-priority",
        ),
        pytest.param(
            [
                ticket("appt-in-25m", seq=1, line_at=ago(60), appointment_at=ahead(1500)),
                ticket("appt-in-5m", seq=2, line_at=ago(60), appointment_at=ahead(300)),
                ticket("appt-in-2h", seq=3, line_at=ago(60), appointment_at=ahead(7200)),
                ticket("walk-in", seq=4, line_at=ago(60)),
            ],
            ["appt-in-5m", "appt-in-25m", "appt-in-2h", "walk-in"],
            id="closer-appointment-first",
        ),
    ],
)
def test_dynamic_rank_default_weights(tickets: list[Ticket], expected: list[str]) -> None:
    assert ids(rank(tickets, NOW, DYNAMIC)) == expected


def test_dynamic_rank_changes_as_time_passes() -> None:
    tickets = [
        ticket("p1", seq=2, line_at=NOW, priority=1),
        ticket("p0", seq=1, line_at=ago(1200)),
    ]
    # NOW: p1 = 0.5/3 = 0.1667, p0 = 0.3 * 1200/3600 = 0.1
    assert ids(rank(tickets, NOW, DYNAMIC)) == ["p1", "p0"]
    # NOW + 5400 s: both capped at the horizon; p1 = 0.1667 + 0.3, p0 = 0.3
    assert ids(rank(tickets, NOW + timedelta(seconds=5400), DYNAMIC)) == ["p1", "p0"]
    # p0 books an appointment at NOW + 1500 s.
    tickets[1].appointment_at = NOW + timedelta(seconds=1500)
    # NOW: p0 = 0.1 + 0.2 * (1 - 1500/1800) = 0.1333 < p1 = 0.1667
    assert ids(rank(tickets, NOW, DYNAMIC)) == ["p1", "p0"]
    # NOW + 1500 s: p0 = 0.3 * 2700/3600 + 0.2 = 0.425 > p1 = 0.1667 + 0.3 * 1500/3600 = 0.2917
    assert ids(rank(tickets, NOW + timedelta(seconds=1500), DYNAMIC)) == ["p0", "p1"]


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        pytest.param(Weights(0.5, 0.3, 0.2), ["p3-new", "appt-due", "p0-10m"], id="default"),
        pytest.param(Weights(0.0, 1.0, 0.0), ["p0-10m", "appt-due", "p3-new"], id="wait-only"),
        pytest.param(Weights(0.0, 0.0, 1.0), ["appt-due", "p3-new", "p0-10m"], id="appt-only"),
        pytest.param(Weights(1.0, 0.0, 0.0), ["p3-new", "p0-10m", "appt-due"], id="prio-only"),
    ],
)
def test_custom_weights_change_the_outcome(weights: Weights, expected: list[str]) -> None:
    config = QueueConfig(mode=QueueMode.DYNAMIC, weights=weights)
    tickets = [
        ticket("p0-10m", seq=1, line_at=ago(600)),
        ticket("appt-due", seq=2, line_at=ago(300), appointment_at=ago(60)),
        ticket("p3-new", seq=3, line_at=NOW, priority=3),
    ]
    # default: p0-10m 0.05, appt-due 0.025 + 0.2 = 0.225, p3-new 0.5
    # wait only: by time in line; appt only: due first, the two walk-ins tie (priority first);
    # priority only: p3 first, then the two p0 tie and go by line_at
    assert ids(rank(tickets, NOW, config)) == expected


def test_wait_only_with_both_beyond_the_horizon_falls_back_to_priority() -> None:
    config = QueueConfig(mode=QueueMode.DYNAMIC, weights=Weights(0.0, 1.0, 0.0))
    tickets = [
        ticket("p0-2h", seq=1, line_at=ago(7200)),
        ticket("p2-90m", seq=2, line_at=ago(5400), priority=2),
    ]
    assert ids(rank(tickets, NOW, config)) == ["p2-90m", "p0-2h"]


def test_wait_horizon_and_appointment_window_come_from_the_config() -> None:
    tickets = [
        ticket("p1-new", seq=2, line_at=NOW, priority=1),  # 0.1667 always
        ticket("p0-20m", seq=1, line_at=ago(1200)),
    ]
    # horizon 3600: p0 = 0.3 * 1/3 = 0.1; horizon 1200: p0 = 0.3
    assert ids(rank(tickets, NOW, DYNAMIC)) == ["p1-new", "p0-20m"]
    short = QueueConfig(mode=QueueMode.DYNAMIC, wait_horizon_s=1200)
    assert ids(rank(tickets, NOW, short)) == ["p0-20m", "p1-new"]

    appt = [
        ticket("p1-new", seq=2, line_at=NOW, priority=1),
        ticket("appt-in-30m", seq=1, line_at=NOW, appointment_at=ahead(1800)),
    ]
    # window 1800: appointment score 0; window 7200: 0.2 * 0.75 = 0.15 < 0.1667; 36000: 0.19
    assert ids(rank(appt, NOW, DYNAMIC)) == ["p1-new", "appt-in-30m"]
    wide = QueueConfig(mode=QueueMode.DYNAMIC, appointment_window_s=7200)
    assert ids(rank(appt, NOW, wide)) == ["p1-new", "appt-in-30m"]
    wider = QueueConfig(mode=QueueMode.DYNAMIC, appointment_window_s=36000)
    assert ids(rank(appt, NOW, wider)) == ["appt-in-30m", "p1-new"]


def test_rank_returns_a_new_list_and_leaves_the_input_alone() -> None:
    tickets = [ticket("b", seq=2, line_at=ago(10)), ticket("a", seq=1, line_at=ago(20))]
    original = list(tickets)
    for config in (FIFO, DYNAMIC):
        result = rank(tickets, NOW, config)
        assert result is not tickets
        assert tickets == original
        assert all(t.position is None for t in tickets)
