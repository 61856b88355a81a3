"""Point 7, SMS: what Twilio signs and posts may still be nonsense: a digit int() cannot
read, a status callback with fields longer than anything we sent. A reply or a 400, never
a 500."""

from __future__ import annotations

import pytest

from core.services.queues import new_join_request
from core.storage.models import OutboxMessage
from tests.sms.conftest import PUBLIC_URL, LiveSms, live, twilio

__all__ = ["live", "twilio"]  # the SMS tests' fixtures, used here by name
PHONE = "+15551230001"
STATUS_URL = f"{PUBLIC_URL}/hooks/twilio/status"


@pytest.mark.parametrize(
    "body", ["LATE \u19da", "late \u00b2", "LATE 5\u19da", "LATE " + "9" * 150]
)
async def test_late_with_a_number_int_cannot_read_is_answered(live: LiveSms, body: str) -> None:
    await live.container.queues.join("PHARM", new_join_request(phone=PHONE), "patient:sms")
    answer = await live.text(PHONE, body)
    assert answer.status == 200, answer.text
    assert len(answer.messages) == 1
    assert "went wrong" not in answer.messages[0]  # the apology for a crash


def status_form(sid: str, state: str = "delivered", code: str | None = None) -> dict[str, str]:
    form = {"MessageSid": sid, "MessageStatus": state, "AccountSid": "AC" + "0" * 32}
    return form | ({"ErrorCode": code} if code is not None else {})


@pytest.mark.parametrize(
    ("n", "form"),
    [
        ("x" * 200, status_form("SM" + "a" * 32)),
        (None, status_form("SM" + "a" * 500)),
        (None, status_form("SM" + "a" * 32, "failed", "3" * 100)),
        (None, status_form("SM" + "a" * 32, "d" * 100)),
    ],
    ids=["n", "MessageSid", "ErrorCode", "MessageStatus"],
)
async def test_a_signed_status_callback_with_overlong_fields_is_refused(
    live: LiveSms, n: str | None, form: dict[str, str]
) -> None:
    assert "A-001" in await live.reply(PHONE, "JOIN PHARM")  # a reply we sent, on record
    sent = await OutboxMessage.get(recipient=PHONE)
    status, body = await live.twilio.post_signed(f"{STATUS_URL}?n={n or sent.id}", form)
    assert status == 400, body
    after = await OutboxMessage.get(id=sent.id)
    assert (after.provider_message_id, after.provider_error_code) == (
        sent.provider_message_id,
        sent.provider_error_code,
    )
