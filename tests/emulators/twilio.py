"""A Twilio REST API emulator for tests: a real HTTP server the real `twilio` client talks to.

    async with TwilioEmulator(callback_base=app_url) as tw:
        tw.sms_webhook_url = "https://nextup.example.org/hooks/twilio/sms"
        http = AsyncTwilioHttpClient()  # inside the running loop: it opens an aiohttp session
        client = Client(tw.account_sid, tw.auth_token, http_client=http)
        client.api.base_url = tw.base_url
        await client.messages.create_async(
            to="+15551230001", from_=tw.numbers[0], body="You are next",
            status_callback="https://nextup.example.org/hooks/twilio/status",
        )
        [sms] = await tw.wait_for_message("+15551230001", contains="next")
        reply = await tw.send_sms("+15551230001", "STOP")  # what the patient's phone does
        await http.close()

Emulated: `POST /2010-04-01/Accounts/{sid}/Messages.json`, and the Calls API for voice
calls: `POST .../Calls.json` (create, with `Twiml`) and `GET .../Calls/{CallSid}.json`
(fetch). A call goes queued, initiated, ringing, then as scripted for its number in
`call_outcomes` (default answered: in-progress, completed; or busy, no-answer, failed),
posting a signed status callback for each event asked for in `StatusCallbackEvent` (and
always for the final one), as Twilio does. Errors carry Twilio's HTTP
status, error code and message so the library raises the `TwilioRestException` production
code would see. Webhooks (status callbacks, inbound SMS) are signed with the auth token over
the public URL the app was configured with, and posted to `callback_base` + path + query
when that is set, so the app can listen on 127.0.0.1 and still validate signatures.

Checks on a create, in order: auth, injected faults, To, From/MessagingServiceSid, Body,
the To number's validity and opt-out, then the rate limit; a request failing an earlier
check never uses up rate.

The twilio 9.x async client ignores the `timeout` given to `AsyncTwilioHttpClient`: callers
must bound requests themselves.
"""

from __future__ import annotations

import asyncio
import base64
import math
import re
import secrets
import string
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Literal, get_args
from urllib.parse import urlsplit
from xml.etree import ElementTree

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from tests.emulators.server import EmulatorServer

FaultKind = Literal[
    "too_many_requests", "server_error", "service_unavailable", "opted_out", "invalid_number",
    "timeout",
]  # fmt: skip
CallbackMode = Literal["in_order", "reversed", "duplicated"]
API_VERSION = "2010-04-01"

_MESSAGES_PATH = re.compile(r"/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json")
_CALLS_PATH = re.compile(
    r"/2010-04-01/Accounts/(?P<account>[^/]+)/Calls(?:/(?P<call>CA[0-9a-f]{32}))?\.json"
)
CallOutcome = Literal["completed", "busy", "no-answer", "failed"]
_CALL_STEPS: dict[str, list[tuple[str, str]]] = {
    # (CallStatus, the StatusCallbackEvent that asks for its callback)
    "completed": [
        ("initiated", "initiated"),
        ("ringing", "ringing"),
        ("in-progress", "answered"),
        ("completed", "completed"),
    ],
    "no-answer": [("initiated", "initiated"), ("ringing", "ringing"), ("no-answer", "completed")],
    "busy": [("initiated", "initiated"), ("ringing", "ringing"), ("busy", "completed")],
    "failed": [("initiated", "initiated"), ("failed", "completed")],
}
_E164 = re.compile(r"\+[1-9]\d{6,14}")
# GSM 03.38 basic table without ESC; every character is one septet.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: ESC + character, two septets each.
_GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
_OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
_OPT_IN = frozenset({"START", "YES", "UNSTOP"})
_MAX_BODY = 1600


def count_segments(body: str) -> int:
    """SMS segments the way Twilio bills them: GSM-7 when every character is in the GSM
    03.38 tables (160 septets in one segment, 153 per part when concatenated), else UCS-2
    (70 UTF-16 code units, 67 per part)."""
    septets = 0
    for char in body:
        if char in _GSM7_BASIC:
            septets += 1
        elif char in _GSM7_EXTENSION:
            septets += 2
        else:
            units = len(body.encode("utf-16-le")) // 2
            return 1 if units <= 70 else math.ceil(units / 67)
    return 1 if septets <= 160 else math.ceil(septets / 153)


@dataclass
class SentSms:
    sid: str
    from_: str  # the number that sent it (the pool pick when a messaging service is used)
    to: str
    body: str
    segments: int
    status: str  # queued | accepted, then sent, delivered | undelivered | failed
    direction: str  # outbound-api | outbound-reply (a TwiML <Message>)
    status_callback: str | None
    at: float  # time.monotonic() when the request arrived
    messaging_service_sid: str | None = None
    error_code: int | None = None


@dataclass
class PlacedCall:
    sid: str
    from_: str
    to: str
    twiml: str
    said: list[tuple[str, str | None]]  # (text, language) of each <Say>, in order
    status: str  # queued, initiated, ringing, in-progress, then the final one
    status_callback: str | None
    events: list[str]  # the StatusCallbackEvent values asked for
    at: float  # time.monotonic() when the request arrived
    statuses: list[str]  # every status the call went through, in order


@dataclass
class RequestRecord:
    method: str
    path: str
    at: float
    params: dict[str, str]
    status: int = 0  # HTTP status answered; 0 while the request is still held open
    code: int | None = None  # Twilio error code


@dataclass
class CallbackRecord:
    """One webhook POST by the emulator: a status callback or an inbound SMS."""

    url: str  # the public URL, which the signature covers
    target: str  # where it was actually posted
    params: dict[str, str]
    at: float
    status: int | None = None  # the app's HTTP status; None when the POST itself failed
    error: str | None = None


@dataclass
class InboundReply:
    status: int  # the app's HTTP status; 0 when it could not be reached
    text: str
    messages: list[str]  # bodies of the TwiML <Message> elements


@dataclass
class _Fault:
    kind: FaultKind
    to: str | None
    deliver: bool


@dataclass
class _TwimlMessage:
    body: str
    to: str | None
    from_: str | None
    action: str | None


class _TwilioError(Exception):
    def __init__(
        self, status: int, code: int | None, message: str, detail: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail

    def body(self) -> dict[str, Any]:
        # No "type"/"title" keys: with them twilio parses an RFC 9457 TwilioServiceException.
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.code is not None:
            body["more_info"] = f"https://www.twilio.com/docs/errors/{self.code}"
        if self.detail is not None:
            body["detail"] = self.detail
        return {**body, "status": self.status}


_FAULTS: dict[str, tuple[int, int, str]] = {
    "too_many_requests": (429, 20429, "Too Many Requests"),
    "server_error": (500, 20500, "Internal Server Error"),
    "service_unavailable": (503, 20503, "Service Unavailable"),
    "opted_out": (400, 21610, "Attempt to send to unsubscribed recipient"),
}


def _invalid_to(to: str) -> _TwilioError:
    return _TwilioError(400, 21211, f"The 'To' number {to} is not a valid phone number.")


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _keyword(body: str) -> str:
    words = body.split()
    return words[0].strip(string.punctuation).upper() if words else ""


def _said(twiml: str) -> list[tuple[str, str | None]]:
    """The text and language of each <Say> of a call's TwiML."""
    try:
        root = ElementTree.fromstring(twiml)
    except ElementTree.ParseError:
        return []
    return [((e.text or "").strip(), e.get("language")) for e in root.iter("Say")]


def _twiml_messages(xml: bytes) -> list[_TwimlMessage]:
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return []
    if root.tag != "Response":
        return []
    messages = []
    for element in root.findall("Message"):
        body_element = element.find("Body")
        text = body_element.text if body_element is not None else element.text
        action = element.get("action") or element.get("statusCallback")
        messages.append(
            _TwimlMessage((text or "").strip(), element.get("to"), element.get("from"), action)
        )
    return messages


class TwilioEmulator(EmulatorServer):
    """One Twilio account. Settable between requests: `callback_mode`, `callback_base`,
    `sms_webhook_url`, `hang_s`, `rate_per_s`, `undeliverable`, `failing`,
    `invalid_numbers`, `opted_out`."""

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        numbers: Sequence[str] = ("+15550000001",),
        messaging_service_sid: str | None = None,
        rate_per_s: float | None = None,
        rate_tolerance_s: float = 0.05,
        callback_delay_s: float = 0.05,
        callback_base: str | None = None,
    ) -> None:
        if not numbers:
            raise ValueError("the account needs at least one number")
        super().__init__()
        self.account_sid = account_sid or _sid("AC")
        self.auth_token = auth_token or secrets.token_hex(16)
        self.numbers = list(numbers)
        self.messaging_service_sid = messaging_service_sid
        self.rate_per_s = rate_per_s
        # GCRA tolerance: how early a request may arrive against its theoretical slot. It
        # absorbs loopback network jitter, so a client pacing at exactly `rate_per_s` passes.
        self.rate_tolerance_s = rate_tolerance_s
        self.callback_delay_s = callback_delay_s
        self.callback_base = callback_base
        self.callback_mode: CallbackMode = "in_order"
        self.sms_webhook_url = ""
        self.hang_s = 30.0  # how long a "timeout" fault holds the request open
        self.undeliverable: dict[str, int] = {}  # recipient -> ErrorCode, e.g. 30003
        self.failing: dict[str, int] = {}  # recipient -> ErrorCode; goes straight to failed
        self.invalid_numbers: set[str] = set()
        self.opted_out: set[str] = set()
        self.messages: list[SentSms] = []
        self.calls: list[PlacedCall] = []
        self.call_outcomes: dict[str, CallOutcome] = {}  # callee -> outcome; default answered
        self.call_step_s = callback_delay_s  # how long each step of a call takes
        self.blocked: list[SentSms] = []  # TwiML replies to opted-out numbers, never sent
        self.requests: list[RequestRecord] = []
        self.callbacks: list[CallbackRecord] = []
        self.inbound: list[CallbackRecord] = []
        self.throttled = 0
        self._faults: list[_Fault] = []
        self._tat: dict[str, float] = {}  # GCRA theoretical arrival time per sender
        self._next_sender = 0
        self._tasks: set[asyncio.Task[None]] = set()

    client_timeout_s = 15.0
    """Twilio gives a webhook 15 s."""

    # lifecycle
    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._http)

    async def stop(self) -> None:
        self._stopping.set()  # ends held-open "timeout" requests before the callbacks go
        await self.cancel_callbacks()
        await super().stop()

    def pending_callbacks(self) -> bool:
        """Some status webhooks are still to be posted (or being posted)."""
        return any(not task.done() for task in self._tasks)

    async def cancel_callbacks(self) -> None:
        """Drop the webhooks not yet posted, so an app under test can shut down quietly."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # test controls
    def fail_next(
        self, kind: FaultKind, count: int = 1, to: str | None = None, deliver: bool = False
    ) -> None:
        """Fault the next `count` creates (to `to` only, when given), right after auth.
        "timeout" holds the request `hang_s` seconds; with `deliver=True` the message is
        created and its callbacks run anyway (Twilio took it, the answer was lost)."""
        if kind not in get_args(FaultKind):
            raise ValueError(f"unknown fault kind {kind!r}")
        self._faults.extend(_Fault(kind, to, deliver) for _ in range(count))

    def messages_to(self, number: str) -> list[SentSms]:
        return [m for m in self.messages if m.to == number]

    def calls_to(self, number: str) -> list[PlacedCall]:
        return [c for c in self.calls if c.to == number]

    async def wait_for_call(
        self, to: str, status: str | None = None, timeout_s: float = 5.0
    ) -> PlacedCall:
        """The first call to `to` (once it has reached `status`, when given)."""

        def found() -> PlacedCall | None:
            calls = self.calls_to(to)
            if calls and (status is None or status in calls[0].statuses):
                return calls[0]
            return None

        if not await self._wait_until(lambda: found() is not None, timeout_s):
            raise AssertionError(f"no call to {to} ({status}) within {timeout_s}s\n{self.dump()}")
        call = found()
        assert call is not None
        return call

    def sent_per_number(self) -> dict[str, list[float]]:
        """Arrival times of API creates per sending number, for checking a client's pacing."""
        per_number: dict[str, list[float]] = {}
        for sms in self.messages:
            if sms.direction == "outbound-api":
                per_number.setdefault(sms.from_, []).append(sms.at)
        return per_number

    async def wait_for_message(
        self, to: str, contains: str | None = None, timeout_s: float = 5.0, count: int = 1
    ) -> list[SentSms]:
        """All messages to `to` (containing `contains`) once there are at least `count`."""

        def matching() -> list[SentSms]:
            return [m for m in self.messages_to(to) if contains is None or contains in m.body]

        if not await self._wait_until(lambda: len(matching()) >= count, timeout_s):
            what = f"{count} message(s) to {to}" + (
                f" containing {contains!r}" if contains is not None else ""
            )
            raise AssertionError(f"no {what} within {timeout_s}s\n{self.dump()}")
        return matching()

    async def wait_for_count(self, n: int, timeout_s: float = 5.0) -> list[SentSms]:
        if not await self._wait_until(lambda: len(self.messages) >= n, timeout_s):
            raise AssertionError(f"fewer than {n} messages sent within {timeout_s}s\n{self.dump()}")
        return list(self.messages)

    async def wait_for_callbacks(self, n: int, timeout_s: float = 5.0) -> list[CallbackRecord]:
        if not await self._wait_until(lambda: len(self.callbacks) >= n, timeout_s):
            raise AssertionError(
                f"fewer than {n} status callbacks within {timeout_s}s\n{self.dump()}"
            )
        return list(self.callbacks)

    def dump(self, last: int = 25) -> str:
        lines = [f"last {last} of {len(self.messages)} messages:"]
        lines += [
            f"  {m.sid} {m.from_} -> {m.to} [{m.status}, {m.segments} seg, {m.direction}]"
            f" {m.body!r}"
            for m in self.messages[-last:]
        ]
        lines.append(f"last {last} of {len(self.requests)} requests (throttled {self.throttled}):")
        lines += [
            f"  {r.method} {r.path} -> {r.status} code={r.code} {r.params}"
            for r in self.requests[-last:]
        ]
        lines += [f"  call {c.sid} {c.from_} -> {c.to} {c.statuses}" for c in self.calls[-last:]]
        lines.append(f"last {last} of {len(self.callbacks)} status callbacks:")
        lines += [
            f"  {c.target} {c.params.get('MessageStatus') or c.params.get('CallStatus')}"
            f" -> {c.status or c.error}"
            for c in self.callbacks[-last:]
        ]
        if self.opted_out:
            lines.append(f"opted out: {sorted(self.opted_out)}")
        return "\n".join(lines)

    # simulated phones
    async def send_sms(
        self, from_: str, body: str, to: str | None = None, url: str | None = None
    ) -> InboundReply:
        """An SMS from `from_` to one of our numbers, posted to the app's webhook like
        Twilio does; the TwiML reply's <Message>s are sent (recorded) as Twilio would."""
        to_number = to or self.numbers[0]
        public_url = url or self.sms_webhook_url
        if not public_url:
            raise ValueError("set sms_webhook_url or pass url")
        # Twilio's default opt-out handling acts before the app sees the message.
        keyword = _keyword(body)
        if keyword in _OPT_OUT:
            self.opted_out.add(from_)
        elif keyword in _OPT_IN:
            self.opted_out.discard(from_)
        sid = _sid("SM")
        params = {
            "ToCountry": "US",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": body,
            "FromCountry": "US",
            "To": to_number,
            "NumSegments": str(count_segments(body)),
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "ApiVersion": API_VERSION,
        }
        if self.messaging_service_sid is not None:
            params["MessagingServiceSid"] = self.messaging_service_sid
        record, raw = await self._post(public_url, params, self._sign(public_url, params))
        self.inbound.append(record)
        self._notify()
        if record.status is None:
            return InboundReply(0, record.error or "", [])
        replies = _twiml_messages(raw) if 200 <= record.status < 300 else []
        for reply in replies:
            self._send_reply(reply, default_to=from_, default_from=to_number)
        return InboundReply(record.status, raw.decode(errors="replace"), [r.body for r in replies])

    async def post_signed(
        self, url: str, params: Mapping[str, str], signature: str | None = "valid"
    ) -> tuple[int, str]:
        """POST `params` to the public `url` with a valid signature ("valid"), none (None)
        or the given one; (HTTP status, body), status 0 when the app is unreachable."""
        values = dict(params)
        header = self._sign(url, values) if signature == "valid" else signature
        record, raw = await self._post(url, values, header)
        if record.status is None:
            return 0, record.error or ""
        return record.status, raw.decode(errors="replace")

    # internals
    def _sign(self, url: str, params: dict[str, str]) -> str:
        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    def _target(self, url: str) -> str:
        if not self.callback_base:
            return url
        parts = urlsplit(url)
        query = f"?{parts.query}" if parts.query else ""
        return f"{self.callback_base.rstrip('/')}{parts.path or '/'}{query}"

    async def _post(
        self, url: str, params: dict[str, str], signature: str | None
    ) -> tuple[CallbackRecord, bytes]:
        assert self._client is not None, "start() the emulator first"
        record = CallbackRecord(url, self._target(url), params, time.monotonic())
        headers = {"User-Agent": "TwilioProxy/1.1"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        try:
            async with self._client.post(record.target, data=params, headers=headers) as resp:
                raw = await resp.read()
                record.status = resp.status
        except (aiohttp.ClientError, TimeoutError) as error:
            record.error = f"{type(error).__name__}: {error}"
            raw = b""
        return record, raw

    async def _http(self, request: web.Request) -> web.Response:
        at = time.monotonic()
        params: dict[str, str] = {}
        events: list[str] = []
        if request.method == "POST":
            form = await request.post()
            for key, value in form.items():
                params.setdefault(key, value if isinstance(value, str) else "<file>")
            events = [v for v in form.getall("StatusCallbackEvent", []) if isinstance(v, str)]
        record = RequestRecord(request.method, request.path, at, params)
        self.requests.append(record)
        self._notify()
        headers = {"Twilio-Request-Id": _sid("RQ")}
        try:
            calls = _CALLS_PATH.fullmatch(request.path)
            if calls is not None:
                if not self._authorized(request, calls["account"]):
                    headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
                    raise _TwilioError(
                        401, 20003, "Authenticate", "Your AccountSid or AuthToken was incorrect."
                    )
                status, body = self._calls(request.method, calls["call"], params, events, at)
                record.status = status
                self._notify()
                return web.json_response(body, status=status, headers=headers)
            match = _MESSAGES_PATH.fullmatch(request.path)
            if match is None or request.method != "POST":
                raise _TwilioError(
                    404, 20404, f"The requested resource {request.path} was not found"
                )
            if not self._authorized(request, match["account"]):
                headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
                raise _TwilioError(
                    401, 20003, "Authenticate", "Your AccountSid or AuthToken was incorrect."
                )
            status, body = await self._create(params, at)
        except _TwilioError as error:
            status, body = error.status, error.body()
            record.code = error.code
        record.status = status
        self._notify()
        return web.json_response(body, status=status, headers=headers)

    def _authorized(self, request: web.Request, account_sid: str) -> bool:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except ValueError:  # bad base64 (binascii.Error) or bad UTF-8
            return False
        return user == account_sid == self.account_sid and password == self.auth_token

    def _take_fault(self, to: str) -> _Fault | None:
        for index, fault in enumerate(self._faults):
            if fault.to is None or fault.to == to:
                return self._faults.pop(index)
        return None

    async def _create(self, params: dict[str, str], at: float) -> tuple[int, dict[str, Any]]:
        to = params.get("To", "")
        fault = self._take_fault(to)
        if fault is not None and fault.kind == "invalid_number":
            raise _invalid_to(to)
        if fault is not None and fault.kind != "timeout":
            raise _TwilioError(*_FAULTS[fault.kind])
        if fault is not None and not fault.deliver:
            await self._sleep(self.hang_s)
            raise _TwilioError(504, None, "Gateway Timeout")
        answer = self._accept(params, at)
        if fault is not None:
            await self._sleep(self.hang_s)
        return answer

    def _accept(self, params: dict[str, str], at: float) -> tuple[int, dict[str, Any]]:
        to, from_param = params.get("To", ""), params.get("From", "")
        service = params.get("MessagingServiceSid") or None
        body = params.get("Body", "")
        if not to:
            raise _TwilioError(400, 21604, "A 'To' phone number is required.")
        uses_service = service is not None and service == self.messaging_service_sid
        if from_param:
            if from_param not in self.numbers:
                raise _TwilioError(
                    400,
                    21606,
                    f"The From phone number {from_param} is not a valid, SMS-capable inbound "
                    "phone number or short code for your account.",
                )
        elif service is None:
            raise _TwilioError(400, 21603, "A 'From' phone number is required.")
        elif not uses_service:
            raise _TwilioError(
                400,
                21606,
                f"The From phone number {service} is not a valid, SMS-capable inbound "
                "phone number or short code for your account.",
            )
        if not body:
            raise _TwilioError(400, 21602, "Message body is required.")
        if len(body) > _MAX_BODY:
            raise _TwilioError(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if not _E164.fullmatch(to) or to in self.invalid_numbers:
            raise _invalid_to(to)
        if to in self.opted_out:
            raise _TwilioError(400, 21610, "Attempt to send to unsubscribed recipient")
        rate_key = service if uses_service and service is not None else from_param
        if not self._conforms(rate_key, at):
            self.throttled += 1
            raise _TwilioError(429, 20429, "Too Many Requests")
        sender = from_param or self._pool_pick()
        sms = SentSms(
            sid=_sid("SM"),
            from_=sender,
            to=to,
            body=body,
            segments=count_segments(body),
            status="accepted" if uses_service else "queued",
            direction="outbound-api",
            status_callback=params.get("StatusCallback") or None,
            at=at,
            messaging_service_sid=service if uses_service else None,
        )
        self._record(sms)
        return 201, self._resource(sms, from_param or None)

    # the Calls API
    def _calls(
        self,
        method: str,
        sid: str | None,
        params: dict[str, str],
        events: list[str],
        at: float,
    ) -> tuple[int, dict[str, Any]]:
        if sid is not None and method == "GET":
            call = next((c for c in self.calls if c.sid == sid), None)
            if call is None:
                raise _TwilioError(404, 20404, f"The requested resource {sid} was not found")
            return 200, self._call_resource(call)
        if sid is not None or method != "POST":
            raise _TwilioError(405, 20004, "Method not allowed")
        to, from_ = params.get("To", ""), params.get("From", "")
        twiml = params.get("Twiml", "")
        if not to:
            raise _TwilioError(400, 21201, "No 'To' number is specified")
        if from_ not in self.numbers:
            raise _TwilioError(
                400, 21210, f"The source phone number provided, {from_}, is not yet verified "
                "for your account."
            )  # fmt: skip
        if not _E164.fullmatch(to) or to in self.invalid_numbers:
            raise _TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not twiml and not params.get("Url"):
            raise _TwilioError(400, 21205, "Url or Twiml parameter is required")
        call = PlacedCall(
            sid=_sid("CA"),
            from_=from_,
            to=to,
            twiml=twiml,
            said=_said(twiml),
            status="queued",
            status_callback=params.get("StatusCallback") or None,
            events=events,
            at=at,
            statuses=["queued"],
        )
        self.calls.append(call)
        self._notify()
        task = asyncio.create_task(self._call_lifecycle(call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return 201, self._call_resource(call)

    async def _call_lifecycle(self, call: PlacedCall) -> None:
        outcome = self.call_outcomes.get(call.to, "completed")
        for sequence, (status, event) in enumerate(_CALL_STEPS[outcome]):
            await asyncio.sleep(self.call_step_s)
            call.status = status
            call.statuses.append(status)
            self._notify()
            final = event == "completed"  # Twilio always reports the end of a call
            if call.status_callback is None or not (final or event in call.events):
                continue
            params = {
                "CallSid": call.sid,
                "AccountSid": self.account_sid,
                "From": call.from_,
                "To": call.to,
                "CallStatus": status,
                "Direction": "outbound-api",
                "ApiVersion": API_VERSION,
                "SequenceNumber": str(sequence),
                "Timestamp": format_datetime(datetime.now(UTC)),
            }
            if status == "completed":
                params["CallDuration"] = "9"
            await self._status_callback(call.status_callback, params)

    def _call_resource(self, call: PlacedCall) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC))
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "date_created": now,
            "date_updated": now,
            "direction": "outbound-api",
            "from": call.from_,
            "from_formatted": call.from_,
            "sid": call.sid,
            "status": call.status,
            "to": call.to,
            "to_formatted": call.to,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{call.sid}.json",
        }

    def _conforms(self, key: str, at: float) -> bool:
        """GCRA, virtual scheduling: a request may arrive at most `rate_tolerance_s` before
        the theoretical arrival time; a conforming one pushes it one interval further."""
        if self.rate_per_s is None:
            return True
        tat = max(self._tat.get(key, at), at)
        if tat - at > self.rate_tolerance_s:
            return False
        self._tat[key] = tat + 1.0 / self.rate_per_s
        return True

    def _pool_pick(self) -> str:
        sender = self.numbers[self._next_sender % len(self.numbers)]
        self._next_sender += 1
        return sender

    def _resource(self, sms: SentSms, from_param: str | None) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sms.sid}.json"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": sms.body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": sms.direction,
            "error_code": None,
            "error_message": None,
            # Twilio picks the pool number after answering, so the answer has no sender yet.
            "from": from_param,
            "messaging_service_sid": sms.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(sms.segments),
            "price": None,
            "price_unit": "USD",
            "sid": sms.sid,
            "status": sms.status,
            "subresource_uris": {"media": uri.removesuffix(".json") + "/Media.json"},
            "to": sms.to,
            "uri": uri,
        }

    def _send_reply(self, reply: _TwimlMessage, default_to: str, default_from: str) -> None:
        to = reply.to or default_to
        sms = SentSms(
            sid=_sid("SM"),
            from_=reply.from_ or default_from,
            to=to,
            body=reply.body,
            segments=count_segments(reply.body),
            status="queued",
            direction="outbound-reply",
            status_callback=reply.action,
            at=time.monotonic(),
        )
        if to in self.opted_out:  # Twilio drops it with error 21610
            sms.status, sms.error_code = "failed", 21610
            self.blocked.append(sms)
            self._notify()
            return
        self._record(sms)

    def _record(self, sms: SentSms) -> None:
        self.messages.append(sms)
        self._notify()
        task = asyncio.create_task(self._lifecycle(sms))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _lifecycle(self, sms: SentSms) -> None:
        """Move the message through its states, posting status callbacks when it has a URL."""
        failure = self.failing.get(sms.to)
        undeliverable = self.undeliverable.get(sms.to)
        steps: list[tuple[str, int | None]]
        if failure is not None:
            steps = [("failed", failure)]
        elif undeliverable is not None:
            steps = [("sent", None), ("undelivered", undeliverable)]
        else:
            steps = [("sent", None), ("delivered", None)]
        mode = self.callback_mode
        held: list[dict[str, str]] = []
        for status, error_code in steps:
            await asyncio.sleep(self.callback_delay_s)
            sms.status, sms.error_code = status, error_code
            self._notify()
            if sms.status_callback is None:
                continue
            params = self._status_params(sms, status, error_code)
            if mode == "reversed":
                held.insert(0, params)
                continue
            for _ in range(2 if mode == "duplicated" else 1):
                await self._status_callback(sms.status_callback, params)
        for params in held:
            assert sms.status_callback is not None
            await self._status_callback(sms.status_callback, params)

    def _status_params(self, sms: SentSms, status: str, error_code: int | None) -> dict[str, str]:
        params = {
            "SmsSid": sms.sid,
            "SmsStatus": status,
            "MessageStatus": status,
            "To": sms.to,
            "MessageSid": sms.sid,
            "AccountSid": self.account_sid,
            "From": sms.from_,
            "ApiVersion": API_VERSION,
        }
        if sms.messaging_service_sid is not None:
            params["MessagingServiceSid"] = sms.messaging_service_sid
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return params

    async def _status_callback(self, url: str, params: dict[str, str]) -> None:
        record, _ = await self._post(url, params, self._sign(url, params))
        self.callbacks.append(record)
        self._notify()
