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


async def test_a_server_killed_mid_ladder_and_started_again_takes_each_step_once(
    tmp_path: Path,
) -> None:
    """SIGKILL, not a stop: the new process finds the ladder where the database left it."""
    run(tmp_path, "createuser", "admin", "--role", "admin", "--password-stdin", stdin="x" * 12)
    token = run(tmp_path, "token", "admin")
    phone = "+15551230007"
    async with TwilioEmulator(numbers=("+15550000001",)) as twilio:
        twilio.call_outcomes[phone] = "no-answer"
        twilio.call_step_s = 0.1
        settings = {
            "PUBLIC_URL": PUBLIC_URL,
            "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TWILIO_FROM": "+15550000001",
            "TWILIO_VOICE_FROM": "+15550000001",
            "TWILIO_API_BASE": twilio.base_url,
            "OUTBOX_POLL_S": "0.2",
        }
        port = free_port()
        local = f"http://127.0.0.1:{port}"
        twilio.callback_base = local
        server = start_server(tmp_path, port, **settings)
        try:
            await wait_for_health(local)
            auth = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=local, headers=auth, timeout=10) as client:
                ladder = [
                    {"step": "sms", "after_s": 1},
                    {"step": "voice", "after_s": 4},
                    {"step": "unreachable", "after_s": 1},
                ]
                body = {"code": "PHARM", "name": "Pharmacy", "prefix": "A", "call_ladder": ladder}
                assert (await client.post("/api/v1/queues", json=body)).status_code == 201
                joined = await client.post(
                    "/api/v1/queues/PHARM/tickets", json={"telegram_chat_id": 42, "phone": phone}
                )
                ticket = joined.json()["id"]
                call = await client.post("/api/v1/queues/PHARM/call-next", json={"counter": "1"})
                assert call.status_code == 200, call.text
                await twilio.wait_for_message(phone, "your turn", timeout_s=15)

                async def notifications() -> list[dict[str, str]]:
                    found = await client.get(f"/api/v1/tickets/{ticket}")
                    return list(found.json()["notifications"])

                deadline = time.monotonic() + 15
                while not any(
                    n["channel"] == "sms" and n["status"] == "sent" for n in await notifications()
                ):
                    assert time.monotonic() < deadline, await notifications()
                    await asyncio.sleep(0.05)
        finally:
            server.kill()  # mid-ladder: the SMS went, the voice call is due in 4 s
            server.wait(timeout=10)

        server = start_server(tmp_path, port, **settings)
        try:
            await wait_for_health(local)
            async with httpx.AsyncClient(base_url=local, headers=auth, timeout=10) as client:
                deadline = time.monotonic() + 30
                while (await client.get(f"/api/v1/tickets/{ticket}")).json()[
                    "unreachable_at"
                ] is None:
                    assert time.monotonic() < deadline, twilio.dump()
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)  # the new process has looked again since
                records = await notifications()
        finally:
            stop(server)
    channels = sorted(n["channel"] for n in records if n["kind"] == "called")
    assert channels == ["sms", "telegram", "voice"]
    assert len(twilio.messages_to(phone)) == 1
    assert [c.statuses[-1] for c in twilio.calls_to(phone)] == ["no-answer"]
