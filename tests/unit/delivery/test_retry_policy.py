"""Retry delays: exponential, capped, with half of each delay random."""

from __future__ import annotations

import pytest

from core.delivery.dispatcher import RetryPolicy

POLICY = RetryPolicy(max_attempts=8, base_delay_s=1.0, max_delay_s=300.0)


@pytest.mark.parametrize(
    ("attempt", "ceiling_s"),
    [(0, 1.0), (1, 1.0), (2, 2.0), (3, 4.0), (9, 256.0), (10, 300.0), (30, 300.0)],
)
def test_the_delay_doubles_up_to_the_cap_and_is_at_least_half_of_it(
    attempt: int, ceiling_s: float
) -> None:
    assert POLICY.delay_s(attempt, rand=lambda: 0.0) == pytest.approx(ceiling_s / 2)
    assert POLICY.delay_s(attempt, rand=lambda: 1.0) == pytest.approx(ceiling_s)


def test_retries_of_many_messages_spread_out() -> None:
    delays = {POLICY.delay_s(4) for _ in range(50)}
    assert len(delays) > 1
    assert all(4.0 <= d <= 8.0 for d in delays)
