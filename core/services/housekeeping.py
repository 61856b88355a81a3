"""Periodic work a running server does: called patients who never came become no-shows."""

from __future__ import annotations

import asyncio
import logging

from core.services.queues import QueueService

log = logging.getLogger(__name__)
SWEEP_INTERVAL_S = 15.0


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
