"""Learned service times kept running per queue, so a command does not pay for the week.

Each queue's completed visits of the last week are read once per process, then kept in an
`eta.ServiceHistory`: the visits this process ends are added as it commits them, and the
ones other processes end are asked for with a small query (visits stamped since the newest
one seen) at most every `SAMPLE_POLL_S`. The history answers `learn_service_times`' figures
for exactly the visits it holds, and caches them until that changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.domain import eta
from core.domain.events import DomainEvent, TicketCompleted
from core.domain.queue import Queue
from core.storage.queues import QueueUnitOfWork

LearnedServiceTimes = tuple[eta.ServiceTime, dict[str, eta.ServiceTime]]
"""Over every visit, and per kind of visit."""
SAMPLE_POLL_S = 2.0
"""How often a process asks for the visits other processes ended: a few seconds late moves
a learned mean by a fraction of one visit in hundreds."""
LATE_COMMIT = timedelta(minutes=5)
"""A visit is stamped with its command's clock, read before the command waited for the
queue's lock and committed; one committed up to this long after its stamp is still found."""


@dataclass
class _QueueHistory:
    timezone: str
    history: eta.ServiceHistory
    polled_at_s: float
    seen: dict[str, datetime] = field(default_factory=dict)
    """Ticket id -> end of the visits stamped within LATE_COMMIT of the newest: a query
    that reaches back that far finds them again."""
    newest: datetime | None = None

    def take(self, samples: Mapping[str, eta.ServiceSample]) -> None:
        for ticket_id, sample in samples.items():
            if ticket_id in self.seen:
                continue
            self.seen[ticket_id] = sample.finished_at
            self.history.add(sample)
            if self.newest is None or sample.finished_at > self.newest:
                self.newest = sample.finished_at
        if self.newest is not None:
            oldest_kept = self.newest - LATE_COMMIT
            self.seen = {i: at for i, at in self.seen.items() if at >= oldest_kept}

    def since(self) -> datetime | None:
        return None if self.newest is None else self.newest - LATE_COMMIT


class RunningServiceTimes:
    """Per queue, the learned service times, kept running in this process."""

    def __init__(
        self, poll_s: float = SAMPLE_POLL_S, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.poll_s = poll_s
        self.monotonic = monotonic
        self._queues: dict[str, _QueueHistory] = {}

    async def learned(
        self, queue: Queue, now: datetime, uow: QueueUnitOfWork
    ) -> LearnedServiceTimes:
        """The queue's figures at `now` over the visits ended so far, as far as this
        process knows them (up to `poll_s` late for other processes' visits)."""
        config = queue.config
        running = self._queues.get(queue.code)
        if running is None or running.timezone != config.timezone:
            # Hours of day are filed in the queue's time zone: a new one refiles the week.
            running = _QueueHistory(
                config.timezone, eta.ServiceHistory(config.timezone), self.monotonic()
            )
            running.take(await uow.service_samples(queue.code, now - eta.HISTORY_WINDOW))
            self._queues[queue.code] = running
        elif self.monotonic() - running.polled_at_s >= self.poll_s:
            running.polled_at_s = self.monotonic()
            since = running.since() or now - eta.HISTORY_WINDOW
            running.take(await uow.service_samples(queue.code, since))
        return running.history.learn(now, config.default_service_s, config.service_times_s)

    def committed(self, queues: Mapping[str, Queue], events: Sequence[DomainEvent]) -> None:
        """Takes in the visits a command of this process ended, once it has committed."""
        for event in events:
            running = self._queues.get(event.queue)
            if running is None or not isinstance(event, TicketCompleted):
                continue
            ticket = queues[event.queue].tickets.get(event.ticket_id)
            if ticket is None or ticket.called_at is None or ticket.finished_at is None:
                continue
            service_s = (ticket.finished_at - ticket.called_at).total_seconds()
            running.take(
                {ticket.id: eta.ServiceSample(ticket.finished_at, service_s, ticket.service)}
            )
