"""Periodic work a running server does: called patients who never came become no-shows,
quiet lines are re-evaluated, since time alone changes what their patients should hear,
at closing time the patients still waiting in a `close_remaining` queue are told and their
tickets closed, staff chats are alerted of long waits and idle counters
(`core.services.staff_alerts`), and admin chats get each queue's daily summary once its day
is over (`core.services.daily_summary`).

Every process that runs background work runs all of it, in one loop (`housekeeping_forever`);
it is safe to run in any number of processes at once. A no-show is marked under the
queue's lock, and a ticket is marked once. A line is re-evaluated under the queue's lock
too, and only if its stamp (`reevaluated_at`) is still the one read: of several processes,
one does each round, and what it tells a patient is recorded on the ticket before the lock
is let go, so whoever looks next finds it told. Closing a line is done under the queue's
lock too, and a closed ticket is no longer waiting: whoever comes next finds nobody to close.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from core.domain.model import OnClose
from core.services.daily_summary import DailySummaries
from core.services.queues import QueueService
from core.services.staff_alerts import StaffAlerts
from core.storage.queues import LiveLine

log = logging.getLogger(__name__)
SWEEP_INTERVAL_S = 15.0
REEVALUATE_INTERVAL_S = 30.0
"""The default of NEXTUP_REEVALUATE_INTERVAL_S."""
DUE_SLACK = 0.1
"""A line is due once this share of the interval short of it: a loop that wakes a few
milliseconds early (or a stamp taken a few after the query) must not skip a round."""


async def housekeeping_forever(
    queues: QueueService,
    reevaluate_interval_s: float = REEVALUATE_INTERVAL_S,
    sweep_interval_s: float = SWEEP_INTERVAL_S,
    alerts: StaffAlerts | None = None,
    summaries: DailySummaries | None = None,
) -> None:
    """The no-show sweep and the re-evaluation of quiet lines, until cancelled: one loop,
    one query a round for both (`QueueService.live_lines`), so a queue with nobody waiting
    or called costs nothing more. A round comes every `sweep_interval_s`, or every
    `reevaluate_interval_s` when that is shorter; each line is re-evaluated once per
    `reevaluate_interval_s` whatever the rounds of this and other processes. With `alerts`,
    each round also decides the staff alerts of the lines (and of the queues in an alert
    episode), once per episode whatever the processes; with `summaries`, sends the daily
    summaries due, once per queue and day."""
    round_s = min(sweep_interval_s, reevaluate_interval_s)
    while True:
        await asyncio.sleep(round_s)
        try:
            lines = await queues.live_lines()
            await sweep_no_shows(queues, lines)
            await close_lines(queues, lines)
            await reevaluate_lines(queues, reevaluate_interval_s, lines)
            if alerts is not None:
                await alerts.evaluate_all(line.code for line in lines)
            if summaries is not None:
                await summaries.send_due(line.code for line in lines)
        except Exception:
            # One failed round (database restarting) must not end the loop.
            log.exception("housekeeping failed; trying again in %.0f s", round_s)


async def sweep_no_shows(queues: QueueService, lines: list[LiveLine]) -> int:
    """Called patients past their queue's grace become no-shows, in the queues where
    somebody is called; returns how many."""
    marked = 0
    for line in lines:
        if not line.called:
            continue
        try:
            expired = await queues.expire_called(line.code)
        except Exception:
            log.exception("%s: the no-show sweep failed", line.code)
            continue
        if expired:
            marked += len(expired)
            log.info("%s: %d called tickets became no-shows", line.code, len(expired))
    return marked


async def close_lines(queues: QueueService, lines: list[LiveLine]) -> int:
    """Closes the remaining line of each `close_remaining` queue with somebody waiting that
    its hours say is closed now (`Queue.close_remaining` decides whom); returns how many
    tickets were closed. Queues open now, or serving their remaining line, are not locked."""
    waiting = {line.code for line in lines if line.waiting}
    if not waiting:
        return 0
    now = queues.clock()
    closed = 0
    for info in await queues.list_queues():
        config = info.config
        if info.code not in waiting or config.on_close is not OnClose.CLOSE_REMAINING:
            continue
        schedule = config.schedule()
        if schedule.always_open() or schedule.is_open(now):
            continue
        try:
            tickets = await queues.close_remaining(info.code)
        except Exception:
            log.exception("%s: closing the remaining line failed", info.code)
            continue
        if tickets:
            closed += len(tickets)
            log.info("%s: closed for the day, %d waiting tickets closed", info.code, len(tickets))
    return closed


async def reevaluate_lines(
    queues: QueueService, interval_s: float, lines: list[LiveLine] | None = None
) -> dict[str, int]:
    """Re-evaluates each line with somebody waiting that nobody (no process) re-evaluated
    for `interval_s`; returns how many events each line this process re-evaluated gave.
    `lines`: as `QueueService.live_lines` just gave them (else they are read)."""
    now = queues.clock()
    done: dict[str, int] = {}
    for line in await queues.live_lines() if lines is None else lines:
        if not line.waiting or not is_due(line.reevaluated_at, now, interval_s):
            continue
        try:
            events = await queues.reevaluate(line)
        except Exception:
            # One queue that fails (a ticket changed under it) must not hold up the others.
            log.exception("%s: re-evaluating the line failed", line.code)
            continue
        if events is not None:
            done[line.code] = events
            if events:
                log.info("%s: re-evaluated the line, %d events", line.code, events)
    return done


def is_due(reevaluated_at: datetime | None, now: datetime, interval_s: float) -> bool:
    """The line was never re-evaluated, or not for about `interval_s`."""
    if reevaluated_at is None:
        return True
    return (now - reevaluated_at).total_seconds() >= interval_s * (1 - DUE_SLACK)
