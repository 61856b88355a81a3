"""Staff alerts, before it hurts (`core.domain.alerts`): each round of the housekeeping looks
at every queue with somebody in line, or with an alert episode going on, and queues one
Telegram message per new episode to each staff chat linked to the queue.

Several processes may run it at once: a queue's episodes are read, decided and written in
one transaction holding the queue's row lock (as a command does), with the messages they
cause, so the second process to look finds the episode already alerted. The figures are
read just before, without the lock (a display's read): a few milliseconds old at most; the
two-hour forecast (`core.services.forecasts`) is made from the same read.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.domain import alerts
from core.domain.horizon import Horizon
from core.domain.queue import Queue
from core.services.accounts import can_use_queue
from core.services.forecasts import horizon_of
from core.services.queues import QueueService
from core.storage import alerts as stored

log = logging.getLogger(__name__)
WAIT_KIND = "staff_alert_wait"
IDLE_KIND = "staff_alert_idle"


def minutes(seconds: float) -> int:
    """Whole minutes, rounded up: "about 61 min" is not "60"."""
    return math.ceil(seconds / 60)


def wait_params(figures: alerts.WaitFigures) -> dict[str, Any]:
    return {
        "reason": figures.reason,
        "threshold_min": minutes(figures.threshold_s),
        "longest_min": minutes(figures.longest_wait_s),
        "joiner_min": minutes(figures.joiner_wait_s),
        "with_one_more_min": minutes(figures.with_one_more_s),
        "saved_min": minutes(figures.joiner_wait_s) - minutes(figures.with_one_more_s),
        "waiting": figures.waiting,
        "open_counters": figures.open_counters,
        "ahead_min": None if figures.ahead_p90_s is None else minutes(figures.ahead_p90_s),
        "ahead_plus_one_min": None
        if figures.ahead_p90_plus_one_s is None
        else minutes(figures.ahead_p90_plus_one_s),
    }


HORIZON_REFRESH = timedelta(minutes=1)
HORIZON_LINE_MOVE = 0.1
"""A queue's two-hour forecast serves the rounds (every 15 s) for up to HORIZON_REFRESH
while its counters stay as they were and its line moves by less than this share (and by
less than two patients): it looks two hours ahead in quarters, so it moves slowly, and one
of a line of 800 costs a tenth of a second."""


@dataclass(frozen=True)
class _KeptHorizon:
    horizon: Horizon
    waiting: int
    open_counters: int

    def serves(self, now: datetime, waiting: int, open_counters: int) -> bool:
        moved = abs(waiting - self.waiting)
        return (
            timedelta(0) <= now - self.horizon.generated_at < HORIZON_REFRESH
            and open_counters == self.open_counters
            and (moved < 2 or moved <= HORIZON_LINE_MOVE * self.waiting)
        )


class StaffAlerts:
    def __init__(self, queues: QueueService) -> None:
        self.queues = queues
        self._horizons: dict[str, _KeptHorizon] = {}

    async def evaluate_all(self, live: Iterable[str]) -> dict[str, list[str]]:
        """Every queue of `live` (the codes with somebody in line) and every queue with an
        episode going on; returns the alerts this process sent, by queue."""
        sent: dict[str, list[str]] = {}
        for code in sorted(set(live) | set(await stored.queues_in_episode())):
            try:
                subjects = await self.evaluate(code)
            except Exception:  # one queue must not hold up the others
                log.exception("%s: staff alerts failed", code)
                continue
            if subjects:
                sent[code] = subjects
        return sent

    async def evaluate(self, code: str) -> list[str]:
        """Decides the queue's alerts now; returns the subjects alerted (`wait`,
        `idle:<counter>`), each to every linked chat of the queue."""
        status = await self.queues.status(code)
        now = status.updated_at
        waiting, open_counters = status.queue.size(), status.queue.open_counters()
        kept = self._horizons.get(code)
        if kept is None or not kept.serves(now, waiting, open_counters):
            kept = _KeptHorizon(await horizon_of(status), waiting, open_counters)
            self._horizons[code] = kept
        horizon = kept.horizon
        info = await self.queues.get_queue(code)
        chats = [
            a.telegram_chat_id
            for a in await stored.linked_accounts()
            if a.telegram_chat_id is not None and can_use_queue(a, code)
        ]
        common = {"queue": code, "queue_name": info.name, "language": info.config.language}
        # Shielded, as a command is: a cancelled transaction (the process stopping) must
        # complete or roll back, never stop half-way holding its connection.
        decision = await asyncio.shield(
            self._decide(status.queue, horizon, code, chats, common, now)
        )
        for subject in decision.send:
            log.info("%s: staff alert %s sent to %d chats", code, subject, len(chats))
        return decision.send

    async def _decide(
        self,
        queue: Queue,
        horizon: Horizon,
        code: str,
        chats: list[int],
        common: dict[str, Any],
        now: datetime,
    ) -> alerts.AlertDecision:
        async with stored.locked_queue(code, now) as locked:
            before = await locked.episodes()
            decision = alerts.decide(queue, before, now, horizon)
            await locked.store(decision.episodes, before)
            for subject in decision.send:
                episode = decision.episodes[subject]
                started = (episode.since or now).isoformat()
                if subject == alerts.WAIT_SUBJECT:
                    kind, params = WAIT_KIND, wait_params(decision.figures)
                else:
                    kind = IDLE_KIND
                    params = {
                        "counter": subject.removeprefix(alerts.IDLE_PREFIX),
                        "idle_min": int((now - (episode.since or now)).total_seconds() // 60),
                        "waiting": decision.figures.waiting,
                    }
                await locked.queue_staff_messages(
                    kind, chats, common | params, key=f"{code}:{subject}:{started}"
                )
        return decision
