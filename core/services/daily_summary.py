"""The daily summary: after a queue's day is over (`core.domain.daily.day_is_over`), its
figures (`core.services.reports.daily_summary`) go once to every linked admin chat.

Each housekeeping round looks at every queue; the day's record (`daily_reports`, unique per
queue and day) is written in a transaction holding the queue row's lock, with the messages,
so of several processes one sends it. A day without visits (a closed Sunday, a day before the
queue existed) is recorded and not sent: it is no news.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from core.domain.daily import last_day_over
from core.services.accounts import Role
from core.services.queues import QueueService
from core.services.reports import DailySummary, daily_summary
from core.storage import alerts as stored

log = logging.getLogger(__name__)
KIND = "daily_summary"


def summary_params(summary: DailySummary) -> dict[str, Any]:
    """The summary as the catalogue's `daily_summary` words it: waits in whole minutes, the
    rating to one decimal."""

    def whole_min(seconds: float | None) -> int | None:
        return None if seconds is None else math.ceil(seconds / 60)

    return {
        "queue": summary.code,
        "queue_name": summary.name,
        "day": summary.day.isoformat(),
        "visits": summary.visits,
        "completed": summary.completed,
        "no_shows": summary.no_shows,
        "cancelled": summary.cancelled,
        "mean_wait_min": whole_min(summary.mean_wait_s),
        "p90_wait_min": whole_min(summary.p90_wait_s),
        "rating": None if summary.average_rating is None else round(summary.average_rating, 1),
        "ratings": summary.ratings,
        "sms_segments": summary.sms_segments,
        "failed_notifications": summary.failed_notifications,
    }


class DailySummaries:
    def __init__(self, queues: QueueService) -> None:
        self.queues = queues

    async def send_due(self, live: Iterable[str] | None = None) -> dict[str, int]:
        """Every queue whose last day over has not been reported yet; returns how many admin
        chats this process queued each one's summary for, by queue."""
        sent: dict[str, int] = {}
        # `live`: the codes with somebody waiting or called, as the round just read them.
        lines = (
            set(live)
            if live is not None
            else {line.code for line in await self.queues.live_lines()}
        )
        for info in await self.queues.list_queues():
            try:
                chats = await self.send_if_due(info.code, line_left=info.code in lines)
            except Exception:  # one queue must not hold up the others
                log.exception("%s: the daily summary failed", info.code)
                continue
            if chats is not None:
                sent[info.code] = chats
        return sent

    async def send_if_due(self, code: str, line_left: bool = False) -> int | None:
        """Sends the queue's last day over when nobody has; None when there was nothing to
        do, else how many chats it was queued for (0: a day without visits). `line_left`:
        somebody is waiting or called, which holds up a day past its closing time
        (`core.domain.daily.day_is_over`)."""
        now = self.queues.clock()
        info = await self.queues.get_queue(code)
        day = last_day_over(now, info.config.schedule(), line_left)
        if await stored.report_sent(code, day):
            return None
        summary = await daily_summary(code, day)
        chats = [
            a.telegram_chat_id
            for a in await stored.linked_accounts()
            if a.telegram_chat_id is not None and a.role == Role.ADMIN
        ]
        if not summary.visits:
            chats = []
        params = summary_params(summary) | {"language": info.config.language}
        return await asyncio.shield(self._record_and_send(code, summary, chats, params, now))

    async def _record_and_send(
        self,
        code: str,
        summary: DailySummary,
        chats: list[int],
        params: dict[str, Any],
        now: datetime,
    ) -> int | None:
        async with stored.locked_queue(code, now) as locked:
            if not await locked.claim_report(summary.day, len(chats)):
                return None  # another process sent it a moment ago
            await locked.queue_staff_messages(
                KIND, chats, params, key=f"{code}:{summary.day.isoformat()}"
            )
        log.info("%s: daily summary of %s sent to %d admin chats", code, summary.day, len(chats))
        return len(chats)
