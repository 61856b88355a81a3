"""`nextup serve` as a separate process with Twilio credentials: its webhooks are mounted,
check signatures against NEXTUP_PUBLIC_URL, and its dispatcher texts through Twilio."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from core.delivery.dispatcher import SHUTDOWN_GRACE_S
from tests.conftest import wait_for_health
from tests.emulators.twilio import TwilioEmulator
from tests.processes import free_port, start_server, stop
from tests.processes import nextup_output as run

PUBLIC_URL = "https://queue.example.org"
STOP_WITHIN_S = 2 * SHUTDOWN_GRACE_S + 5
"""Sends in flight get the grace, then open requests get it again; the rest is slack for a
busy machine. Well under the 15 s a send may take or the 15 s Sanic gives requests by default."""


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
                # The texts name the queue as patients may read it, never its real name.
                queue = {"name": "HIV clinic pharmacy", "public_name": "Pharmacy", "prefix": "A"}
                created = await client.post("/api/v1/queues", json={"code": "PHARM", **queue})
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
                assert "HIV" not in answer.messages[0] and "HIV" not in sms.body
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


async def test_serve_stops_soon_after_sigterm_with_a_send_and_a_request_in_flight(
    tmp_path: Path,
) -> None:
    """Twilio holds the text open and a client stalls halfway through a request: neither
    holds up the stop. The text goes again when its claim runs out."""
    token = run(tmp_path, "demo").split("API token for admin: ")[1].split()[0]
    port = free_port()
    local = f"http://127.0.0.1:{port}"
    async with TwilioEmulator() as twilio:
        twilio.hang_s = 600.0
        twilio.fail_next("timeout")
        server = start_server(
            tmp_path,
            port,
            TWILIO_ACCOUNT_SID=twilio.account_sid,
            TWILIO_AUTH_TOKEN=twilio.auth_token,
            TWILIO_FROM=twilio.numbers[0],
            TWILIO_API_BASE=twilio.base_url,
            PHONE_REGION="US",
        )
        try:
            await wait_for_health(local)
            auth = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=local, headers=auth) as client:
                joined = await client.post(
                    "/api/v1/queues/LAB/tickets", json={"phone": "+15551230001"}
                )
                assert joined.status_code == 201, joined.text
            deadline = time.monotonic() + 60
            while not any(r.status == 0 for r in twilio.requests):  # the send is held open
                assert time.monotonic() < deadline, twilio.dump()
                await asyncio.sleep(0.05)
            _, stalled = await asyncio.open_connection("127.0.0.1", port)
            stalled.write(
                b"POST /api/v1/queues/LAB/tickets HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
            )
            await stalled.drain()
            await asyncio.sleep(0.2)  # the server has read the headers and waits for the body

            signalled = time.monotonic()
            server.terminate()
            exit_code = await asyncio.to_thread(server.wait, STOP_WITHIN_S * 3)
            took_s = time.monotonic() - signalled
            stalled.close()
        finally:
            stop(server)
    log = (tmp_path / f"server-{port}.log").read_text()
    assert exit_code == 0, log
    assert took_s < STOP_WITHIN_S, f"{took_s:.1f} s\n{log}"
    assert "Traceback" not in log and "was destroyed but it is pending" not in log, log
