"""Which events become patient messages, and on which channel."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.domain.events import (
    DomainEvent,
    PositionChanged,
    TicketCalled,
    TicketCancelled,
    TicketCompleted,
    TicketJoined,
    TicketMarkedNoShow,
    TicketRecalled,
    TicketReturned,
    TicketStarted,
    TicketTransferredIn,
    TicketTransferredOut,
)
from core.domain.model import QueueConfig, Ticket, TicketStatus
from core.domain.notify import intents_for, is_getting_close, message_kind

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)
BASE = {"queue": "PHARM", "at": AT, "actor": "staff:ana", "ticket_id": "t1", "number": "A-001"}
W, C, S = TicketStatus.WAITING, TicketStatus.CALLED, TicketStatus.SERVING


def moved(old: int, new: int) -> PositionChanged:
    return PositionChanged(**BASE, old_position=old, new_position=new)


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        (TicketJoined(**BASE, from_status=None, to_status=W, position=4, priority=0), "joined"),
        (TicketCalled(**BASE, from_status=W, to_status=C, counter="2", position=1), "called"),
        (
            TicketRecalled(**BASE, from_status=C, to_status=C, counter="2", recall_count=1),
            "recalled",
        ),
        (
            TicketMarkedNoShow(**BASE, from_status=C, to_status=TicketStatus.NO_SHOW, counter="2"),
            "missed",
        ),
        (
            TicketTransferredIn(**BASE, from_status=W, to_status=W, from_queue="LAB", position=1),
            "transferred",
        ),
        (
            TicketCompleted(
                **BASE,
                from_status=S,
                to_status=TicketStatus.DONE,
                counter="2",
                wait_s=60,
                service_s=120,
            ),
            "done",
        ),
        (TicketCancelled(**BASE, from_status=W, to_status=TicketStatus.CANCELLED), "left"),
        (TicketStarted(**BASE, from_status=C, to_status=S, counter="2"), None),
        (TicketReturned(**BASE, from_status=C, to_status=W, position=2), "returned"),
        (TicketTransferredOut(**BASE, from_status=W, to_status=W, to_queue="LAB"), None),
        (moved(4, 3), "close"),
        (moved(2, 1), "close"),
    ],
)
def test_message_kind(event: DomainEvent, kind: str | None) -> None:
    assert message_kind(event) == kind


@pytest.mark.parametrize(
    ("position", "told_position", "close"),
    [
        (3, 4, True),
        (1, 3, True),
        (3, None, True),  # never told a place (joined without a channel, linked later)
        (3, 3, False),  # told at 3 already: stepping back to 4 and forward again is no news
        (2, 3, False),  # not one of the positions the queue warns at
        (4, 9, False),
        (3, 1, False),
    ],
)
def test_getting_close_is_a_warned_position_nearer_than_the_one_last_told(
    position: int, told_position: int | None, close: bool
) -> None:
    ticket = patient(telegram_chat_id=7, position=position, told_position=told_position)
    assert is_getting_close(ticket, QueueConfig()) is close


def test_getting_close_positions_come_from_the_queue() -> None:
    config = QueueConfig(notify_positions=(5,))
    assert is_getting_close(patient(position=5, told_position=6), config)
    assert not is_getting_close(patient(position=3, told_position=6), config)


def patient(**contact: object) -> Ticket:
    return Ticket(
        id="t1",
        queue="PHARM",
        number="A-001",
        seq=1,
        token="x",
        joined_at=AT,
        line_at=AT,
        **contact,
    )  # type: ignore[arg-type]


CALLED = TicketCalled(**BASE, from_status=W, to_status=C, counter="2", position=1)


def test_telegram_is_preferred_over_sms() -> None:
    [intent] = intents_for(
        CALLED, patient(telegram_chat_id=42, phone="+34600111222"), QueueConfig()
    )
    assert (intent.kind, intent.channel, intent.recipient) == ("called", "telegram", "42")
    assert intent.params["counter"] == "2"
    assert "actor" not in intent.params


def test_sms_when_only_a_phone_is_known_in_the_patients_language() -> None:
    [intent] = intents_for(CALLED, patient(phone="+34600111222", language="es"), QueueConfig())
    assert (intent.channel, intent.recipient, intent.params["language"]) == (
        "sms",
        "+34600111222",
        "es",
    )


def test_queue_language_when_the_patient_chose_none() -> None:
    [intent] = intents_for(CALLED, patient(phone="+34600111222"), QueueConfig(language="ca"))
    assert intent.params["language"] == "ca"


def test_no_contact_no_message() -> None:
    assert intents_for(CALLED, patient(), QueueConfig()) == []


SMS_PATIENT = {"phone": "+34600111222"}
DONE = TicketCompleted(
    **BASE, from_status=S, to_status=TicketStatus.DONE, counter="2", wait_s=60, service_s=120
)


def kinds(event: DomainEvent, config: QueueConfig | None = None, **contact: object) -> list[str]:
    return [i.kind for i in intents_for(event, patient(**contact), config or QueueConfig())]


def test_sms_warns_once_at_the_farthest_close_position() -> None:
    assert kinds(moved(4, 3), **SMS_PATIENT) == ["close"]
    assert kinds(moved(2, 1), **SMS_PATIENT) == []
    assert kinds(moved(6, 5), QueueConfig(notify_positions=(1, 5)), **SMS_PATIENT) == ["close"]
    # Telegram is free: it warns at every position.
    assert kinds(moved(2, 1), telegram_chat_id=42) == ["close"]


def test_no_paid_thank_you_after_the_visit() -> None:
    assert kinds(DONE, **SMS_PATIENT) == []
    assert kinds(DONE, telegram_chat_id=42) == ["done"]


def test_a_patient_who_joined_or_left_by_text_reads_it_in_the_reply() -> None:
    by_text = {**BASE, "actor": "patient:sms"}
    joined = TicketJoined(**by_text, from_status=None, to_status=W, position=4, priority=0)
    left = TicketCancelled(**by_text, from_status=W, to_status=TicketStatus.CANCELLED)
    assert kinds(joined, **SMS_PATIENT) == []
    assert kinds(left, **SMS_PATIENT) == []
    # Added by staff, or cancelled by staff: the patient is told by SMS.
    assert kinds(
        TicketJoined(**BASE, from_status=None, to_status=W, position=4, priority=0), **SMS_PATIENT
    ) == ["joined"]
    assert kinds(
        TicketCancelled(**BASE, from_status=W, to_status=TicketStatus.CANCELLED), **SMS_PATIENT
    ) == ["left"]
    assert kinds(CALLED, **SMS_PATIENT) == ["called"]
