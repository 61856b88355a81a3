"""The Twilio emulator, driven by the real twilio client over real HTTP."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from tests.emulators.twilio import (
    CallbackMode,
    FaultKind,
    TwilioEmulator,
)

PATIENT = "+15551230001"
OTHER = "+15551230002"
FROM = "+15550000001"
FROM_2 = "+15550000002"
SERVICE = "MG" + "0123456789abcdef" * 2
PUBLIC = "https://nextup.example.org"
STATUS_URL = f"{PUBLIC}/hooks/twilio/status?n=abc"
SMS_URL = f"{PUBLIC}/hooks/twilio/sms"


@dataclass
class Hit:
    path_qs: str
    params: dict[str, str]
    signature: str | None


@dataclass
class App:
    """A stand-in for the NextUp webhooks: records every POST, replies `twiml` to /sms."""

    url: str = ""
    hits: list[Hit] = field(default_factory=list)
    twiml: str = str(MessagingResponse())
    status: int = 200

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        params = {key: str(value) for key, value in form.items()}
        self.hits.append(Hit(request.path_qs, params, request.headers.get("X-Twilio-Signature")))
        if request.path.endswith("/sms"):
            return web.Response(text=self.twiml, content_type="text/xml", status=self.status)
        return web.Response(status=self.status)


@pytest.fixture
async def tw() -> AsyncIterator[TwilioEmulator]:
    async with TwilioEmulator(numbers=(FROM, FROM_2), callback_delay_s=0.01) as emulator:
        emulator.sms_webhook_url = SMS_URL
        yield emulator


@pytest.fixture
async def app(tw: TwilioEmulator) -> AsyncIterator[App]:
    hooks = App()
    web_app = web.Application()
    web_app.router.add_post("/{tail:.*}", hooks.handle)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hooks.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    tw.callback_base = hooks.url
    yield hooks
    await runner.cleanup()


def make_client(tw: TwilioEmulator, account_sid: str = "", token: str = "") -> tuple[Any, Any]:
    http = AsyncTwilioHttpClient(timeout=10)
    client = Client(account_sid or tw.account_sid, token or tw.auth_token, http_client=http)
    client.api.base_url = tw.base_url
    return client, http


@pytest.fixture
async def client(tw: TwilioEmulator) -> AsyncIterator[Any]:
    client, http = make_client(tw)
    yield client
    await http.close()


async def send(client: Any, to: str = PATIENT, body: str = "hi", **kwargs: Any) -> Any:
    kwargs.setdefault("from_", FROM)
    # AsyncTwilioHttpClient ignores its own timeout; a hang must fail the test, not stall it.
    async with asyncio.timeout(3):
        return await client.messages.create_async(to=to, body=body, **kwargs)


async def eventually(predicate: Callable[[], bool], timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def send_error(client: Any, **kwargs: Any) -> Any:
    with pytest.raises(TwilioRestException) as caught:
        await send(client, **kwargs)
    return caught.value


async def test_create_returns_a_twilio_message_resource(client: Any, tw: TwilioEmulator) -> None:
    msg = await send(client, body="You are number 3", status_callback=STATUS_URL)
    assert msg.sid.startswith("SM") and len(msg.sid) == 34
    assert (msg.status, msg.num_segments, msg.to, msg.from_) == ("queued", "1", PATIENT, FROM)
    assert (msg.direction, msg.account_sid, msg.api_version) == (
        "outbound-api",
        tw.account_sid,
        "2010-04-01",
    )
    assert msg.body == "You are number 3" and msg.num_media == "0" and msg.price_unit == "USD"
    assert msg.price is None and msg.error_code is None and msg.date_sent is None
    assert msg.messaging_service_sid is None
    assert (
        isinstance(msg.date_created, datetime)
        and abs(msg.date_created.timestamp() - time.time()) < 5
    )
    assert msg.uri == f"/2010-04-01/Accounts/{tw.account_sid}/Messages/{msg.sid}.json"
    assert msg.subresource_uris["media"].endswith(f"/Messages/{msg.sid}/Media.json")
    [sms] = await tw.wait_for_message(PATIENT, contains="number 3")
    assert (sms.sid, sms.from_, sms.segments, sms.status_callback) == (msg.sid, FROM, 1, STATUS_URL)
    record = tw.requests[-1]
    assert (record.method, record.status, record.code) == ("POST", 201, None)
    assert record.path == f"/2010-04-01/Accounts/{tw.account_sid}/Messages.json"
    assert record.params["To"] == PATIENT and record.params["StatusCallback"] == STATUS_URL


async def test_messaging_service_picks_senders_round_robin() -> None:
    async with TwilioEmulator(numbers=(FROM, FROM_2), messaging_service_sid=SERVICE) as tw:
        client, http = make_client(tw)
        try:
            sent = [
                await send(client, to=to, from_=None, messaging_service_sid=SERVICE)
                for to in (PATIENT, OTHER, PATIENT)
            ]
            unknown = await send_error(client, from_=None, messaging_service_sid="MG" + "f" * 32)
        finally:
            await http.close()
    assert [(m.status, m.from_, m.messaging_service_sid) for m in sent] == [
        ("accepted", None, SERVICE)
    ] * 3
    assert [m.from_ for m in tw.messages] == [FROM, FROM_2, FROM]
    assert tw.messages[0].messaging_service_sid == SERVICE
    assert (unknown.status, unknown.code) == (400, 21606)


async def test_wrong_credentials_are_20003(tw: TwilioEmulator) -> None:
    for account_sid, token in (("", "0" * 32), ("AC" + "1" * 32, "")):
        client, http = make_client(tw, account_sid=account_sid, token=token)
        try:
            error = await send_error(client)
        finally:
            await http.close()
        assert (error.status, error.code) == (401, 20003)
        assert "Authenticate" in error.msg
    assert tw.messages == [] and [r.code for r in tw.requests] == [20003, 20003]


async def test_unknown_resource_is_20404(client: Any, tw: TwilioEmulator) -> None:
    with pytest.raises(TwilioRestException) as caught:
        async with asyncio.timeout(3):
            await client.messages("SM" + "0" * 32).fetch_async()
    assert (caught.value.status, caught.value.code) == (404, 20404)


@pytest.mark.parametrize(
    ("kwargs", "status", "code", "message"),
    [
        ({"to": ""}, 400, 21604, "'To' phone number is required"),
        ({"from_": None}, 400, 21603, "'From' phone number is required"),
        ({"body": ""}, 400, 21602, "body is required"),
        ({"body": "x" * 1601}, 400, 21617, "exceeds the 1600 character limit"),
        ({"from_": "+15559999999"}, 400, 21606, "+15559999999 is not a valid, SMS-capable"),
        ({"to": "+1abc"}, 400, 21211, "The 'To' number +1abc is not a valid phone number."),
        ({"to": "5551230001"}, 400, 21211, "is not a valid phone number"),
        ({"to": "+15550000000"}, 400, 21211, "is not a valid phone number"),
    ],
)
async def test_validation_errors(
    client: Any, tw: TwilioEmulator, kwargs: dict[str, Any], status: int, code: int, message: str
) -> None:
    tw.invalid_numbers.add("+15550000000")
    error = await send_error(client, **kwargs)
    assert (error.status, error.code) == (status, code)
    assert message in error.msg and tw.messages == []


async def test_body_of_1600_characters_is_accepted(client: Any) -> None:
    msg = await send(client, body="x" * 1600)
    assert (msg.body, msg.num_segments) == ("x" * 1600, "11")


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("too_many_requests", 429, 20429),
        ("server_error", 500, 20500),
        ("service_unavailable", 503, 20503),
        ("opted_out", 400, 21610),
        ("invalid_number", 400, 21211),
    ],
)
async def test_injected_faults(
    client: Any, tw: TwilioEmulator, kind: FaultKind, status: int, code: int
) -> None:
    tw.fail_next(kind, count=2, to=OTHER)
    await send(client, to=PATIENT)  # other recipients are unaffected
    for _ in range(2):
        error = await send_error(client, to=OTHER)
        assert (error.status, error.code) == (status, code)
    await send(client, to=OTHER)
    assert [m.to for m in tw.messages] == [PATIENT, OTHER]
    tw.fail_next(kind)
    error = await send_error(client, to=PATIENT, body="")  # faults come before validation
    assert error.code == code


async def test_faults_need_valid_credentials(tw: TwilioEmulator) -> None:
    tw.fail_next("server_error")
    client, http = make_client(tw, token="0" * 32)
    try:
        assert (await send_error(client)).code == 20003
    finally:
        await http.close()
    ok, http = make_client(tw)
    try:
        assert (await send_error(ok)).code == 20500
    finally:
        await http.close()


async def test_timeout_fault_holds_the_request(client: Any, tw: TwilioEmulator) -> None:
    tw.hang_s = 0.3
    tw.fail_next("timeout")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await client.messages.create_async(to=PATIENT, from_=FROM, body="lost")
    assert time.monotonic() - started < 0.3 and tw.messages == []
    tw.fail_next("timeout", deliver=True)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await client.messages.create_async(to=PATIENT, from_=FROM, body="taken")
    [sms] = await tw.wait_for_message(PATIENT, contains="taken")  # Twilio took it anyway
    assert sms.direction == "outbound-api"
    await eventually(lambda: all(r.status for r in tw.requests))
    assert [r.status for r in tw.requests] == [504, 201]


async def test_async_client_ignores_its_own_timeout(tw: TwilioEmulator) -> None:
    """twilio 9.13 passes timeout=None to aiohttp per request, which disables every
    aiohttp timeout: AsyncTwilioHttpClient(timeout=...) has no effect."""
    tw.hang_s = 0.3
    tw.fail_next("timeout")
    http = AsyncTwilioHttpClient(timeout=0.05)
    client = Client(tw.account_sid, tw.auth_token, http_client=http)
    client.api.base_url = tw.base_url
    started = time.monotonic()
    try:
        error = await send_error(client)
    finally:
        await http.close()
    assert error.status == 504 and time.monotonic() - started >= 0.25


async def test_rate_limit_per_sender() -> None:
    # 5/s: a second send within 150 ms (interval minus tolerance) breaks it, even on a slow box.
    async with TwilioEmulator(numbers=(FROM, FROM_2), rate_per_s=5) as tw:
        client, http = make_client(tw)
        try:
            await send(client, from_=FROM)
            error = await send_error(client, from_=FROM)
            await send(client, from_=FROM_2)  # each number has its own budget
            assert (error.status, error.code) == (429, 20429) and tw.throttled == 1
            for _ in range(2):
                await asyncio.sleep(0.2)
                await send(client, from_=FROM)
        finally:
            await http.close()
    per_number = tw.sent_per_number()
    assert len(per_number[FROM]) == 3 and len(per_number[FROM_2]) == 1
    assert len(tw.messages) == 4 and tw.throttled == 1
    assert [r.code for r in tw.requests] == [None, 20429, None, None, None]
    gaps = [b - a for a, b in zip(per_number[FROM], per_number[FROM][1:], strict=False)]
    assert all(gap >= 0.2 - tw.rate_tolerance_s for gap in gaps)


async def test_rate_limit_per_messaging_service() -> None:
    async with TwilioEmulator(
        numbers=(FROM, FROM_2), messaging_service_sid=SERVICE, rate_per_s=5
    ) as tw:
        client, http = make_client(tw)
        try:
            await send(client, from_=None, messaging_service_sid=SERVICE)
            error = await send_error(client, from_=None, messaging_service_sid=SERVICE)
        finally:
            await http.close()
    assert error.code == 20429 and len(tw.messages) == 1


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # extension characters take two septets
        ("€" + "a" * 159, 2),
        ("[Queue] {A}|" + "a" * 143, 1),
        ("Ärzte: Straße für Öl " * 7, 1),  # 147 GSM-7 basic characters
        ("Ärzte: Straße für Öl " * 8, 2),
        ("я" * 70, 1),
        ("я" * 71, 2),
        ("😀" * 35, 1),  # an emoji is two UTF-16 code units
        ("😀" * 35 + "a", 2),
        ("a" * 100 + "я", 2),  # one non-GSM character turns the whole text into UCS-2
    ],
)
async def test_segment_counts(client: Any, tw: TwilioEmulator, body: str, segments: int) -> None:
    msg = await send(client, body=body)
    assert msg.num_segments == str(segments) and tw.messages[-1].segments == segments


async def test_status_callbacks_are_signed_over_the_public_url(
    client: Any, tw: TwilioEmulator, app: App
) -> None:
    tw.undeliverable[OTHER] = 30003
    tw.failing["+15551230003"] = 30008
    ok = await send(client, to=PATIENT, status_callback=STATUS_URL)
    bad = await send(client, to=OTHER, status_callback=STATUS_URL)
    failed = await send(client, to="+15551230003", status_callback=STATUS_URL)
    await send(client, to="+15551230004")  # no callback URL: state moves, nothing posted
    await tw.wait_for_callbacks(5)
    await asyncio.sleep(0.05)  # room for a stray sixth one to show up
    assert len(app.hits) == 5 and all(c.status == 200 for c in tw.callbacks)
    validator = RequestValidator(tw.auth_token)
    for hit in app.hits:
        assert hit.path_qs == "/hooks/twilio/status?n=abc"
        assert validator.validate(STATUS_URL, hit.params, hit.signature)
        assert not validator.validate(app.url + hit.path_qs, hit.params, hit.signature)

    def statuses(sid: str) -> list[tuple[str, str | None]]:
        return [
            (h.params["MessageStatus"], h.params.get("ErrorCode"))
            for h in app.hits
            if h.params["MessageSid"] == sid
        ]

    assert statuses(ok.sid) == [("sent", None), ("delivered", None)]
    assert statuses(bad.sid) == [("sent", None), ("undelivered", "30003")]
    assert statuses(failed.sid) == [("failed", "30008")]
    first = next(h.params for h in app.hits if h.params["MessageSid"] == ok.sid)
    assert first == {
        "SmsSid": ok.sid,
        "SmsStatus": "sent",
        "MessageStatus": "sent",
        "To": PATIENT,
        "MessageSid": ok.sid,
        "AccountSid": tw.account_sid,
        "From": FROM,
        "ApiVersion": "2010-04-01",
    }
    await eventually(lambda: tw.messages[-1].status == "delivered")
    assert [(m.status, m.error_code) for m in tw.messages] == [
        ("delivered", None),
        ("undelivered", 30003),
        ("failed", 30008),
        ("delivered", None),
    ]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("in_order", ["sent", "delivered"]),
        ("reversed", ["delivered", "sent"]),
        ("duplicated", ["sent", "sent", "delivered", "delivered"]),
    ],
)
async def test_callback_modes(
    client: Any, tw: TwilioEmulator, app: App, mode: CallbackMode, expected: list[str]
) -> None:
    tw.callback_mode = mode
    await send(client, status_callback=STATUS_URL)
    await tw.wait_for_callbacks(len(expected))
    assert [h.params["MessageStatus"] for h in app.hits] == expected
    assert tw.messages[0].status == "delivered"


async def test_unreachable_callback_is_recorded(client: Any, tw: TwilioEmulator) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        tw.callback_base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    tw.failing[PATIENT] = 30005
    await send(client, status_callback=STATUS_URL)
    [record] = await tw.wait_for_callbacks(1)
    assert record.status is None and record.error is not None
    assert record.url == STATUS_URL and record.target.endswith("/hooks/twilio/status?n=abc")
    assert "failed" in tw.dump()


async def test_stop_cancels_pending_callbacks(app: App) -> None:
    tw = TwilioEmulator(callback_delay_s=30, callback_base=app.url)
    await tw.start()
    client, http = make_client(tw)
    try:
        await send(client, status_callback=STATUS_URL)
    finally:
        await http.close()
    started = time.monotonic()
    await tw.stop()
    assert time.monotonic() - started < 1 and tw.callbacks == [] and app.hits == []


async def test_inbound_sms_is_signed_and_twiml_replies_are_sent(
    tw: TwilioEmulator, app: App
) -> None:
    response = MessagingResponse()
    response.message("You are number 4 in line.")
    response.message("順番は4番です", action=STATUS_URL)
    app.twiml = str(response)
    reply = await tw.send_sms(PATIENT, "status", to=FROM_2)
    assert (reply.status, reply.messages) == (200, ["You are number 4 in line.", "順番は4番です"])
    assert reply.text.startswith("<?xml")
    [hit] = app.hits
    assert hit.path_qs == "/hooks/twilio/sms"
    assert RequestValidator(tw.auth_token).validate(SMS_URL, hit.params, hit.signature)
    params = hit.params
    assert (params["From"], params["To"], params["Body"]) == (PATIENT, FROM_2, "status")
    assert params["MessageSid"] == params["SmsSid"] == params["SmsMessageSid"]
    assert params["MessageSid"].startswith("SM") and params["AccountSid"] == tw.account_sid
    assert (params["NumMedia"], params["NumSegments"], params["ApiVersion"]) == (
        "0",
        "1",
        "2010-04-01",
    )
    assert params["FromCountry"] == params["ToCountry"] == "US"
    assert "MessagingServiceSid" not in params
    first, second = tw.messages_to(PATIENT)
    assert (first.from_, first.direction, first.segments) == (FROM_2, "outbound-reply", 1)
    assert (second.body, second.status_callback) == ("順番は4番です", STATUS_URL)
    sent, delivered = await tw.wait_for_callbacks(2)  # only the <Message action=...> has any
    assert sent.params["MessageSid"] == delivered.params["MessageSid"] == second.sid
    assert (sent.params["MessageStatus"], delivered.params["MessageStatus"]) == (
        "sent",
        "delivered",
    )


async def test_inbound_reply_without_twiml(tw: TwilioEmulator, app: App) -> None:
    app.twiml = "thanks"
    reply = await tw.send_sms(PATIENT, "hello")
    assert (reply.status, reply.text, reply.messages) == (200, "thanks", [])
    app.status = 403
    response = MessagingResponse()
    response.message("never sent")
    app.twiml = str(response)
    reply = await tw.send_sms(PATIENT, "hello")
    assert (reply.status, reply.messages) == (403, [])
    assert tw.messages == [] and [r.status for r in tw.inbound] == [200, 403]


async def test_stop_opts_out_until_start(client: Any, tw: TwilioEmulator, app: App) -> None:
    response = MessagingResponse()
    response.message("You will get no more messages.")
    app.twiml = str(response)
    reply = await tw.send_sms(PATIENT, "  Stop.  ")
    assert PATIENT in tw.opted_out and len(app.hits) == 1  # the app still hears about it
    assert reply.messages == ["You will get no more messages."]
    assert tw.messages == [] and [b.error_code for b in tw.blocked] == [21610]
    error = await send_error(client)
    assert (error.status, error.code) == (400, 21610)
    assert "unsubscribed recipient" in error.msg
    await send(client, to=OTHER)
    await tw.send_sms(PATIENT, "stopping by later")  # only the keyword itself counts
    assert PATIENT in tw.opted_out
    await tw.send_sms(PATIENT, "START")
    assert PATIENT not in tw.opted_out
    await send(client, body="welcome back")
    await tw.wait_for_message(PATIENT, contains="welcome back")


async def test_post_signed(tw: TwilioEmulator, app: App) -> None:
    params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered"}
    assert await tw.post_signed(STATUS_URL, params) == (200, "")
    assert await tw.post_signed(STATUS_URL, params, signature=None) == (200, "")
    assert await tw.post_signed(STATUS_URL, params, signature="forged") == (200, "")
    valid, unsigned, forged = app.hits
    assert RequestValidator(tw.auth_token).validate(STATUS_URL, valid.params, valid.signature)
    assert (unsigned.signature, forged.signature) == (None, "forged")
    assert tw.callbacks == []


async def test_wait_for_message_reports_what_happened(client: Any, tw: TwilioEmulator) -> None:
    await send(client, body="You are next")
    with pytest.raises(AssertionError, match=r"no 1 message\(s\) to \+15551230002") as caught:
        await tw.wait_for_message(OTHER, timeout_s=0.05)
    assert "You are next" in str(caught.value) and "-> 201" in str(caught.value)
    assert len(await tw.wait_for_count(1, timeout_s=0.1)) == 1
    with pytest.raises(AssertionError, match="fewer than 2 messages"):
        await tw.wait_for_count(2, timeout_s=0.05)


def test_fail_next_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        TwilioEmulator().fail_next("bogus")  # type: ignore[arg-type]


# -- the Calls API ----------------------------------------------------------------------------

VOICE_URL = f"{PUBLIC}/hooks/twilio/voice-status?n=abc"
TWIML = '<Response><Say language="es-ES">Hola</Say><Say language="es-ES">Hola</Say></Response>'


async def place(client: Any, to: str = PATIENT, **kwargs: Any) -> Any:
    kwargs.setdefault("from_", FROM)
    async with asyncio.timeout(3):
        return await client.calls.create_async(to=to, twiml=TWIML, **kwargs)


@pytest.mark.parametrize(
    ("outcome", "statuses"),
    [
        ("completed", ["initiated", "ringing", "in-progress", "completed"]),
        ("no-answer", ["initiated", "ringing", "no-answer"]),
        ("busy", ["initiated", "ringing", "busy"]),
        ("failed", ["initiated", "failed"]),
    ],
)
async def test_a_call_goes_as_scripted_with_signed_callbacks_in_order(
    client: Any, tw: TwilioEmulator, app: App, outcome: Any, statuses: list[str]
) -> None:
    tw.call_outcomes[PATIENT] = outcome
    call = await place(
        client,
        status_callback=VOICE_URL,
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    assert (call.status, call.to, call.sid[:2]) == ("queued", PATIENT, "CA")
    await tw.wait_for_callbacks(len(statuses))
    await asyncio.sleep(0.05)  # room for a stray extra one
    assert [h.params["CallStatus"] for h in app.hits] == statuses
    validator = RequestValidator(tw.auth_token)
    for hit in app.hits:
        assert hit.path_qs == "/hooks/twilio/voice-status?n=abc"
        assert validator.validate(VOICE_URL, hit.params, hit.signature)
        assert hit.params["CallSid"] == call.sid and hit.params["To"] == PATIENT
    [placed] = tw.calls_to(PATIENT)
    assert placed.statuses == ["queued", *statuses]
    assert placed.said == [("Hola", "es-ES"), ("Hola", "es-ES")]
    async with asyncio.timeout(3):
        fetched = await client.calls(call.sid).fetch_async()
    assert fetched.status == statuses[-1]


async def test_without_events_asked_only_the_end_of_a_call_is_reported(
    client: Any, tw: TwilioEmulator, app: App
) -> None:
    await place(client, status_callback=VOICE_URL)
    await tw.wait_for_callbacks(1)
    await asyncio.sleep(0.1)
    assert [h.params["CallStatus"] for h in app.hits] == ["completed"]


async def test_calls_are_checked_like_twilio_does(client: Any, tw: TwilioEmulator) -> None:
    for kwargs, code in (
        ({"from_": "+15559999999"}, 21210),
        ({"to": "12345"}, 21211),
    ):
        with pytest.raises(TwilioRestException) as caught:
            await place(client, **kwargs)
        assert caught.value.code == code
    with pytest.raises(TwilioRestException) as missing:
        async with asyncio.timeout(3):
            await client.calls("CA" + "0" * 32).fetch_async()
    assert missing.value.status == 404
    wrong, http = make_client(tw, token="wrong")
    try:
        with pytest.raises(TwilioRestException) as refused:
            await place(wrong)
        assert refused.value.code == 20003
    finally:
        await http.close()
    assert tw.calls == []
