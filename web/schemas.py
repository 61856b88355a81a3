"""Request bodies of the REST API; pydantic turns wrong types into clear 422s."""

from __future__ import annotations

from datetime import MAXYEAR, MINYEAR, UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from core.domain.model import MAX_LATE_S, MAX_PRIORITY, QueueMode


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


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _text_without_nul(cls, value: Any) -> Any:
        return _no_nul(value)


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


class CounterBody(Body):
    name: CounterName
    is_open: bool = True


class QueueCreateBody(Body):
    code: QueueRef
    name: str = Field(min_length=1, max_length=128)
    prefix: str = Field(pattern=r"^[A-Z0-9]{1,8}$")
    mode: QueueMode = QueueMode.FIFO
    capacity: int | None = Field(None, ge=1, le=INT32_MAX)
    overflow_queue: QueueRef | None = None
    counters: list[CounterName] = Field(default_factory=lambda: ["1"], min_length=1)


class QueuePatchBody(Body):
    name: str | None = Field(None, min_length=1, max_length=128)
    prefix: str | None = Field(None, pattern=r"^[A-Z0-9]{1,8}$")
    counters: list[CounterName | CounterBody] | None = Field(None, min_length=1)


class WeightsBody(Body):
    priority: float = Field(ge=0, le=1)
    wait_time: float = Field(ge=0, le=1)
    appointment: float = Field(ge=0, le=1)


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

    @model_validator(mode="after")
    def _null_only_where_unset_means_something(self) -> ConfigBody:
        """`null` clears capacity or overflow queue; for the rest, leave the field out."""
        nulls = sorted(
            name
            for name in self.model_fields_set - {"capacity", "overflow_queue"}
            if getattr(self, name) is None
        )
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null (leave it out to keep it)")
        return self


class CallNextBody(Body):
    counter: CounterName


class TicketActionBody(Body):
    counter: CounterName | None = None
    queue: QueueRef | None = None
