"""Request bodies of the REST API; pydantic turns wrong types into clear 422s."""

from __future__ import annotations

from datetime import MAXYEAR, MINYEAR, UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from core.domain.broadcast import MAX_BROADCAST_CHARS, MAX_BROADCAST_SMS_SEGMENTS, Audience
from core.domain.ladder import DEFAULT_CALL_LADDER, MAX_RUNG_S, MAX_RUNGS, MIN_RUNG_S, Step
from core.domain.model import (
    MAX_FAIRNESS_CAP_S,
    MAX_LATE_S,
    MAX_PAUSE_MESSAGE,
    MAX_PRIORITY,
    MAX_PUBLIC_NAME,
    MAX_SERVICE_S,
    MAX_SERVICES,
    MIN_FAIRNESS_CAP_S,
    SERVICE_NAME,
    OnClose,
    QueueConfig,
    QueueMode,
)


def check_time(value: datetime) -> datetime:
    """A time from a client: with a zone, and storable in UTC with a year to spare either
    side for arithmetic (`until - 1 day`)."""
    if value.tzinfo is None:
        raise ValueError("must include a time zone, e.g. 2026-03-02T09:30:00+01:00")
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = MINYEAR
    if not MINYEAR < year < MAXYEAR:
        raise ValueError("is out of range")
    return value


def _no_nul(value: Any) -> Any:
    """PostgreSQL cannot store NUL in text, so it is bad input rather than a server error."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if isinstance(value, list):
        for item in value:
            _no_nul(item)
    return value


INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
AwareDatetime = Annotated[datetime, AfterValidator(check_time)]
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
QueueRef = Annotated[Code, AfterValidator(str.upper)]
"""A queue code as other queues are referred to; codes are kept in capitals."""
CounterName = Annotated[str, Field(min_length=1, max_length=32)]
ServiceName = Annotated[str, Field(pattern=f"^{SERVICE_NAME.pattern}$")]
ServiceTimes = Annotated[
    dict[ServiceName, Annotated[int, Field(ge=1, le=MAX_SERVICE_S)]],
    Field(
        max_length=MAX_SERVICES,
        description="Kinds of visit the queue offers, each with the seconds it is expected "
        "to take before any has been measured, e.g. "
        '`{"pickup": 120, "consultation": 720}`. `{}`: one kind, `default_service_s`.',
    ),
]
PUBLIC_NAME = (
    "What patients read the queue called: every message and reply, the waiting-room "
    "display, the patient page, the join form and the poster (a clinic's real name may "
    "itself be health information). Unset (null or blank): the queue's code. At most "
    f"{MAX_PUBLIC_NAME} characters a plain SMS carries (GSM-7), so texts stay one segment."
)
FAIRNESS_CAP = (
    "In `short_first` mode: nobody is called later than this past the call first come, "
    "first served (a higher priority first) would have made to them. Keep it at least as "
    "long as a long visit can take: a patient whose turn comes is then passed only while "
    "that still holds."
)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _text_without_nul(cls, value: Any) -> Any:
        return _no_nul(value)


CALL_LADDER = (
    "What follows a call the patient does not answer, in order: `sms` (the call again by "
    "text, when a phone is known and the call did not go by SMS), `voice` (a Twilio voice "
    "call saying the number and counter, when NEXTUP_TWILIO_VOICE_FROM is set) and "
    "`unreachable` (last: the board marks the ticket). Each is taken `after_s` seconds after "
    "the one before went out unanswered (the call, for the first), at once when that one "
    "could not be delivered or the voice call rang out; a step the patient cannot get is "
    "left out. `[]`: nothing follows a call."
)


class LadderRungBody(Body):
    step: Step
    after_s: int = Field(ge=MIN_RUNG_S, le=MAX_RUNG_S)


def default_ladder() -> list[LadderRungBody]:
    return [LadderRungBody(step=r.step, after_s=r.after_s) for r in DEFAULT_CALL_LADDER]


FORCE = (
    "Add the patient even while the queue is closed, paused or closing (a walk-in at the "
    "counter); the joined event in the ticket's history records `forced`."
)


class JoinBody(Body):
    priority: int = Field(0, ge=0, le=MAX_PRIORITY)
    appointment_at: AwareDatetime | None = None
    name: str | None = Field(None, max_length=128)
    phone: str | None = Field(
        None,
        pattern=r"^\+?[0-9 ()-]{6,20}$",
        description="Stored in E.164; a number without +country code is read as local to "
        "NEXTUP_PHONE_REGION. The patient gets SMS when no Telegram chat is given.",
    )
    telegram_chat_id: int | None = Field(None, ge=-INT64_MAX, le=INT64_MAX)
    language: str | None = Field(None, pattern=r"^[a-z]{2}(-[A-Za-z]{2})?$")
    travel_s: int | None = Field(None, ge=60, le=MAX_LATE_S)
    """How long the patient needs to come back; a "leave now" message is sent in time."""
    service: str | None = Field(
        None,
        max_length=32,
        description="The kind of visit, one of the queue's `service_times_s`; "
        "left out when not known.",
    )
    force: bool = Field(False, description=FORCE)


class CounterBody(Body):
    name: CounterName
    is_open: bool = True


class QueueCreateBody(Body):
    code: QueueRef
    name: str = Field(min_length=1, max_length=128)
    public_name: str | None = Field(None, max_length=MAX_PUBLIC_NAME, description=PUBLIC_NAME)
    prefix: str = Field(pattern=r"^[A-Z0-9]{1,8}$")
    mode: QueueMode = QueueMode.FIFO
    capacity: int | None = Field(None, ge=1, le=INT32_MAX)
    overflow_queue: QueueRef | None = None
    counters: list[CounterName] = Field(default_factory=lambda: ["1"], min_length=1)
    service_times_s: ServiceTimes = Field(default_factory=dict)
    fairness_cap_s: int = Field(
        QueueConfig().fairness_cap_s,
        ge=MIN_FAIRNESS_CAP_S,
        le=MAX_FAIRNESS_CAP_S,
        description=FAIRNESS_CAP,
    )
    call_ladder: list[LadderRungBody] = Field(
        default_factory=default_ladder, max_length=MAX_RUNGS, description=CALL_LADDER
    )


class BroadcastBody(Body):
    text: str = Field(
        min_length=1,
        max_length=MAX_BROADCAST_CHARS,
        description="What every patient addressed reads, on Telegram or by SMS, after the "
        "queue's name and their ticket number. Refused (422 `broadcast_too_long`, with "
        f"`segments`) when a patient reached by SMS would get more than "
        f"{MAX_BROADCAST_SMS_SEGMENTS} segments.",
    )
    to: Audience = Field(
        Audience.WAITING,
        description="`waiting`: the patients in line; `all`: also those called and at a counter.",
    )


class QueuePatchBody(Body):
    name: str | None = Field(None, min_length=1, max_length=128)
    public_name: str | None = Field(
        None, max_length=MAX_PUBLIC_NAME, description=PUBLIC_NAME + " null clears it."
    )
    prefix: str | None = Field(None, pattern=r"^[A-Z0-9]{1,8}$")
    counters: list[CounterName | CounterBody] | None = Field(None, min_length=1)
    mode: QueueMode | None = None
    service_times_s: ServiceTimes | None = None
    fairness_cap_s: int | None = Field(
        None, ge=MIN_FAIRNESS_CAP_S, le=MAX_FAIRNESS_CAP_S, description=FAIRNESS_CAP
    )

    @model_validator(mode="after")
    def _no_null_settings(self) -> QueuePatchBody:
        """A null name, prefix or counters changes nothing (as before settings came here)."""
        return _refuse_nulls(self, PATCHED_SETTINGS)

    def config_changes(self) -> dict[str, Any]:
        """The fields that belong to the queue's configuration, as sent."""
        return self.model_dump(include=PATCHED_SETTINGS, exclude_unset=True)


class WeightsBody(Body):
    priority: float = Field(ge=0, le=1)
    wait_time: float = Field(ge=0, le=1)
    appointment: float = Field(ge=0, le=1)


OPENING_HOURS = (
    "When the queue takes patients, in its `timezone`: weekdays (`mon` ... `sun`) to lists "
    'of `["HH:MM", "HH:MM"]` intervals, e.g. `{"mon": [["08:00", "13:00"], ["14:00", '
    '"18:00"]], "sun": []}`. A weekday left out is closed all day. An interval whose end '
    'is not after its start spans midnight (`["22:00", "02:00"]`) and belongs to the day '
    "it starts. On a day the clocks change, a time that does not exist is read as late "
    "after the jump as it was meant (02:30 is 03:30) and a time that happens twice is the "
    "first. Intervals must not overlap. `null`: always open. A join while closed is refused "
    "with `queue_closed`."
)
CLOSURES = (
    "Dates the queue is shut all day (`YYYY-MM-DD`, in its time zone), holidays say; an "
    "interval starting on such a date is shut too. At most 366."
)
REFUSE_PAST_CLOSING = (
    "Refuse a join (`queue_closing`) when the patient's forecast call time (`eta_s` from "
    "now) falls after the current open period closes."
)
ON_CLOSE = (
    "What closing time does to patients still waiting: `serve_remaining` (no new joins, "
    "the line is still called) or `close_remaining` (each is told and their ticket ends "
    "`closed`)."
)


class ConfigBody(Body):
    """Fields left out keep their current value."""

    weights: WeightsBody | None = None
    mode: QueueMode | None = None
    capacity: int | None = Field(None, ge=1, le=INT32_MAX)
    overflow_queue: QueueRef | None = None
    notify_positions: list[int] | None = Field(None, max_length=10)
    no_show_grace_s: int | None = Field(None, ge=0, le=86400)
    default_service_s: int | None = Field(None, ge=1, le=86400)
    wait_horizon_s: int | None = Field(None, ge=60, le=86400)
    appointment_window_s: int | None = Field(None, ge=0, le=86400)
    timezone: str | None = None
    language: str | None = Field(None, pattern=r"^[a-z]{2}(-[A-Za-z]{2})?$")
    eta_change_margin_s: int | None = Field(None, ge=60, le=86400)
    eta_update_interval_s: int | None = Field(None, ge=60, le=86400)
    wait_alert_s: int | None = Field(None, ge=60, le=86400)
    service_times_s: ServiceTimes | None = None
    fairness_cap_s: int | None = Field(
        None, ge=MIN_FAIRNESS_CAP_S, le=MAX_FAIRNESS_CAP_S, description=FAIRNESS_CAP
    )
    call_ladder: list[LadderRungBody] | None = Field(
        None, max_length=MAX_RUNGS, description=CALL_LADDER
    )
    opening_hours: dict[str, list[list[str]]] | None = Field(
        None, max_length=7, description=OPENING_HOURS
    )
    closures: list[str] | None = Field(None, max_length=366, description=CLOSURES)
    refuse_past_closing: bool | None = Field(None, description=REFUSE_PAST_CLOSING)
    on_close: OnClose | None = Field(None, description=ON_CLOSE)

    @model_validator(mode="after")
    def _null_only_where_unset_means_something(self) -> ConfigBody:
        """`null` clears capacity, overflow queue or opening hours; for the rest, leave the
        field out."""
        return _refuse_nulls(
            self, set(ConfigBody.model_fields) - {"capacity", "overflow_queue", "opening_hours"}
        )


PATCHED_SETTINGS = {"mode", "service_times_s", "fairness_cap_s"}
"""Settings a queue's PATCH may change as well as its configuration's PUT."""
B = TypeVar("B", bound=BaseModel)


def _refuse_nulls(body: B, settings: set[str]) -> B:
    """A setting sent as null is refused: leaving it out keeps it."""
    nulls = sorted(name for name in body.model_fields_set & settings if getattr(body, name) is None)
    if nulls:
        raise ValueError(f"{', '.join(nulls)} cannot be null (leave it out to keep it)")
    return body


class PauseBody(Body):
    message: str | None = Field(
        None,
        max_length=MAX_PAUSE_MESSAGE,
        description="What patients who try to join are told (the bot, SMS, the pages); "
        "left out: only that the queue is paused.",
    )


class CallNextBody(Body):
    counter: CounterName


class TicketActionBody(Body):
    counter: CounterName | None = None
    queue: QueueRef | None = None


class PrivacySubjectBody(Body):
    """The person an access or erasure request is about: one of the two."""

    phone: str | None = Field(
        None,
        pattern=r"^\+?[0-9 ()-]{6,20}$",
        description="Their number, as patients give it (read as a join's `phone` is).",
    )
    telegram_chat_id: int | None = Field(None, ge=-INT64_MAX, le=INT64_MAX)

    @model_validator(mode="after")
    def _one_of_them(self) -> PrivacySubjectBody:
        if (self.phone is None) == (self.telegram_chat_id is None):
            raise ValueError("give phone or telegram_chat_id (one of them)")
        return self
