"""The call ladder's decision, pure: given a call, the queue's rungs and the records so far,
which step is due now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.domain.errors import InvalidValue
from core.domain.ladder import (
    DEFAULT_CALL_LADDER,
    Outcome,
    Rung,
    Step,
    StepRecord,
    due_step,
    ladder_from,
    outcome_of,
    plan,
)
from core.domain.model import QueueConfig

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LADDER = (Rung(Step.SMS, 60), Rung(Step.VOICE, 120), Rung(Step.UNREACHABLE, 90))
ALL = frozenset({"sms", "voice"})


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def sent(s: float) -> StepRecord:
    return StepRecord(Outcome.SENT, at(s))


def test_a_call_nobody_answers_climbs_each_rung_at_its_time() -> None:
    rungs = plan(LADDER, "telegram", has_phone=True, channels=ALL)
    call = sent(0)
    assert due_step(rungs, call, {}, False, at(59)) is None
    assert due_step(rungs, call, {}, False, at(60)) is Step.SMS
    records = {Step.SMS: sent(61)}
    assert due_step(rungs, call, records, False, at(180)) is None
    assert due_step(rungs, call, records, False, at(181)) is Step.VOICE
    records[Step.VOICE] = sent(182)  # queued at Twilio, no news yet
    assert due_step(rungs, call, records, False, at(271)) is None
    assert due_step(rungs, call, records, False, at(272)) is Step.UNREACHABLE
    records[Step.UNREACHABLE] = sent(272)
    assert due_step(rungs, call, records, False, at(9999)) is None


def test_an_answer_stops_the_ladder_at_any_rung() -> None:
    rungs = plan(LADDER, "telegram", True, ALL)
    assert due_step(rungs, sent(0), {}, True, at(500)) is None
    assert due_step(rungs, sent(0), {Step.SMS: sent(60)}, True, at(500)) is None


def test_a_step_waits_for_the_one_before_to_go_out() -> None:
    rungs = plan(LADDER, "telegram", True, ALL)
    pending = StepRecord(Outcome.PENDING)
    assert due_step(rungs, pending, {}, False, at(500)) is None
    assert due_step(rungs, sent(0), {Step.SMS: pending}, False, at(500)) is None


def test_an_undeliverable_rung_moves_on_at_once() -> None:
    rungs = plan(LADDER, "telegram", True, ALL)
    failed = StepRecord(Outcome.FAILED)
    assert due_step(rungs, failed, {}, False, at(1)) is Step.SMS
    assert due_step(rungs, sent(0), {Step.SMS: failed}, False, at(61)) is Step.VOICE


def test_a_voice_call_ringing_holds_the_ladder_and_its_outcome_decides() -> None:
    rungs = plan(LADDER, "telegram", True, ALL)
    records = {Step.SMS: sent(60)}
    ringing = outcome_of("voice", "sent", "ringing", at(180))
    assert ringing.outcome is Outcome.PENDING
    assert due_step(rungs, sent(0), records | {Step.VOICE: ringing}, False, at(999)) is None
    for status in ("busy", "no-answer", "failed"):
        rang_out = outcome_of("voice", "sent", status, at(180))
        assert due_step(rungs, sent(0), records | {Step.VOICE: rang_out}, False, at(181)) is (
            Step.UNREACHABLE
        )
    answered = outcome_of("voice", "sent", "completed", at(180))
    assert answered.outcome is Outcome.REACHED
    assert due_step(rungs, sent(0), records | {Step.VOICE: answered}, False, at(999)) is None


@pytest.mark.parametrize(
    ("first", "has_phone", "channels", "steps"),
    [
        ("telegram", True, ALL, [Step.SMS, Step.VOICE, Step.UNREACHABLE]),
        ("sms", True, ALL, [Step.VOICE, Step.UNREACHABLE]),  # no SMS after an SMS call
        ("telegram", True, {"sms"}, [Step.SMS, Step.UNREACHABLE]),  # voice not set up
        ("telegram", False, ALL, [Step.UNREACHABLE]),  # no phone: no SMS, no call
    ],
)
def test_the_plan_leaves_out_what_the_patient_cannot_get(
    first: str, has_phone: bool, channels: frozenset[str], steps: list[Step]
) -> None:
    assert [r.step for r in plan(LADDER, first, has_phone, channels)] == steps


def test_a_left_out_step_gives_its_place_to_the_next() -> None:
    rungs = plan(LADDER, "sms", True, ALL)  # voice 120 s after the SMS call
    assert due_step(rungs, sent(0), {}, False, at(119)) is None
    assert due_step(rungs, sent(0), {}, False, at(120)) is Step.VOICE


@pytest.mark.parametrize(
    ("channel", "status", "provider", "outcome"),
    [
        ("telegram", "queued", None, Outcome.PENDING),
        ("telegram", "sending", None, Outcome.PENDING),
        ("telegram", "sent", None, Outcome.SENT),
        ("telegram", "failed", None, Outcome.FAILED),
        ("sms", "suppressed", None, Outcome.FAILED),
        ("sms", "sent", "delivered", Outcome.SENT),
        ("sms", "sent", "undelivered", Outcome.FAILED),
        ("voice", "sent", "queued", Outcome.SENT),
        ("voice", "sent", "in-progress", Outcome.PENDING),
        ("voice", "sent", "completed", Outcome.REACHED),
        ("voice", "sent", "no-answer", Outcome.FAILED),
    ],
)
def test_outcome_of_a_record(
    channel: str, status: str, provider: str | None, outcome: Outcome
) -> None:
    assert outcome_of(channel, status, provider, at(0)).outcome is outcome


def test_ladders_are_checked() -> None:
    assert ladder_from([r.to_dict() for r in DEFAULT_CALL_LADDER]) == DEFAULT_CALL_LADDER
    assert ladder_from([]) == ()
    for bad in (
        [{"step": "fax", "after_s": 60}],
        [{"step": "sms"}],
        [{"step": "sms", "after_s": 0}],
        [{"step": "sms", "after_s": 60}, {"step": "sms", "after_s": 60}],
        [{"step": "unreachable", "after_s": 60}, {"step": "sms", "after_s": 60}],
    ):
        with pytest.raises(InvalidValue):
            ladder_from(bad)
    with pytest.raises(InvalidValue):
        QueueConfig(call_ladder=(Rung(Step.VOICE, 4000),))


def test_the_default_ladder_ends_inside_the_default_no_show_grace() -> None:
    total_s = sum(r.after_s for r in DEFAULT_CALL_LADDER)
    assert total_s < QueueConfig().no_show_grace_s
