"""Hourly metric rows: what one committed command adds to its queue's current hour.

The server (the unit of work, table `hourly_metrics`) and the simulator both build their
rows with `HourlyTally`, so a figure means the same thing in both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.domain.events import (
    DomainEvent,
    TicketCalled,
    TicketCancelled,
    TicketCompleted,
    TicketJoined,
    TicketMarkedNoShow,
    TicketTransferredIn,
)

if TYPE_CHECKING:
    from core.domain.queue import Queue


PEAK_FIGURES = frozenset({"wait_s_max", "peak_size"})
"""The figures of a tally that keep the larger of two values when tallies are combined;
every other figure (but the hour itself) adds up."""


def hour_of(now: datetime) -> datetime:
    """The start of the UTC hour `now` falls in: the key of its hourly row."""
    if now.tzinfo is None:
        raise ValueError("hour_of needs an aware datetime; got a naive one")
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class HourlyTally:
    """One queue's figures for one UTC hour, summed over the commands committed in it.

    - `hour_start`: the UTC hour (see `hour_of`); every command committed in
      [hour_start, hour_start + 1 h) adds to this row.
    - `joined`: tickets that entered the line: joins and transfers in from another queue.
    - `called`: calls from the line (a recall of a called ticket is not a new call; a ticket
      returned to the line and called again counts again).
    - `completed`, `no_shows`, `cancelled`: tickets that ended so in this hour.
    - `wait_s_sum`, `wait_s_max`: join -> this call, over the calls of this hour. A
      transferred ticket keeps its original join time, so its wait includes the first queue.
    - `service_s_sum`: call -> done (the time a counter was taken), over the completions
      of this hour.
    - `peak_size`, `size_sum`, `size_samples`: the number of waiting tickets, sampled once
      after every committed command that touched the queue (not sampled over time: a quiet
      hour has few samples).
    """

    hour_start: datetime
    joined: int = 0
    called: int = 0
    completed: int = 0
    no_shows: int = 0
    cancelled: int = 0
    wait_s_sum: float = 0.0
    wait_s_max: float = 0.0
    service_s_sum: float = 0.0
    peak_size: int = 0
    size_sum: int = 0
    size_samples: int = 0

    @classmethod
    def of_record(cls, record: object) -> HourlyTally:
        """A tally from anything with the same attribute names (a stored row, for instance)."""
        return cls(**{f.name: getattr(record, f.name) for f in dataclasses.fields(cls)})

    def figures(self) -> dict[str, Any]:
        """Every field by name, to write back onto a stored row."""
        return dataclasses.asdict(self)

    def add(self, events: Iterable[DomainEvent], queue: Queue) -> None:
        """Applies one committed command: its events for `queue`, then a sample of the size.

        `queue` is the queue after the command; its tickets give the join time of those
        called. Events of other queues are ignored, so a command's whole event list may be
        passed. The caller picks the tally of `hour_of(now)` for the command's time.
        """
        for event in events:
            if event.queue != queue.code:
                continue
            if isinstance(event, TicketJoined | TicketTransferredIn):
                self.joined += 1
            elif isinstance(event, TicketCalled):
                ticket = queue.tickets.get(event.ticket_id)
                if ticket is not None:
                    wait_s = (event.at - ticket.joined_at).total_seconds()
                    self.called += 1
                    self.wait_s_sum += wait_s
                    self.wait_s_max = max(self.wait_s_max, wait_s)
            elif isinstance(event, TicketCompleted):
                self.completed += 1
                self.service_s_sum += event.service_s
            elif isinstance(event, TicketMarkedNoShow):
                self.no_shows += 1
            elif isinstance(event, TicketCancelled):
                self.cancelled += 1
        self.sample_size(queue.size())

    def merge(self, other: HourlyTally) -> None:
        """Adds another tally of the same length of time (the same hour of another day):
        counts and sums add up, maxima and peaks take the larger."""
        for field in dataclasses.fields(self):
            if field.name == "hour_start":
                continue
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            combined = max(mine, theirs) if field.name in PEAK_FIGURES else mine + theirs
            setattr(self, field.name, combined)

    def sample_size(self, size: int) -> None:
        """One sample of the waiting line's size."""
        self.peak_size = max(self.peak_size, size)
        self.size_sum += size
        self.size_samples += 1

    # Averages are 0.0, not None, when there is nothing to average: the API has always
    # shown 0.0 for an hour without calls, completions or samples.

    @property
    def avg_wait_s(self) -> float:
        """Mean join -> call over this hour's calls; 0.0 without calls."""
        return self.wait_s_sum / self.called if self.called else 0.0

    @property
    def avg_service_s(self) -> float:
        """Mean call -> done over this hour's completions; 0.0 without completions."""
        return self.service_s_sum / self.completed if self.completed else 0.0

    @property
    def avg_size(self) -> float:
        """Mean sampled line size; 0.0 without samples."""
        return self.size_sum / self.size_samples if self.size_samples else 0.0
