"""The rate limiter: sends spaced evenly per channel, a gap per recipient, provider holds."""

from __future__ import annotations

import pytest

from core.delivery.limits import MAX_TRACKED_RECIPIENTS, ChannelLimits, RateLimiter


def test_sends_are_spaced_evenly_at_the_channel_rate() -> None:
    limiter = RateLimiter(ChannelLimits(per_second=4))
    assert limiter.ready_at("a") == 0.0
    limiter.take("a", now=10.0)
    limiter.take("b", now=10.0)  # booked at once: it goes a quarter second later
    assert limiter.ready_at("c") == pytest.approx(10.5)


def test_an_idle_channel_does_not_save_up_a_burst() -> None:
    limiter = RateLimiter(ChannelLimits(per_second=4))
    limiter.take("a", now=0.0)
    limiter.take("b", now=100.0)
    assert limiter.ready_at("c") == pytest.approx(100.25)


def test_a_recipient_waits_its_gap_while_others_go() -> None:
    limiter = RateLimiter(ChannelLimits(per_second=100, per_recipient_interval_s=1.0))
    limiter.take("a", now=5.0)
    assert limiter.ready_at("a") == pytest.approx(6.0)
    assert limiter.ready_at("b") == pytest.approx(5.01)


def test_a_provider_hold_only_ever_lengthens_the_wait() -> None:
    limiter = RateLimiter(ChannelLimits(per_second=100, per_recipient_interval_s=1.0))
    limiter.hold_recipient("a", until=30.0)
    limiter.hold_recipient("a", until=20.0)
    assert limiter.ready_at("a") == 30.0


def test_recipients_whose_gap_has_passed_are_forgotten() -> None:
    limiter = RateLimiter(ChannelLimits(per_second=1000, per_recipient_interval_s=1.0))
    for n in range(MAX_TRACKED_RECIPIENTS + 1):
        limiter.take(f"old-{n}", now=0.0)
    limiter.take("new", now=50.0)  # over the limit: the table is swept first
    assert limiter.ready_at("old-0") == limiter.ready_at("never-seen")
    assert limiter.ready_at("new") == pytest.approx(51.0)
