"""The call ladder's voice call, through Twilio's Calls API with the twilio library's async
client: the "called" message said twice, in the patient's language (`<Say>` in TwiML), and
a status callback for every step of the call (ringing, answered, busy, no answer ...)."""

from __future__ import annotations

import asyncio

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from core.delivery import Outgoing, PermanentFailure, Receipt, TemporaryFailure

SEND_TIMEOUT_S = 15.0
RING_TIMEOUT_S = 40
"""How long Twilio lets the phone ring before the call ends `no-answer`."""
SAY_TIMES = 2
VOICES = {"en": "en-US", "es": "es-ES"}
"""The `<Say language>` of each language the catalogue speaks."""
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
INVALID_NUMBER = 21211
NOT_A_VOICE_NUMBER = 21215
"""Twilio's codes for a number that cannot be called (not valid; not allowed)."""


def voice_status_url(base_url: str, outbox_id: str) -> str:
    """Where Twilio reports each step of a call; the id says which record it is."""
    return f"{base_url}/hooks/twilio/voice-status?n={outbox_id}"


def spoken(text: str, language: str | None) -> str:
    """The TwiML of the call: the message said twice, with a pause between."""
    twiml = VoiceResponse()
    voice = VOICES.get(language or "", VOICES["en"])
    for time in range(SAY_TIMES):
        if time:
            twiml.pause(length=1)
        twiml.say(text, language=voice)
    return str(twiml)


class TwilioVoiceSender:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str,
        api_base: str | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.base_url = base_url
        self.api_base = api_base
        self._http: AsyncTwilioHttpClient | None = None
        self._client: Client | None = None

    def _twilio(self) -> Client:
        # aiohttp wants its session made inside the running loop, so it is made on first use.
        if self._client is None:
            self._http = AsyncTwilioHttpClient()
            self._client = Client(self.account_sid, self.auth_token, http_client=self._http)
            if self.api_base:
                self._client.api.base_url = self.api_base.rstrip("/")
        return self._client

    async def send(self, message: Outgoing) -> Receipt:
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                call = await self._twilio().calls.create_async(
                    to=message.recipient,
                    from_=self.from_number,
                    twiml=spoken(message.text, message.language),
                    timeout=RING_TIMEOUT_S,
                    status_callback=voice_status_url(self.base_url, message.id),
                    status_callback_event=STATUS_EVENTS,
                    status_callback_method="POST",
                )
        except TwilioRestException as exc:
            raise _failure(exc) from exc
        except (TimeoutError, aiohttp.ClientError, TwilioException) as exc:
            raise TemporaryFailure(f"Twilio unreachable: {type(exc).__name__}: {exc}") from exc
        return Receipt(call.sid, delivered_to="voice", provider_status=call.status)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = self._client = None


def _failure(exc: TwilioRestException) -> Exception:
    code, status = exc.code, exc.status
    detail = f"Twilio error {code}: {exc.msg}" if code else f"Twilio HTTP {status}: {exc.msg}"
    if status == 429 or status >= 500:
        return TemporaryFailure(detail)
    if code in (INVALID_NUMBER, NOT_A_VOICE_NUMBER):
        return PermanentFailure(f"the phone number cannot be called; check it ({detail})")
    return PermanentFailure(detail)
