"""The call ladder: how a call nobody answers climbs from the patient's channel to an SMS,
then a voice call, then "unreachable" on the board.

A queue's ladder is a list of rungs, each a step and a delay: the step is taken when the
rung before it (the call itself, for the first) went out `after_s` ago and the patient has
not answered; at once when the rung before could not be delivered at all, or the voice call
rang out (busy, no answer). The last rung may be `unreachable`: staff see that nobody
could be reached, and decide before the no-show grace ends. A step the patient cannot get
(no phone; SMS when the call itself went by SMS; voice when it is not set up) is left out,
and the next rung takes its place.

Pure: the records of one call in, the step due now out. The dispatcher asks it on every
pass and writes each step once (an idempotency key per call and step).
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.domain.errors import InvalidValue

MIN_RUNG_S = 1
MAX_RUNG_S = 3600
MAX_RUNGS = 3


class Step(enum.StrEnum):
    SMS = "sms"
    VOICE = "voice"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class Rung:
    step: Step
    after_s: int
    """How long after the rung before it (the call, for the first) went out unanswered."""

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step.value, "after_s": self.after_s}


DEFAULT_CALL_LADDER: tuple[Rung, ...] = (
    Rung(Step.SMS, 60),
    Rung(Step.VOICE, 60),
    Rung(Step.UNREACHABLE, 90),
)
"""SMS a minute after the call, a voice call a minute later, "unreachable" a minute and a
half after that (a call rings for up to a minute): three and a half minutes in all, inside
the default no-show grace of five, so staff still have time to decide."""


def ladder_from(raw: Iterable[Mapping[str, Any]]) -> tuple[Rung, ...]:
    """A ladder from its stored or posted form, checked."""
    rungs = []
    for item in raw:
        try:
            step = Step(item["step"])
            after_s = int(item["after_s"])
        except (KeyError, ValueError, TypeError):
            raise InvalidValue(
                "a call ladder rung is {'step': 'sms'|'voice'|'unreachable', 'after_s': N}"
            ) from None
        rungs.append(Rung(step, after_s))
    check_ladder(rungs)
    return tuple(rungs)


def check_ladder(rungs: Sequence[Rung]) -> None:
    steps = [r.step for r in rungs]
    if len(rungs) > MAX_RUNGS or len(set(steps)) != len(steps):
        raise InvalidValue("a call ladder takes each step (sms, voice, unreachable) at most once")
    if Step.UNREACHABLE in steps[:-1]:
        raise InvalidValue("'unreachable' can only be the last rung of the call ladder")
    for rung in rungs:
        if not MIN_RUNG_S <= rung.after_s <= MAX_RUNG_S:
            raise InvalidValue(
                f"call ladder delays must be between {MIN_RUNG_S} and {MAX_RUNG_S} seconds"
            )


class Outcome(enum.StrEnum):
    """Where one rung's message stands, as far as the ladder cares."""

    PENDING = "pending"
    """Not out yet (queued, being sent), or a voice call ringing or in progress."""
    SENT = "sent"
    """Out, with no answer: the next rung's delay runs from `at`."""
    FAILED = "failed"
    """Could not reach the patient (undeliverable, busy, no answer): the next rung is due."""
    REACHED = "reached"
    """A voice call was answered: the patient heard the call; the ladder stops."""


@dataclass(frozen=True)
class StepRecord:
    outcome: Outcome
    at: datetime | None = None
    """When it went out (SENT)."""


VOICE_RINGING = frozenset({"ringing", "in-progress"})
VOICE_REACHED = frozenset({"completed"})
VOICE_NOT_REACHED = frozenset({"busy", "no-answer", "failed", "canceled"})
MESSAGE_NOT_DELIVERED = frozenset({"failed", "undelivered"})
"""Twilio's statuses (calls, then messages) as the ladder reads them."""


def outcome_of(
    channel: str, status: str, provider_status: str | None, sent_at: datetime | None
) -> StepRecord:
    """A rung's outbox record (our `status`, the provider's) as the ladder sees it."""
    if status in ("failed", "suppressed"):
        return StepRecord(Outcome.FAILED)
    if status not in ("sent", "acknowledged"):
        return StepRecord(Outcome.PENDING)
    if channel == "voice":
        if provider_status in VOICE_REACHED:
            return StepRecord(Outcome.REACHED)
        if provider_status in VOICE_NOT_REACHED:
            return StepRecord(Outcome.FAILED)
        if provider_status in VOICE_RINGING:
            return StepRecord(Outcome.PENDING)
    elif provider_status in MESSAGE_NOT_DELIVERED:
        return StepRecord(Outcome.FAILED)
    return StepRecord(Outcome.SENT, sent_at)


def plan(
    ladder: Sequence[Rung], first_channel: str, has_phone: bool, channels: Collection[str]
) -> list[Rung]:
    """The rungs this patient can be given: SMS and voice need a phone and their channel
    (`channels`: those set up), and no SMS follows a call that went by SMS."""

    def possible(rung: Rung) -> bool:
        if rung.step is Step.UNREACHABLE:
            return True
        if not has_phone or rung.step.value not in channels:
            return False
        return not (rung.step is Step.SMS and first_channel == "sms")

    return [rung for rung in ladder if possible(rung)]


def due_step(
    rungs: Sequence[Rung],
    call: StepRecord,
    records: Mapping[Step, StepRecord],
    answered: bool,
    now: datetime,
) -> Step | None:
    """The step to take now for one call, if any.

    `rungs`: the patient's `plan`; `call`: the call's own message; `records`: the steps
    taken so far (UNREACHABLE once marked); `answered`: the patient acknowledged this call.
    """
    if answered:
        return None
    before = call
    for rung in rungs:
        record = records.get(rung.step)
        if record is None:
            return rung.step if _due(before, rung, now) else None
        if record.outcome is Outcome.REACHED:
            return None
        before = record
    return None


def _due(before: StepRecord, rung: Rung, now: datetime) -> bool:
    if before.outcome is Outcome.FAILED:
        return True
    if before.outcome is not Outcome.SENT or before.at is None:
        return False
    return now >= before.at + timedelta(seconds=rung.after_s)
