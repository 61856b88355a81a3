"""Stopping background tasks so that a stop never waits forever.

`task.cancel()` followed by `await task` hangs when the cancellation is lost: a library that
turns a cancellation arriving with its own timeout into its timeout error (asyncio.timeout
on Python 3.11 can), inside a loop that survives that error, runs on as if never told. So
a stop waits a bounded grace (a task may finish what it was doing when told), cancels again
what still runs, and gives up on it after a second bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

AGAIN_S = 1.0
"""How long a task told a second time to stop is waited for before it is given up on."""


async def cancel_and_wait(
    tasks: Iterable[asyncio.Future[Any]], grace_s: float = 1.0
) -> set[asyncio.Future[Any]]:
    """Cancels the tasks, waits up to `grace_s` for them to end, cancels again the ones
    still running and waits up to AGAIN_S more; returns the ones that outlived that, left
    running. What a task raised, other than its cancellation, is logged here, once."""
    told = list(tasks)
    pending = {t for t in told if not t.done()}
    for wait_s in (grace_s, AGAIN_S):
        if not pending:
            break
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=wait_s)
    if pending:
        log.warning("%d background tasks did not stop when told twice", len(pending))
    for task in told:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())
    return pending
