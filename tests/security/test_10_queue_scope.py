"""Point 10: staff accounts work on the queues assigned to them (admins: all). An unassigned
queue, and its tickets, are "not found" (404, exactly like a queue that does not exist) on
the API, the console, the websockets and the bot; staff responses never carry the patient's
page token; staff acting through a patient's page are audited as themselves."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from argon2 import PasswordHasher

from core.domain.model import QueueConfig
from core.services import accounts
from core.services.queues import new_join_request
from core.services.staff_chat import issue_link_code
from core.storage.models import StaffAccount, TicketEventRow
from tests.api.helpers import create_queue
from tests.bot.conftest import Live, live_nextup
from tests.conftest import Api
from tests.emulators.telegram import TelegramEmulator
from tests.patient_tokens import with_token
from tests.processes import nextup_output as run
from tests.web.sessions import csrf_token, log_in
from web.live.routes import CLOSE_NOT_FOUND

API = "/api/v1"


async def lab_tech(api: Api) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A LAB-only account's token, a PHARM ticket and a LAB ticket."""
    await create_queue(api, "PHARM")
    await create_queue(api, "LAB", prefix="L")
    await accounts.create_account("lab-tech", "staff", "correct horse", queues=["lab"])
    token = await accounts.issue_token("lab-tech")
    tickets = []
    for code in ("PHARM", "LAB"):
        r = await api.call("POST", f"{API}/queues/{code}/tickets", json={"name": "Ann"})
        assert r.status_code == 201
        assert "token" not in r.json()  # an admin's response has none either
        tickets.append(r.json())
    return token, tickets[0], tickets[1]


async def test_api_and_websockets_honour_the_assignment(api: Api) -> None:
    token, pharm, lab = await lab_tech(api)
    auth = {"Authorization": f"Bearer {token}"}
    client = api.client

    listed = await client.get(f"{API}/queues", headers=auth)
    assert [q["code"] for q in listed.json()] == ["LAB"]

    def same_as_unknown(response: httpx.Response, unknown: httpx.Response) -> None:
        assert response.status_code == unknown.status_code == 404
        assert response.json()["error"]["code"] == unknown.json()["error"]["code"]

    for method, path, body in [
        ("GET", "/queues/{}", None),
        ("GET", "/queues/{}/status", None),
        ("GET", "/queues/{}/config", None),
        ("GET", "/queues/{}/analytics", None),
        ("POST", "/queues/{}/tickets", {"name": "Bo"}),
        ("POST", "/queues/{}/call-next", {"counter": "1"}),
        ("POST", "/queues/{}/reposition", None),
    ]:
        hidden = await client.request(method, API + path.format("PHARM"), headers=auth, json=body)
        unknown = await client.request(method, API + path.format("NOPE"), headers=auth, json=body)
        same_as_unknown(hidden, unknown)

    for method, path, body in [
        ("GET", "/tickets/{}", None),
        ("POST", "/tickets/{}/call", {"counter": "1"}),
        ("POST", "/tickets/{}/cancel", {}),
    ]:
        hidden = await client.request(
            method, API + path.format(pharm["id"]), headers=auth, json=body
        )
        unknown = await client.request(method, API + path.format("0" * 36), headers=auth, json=body)
        same_as_unknown(hidden, unknown)
    moved = await client.post(
        f"{API}/tickets/{lab['id']}/transfer", headers=auth, json={"queue": "PHARM"}
    )
    assert moved.status_code == 404

    # Its own queue works, and no response of it carries the patient's page token.
    joined = await client.post(f"{API}/queues/LAB/tickets", headers=auth, json={"name": "Cy"})
    called = await client.post(f"{API}/queues/LAB/call-next", headers=auth, json={"counter": "1"})
    shown = await client.get(f"{API}/tickets/{lab['id']}", headers=auth)
    for response in (joined, called, shown):
        assert response.status_code in (200, 201), response.text
        assert "token" not in response.json()
    spec = (await client.get("/openapi.json")).json()
    assert "token" not in json.dumps(spec["components"]["schemas"].get("Ticket", {}))
    call_next = spec["paths"]["/api/v1/queues/{code}/call-next"]["post"]
    assert "assigned" in call_next["description"] and "404" in call_next["responses"]

    url = api.base_url.replace("http", "ws") + "/ws/queues/PHARM"
    async with websockets.connect(url, additional_headers=auth) as ws:
        frame = json.loads(await ws.recv())
        assert frame["data"]["code"] == "queue_not_found"
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
        assert ws.close_code == CLOSE_NOT_FOUND
    url = api.base_url.replace("http", "ws") + "/ws/queues/LAB"
    async with websockets.connect(url, additional_headers=auth) as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"


async def test_console_honours_it_and_audits_staff_on_patient_pages(api: Api) -> None:
    _, pharm, lab = await lab_tech(api)
    async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as console:
        assert (await log_in(console, "lab-tech")).status_code == 303
        board = await console.get("/console")
        assert "LAB" in board.text and "/console/queues/PHARM" not in board.text
        assert (await console.get("/console/queues/PHARM/board")).status_code == 404
        assert (await console.get(f"/console/tickets/{pharm['id']}")).status_code == 404
        assert (await console.get(f"/console/tickets/{lab['id']}")).status_code == 200
        assert (await console.get("/console/analytics.csv?queue=PHARM")).status_code == 404

        # The console links staff to a patient's page; what they do there is theirs.
        token = (await with_token(lab))["token"]
        left = await console.post(f"/t/{token}/leave", headers={"Origin": api.base_url})
        assert left.status_code == 303
    actors = await TicketEventRow.filter(ticket_id=lab["id"], type="ticket_cancelled").values_list(
        "actor", flat=True
    )
    assert actors == ["staff:lab-tech"]

    # An admin puts the lab tech on PHARM too, from the queue's settings page.
    async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as admin:
        assert (await log_in(admin, "admin-user")).status_code == 303
        page = await admin.get("/console/queues/PHARM/settings")
        assert 'value="lab-tech"' in page.text
        saved = await admin.post(
            "/console/queues/PHARM/staff",
            data={"staff": "lab-tech", "csrf_token": await csrf_token(admin)},
        )
        assert saved.status_code == 303
    assert (await StaffAccount.get(name="lab-tech")).queues == ["LAB", "PHARM"]


@pytest.fixture
async def live(migrated: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Live]:
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    async with TelegramEmulator() as tg, live_nextup(migrated, tg) as running:
        queues = running.container.queues
        for code, prefix in (("PHARM", "A"), ("LAB", "L")):
            await queues.create_queue(code, code.title(), prefix, QueueConfig(), ["1"])
            await queues.join(code, new_join_request(name=f"{code} patient"), "test")
        yield running


async def test_bot_commands_honour_it(live: Live) -> None:
    await accounts.create_account("lab-tech", "staff", "correct horse", queues=["LAB"])
    code = await issue_link_code("lab-tech", live.container.queues.clock())
    await live.reply_to(8001, f"/link {code}", "linked")
    for command in ("/next PHARM 1", "/queue PHARM"):
        refused = await live.reply_to(8001, command, "no queue with the code PHARM")
        assert "PHARM patient" not in refused.text
    await live.reply_to(8001, "/next LAB 1", "Called L-001")
    # Taken off LAB: the counter's remembered queue no longer works either.
    await accounts.assign_queues("lab-tech", ["PHARM"])
    await live.reply_to(8001, "/done", "no queue with the code LAB")


def test_cli_assigns_queues(tmp_path: Path) -> None:
    created = run(tmp_path, "createuser", "nurse", "--role", "staff", "--queues", "PHARM,lab")
    assert "queues: PHARM, LAB" in created
    assert "works on: LAB" in run(tmp_path, "queues", "nurse", "LAB")
    assert "every queue" in run(tmp_path, "queues", "nurse", "*")
    admin = run(tmp_path, "createuser", "boss", "--role", "admin")
    assert "every queue" in admin
