"""The public pages over HTTP when a queue has opening hours: the display, the patient
page, the web join form and the poster show the hours, and "closed" (until when) or
"paused" when it takes no patients; a web join while closed is refused on the form."""

from __future__ import annotations

from typing import Any

from tests.api.helpers import API, create_queue, join
from tests.conftest import Api, FakeClock
from tests.web.sessions import console_client, csrf_token
from tests.web.test_join_page import post
from tests.web.test_kinds_of_visit_console import add_walk_in
from tests.web.test_live import feed, receive

# The test clock starts on Monday 2026-03-02 at 09:00 UTC, 10:00 in Madrid.
HOURS = {"mon": [["08:00", "13:00"], ["14:00", "18:00"]], "tue": [["08:00", "14:00"]]}


async def with_hours(api: Api, **fields: Any) -> None:
    await create_queue(api, public_name="Pharmacy")
    body = {"opening_hours": HOURS, "timezone": "Europe/Madrid", **fields}
    response = await api.call("PUT", f"{API}/queues/PHARM/config", json=body)
    assert response.status_code == 200, response.text


async def test_pages_show_the_hours_while_open(api: Api) -> None:
    await with_hours(api, closures=["2026-12-25"])
    ticket = await join(api)
    for path in ("/display/PHARM", f"/t/{ticket['token']}", "/q/PHARM/join", "/q/PHARM/poster"):
        page = (await api.call("GET", path, role=None)).text
        assert "08:00\u201313:00, 14:00\u201318:00" in page, path
        assert "Closed \u2013" not in page, path
    poster = (await api.call("GET", "/q/PHARM/poster", role=None)).text
    assert "2026-12-25" in poster
    display = (await api.call("GET", "/display/PHARM/state", role=None)).json()
    assert display["open"] is True and display["notice"] is None


async def test_pages_say_closed_and_when_it_opens(api: Api, clock: FakeClock) -> None:
    await with_hours(api)
    ticket = await join(api)
    clock.advance(hours=9)  # 19:00 in Madrid
    notice = "Closed \u2013 opens Tue 08:00"
    for path in ("/display/PHARM", f"/t/{ticket['token']}", "/q/PHARM/join"):
        page = (await api.call("GET", path, role=None)).text
        assert notice in page, path
    display = (await api.call("GET", "/display/PHARM/state", role=None)).json()
    assert display["open"] is False and display["notice"] == notice
    spanish = await api.call("GET", "/q/PHARM/join", role=None, headers={"Accept-Language": "es"})
    assert "Cerrado \u2013 abre el mar a las 08:00" in spanish.text


async def test_a_web_join_while_closed_is_refused_on_the_form(api: Api, clock: FakeClock) -> None:
    await with_hours(api)
    clock.advance(hours=9)
    response = await post(api, name="Ana")
    assert response.status_code == 409
    assert "Closed \u2013 opens Tue 08:00" in response.text
    status = (await api.call("GET", f"{API}/queues/PHARM/status")).json()
    assert status["size"] == 0


async def test_a_paused_queue_shows_the_staff_message(api: Api) -> None:
    await with_hours(api)
    await api.call("POST", f"{API}/queues/PHARM/pause", json={"message": "Back at 11"})
    display = (await api.call("GET", "/display/PHARM/state", role=None)).json()
    assert display["open"] is False
    assert display["notice"] == "Not taking new patients right now: Back at 11"
    response = await post(api, name="Ana")
    assert response.status_code == 409 and "Back at 11" in response.text
    await api.call("POST", f"{API}/queues/PHARM/resume")
    display = (await api.call("GET", "/display/PHARM/state", role=None)).json()
    assert display["open"] is True


async def test_a_queue_without_hours_shows_none(api: Api) -> None:
    await create_queue(api)
    page = (await api.call("GET", "/q/PHARM/join", role=None)).text
    assert "Opening hours" not in page


async def test_the_board_pauses_and_resumes_and_feeds_say_so(api: Api) -> None:
    await with_hours(api)
    async with console_client(api, "staff") as client:
        page = (await client.get("/console")).text
        assert 'hx-post="/api/v1/queues/PHARM/pause"' in page
        assert "Open until Mon 13:00" in (await client.get("/console/queues/PHARM/board")).text
        csrf = await csrf_token(client)
        async with (
            feed(api, "/ws/queues/pharm", role="staff") as staff,
            feed(api, "/ws/queues/pharm") as display,
        ):
            await receive(staff, "snapshot")
            await receive(display, "display")
            paused = await client.post(
                f"{API}/queues/PHARM/pause",
                json={"message": "Back at 11"},
                headers={"X-CSRF-Token": csrf},
            )
            assert paused.status_code == 200, paused.text
            [event] = (await receive(staff, "queue_paused"))[-1:]
            assert event["data"]["message"] == "Back at 11"
            assert event["data"]["actor"] == "staff:staff-user"
            snapshot = (await receive(display, "display"))[-1]
            assert snapshot["data"]["open"] is False
            assert snapshot["data"]["notice"] == "Not taking new patients right now: Back at 11"
            board = (await client.get("/console/queues/PHARM/board")).text
            assert "Joins paused by staff-user" in board and "Back at 11" in board
            assert 'hx-post="/api/v1/queues/PHARM/resume"' in board
            resumed = await client.post(
                f"{API}/queues/PHARM/resume", headers={"X-CSRF-Token": csrf}
            )
            assert resumed.status_code == 200, resumed.text
            await receive(staff, "queue_resumed")
            snapshot = (await receive(display, "display"))[-1]
            assert snapshot["data"]["open"] is True


async def test_the_board_says_closed_by_the_hours(api: Api, clock: FakeClock) -> None:
    await with_hours(api)
    clock.advance(hours=9)
    async with console_client(api, "staff") as client:
        board = (await client.get("/console/queues/PHARM/board")).text
    assert "Closed by its opening hours \u2013 opens Tue 08:00" in board


async def test_a_web_join_that_could_not_be_seen_before_closing_is_refused(
    api: Api, clock: FakeClock
) -> None:
    await with_hours(api, default_service_s=1800)
    await api.call("PATCH", f"{API}/queues/PHARM", json={"counters": ["1"]})
    clock.advance(hours=2, minutes=10)  # 12:10 in Madrid, closing at 13:00
    await join(api)
    await join(api)
    response = await post(api, name="Ana")
    assert response.status_code == 409
    assert "before closing time" in response.text
    assert (await api.call("GET", f"{API}/queues/PHARM/status")).json()["size"] == 2


async def test_a_walk_in_while_closed_is_added_once_staff_tick_add_anyway(
    api: Api, clock: FakeClock
) -> None:
    await with_hours(api)
    clock.advance(hours=9)  # 19:00 in Madrid: closed
    async with console_client(api, "staff") as client:
        refused = await add_walk_in(client, name="Ana")
        assert refused.status_code == 422
        assert "is closed" in refused.text and 'name="force"' in refused.text
        added = await add_walk_in(client, name="Ana", force="1")
    assert added.status_code == 200, added.text
    assert "Added <b>" in added.text and 'name="force"' not in added.text
    [ticket] = (await api.call("GET", f"{API}/queues/PHARM/status")).json()["waiting"]
    history = (await api.call("GET", f"{API}/tickets/{ticket['id']}")).json()["history"]
    assert history[0]["type"] == "ticket_joined" and history[0]["data"]["forced"] is True
