"""The next two hours of a queue (`core.domain.horizon`), made when asked for: by the
board's chart, `GET /api/v1/queues/{code}/forecast` and the staff alerts' rounds, never by
a command. The arrival rates are learned from the queue's hourly rows of the last week."""

from __future__ import annotations

from datetime import timedelta

from core.domain.horizon import LEARN_DAYS, Horizon, learn_hourly_arrivals, queue_horizon
from core.services.queues import QueueService, QueueStatus
from core.storage.reporting import joined_by_hour


async def horizon_of(status: QueueStatus) -> Horizon:
    """The forecast of a queue as read in `status` (ranked, at `status.updated_at`)."""
    queue, now = status.queue, status.updated_at
    rows = await joined_by_hour(queue.code, now - timedelta(days=LEARN_DAYS), now)
    rates = learn_hourly_arrivals(rows, now, queue.config.schedule())
    return queue_horizon(queue, rates, now)


async def two_hour_forecast(queues: QueueService, code: str) -> Horizon:
    """The forecast of the queue `code` now; unknown queue: NotFound."""
    return await horizon_of(await queues.status(code))
