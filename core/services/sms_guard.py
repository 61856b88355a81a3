"""Limits on what one phone number can make NextUp send: every reply to a text is paid.

Counted in the database (tickets and the outbox's record of every text), so the limits hold
across processes and restarts, and cost a count on an index rather than memory per number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import phonenumbers

from core.storage import sms_usage

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class Verdict(StrEnum):
    OK = "ok"
    REGION = "region"
    """The number is from a country the hospital does not serve: not answered at all."""
    JOINS = "joins"
    """Too many joins this hour: the JOIN is not carried out (nor answered)."""
    REPLIES = "replies"
    """Too many replies this hour or texts today: carried out, not answered."""


@dataclass(frozen=True)
class SmsLimits:
    joins_per_hour: int
    replies_per_hour: int
    daily_cap: int
    regions: frozenset[str]
    """Empty: numbers from anywhere."""


def region_allowed(phone: str, regions: frozenset[str]) -> bool:
    """Matched by country calling code: what a sender can't fake to the carrier, and what
    prices a text (+1 is the US, Canada and the Caribbean alike)."""
    if not regions:
        return True
    try:
        calling_code = phonenumbers.parse(phone).country_code
    except phonenumbers.NumberParseException:
        return False
    return calling_code in {phonenumbers.country_code_for_region(r) for r in regions}


class SmsGuard:
    def __init__(self, limits: SmsLimits) -> None:
        self.limits = limits

    def region_allowed(self, phone: str) -> bool:
        return region_allowed(phone, self.limits.regions)

    async def may_join(self, phone: str, now: datetime) -> bool:
        return await sms_usage.joins_since(phone, now - HOUR) < self.limits.joins_per_hour

    async def may_reply(self, phone: str, now: datetime) -> bool:
        """Replies this hour, and texts of any kind today (notifications included: they
        count towards the cap, though the cap only ever holds back replies)."""
        replies = await sms_usage.texts_since(phone, now - HOUR, replies_only=True)
        if replies >= self.limits.replies_per_hour:
            return False
        return await sms_usage.texts_since(phone, now - DAY) < self.limits.daily_cap
