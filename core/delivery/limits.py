"""Provider rate limits: messages per second per channel, and a minimum gap per recipient.

Pure bookkeeping with the time passed in (monotonic seconds); the dispatcher sleeps.
Sends are spaced evenly rather than in bursts, so no window of a second ever holds more
than the limit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChannelLimits:
    per_second: float
    per_recipient_interval_s: float = 0.0


TELEGRAM_LIMITS = ChannelLimits(per_second=29.5, per_recipient_interval_s=1.05)
"""Telegram allows about 30 messages a second per bot and one a second per chat; a little
under both leaves room for network jitter, so the bot is never throttled."""


MAX_TRACKED_RECIPIENTS = 10_000


class RateLimiter:
    def __init__(self, limits: ChannelLimits) -> None:
        self.limits = limits
        self._next_slot = 0.0
        self._recipient_free_at: dict[str, float] = {}

    def ready_at(self, recipient: str) -> float:
        """The earliest time a message to `recipient` may go."""
        return max(self._next_slot, self._recipient_free_at.get(recipient, 0.0))

    def take(self, recipient: str, now: float) -> None:
        """Book a send to `recipient` now."""
        self._next_slot = max(now, self._next_slot) + 1.0 / self.limits.per_second
        gap_s = self.limits.per_recipient_interval_s
        if gap_s > 0:
            if len(self._recipient_free_at) > MAX_TRACKED_RECIPIENTS:
                self.forget_before(now)
            self._recipient_free_at[recipient] = now + gap_s

    def hold_recipient(self, recipient: str, until: float) -> None:
        """The provider told us to wait before writing to this recipient again."""
        self._recipient_free_at[recipient] = max(self._recipient_free_at.get(recipient, 0), until)

    def forget_before(self, now: float) -> None:
        """Drop recipients whose gap has passed, so the table stays small."""
        self._recipient_free_at = {r: t for r, t in self._recipient_free_at.items() if t > now}
