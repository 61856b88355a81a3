"""Value types of the queue domain."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.domain.errors import InvalidValue
from core.domain.hours import OpeningHours, Schedule
from core.domain.ladder import DEFAULT_CALL_LADDER, Rung, check_ladder

QUEUE_CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")
SERVICE_NAME = re.compile(r"[a-z0-9_-]{1,32}")
MAX_SERVICES = 12
MAX_SERVICE_S = 8 * 3600
MIN_FAIRNESS_CAP_S = 60
MAX_FAIRNESS_CAP_S = 4 * 3600
MAX_PRIORITY = 3
"""0 routine, 1 elevated (elderly, pregnant, disabled), 2 urgent, 3 emergency."""
MAX_LATE = 2
"""How often a patient may say "I'm running late" on one ticket."""
MAX_LATE_S = 120 * 60
MAX_RATING = 5
MIN_WAIT_ALERT_S = 60
MAX_WAIT_ALERT_S = 24 * 3600


MAX_PUBLIC_NAME = 20
"""Characters of a queue's public name: the SMS templates hold one GSM-7 segment with a name
this long (tests/messages)."""


def shown_queue_name(code: str, public_name: str | None) -> str:
    """What patients read a queue called, in every message, on the waiting-room display,
    the patient page and the poster: its public name, else its code. Never its real name
    (for staff): "Sexual health clinic" on a lock screen tells more than a patient chose to.
    The code is no secret: patients text it (JOIN PHARM) and it is on the poster."""
    return public_name or code


class TicketStatus(enum.StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    DONE = "done"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    CLOSED = "closed"
    """Still waiting when the queue closed for the day, with `on_close: close_remaining`:
    the patient was told, and the visit ended without being seen."""


class TicketAction(enum.StrEnum):
    """What staff (or a patient leaving) can do to a ticket: the keys of `queue.TRANSITIONS`."""

    CALL = "call"
    RECALL = "recall"
    START = "start"
    COMPLETE = "complete"
    NO_SHOW = "no-show"
    CANCEL = "cancel"
    RETURN = "return"
    TRANSFER = "transfer"


LIVE_STATUSES = frozenset({TicketStatus.WAITING, TicketStatus.CALLED, TicketStatus.SERVING})
AT_COUNTER_STATUSES = frozenset({TicketStatus.CALLED, TicketStatus.SERVING})


class OnClose(enum.StrEnum):
    """What closing time does to the patients still waiting."""

    SERVE_REMAINING = "serve_remaining"
    """Joins are refused; the line is still called until it is empty."""
    CLOSE_REMAINING = "close_remaining"
    """Each waiting patient is told and their ticket ends `closed`."""


class QueueMode(enum.StrEnum):
    FIFO = "fifo"
    DYNAMIC = "dynamic"
    SHORT_FIRST = "short_first"
    """Shortest expected service first, within priority; nobody is passed over for more
    than `fairness_cap_s` by later patients of the same or a lower priority."""


@dataclass(frozen=True)
class Weights:
    """Weights of the dynamic score; each factor is normalised to [0, 1] before weighting."""

    priority: float = 0.5
    wait_time: float = 0.3
    appointment: float = 0.2

    def __post_init__(self) -> None:
        for name in ("priority", "wait_time", "appointment"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidValue(f"weight {name} must be between 0 and 1, got {value}")
        if self.priority + self.wait_time + self.appointment <= 0:
            raise InvalidValue("at least one weight must be above 0")


@dataclass(frozen=True)
class QueueConfig:
    """Per-queue configuration; every duration carries its unit."""

    mode: QueueMode = QueueMode.FIFO
    weights: Weights = field(default_factory=Weights)
    capacity: int | None = None
    overflow_queue: str | None = None
    notify_positions: tuple[int, ...] = (3, 1)
    no_show_grace_s: int = 300
    default_service_s: int = 300
    wait_horizon_s: int = 3600
    appointment_window_s: int = 1800
    timezone: str = "UTC"
    language: str = "en"
    eta_change_margin_s: int = 600
    """A new ETA is announced only when it moved at least this much since the last one..."""
    eta_update_interval_s: int = 900
    """...and at most once per this interval, so patients are not flooded."""
    wait_alert_s: int = 3600
    """The console's board raises an alert once the longest current wait passes this."""
    service_times_s: Mapping[str, int] = field(default_factory=dict)
    """Kinds of visit this queue offers (`pickup`, `consultation`) and the expected time at
    the counter for each before any has been measured. Empty: one kind, `default_service_s`."""
    fairness_cap_s: int = 1200
    """In `short_first` mode: once this long has gone by since first come, first served
    would have called a patient (`Ticket.fifo_call_at`), nobody who joined later is called
    before them."""
    call_ladder: tuple[Rung, ...] = DEFAULT_CALL_LADDER
    """What follows a call nobody answers: an SMS, a voice call, "unreachable" on the board
    (`core.domain.ladder`). Empty: nothing follows."""
    opening_hours: OpeningHours | None = None
    """When the queue takes patients, per weekday in `timezone` (`core.domain.hours`).
    None: always open."""
    closures: tuple[date, ...] = ()
    """Local dates the queue is shut all day (an interval starting that day included)."""
    refuse_past_closing: bool = True
    """A join whose forecast call time falls after the open period closes is refused
    (`queue_closing`) rather than promised a call that will not come."""
    on_close: OnClose = OnClose.SERVE_REMAINING

    def schedule(self) -> Schedule:
        """The hours and closures in the queue's zone, to ask whether it is open."""
        return Schedule(self.opening_hours, self.closures, ZoneInfo(self.timezone))

    def __post_init__(self) -> None:
        if self.capacity is not None and self.capacity < 1:
            raise InvalidValue("capacity must be at least 1 (or unset for no limit)")
        if any(p < 1 for p in self.notify_positions):
            raise InvalidValue("notification positions must be 1 or more")
        for name in (
            "no_show_grace_s",
            "default_service_s",
            "wait_horizon_s",
            "appointment_window_s",
            "eta_change_margin_s",
            "eta_update_interval_s",
        ):
            if getattr(self, name) < 0:
                raise InvalidValue(f"{name} must not be negative")
        if self.default_service_s == 0 or self.wait_horizon_s == 0:
            raise InvalidValue("default_service_s and wait_horizon_s must be above 0")
        if not MIN_WAIT_ALERT_S <= self.wait_alert_s <= MAX_WAIT_ALERT_S:
            raise InvalidValue(
                f"wait_alert_s must be between {MIN_WAIT_ALERT_S} and {MAX_WAIT_ALERT_S}"
            )
        check_service_times(self.service_times_s)
        if not MIN_FAIRNESS_CAP_S <= self.fairness_cap_s <= MAX_FAIRNESS_CAP_S:
            raise InvalidValue(
                f"fairness_cap_s must be between {MIN_FAIRNESS_CAP_S} and {MAX_FAIRNESS_CAP_S}"
            )
        check_ladder(self.call_ladder)
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory, say
            raise InvalidValue(f"unknown time zone {self.timezone!r} (use an IANA name)") from None


@dataclass(frozen=True)
class Pause:
    """Joins stopped by staff until they resume them: since when, by whom, and what
    patients who try to join are told."""

    at: datetime
    by: str
    message: str | None = None


MAX_PAUSE_MESSAGE = 160


@dataclass
class Counter:
    name: str
    is_open: bool = True


@dataclass
class Ticket:
    """A patient's place in one queue. `line_at` orders the line; `joined_at` measures the wait."""

    id: str
    queue: str
    number: str
    seq: int
    token: str
    joined_at: datetime
    line_at: datetime
    status: TicketStatus = TicketStatus.WAITING
    priority: int = 0
    appointment_at: datetime | None = None
    position: int | None = None
    """Place in the waiting line, 1 first; derived by ranking the line (`Queue.rank`),
    never stored. None when not waiting."""
    counter: str | None = None
    called_at: datetime | None = None
    recalled_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    recall_count: int = 0
    name: str | None = None
    phone: str | None = None
    telegram_chat_id: int | None = None
    language: str | None = None
    late_count: int = 0
    travel_s: int | None = None
    """How long the patient said it takes them to come back; drives "leave now"."""
    announced_eta_s: int | None = None
    """The ETA the patient was last told, and when: the base for "ETA changed" messages."""
    announced_at: datetime | None = None
    leave_now_sent: bool = False
    acknowledged_at: datetime | None = None
    """When the patient answered a call with "I'm on my way"."""
    unreachable_at: datetime | None = None
    """When the call ladder ran out without reaching the patient (`core.domain.ladder`);
    cleared by a new call or an answer."""
    rating: int | None = None
    service: str | None = None
    """The kind of visit (a key of the queue's `service_times_s`), or None when unknown."""
    fifo_call_at: datetime | None = None
    """When first come, first served calls this patient: estimated when they take their
    place in line, then the moment it did (`fifo_call_no`). The base of the fairness cap in
    `short_first` mode."""
    fifo_call_no: int | None = None
    """Which of the queue's calls (`Queue.calls_made`) first come, first served makes to
    this patient: one more than the calls made and the patients ahead when they took their
    place. None once that call has been made (whoever it went to): `fifo_call_at` is then
    when."""
    told_position: int | None = None
    """The place in line the patient was last told by a message that states it (joined,
    getting close, a new ETA ...): "getting close" is sent when they come nearer than it."""

    def __post_init__(self) -> None:
        check_priority(self.priority)


def ticket_copy(ticket: Ticket) -> Ticket:
    """A copy of `ticket` that changes to it leave alone (made without `__init__`: its
    values were checked when it was made)."""
    kept = object.__new__(Ticket)
    kept.__dict__ = ticket.__dict__.copy()
    return kept


def check_priority(priority: int) -> None:
    if not 0 <= priority <= MAX_PRIORITY:
        raise InvalidValue(f"priority must be between 0 and {MAX_PRIORITY}, got {priority}")


def check_service_times(service_times_s: Mapping[str, int]) -> None:
    if len(service_times_s) > MAX_SERVICES:
        raise InvalidValue(f"a queue offers at most {MAX_SERVICES} kinds of visit")
    for name, seconds in service_times_s.items():
        if not SERVICE_NAME.fullmatch(name):
            raise InvalidValue(
                f"kind of visit {name!r}: use 1-32 lower-case letters, digits, - or _"
            )
        if not 1 <= seconds <= MAX_SERVICE_S:
            raise InvalidValue(
                f"expected time of {name!r} must be between 1 and {MAX_SERVICE_S} seconds"
            )


def format_number(prefix: str, seq: int) -> str:
    """Ticket number shown to people: prefix and a zero-padded daily counter, e.g. `A-042`."""
    return f"{prefix}-{seq:03d}"


def queue_code(raw: str | None) -> str | None:
    """An upper-cased queue code as a patient typed it, or None when it cannot be one (so
    no lookup is made)."""
    if raw is None or not QUEUE_CODE.fullmatch(raw):
        return None
    return raw.upper()
