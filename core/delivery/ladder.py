"""The call ladder at work: on every pass of the dispatcher, each open call's next step
(`core.domain.ladder.due_step`) is taken: an SMS or a voice call queued in the outbox, or
the ticket marked "unreachable" for the board.

Several dispatchers run this at once, and one may die half-way: every step is written
under an idempotency key per call and step, so it is taken once, and marking a ticket
unreachable twice changes nothing the second time (`Queue.mark_unreachable`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from typing import Protocol

from core.domain.ladder import Outcome, Step, StepRecord, due_step, outcome_of, plan
from core.storage.models import OutboxMessage, TicketRow
from core.storage.outbox import OpenCall

log = logging.getLogger(__name__)
LADDER_STEP = "ladder_step"
"""The payload key that marks a message as a step of the ladder, not a call of its own."""

MarkUnreachable = Callable[[str, datetime], Awaitable[bool]]
"""Marks a ticket unreachable for the call made at the given time; False: nothing to do."""


class LadderStore(Protocol):
    """What the ladder asks of the outbox (`core.storage.outbox`; a fake in unit tests)."""

    async def open_calls(self) -> list[OpenCall]: ...

    async def add_unless_present(self, message: OutboxMessage) -> bool: ...


async def climb_ladders(
    store: LadderStore,
    now: datetime,
    channels: Collection[str],
    mark_unreachable: MarkUnreachable | None,
) -> int:
    """Takes every step due now; returns how many. `channels`: those the ladder may use
    (`sms`, `voice`)."""
    taken = 0
    for call in await store.open_calls():
        try:
            step = _due(call, now, channels)
            if step is not None and await _take(store, call, step, now, mark_unreachable):
                taken += 1
        except Exception:  # one ticket's trouble must not hold up the others' ladders
            log.exception("call ladder of ticket %s failed this time", call.ticket.id)
    return taken


def latest_call(messages: list[OutboxMessage]) -> OutboxMessage | None:
    """The patient's own "called" or "recalled" message of the latest call (a recall starts
    the ladder again)."""
    calls = [m for m in messages if not {LADDER_STEP, "escalated_from"} & m.payload.keys()]
    return calls[-1] if calls else None


def _due(call: OpenCall, now: datetime, channels: Collection[str]) -> Step | None:
    ticket, first = call.ticket, latest_call(call.messages)
    if first is None or not call.ladder:
        return None
    records = {
        Step(m.channel): _record(m)
        for m in call.messages
        if m.event_id == first.event_id and m is not first and m.channel in ("sms", "voice")
    }
    if ticket.unreachable_at is not None and ticket.unreachable_at >= first.created_at:
        records[Step.UNREACHABLE] = StepRecord(Outcome.SENT, ticket.unreachable_at)
    answered = first.status == "acknowledged" or (
        ticket.acknowledged_at is not None and ticket.acknowledged_at >= first.created_at
    )
    rungs = plan(call.ladder, first.channel, ticket.phone is not None, channels)
    return due_step(rungs, _record(first), records, answered, now)


def _record(message: OutboxMessage) -> StepRecord:
    return outcome_of(message.channel, message.status, message.provider_status, message.sent_at)


async def _take(
    store: LadderStore,
    call: OpenCall,
    step: Step,
    now: datetime,
    mark_unreachable: MarkUnreachable | None,
) -> bool:
    ticket = call.ticket
    first = latest_call(call.messages)
    assert first is not None  # _due found it
    if step is Step.UNREACHABLE:
        if mark_unreachable is None or not await mark_unreachable(ticket.id, first.created_at):
            return False
        log.info("ticket %s: nobody answered its call ladder; marked unreachable", ticket.id)
        return True
    added = await store.add_unless_present(_step_message(ticket, first, step, now))
    if added:
        log.info("ticket %s: %s unanswered; %s next", ticket.id, first.kind, step.value)
    return added  # False: another dispatcher took this step a moment ago


def _step_message(
    ticket: TicketRow, first: OutboxMessage, step: Step, now: datetime
) -> OutboxMessage:
    phone = ticket.phone or ""
    return OutboxMessage(
        id=str(uuid.uuid4()),
        # One per call and step, whoever writes it, however often (`{event}:sms:{phone}` is
        # also the key the SMS escalation before the ladder used).
        idempotency_key=f"{first.event_id}:{step.value}:{phone}",
        ticket_id=ticket.id,
        event_id=first.event_id,
        channel=step.value,
        recipient=phone,
        kind=first.kind,
        payload=first.payload | {LADDER_STEP: step.value, "escalated_from": first.id},
        urgent=True,
        next_attempt_at=now,
        created_at=now,
    )
