"""Load factor, learned service times and wait estimates with a range."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.domain.eta import (
    HISTORY_WINDOW,
    AtCounter,
    Eta,
    ServiceHistory,
    ServiceSample,
    ServiceTime,
    exact_variance,
    forecast,
    learn_service_time,
    learn_service_times,
    naive_eta_s,
    residual_s,
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


# -- forecast ----------------------------------------------------------------------------

S300 = DEFAULT_300  # mean 300 s, sd 150 s: a half width of 1.5 * 150 = 225 s per visit
FRESH = AtCounter(DEFAULT_300, 0.0)
"""A visit that has just started: expected to take a whole mean."""


@pytest.mark.parametrize(
    ("line", "at_counters", "open_counters", "load", "expected"),
    [
        # free counters take the first tickets at once
        ([S300] * 3, [], 3, 1.0, [Eta(0, 0, 0)] * 3),
        # a counter busy with a fresh visit: 300 +- 225, then 600 +- 225 * sqrt(2)
        ([S300, S300], [FRESH], 1, 1.0, [Eta(300, 75, 525), Eta(600, 281, 919)]),
        # three free counters take three tickets now; the 4th and 5th wait for one visit,
        # the 4th for the first of three to end (225 / 3), the 5th for two (75 * sqrt(2)),
        # its range starting no sooner than the 4th's
        (
            [S300] * 5,
            [],
            3,
            1.0,
            [Eta(0, 0, 0)] * 3 + [Eta(300, 225, 375), Eta(300, 225, 407)],
        ),
        # no counter open: nobody goes at once; one counter, busy for one more visit
        ([S300, S300], [], 0, 1.0, [Eta(300, 75, 525), Eta(600, 281, 919)]),
        # more visits at the counters than counters: only as many as counters count
        ([S300], [FRESH, FRESH], 1, 1.0, [Eta(300, 75, 525)]),
        # the load factor widens only the upper end: 525 * 1.2, * 2
        ([S300], [FRESH], 1, 1.2, [Eta(300, 75, 630)]),
        ([S300], [FRESH], 1, 2.0, [Eta(300, 75, 1050)]),
        # no spread: the range collapses to the point
        (
            [ServiceTime(300, 0, 20, "week")] * 2,
            [AtCounter(ServiceTime(300, 0, 20, "week"), 0.0)],
            1,
            1.0,
            [Eta(300, 300, 300), Eta(600, 600, 600)],
        ),
        # the lower end never goes below 0
        ([S300], [AtCounter(ServiceTime(100, 200, 3, "week"), 0.0)], 1, 1.0, [Eta(100, 0, 400)]),
        # a short visit ahead is handed out before a long one: kinds of visit count
        (
            [ServiceTime(120, 0, 9, "hour"), ServiceTime(600, 0, 9, "hour"), S300],
            [AtCounter(ServiceTime(120, 0, 9, "hour"), 0.0)],
            1,
            1.0,
            [Eta(120, 120, 120), Eta(240, 240, 240), Eta(840, 840, 840)],
        ),
    ],
)
def test_forecast_table(
    line: list[ServiceTime],
    at_counters: list[AtCounter],
    open_counters: int,
    load: float,
    expected: list[Eta],
) -> None:
    assert forecast(line, at_counters, open_counters, load) == expected


@pytest.mark.parametrize("load", [1.0, 1.2, 1.5, 2.0])
@pytest.mark.parametrize(("open_counters", "busy"), [(1, 0), (1, 1), (2, 2), (4, 1), (0, 0)])
def test_low_le_eta_le_high(open_counters: int, busy: int, load: float) -> None:
    at_counters = [AtCounter(DEFAULT_300, 100.0 * i) for i in range(busy)]
    for e in forecast([DEFAULT_300] * 40, at_counters, open_counters, load):
        assert 0 <= e.low_s <= e.eta_s <= e.high_s


@pytest.mark.parametrize(
    ("counters", "etas"),
    [
        (1, [600, 1200, 1800, 2400, 3000]),
        (2, [600, 600, 1200, 1200, 1800]),
        (3, [600, 600, 600, 1200, 1200]),
    ],
)
def test_busy_counters_hand_out_the_line_in_turn(counters: int, etas: list[int]) -> None:
    service = ServiceTime(600, 0, 50, "week")
    at_counters = [AtCounter(service, 0.0)] * counters
    assert [e.eta_s for e in forecast([service] * 5, at_counters, counters, 1.0)] == etas


def test_more_counters_give_a_smaller_eta() -> None:
    def tenth(c: int) -> Eta:
        return forecast([DEFAULT_300] * 10, [FRESH] * c, c, 1.0)[-1]

    by_counters = [tenth(c) for c in (1, 2, 3, 5)]
    assert by_counters[0].eta_s == 3000  # one counter: ten visits end one after the other
    assert all(a.eta_s > b.eta_s for a, b in itertools.pairwise(by_counters))
    assert all(a.high_s > b.high_s for a, b in itertools.pairwise(by_counters))


def _lognormal_draw(service: ServiceTime, rng: random.Random) -> float:
    sigma2 = math.log1p((service.sd_s / service.mean_s) ** 2)
    return rng.lognormvariate(math.log(service.mean_s) - sigma2 / 2, math.sqrt(sigma2))


def _counters_freeing_up_s(at_counters: list[AtCounter], draws: int = 20_000) -> list[float]:
    """The mean time until the first, second, ... of the busy counters frees up, over
    `draws` random days: each visit drawn from its lognormal, given how long it has run."""
    rng = random.Random(7)
    totals = [0.0] * len(at_counters)
    for _ in range(draws):
        ends = []
        for busy in at_counters:
            visit_s = _lognormal_draw(busy.service, rng)
            while visit_s <= busy.elapsed_s:
                visit_s = _lognormal_draw(busy.service, rng)
            ends.append(visit_s - busy.elapsed_s)
        for k, end_s in enumerate(sorted(ends)):
            totals[k] += end_s
    return [total / draws for total in totals]


@pytest.mark.parametrize(
    "elapsed", [(0.0, 0.0), (0.0, 0.0, 0.0, 0.0, 0.0), (30.0, 200.0, 400.0), (120.0, 60.0)]
)
def test_busy_counters_free_up_when_random_visits_say(elapsed: tuple[float, ...]) -> None:
    # The first of several uncertain visits to end ends sooner than the soonest expected
    # end of any one of them: the line is handed out when the counters are expected to
    # free up in turn, as drawing the visits many times shows.
    at_counters = [AtCounter(DEFAULT_300, e) for e in elapsed]
    line = [DEFAULT_300] * len(elapsed)
    starts = [e.eta_s for e in forecast(line, at_counters, len(elapsed), 1.0)]
    drawn = _counters_freeing_up_s(at_counters)
    assert starts[0] == pytest.approx(drawn[0], rel=0.03)
    assert starts[0] < min(residual_s(DEFAULT_300, e) for e in elapsed) - 30
    # a later ticket may get the counter of an earlier one first (in 300 s): with two
    # counters that comes after the second frees up
    if len(elapsed) == 2:
        assert starts == pytest.approx(drawn, rel=0.03)


def test_later_positions_never_wait_less() -> None:
    etas = forecast([DEFAULT_300] * 11, [FRESH, AtCounter(DEFAULT_300, 120.0)], 2, 1.0)
    assert all(a.eta_s <= b.eta_s for a, b in itertools.pairwise(etas))
    assert all(a.high_s <= b.high_s for a, b in itertools.pairwise(etas))


def test_a_visit_in_progress_is_expected_to_end_sooner_then_to_run_on() -> None:
    assert residual_s(DEFAULT_300, 0.0) == 300
    early, middle = residual_s(DEFAULT_300, 60.0), residual_s(DEFAULT_300, 300.0)
    assert early < 300
    assert middle < early
    # far beyond what visits usually take, it is expected to run on a while yet
    assert residual_s(DEFAULT_300, 3000.0) > 0
    # without spread, it is simply what is left
    assert residual_s(ServiceTime(300, 0, 9, "week"), 100.0) == 200


def test_the_naive_estimate_is_position_times_mean_over_counters() -> None:
    assert naive_eta_s(4, 2, 300.0) == 600
    assert naive_eta_s(1, 0, 300.0) == 300


# -- Queue.estimates end to end ----------------------------------------------------------


def test_estimates_with_every_counter_free(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue(counters=("1", "2", "3"))
    for i in range(5):
        join(q, f"t{i + 1}", NOW + timedelta(seconds=i))
    assert q.estimates(NOW) == {
        "t1": Eta(0, 0, 0),
        "t2": Eta(0, 0, 0),
        "t3": Eta(0, 0, 0),
        "t4": Eta(300, 225, 375),
        "t5": Eta(300, 225, 407),
    }


def test_estimates_with_busy_and_closed_counters(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue(counters=("1", "2", "3"))
    for i in range(6):
        join(q, f"t{i + 1}", NOW + timedelta(seconds=i))
    q.call_next("1", NOW, "tester")  # t1 at counter 1
    q.call_next("2", NOW + timedelta(minutes=1), "tester")  # t2 at counter 2
    q.counters["3"].is_open = False
    now = NOW + timedelta(minutes=2)
    first_s, second_s = _counters_freeing_up_s(
        [AtCounter(DEFAULT_300, 120.0), AtCounter(DEFAULT_300, 60.0)]
    )
    estimates = q.estimates(now)
    etas = [estimates[t].eta_s for t in ("t3", "t4", "t5", "t6")]
    # the two busy counters free up in turn, then each takes the next for a visit
    assert etas[:2] == pytest.approx([first_s, second_s], rel=0.03)
    assert etas[2:] == [etas[0] + 300, etas[1] + 300]
    q.counters["3"].is_open = True
    # counter 3 reopens and is free: t3 goes at once, t4 waits for the first busy one
    assert q.estimates(now)["t3"] == Eta(0, 0, 0)
    assert q.estimates(now)["t4"].eta_s == etas[0]


def test_a_ticket_at_a_closed_counter_does_not_block_the_open_ones(
    make_queue: MakeQueue, join: Join
) -> None:
    q = make_queue(counters=("1", "2"))
    for i in range(3):
        join(q, f"t{i + 1}", NOW + timedelta(seconds=i))
    q.call("t1", "1", NOW + timedelta(minutes=1), "tester")
    q.counters["1"].is_open = False
    # only counter 2 is open, and it is free: t2 at once, t3 after one visit
    assert q.estimates(NOW + timedelta(minutes=1)) == {
        "t2": Eta(0, 0, 0),
        "t3": Eta(300, 75, 525),
    }


def test_no_open_counter_means_nobody_is_called_at_once(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue(counters=("1", "2"))
    for i in range(2):
        join(q, f"t{i + 1}", NOW + timedelta(seconds=i))
    for counter in q.counters.values():
        counter.is_open = False
    estimates = q.estimates(NOW)
    # nobody goes at once: a break's counters come back together, each as if busy for one
    # more visit (not one counter, serving the line one by one)
    both_back = forecast([DEFAULT_300] * 2, [FRESH] * 2, 2, q.load_factor())
    assert [estimates["t1"], estimates["t2"]] == both_back
    assert 0 < estimates["t1"].eta_s < 300 < estimates["t2"].eta_s < 600


def test_estimates_use_the_learned_service_time_and_the_load(
    make_queue: MakeQueue, join: Join
) -> None:
    q = make_queue(counters=("1",), capacity=4)
    for i in range(3):
        join(q, f"t{i + 1}", NOW + timedelta(seconds=i))
    q.call_next("1", NOW, "tester")
    # 2 waiting of 4: utilisation 0.5 -> load 1.2
    q.service_time = ServiceTime(400.0, 0.0, 30, "hour")
    assert q.load_factor() == 1.2
    assert q.estimates(NOW) == {"t2": Eta(400, 400, 480), "t3": Eta(800, 800, 960)}


def test_estimates_follow_the_configured_default_service_time(
    make_queue: MakeQueue, join: Join
) -> None:
    q = make_queue(counters=("1",), default_service_s=120)
    for i in range(2):
        join(q, f"t{i + 1}", NOW + timedelta(seconds=i))
    q.call_next("1", NOW, "tester")
    # sd is 0.5 * 120 = 60: 120 +- 90
    assert q.estimates(NOW) == {"t2": Eta(120, 30, 210)}


def test_estimates_use_the_expected_time_of_each_kind_of_visit(
    make_queue: MakeQueue, join: Join
) -> None:
    q = make_queue(counters=("1",), service_times_s={"pickup": 60, "consultation": 900})
    join(q, "c", NOW, service="consultation")
    join(q, "p", NOW + timedelta(seconds=1), service="pickup")
    join(q, "u", NOW + timedelta(seconds=2))  # kind unknown: the queue's default, 300
    q.call_next("1", NOW, "tester")  # the consultation takes the counter
    estimates = q.estimates(NOW)
    assert [estimates["p"].eta_s, estimates["u"].eta_s] == [900, 960]
    # what was learned for a kind replaces what was configured for it
    q.service_times_by_kind = {"consultation": ServiceTime(600.0, 0.0, 40, "week")}
    assert q.estimates(NOW)["u"].eta_s == 660


def test_estimates_cover_only_waiting_tickets_in_dynamic_order(
    make_queue: MakeQueue, join: Join
) -> None:
    q = make_queue(counters=("1",), mode=QueueMode.DYNAMIC)
    join(q, "routine", NOW)
    join(q, "urgent", NOW + timedelta(seconds=5), priority=2)
    q.call_next("1", NOW + timedelta(seconds=10), "tester")  # urgent goes first
    assert q.ticket("urgent").status == "called"
    assert q.estimates(NOW + timedelta(seconds=10)) == {"routine": Eta(300, 75, 525)}


def test_identical_samples_do_not_make_every_other_value_an_outlier() -> None:
    values = [300] * 7 + [360]
    samples = [hours_ago(i + 1, v) for i, v in enumerate(values)]
    learned = learn_service_time(samples, NOW, "UTC", 300)
    # the IQR is 0, but the fences keep a width of a quarter of the median: 360 stays
    assert learned.samples == 8
    assert learned.mean_s == pytest.approx((7 * 300 + 360 + 5 * 300) / 13)


def test_the_range_never_starts_sooner_further_down_the_line() -> None:
    # A short, steady visit at the counter, then long, uncertain ones: the second in line's
    # range widened below the first's ("1-2 min" then "0-8 min").
    steady = ServiceTime(90.0, 5.0, 50, "week")
    uncertain = ServiceTime(60.0, 400.0, 50, "week")
    first, second = forecast([uncertain, uncertain], [AtCounter(steady, 0.0)], 1, 1.0)
    assert first.low_s > 0
    assert second.low_s >= first.low_s
    assert second.high_s >= first.high_s


# -- learning as the run goes ------------------------------------------------------------


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=2, max_size=60))
def test_exact_variance_is_the_standard_librarys_to_the_bit(values: list[float]) -> None:
    assert exact_variance(values) == statistics.variance(values)


KINDS = st.sampled_from([None, "pickup", "advice"])
SERVICE_S = st.floats(min_value=0, max_value=3000)
# Around noon on the days before, so that hours fill up (8 samples make an hour's basis).
EARLIER = st.lists(
    st.tuples(st.integers(0, 8), st.integers(10, 13), st.integers(0, 59), KINDS, SERVICE_S),
    max_size=120,
)
LATER = st.lists(st.tuples(st.integers(0, 300), KINDS, SERVICE_S), max_size=60)


@given(earlier=EARLIER, later=LATER, timezone=st.sampled_from(["UTC", "Europe/Madrid"]))
def test_the_running_history_learns_what_the_whole_list_gives(
    earlier: list[tuple[int, int, int, str | None, float]],
    later: list[tuple[int, str | None, float]],
    timezone: str,
) -> None:
    """Samples from the days before to after the first `now` (a history that reaches past
    it), then samples as they finish; at each step the same figures as from the list."""
    noon = NOW.replace(hour=0) - timedelta(days=8)
    history = [
        ServiceSample(noon + timedelta(days=day, hours=hour, minutes=minute), service_s, kind)
        for day, hour, minute, kind, service_s in earlier
    ]
    running = ServiceHistory(timezone, history)
    configured = {"pickup": 120, "advice": 600}
    for step, (minutes, kind, service_s) in enumerate(sorted(later, key=lambda t: t[0])):
        now = NOW + timedelta(minutes=minutes)
        if step % 2:
            finished = ServiceSample(now, service_s, kind)
            running.add(finished)
            history.append(finished)
        assert running.learn(now, 300, configured) == learn_service_times(
            history, now, timezone, 300, configured
        )


AWKWARD_S = st.one_of(
    st.sampled_from([0.0, 180.0, 180.0, 180.0, 5e-324, 1e-9, 86_400.0, 1e9, -30.0]),
    st.floats(min_value=100, max_value=300),
)
"""Ties, outliers far out on both sides, the smallest floats and a negative duration."""


@given(
    earlier=st.lists(st.tuples(st.integers(0, 8), KINDS, AWKWARD_S), max_size=80),
    later=st.lists(st.tuples(st.integers(0, 120), KINDS, AWKWARD_S), max_size=40),
)
def test_the_running_history_drops_the_same_outliers_as_the_whole_list(
    earlier: list[tuple[int, str | None, float]],
    later: list[tuple[int, str | None, float]],
) -> None:
    """Its running sums and quartiles give the figures to the bit, whatever the values."""
    history = [
        ServiceSample(NOW - timedelta(days=day, minutes=index), service_s, kind)
        for index, (day, kind, service_s) in enumerate(earlier)
    ]
    running = ServiceHistory("UTC", history)
    configured = {"pickup": 120, "advice": 600}
    assert running.learn(NOW, 300, configured) == learn_service_times(
        history, NOW, "UTC", 300, configured
    )
    for minutes, kind, service_s in sorted(later, key=lambda t: t[0]):
        now = NOW + timedelta(minutes=minutes)
        running.add(ServiceSample(now, service_s, kind))
        history.append(ServiceSample(now, service_s, kind))
        assert running.learn(now, 300, configured) == learn_service_times(
            history, now, "UTC", 300, configured
        )


@given(
    st.lists(
        st.tuples(st.integers(-10_200, 600), KINDS, AWKWARD_S, st.booleans()),
        max_size=60,
    )
)
def test_the_running_history_takes_samples_in_any_order_and_a_clock_that_steps_back(
    steps: list[tuple[int, str | None, float, bool]],
) -> None:
    """Samples from a week and a bit before the clock to hours after it (another process
    ended them, a history reaching ahead), in any order; between them the clock moves on
    half an hour or steps back 59 minutes (less than `FORGET_MARGIN`) from the latest."""
    running = ServiceHistory("Europe/Madrid")
    added: list[ServiceSample] = []
    latest = NOW
    configured = {"pickup": 120, "advice": 600}
    for minutes, kind, service_s, step_back in steps:
        sample = ServiceSample(latest + timedelta(minutes=minutes), service_s, kind)
        running.add(sample)
        added.append(sample)
        now = latest - timedelta(minutes=59) if step_back else latest + timedelta(minutes=30)
        latest = max(latest, now)
        assert running.learn(now, 300, configured) == learn_service_times(
            added, now, "Europe/Madrid", 300, configured
        )


@pytest.mark.parametrize("same_hour", [7, 8])
@pytest.mark.parametrize("oldest_at_the_edge", [False, True])
def test_the_running_history_at_its_boundaries(same_hour: int, oldest_at_the_edge: bool) -> None:
    """Eight samples in the hour make it the basis, seven do not; a sample exactly a week
    old is still in the week (and in the hour: it finished at noon too)."""
    history = [sample(NOW - HISTORY_WINDOW, 50.0)] if oldest_at_the_edge else []
    history += [
        hours_ago(24 * (1 + i // 2) - 0.25 * (1 + i % 2), 200.0 + i)
        for i in range(same_hour - len(history))
    ]
    history.append(hours_ago(3, 900.0))
    history.sort(key=lambda s: s.finished_at)
    running = ServiceHistory("UTC", history[: len(history) // 2])
    for later in history[len(history) // 2 :]:
        running.add(later)
    learned, _ = running.learn(NOW, 300, {})
    assert (learned, {}) == learn_service_times(history, NOW, "UTC", 300, {})
    assert learned.basis == ("hour" if same_hour == 8 else "week")


# Samples from more than a week before NOW to after it, each with a moment it arrives at.
ARRIVING = st.lists(
    st.tuples(st.integers(-8 * 24 * 60, 120), st.integers(-30, 30), KINDS, SERVICE_S),
    max_size=80,
)
# When commands learn: in order, but each may have read its clock up to 30 minutes before
# the one learning before it (less than FORGET_MARGIN).
ASKED_AT = st.lists(st.tuples(st.integers(-60, 120), st.integers(0, 30)), min_size=1, max_size=30)


@given(arriving=ARRIVING, asked_at=ASKED_AT, timezone=st.sampled_from(["UTC", "Asia/Kolkata"]))
def test_the_running_history_takes_samples_in_any_order_and_steps_back_in_time(
    arriving: list[tuple[int, int, str | None, float]],
    asked_at: list[tuple[int, int]],
    timezone: str,
) -> None:
    """Visits ended by other processes arrive late and out of order, and commands of one
    process learn a little out of the order of their clocks: each answer is still exactly
    the whole list's, cached or not."""
    running = ServiceHistory(timezone)
    added: list[ServiceSample] = []
    pending = sorted(
        (
            (ServiceSample(NOW + timedelta(minutes=at), service_s, kind), at + late)
            for at, late, kind, service_s in arriving
        ),
        key=lambda item: item[1],
    )
    configured = {"pickup": 120, "advice": 600}
    for minutes, read_before in sorted(asked_at):
        while pending and pending[0][1] <= minutes:
            arrived = pending.pop(0)[0]
            running.add(arrived)
            added.append(arrived)
        now = NOW + timedelta(minutes=minutes - read_before, seconds=minutes % 7)
        for _ in range(2):  # the second answer comes from the cache
            assert running.learn(now, 300, configured) == learn_service_times(
                added, now, timezone, 300, configured
            )


def test_the_running_history_sees_a_sample_leave_the_week_without_a_new_one() -> None:
    running = ServiceHistory("UTC", [hours_ago(24 * 7 - 1, 900.0), hours_ago(2, 100.0)])
    before, _ = running.learn(NOW, 300, {})
    later = NOW + timedelta(hours=1, seconds=1)
    after, _ = running.learn(later, 300, {})
    assert (before.samples, after.samples) == (2, 1)
    assert (
        after
        == learn_service_times(
            [hours_ago(24 * 7 - 1, 900.0), hours_ago(2, 100.0)], later, "UTC", 300, {}
        )[0]
    )
