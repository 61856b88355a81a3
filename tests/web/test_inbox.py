"""The dev inbox and its patient simulator over plain HTTP: what is listed, how the list
polls, what the simulator accepts and refuses, and that production has none of it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from markupsafe import escape

from core.settings import load_settings
from core.storage.models import DevInboxMessage, OutboxMessage, TicketRow
from nextup.wiring import build_container
from tests.conftest import Api
from tests.servers import serve, shut
from tests.web.sessions import CSRF_META, console_client
from web.app import create_app
from web.console.inbox_page import PAGE_SIZE

PHONE = "+15550100001"
HTMX = {"HX-Request": "true"}


class Inbox:
    """A logged-in console client on the inbox page, with its CSRF token."""

    def __init__(self, client: httpx.AsyncClient, csrf: str) -> None:
        self.client, self.csrf = client, csrf

    async def send(self, status: int = 200, **fields: str) -> str:
        response = await self.client.post(
            "/console/inbox/simulate", data=fields, headers=HTMX | {"X-CSRF-Token": self.csrf}
        )
        assert response.status_code == status, response.text
        return response.text

    async def listed(self, **params: str) -> str:
        response = await self.client.get("/console/inbox/messages", params=params)
        assert response.status_code == 200, response.text
        return response.text


@pytest.fixture
async def inbox(api: Api) -> AsyncIterator[Inbox]:
    await api.call(
        "POST", "/api/v1/queues", json={"code": "PHARM", "name": "Pharmacy", "prefix": "A"}
    )
    async with console_client(api, "staff") as client:
        page = await client.get("/console/inbox")
        assert page.status_code == 200, page.text
        found = CSRF_META.search(page.text)
        assert found
        yield Inbox(client, found[1])


def seen_of(fragment: str) -> str:
    found = re.search(r"/console/inbox/messages\?seen=([0-9a-f]+)", fragment)
    assert found, fragment
    return found[1]


async def test_the_page_needs_a_staff_session(api: Api) -> None:
    async with console_client(api, None) as client:
        response = await client.get("/console/inbox?recipient=%2B1555")
        assert response.status_code == 302
        assert response.headers["location"].startswith("/console/login?next=%2Fconsole%2Finbox")
        assert (await client.get("/console/inbox/messages")).status_code == 302


async def test_an_sms_join_is_answered_listed_and_linked_to_its_ticket(inbox: Inbox) -> None:
    answer = await inbox.send(channel="sms", phone="+1 555 010 0001", text="join pharm")
    assert "A-001" in answer  # the transcript's answer: the "joined" text
    assert 'hx-swap-oob="afterbegin:#sim-transcript"' in answer
    assert 'id="inbox-list"' in answer and 'hx-swap-oob="outerHTML"' in answer

    [row] = await DevInboxMessage.all()
    assert (row.channel, row.recipient) == ("sms", PHONE)  # E.164, as Twilio sends it
    record = await OutboxMessage.get(id=row.outbox_id)
    ticket = await TicketRow.get(id=record.ticket_id)
    assert ticket.phone == PHONE and ticket.number == "A-001"

    listed = await inbox.listed()
    assert f'href="/console/tickets/{ticket.id}"' in listed and ">A-001</a>" in listed
    assert f'href="/t/{ticket.token}"' in listed  # the patient's own page
    assert f">{PHONE}</a>" in listed
    assert escape(row.text.splitlines()[0]) in listed

    status = await inbox.send(channel="sms", phone=PHONE, text="STATUS")
    assert "A-001" in status and await DevInboxMessage.all().count() == 2


async def test_a_stop_gets_no_answer_and_says_why(inbox: Inbox) -> None:
    answer = await inbox.send(channel="sms", phone=PHONE, text="STOP")
    assert "No reply" in answer
    assert await DevInboxMessage.all().count() == 0


async def test_the_telegram_patient_talks_to_the_bot(inbox: Inbox) -> None:
    answer = await inbox.send(channel="telegram", chat_id="100001", text="/status")
    [row] = await DevInboxMessage.all()
    assert (row.channel, row.recipient) == ("telegram", "100001")
    assert escape(row.text.splitlines()[0]) in answer

    joined = await inbox.send(channel="telegram", chat_id="100001", quick="/start q_PHARM")
    assert "/start q_PHARM" in joined  # the quick button's text was sent
    ticket = await TicketRow.get(telegram_chat_id=100001)
    assert ticket.number == "A-001"


async def test_a_button_is_pressed_as_the_patient(inbox: Inbox, api: Api) -> None:
    await inbox.send(channel="telegram", chat_id="100001", text="/join PHARM")
    ticket = await TicketRow.get(telegram_chat_id=100001)
    called = await api.call("POST", "/api/v1/queues/PHARM/call-next", json={"counter": "1"})
    assert called.status_code == 200, called.text
    data = f"ack:{ticket.id}"
    row = await DevInboxMessage.create(
        channel="telegram",
        recipient="100001",
        text="It's your turn",
        buttons=[[{"label": "I'm on my way", "data": data}]],
    )
    assert f'name="data" value="{data}"' in await inbox.listed()

    headers = HTMX | {"X-CSRF-Token": inbox.csrf}
    form = {"message_id": str(row.id), "data": data}
    pressed = await inbox.client.post("/console/inbox/press", data=form, headers=headers)
    assert pressed.status_code == 200, pressed.text
    assert "on your way" in pressed.headers["HX-Trigger"]  # shown as a notice
    assert "[I&#39;m on my way]" in pressed.text  # and in the transcript
    assert (await TicketRow.get(id=ticket.id)).acknowledged_at is not None
    assert (await DevInboxMessage.get(id=row.id)).buttons == []

    again = await inbox.client.post("/console/inbox/press", data=form, headers=headers)
    assert again.status_code == 409 and "already used" in again.json()["error"]["message"]
    gone = form | {"message_id": "999999"}
    missing = await inbox.client.post("/console/inbox/press", data=gone, headers=headers)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"channel": "sms", "phone": PHONE, "text": "  "}, "Type what the patient sends"),
        ({"channel": "sms", "phone": "abc", "text": "STATUS"}, "is not a phone number"),
        ({"channel": "sms", "phone": "+1555", "text": "STATUS"}, "possible length"),
        ({"channel": "telegram", "chat_id": "abc", "text": "/status"}, "positive whole number"),
        ({"channel": "telegram", "chat_id": "-5", "text": "/status"}, "positive whole number"),
        ({"channel": "sms", "phone": PHONE, "text": "x" * 1601}, "At most 1600"),
    ],
)
async def test_bad_input_is_explained_next_to_its_field(
    inbox: Inbox, fields: dict[str, str], error: str
) -> None:
    form = await inbox.send(status=422, **fields)
    assert error in form and 'aria-invalid="true"' in form
    assert 'id="sim-form"' in form and "sim-transcript" not in form  # only the form
    assert await DevInboxMessage.all().count() == 0


async def test_the_simulator_needs_the_csrf_token(inbox: Inbox) -> None:
    fields = {"channel": "sms", "phone": PHONE, "text": "JOIN PHARM"}
    response = await inbox.client.post("/console/inbox/simulate", data=fields, headers=HTMX)
    assert response.status_code == 403
    assert await DevInboxMessage.all().count() == 0


async def test_without_javascript_the_forms_still_work(inbox: Inbox) -> None:
    fields = {"channel": "sms", "phone": PHONE, "text": "JOIN PHARM", "csrf_token": inbox.csrf}
    page = await inbox.client.post("/console/inbox/simulate", data=fields)
    assert page.status_code == 200 and "<html" in page.text and "A-001" in page.text


async def test_the_list_polls_for_what_is_new_and_filters_by_recipient(inbox: Inbox) -> None:
    first = await inbox.listed()
    assert "Nothing sent yet" in first
    seen = seen_of(first)
    empty = await inbox.client.get("/console/inbox/messages", params={"seen": seen})
    assert empty.status_code == 204  # nothing new: the page keeps what it shows

    await inbox.send(channel="sms", phone=PHONE, text="JOIN PHARM")
    await inbox.send(channel="sms", phone="+15550100002", text="JOIN PHARM")
    news = await inbox.client.get("/console/inbox/messages", params={"seen": seen})
    assert news.status_code == 200 and "A-002" in news.text
    assert seen_of(news.text) != seen

    mine = await inbox.listed(recipient="+1 555 010 0001")
    assert "A-001" in mine and "A-002" not in mine
    assert "recipient=%2B1+555+010+0001" in mine  # the poll keeps the filter
    assert "Nothing sent to" in await inbox.listed(recipient="+1999")


async def test_the_poll_sees_a_message_committed_after_a_newer_one_and_an_edit(
    inbox: Inbox,
) -> None:
    """On PostgreSQL two senders' rows can commit out of id order: the later commit has the
    lower id, and "anything newer than what I show?" would miss it."""
    await DevInboxMessage.create(id=50, channel="sms", recipient=PHONE, text="the newer one")
    seen = seen_of(await inbox.listed())
    late = await DevInboxMessage.create(id=40, channel="sms", recipient=PHONE, text="late")
    polled = await inbox.client.get("/console/inbox/messages", params={"seen": seen})
    assert polled.status_code == 200 and "late" in polled.text

    seen = seen_of(polled.text)
    late.text = "late, edited"
    await late.save(update_fields=["text"])
    polled = await inbox.client.get("/console/inbox/messages", params={"seen": seen})
    assert polled.status_code == 200 and "late, edited" in polled.text
    unchanged = await inbox.client.get(
        "/console/inbox/messages", params={"seen": seen_of(polled.text)}
    )
    assert unchanged.status_code == 204


async def test_a_big_inbox_shows_the_newest_page_and_links_to_older(inbox: Inbox) -> None:
    await DevInboxMessage.bulk_create(
        DevInboxMessage(channel="sms", recipient=PHONE, text=f"message {n}")
        for n in range(PAGE_SIZE + 5)
    )
    page = await inbox.listed()
    assert page.count('class="msg ') == PAGE_SIZE
    assert f"message {PAGE_SIZE + 4}\n" not in page and f"message {PAGE_SIZE + 4}<" in page
    assert "message 4<" not in page
    older = re.search(r"/console/inbox\?before=(\d+)", page)
    assert older, page
    rest = await inbox.listed(before=older[1])
    assert rest.count('class="msg ') == 5 and "message 4<" in rest and "message 0<" in rest
    assert "hx-trigger" not in rest  # an older page does not poll


async def test_in_production_the_inbox_does_not_exist(migrated: str, api: Api) -> None:
    settings = load_settings(database_url=migrated, env="production", secret_key="p" * 32)
    assert not settings.dev_inbox
    production = build_container(settings)
    server, base_url = await serve(create_app(production))
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            for method, path in [
                ("GET", "/console/inbox"),
                ("GET", "/console/inbox/messages"),
                ("POST", "/console/inbox/simulate"),
                ("POST", "/console/inbox/press"),
            ]:
                response = await client.request(method, path)
                assert response.status_code == 404, (path, response.text)
    finally:
        await shut(server)
        await production.bus.close()
