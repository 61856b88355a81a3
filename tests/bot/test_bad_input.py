"""Nonsense from patients and staff gets a clear reply and leaves no exception in the logs."""

from __future__ import annotations

import logging

import pytest

from core.services.queues import new_join_request
from core.storage.models import TicketRow
from tests.bot.conftest import Live

PATIENT, OTHER = 1001, 1002


@pytest.fixture(autouse=True)
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> object:
    caplog.set_level(logging.INFO)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("/join NOPE", "no queue with the code NOPE"),
        ("/join", "Which queue?"),
        ("/join ../../etc", "Which queue?"),
        ("/join " + "X" * 200, "Which queue?"),
        ("/start q_", "not a queue link"),
        ("/start hello", "not a queue link"),
        ("/start q_NOPE", "no queue with the code NOPE"),
        ("/late", "how many minutes"),
        ("/late soon", "how many minutes"),
        ("/late 9999", "how many minutes"),
        ("/late -5", "how many minutes"),
        ("/late 10 PHARM extra", "how many minutes"),
        ("/travel x", "how many minutes it takes"),
        ("/late 10", "not waiting"),
        ("/leave", "no ticket"),
        ("/lang klingon", "Choose your language"),
        ("/status", "no ticket"),
        ("hello there", "did not understand"),
        ("/frobnicate", "did not understand"),
        ("🙂🙂🙂", "did not understand"),
        ("/next PHARM 1", "for staff"),
        ("/noshow", "for staff"),
        ("/link", "one-time code"),
        ("/link WRONGCODE", "unknown, used or expired"),
    ],
)
async def test_patient_nonsense_gets_a_clear_reply(live: Live, text: str, reply: str) -> None:
    await live.reply_to(PATIENT, text, reply)
    assert await TicketRow.all().count() == 0


async def test_a_button_for_someone_elses_ticket_is_refused(live: Live) -> None:
    other = await live.container.queues.join(
        "PHARM", new_join_request(telegram_chat_id=OTHER), "test"
    )
    await live.container.queues.call_next("PHARM", "1", "staff:ana")
    [call] = await live.tg.wait_for_message(OTHER, "counter 1")
    query = await live.tg.press_button(PATIENT, call.message_id, f"ack:{other.ticket.id}")
    await _answered(live, query, "someone else")
    assert (await TicketRow.get(id=other.ticket.id)).acknowledged_at is None
    query = await live.tg.press_button(PATIENT, call.message_id, f"rate:{other.ticket.id}:5")
    await _answered(live, query, "someone else")
    for data in ("ack:not-a-ticket", "rate:x:y", "rate:::", "something"):
        query = await live.tg.press_button(PATIENT, call.message_id, data)
        await _answered(live, query, "")


async def test_a_rating_before_the_visit_ends_is_refused(live: Live) -> None:
    joined = await live.container.queues.join(
        "PHARM", new_join_request(telegram_chat_id=PATIENT), "test"
    )
    await live.tg.wait_for_message(PATIENT, "A-001")
    query = await live.tg.press_button(PATIENT, 1, f"rate:{joined.ticket.id}:9")
    await _answered(live, query, "once it is finished")
    assert (await TicketRow.get(id=joined.ticket.id)).rating is None


async def _answered(live: Live, query_id: str, contains: str) -> None:
    import asyncio

    for _ in range(250):
        for answer in live.tg.callback_answers:
            if answer.callback_query_id == query_id:
                assert contains in (answer.text or ""), answer
                return
        await asyncio.sleep(0.02)
    raise AssertionError(f"callback {query_id} not answered\n{live.tg.dump()}")
