"""Periodic work a running server does: called patients who never came become no-shows,
and quiet lines are re-evaluated, since time alone changes what their patients should hear.

Every process that runs background work runs both (`housekeeping_forever`); they are safe
to run in any number of processes at once. A no-show is marked under the queue's lock, and
a ticket is marked once. A line is re-evaluated under the queue's lock too, and only if its
stamp (`reevaluated_at`) is still the one read: of several processes, one does each round,
and what it tells a patient is recorded on the ticket before the lock is let go, so whoever
looks next finds it told.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from core.services.queues import QueueService

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
) -> None:
    """The no-show sweep and the re-evaluation of quiet lines, until cancelled."""
    await asyncio.gather(
        sweep_no_shows_forever(queues, sweep_interval_s),
        reevaluate_lines_forever(queues, reevaluate_interval_s),
    )


async def sweep_no_shows_forever(
    queues: QueueService, interval_s: float = SWEEP_INTERVAL_S
) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            for info in await queues.list_queues():
                expired = await queues.expire_called(info.code)
                if expired:
                    log.info("%s: %d called tickets became no-shows", info.code, len(expired))
        except Exception:
            # One failed sweep (database restarting) must not end the loop.
            log.exception("no-show sweep failed; trying again in %.0f s", interval_s)


async def reevaluate_lines_forever(
    queues: QueueService, interval_s: float = REEVALUATE_INTERVAL_S
) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await reevaluate_lines(queues, interval_s)
        except Exception:
            log.exception("re-evaluating the lines failed; trying again in %.0f s", interval_s)


async def reevaluate_lines(queues: QueueService, interval_s: float) -> dict[str, int]:
    """Re-evaluates each line with somebody waiting that nobody (no process) re-evaluated
    for `interval_s`; returns how many events each line this process re-evaluated gave.
    A queue with nobody waiting costs nothing but its part of one query."""
    now = queues.clock()
    done: dict[str, int] = {}
    for line in await queues.waiting_lines():
        if not is_due(line.reevaluated_at, now, interval_s):
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
                log.info("%s: time passing gave %d events", line.code, events)
    return done


def is_due(reevaluated_at: datetime | None, now: datetime, interval_s: float) -> bool:
    """The line was never re-evaluated, or not for about `interval_s`."""
    if reevaluated_at is None:
        return True
    return (now - reevaluated_at).total_seconds() >= interval_s * (1 - DUE_SLACK)
