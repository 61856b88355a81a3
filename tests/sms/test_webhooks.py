"""Twilio's webhooks refuse what Twilio did not sign, and answer every kind of nonsense a
phone can send with a clear reply; nothing is lost and nothing is a 500."""

from __future__ import annotations

import logging

import pytest
from twilio.request_validator import RequestValidator

from core.services.queues import new_join_request
from core.storage.models import Contact, OutboxMessage, TicketRow
from tests.sms.conftest import PUBLIC_URL, LiveSms

PHONE = "+15551230001"
INBOUND = f"{PUBLIC_URL}/hooks/twilio/sms"


def inbound(live: LiveSms, body: str, sender: str = PHONE) -> dict[str, str]:
    return {
        "MessageSid": "SM" + "a" * 32,
        "AccountSid": live.twilio.account_sid,
        "From": sender,
        "To": live.twilio.numbers[0],
        "Body": body,
        "NumMedia": "0",
    }


async def nothing_changed() -> None:
    assert await TicketRow.all().count() == 0
    assert await OutboxMessage.all().count() == 0
    assert await Contact.all().count() == 0


@pytest.mark.parametrize(
    "signature",
    [None, "", "forged", "dGhpcyBpcyBub3QgYSBzaWduYXR1cmU="],
    ids=["missing", "empty", "garbage", "forged"],
)
async def test_an_unsigned_or_forged_text_is_refused(live: LiveSms, signature: str | None) -> None:
    status, _ = await live.twilio.post_signed(INBOUND, inbound(live, "JOIN PHARM"), signature)
    assert status == 403
    await nothing_changed()


async def test_a_signature_for_another_body_is_refused(live: LiveSms) -> None:
    validator = RequestValidator(live.twilio.auth_token)
    signed_for = inbound(live, "STATUS")
    signature = validator.compute_signature(INBOUND, signed_for)
    status, _ = await live.twilio.post_signed(INBOUND, inbound(live, "JOIN PHARM"), signature)
    assert status == 403
    await nothing_changed()


@pytest.mark.parametrize(
    "signed_url",
    [
        "http://127.0.0.1/hooks/twilio/sms",  # the address this process sees, not Twilio's
        "https://evil.example.org/hooks/twilio/sms",
        f"{PUBLIC_URL}/hooks/twilio/status",
    ],
)
async def test_a_valid_signature_for_another_url_is_refused(live: LiveSms, signed_url: str) -> None:
    params = inbound(live, "JOIN PHARM")
    signature = RequestValidator(live.twilio.auth_token).compute_signature(signed_url, params)
    status, _ = await live.twilio.post_signed(INBOUND, params, signature)
    assert status == 403
    await nothing_changed()


async def test_another_accounts_signature_is_refused(live: LiveSms) -> None:
    params = inbound(live, "JOIN PHARM")
    signature = RequestValidator("0" * 32).compute_signature(INBOUND, params)
    status, _ = await live.twilio.post_signed(INBOUND, params, signature)
    assert status == 403
    await nothing_changed()


async def test_a_forged_status_callback_changes_nothing(live: LiveSms) -> None:
    joined = await live.container.queues.join("PHARM", new_join_request(phone=PHONE), "staff:ana")
    await live.sms(PHONE, "ticket A-001")
    row = await OutboxMessage.get(ticket_id=joined.ticket.id)
    await live.twilio.wait_for_callbacks(2)
    await live.until(lambda: _provider_status(row.id, "delivered"))
    url = f"{PUBLIC_URL}/hooks/twilio/status?n={row.id}"
    forged = {"MessageSid": row.provider_message_id or "", "MessageStatus": "read"}
    for signature in (None, "forged"):
        assert (await live.twilio.post_signed(url, forged, signature))[0] == 403
    other_row = RequestValidator(live.twilio.auth_token).compute_signature(
        f"{PUBLIC_URL}/hooks/twilio/status?n=someone-else", forged
    )
    assert (await live.twilio.post_signed(url, forged, other_row))[0] == 403
    assert await _provider_status(row.id, "delivered")


async def _provider_status(row_id: str, state: str) -> bool:
    return (await OutboxMessage.get(id=row_id)).provider_status == state


async def test_status_callbacks_for_unknown_messages_are_ignored(live: LiveSms) -> None:
    status_url = f"{PUBLIC_URL}/hooks/twilio/status"
    params = {"MessageSid": "SM" + "b" * 32, "MessageStatus": "delivered"}
    assert (await live.twilio.post_signed(f"{status_url}?n=nope", params))[0] == 200
    assert (await live.twilio.post_signed(f"{status_url}?n=x", params | {"MessageStatus": "??"}))[
        0
    ] == 200
    assert (await live.twilio.post_signed(status_url, params))[0] == 400  # which message?


HELP = "Text JOIN and the queue code on the poster to join"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", HELP),
        ("   ", HELP),
        ("hello, when is my turn?", "Sorry, we did not get that. " + HELP),
        ("JOIN NOPE", "We have no queue called NOPE."),
        ("nope", "We have no queue called NOPE."),
        ("JOIN", "To join a queue, text JOIN and the code on the poster"),
        ("JOIN " + "X" * 40, "We have no queue called XXXXXXXXXXXXXXXX."),
        ("😀🙏🏽", HELP),
        ("Здравствуйте, я в очереди?", "Sorry, we did not get that."),
        ("你好", "Sorry, we did not get that."),
        ("STATUS", "You are not in any queue."),
        ("LEAVE", "You are not in any queue."),
        ("LATE 10", "You have no ticket waiting in line."),
        ("LATE -5", "You have no ticket waiting in line."),
        ("late abc", "You have no ticket waiting in line in ABC."),
        ("a" * 2000, "Sorry, we did not get that."),
        ("JOIN PHARM " + "🙂" * 700, "Pharmacy: ticket A-001"),
    ],
)
async def test_nonsense_gets_a_clear_reply(
    live: LiveSms, caplog: pytest.LogCaptureFixture, body: str, expected: str
) -> None:
    with caplog.at_level(logging.WARNING):
        answer = await live.text(PHONE, body)
    assert answer.status == 200, answer.text
    [reply] = answer.messages
    assert expected in reply
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("sender", ["abc", "+1", "", "12", "+" + "9" * 30, "Pharmacy"])
async def test_a_number_that_cannot_be_read(live: LiveSms, sender: str) -> None:
    status, text = await live.twilio.post_signed(INBOUND, inbound(live, "JOIN PHARM", sender))
    if not sender:
        assert status == 400  # Twilio always sends one; nothing to answer to
    else:
        assert status == 200
        assert "we cannot read your phone number" in text
    assert await TicketRow.all().count() == 0


async def test_a_body_that_is_not_a_form(live: LiveSms) -> None:
    status, _ = await live.twilio.post_signed(INBOUND, {})
    assert status == 400
    await nothing_changed()
