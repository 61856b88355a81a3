"""The call ladder's voice call, through Twilio's Calls API with the twilio library's async
client: the "called" message said twice, in the patient's language (`<Say>` in TwiML), and
a status callback for every step of the call (ringing, answered, busy, no answer ...)."""

from __future__ import annotations

import asyncio

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.twiml.voice_response import VoiceResponse

from core.delivery import Outgoing, PermanentFailure, Receipt, TemporaryFailure
from sms.twilio_client import SEND_TIMEOUT_S, LazyTwilioClient

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
        self._twilio = LazyTwilioClient(account_sid, auth_token, api_base)
        self.from_number = from_number
        self.base_url = base_url

    async def send(self, message: Outgoing) -> Receipt:
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                call = await self._twilio.get().calls.create_async(
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
        await self._twilio.close()


def _failure(exc: TwilioRestException) -> Exception:
    code, status = exc.code, exc.status
    detail = f"Twilio error {code}: {exc.msg}" if code else f"Twilio HTTP {status}: {exc.msg}"
    if status == 429 or status >= 500:
        return TemporaryFailure(detail)
    if code in (INVALID_NUMBER, NOT_A_VOICE_NUMBER):
        return PermanentFailure(f"the phone number cannot be called; check it ({detail})")
    return PermanentFailure(detail)
