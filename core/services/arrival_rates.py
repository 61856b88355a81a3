"""Learned arrival rates kept running per queue, as `service_times` keeps service times.

Each queue's joins of the last week are read once per process into an
`arrivals.ArrivalHistory`; the joins this process commits are added as it commits them,
and the ones other processes make are asked for with a small query (joins stamped since
the newest one seen) at most every `JOIN_POLL_S`. Only the ordering modes that reorder use
the rates: a FIFO queue asks for nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.domain import arrivals
from core.domain.events import DomainEvent, TicketJoined
from core.domain.model import QueueMode
from core.domain.queue import Queue
from core.storage.queues import QueueUnitOfWork

JOIN_POLL_S = 2.0
"""How often a process asks for the joins other processes made."""
LATE_COMMIT = timedelta(minutes=5)
"""A join is stamped with its command's clock and committed a little later: a query that
reaches back this far past the newest join seen finds one committed late."""


@dataclass
class _QueueJoins:
    timezone: str
    history: arrivals.ArrivalHistory
    polled_at_s: float
    seen: dict[str, datetime] = field(default_factory=dict)
    """Ticket id -> join time, for the joins within LATE_COMMIT of the newest."""
    newest: datetime | None = None

    def take(self, samples: Mapping[str, arrivals.JoinSample]) -> None:
        for ticket_id, sample in sorted(samples.items(), key=lambda item: item[1].joined_at):
            if ticket_id in self.seen:
                continue
            self.seen[ticket_id] = sample.joined_at
            self.history.add(sample)
            if self.newest is None or sample.joined_at > self.newest:
                self.newest = sample.joined_at
        if self.newest is not None:
            oldest_kept = self.newest - LATE_COMMIT
            self.seen = {i: at for i, at in self.seen.items() if at >= oldest_kept}


class RunningArrivalRates:
    """Per queue, the learned arrival rates, kept running in this process."""

    def __init__(
        self, poll_s: float = JOIN_POLL_S, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.poll_s = poll_s
        self.monotonic = monotonic
        self._queues: dict[str, _QueueJoins] = {}

    async def learned(
        self, queue: Queue, now: datetime, uow: QueueUnitOfWork
    ) -> arrivals.ArrivalRates:
        """The queue's rates at `now` over the joins so far, as far as this process knows
        them (up to `poll_s` late for other processes' joins); none for a FIFO queue."""
        config = queue.config
        if config.mode is QueueMode.FIFO:
            return {}
        running = self._queues.get(queue.code)
        if running is None or running.timezone != config.timezone:
            running = _QueueJoins(
                config.timezone, arrivals.ArrivalHistory(config.timezone), self.monotonic()
            )
            running.take(await uow.join_samples(queue.code, now - arrivals.ARRIVAL_WINDOW))
            self._queues[queue.code] = running
        elif self.monotonic() - running.polled_at_s >= self.poll_s:
            running.polled_at_s = self.monotonic()
            since = now - arrivals.ARRIVAL_WINDOW
            if running.newest is not None:
                since = running.newest - LATE_COMMIT
            running.take(await uow.join_samples(queue.code, since))
        return running.history.learn(now)

    def committed(self, queues: Mapping[str, Queue], events: Sequence[DomainEvent]) -> None:
        """Takes in the joins a command of this process made, once it has committed."""
        for event in events:
            running = self._queues.get(event.queue)
            if running is None or not isinstance(event, TicketJoined):
                continue
            ticket = queues[event.queue].tickets.get(event.ticket_id)
            if ticket is None:
                continue
            sample = arrivals.join_sample(
                ticket.joined_at, ticket.service, ticket.priority, ticket.appointment_at
            )
            running.take({ticket.id: sample})
