"""Small things the console says: the priority in words on every page, the patient's
answer shown as good news, a favicon on every page."""

from __future__ import annotations

from core.storage.models import OutboxMessage, TicketEventRow
from tests.api.helpers import call_next, create_queue, join
from tests.conftest import Api
from tests.web.sessions import console_client
from web.console.board import delivery_of
from web.console.routes import positions_text


async def test_the_ticket_page_says_the_priority_as_the_board_does(api: Api) -> None:
    await create_queue(api, "PHARM")
    urgent = await join(api, priority=2, name="Ana")
    async with console_client(api, "staff") as client:
        page = (await client.get(f"/console/tickets/{urgent['id']}")).text
        board = (await client.get("/console/queues/PHARM/board")).text
    assert '<span class="prio">urgent</span>' in page
    assert '<span class="prio">urgent</span>' in board


def test_an_acknowledged_call_shows_as_good_news() -> None:
    row = OutboxMessage(
        kind="called", channel="telegram", status="acknowledged", delivered_to="telegram"
    )
    delivery = delivery_of(row)
    assert (delivery.state, delivery.ok) == ("acknowledged", True)


async def test_every_page_has_the_favicon(api: Api) -> None:
    await create_queue(api, "PHARM")
    ticket = await join(api)
    icon = await api.client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.text.lstrip().startswith("<svg")
    link = '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
    for path in ("/console/login", "/display/PHARM", f"/t/{ticket['token']}", "/docs"):
        response = await api.client.get(path)
        assert response.status_code == 200, path
        assert link in response.text, path


async def test_the_ticket_page_says_where_the_ticket_joined_and_was_called_from(
    api: Api,
) -> None:
    await create_queue(api, "PHARM", counters=["1", "2"])
    await join(api)
    second = await join(api)
    await call_next(api, counter="1")
    await call_next(api, counter="2")
    async with console_client(api, "staff") as client:
        page = (await client.get(f"/console/tickets/{second['id']}")).text
    assert "<td></td><td>2</td></tr>" in page  # joined 2nd, at no counter
    assert "<td>2</td><td>1</td></tr>" in page  # called to counter 2 from 1st place


def test_positions_in_an_audit_line() -> None:
    def row(old: int | None, new: int | None) -> TicketEventRow:
        return TicketEventRow(old_position=old, new_position=new)

    assert positions_text(row(4, 3)) == "4 → 3"  # getting close
    assert positions_text(row(None, 3)) == "3"  # joined, returned, called from
    assert positions_text(row(None, None)) == ""


def test_a_voice_call_shows_whether_it_was_answered() -> None:
    for status, ok in (("completed", True), ("no-answer", False), ("busy", False)):
        row = OutboxMessage(kind="called", channel="voice", status="sent", delivered_to="voice")
        row.provider_status = status
        delivery = delivery_of(row)
        assert (delivery.channel, delivery.state, delivery.ok) == ("voice", status, ok)
