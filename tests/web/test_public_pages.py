"""The public pages over HTTP: the waiting-room display and a patient's ticket page, with
the patient's two actions (leave, running late) as plain forms that work without JavaScript."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import API, create_queue, join
from tests.conftest import Api

NAMES = ("Zebulon Quixote", "Philippa Marchbanks")
PHONES = ("+15557770101", "+15557770102")


async def three_waiting(api: Api) -> list[dict[str, Any]]:
    await create_queue(api, name="Outpatient pharmacy", public_name="Pharmacy")
    tickets = [await join(api, name=n, phone=p) for n, p in zip(NAMES, PHONES, strict=True)]
    tickets.append(await join(api, phone="+15557770103"))
    return tickets


async def status_of(api: Api, ticket_id: str) -> dict[str, Any]:
    response = await api.call("GET", f"{API}/tickets/{ticket_id}")
    assert response.status_code == 200, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


def form_post(api: Api, path: str, origin: str | None = None, **form: str) -> Any:
    headers = {"Origin": origin} if origin else {}
    return api.call("POST", path, role=None, data=form, headers=headers)


# -- display -------------------------------------------------------------------------------


async def test_display_renders_numbers_and_counters_but_never_who(api: Api) -> None:
    tickets = await three_waiting(api)
    called = await api.call("POST", f"{API}/queues/PHARM/call-next", json={"counter": "2"})
    assert called.status_code == 200

    response = await api.call("GET", "/display/pharm", role=None)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "Pharmacy" in page and "Outpatient" not in page  # the name patients read
    assert tickets[0]["number"] in page and tickets[1]["number"] in page
    assert 'data-number="A-001"' in page  # called, and painted before any script runs
    for secret in (*NAMES, *PHONES, "+15557770103", "admin-user"):
        assert secret not in page
    for ticket in tickets:
        assert ticket["id"] not in page and ticket["token"] not in page


async def test_display_state_is_the_redacted_snapshot(api: Api) -> None:
    tickets = await three_waiting(api)
    await api.call("POST", f"{API}/queues/PHARM/call-next", json={"counter": "1"})

    response = await api.call("GET", "/display/PHARM/state", role=None)

    assert response.status_code == 200
    state = response.json()
    assert state["called"] == [
        {
            "number": "A-001",
            "counter": "1",
            "status": "called",
            "called_at": state["called"][0]["called_at"],
        }
    ]
    assert state["next"] == [tickets[1]["number"], tickets[2]["number"]]
    assert state["waiting"] == 2
    for secret in (*NAMES, *PHONES, *(t["id"] for t in tickets), *(t["token"] for t in tickets)):
        assert secret not in response.text


async def test_display_in_spanish_says_turno_and_ventanilla(api: Api) -> None:
    await create_queue(api, name="Farmacia")
    await api.call("PUT", f"{API}/queues/PHARM/config", json={"language": "es"})

    page = (await api.call("GET", "/display/PHARM", role=None)).text

    assert '<html lang="es">' in page
    assert "Turno {number}, ventanilla {counter}" in page
    assert 'data-speech-lang="es"' in page


async def test_unknown_display_is_a_404_page(api: Api) -> None:
    response = await api.call("GET", "/display/NOPE", role=None)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Queue not found" in response.text
    assert (await api.call("GET", "/display/NOPE/state", role=None)).status_code == 404


# -- ticket page --------------------------------------------------------------------------


async def test_ticket_page_shows_only_its_own_ticket(api: Api) -> None:
    tickets = await three_waiting(api)
    mine = tickets[1]

    response = await api.call("GET", f"/t/{mine['token']}", role=None)

    assert response.status_code == 200
    page = response.text
    assert mine["number"] in page
    assert "Position 2 in line" in page
    assert "about " in page and " min" in page
    assert response.headers["cache-control"] == "private, no-store"
    assert response.headers["referrer-policy"] == "same-origin"
    for other in (tickets[0], tickets[2]):
        assert other["number"] not in page and other["token"] not in page
    for secret in (*NAMES, *PHONES, mine["id"]):
        assert secret not in page


async def test_unknown_token_is_a_friendly_404(api: Api) -> None:
    response = await api.call("GET", "/t/not-a-real-token", role=None)
    assert response.status_code == 404
    assert "This ticket link is not valid" in response.text
    leave = await form_post(api, "/t/not-a-real-token/leave")
    assert leave.status_code == 404 and "not valid" in leave.text


async def test_leave_redirects_back_with_a_message_once(api: Api) -> None:
    tickets = await three_waiting(api)
    token = tickets[0]["token"]

    response = await form_post(api, f"/t/{token}/leave", origin=api.base_url)

    assert response.status_code == 303
    assert response.headers["location"] == f"/t/{token}"
    assert (await status_of(api, tickets[0]["id"]))["status"] == "cancelled"
    history = (await status_of(api, tickets[0]["id"]))["history"]
    cancelled = next(e for e in history if e["to_status"] == "cancelled")
    assert cancelled["actor"] == "patient:web"
    page = await api.client.get(f"/t/{token}")  # the client keeps the flash cookie
    assert '<p class="flash-message" role="status">You have left the queue.' in page.text
    assert "Cancelled" in page.text
    again = await api.client.get(f"/t/{token}")
    assert "flash-message" not in again.text


async def test_late_moves_the_patient_back(api: Api) -> None:
    tickets = await three_waiting(api)
    first = tickets[0]

    response = await form_post(api, f"/t/{first['token']}/late", minutes="15")

    assert response.status_code == 303
    moved = await status_of(api, first["id"])
    assert moved["status"] == "waiting"
    assert moved["position"] > 1
    assert moved["late_count"] == 1
    page = await api.client.get(f"/t/{first['token']}")
    assert '<p class="flash-message" role="status">Thanks for telling us' in page.text


@pytest.mark.parametrize("minutes", ["0", "121", "soon", ""])
async def test_late_needs_1_to_120_minutes(api: Api, minutes: str) -> None:
    tickets = await three_waiting(api)

    response = await form_post(api, f"/t/{tickets[0]['token']}/late", minutes=minutes)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert '<p class="error-message" role="alert">Choose between 1 and 120' in response.text
    assert (await status_of(api, tickets[0]["id"]))["late_count"] == 0


async def test_late_is_limited(api: Api) -> None:
    tickets = await three_waiting(api)
    token = tickets[0]["token"]
    for _ in range(2):
        assert (await form_post(api, f"/t/{token}/late", minutes="5")).status_code == 303

    response = await form_post(api, f"/t/{token}/late", minutes="5")

    assert response.status_code == 422
    assert "You have already moved back 2 times" in response.text
    page = (await api.call("GET", f"/t/{token}", role=None)).text
    assert 'action="/t/' + token + '/late"' not in page  # no form left to press


async def test_a_called_patient_cannot_leave_or_be_late(api: Api) -> None:
    tickets = await three_waiting(api)
    await api.call("POST", f"{API}/queues/PHARM/call-next", json={"counter": "2"})
    token = tickets[0]["token"]

    page = (await api.call("GET", f"/t/{token}", role=None)).text
    assert "Called \u2013 go to counter 2" in page
    for action, form in (("leave", {}), ("late", {"minutes": "10"})):
        response = await form_post(api, f"/t/{token}/{action}", **form)
        assert response.status_code == 409
        assert '<p class="error-message" role="alert">You have been called already' in response.text
    assert (await status_of(api, tickets[0]["id"]))["status"] == "called"


async def test_a_post_from_another_site_is_refused(api: Api) -> None:
    tickets = await three_waiting(api)
    token = tickets[0]["token"]

    for origin in ("https://evil.example", "null"):
        for action, form in (("leave", {}), ("late", {"minutes": "10"}), ("late", {})):
            response = await form_post(api, f"/t/{token}/{action}", origin=origin, **form)
            assert response.status_code == 403, (origin, action)

    ticket = await status_of(api, tickets[0]["id"])
    assert ticket["status"] == "waiting" and ticket["late_count"] == 0


async def test_only_this_servers_exact_origin_may_post(api: Api) -> None:
    """The one Origin check (web/origin.py) is the stricter of the two it replaced: the host
    without a scheme, or with a path after it, is another origin."""
    tickets = await three_waiting(api)
    token = tickets[0]["token"]
    host = api.base_url.split("://", 1)[1]

    for origin in (host, f"{api.base_url}/t/{token}"):
        response = await form_post(api, f"/t/{token}/leave", origin=origin)
        assert response.status_code == 403, origin

    assert (await status_of(api, tickets[0]["id"]))["status"] == "waiting"


async def test_spanish_patient_reads_spanish(api: Api) -> None:
    await create_queue(api)
    ticket = await join(api, phone="+34600111222", language="es")

    page = (await api.call("GET", f"/t/{ticket['token']}", role=None)).text

    assert '<html lang="es">' in page
    assert "Salir de la fila" in page and "Posición 1 en la fila" not in page
    assert "Usted es el siguiente" in page
