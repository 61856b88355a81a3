"""Staff alerts: when an episode starts and ends, and the figures its message gives."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from core.domain.alerts import (
    IDLE_ALERT_S,
    QUIET,
    Episode,
    Step,
    WaitFigures,
    decide,
    idle_counters,
    idle_step,
    wait_figures,
    wait_step,
)
from core.domain.horizon import NO_ARRIVALS, HourlyArrivals, queue_horizon

if TYPE_CHECKING:
    from tests.domain.conftest import Join, MakeQueue

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def figures(longest_s: int, joiner_s: int, threshold_s: int = 1000) -> WaitFigures:
    return WaitFigures(threshold_s, longest_s, joiner_s, joiner_s // 2, 5, 1)


def test_an_episode_starts_once_either_measure_passes_the_threshold() -> None:
    assert wait_step(QUIET, figures(1000, 1000), at(0)).alert is False  # at it: not past
    started = wait_step(QUIET, figures(1001, 0), at(0))
    assert started == wait_step(QUIET, figures(0, 1001), at(0))
    assert started.alert and started.episode == Episode(at(0), True)


def test_one_message_per_episode_until_both_fall_below_80_percent() -> None:
    episode = wait_step(QUIET, figures(1200, 900), at(0)).episode
    for longest, joiner in ((1500, 1500), (900, 900), (799, 800), (800, 10), (10, 800)):
        step = wait_step(episode, figures(longest, joiner), at(1))
        assert step == wait_step(episode, figures(longest, joiner), at(1))
        assert not step.alert and step.episode == episode, (longest, joiner)
    ended = wait_step(episode, figures(799, 799), at(2))
    assert ended.episode == QUIET and not ended.alert
    again = wait_step(ended.episode, figures(1001, 0), at(3))  # a new episode may start
    assert again.alert and again.episode == Episode(at(3), True)


def test_the_figures_say_why_and_what_one_more_counter_would_do() -> None:
    f = WaitFigures(1000, 1200, 1500, 700, 9, 2)
    assert (f.reason, f.saved_s) == ("both", 800)
    assert figures(1200, 0).reason == "longest" and figures(0, 1200).reason == "forecast"


def test_wait_figures_come_from_the_queues_forecast(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue(counters=("1",), default_service_s=600, wait_alert_s=1800)
    for n in range(4):
        join(q, f"t{n}", at(n))
    q.rank(at(30))
    f = wait_figures(q, at(30))
    assert (f.threshold_s, f.longest_wait_s, f.waiting, f.open_counters) == (1800, 1800, 4, 1)
    assert f.joiner_wait_s == q.joiner_eta(at(30)).eta_s == 4 * 600  # four visits ahead
    assert f.with_one_more_s == q.joiner_eta(at(30), extra_counters=1).eta_s == 2 * 600
    assert f.saved_s == 1200


def test_a_counter_idle_while_patients_wait(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue()
    assert idle_counters(q) == set()  # nobody waits: nobody is idle
    join(q, "a", at(0))
    join(q, "b", at(0))
    q.rank(at(0))
    assert idle_counters(q) == {"1", "2"}
    q.call_next("1", at(1), "staff")
    assert idle_counters(q) == {"2"}
    q.counters["2"].is_open = False  # a closed counter is not idle
    assert idle_counters(q) == set()


def test_an_idle_episode_alerts_once_after_five_minutes() -> None:
    step = idle_step(QUIET, True, at(0))
    assert not step.alert and step.episode == Episode(at(0), False)
    almost = idle_step(step.episode, True, at(0) + timedelta(seconds=IDLE_ALERT_S - 1))
    assert not almost.alert
    due = idle_step(almost.episode, True, at(5))
    assert due.alert and due.episode == Episode(at(0), True)
    assert not idle_step(due.episode, True, at(30)).alert  # once per episode
    ended = idle_step(due.episode, False, at(31))
    assert ended.episode == QUIET
    assert idle_step(idle_step(ended.episode, True, at(32)).episode, True, at(37)).alert


def test_decide_gathers_every_alert_of_a_queue(make_queue: MakeQueue, join: Join) -> None:
    q = make_queue(counters=("1", "2"), default_service_s=600, wait_alert_s=600)
    for n in range(6):
        join(q, f"t{n}", at(0))
    q.call_next("1", at(0), "staff")
    q.rank(at(20))
    first = decide(q, {}, at(20))
    assert first.send == ["wait"]  # counter 2 idle: seen now, not yet for five minutes
    assert first.episodes["idle:2"] == Episode(at(20), False)
    later = decide(q, first.episodes, at(25))
    assert later.send == ["idle:2"]
    q.call_next("2", at(26), "staff")
    q.rank(at(26))
    after = decide(q, later.episodes, at(26))
    assert after.send == [] and after.episodes["idle:2"] == QUIET
    assert after.episodes["wait"] == first.episodes["wait"]  # still past: same episode


def test_the_hour_ahead_starts_an_episode_and_keeps_it_going() -> None:
    quiet_now = WaitFigures(1000, 100, 200, 100, 2, 1, ahead_p90_s=1500, ahead_p90_plus_one_s=400)
    assert quiet_now.over and quiet_now.reason == "ahead" and not quiet_now.calm
    started = wait_step(QUIET, quiet_now, at(0))
    assert started.alert and started.episode == Episode(at(0), True)
    still = dataclasses.replace(quiet_now, ahead_p90_s=850)  # below 1000, above 800
    assert wait_step(started.episode, still, at(1)) == Step(started.episode, alert=False)
    ended = wait_step(started.episode, dataclasses.replace(quiet_now, ahead_p90_s=799), at(2))
    assert ended.episode == QUIET
    unknown = dataclasses.replace(quiet_now, ahead_p90_s=None)  # no forecast: as before
    assert not unknown.over and unknown.calm
    both_now = WaitFigures(1000, 1200, 1500, 700, 9, 2, ahead_p90_s=2000)
    assert both_now.reason == "both"  # the present's measures say it first


def test_decide_reads_the_hour_ahead_of_the_two_hour_forecast(
    make_queue: MakeQueue, join: Join
) -> None:
    q = make_queue(counters=("1",), default_service_s=300, wait_alert_s=1800)
    join(q, "t0", at(0))
    q.rank(at(0))
    busy = HourlyArrivals((30.0,) * 24)  # 2.5 times what one counter serves
    horizon = queue_horizon(q, busy, at(0))
    decision = decide(q, {}, at(0), horizon)
    figures = decision.figures
    assert (figures.ahead_p90_s, figures.ahead_p90_plus_one_s) == horizon.worst_p90_within(3600)
    assert figures.joiner_wait_s < 1800 and figures.longest_wait_s == 0
    assert figures.reason == "ahead" and decision.send == ["wait"]
    assert figures.ahead_p90_plus_one_s is not None and figures.ahead_p90_s is not None
    assert figures.ahead_p90_plus_one_s < figures.ahead_p90_s
    assert decide(q, {}, at(0), queue_horizon(q, NO_ARRIVALS, at(0))).send == []
