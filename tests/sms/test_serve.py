"""`nextup serve` as a separate process with Twilio credentials: its webhooks are mounted,
check signatures against NEXTUP_PUBLIC_URL, and its dispatcher texts through Twilio."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import wait_for_health
from tests.emulators.twilio import TwilioEmulator
from tests.processes import free_port, start_server, stop
from tests.processes import nextup_output as run

PUBLIC_URL = "https://queue.example.org"


async def test_serve_texts_patients_and_answers_their_texts(tmp_path: Path) -> None:
    run(tmp_path, "createuser", "admin", "--role", "admin", "--password-stdin", stdin="x" * 12)
    token = run(tmp_path, "token", "admin")
    port = free_port()
    local = f"http://127.0.0.1:{port}"
    async with TwilioEmulator(numbers=("+15550000001", "+15550000002")) as twilio:
        server = start_server(
            tmp_path,
            port,
            PUBLIC_URL=PUBLIC_URL,  # behind a proxy: Twilio signs this address
            TWILIO_ACCOUNT_SID=twilio.account_sid,
            TWILIO_AUTH_TOKEN=twilio.auth_token,
            TWILIO_FROM="+15550000001,+15550000002",
            TWILIO_API_BASE=twilio.base_url,
            PHONE_REGION="US",
        )
        twilio.callback_base = local
        twilio.sms_webhook_url = f"{PUBLIC_URL}/hooks/twilio/sms"
        try:
            await wait_for_health(local)
            auth = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=local, headers=auth) as client:
                created = await client.post(
                    "/api/v1/queues", json={"code": "PHARM", "name": "Pharmacy", "prefix": "A"}
                )
                assert created.status_code == 201, created.text
                walk_in = await client.post(
                    "/api/v1/queues/PHARM/tickets", json={"phone": "(555) 123-0001"}
                )
                assert walk_in.status_code == 201, walk_in.text
                assert walk_in.json()["phone"] == "+15551230001"
                [sms] = await twilio.wait_for_message("+15551230001", "ticket A-001", 10)
                assert sms.status_callback is not None
                assert sms.status_callback.startswith(f"{PUBLIC_URL}/hooks/twilio/status?n=")

                answer = await twilio.send_sms("+15551230002", "join pharm")
                assert answer.status == 200
                assert "Pharmacy: ticket A-002, no. 2 in line" in answer.messages[0]
                forged = await twilio.post_signed(
                    twilio.sms_webhook_url, {"From": "+15551230003", "Body": "JOIN PHARM"}, "x"
                )
                assert forged[0] == 403

                ticket = await client.get(f"/api/v1/tickets/{walk_in.json()['id']}")
                [record] = ticket.json()["notifications"]
                assert (record["delivered_to"], record["segments"]) == ("sms", 1)
                status = await client.get("/api/v1/queues/PHARM/status")
                assert status.json()["size"] == 2
        finally:
            stop(server)
