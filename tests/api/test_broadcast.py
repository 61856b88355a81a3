"""POST /queues/{code}/broadcast: staff's message to the line, through the outbox."""

from __future__ import annotations

import pytest

from core.services import accounts
from core.storage.models import OutboxMessage, TicketEventRow
from tests.api.helpers import API, STAFF_ROLES, act_ok, assert_error, call_next, create_queue, join
from tests.conftest import Api
from tests.web.sessions import console_client

TEXT = "The pharmacist is back at 14:00."


async def broadcast(api: Api, role: str | None = "staff", code: str = "PHARM", **body: object):  # type: ignore[no-untyped-def]
    return await api.call("POST", f"{API}/queues/{code}/broadcast", role=role, json=body)


async def a_line(api: Api) -> dict[str, dict[str, object]]:
    """called: on Telegram and called; sms and tg waiting; walk_in: no channel."""
    await create_queue(api, public_name="Pharmacy")
    line = {
        "called": await join(api, telegram_chat_id=7001),
        "sms": await join(api, phone="+15550001001"),
        "tg": await join(api, telegram_chat_id=7002, language="es"),
        "walk_in": await join(api),
    }
    await call_next(api)
    return line


@pytest.mark.parametrize("role", STAFF_ROLES)
async def test_every_staff_role_may_broadcast(api: Api, role: str) -> None:
    await a_line(api)
    response = await broadcast(api, role, text=TEXT)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "to": "waiting",
        "sent": 2,
        "by_channel": {"telegram": 1, "sms": 1},
        "unreachable": 1,
    }


async def test_no_credentials_or_another_queue_is_refused(api: Api) -> None:
    await a_line(api)
    assert_error(await broadcast(api, None, text=TEXT), 401)
    await accounts.create_account("lab-only", "staff", "correct horse", queues=["LAB"])
    token = await accounts.issue_token("lab-only")
    response = await api.client.post(
        f"{API}/queues/PHARM/broadcast",
        json={"text": TEXT},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_error(response, 404)  # a queue outside the account's scope is not shown to exist
    assert await OutboxMessage.filter(kind="broadcast").count() == 0
    assert_error(await broadcast(api, code="NOPE", text=TEXT), 404, "queue_not_found")


async def test_each_patient_gets_one_notification_and_an_audit_event(api: Api) -> None:
    line = await a_line(api)
    response = await broadcast(api, "pharmacist", text=f"  {TEXT}\n", to="all")
    assert response.json()["sent"] == 3
    rows = await OutboxMessage.filter(kind="broadcast").order_by("recipient")
    assert sorted((r.ticket_id, r.channel) for r in rows) == sorted(  # type: ignore[attr-defined]
        [
            (line["called"]["id"], "telegram"),
            (line["sms"]["id"], "sms"),
            (line["tg"]["id"], "telegram"),
        ]
    )
    assert all(r.payload["text"] == TEXT and r.status == "queued" for r in rows)
    assert {r.payload["language"] for r in rows} == {"en", "es"}
    events = await TicketEventRow.filter(type="ticket_broadcast")
    assert {(e.actor, e.data["text"], e.data["audience"]) for e in events} == {
        ("staff:pharmacist-user", TEXT, "all")
    }
    assert {r.event_id for r in rows} == {e.id for e in events}
    # The ticket's own record shows it: the history and the notification.
    ticket = (await api.call("GET", f"{API}/tickets/{line['sms']['id']}")).json()
    assert "ticket_broadcast" in [e["type"] for e in ticket["history"]]
    assert "broadcast" in [n["kind"] for n in ticket["notifications"]]


async def test_an_ended_visit_is_not_addressed(api: Api) -> None:
    line = await a_line(api)
    await act_ok(api, str(line["tg"]["id"]), "cancel")
    assert (await broadcast(api, text=TEXT, to="all")).json()["by_channel"] == {
        "telegram": 1,
        "sms": 1,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "text"),
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 1001}, "text"),
        ({"text": 5}, "text"),
        ({"text": TEXT, "to": "everyone"}, "to"),
        ({"text": TEXT, "extra": 1}, "extra"),
    ],
)
async def test_bad_bodies_are_refused_clearly(
    api: Api, body: dict[str, object], field: str
) -> None:
    await a_line(api)
    error = assert_error(await broadcast(api, **body), 422, "validation_error")
    assert field in error["message"]
    assert await OutboxMessage.filter(kind="broadcast").count() == 0


async def test_an_sms_broadcast_over_two_segments_is_refused_with_the_count(api: Api) -> None:
    await a_line(api)
    long_text = "x" * 400
    error = assert_error(await broadcast(api, text=long_text), 422, "broadcast_too_long")
    assert error["details"] == {"segments": 3, "max_segments": 2, "sms_patients": 1}
    assert "3 segments" in error["message"]
    assert await OutboxMessage.filter(kind="broadcast").count() == 0  # nobody got it
    assert await TicketEventRow.filter(type="ticket_broadcast").count() == 0
    # An emoji makes the SMS UCS-2 (70 characters a segment): fewer fit.
    error = assert_error(await broadcast(api, text="🙂 " + "y" * 150), 422, "broadcast_too_long")
    assert error["details"]["segments"] == 3
    # Two segments pass.
    assert (await broadcast(api, text="x" * 250)).json()["sent"] == 2


async def test_a_long_text_goes_when_nobody_is_reached_by_sms(api: Api) -> None:
    await create_queue(api)
    await join(api, telegram_chat_id=7003)
    response = await broadcast(api, text="x" * 900)
    assert response.json()["by_channel"] == {"telegram": 1, "sms": 0}


async def test_the_console_ticket_page_shows_what_was_sent_and_by_whom(api: Api) -> None:
    line = await a_line(api)
    await broadcast(api, "pharmacist", text=TEXT)
    async with console_client(api, "staff") as client:
        page = (await client.get(f"/console/tickets/{line['sms']['id']}")).text
    assert f"message to the line: {TEXT}" in page
    assert "pharmacist-user" in page
