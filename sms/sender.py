"""Sends notifications as SMS through Twilio's Messages API, with the twilio library's
async client, and maps Twilio's answers onto the dispatcher's errors."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException

from core.delivery import (
    Outgoing,
    PermanentFailure,
    Receipt,
    RecipientOptedOut,
    TemporaryFailure,
)
from core.messages import sms_segments
from sms.twilio_client import SEND_TIMEOUT_S, LazyTwilioClient

THROTTLED = 20429
OPTED_OUT = 21610
INVALID_NUMBER = 21211
NOT_MOBILE = 21614
"""Twilio's error codes the dispatcher treats specially; https://www.twilio.com/docs/errors."""


def status_callback_url(base_url: str, outbox_id: str) -> str:
    """Where Twilio reports what became of a message; the id says which record it is."""
    return f"{base_url}/hooks/twilio/status?n={outbox_id}"


class TwilioSender:
    """Sends from the number (or Messaging Service) the dispatcher's limits chose for the
    message, where each has its own rate; else takes the sending numbers in turn. A
    Messaging Service SID lets Twilio pick the number."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        senders: Sequence[str],
        base_url: str,
        api_base: str | None = None,
    ) -> None:
        self._twilio = LazyTwilioClient(account_sid, auth_token, api_base)
        self.base_url = base_url
        self._senders = itertools.cycle(senders)

    async def send(self, message: Outgoing) -> Receipt:
        sender = message.origin or next(self._senders)
        origin = {"messaging_service_sid": sender} if sender.startswith("MG") else {"from_": sender}
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                sent = await self._twilio.get().messages.create_async(
                    to=message.recipient,
                    body=message.text,
                    status_callback=status_callback_url(self.base_url, message.id),
                    **origin,
                )
        except TwilioRestException as exc:
            raise _failure(exc) from exc
        except (TimeoutError, aiohttp.ClientError, TwilioException) as exc:
            raise TemporaryFailure(f"Twilio unreachable: {type(exc).__name__}: {exc}") from exc
        segments = int(sent.num_segments) if sent.num_segments else sms_segments(message.text)
        return Receipt(sent.sid, delivered_to="sms", segments=segments, provider_status=sent.status)

    async def close(self) -> None:
        await self._twilio.close()


def _failure(exc: TwilioRestException) -> Exception:
    code, status = exc.code, exc.status
    detail = f"Twilio error {code}: {exc.msg}" if code else f"Twilio HTTP {status}: {exc.msg}"
    if code == THROTTLED or status == 429 or status >= 500:
        return TemporaryFailure(detail)
    if code == OPTED_OUT:
        return RecipientOptedOut(f"the patient opted out of SMS (texted STOP); {detail}")
    if code in (INVALID_NUMBER, NOT_MOBILE):
        return PermanentFailure(f"the phone number is not valid for SMS; check it ({detail})")
    return PermanentFailure(detail)
