"""Runs one simulated day through the real queue engine (`core.domain.queue.Queue`).

Every rule that decides who is called, what ETA a patient is given and which messages go
out is the server's own code: this module only plays the patients and the staff, moves
the clock and writes down what happened. Staff call the next patient as soon as a counter
is free, start at once when the patient is there, and mark an absent patient after
`profile.no_shows.after_s`.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from core.domain import arrivals, eta
from core.domain.events import TicketJoined
from core.domain.hourly import HourlyTally, hour_of
from core.domain.model import Counter, QueueConfig, QueueMode, Ticket, TicketStatus
from core.domain.notify import Channel
from core.domain.queue import JoinRequest, Queue
from core.domain.settle import SettledEvent, settle
from core.messages import render_notification, sms_segments, template_params
from sim.day import SimulatedPatient, draw_day
from sim.profile import Profile

STAFF = "staff:sim"
RELEARN_EVERY_S = 900.0
"""How often the learned service times are refreshed (the server caches them a while)."""
SITE = "https://nextup.example.org"
"""The link in messages; its length counts towards SMS segments like a real one."""
HISTORY_DAYS = 7
FIRST_DAY = date(2026, 3, 2)
"""A Monday; simulated days follow it."""


class Happening(enum.StrEnum):
    """What the day's clock brings: a patient arrives or comes back, a counter opens or
    closes, a visit ends, an absent patient is marked."""

    ARRIVE = "arrive"
    RETURN = "return"
    OPEN = "open"
    CLOSE = "close"
    DONE = "done"
    ABSENT = "absent"


@dataclass
class SimulatedVisit:
    """What happened to one patient, in seconds from the day's local midnight."""

    patient: SimulatedPatient
    joined_s: float
    first_call_s: float | None = None
    call_s: float | None = None
    """The last call: the one that led to the visit (the server keeps this one)."""
    finished_s: float | None = None
    status: TicketStatus = TicketStatus.WAITING
    counter: str | None = None
    position_at_join: int = 0
    eta_at_join: eta.Eta | None = None
    naive_eta_s: float | None = None
    fifo_call_s: float | None = None
    """`short_first`: when the call first come, first served would have made to this
    patient came, if it came before they were first called (None: called before it)."""
    messages: int = 0
    sms_messages: int = 0
    sms_segments: int = 0

    @property
    def wait_s(self) -> float | None:
        return None if self.call_s is None else self.call_s - self.joined_s

    @property
    def first_wait_s(self) -> float | None:
        return None if self.first_call_s is None else self.first_call_s - self.joined_s


@dataclass
class DayResult:
    day: int
    visits: list[SimulatedVisit]
    busy_s: dict[str, float]
    open_s: dict[str, float]
    line: list[tuple[float, int]]
    """(seconds, patients waiting) after every change of the line."""
    hourly: list[HourlyTally]
    """The server's hourly metric rows, built by the same rules (`core.domain.hourly`)."""
    midnight: datetime

    def local_hour(self, at: datetime) -> int:
        """Hours since the day's local midnight."""
        return int((at - self.midnight).total_seconds() // 3600)


class DaySimulation:
    """One day, one queue configuration. `run()` returns what happened."""

    def __init__(
        self,
        profile: Profile,
        config: QueueConfig,
        day: int,
        seed: int,
        *,
        detailed: bool = True,
        history: list[eta.ServiceSample] | None = None,
        arrival_history: arrivals.ArrivalHistory | None = None,
        patients: list[SimulatedPatient] | None = None,
    ) -> None:
        """`arrival_history`, the joins before the day (copied, not changed), is what a line
        that reorders learns arrival rates from; `patients`, when given, are
        `draw_day(profile, seed)` drawn already."""
        self.profile, self.config, self.day = profile, config, day
        if patients is None:
            patients = draw_day(profile, seed)
        self.patients = {f"d{day}-{p.index}": p for p in patients}
        self.detailed = detailed
        self.midnight = datetime.combine(
            FIRST_DAY + timedelta(days=day), datetime.min.time(), ZoneInfo(profile.timezone)
        ).astimezone(UTC)
        self.queue = Queue(
            code="SIM",
            prefix="A",
            config=config,
            counters={name: Counter(name, is_open=False) for name in profile.counters},
        )
        self.history = eta.ServiceHistory(config.timezone, history or ())
        self.reorders = config.mode is not QueueMode.FIFO
        """Only a line that reorders is forecast from arrival rates (as on the server)."""
        if self.reorders and arrival_history is not None:
            self.joins = arrival_history.copy()
        else:
            self.joins = arrivals.ArrivalHistory(config.timezone)
        self.visits: dict[str, SimulatedVisit] = {}
        self.absent: dict[str, Ticket] = {}
        self.came_back: set[str] = set()
        self.serving: dict[str, str | None] = {name: None for name in profile.counters}
        self.busy_s = {name: 0.0 for name in profile.counters}
        self.open_s = {name: 0.0 for name in profile.counters}
        self.opened_at_s: dict[str, float] = {}
        self.closing: set[str] = set()
        self.line: list[tuple[float, int]] = []
        self.hourly: dict[datetime, HourlyTally] = {}
        self._events: list[tuple[float, int, Happening, str]] = []
        """(when, tie-breaker, what happens, counter name or ticket id)"""
        self._handlers: dict[Happening, Callable[[str], None]] = {
            Happening.ARRIVE: self._on_arrive,
            Happening.RETURN: self._on_return,
            Happening.OPEN: self._on_open,
            Happening.CLOSE: self._on_close,
            Happening.DONE: self._on_done,
            Happening.ABSENT: self._on_absent,
        }
        self._seq = 0
        self._learned_at_s = -RELEARN_EVERY_S
        self.now_s = 0.0
        self.now = self.midnight
        """The clock as a time, `now_s` after midnight."""

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> DayResult:
        for shift in self.profile.shifts:
            self._at(shift.open_h * 3600, Happening.OPEN, shift.counter)
            self._at(shift.close_h * 3600, Happening.CLOSE, shift.counter)
        for ticket_id, patient in self.patients.items():
            self._at(patient.arrival_s, Happening.ARRIVE, ticket_id)
        while self._events:
            self.now_s, _, happening, subject = heapq.heappop(self._events)
            self.now = self.midnight + timedelta(seconds=self.now_s)
            self._handlers[happening](subject)
        for name, since_s in self.opened_at_s.items():
            self.open_s[name] += self.now_s - since_s
        return DayResult(
            self.day,
            list(self.visits.values()),
            self.busy_s,
            self.open_s,
            self.line,
            [self.hourly[hour] for hour in sorted(self.hourly)],
            self.midnight,
        )

    def _at(self, at_s: float, happening: Happening, subject: str) -> None:
        self._seq += 1
        heapq.heappush(self._events, (at_s, self._seq, happening, subject))

    # -- what patients and staff do --------------------------------------------------------

    def _on_arrive(self, ticket_id: str) -> None:
        patient = self.patients[ticket_id]
        self._relearn()
        appointment_at = (
            None
            if patient.appointment_s is None
            else self.midnight + timedelta(seconds=patient.appointment_s)
        )
        request = JoinRequest(
            ticket_id=ticket_id,
            token=ticket_id,
            priority=patient.priority,
            appointment_at=appointment_at,
            phone="+447700900000" if patient.channel == Channel.SMS else None,
            telegram_chat_id=1 if patient.channel == Channel.TELEGRAM else None,
            service=patient.recorded_kind,
        )
        ticket = self.queue.join(request, self.now, STAFF)
        lead_s = None if appointment_at is None else (appointment_at - self.now).total_seconds()
        if self.reorders:
            self.joins.add(arrivals.JoinSample(self.now, request.service, request.priority, lead_s))
        visit = SimulatedVisit(patient, self.now_s, position_at_join=ticket.position or 0)
        self.visits[ticket_id] = visit
        settled = self._commit()
        if self.detailed:
            visit.eta_at_join = next(
                s.estimate for s in settled if isinstance(s.event, TicketJoined)
            )
            visit.naive_eta_s = eta.naive_eta_s(
                visit.position_at_join, self.queue.open_counters(), self.queue.service().mean_s
            )
        self._call_at_free_counters()

    def _on_open(self, counter: str) -> None:
        self.closing.discard(counter)
        if not self.queue.counters[counter].is_open:
            self.queue.counters[counter].is_open = True
            self.opened_at_s[counter] = self.now_s
        self._call(counter)

    def _on_close(self, counter: str) -> None:
        others_open = any(c.is_open for n, c in self.queue.counters.items() if n != counter)
        if not others_open and (self.queue.size() or self.serving[counter]):
            self.closing.add(counter)  # the last counter serves the line out
            return
        self._close(counter)

    def _close(self, counter: str) -> None:
        self.closing.discard(counter)
        if self.queue.counters[counter].is_open:
            self.queue.counters[counter].is_open = False
            self.open_s[counter] += self.now_s - self.opened_at_s.pop(counter)

    def _on_done(self, counter: str) -> None:
        ticket_id = self._free(counter)
        ticket = self.queue.complete(ticket_id, self.now, STAFF)
        self._commit()
        called_at = ticket.called_at or self.now
        self.history.add(
            eta.ServiceSample(self.now, (self.now - called_at).total_seconds(), ticket.service)
        )
        self._finish(ticket)
        self._call(counter)

    def _on_absent(self, counter: str) -> None:
        ticket_id = self._free(counter)
        ticket = self.queue.mark_no_show(ticket_id, self.now, STAFF)
        self._commit()
        self._finish(ticket)
        returns_after_s = self.patients[ticket_id].returns_after_s
        if returns_after_s is not None:
            self.absent[ticket_id] = ticket
            self._at(self.now_s + returns_after_s, Happening.RETURN, ticket_id)
        self._call(counter)

    def _on_return(self, ticket_id: str) -> None:
        self.queue.tickets[ticket_id] = self.absent.pop(ticket_id)
        self.came_back.add(ticket_id)
        self.queue.return_to_line(ticket_id, self.now, STAFF)
        self.visits[ticket_id].status = TicketStatus.WAITING
        self._commit()
        self._call_at_free_counters()

    def _call_at_free_counters(self) -> None:
        for counter in self.queue.counters:
            self._call(counter)

    def _call(self, counter: str) -> None:
        if self.serving[counter] is not None or not self.queue.counters[counter].is_open:
            return
        if not self.queue.size():
            if counter in self.closing:
                self._close(counter)
            return
        self._relearn()
        ticket = self.queue.call_next(counter, self.now, STAFF)
        self._commit()
        visit = self.visits[ticket.id]
        if visit.first_call_s is None:
            visit.first_call_s = self.now_s
            if ticket.fifo_call_no is None and ticket.fifo_call_at is not None:
                # called after its turn under first come, first served came (else before)
                visit.fifo_call_s = (ticket.fifo_call_at - self.midnight).total_seconds()
        visit.call_s, visit.counter = self.now_s, counter
        self.serving[counter] = ticket.id
        patient = self.patients[ticket.id]
        if patient.no_show and ticket.id not in self.came_back:
            self._at(self.now_s + self.profile.no_shows.after_s, Happening.ABSENT, counter)
            return
        self.queue.start(ticket.id, self.now, STAFF)
        self._commit()
        self._at(self.now_s + patient.service_s, Happening.DONE, counter)

    def _free(self, counter: str) -> str:
        ticket_id = self.serving[counter]
        assert ticket_id is not None
        visit = self.visits[ticket_id]
        self.busy_s[counter] += self.now_s - (visit.call_s or self.now_s)
        self.serving[counter] = None
        return ticket_id

    def _finish(self, ticket: Ticket) -> None:
        visit = self.visits[ticket.id]
        visit.status, visit.finished_s = ticket.status, self.now_s
        del self.queue.tickets[ticket.id]

    # -- the engine's side effects -------------------------------------------------------------

    def _relearn(self) -> None:
        if not self.detailed or self.now_s - self._learned_at_s < RELEARN_EVERY_S:
            return
        self._learned_at_s = self.now_s
        config = self.config
        self.queue.service_time, self.queue.service_times_by_kind = self.history.learn(
            self.now, config.default_service_s, config.service_times_s
        )
        if self.reorders:
            self.queue.arrival_rates = self.joins.learn(self.now)

    def _commit(self) -> list[SettledEvent]:
        """What the service layer does at commit: the server's own settle step (advise the
        waiting patients, turn events into messages), whose messages are counted here, and
        the hourly row; then the length of the line is noted."""
        queue = self.queue
        settled = []
        if self.detailed:
            settled = settle([queue], queue.events, self.now)
            for item in settled:
                if item.intents:
                    self._count_messages(item)
            hour = hour_of(self.now)
            tally = self.hourly.get(hour)
            if tally is None:
                tally = self.hourly[hour] = HourlyTally(hour)
            tally.add([item.event for item in settled], queue)
        queue.events.clear()
        size = queue.size()
        if not self.line or self.line[-1][1] != size:
            self.line.append((self.now_s, size))
        return settled

    def _count_messages(self, settled: SettledEvent) -> None:
        if settled.ticket is None:
            return
        visit = self.visits[settled.ticket.id]
        for intent in settled.intents:
            visit.messages += 1
            if intent.channel is Channel.SMS:
                payload = intent.params | {
                    "queue_name": self.profile.name,
                    "token": settled.ticket.token,
                }
                params = template_params(payload, SITE)
                text = render_notification(
                    intent.kind, intent.channel, intent.params["language"], params
                )
                visit.sms_messages += 1
                visit.sms_segments += sms_segments(text.text)
