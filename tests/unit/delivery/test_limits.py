"""The limit rules: sliding windows over send times, pauses, a process's share."""

from __future__ import annotations

import random

import pytest

from core.delivery.limits import (
    IN_FLIGHT_HOLD_S,
    RECHECK_S,
    ChannelLimits,
    LocalLimiter,
    Rule,
    SlidingWindows,
    bot_id_of,
    telegram_limits,
)

BOT = Rule("telegram:1", 30, 1.0)


def chat(n: int) -> Rule:
    return Rule(f"telegram:1:to:{n}", 1, 1.0, per_recipient=True)


def most_in_window(times: list[float], width_s: float) -> int:
    """The most sends that ever arrived within `width_s` of each other (Telegram's rule)."""
    times = sorted(times)
    start, best = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= width_s:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_a_full_window_waits_until_its_oldest_send_leaves() -> None:
    windows = SlidingWindows()
    for n in range(30):
        assert windows.acquire([BOT], now=10.0 + n * 0.01).granted
    verdict = windows.acquire([BOT], now=10.5)
    assert verdict.wait_s == pytest.approx(0.5) and verdict.blocked_by == BOT
    assert not windows.acquire([BOT], now=10.999).granted
    assert windows.acquire([BOT], now=11.0).granted
    assert not windows.acquire([BOT], now=11.005).granted  # the second left at 11.01


def test_a_burst_goes_at_once_up_to_the_limit() -> None:
    windows = SlidingWindows()
    assert sum(windows.acquire([BOT], now=5.0).granted for _ in range(40)) == 30


def test_a_send_is_booked_in_every_rule_or_in_none() -> None:
    windows = SlidingWindows()
    assert windows.acquire([BOT, chat(1)], now=0.0).granted
    verdict = windows.acquire([BOT, chat(1)], now=0.2)
    assert verdict.blocked_by == chat(1) and verdict.wait_s == pytest.approx(0.8)
    for n in range(2, 31):  # the refused send took no place in the bot's window
        assert windows.acquire([BOT, chat(n)], now=0.3).granted
    assert windows.acquire([BOT, chat(31)], now=0.4).blocked_by == BOT


def test_randomly_timed_asks_never_put_more_than_the_limit_in_any_window() -> None:
    rng = random.Random(7)
    windows = SlidingWindows()
    now, granted, per_chat = 0.0, [], {}
    while now < 20.0:
        now += rng.expovariate(300)  # far more asks than room
        n = rng.randrange(40)
        if windows.acquire([BOT, chat(n)], now).granted:
            granted.append(now)
            per_chat.setdefault(n, []).append(now)
    assert most_in_window(granted, 1.0) == 30
    assert len(granted) >= 0.95 * 30 * 20  # a sliding window keeps the rate, not less
    assert all(most_in_window(times, 1.0) == 1 for times in per_chat.values())


def test_a_pause_holds_every_send_under_its_key() -> None:
    windows = SlidingWindows()
    windows.pause("telegram:1", until=12.0)
    verdict = windows.acquire([BOT, chat(5)], now=10.0)
    assert verdict.wait_s == pytest.approx(2.0) and verdict.blocked_by == BOT
    assert windows.acquire([chat(5)], now=10.0).granted  # another bot's sends are not held
    assert windows.acquire([BOT, chat(6)], now=12.0).granted


def test_idle_keys_are_forgotten() -> None:
    windows = SlidingWindows()
    windows.acquire([chat(1)], now=0.0)
    windows.acquire([chat(2)], now=5.0)
    windows.forget_before(5.5, longest_window_s=1.0)
    assert windows.recent("telegram:1:to:1", 5.5, 10.0) == []
    assert windows.recent("telegram:1:to:2", 5.5, 10.0) == [pytest.approx(0.5)]


@pytest.mark.parametrize(
    ("share", "count", "window_s"),
    [(1.0, 30, 1.0), (0.5, 15, 1.0), (1 / 3, 10, 1.0), (0.02, 1, 1 / 0.6)],
)
def test_a_share_of_a_limit_is_fewer_sends_per_window_or_a_longer_window(
    share: float, count: int, window_s: float
) -> None:
    scaled = BOT.scaled(share)
    assert (scaled.count, scaled.window_s) == (count, pytest.approx(window_s))
    one_a_second = chat(1).scaled(0.25)
    assert (one_a_second.count, one_a_second.window_s) == (1, pytest.approx(4.0))


def test_telegram_limits_are_per_bot_and_per_chat_counted_until_answered() -> None:
    limits = telegram_limits(bot_id_of("123456:secret"))
    [(origin, (bot, spread, to_chat))] = limits.choices("42")
    assert origin is None
    assert (bot.key, bot.count, bot.window_s) == ("telegram:123456", 30, 1.0)
    assert (to_chat.key, to_chat.count, to_chat.window_s) == ("telegram:123456:to:42", 1, 1.0)
    assert bot.until_answered and to_chat.until_answered and to_chat.per_recipient
    assert spread.count / spread.window_s == pytest.approx(30)  # spreads, never slows
    assert not spread.until_answered


def test_a_send_counts_from_its_answer_so_a_late_request_never_crowds_a_window() -> None:
    rule = Rule("telegram:1", 2, 1.0, until_answered=True)
    windows = SlidingWindows()
    first = windows.acquire([rule], now=0.0)
    second = windows.acquire([rule], now=0.0)
    assert first.ticket and second.ticket and first.ticket != second.ticket
    verdict = windows.acquire([rule], now=3.0)  # both still in flight: who knows when they land
    assert not verdict.granted and verdict.wait_s == pytest.approx(RECHECK_S)
    windows.answered([rule], first.ticket, now=3.2)
    windows.answered([rule], second.ticket, now=3.4)
    assert windows.acquire([rule], now=4.1).wait_s == pytest.approx(0.1)
    assert windows.acquire([rule], now=4.2).granted


def test_a_send_never_answered_gives_its_place_back_after_the_hold() -> None:
    rule = Rule("telegram:1", 1, 1.0, until_answered=True)
    windows = SlidingWindows()
    assert windows.acquire([rule], now=0.0).granted  # and its process died
    assert not windows.acquire([rule], now=IN_FLIGHT_HOLD_S + 0.5).granted
    assert windows.acquire([rule], now=IN_FLIGHT_HOLD_S + 1.0).granted


def test_each_twilio_number_is_its_own_limit() -> None:
    limits = ChannelLimits("twilio", 1, 1.0, origins=("+15550001", "MG123"))
    assert [(o, [r.key for r in rules]) for o, rules in limits.choices("+1555")] == [
        ("+15550001", ["twilio:+15550001"]),
        ("MG123", ["twilio:MG123"]),
    ]
    assert limits.pause_key("MG123") == "twilio:MG123" and limits.pause_key(None) == "twilio"


async def test_the_local_limiter_keeps_the_rules_on_its_clock() -> None:
    now = [100.0]
    limiter = LocalLimiter(lambda: now[0])
    booked = await limiter.acquire([chat(1)])
    assert booked.granted and booked.ticket is not None
    await limiter.pause("telegram:1:to:2", 3.0)
    assert (await limiter.acquire([chat(2)])).wait_s == pytest.approx(3.0)
    now[0] = 101.0
    assert (await limiter.acquire([chat(1)])).granted
