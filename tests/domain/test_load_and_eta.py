"""Load factor, learned service times and wait estimates with a range."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from core.domain.eta import (
    Eta,
    ServiceSample,
    ServiceTime,
    estimate,
    learn_service_time,
)
from core.domain.load import load_factor, utilisation
from core.domain.model import QueueMode

if TYPE_CHECKING:
    from tests.domain.conftest import Join, MakeQueue

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
DEFAULT_300 = ServiceTime(300.0, 150.0, 0, "default")


def sample(at: datetime, service_s: float) -> ServiceSample:
    return ServiceSample(finished_at=at, service_s=service_s)


def hours_ago(hours: float, service_s: float) -> ServiceSample:
    return sample(NOW - timedelta(hours=hours), service_s)


# -- load factor -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "factor"),
    [
        (0.0, 1.0),
        (0.25, 1.0),
        (0.49, 1.0),
        (0.4999, 1.0),
        (0.5, 1.2),
        (0.6, 1.2),
        (0.74, 1.2),
        (0.7499, 1.2),
        (0.75, 1.5),
        (0.8, 1.5),
        (0.89, 1.5),
        (0.8999, 1.5),
        (0.9, 2.0),
        (0.95, 2.0),
        (1.0, 2.0),
        (1.5, 2.0),
        (10.0, 2.0),
    ],
)
def test_load_factor_table(ratio: float, factor: float) -> None:
    assert load_factor(ratio) == factor


@pytest.mark.parametrize(
    ("size", "capacity", "ratio", "factor"),
    [
        (0, 10, 0.0, 1.0),
        (49, 100, 0.49, 1.0),
        (1, 2, 0.5, 1.2),
        (74, 100, 0.74, 1.2),
        (3, 4, 0.75, 1.5),
        (89, 100, 0.89, 1.5),
        (9, 10, 0.9, 2.0),
        (10, 10, 1.0, 2.0),
        (15, 10, 1.5, 2.0),
        (500, None, 0.0, 1.0),  # no capacity: never loaded
        (0, None, 0.0, 1.0),
    ],
)
def test_utilisation_and_load_factor(
    size: int, capacity: int | None, ratio: float, factor: float
) -> None:
    assert utilisation(size, capacity) == pytest.approx(ratio)
    assert load_factor(utilisation(size, capacity)) == factor


@pytest.mark.parametrize(
    ("waiting", "capacity", "factor"),
    [(1, 4, 1.0), (2, 4, 1.2), (3, 4, 1.5), (4, 4, 2.0), (9, None, 1.0)],
)
def test_queue_load_factor_counts_only_waiting_tickets(
    make_queue: MakeQueue, join: Join, waiting: int, capacity: int | None, factor: float
) -> None:
    q = make_queue(capacity=capacity)
    # a called and a serving ticket do not count towards the load
    join(q, "called", NOW)
    q.call("called", "1", NOW, "tester")
    join(q, "serving", NOW)
    q.call("serving", "2", NOW, "tester")
    q.start("serving", NOW, "tester")
    for i in range(waiting):
        join(q, f"w{i}", NOW + timedelta(seconds=i + 1))
    assert q.size() == waiting
    assert q.load_factor() == factor


# -- learned service time ----------------------------------------------------------------


def test_cold_start_returns_the_default() -> None:
    assert learn_service_time([], NOW, "UTC", 300) == ServiceTime(300.0, 150.0, 0, "default")


def test_only_unusable_samples_return_the_default() -> None:
    samples = [
        sample(NOW - timedelta(days=7, seconds=1), 600),  # too old
        sample(NOW - timedelta(days=30), 600),
        sample(NOW + timedelta(seconds=1), 600),  # in the future
        hours_ago(1, -5),  # negative duration
    ]
    assert learn_service_time(samples, NOW, "UTC", 240) == ServiceTime(240.0, 120.0, 0, "default")


@pytest.mark.parametrize(
    ("values", "default_s", "mean_s", "sd_s", "n"),
    [
        # one sample: (600 + 5 * 300) / 6; the spread stays the prior's 0.5 * 300
        ([600], 300, 350.0, 150.0, 1),
        # (500 + 600 + 700 + 5 * 300) / 8 = 3300 / 8;
        # var = (3 * 10000 + 5 * 150**2) / 8 = 17812.5
        ([500, 600, 700], 300, 412.5, 17812.5**0.5, 3),
        # five equal samples weigh as much as the prior: (5 * 600 + 5 * 300) / 10
        # var = (0 + 5 * 22500) / 10 = 11250
        ([600] * 5, 300, 450.0, 11250**0.5, 5),
        # samples equal to the default leave the mean there; var = 5 * 22500 / 15
        ([300] * 10, 300, 300.0, 7500**0.5, 10),
        # 45 samples of 200: (9000 + 1500) / 50 = 210; the prior fades
        ([200] * 45, 300, 210.0, (5 * 22500 / 50) ** 0.5, 45),
    ],
)
def test_shrinkage_towards_the_default(
    values: list[float], default_s: int, mean_s: float, sd_s: float, n: int
) -> None:
    # one sample per hour going back from 11:00 UTC: hour 12 never has 8, so the whole week
    samples = [hours_ago(i + 1, v) for i, v in enumerate(values)]
    learned = learn_service_time(samples, NOW, "UTC", default_s)
    assert learned.mean_s == pytest.approx(mean_s)
    assert learned.sd_s == pytest.approx(sd_s)
    assert learned.samples == n
    assert learned.basis == "week"


def test_seven_day_window_boundaries() -> None:
    samples = [
        sample(NOW - timedelta(days=7), 600),  # exactly 7 days: kept
        sample(NOW - timedelta(days=7, seconds=1), 5000),  # one second older: ignored
        sample(NOW, 900),  # finished just now: kept
        sample(NOW + timedelta(minutes=1), 5000),  # future: ignored
    ]
    learned = learn_service_time(samples, NOW, "UTC", 300)
    # (600 + 900 + 5 * 300) / 7 = 3000 / 7
    assert learned.samples == 2
    assert learned.mean_s == pytest.approx(3000 / 7)
    assert learned.basis == "week"


def test_an_extreme_outlier_is_dropped() -> None:
    five_minutes = [280, 290, 300, 310, 320, 300, 300]
    counter_left_open = 5 * 3600
    samples = [hours_ago(i + 1, v) for i, v in enumerate([*five_minutes, counter_left_open])]
    learned = learn_service_time(samples, NOW, "UTC", 240)
    # the 5-hour sample goes: (7 * 300 + 5 * 240) / 12 = 3300 / 12
    assert learned.samples == 7
    assert learned.mean_s == pytest.approx(275.0)
    assert learned.sd_s < 150


def test_moderately_slow_services_are_not_outliers() -> None:
    values = [240, 270, 300, 330, 360, 420, 600]
    samples = [hours_ago(i + 1, v) for i, v in enumerate(values)]
    learned = learn_service_time(samples, NOW, "UTC", 300)
    # all seven kept: (2520 + 1500) / 12 = 335
    assert learned.samples == 7
    assert learned.mean_s == pytest.approx(335.0)


def _madrid_history() -> tuple[datetime, list[ServiceSample]]:
    """Samples around the switch to summer time (Sunday 2026-03-29 in Europe/Madrid).

    `now` is 09:30 UTC on 2026-03-31, 11:30 in Madrid (CEST, UTC+2). Eight samples were
    taken between 11:00 and 12:00 Madrid time: four before the switch (10:xx UTC, CET)
    and four after it (09:xx UTC, CEST). Only the local hour puts all eight together.
    """
    now = datetime(2026, 3, 31, 9, 30, tzinfo=UTC)
    same_local_hour = [
        datetime(2026, 3, 25, 10, 15, tzinfo=UTC),
        datetime(2026, 3, 26, 10, 15, tzinfo=UTC),
        datetime(2026, 3, 27, 10, 15, tzinfo=UTC),
        datetime(2026, 3, 28, 10, 15, tzinfo=UTC),
        datetime(2026, 3, 29, 9, 15, tzinfo=UTC),
        datetime(2026, 3, 30, 9, 15, tzinfo=UTC),
        datetime(2026, 3, 30, 9, 45, tzinfo=UTC),
        datetime(2026, 3, 31, 9, 10, tzinfo=UTC),
    ]
    afternoons = [datetime(2026, 3, day, 14, tzinfo=UTC) for day in range(25, 31)]
    samples = [sample(t, 495) for t in same_local_hour] + [sample(t, 120) for t in afternoons]
    return now, samples


def test_hour_of_day_basis_uses_the_local_hour() -> None:
    now, samples = _madrid_history()
    learned = learn_service_time(samples, now, "Europe/Madrid", 300)
    # the 8 samples of 11:xx Madrid time: (8 * 495 + 5 * 300) / 13 = 5460 / 13
    assert learned == ServiceTime(420.0, learned.sd_s, 8, "hour")
    assert learned.mean_s == pytest.approx(420.0)


def test_hour_of_day_in_utc_would_not_have_enough_samples() -> None:
    now, samples = _madrid_history()
    learned = learn_service_time(samples, now, "UTC", 300)
    # 09:xx UTC holds only four: the whole week, (8 * 495 + 6 * 120 + 1500) / 19 = 6180 / 19
    assert learned.basis == "week"
    assert learned.samples == 14
    assert learned.mean_s == pytest.approx(6180 / 19)


def test_seven_samples_in_the_hour_fall_back_to_the_week() -> None:
    now, samples = _madrid_history()
    learned = learn_service_time(samples[1:], now, "Europe/Madrid", 300)
    # (7 * 495 + 6 * 120 + 5 * 300) / 18 = 5685 / 18
    assert learned.basis == "week"
    assert learned.samples == 13
    assert learned.mean_s == pytest.approx(5685 / 18)


def test_hour_basis_ignores_same_hour_samples_older_than_a_week() -> None:
    now, samples = _madrid_history()
    stale = sample(now - timedelta(days=8), 495)  # same local hour, eight days ago
    learned = learn_service_time([stale, *samples[1:]], now, "Europe/Madrid", 300)
    assert learned.basis == "week"
    assert learned.samples == 13


# -- estimate ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "open_counters", "at_counters", "service", "load", "expected"),
    [
        # free counters take the first tickets at once
        (1, 1, 0, DEFAULT_300, 1.0, Eta(0, 0, 0)),
        (3, 3, 0, DEFAULT_300, 1.0, Eta(0, 0, 0)),
        (2, 3, 1, DEFAULT_300, 2.0, Eta(0, 0, 0)),
        # 1 ahead on 1 counter: 300; half width 1.28 * 150 = 192
        (1, 1, 1, DEFAULT_300, 1.0, Eta(300, 108, 492)),
        # 2 ahead on 1 counter: 600 +- 1.28 * 150 * sqrt(2) = 271.53
        (2, 1, 1, DEFAULT_300, 1.0, Eta(600, 328, 872)),
        # position 4, 3 counters all free: 1 ahead, 300 / 3 = 100 +- 192 / 3 = 64
        (4, 3, 0, DEFAULT_300, 1.0, Eta(100, 36, 164)),
        # position 5: 2 ahead: 200 +- 64 * sqrt(2) = 90.51
        (5, 3, 0, DEFAULT_300, 1.0, Eta(200, 109, 291)),
        # position 4, 3 counters all busy: 4 ahead: 400 +- 64 * 2 = 128
        (4, 3, 3, DEFAULT_300, 1.0, Eta(400, 272, 528)),
        # no counter open: nobody is free, and the line is served as if by one counter
        (1, 0, 0, DEFAULT_300, 1.0, Eta(300, 108, 492)),
        (2, 0, 0, DEFAULT_300, 1.0, Eta(600, 328, 872)),
        # more tickets at the counters than counters: nothing is free
        (1, 1, 2, DEFAULT_300, 1.0, Eta(300, 108, 492)),
        # the load factor widens only the upper end: 492 * 1.2, 492 * 1.5, 492 * 2
        (1, 1, 1, DEFAULT_300, 1.2, Eta(300, 108, 591)),
        (1, 1, 1, DEFAULT_300, 1.5, Eta(300, 108, 738)),
        (1, 1, 1, DEFAULT_300, 2.0, Eta(300, 108, 984)),
        # no spread: the range collapses to the point (then the load widens it)
        (3, 1, 1, ServiceTime(300, 0, 20, "week"), 1.0, Eta(900, 900, 900)),
        (3, 1, 1, ServiceTime(300, 0, 20, "week"), 2.0, Eta(900, 900, 1800)),
        # the lower end never goes below 0: 100 - 256
        (1, 1, 1, ServiceTime(100, 200, 3, "week"), 1.0, Eta(100, 0, 356)),
        # eta rounds, low floors, high ceils: 250 / 3 = 83.33 +- 1.28 * 30 / 3 = 12.8
        (4, 3, 0, ServiceTime(250, 30, 9, "hour"), 1.0, Eta(83, 70, 97)),
    ],
)
def test_estimate_table(
    position: int,
    open_counters: int,
    at_counters: int,
    service: ServiceTime,
    load: float,
    expected: Eta,
) -> None:
    assert estimate(position, open_counters, at_counters, service, load) == expected


@pytest.mark.parametrize("load", [1.0, 1.2, 1.5, 2.0])
@pytest.mark.parametrize("position", [1, 2, 3, 5, 8, 13, 40])
@pytest.mark.parametrize(("open_counters", "at_counters"), [(1, 0), (1, 1), (2, 2), (4, 1)])
def test_low_le_eta_le_high(
    position: int, open_counters: int, at_counters: int, load: float
) -> None:
    e = estimate(position, open_counters, at_counters, DEFAULT_300, load)
    assert 0 <= e.low_s <= e.eta_s <= e.high_s


@pytest.mark.parametrize(
    ("counters", "etas"),
    [
        (1, [600, 1200, 1800, 2400, 3000]),
        (2, [300, 600, 900, 1200, 1500]),
        (3, [200, 400, 600, 800, 1000]),
        (4, [150, 300, 450, 600, 750]),
    ],
)
def test_position_k_with_c_busy_counters_waits_k_services_divided_by_c(
    counters: int, etas: list[int]
) -> None:
    service = ServiceTime(600, 0, 50, "week")
    got = [estimate(k, counters, counters, service, 1.0).eta_s for k in range(1, 6)]
    assert got == etas


def test_more_counters_give_a_smaller_eta() -> None:
    by_counters = [estimate(10, c, c, DEFAULT_300, 1.0) for c in (1, 2, 3, 5)]
    assert [e.eta_s for e in by_counters] == [3000, 1500, 1000, 600]
    assert all(a.high_s > b.high_s for a, b in itertools.pairwise(by_counters))
    assert all(a.low_s >= b.low_s for a, b in itertools.pairwise(by_counters))


def test_later_positions_wait_longer() -> None:
    etas = [estimate(p, 2, 2, DEFAULT_300, 1.0) for p in range(1, 12)]
    assert all(a.eta_s < b.eta_s for a, b in itertools.pairwise(etas))
    assert all(a.high_s < b.high_s for a, b in itertools.pairwise(etas))


# -- Queue.estimates end to end ----------------------------------------------------------


def test_estimates_with_every_counter_free(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue(counters=("1", "2", "3"))
    for i in range(5):
        join(q, f"t{i + 1}", NOW + timedelta(seconds=i))
    # default 300 s, sd 150: positions 1-3 go at once, 4 -> 100 +- 64, 5 -> 200 +- 90.51
    assert q.estimates() == {
        "t1": Eta(0, 0, 0),
        "t2": Eta(0, 0, 0),
        "t3": Eta(0, 0, 0),
        "t4": Eta(100, 36, 164),
        "t5": Eta(200, 109, 291),
    }


def test_estimates_with_busy_and_closed_counters(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue(counters=("1", "2", "3"))
    for i in range(6):
        join(q, f"t{i + 1}", NOW + timedelta(seconds=i))
    q.call_next("1", NOW + timedelta(minutes=1), "tester")  # t1 called at counter 1
    q.call_next("2", NOW + timedelta(minutes=1), "tester")  # t2 at counter 2
    q.start("t2", NOW + timedelta(minutes=2), "tester")
    q.counters["3"].is_open = False
    # 2 open counters, both busy: position k waits k * 300 / 2 +- 1.28 * 150 * sqrt(k) / 2
    assert q.estimates() == {
        "t3": Eta(150, 54, 246),
        "t4": Eta(300, 164, 436),
        "t5": Eta(450, 283, 617),
        "t6": Eta(600, 408, 792),
    }
    q.counters["3"].is_open = True
    # counter 3 reopens and is free: t3 goes at once, t4 waits 300 / 3 = 100 +- 64
    assert q.estimates()["t3"] == Eta(0, 0, 0)
    assert q.estimates()["t4"] == Eta(100, 36, 164)


def test_a_ticket_at_a_closed_counter_does_not_block_the_open_ones(
    make_queue: MakeQueue, join: Join
) -> None:
    q = make_queue(counters=("1", "2"))
    for i in range(3):
        join(q, f"t{i + 1}", NOW + timedelta(seconds=i))
    q.call("t1", "1", NOW + timedelta(minutes=1), "tester")
    q.counters["1"].is_open = False
    # only counter 2 is open, and it is free: t2 at once, t3 after one service
    assert q.estimates() == {"t2": Eta(0, 0, 0), "t3": Eta(300, 108, 492)}


def test_no_open_counter_means_nobody_is_called_at_once(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue(counters=("1", "2"))
    for i in range(2):
        join(q, f"t{i + 1}", NOW + timedelta(seconds=i))
    for counter in q.counters.values():
        counter.is_open = False
    estimates = q.estimates()
    # nobody can be called until a counter opens: the first in line waits a whole service
    assert estimates["t1"].eta_s > 0
    assert estimates["t1"] == Eta(300, 108, 492)
    assert estimates["t2"] == Eta(600, 328, 872)


def test_estimates_use_the_learned_service_time_and_the_load(
    make_queue: MakeQueue, join: Join
) -> None:
    q = make_queue(counters=("1",), capacity=4)
    for i in range(3):
        join(q, f"t{i + 1}", NOW + timedelta(seconds=i))
    q.call_next("1", NOW + timedelta(minutes=1), "tester")
    # 2 waiting of 4: utilisation 0.5 -> load 1.2
    q.service_time = ServiceTime(400.0, 100.0, 30, "hour")
    assert q.load_factor() == 1.2
    # t2: 1 ahead: 400 +- 128 -> high 528 * 1.2 = 633.6; t3: 800 +- 181.02 -> 981.02 * 1.2
    assert q.estimates() == {"t2": Eta(400, 272, 634), "t3": Eta(800, 618, 1178)}


def test_estimates_follow_the_configured_default_service_time(
    make_queue: MakeQueue, join: Join
) -> None:
    q = make_queue(counters=("1",), default_service_s=120)
    for i in range(2):
        join(q, f"t{i + 1}", NOW + timedelta(seconds=i))
    q.call_next("1", NOW + timedelta(minutes=1), "tester")
    # sd is 0.5 * 120 = 60: 120 +- 76.8
    assert q.estimates() == {"t2": Eta(120, 43, 197)}


def test_estimates_cover_only_waiting_tickets_in_dynamic_order(
    make_queue: MakeQueue, join: Join
) -> None:
    q = make_queue(counters=("1",), mode=QueueMode.DYNAMIC)
    join(q, "routine", NOW)
    join(q, "urgent", NOW + timedelta(seconds=5), priority=2)
    q.call_next("1", NOW + timedelta(seconds=10), "tester")  # urgent goes first
    assert q.ticket("urgent").status == "called"
    assert q.estimates() == {"routine": Eta(300, 108, 492)}


def test_identical_samples_do_not_make_every_other_value_an_outlier() -> None:
    values = [300] * 7 + [360]
    samples = [hours_ago(i + 1, v) for i, v in enumerate(values)]
    learned = learn_service_time(samples, NOW, "UTC", 300)
    # the IQR is 0, but the fences keep a width of a quarter of the median: 360 stays
    assert learned.samples == 8
    assert learned.mean_s == pytest.approx((7 * 300 + 360 + 5 * 300) / 13)
