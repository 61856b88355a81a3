"""Provider rate limits, one set per provider identity (a Telegram bot, a Twilio number).

A limit is a sliding window over real send times: at most `count` sends in any `window_s`,
which is how Telegram counts (30 messages in any second per bot, one a second per chat) and,
with a count of one, a minimum gap (a Twilio number's rate). A send asks every rule that
applies to it at once and is booked in all of them, or in none.

The rules are pure bookkeeping with the time passed in (`SlidingWindows`); `LocalLimiter`
keeps them in this process's memory. `core.delivery.shared_limits` keeps the same rules in
Redis, so that every process sending for one bot or number shares one limit.
"""

from __future__ import annotations

import contextvars
import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

IN_FLIGHT_HOLD_S = 15.0
"""How long a send not yet answered keeps its place in a window at most: longer than any
provider request may take, so only a process that died mid-send leaves a place taken."""
RECHECK_S = 0.01
"""When the send that must leave a window is still in flight: ask again this soon."""


@dataclass(frozen=True)
class Rule:
    key: str
    """The provider identity the limit is kept under, e.g. `telegram:123456:to:42`."""
    count: int
    window_s: float
    per_recipient: bool = False
    """Only this recipient waits for it: the next recipient's message may go meanwhile."""
    until_answered: bool = False
    """A send counts from its booking until its answer and then at the answer's time: it
    reached the provider in between, so however late the request left or slow the network
    was, no window of the provider's clock ever holds more than `count`."""

    def scaled(self, share: float) -> Rule:
        """The same rule for a process that may use only `share` of it: fewer sends per
        window while that leaves at least one, else one send in a longer window."""
        if share >= 1.0:
            return self
        count = math.floor(self.count * share)
        if count >= 1:
            return dataclasses.replace(self, count=count)
        return dataclasses.replace(self, count=1, window_s=self.window_s / (self.count * share))


@dataclass(frozen=True)
class Verdict:
    wait_s: float
    """0: the send is booked in every rule; else how long until it may be (nothing booked)."""
    blocked_by: Rule | None = None
    ticket: str | None = None
    """The booking, to report its answer with (`Limiter.answered`)."""
    elsewhere: bool = False
    """Another process writes to this recipient for now (Redis is down): hand it back."""

    @property
    def granted(self) -> bool:
        return self.wait_s <= 0.0


class Limiter(Protocol):
    """Where the rules are kept: this process (`LocalLimiter`) or Redis (`SharedLimiter`)."""

    async def start(self) -> None:
        """Before the first send (a shared limiter tells the others this process sends)."""
        ...

    async def acquire(self, rules: Sequence[Rule]) -> Verdict: ...

    async def answered(self, rules: Sequence[Rule], ticket: str) -> None:
        """The provider answered the send booked as `ticket` (or it failed): it counts from
        now in the rules kept `until_answered`."""
        ...

    async def pause(self, key: str, delay_s: float) -> None:
        """The provider asked us to wait: no send under `key` for `delay_s`."""
        ...

    async def close(self) -> None: ...


class SlidingWindows:
    """The rules in memory, with the time (monotonic seconds) passed in."""

    MAX_KEYS = 10_000

    def __init__(self) -> None:
        self._sends: dict[str, dict[str, float]] = {}
        """key -> ticket -> when the send counts from (in the future while in flight)."""
        self._paused_until: dict[str, float] = {}
        self._tickets = itertools.count(1)

    def acquire(self, rules: Sequence[Rule], now: float) -> Verdict:
        wait_s, blocked_by = 0.0, None
        for rule in rules:
            rule_wait_s = max(0.0, self._paused_until.get(rule.key, 0.0) - now)
            sends = self._sends.get(rule.key)
            if sends:
                for ticket in [t for t, at in sends.items() if at <= now - rule.window_s]:
                    del sends[ticket]
                if len(sends) >= rule.count:
                    # the send that must leave the window before one more fits in it
                    leaves = sorted(sends.values())[-rule.count]
                    rule_wait_s = max(
                        rule_wait_s, RECHECK_S if leaves > now else leaves + rule.window_s - now
                    )
            if rule_wait_s > wait_s:
                wait_s, blocked_by = rule_wait_s, rule
        if wait_s > 0.0:
            return Verdict(wait_s, blocked_by)
        if len(self._sends) > self.MAX_KEYS:
            self.forget_before(now, max(r.window_s for r in rules))
        ticket = str(next(self._tickets))
        for rule in rules:
            at = now + IN_FLIGHT_HOLD_S if rule.until_answered else now
            self._sends.setdefault(rule.key, {})[ticket] = at
        return Verdict(0.0, ticket=ticket)

    def answered(self, rules: Sequence[Rule], ticket: str, now: float) -> None:
        for rule in rules:
            sends = self._sends.get(rule.key)
            if rule.until_answered and sends is not None and ticket in sends:
                sends[ticket] = now

    def pause(self, key: str, until: float) -> None:
        self._paused_until[key] = max(self._paused_until.get(key, 0.0), until)

    def recent(self, key: str, now: float, window_s: float) -> list[float]:
        """How long ago (seconds) each send still in the window under `key` counts from
        (negative: in flight)."""
        return [now - t for t in self._sends.get(key, {}).values() if t > now - window_s]

    def paused_for(self, now: float) -> dict[str, float]:
        return {k: until - now for k, until in self._paused_until.items() if until > now}

    def forget_before(self, now: float, longest_window_s: float) -> None:
        """Drop keys with no send in the longest window, so the table stays small."""
        self._sends = {
            k: v for k, v in self._sends.items() if v and max(v.values()) > now - longest_window_s
        }
        self._paused_until = {k: t for k, t in self._paused_until.items() if t > now}


class LocalLimiter:
    """The rules in this process's memory: right when this process is the only sender."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.windows = SlidingWindows()

    async def start(self) -> None:
        pass

    async def acquire(self, rules: Sequence[Rule]) -> Verdict:
        return self.windows.acquire(rules, self.clock())

    async def answered(self, rules: Sequence[Rule], ticket: str) -> None:
        self.windows.answered(rules, ticket, self.clock())

    async def pause(self, key: str, delay_s: float) -> None:
        self.windows.pause(key, self.clock() + delay_s)

    async def close(self) -> None:
        pass


@dataclass(frozen=True)
class ChannelLimits:
    """A channel's limits as rules for one send.

    `identity` names the sender at the provider (`telegram:<bot id>`, `twilio`); sends are
    limited to `count` per `window_s` under it, or, when `origins` are given (Twilio's
    sending numbers or Messaging Service), under each origin, and the send goes from the
    first origin with room. `recipient_window_s` allows one message per recipient in it.
    """

    identity: str
    count: int
    window_s: float
    recipient_window_s: float = 0.0
    origins: tuple[str, ...] = ()
    spread_count: int = 0
    spread_window_s: float = 0.0
    """And at most `spread_count` in any `spread_window_s`: a full window's sends spread
    over it rather than all at its start, so a "called" message never waits long."""
    local_only: bool = field(default=False)
    """A limit of our own (the dev inbox), never shared between processes."""

    @classmethod
    def at(
        cls, per_second: float, identity: str = "channel", recipient_window_s: float = 0.0
    ) -> ChannelLimits:
        """`per_second` sends in any second (a whole number of them, at least one)."""
        return cls(identity, max(1, round(per_second)), 1.0, recipient_window_s)

    @property
    def per_second(self) -> float:
        return self.count / self.window_s * max(1, len(self.origins))

    def pause_key(self, origin: str | None) -> str:
        """The key a provider's "wait" is kept under: the origin that was told, else all."""
        return f"{self.identity}:{origin}" if origin else self.identity

    def choices(self, recipient: str) -> list[tuple[str | None, tuple[Rule, ...]]]:
        """(origin, the rules a send from it must pass), in the order to try them."""
        extra: tuple[Rule, ...] = ()
        if self.spread_count:
            # ours, not the provider's: counted from the booking
            extra += (Rule(f"{self.identity}:spread", self.spread_count, self.spread_window_s),)
        if self.recipient_window_s > 0:
            extra += (
                Rule(
                    f"{self.identity}:to:{recipient}",
                    1,
                    self.recipient_window_s,
                    per_recipient=True,
                    until_answered=True,
                ),
            )
        keys = [f"{self.identity}:{o}" for o in self.origins] if self.origins else [self.identity]
        return [
            (origin, (Rule(key, self.count, self.window_s, until_answered=True), *extra))
            for origin, key in zip(self.origins or (None,), keys, strict=True)
        ]


def telegram_limits(bot_id: str) -> ChannelLimits:
    """30 messages in any second per bot, one a second per chat, as Telegram counts them;
    and no more than 3 in any tenth of a second (our own rule, 30/s: it only spreads them,
    so a "called" message never waits long behind a full window)."""
    return ChannelLimits(
        identity=f"telegram:{bot_id}",
        count=30,
        window_s=1.0,
        recipient_window_s=1.0,
        spread_count=3,
        spread_window_s=0.1,
    )


def bot_id_of(token: str) -> str:
    """A bot token is `<bot id>:<secret>`; only the id names the bot in limit keys."""
    return token.split(":", 1)[0]


ALREADY_LIMITED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "nextup_already_limited", default=False
)
"""Set by the dispatcher around a send it has already booked under the channel's limits, so
a client-side limiter in the provider's session does not book it twice."""
