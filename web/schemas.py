"""Request bodies of the REST API; pydantic turns wrong types into clear 422s."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from core.domain.model import MAX_PRIORITY, QueueMode


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("must include a time zone, e.g. 2026-03-02T09:30:00+01:00")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
CounterName = Annotated[str, Field(min_length=1, max_length=32)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class JoinBody(Body):
    priority: int = Field(0, ge=0, le=MAX_PRIORITY)
    appointment_at: AwareDatetime | None = None
    name: str | None = Field(None, max_length=128)
    phone: str | None = Field(None, pattern=r"^\+?[0-9 ()-]{6,20}$")
    telegram_chat_id: int | None = None
    language: str | None = Field(None, pattern=r"^[a-z]{2}(-[A-Za-z]{2})?$")


class CounterBody(Body):
    name: CounterName
    is_open: bool = True


class QueueCreateBody(Body):
    code: Code
    name: str = Field(min_length=1, max_length=128)
    prefix: str = Field(pattern=r"^[A-Z0-9]{1,8}$")
    mode: QueueMode = QueueMode.FIFO
    capacity: int | None = Field(None, ge=1)
    overflow_queue: Code | None = None
    counters: list[CounterName] = Field(default_factory=lambda: ["1"], min_length=1)


class QueuePatchBody(Body):
    name: str | None = Field(None, min_length=1, max_length=128)
    prefix: str | None = Field(None, pattern=r"^[A-Z0-9]{1,8}$")
    counters: list[CounterName | CounterBody] | None = None


class WeightsBody(Body):
    priority: float = Field(ge=0, le=1)
    wait_time: float = Field(ge=0, le=1)
    appointment: float = Field(ge=0, le=1)


class ConfigBody(Body):
    """Fields left out keep their current value."""

    weights: WeightsBody | None = None
    mode: QueueMode | None = None
    capacity: int | None = Field(None, ge=1)
    overflow_queue: Code | None = None
    notify_positions: list[int] | None = Field(None, max_length=10)
    no_show_grace_s: int | None = Field(None, ge=0, le=86400)
    default_service_s: int | None = Field(None, ge=1, le=86400)
    wait_horizon_s: int | None = Field(None, ge=60, le=86400)
    appointment_window_s: int | None = Field(None, ge=0, le=86400)
    timezone: str | None = None
    language: str | None = Field(None, pattern=r"^[a-z]{2}(-[A-Za-z]{2})?$")


class CallNextBody(Body):
    counter: CounterName


class TicketActionBody(Body):
    counter: CounterName | None = None
    queue: Code | None = None
