"""The console's ticket page shows the consent record: how the patient asked to be
messaged, and the opt-outs and opt-ins of their number since."""

from __future__ import annotations

from datetime import UTC, datetime

from core.storage import contacts
from nextup.wiring import Container
from tests.api.helpers import act_ok, call_next, create_queue, join
from tests.conftest import Api, FakeClock
from tests.web.sessions import console_client


async def test_the_ticket_page_shows_how_the_patient_asked_to_be_messaged(api: Api) -> None:
    await create_queue(api, "PHARM")
    texted = await join(api, phone="+34600111222")
    silent = await join(api, name="Ana")  # no number: nobody to message, nothing asked
    other = await join(api, phone="+34600333444")
    await contacts.set_opted_out("sms", "+34600111222", True, "sms_stop", datetime.now(UTC))
    async with console_client(api, "staff") as client:
        page = (await client.get(f"/console/tickets/{texted['id']}")).text
        empty = (await client.get(f"/console/tickets/{silent['id']}")).text
        unaffected = (await client.get(f"/console/tickets/{other['id']}")).text
    consent = page.split("<h2>Consent</h2>", 1)[1].split("<h2>", 1)[0]
    assert "asked to be messaged" in consent and "staff walk in" in consent
    assert "opted out" in consent and "sms stop" in consent
    assert "No consent to be messaged recorded" in empty
    other_consent = unaffected.split("<h2>Consent</h2>", 1)[1].split("<h2>", 1)[0]
    assert "staff walk in" in other_consent and "opted out" not in other_consent


async def test_an_erased_ticket_page_shows_no_patient_data(
    api: Api, container: Container, clock: FakeClock
) -> None:
    await create_queue(api, "PHARM")
    ticket = await join(api, phone="+34600111222", name="Ana Lopez")
    await call_next(api)
    await act_ok(api, ticket["id"], "complete")
    clock.advance(seconds=1)
    assert (await container.privacy.purge(days=0))["tickets"] == 1
    async with console_client(api, "staff") as client:
        page = (await client.get(f"/console/tickets/{ticket['id']}")).text
    assert "Ticket A-001" in page and "erased" in page
    for datum in ("600111222", "Ana Lopez", ticket["token"], "/t/"):
        assert datum not in page, datum
    assert "No consent to be messaged recorded" in page
