"""A queue's public name: what patients read it called in messages, on the waiting-room
display, the patient page, the join form and the poster. Its real name ("Sexual health
clinic") stays with staff; without a public name patients read the code."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.delivery.wording import outgoing
from core.storage.models import OutboxMessage
from tests.api.helpers import API, assert_error, call_next, create_queue, join
from tests.conftest import Api
from tests.web.sessions import log_in

REAL = "Sexual health clinic"
PUBLIC = "Clinic 4"


async def patient_texts(api: Api) -> list[str]:
    """Every message queued for patients so far, rendered as the dispatcher renders it."""
    rows = await OutboxMessage.all().order_by("created_at")
    assert rows
    return [outgoing(row, "https://q.example.org", "en").text for row in rows]


async def public_pages(api: Api, ticket: dict[str, Any]) -> dict[str, str]:
    pages = {}
    for path in ("/display/SHC", f"/t/{ticket['token']}", "/q/SHC/join", "/q/SHC/poster"):
        response = await api.call("GET", path, role=None)
        assert response.status_code == 200, (path, response.text)
        pages[path] = response.text
    return pages


async def test_patients_read_the_public_name_and_staff_the_real_one(api: Api) -> None:
    created = await create_queue(api, "SHC", name=REAL, public_name=PUBLIC)
    assert (created["name"], created["public_name"]) == (REAL, PUBLIC)
    ticket = await join(api, "SHC", phone="+15557770101", name="Zebulon Quixote")
    await call_next(api, "SHC")

    texts = await patient_texts(api)
    assert len(texts) == 2  # joined and called, by SMS
    for text in texts:
        assert PUBLIC in text and "Sexual" not in text and "Zebulon" not in text
    for path, page in (await public_pages(api, ticket)).items():
        assert PUBLIC in page and "Sexual" not in page, path

    async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as staff:
        assert (await log_in(staff, "admin-user")).status_code == 303
        board = await staff.get("/console?queue=SHC")
    assert REAL in board.text  # staff pages keep the real name


async def test_without_a_public_name_patients_read_the_code(api: Api) -> None:
    created = await create_queue(api, "SHC", name=REAL)
    assert created["public_name"] is None
    ticket = await join(api, "SHC", phone="+15557770101")

    [text] = await patient_texts(api)
    assert text.startswith("SHC: ticket ") and "Sexual" not in text
    for path, page in (await public_pages(api, ticket)).items():
        assert "Sexual" not in page, path
    display = (await api.call("GET", "/display/SHC", role=None)).text
    assert '<h1 class="queue-name">SHC</h1>' in display


async def test_the_public_name_is_changed_and_cleared_through_the_api(api: Api) -> None:
    await create_queue(api, "SHC", name=REAL)
    path = f"{API}/queues/SHC"

    renamed = await api.call("PATCH", path, json={"public_name": " Clinic 4 "})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["public_name"]) == (REAL, PUBLIC)
    # Other changes leave it be.
    other = await api.call("PATCH", path, json={"prefix": "S"})
    assert other.json()["public_name"] == PUBLIC
    assert (await api.call("GET", path, role="staff")).json()["public_name"] == PUBLIC

    for clearing in (None, "", "   "):
        await api.call("PATCH", path, json={"public_name": PUBLIC})
        cleared = await api.call("PATCH", path, json={"public_name": clearing})
        assert cleared.status_code == 200, cleared.text
        assert cleared.json()["public_name"] is None


@pytest.mark.parametrize(
    ("public_name", "status", "code"),
    [
        ("x" * 21, 422, "validation_error"),  # longer than an SMS template holds
        ("Clínica 4", 422, "invalid_value"),  # í is not GSM-7: every SMS would cost more
        ("Clinic 🙂", 422, "invalid_value"),
        (4, 422, "validation_error"),
    ],
)
async def test_a_public_name_an_sms_cannot_carry_is_refused(
    api: Api, public_name: Any, status: int, code: str
) -> None:
    body = {"code": "SHC", "name": REAL, "prefix": "S", "public_name": public_name}
    assert_error(await api.call("POST", f"{API}/queues", json=body), status, code)
    assert_error(await api.call("GET", f"{API}/queues/SHC"), 404)
    await create_queue(api, "SHC", name=REAL)
    patched = await api.call("PATCH", f"{API}/queues/SHC", json={"public_name": public_name})
    assert_error(patched, status, code)
    assert (await api.call("GET", f"{API}/queues/SHC")).json()["public_name"] is None


async def test_a_bad_public_name_changes_nothing_else_in_the_same_patch(api: Api) -> None:
    await create_queue(api, "SHC", name=REAL, prefix="S")
    body = {"prefix": "Z", "mode": "dynamic", "public_name": "Clínica 4"}
    assert_error(await api.call("PATCH", f"{API}/queues/SHC", json=body), 422, "invalid_value")
    queue = (await api.call("GET", f"{API}/queues/SHC")).json()
    assert (queue["prefix"], queue["mode"], queue["public_name"]) == ("S", "fifo", None)


async def test_only_admins_set_it(api: Api) -> None:
    await create_queue(api, "SHC", name=REAL)
    refused = await api.call(
        "PATCH", f"{API}/queues/SHC", role="staff", json={"public_name": PUBLIC}
    )
    assert_error(refused, 403)


async def test_openapi_documents_it(api: Api) -> None:
    spec = (await api.call("GET", "/openapi.json", role=None)).json()
    schemas = spec["components"]["schemas"]
    for body in ("QueueCreateBody", "QueuePatchBody"):
        field = schemas[body]["properties"]["public_name"]
        assert "real name" in field["description"] and "code" in field["description"]
